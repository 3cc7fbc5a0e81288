//! Any sequence of commands, by any credential, at any pace, interleaved with
//! deadline sweeps, on a ticket: the state machine keeps its promises after
//! every step. An accepted command or sweep raises the version by one and
//! appends events numbered on from the last; a refused one changes nothing and
//! says why; the ticket is always the replay of its log, also after a trip
//! through storage's JSON; and the invariants of [`check_invariants`] hold.

#![no_main]

use arbitrary::Arbitrary;
use hotline_core::{Actor, CloseReason, Context, EventKind, Ticket, TicketStatus, create_ticket};
use hotline_fuzz::{
    Cmd, Intake, PolicyIn, TICKET, Who, calendar, check_decision, check_invariants,
    check_refusal, check_stored, env, operator, read_paths, start_at,
};
use jiff::SignedDuration;
use libfuzzer_sys::fuzz_target;

/// How far the clock moves before a step.
#[derive(Arbitrary, Debug)]
enum Advance {
    Not,
    Seconds(u16),
    Hours(u16),
    Days(u16),
}

impl Advance {
    fn duration(&self) -> SignedDuration {
        match self {
            Advance::Not => SignedDuration::ZERO,
            Advance::Seconds(n) => SignedDuration::from_secs(i64::from(*n)),
            Advance::Hours(n) => SignedDuration::from_hours(i64::from(*n)),
            Advance::Days(n) => SignedDuration::from_hours(24 * i64::from(*n)),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A command by a credential.
    Command(Advance, Who, Cmd),
    /// The sweeper's pass.
    Sweep(Advance),
    /// Reload the ticket from its stored events.
    Reload,
}

#[derive(Arbitrary, Debug)]
struct Input {
    now: u32,
    working_time: bool,
    policy: PolicyIn,
    intake: Intake,
    steps: Vec<Step>,
}

fuzz_target!(|input: Input| {
    let env = env();
    let policy = input.policy.policy();
    let mut now = start_at(input.now);
    let operator = operator();
    let base = Context {
        now,
        actor: &operator,
        policy: &policy,
        calendar: calendar(input.working_time),
        directory: &env.directory,
    };
    let Ok(created) = create_ticket(TICKET, "SZ-20260302-000001", input.intake.new_ticket(), &base)
    else {
        return;
    };
    let mut ticket = created.ticket;
    let mut log = created.events;
    let mut changes = 1u64;
    let system = Actor::system();

    for step in input.steps.iter().take(64) {
        let advance = match step {
            Step::Command(advance, ..) | Step::Sweep(advance) => advance.duration(),
            Step::Reload => SignedDuration::ZERO,
        };
        now = now.checked_add(advance).unwrap_or(now);
        match step {
            Step::Command(_, who, cmd) => {
                let actor = who.actor(&ticket);
                let ctx = Context { now, actor: &actor, ..base };
                let command = cmd.command(&ticket, now);
                let before = ticket.clone();
                let decided = ticket.decide(&command, &ctx);
                let executed = ticket.execute(&command, &ctx);
                assert_eq!(ticket, before, "a command changed the ticket it was decided on");
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
            Step::Sweep(_) => {
                let ctx = Context { now, actor: &system, ..base };
                if let Some(decision) = ticket.sweep(&ctx) {
                    for event in &decision.events {
                        match event.kind {
                            EventKind::WarningChanged { .. } => {}
                            EventKind::Closed { reason: CloseReason::NoCallback }
                                if ticket.status == TicketStatus::Replied => {}
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
                    assert!(next > now, "the next check {next} is not after the sweep at {now}");
                }
            }
            Step::Reload => check_stored(&log, &ticket),
        }
        assert_eq!(ticket.version, changes, "one version per accepted change");
        assert_eq!(ticket.last_seq, log.len() as u64, "one sequence number per event");
        if let Err(broken) = check_invariants(&ticket, &env.directory) {
            panic!("{broken}\n{ticket:#?}");
        }
    }
    assert_eq!(Ticket::replay(&log).as_ref(), Ok(&ticket), "replay differs");
});

