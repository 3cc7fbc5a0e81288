//! Any sequence of commands, by any credential, at any pace, interleaved with
//! deadline sweeps and reloads from storage, on a ticket: the state machine
//! keeps its promises after every step. An accepted command or sweep raises
//! the version by one and appends events numbered on from the last; decide and
//! execute agree, and a refused command changes nothing and says why; the
//! ticket is always the replay of its log, also after a trip through storage's
//! JSON; and the invariants of `check_invariants` hold.
//!
//! The input is a header (policy, intake) and then four bytes per step (see
//! [`Cmd::from_bytes`]), so sequences long enough to go round the loop twice
//! are short inputs. `FUZZ_TRACE=1` prints each step's status and version, to
//! see how far round the loop a corpus gets.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hotline_core::{Actor, CloseReason, Context, EventKind, TicketStatus, create_ticket};
use hotline_fuzz::{
    Cmd, PolicyIn, TICKET, ValidIntake, Who, calendar, check_decision, check_invariants,
    check_refusal, check_stored, env, operator, read_paths, start_at,
};
use jiff::SignedDuration;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Header {
    now: u32,
    working_time: bool,
    policy: PolicyIn,
    intake: ValidIntake,
}

/// How far the clock moves before a step: none, or up to 63 minutes, hours or days.
fn advance(n: u8) -> SignedDuration {
    let amount = i64::from(n & 63);
    match n >> 6 {
        0 => SignedDuration::ZERO,
        1 => SignedDuration::from_mins(amount),
        2 => SignedDuration::from_hours(amount),
        _ => SignedDuration::from_hours(24 * amount),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(header) = Header::arbitrary(&mut u) else {
        return;
    };
    let steps = u.take_rest();
    let env = env();
    let policy = header.policy.policy();
    let mut now = start_at(header.now);
    let operator = operator();
    let base = Context {
        now,
        actor: &operator,
        policy: &policy,
        calendar: calendar(header.working_time),
        directory: &env.directory,
    };
    let created = create_ticket(
        TICKET,
        "SZ-20260302-000001",
        header.intake.new_ticket(),
        &base,
    )
    .unwrap_or_else(|error| panic!("a valid appeal was refused: {error}"));
    let mut ticket = created.ticket;
    let mut log = created.events;
    let mut changes = 1u64;
    let system = Actor::system();

    for step in steps.chunks_exact(4).take(64) {
        let [op, who, arg, by] = [step[0], step[1], step[2], step[3]];
        now = now.checked_add(advance(by)).unwrap_or(now);
        match Cmd::from_bytes(op % 28, arg) {
            Some(cmd) => {
                let command = cmd.command(&ticket, now);
                let actor = Who::from_byte(who).actor_for(&ticket, &command);
                let ctx = Context {
                    now,
                    actor: &actor,
                    ..base
                };
                let before = ticket.clone();
                let decided = ticket.decide(&command, &ctx);
                let executed = ticket.execute(&command, &ctx);
                assert_eq!(
                    ticket, before,
                    "a command changed the ticket it was decided on"
                );
                match (decided, executed) {
                    (Ok(kinds), Ok(decision)) => {
                        let events: Vec<EventKind> =
                            decision.events.iter().map(|e| e.kind.clone()).collect();
                        assert_eq!(kinds, events, "decide and execute disagree");
                        check_decision(&ticket, &decision, now, &actor, &log);
                        read_paths(&decision.ticket, &decision.events);
                        log.extend(decision.events);
                        ticket = decision.ticket;
                        changes += 1;
                    }
                    (Err(refused), Err(error)) => {
                        assert_eq!(refused, error, "decide and execute disagree");
                        check_refusal(&error);
                    }
                    (decided, executed) => {
                        panic!("decide and execute disagree: {decided:?} vs {executed:?}")
                    }
                }
            }
            None if op % 28 == 27 => check_stored(&log, &ticket),
            None => {
                let ctx = Context {
                    now,
                    actor: &system,
                    ..base
                };
                if let Some(decision) = ticket.sweep(&ctx) {
                    for event in &decision.events {
                        match event.kind {
                            EventKind::WarningChanged { .. } => {}
                            EventKind::Closed {
                                reason: CloseReason::NoCallback,
                            } if ticket.status == TicketStatus::Replied => {}
                            ref other => panic!("the sweeper recorded {other:?}"),
                        }
                    }
                    check_decision(&ticket, &decision, now, &system, &log);
                    assert!(
                        decision.ticket.sweep(&ctx).is_none(),
                        "a second sweep at the same instant changed the ticket"
                    );
                    log.extend(decision.events);
                    ticket = decision.ticket;
                    changes += 1;
                }
                if let Some(next) = ticket.next_check_at(ctx.calendar) {
                    assert!(
                        next > now,
                        "the next check {next} is not after the sweep at {now}"
                    );
                }
            }
        }
        assert_eq!(ticket.version, changes, "one version per accepted change");
        assert_eq!(
            ticket.last_seq,
            log.len() as u64,
            "one sequence number per event"
        );
        if let Err(broken) = check_invariants(&ticket, &env.directory) {
            panic!("{broken}\n{ticket:#?}");
        }
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("TRACE {} {}", ticket.status, ticket.version);
        }
    }
});
