//! Intake and single commands with client-supplied field values: whatever a
//! client sends, intake validation and the state machine answer with a ticket
//! or a typed refusal naming the field, never a panic; an accepted appeal is
//! version 1, the replay of its events, and survives storage as JSON.

#![no_main]

use arbitrary::Arbitrary;
use hotline_core::{Context, DomainError, create_ticket};
use hotline_fuzz::{
    Cmd, Intake, PolicyIn, TICKET, Who, calendar, check_decision, check_refusal, check_stored, env,
    operator, read_paths, start_at,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Seconds after 2020-01-01 of the intake.
    now: u32,
    working_time: bool,
    number: String,
    policy: PolicyIn,
    intake: Intake,
    /// Commands sent to the new ticket, each by its own credential.
    commands: Vec<(Who, Cmd)>,
}

fuzz_target!(|input: Input| {
    let env = env();
    let policy = input.policy.policy();
    let now = start_at(input.now);
    let operator = operator();
    let ctx = Context {
        now,
        actor: &operator,
        policy: &policy,
        calendar: calendar(input.working_time),
        directory: &env.directory,
    };
    let new = input.intake.new_ticket();
    let created = match create_ticket(TICKET, &input.number, new.clone(), &ctx) {
        Ok(created) => created,
        Err(error) => {
            check_refusal(&error);
            assert!(
                matches!(error, DomainError::InvalidField { .. }),
                "intake refused without naming a field: {error:?}"
            );
            return;
        }
    };
    let ticket = &created.ticket;
    assert_eq!(ticket.version, 1, "a new ticket is version 1");
    assert_eq!(ticket.title, new.title);
    assert_eq!(ticket.body, new.body);
    assert_eq!(ticket.citizen, new.citizen);
    assert_eq!(
        ticket.lead_department_id.as_ref(),
        new.auto_dispatch.as_ref().map(|t| &t.lead_department_id),
        "dispatched at intake exactly when routing said so"
    );
    for (event, seq) in created.events.iter().zip(1..) {
        assert_eq!(event.seq, seq);
        assert_eq!(event.version, 1);
        assert_eq!(event.at, now);
    }
    check_stored(&created.events, ticket);
    read_paths(ticket, &created.events);

    // Each command on the new ticket, as sent: accepted or refused, never a panic.
    for (who, cmd) in input.commands.iter().take(8) {
        let command = cmd.command(ticket, now);
        let actor = who.actor_for(ticket, &command);
        let ctx = Context {
            actor: &actor,
            ..ctx
        };
        match ticket.execute(&command, &ctx) {
            Ok(decision) => {
                check_decision(ticket, &decision, now, &actor, &created.events);
                read_paths(&decision.ticket, &decision.events);
            }
            Err(error) => check_refusal(&error),
        }
    }
});
