//! Property tests of the closed loop: random command sequences, from random
//! actors at random times, against a ticket and its event log.
//!
//! Each step runs one command through `Ticket::execute` and checks that an
//! accepted command appends events without gaps and bumps the version by one,
//! that a refused one changes nothing, that `decide` and `execute` agree, that
//! the ticket is always the replay of its log, and that no sequence reaches a
//! state the closed loop forbids (see [`check_invariants`]).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{CATEGORIES, DEPARTMENTS, MASTER, TICKET, World, department, operator, supervisor};
use hotline_core::{
    Action, Actor, AppealType, AssignmentRole, AssignmentStatus, Category, Channel, Citizen,
    CloseReason, Command, DeadlineKind, DepartmentId, DispatchTarget, Event, EventKind, GeoPoint,
    Limits, MAX_NOTE_CHARS, NewTicket, PartDeadlines, Priority, ReplyResult, Satisfaction,
    SupervisionLevel, Ticket, TicketId, TicketPolicy, TicketStatus, WarningLevel, Window,
    create_ticket,
};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use uuid::Uuid;

/// Department ids commands may name: the tree, plus one the directory does not know.
const NAMED_DEPARTMENTS: &[&str] = &[
    common::ENV,
    common::ENV_GUSU,
    common::ENV_WUZHONG,
    common::ENV_GUSU_SHILU,
    common::WATER,
    common::HOUSING,
    common::TRANSPORT,
    "ghost",
];

/// Master tickets a merge may name: the ticket itself among them.
const MASTERS: &[TicketId] = &[TICKET, MASTER];

/// Who acts in a step. `Lead` and `Assigned` are resolved against the ticket at
/// the time of the step, so department commands come from departments that
/// hold a part often enough to drive the loop forward.
#[derive(Debug, Clone)]
enum Who {
    Operator,
    Supervisor,
    System,
    /// A fixed department of [`NAMED_DEPARTMENTS`].
    Department(usize),
    /// The ticket's current (or last) lead department.
    Lead,
    /// The n-th live assignment's department, modulo their number.
    Assigned(usize),
    /// Whoever would normally send this command: a department with a fitting
    /// part (the n-th one) for department commands, the center otherwise.
    Natural(usize),
}

/// A command, with times expressed relative to the moment it runs.
#[derive(Debug, Clone)]
enum Spec {
    Ready(Command),
    /// Ask for the current reply deadline moved by `minutes` (possibly earlier).
    RequestExtension {
        minutes: i64,
        reason: String,
    },
    /// Ask to stop the clock, expecting to resume `minutes` from now.
    RequestSuspension {
        reason: String,
        resume_in_minutes: Option<i64>,
    },
    /// Supervise with feedback due `minutes` from now.
    Supervise {
        level: SupervisionLevel,
        note: String,
        feedback_in_minutes: Option<i64>,
    },
    /// The command that moves the ticket along the loop from where it stands
    /// (dispatch, sign, reply, callback, dispute...), varied by the seed. Without
    /// it, random commands rarely get a ticket past the first few states.
    Progress(u8),
}

#[derive(Debug, Clone)]
struct Step {
    advance: SignedDuration,
    who: Who,
    spec: Spec,
}

/// How the ticket is taken in.
#[derive(Debug, Clone)]
struct Intake {
    appeal_type: AppealType,
    priority: Priority,
    wants_callback: bool,
    category: Option<&'static str>,
    /// Lead and co-handlers, as indexes into [`DEPARTMENTS`].
    auto_dispatch: Option<(usize, Vec<usize>)>,
    /// Sub-second offset of the start time, so deadlines carry nanoseconds.
    start_nanos: i64,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => prop::sample::select(&["已处理", "请尽快处理", "材料已补充", "ok"][..])
            .prop_map(str::to_owned),
        1 => Just(String::new()),
        1 => Just(" \n\t ".to_owned()),
        1 => Just("bell\u{7}".to_owned()),
        1 => Just("长".repeat(MAX_NOTE_CHARS + 1)),
    ]
}

fn named_department() -> impl Strategy<Value = DepartmentId> {
    prop::sample::select(NAMED_DEPARTMENTS).prop_map(DepartmentId::new)
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        2 => Just(Who::Operator),
        2 => Just(Who::Supervisor),
        1 => Just(Who::System),
        2 => (0..NAMED_DEPARTMENTS.len()).prop_map(Who::Department),
        3 => Just(Who::Lead),
        3 => (0..4usize).prop_map(Who::Assigned),
        12 => (0..4usize).prop_map(Who::Natural),
    ]
}

fn advance() -> impl Strategy<Value = SignedDuration> {
    prop_oneof![
        2 => Just(SignedDuration::ZERO),
        6 => (1i64..=59).prop_map(SignedDuration::from_mins),
        4 => (1i64..=12).prop_map(SignedDuration::from_hours),
        1 => (1i64..=4).prop_map(|days| SignedDuration::from_hours(24 * days)),
        2 => (1i64..=3_600_000).prop_map(SignedDuration::from_millis),
    ]
}

/// A lead for a dispatch: often the bureau with children, so delegation happens.
fn lead() -> impl Strategy<Value = DepartmentId> {
    prop_oneof![2 => Just(DepartmentId::new(common::ENV)), 3 => named_department()]
}

/// Co-handlers for a dispatch: usually none or one, sometimes a bad list.
fn co_handlers() -> impl Strategy<Value = Vec<DepartmentId>> {
    prop_oneof![
        4 => Just(Vec::new()),
        3 => prop::sample::select(&[common::WATER, common::HOUSING, common::TRANSPORT][..])
            .prop_map(|id| vec![DepartmentId::new(id)]),
        1 => prop::collection::vec(named_department(), 0..3),
    ]
}

/// A delegation target: usually below `env`, sometimes anywhere.
fn delegate_to() -> impl Strategy<Value = DepartmentId> {
    prop_oneof![
        3 => prop::sample::select(
            &[common::ENV_GUSU, common::ENV_WUZHONG, common::ENV_GUSU_SHILU][..]
        )
        .prop_map(DepartmentId::new),
        1 => named_department(),
    ]
}

/// Every [`Command`] variant, weighted so that runs get through the whole loop:
/// the commands that end it early (withdraw, answer, merge, invalid) are rare.
fn spec() -> impl Strategy<Value = Spec> {
    let ready = |command: Command| Spec::Ready(command);
    prop_oneof![
        40 => any::<u8>().prop_map(Spec::Progress),
        9 => (lead(), co_handlers(), text())
            .prop_map(move |(lead_department_id, co_department_ids, note)| {
                ready(Command::Dispatch { lead_department_id, co_department_ids, note })
            }),
        18 => text().prop_map(move |note| ready(Command::Sign { note })),
        4 => text().prop_map(move |reason| ready(Command::Return { reason })),
        6 => (any::<bool>(), text())
            .prop_map(move |(approve, note)| ready(Command::DecideReturn { approve, note })),
        9 => (delegate_to(), text()).prop_map(move |(to_department_id, note)| {
            ready(Command::Delegate { to_department_id, note })
        }),
        6 => text().prop_map(move |content| ready(Command::SubmitOpinion { content })),
        6 => (-120i64..=20 * 24 * 60, text())
            .prop_map(|(minutes, reason)| Spec::RequestExtension { minutes, reason }),
        6 => (any::<bool>(), text())
            .prop_map(move |(approve, note)| ready(Command::DecideExtension { approve, note })),
        2 => text().prop_map(move |content| ready(Command::AddProgress { content })),
        15 => (prop::sample::select(ReplyResult::ALL), text())
            .prop_map(move |(result, content)| ready(Command::Reply { result, content })),
        4 => (any::<bool>(), text())
            .prop_map(move |(accept, note)| ready(Command::ReviewReply { accept, note })),
        12 => (
            prop::bool::weighted(0.85),
            any::<bool>(),
            prop::option::weighted(0.85, prop::sample::select(Satisfaction::ALL)),
            text(),
            any::<bool>(),
        )
            .prop_map(move |(contacted, resolved, satisfaction, comment, reopen)| {
                ready(Command::RecordCallback { contacted, resolved, satisfaction, comment, reopen })
            }),
        6 => text().prop_map(move |note| ready(Command::Reopen { note })),
        9 => text().prop_map(move |evidence| ready(Command::DisputeRating { evidence })),
        9 => (any::<bool>(), text())
            .prop_map(move |(approve, note)| ready(Command::DecideDispute { approve, note })),
        6 => (text(), prop::option::of(-60i64..=30 * 24 * 60)).prop_map(
            |(reason, resume_in_minutes)| Spec::RequestSuspension { reason, resume_in_minutes }
        ),
        6 => (any::<bool>(), text())
            .prop_map(move |(approve, note)| ready(Command::DecideSuspension { approve, note })),
        6 => text().prop_map(move |note| ready(Command::Resume { note })),
        1 => text().prop_map(move |reason| ready(Command::Withdraw { reason })),
        1 => text().prop_map(move |content| ready(Command::AnswerDirectly { content })),
        1 => (
            prop::sample::select(MASTERS),
            prop::sample::select(TicketStatus::ALL),
            text(),
        )
            .prop_map(move |(master_id, master_status, note)| {
                ready(Command::Merge { master_id, master_status, note })
            }),
        1 => text().prop_map(move |reason| ready(Command::MarkInvalid { reason })),
        2 => text().prop_map(move |note| ready(Command::Urge { note })),
        2 => (
            prop::sample::select(SupervisionLevel::ALL),
            text(),
            prop::option::of(-60i64..=7 * 24 * 60),
        )
            .prop_map(|(level, note, feedback_in_minutes)| Spec::Supervise {
                level,
                note,
                feedback_in_minutes,
            }),
        4 => Just(ready(Command::AutoClose)),
    ]
}

fn intake() -> impl Strategy<Value = Intake> {
    let lead = prop_oneof![Just(0), 0..DEPARTMENTS.len()];
    let auto_dispatch = (lead, any::<u8>()).prop_map(|(lead, mask)| {
        let co = (0..DEPARTMENTS.len()).filter(|&i| i != lead && mask & (1 << i) != 0);
        // At most two co-handlers, as real dispatches go.
        (lead, co.take(2).collect::<Vec<_>>())
    });
    (
        prop::sample::select(AppealType::ALL),
        prop::sample::select(Priority::ALL),
        prop::bool::weighted(0.8),
        prop::option::of(prop::sample::select(CATEGORIES)),
        prop::option::of(auto_dispatch),
        prop_oneof![Just(0i64), 0i64..1_000_000_000],
    )
        .prop_map(
            |(appeal_type, priority, wants_callback, category, auto_dispatch, start_nanos)| {
                Intake {
                    appeal_type,
                    priority,
                    wants_callback,
                    category,
                    auto_dispatch,
                    start_nanos,
                }
            },
        )
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (advance(), who(), spec()).prop_map(|(advance, who, spec)| Step { advance, who, spec }),
        0..=40,
    )
}

fn new_ticket(intake: &Intake) -> NewTicket {
    NewTicket {
        routing: None,
        channel: Channel::Phone,
        appeal_type: intake.appeal_type,
        priority: intake.priority,
        citizen: Citizen {
            name: "李四".to_owned(),
            phone: "0512-65220000".to_owned(),
            anonymous: false,
            confidential: false,
            wants_callback: intake.wants_callback,
        },
        title: "小区噪声".to_owned(),
        body: "晚上施工噪声扰民。".to_owned(),
        address: "苏州市姑苏区".to_owned(),
        region_code: "320508".to_owned(),
        location: Some(GeoPoint {
            latitude: 31.3,
            longitude: 120.6,
        }),
        category: intake.category.map(|path| Category {
            path: path.to_owned(),
            label: path.to_owned(),
            confidence: 0.93,
            overridden: false,
        }),
        auto_dispatch: intake
            .auto_dispatch
            .as_ref()
            .map(|(lead, co)| DispatchTarget {
                lead_department_id: DepartmentId::new(DEPARTMENTS[*lead]),
                co_department_ids: co
                    .iter()
                    .map(|&i| DepartmentId::new(DEPARTMENTS[i]))
                    .collect(),
            }),
    }
}

fn actor(who: &Who, ticket: &Ticket, command: &Command) -> Actor {
    match who {
        Who::Operator => operator(),
        Who::Supervisor => supervisor(),
        Who::System => Actor::system(),
        Who::Department(i) => department(NAMED_DEPARTMENTS[*i]),
        Who::Lead => {
            let lead = ticket
                .lead_department_id
                .as_ref()
                .or_else(|| ticket.assignments.last().map(|a| &a.department_id));
            department(lead.map_or(common::ENV, DepartmentId::as_str))
        }
        Who::Assigned(n) => {
            let live: Vec<_> = ticket
                .assignments
                .iter()
                .filter(|a| a.status.is_active())
                .collect();
            if live.is_empty() {
                department(common::WATER)
            } else {
                department(live[n % live.len()].department_id.as_str())
            }
        }
        Who::Natural(n) => natural_actor(*n, ticket, command),
    }
}

fn natural_actor(n: usize, ticket: &Ticket, command: &Command) -> Actor {
    let parts = |fits: &dyn Fn(&hotline_core::Assignment) -> bool| -> Actor {
        let fitting: Vec<_> = ticket
            .assignments
            .iter()
            .filter(|a| a.status.is_active() && fits(a))
            .collect();
        match fitting.as_slice() {
            [] => actor(&Who::Lead, ticket, command),
            parts => department(parts[n % parts.len()].department_id.as_str()),
        }
    };
    match command {
        Command::Sign { .. } => parts(&|a| a.status == AssignmentStatus::Dispatched),
        Command::SubmitOpinion { .. } => parts(&|a| a.role == AssignmentRole::CoHandler),
        Command::AddProgress { .. } => parts(&|_| true),
        Command::Delegate { .. }
        | Command::RequestExtension { .. }
        | Command::Reply { .. }
        | Command::RequestSuspension { .. } => parts(&|a| a.role != AssignmentRole::CoHandler),
        Command::Return { .. } | Command::DisputeRating { .. } => {
            actor(&Who::Lead, ticket, command)
        }
        Command::DecideReturn { .. }
        | Command::DecideExtension { .. }
        | Command::DecideSuspension { .. }
        | Command::DecideDispute { .. }
        | Command::Urge { .. }
        | Command::Supervise { .. } => supervisor(),
        Command::AutoClose => Actor::system(),
        Command::Resume { .. } if n.is_multiple_of(2) => supervisor(),
        Command::Resume { .. } => parts(&|a| a.role != AssignmentRole::CoHandler),
        _ => operator(),
    }
}

fn minutes_from(at: Timestamp, minutes: i64) -> Timestamp {
    at.checked_add(SignedDuration::from_mins(minutes)).unwrap()
}

fn progress(seed: u8, ticket: &Ticket) -> Command {
    let k = usize::from(seed);
    let note = String::new;
    match ticket.status {
        TicketStatus::PendingDispatch => Command::Dispatch {
            lead_department_id: DepartmentId::new(
                [common::ENV, common::WATER, common::ENV, common::HOUSING][k % 4],
            ),
            co_department_ids: if k.is_multiple_of(3) {
                vec![DepartmentId::new(common::TRANSPORT)]
            } else {
                Vec::new()
            },
            note: note(),
        },
        TicketStatus::Dispatched | TicketStatus::InProgress
            if k.is_multiple_of(2)
                && (ticket.pending_return.is_some()
                    || ticket.pending_extension.is_some()
                    || ticket.pending_suspension.is_some()) =>
        {
            // Approve mostly; decide the pending requests in any order.
            let approve = k % 8 != 2;
            let mut decisions = Vec::new();
            if ticket.pending_return.is_some() {
                decisions.push(Command::DecideReturn {
                    approve: k.is_multiple_of(8),
                    note: note(),
                });
            }
            if ticket.pending_extension.is_some() {
                decisions.push(Command::DecideExtension {
                    approve,
                    note: note(),
                });
            }
            if ticket.pending_suspension.is_some() {
                decisions.push(Command::DecideSuspension {
                    approve,
                    note: note(),
                });
            }
            decisions.swap_remove(k / 2 % decisions.len())
        }
        TicketStatus::Dispatched | TicketStatus::InProgress
            if ticket.suspended && k.is_multiple_of(3) =>
        {
            Command::Resume { note: note() }
        }
        TicketStatus::Dispatched => Command::Sign { note: note() },
        TicketStatus::InProgress => {
            let unsigned = ticket
                .assignments
                .iter()
                .any(|a| a.status == AssignmentStatus::Dispatched);
            let below = [
                common::ENV_GUSU,
                common::ENV_WUZHONG,
                common::ENV_GUSU_SHILU,
            ];
            match k % 8 {
                0 | 1 if unsigned => Command::Sign { note: note() },
                2 => Command::Delegate {
                    to_department_id: DepartmentId::new(below[k / 8 % 3]),
                    note: note(),
                },
                3 => Command::SubmitOpinion {
                    content: "同意主办意见".to_owned(),
                },
                4 => Command::RequestExtension {
                    requested_reply_due: minutes_from(
                        ticket.reply_due.unwrap_or(ticket.updated_at),
                        60 * (1 + i64::from(seed / 8)),
                    ),
                    reason: "需要现场核实".to_owned(),
                },
                5 => Command::RequestSuspension {
                    reason: "等待市民补充材料".to_owned(),
                    resume_by: None,
                },
                _ => Command::Reply {
                    result: ReplyResult::Solved,
                    content: "已解决".to_owned(),
                },
            }
        }
        TicketStatus::Replied => match k % 4 {
            0 => Command::ReviewReply {
                accept: k.is_multiple_of(8),
                note: note(),
            },
            1 => Command::AutoClose,
            _ => {
                let satisfaction = Satisfaction::ALL[k / 4 % 3];
                Command::RecordCallback {
                    contacted: true,
                    resolved: satisfaction != Satisfaction::Unsatisfied,
                    satisfaction: Some(satisfaction),
                    comment: note(),
                    reopen: satisfaction == Satisfaction::Unsatisfied && k.is_multiple_of(3),
                }
            }
        },
        TicketStatus::Closed if ticket.pending_dispute.is_some() => Command::DecideDispute {
            approve: k.is_multiple_of(2),
            note: note(),
        },
        TicketStatus::Closed if k.is_multiple_of(2) => Command::DisputeRating {
            evidence: "现场照片".to_owned(),
        },
        TicketStatus::Closed => Command::Reopen { note: note() },
        TicketStatus::Merged => Command::Urge { note: note() },
    }
}

fn command(spec: &Spec, ticket: &Ticket, now: Timestamp) -> Command {
    match spec {
        Spec::Progress(seed) => progress(*seed, ticket),
        Spec::Ready(command) => command.clone(),
        Spec::RequestExtension { minutes, reason } => Command::RequestExtension {
            requested_reply_due: minutes_from(ticket.reply_due.unwrap_or(now), *minutes),
            reason: reason.clone(),
        },
        Spec::RequestSuspension {
            reason,
            resume_in_minutes,
        } => Command::RequestSuspension {
            reason: reason.clone(),
            resume_by: resume_in_minutes.map(|m| minutes_from(now, m)),
        },
        Spec::Supervise {
            level,
            note,
            feedback_in_minutes,
        } => Command::Supervise {
            level: *level,
            note: note.clone(),
            feedback_due: feedback_in_minutes.map(|m| minutes_from(now, m)),
        },
    }
}

/// What one run went through, for the coverage check.
#[derive(Debug, Default)]
struct Trace {
    accepted: BTreeSet<Action>,
    statuses: BTreeSet<TicketStatus>,
    events: Vec<Event>,
    tickets: Vec<Ticket>,
}

/// Runs a sequence, checking every property after every step.
fn run(intake: &Intake, steps: &[Step], keep: bool) -> Result<Trace, TestCaseError> {
    let mut world = World::default();
    world.advance(SignedDuration::from_nanos(intake.start_nanos));
    let creator = operator();
    let created = create_ticket(
        TICKET,
        "SZ-20260302-000001",
        new_ticket(intake),
        &world.ctx(&creator),
    )
    .map_err(|e| TestCaseError::fail(format!("intake refused: {e}")))?;
    prop_assert_eq!(created.ticket.version, 1);
    prop_assert_eq!(
        created.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=created.events.len() as u64).collect::<Vec<_>>()
    );
    prop_assert_eq!(
        created.ticket.status,
        if intake.auto_dispatch.is_some() {
            TicketStatus::Dispatched
        } else {
            TicketStatus::PendingDispatch
        }
    );
    let mut trace = Trace::default();
    let mut log = created.events;
    let mut ticket = created.ticket;
    check_invariants(&ticket, &world).map_err(TestCaseError::fail)?;
    trace.statuses.insert(ticket.status);
    if keep {
        trace.tickets.push(ticket.clone());
    }

    for (i, step) in steps.iter().enumerate() {
        world.advance(step.advance);
        let cmd = command(&step.spec, &ticket, world.now);
        let actor = actor(&step.who, &ticket, &cmd);
        let ctx = world.ctx(&actor);
        let before = ticket.clone();
        let decided = ticket.decide(&cmd, &ctx);
        let executed = ticket.execute(&cmd, &ctx);
        prop_assert_eq!(
            &ticket,
            &before,
            "execute took &self yet the ticket changed"
        );
        match (decided, executed) {
            (Err(refused), Err(error)) => {
                prop_assert_eq!(refused, error, "decide and execute disagree at step {}", i);
            }
            (Ok(kinds), Ok(decision)) => {
                let action = cmd.action();
                check_accepted_from(&before, &cmd, &actor)
                    .map_err(|e| TestCaseError::fail(format!("step {i}, {action}: {e}")))?;
                prop_assert!(!decision.events.is_empty(), "{} appended no event", action);
                prop_assert_eq!(
                    decision
                        .events
                        .iter()
                        .map(|e| e.kind.clone())
                        .collect::<Vec<_>>(),
                    kinds,
                    "decide and execute disagree at step {}",
                    i
                );
                for (offset, event) in decision.events.iter().enumerate() {
                    prop_assert_eq!(event.seq, before.last_seq + 1 + offset as u64, "seq gap");
                    prop_assert_eq!(event.version, before.version + 1);
                    prop_assert_eq!(event.ticket_id, before.id);
                    prop_assert_eq!(event.at, world.now);
                    prop_assert_eq!(&event.actor, &actor);
                }
                let next = decision.ticket;
                prop_assert_eq!(
                    next.version,
                    before.version + 1,
                    "{} bumped the version",
                    action
                );
                prop_assert_eq!(
                    next.last_seq,
                    before.last_seq + decision.events.len() as u64
                );
                prop_assert_eq!(next.updated_at, world.now);
                check_effects(&before, &next, &decision.events, &actor, &world)
                    .map_err(|e| TestCaseError::fail(format!("step {i}, {action}: {e}")))?;
                for event in &decision.events {
                    // Who hears of it, and the running deadline, never panic.
                    let _ = next.notified_departments(&event.kind);
                }
                let _ = next.running_deadline();
                log.extend(decision.events);
                trace.accepted.insert(action);
                ticket = next;
            }
            (decided, executed) => {
                return Err(TestCaseError::fail(format!(
                    "decide and execute disagree at step {i}: {decided:?} vs {executed:?}"
                )));
            }
        }
        let replayed = Ticket::replay(&log);
        prop_assert_eq!(
            replayed.as_ref(),
            Ok(&ticket),
            "replay differs after step {}",
            i
        );
        check_invariants(&ticket, &world)
            .map_err(|e| TestCaseError::fail(format!("after step {i}: {e}\n{ticket:#?}")))?;
        check_sweeps(&ticket, &log, &world)
            .map_err(|e| TestCaseError::fail(format!("sweeping after step {i}: {e}")))?;
        trace.statuses.insert(ticket.status);
        if keep {
            trace.tickets.push(ticket.clone());
        }
    }
    if keep {
        trace.events = log;
    }
    Ok(trace)
}

/// Sweeps a copy of the ticket now and at later instants (the main run never
/// sweeps, so its light stays off): each sweep is checked like a command, lights
/// only levels above the current one, in order, for the running deadline, or
/// closes a replied ticket; a second sweep at the same instant changes nothing;
/// and the next check always lies after the instant swept.
fn check_sweeps(ticket: &Ticket, log: &[Event], world: &World) -> Result<(), String> {
    let system = Actor::system();
    let mut current = ticket.clone();
    let mut events = log.to_vec();
    let mut at = world.clone();
    for hop in [0, 3_600, 86_400, 40 * 86_400] {
        at.advance(SignedDuration::from_secs(hop));
        let ctx = at.ctx(&system);
        if let Some(decision) = current.sweep(&ctx) {
            let mut level = current.warning_level;
            let running = current.running_deadline().map(|(kind, _)| kind);
            for event in &decision.events {
                match event.kind {
                    EventKind::WarningChanged { kind, level: next } => {
                        if Some(kind) != running || next <= level {
                            return Err(format!(
                                "lit {kind} {next} after {level} with {running:?} running"
                            ));
                        }
                        level = next;
                    }
                    EventKind::Closed {
                        reason: CloseReason::NoCallback,
                    } if current.status == TicketStatus::Replied => {}
                    ref other => return Err(format!("the sweeper recorded {other:?}")),
                }
                if event.actor != system || event.at != at.now {
                    return Err("a sweep event not by the system, now".into());
                }
            }
            events.extend(decision.events.iter().cloned());
            if Ticket::replay(&events).as_ref() != Ok(&decision.ticket) {
                return Err("a swept ticket is not the replay of its log".into());
            }
            check_invariants(&decision.ticket, &at)?;
            if decision.ticket.sweep(&ctx).is_some() {
                return Err("a second sweep at the same instant changed the ticket".into());
            }
            current = decision.ticket;
        }
        if let Some(next) = current.next_check_at(at.calendar.as_ref())
            && next <= at.now
        {
            return Err(format!("next check {next} is not after {}", at.now));
        }
    }
    Ok(())
}

/// Once the loop has ended, only a reopen after an unsatisfied callback and the
/// rating dispute remain; a merged ticket accepts nothing.
fn check_accepted_from(before: &Ticket, cmd: &Command, actor: &Actor) -> Result<(), String> {
    let action = cmd.action();
    match before.status {
        TicketStatus::Merged => Err(format!("a merged ticket accepted {action}")),
        TicketStatus::Closed => match action {
            Action::Reopen => {
                let unsatisfied = before.close_reason == Some(CloseReason::Callback)
                    && before.callback.as_ref().is_some_and(|c| {
                        c.satisfaction == Some(Satisfaction::Unsatisfied) || !c.resolved
                    });
                if unsatisfied {
                    Ok(())
                } else {
                    Err("reopened a ticket that did not close on an unsatisfied callback".into())
                }
            }
            Action::DisputeRating => {
                let unsatisfied = before
                    .callback
                    .as_ref()
                    .is_some_and(|c| c.satisfaction == Some(Satisfaction::Unsatisfied));
                if !unsatisfied || before.close_reason != Some(CloseReason::Callback) {
                    return Err("disputed a rating the ticket did not close on".into());
                }
                if actor.department_id != before.lead_department_id {
                    return Err("a department other than the lead disputed the rating".into());
                }
                Ok(())
            }
            Action::DecideDispute => Ok(()),
            _ => Err(format!("a closed ticket accepted {action}")),
        },
        _ => Ok(()),
    }
}

/// Checks what an accepted command did, beyond the invariants.
fn check_effects(
    before: &Ticket,
    after: &Ticket,
    events: &[Event],
    actor: &Actor,
    world: &World,
) -> Result<(), String> {
    let acting = actor.department_id.as_ref();
    let part = |t: &Ticket| acting.and_then(|d| t.active_assignment(d)).cloned();
    for event in events {
        match &event.kind {
            EventKind::Signed {
                department_id,
                late,
            } => {
                let was = before
                    .active_assignment(department_id)
                    .ok_or("signed without a part")?;
                if was.status != AssignmentStatus::Dispatched {
                    return Err(format!("signed a part that was {}", was.status));
                }
                if *late != (world.now > was.sign_due) {
                    return Err("the late flag does not match sign_due".into());
                }
                if was.role == AssignmentRole::Lead && after.status != TicketStatus::InProgress {
                    return Err("the lead signed but the ticket is not in progress".into());
                }
            }
            EventKind::Replied { department_id, .. } => {
                let was = before
                    .active_assignment(department_id)
                    .ok_or("replied without a part")?;
                if was.role == AssignmentRole::CoHandler || Some(department_id) != acting {
                    return Err("someone other than the lead or its delegate replied".into());
                }
                if before.suspended {
                    return Err("replied while suspended".into());
                }
            }
            EventKind::OpinionSubmitted { .. }
                if part(before).map(|a| a.role) != Some(AssignmentRole::CoHandler) =>
            {
                return Err("an opinion came from a department that is no co-handler".into());
            }
            EventKind::Delegated {
                from_department_id,
                to_department_id,
                reply_due,
                sign_due,
                ..
            } => {
                let from = before
                    .active_assignment(from_department_id)
                    .ok_or("no parent part")?;
                if from.status != AssignmentStatus::Signed {
                    return Err("delegated before the parent signed".into());
                }
                if !world
                    .directory
                    .is_descendant(to_department_id, from_department_id)
                {
                    return Err("delegated outside the parent's subtree".into());
                }
                if *reply_due != from.reply_due || sign_due > reply_due {
                    return Err("the delegate did not inherit the reply deadline".into());
                }
            }
            EventKind::ExtensionApproved { reply_due, .. }
                if before.reply_due.is_some_and(|due| *reply_due <= due) =>
            {
                return Err(format!(
                    "an approved extension moved reply_due from {:?} to {reply_due}",
                    before.reply_due
                ));
            }
            EventKind::Resumed {
                suspended_seconds, ..
            } => {
                let since = before.suspended_at.ok_or("resumed without suspended_at")?;
                // The clock stops in whole seconds, as the event records it.
                let stopped = SignedDuration::from_secs(world.now.duration_since(since).as_secs());
                let shifted = |due: Option<Timestamp>| due.map(|d| d.checked_add(stopped).unwrap());
                // A deadline already met stays: once the lead signed, its sign deadline
                // is history (moving it could turn a late sign on time).
                let sign_due = if before.status == TicketStatus::Dispatched {
                    shifted(before.sign_due)
                } else {
                    before.sign_due
                };
                if after.reply_due != shifted(before.reply_due) || after.sign_due != sign_due {
                    return Err("resume did not shift the deadlines by the time stopped".into());
                }
                for a in after.assignments.iter().filter(|a| a.status.is_active()) {
                    let was = before
                        .active_assignment(&a.department_id)
                        .ok_or("a live part appeared on resume")?;
                    let running = was.status == AssignmentStatus::Dispatched;
                    let expected = if running {
                        shifted(Some(was.sign_due))
                    } else {
                        Some(was.sign_due)
                    };
                    if Some(a.sign_due) != expected {
                        return Err(
                            "resume moved a met sign deadline, or missed a running one".into()
                        );
                    }
                }
                if after.window_start != shifted(before.window_start) {
                    return Err("resume did not move the window start with the deadlines".into());
                }
                if *suspended_seconds != stopped.as_secs() {
                    return Err("resume recorded the wrong stop".into());
                }
            }
            EventKind::Urged { department_ids, .. }
            | EventKind::Supervised { department_ids, .. } => {
                let working: Vec<DepartmentId> = before
                    .assignments
                    .iter()
                    .filter(|a| {
                        matches!(
                            a.status,
                            AssignmentStatus::Dispatched | AssignmentStatus::Signed
                        )
                    })
                    .map(|a| a.department_id.clone())
                    .collect();
                if *department_ids != working || department_ids.is_empty() {
                    return Err("urge or supervision did not reach the working departments".into());
                }
            }
            EventKind::Closed {
                reason: CloseReason::NoCallback,
            } => {
                let due = before.callback_due.is_some_and(|due| world.now >= due);
                if before.citizen.wants_callback && !due {
                    return Err("auto-closed while the callback was still due".into());
                }
            }
            EventKind::Reopened { .. } if after.reopen_count != before.reopen_count + 1 => {
                return Err("a reopen was not counted".into());
            }
            EventKind::Merged { master_id, .. } if *master_id == before.id => {
                return Err("merged into itself".into());
            }
            EventKind::AnsweredDirectly { .. }
                if before.status != TicketStatus::PendingDispatch =>
            {
                return Err(format!("answered directly from {}", before.status));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The states the closed loop must never reach, as explicit invariants.
fn check_invariants(t: &Ticket, world: &World) -> Result<(), String> {
    let limits = world.policy.limits;
    let live: Vec<_> = t
        .assignments
        .iter()
        .filter(|a| a.status.is_active())
        .collect();
    let leads: Vec<_> = live
        .iter()
        .filter(|a| a.role == AssignmentRole::Lead)
        .collect();
    let fail = |why: &str| Err(format!("{} ticket: {why}", t.status));

    // Counters stay within policy.
    if t.return_count > limits.max_returns {
        return fail("more returns than the policy allows");
    }
    if t.extension_count > limits.max_extensions {
        return fail("more extensions than the policy allows");
    }
    if t.reopen_count > limits.max_reopens {
        return fail("more reopens than the policy allows");
    }
    if t.rejected_return_count > t.return_count {
        return fail("more rejected returns than returns");
    }
    if t.last_seq < t.version {
        return fail("fewer events than versions");
    }

    // A department holds at most one live part.
    let mut seen = BTreeSet::new();
    if !live.iter().all(|a| seen.insert(&a.department_id)) {
        return fail("a department holds two live parts");
    }
    for a in &live {
        if a.signed_at.is_some() != (a.status != AssignmentStatus::Dispatched) {
            return fail("signed_at does not match the part's status");
        }
        if a.role == AssignmentRole::CoHandler
            && a.opinion.is_some() != (a.status == AssignmentStatus::OpinionSubmitted)
        {
            return fail("a co-handler's opinion does not match its status");
        }
        if (a.role == AssignmentRole::Delegate) != a.delegated_from.is_some() {
            return fail("delegated_from set on a part that is no delegate, or missing");
        }
        if let Some(parent) = &a.delegated_from {
            let Some(p) = live.iter().find(|p| &p.department_id == parent) else {
                return fail("a live delegate whose parent has no live part");
            };
            if p.role == AssignmentRole::CoHandler || p.signed_at.is_none() {
                return fail("a delegate whose parent never signed");
            }
            if !world.directory.is_descendant(&a.department_id, parent) {
                return fail("a delegate outside its parent's subtree");
            }
            if t.status.is_open() && a.reply_due != p.reply_due {
                return fail("a delegate's reply deadline differs from its parent's");
            }
        }
    }

    // Suspension and pending requests belong to a ticket being handled.
    let handling = matches!(
        t.status,
        TicketStatus::Dispatched | TicketStatus::InProgress
    );
    if t.suspended != t.suspended_at.is_some() {
        return fail("suspended and suspended_at disagree");
    }
    if t.suspended && !handling {
        return fail("suspended outside DISPATCHED/IN_PROGRESS");
    }
    if t.pending_return.is_some() && !handling {
        return fail("a return request pending outside DISPATCHED/IN_PROGRESS");
    }
    if t.pending_extension.is_some() && t.status != TicketStatus::InProgress {
        return fail("an extension request pending outside IN_PROGRESS");
    }
    if t.pending_suspension.is_some() && (!handling || t.suspended) {
        return fail("a suspension request pending on a ticket that cannot be suspended");
    }
    if t.pending_dispute.is_some() && (t.status != TicketStatus::Closed || t.dispute_decided) {
        return fail("a dispute pending on a ticket that is not closed, or decided twice");
    }
    if t.rating_exempt && !t.dispute_decided {
        return fail("exempt from the statistics without a decided dispute");
    }
    if t.reply_accepted
        && !matches!(
            t.status,
            TicketStatus::Replied | TicketStatus::Closed | TicketStatus::Merged
        )
    {
        return fail("an accepted reply on a ticket sent back to work");
    }
    if t.status.is_open() && (t.close_reason.is_some() || t.closed_at.is_some()) {
        return fail("an open ticket carries a close reason or time");
    }
    if t.status != TicketStatus::Merged && t.merged_into.is_some() {
        return fail("merged_into set on a ticket that is not merged");
    }

    match t.status {
        TicketStatus::PendingDispatch => {
            if !live.is_empty() || t.lead_department_id.is_some() {
                return fail("a live assignment or a lead while awaiting dispatch");
            }
            if t.sign_due.is_some() || t.reply_due.is_some() || t.callback_due.is_some() {
                return fail("deadlines while awaiting dispatch");
            }
        }
        TicketStatus::Dispatched | TicketStatus::InProgress | TicketStatus::Replied => {
            let [lead] = leads.as_slice() else {
                return fail(&format!("{} live lead assignments", leads.len()));
            };
            if t.lead_department_id.as_ref() != Some(&lead.department_id) {
                return fail("lead_department_id is not the live lead assignment");
            }
            if t.sign_due != Some(lead.sign_due) || t.reply_due != Some(lead.reply_due) {
                return fail(&format!(
                    "the ticket's deadlines {:?}/{:?} are not its lead's {}/{}",
                    t.sign_due, t.reply_due, lead.sign_due, lead.reply_due
                ));
            }
            let expected = match t.status {
                TicketStatus::Dispatched => AssignmentStatus::Dispatched,
                TicketStatus::InProgress => AssignmentStatus::Signed,
                _ => AssignmentStatus::Replied,
            };
            if lead.status != expected {
                return fail(&format!("the lead's part is {}", lead.status));
            }
            if t.status == TicketStatus::Dispatched
                && live.iter().any(|a| a.role == AssignmentRole::Delegate)
            {
                return fail("a delegate before the lead signed");
            }
            if t.status == TicketStatus::Replied {
                let Some(reply) = &t.reply else {
                    return fail("no reply");
                };
                if t.callback_due.is_none() {
                    return fail("no callback deadline");
                }
                let by_handler = live.iter().any(|a| {
                    a.department_id == reply.department_id && a.role != AssignmentRole::CoHandler
                });
                if !by_handler {
                    return fail("the reply came from no handling department");
                }
            } else if t.callback_due.is_some() {
                return fail("a callback deadline before the reply");
            }
        }
        TicketStatus::Closed => {
            if t.close_reason.is_none() || t.closed_at.is_none() {
                return fail("no close reason or time");
            }
            if matches!(
                t.close_reason,
                Some(CloseReason::Callback | CloseReason::NoCallback)
            ) && t.reply.is_none()
            {
                return fail("closed on a callback without a reply");
            }
            if t.close_reason == Some(CloseReason::AnsweredDirectly) && t.direct_answer.is_none() {
                return fail("answered directly without an answer");
            }
        }
        TicketStatus::Merged => {
            if t.merged_into.is_none() || t.closed_at.is_none() || t.close_reason.is_some() {
                return fail("merged without a master or a time, or with a close reason");
            }
            if t.merged_into == Some(t.id) {
                return fail("merged into itself");
            }
        }
    }
    if !t.status.is_open() {
        if t.pending_return.is_some()
            || t.pending_extension.is_some()
            || t.pending_suspension.is_some()
            || t.suspended
        {
            return fail("pending requests or a stopped clock after the loop ended");
        }
        if t.running_deadline().is_some() {
            return fail("a deadline still runs after the loop ended");
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// 512 cases (or `PROPTEST_CASES`), with failures kept in the crate's
/// `proptest-regressions/` (cargo runs tests from the package root).
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/state_machine.txt",
        ))),
        ..ProptestConfig::with_cases(cases())
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_command_sequences_keep_the_closed_loop_sound(intake in intake(), steps in steps()) {
        run(&intake, &steps, false)?;
    }

    #[test]
    fn every_event_and_ticket_of_a_run_round_trips_through_json(
        intake in intake(),
        steps in steps(),
    ) {
        let trace = run(&intake, &steps, true)?;
        for event in &trace.events {
            let json = serde_json::to_string(event).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Event>(&json).unwrap(), event, "{}", json);
        }
        for ticket in &trace.tickets {
            let json = serde_json::to_string(ticket).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Ticket>(&json).unwrap(), ticket, "{}", json);
        }
    }

    #[test]
    fn any_event_kind_round_trips_through_json(kind in event_kind()) {
        let json = serde_json::to_string(&kind).unwrap();
        let back: EventKind = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, kind, "{}", json);
    }

    #[test]
    fn a_ticket_with_any_location_and_confidence_round_trips_through_json(
        latitude in -90.0f64..=90.0,
        longitude in -180.0f64..=180.0,
        confidence in 0.0f64..=1.0,
        intake in intake(),
        steps in steps(),
    ) {
        let mut ticket = run(&intake, &steps, true)?.tickets.pop().unwrap();
        ticket.location = Some(GeoPoint { latitude, longitude });
        if let Some(category) = &mut ticket.category {
            category.confidence = confidence;
        }
        let json = serde_json::to_string(&ticket).unwrap();
        prop_assert_eq!(serde_json::from_str::<Ticket>(&json).unwrap(), ticket, "{}", json);
    }
}

fn loose_new_ticket() -> impl Strategy<Value = NewTicket> {
    let loose_text = || prop_oneof![any_text(), "[0-9+\\-]{0,25}", "\\s{0,3}"];
    (
        (
            loose_text(),
            loose_text(),
            loose_text(),
            loose_text(),
            loose_text(),
            loose_text(),
        ),
        prop::option::of((any::<f64>(), any::<f64>())),
        prop::option::of((prop::sample::select(CATEGORIES), any::<f64>())),
        prop::option::of((any_text(), prop::collection::vec(any_text(), 0..3))),
        prop::sample::select(AppealType::ALL),
        prop::sample::select(Priority::ALL),
    )
        .prop_map(
            |((title, body, address, region_code, name, phone), at, category, to, a, p)| {
                NewTicket {
                    routing: None,
                    channel: Channel::Web,
                    appeal_type: a,
                    priority: p,
                    citizen: Citizen {
                        name,
                        phone,
                        ..Citizen::default()
                    },
                    title,
                    body,
                    address,
                    region_code,
                    location: at.map(|(latitude, longitude)| GeoPoint {
                        latitude,
                        longitude,
                    }),
                    category: category.map(|(path, confidence)| Category {
                        path: path.to_owned(),
                        label: String::new(),
                        confidence,
                        overridden: true,
                    }),
                    auto_dispatch: to.map(|(lead, co)| DispatchTarget {
                        lead_department_id: DepartmentId(lead),
                        co_department_ids: co.into_iter().map(DepartmentId).collect(),
                    }),
                }
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn intake_of_any_input_never_panics_and_refuses_only_with_a_named_field(
        new in loose_new_ticket(),
    ) {
        let world = World::default();
        let actor = operator();
        match create_ticket(TICKET, "SZ-20260302-000001", new, &world.ctx(&actor)) {
            Ok(decision) => {
                prop_assert_eq!(Ticket::replay(&decision.events), Ok(decision.ticket.clone()));
                check_invariants(&decision.ticket, &world).map_err(TestCaseError::fail)?;
                let json = serde_json::to_string(&decision.ticket).unwrap();
                prop_assert_eq!(serde_json::from_str::<Ticket>(&json).unwrap(), decision.ticket);
            }
            Err(error) => {
                let named = matches!(error, hotline_core::DomainError::InvalidField { .. });
                prop_assert!(named, "{:?}", error);
            }
        }
    }
}

/// Guards the generator: over a fixed set of runs, every command is accepted at
/// least once and every state is reached, so the properties above are not vacuous.
#[test]
fn the_generator_reaches_every_state_and_every_command() {
    let strategy = (intake(), steps());
    let mut runner = TestRunner::deterministic();
    let mut accepted = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    for _ in 0..400 {
        let (intake, steps) = strategy.new_tree(&mut runner).unwrap().current();
        let trace = run(&intake, &steps, false).unwrap();
        accepted.extend(trace.accepted);
        statuses.extend(trace.statuses);
    }
    let never: Vec<_> = Action::ALL
        .iter()
        .filter(|a| **a != Action::Create && !accepted.contains(a))
        .collect();
    assert!(never.is_empty(), "never accepted: {never:?}");
    let unreached: Vec<_> = TicketStatus::ALL
        .iter()
        .filter(|s| !statuses.contains(s))
        .collect();
    assert!(unreached.is_empty(), "never reached: {unreached:?}");
}

// ---- arbitrary events -----------------------------------------------------------------

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        8 => (0i64..4_102_444_800, 0i32..1_000_000_000)
            .prop_map(|(s, ns)| Timestamp::new(s, ns).unwrap()),
        1 => Just(Timestamp::MIN),
        1 => Just(Timestamp::MAX),
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\PC{0,20}", Just(String::new())]
}

fn dept_id() -> impl Strategy<Value = DepartmentId> {
    any_text().prop_map(DepartmentId)
}

fn ticket_id() -> impl Strategy<Value = TicketId> {
    any::<u128>().prop_map(|n| TicketId(Uuid::from_u128(n)))
}

fn finite() -> impl Strategy<Value = f64> {
    use prop::num::f64;
    f64::POSITIVE | f64::NEGATIVE | f64::NORMAL | f64::SUBNORMAL | f64::ZERO
}

fn citizen() -> impl Strategy<Value = Citizen> {
    (any_text(), any_text(), any::<[bool; 3]>()).prop_map(
        |(name, phone, [anonymous, confidential, wants_callback])| Citizen {
            name,
            phone,
            anonymous,
            confidential,
            wants_callback,
        },
    )
}

fn created() -> impl Strategy<Value = EventKind> {
    let head = (
        any_text(),
        prop::sample::select(Channel::ALL),
        prop::sample::select(AppealType::ALL),
        prop::sample::select(Priority::ALL),
        citizen(),
        any_text(),
        any_text(),
    );
    let tail = (
        any_text(),
        any_text(),
        prop::option::of(
            (finite(), finite()).prop_map(|(latitude, longitude)| GeoPoint {
                latitude,
                longitude,
            }),
        ),
        prop::option::of((any_text(), any_text(), finite(), any::<bool>()).prop_map(
            |(path, label, confidence, overridden)| Category {
                path,
                label,
                confidence,
                overridden,
            },
        )),
        ticket_policy(),
    );
    (head, tail).prop_map(
        |(
            (number, channel, appeal_type, priority, citizen, title, body),
            (address, region_code, location, category, policy),
        )| EventKind::Created {
            number,
            channel,
            appeal_type,
            priority,
            citizen,
            title,
            body,
            address,
            region_code,
            location,
            category,
            policy,
            routing: None,
        },
    )
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        any::<u32>().prop_map(|minutes| Window::Calendar { minutes }),
        any::<u32>().prop_map(|hours| Window::WorkingHours { hours }),
        any::<u32>().prop_map(|days| Window::WorkingDays { days }),
    ]
}

fn ticket_policy() -> impl Strategy<Value = TicketPolicy> {
    (
        any::<i64>(),
        (window(), window(), window()),
        any::<u32>(),
        any::<u32>(),
        any::<[u32; 3]>(),
    )
        .prop_map(
            |(
                version,
                (sign_within, reply_within, callback_within),
                warning_percent,
                serious_overdue_minutes,
                [max_returns, max_extensions, max_reopens],
            )| TicketPolicy {
                version,
                sign_within,
                reply_within,
                callback_within,
                warning_percent,
                serious_overdue_minutes,
                limits: Limits {
                    max_returns,
                    max_extensions,
                    max_reopens,
                },
            },
        )
}

fn part_deadlines() -> impl Strategy<Value = PartDeadlines> {
    (dept_id(), timestamp(), timestamp()).prop_map(|(department_id, sign_due, reply_due)| {
        PartDeadlines {
            department_id,
            sign_due,
            reply_due,
        }
    })
}

/// Every [`EventKind`] variant with arbitrary contents.
fn event_kind() -> impl Strategy<Value = EventKind> {
    let ids = || prop::collection::vec(dept_id(), 0..3);
    let opt_ts = || prop::option::of(timestamp());
    prop_oneof![
        created(),
        (
            dept_id(),
            ids(),
            timestamp(),
            timestamp(),
            any::<bool>(),
            any_text()
        )
            .prop_map(
                |(lead_department_id, co_department_ids, sign_due, reply_due, automatic, note)| {
                    EventKind::Dispatched {
                        lead_department_id,
                        co_department_ids,
                        sign_due,
                        reply_due,
                        automatic,
                        note,
                    }
                }
            ),
        (dept_id(), any::<bool>()).prop_map(|(department_id, late)| EventKind::Signed {
            department_id,
            late
        }),
        (dept_id(), any_text()).prop_map(|(department_id, reason)| {
            EventKind::ReturnRequested {
                department_id,
                reason,
            }
        }),
        (dept_id(), any_text()).prop_map(|(department_id, note)| EventKind::ReturnApproved {
            department_id,
            note
        }),
        (dept_id(), any_text()).prop_map(|(department_id, note)| EventKind::ReturnRejected {
            department_id,
            note
        }),
        (dept_id(), dept_id(), timestamp(), timestamp(), any_text()).prop_map(
            |(from_department_id, to_department_id, sign_due, reply_due, note)| {
                EventKind::Delegated {
                    from_department_id,
                    to_department_id,
                    sign_due,
                    reply_due,
                    note,
                }
            }
        ),
        (dept_id(), any_text()).prop_map(|(department_id, content)| {
            EventKind::OpinionSubmitted {
                department_id,
                content,
            }
        }),
        (dept_id(), timestamp(), any_text()).prop_map(
            |(department_id, requested_reply_due, reason)| EventKind::ExtensionRequested {
                department_id,
                requested_reply_due,
                reason,
            }
        ),
        (timestamp(), any_text())
            .prop_map(|(reply_due, note)| EventKind::ExtensionApproved { reply_due, note }),
        any_text().prop_map(|note| EventKind::ExtensionRejected { note }),
        (dept_id(), any_text()).prop_map(|(department_id, content)| {
            EventKind::ProgressAdded {
                department_id,
                content,
            }
        }),
        (
            dept_id(),
            prop::sample::select(ReplyResult::ALL),
            any_text(),
            timestamp()
        )
            .prop_map(|(department_id, result, content, callback_due)| {
                EventKind::Replied {
                    department_id,
                    result,
                    content,
                    callback_due,
                }
            }),
        any_text().prop_map(|note| EventKind::ReplyAccepted { note }),
        any_text().prop_map(|note| EventKind::ReplySentBack { note }),
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::of(prop::sample::select(Satisfaction::ALL)),
            any_text(),
        )
            .prop_map(|(contacted, resolved, satisfaction, comment)| {
                EventKind::CallbackRecorded {
                    contacted,
                    resolved,
                    satisfaction,
                    comment,
                }
            }),
        (timestamp(), any_text())
            .prop_map(|(reply_due, note)| EventKind::Reopened { reply_due, note }),
        prop::sample::select(CloseReason::ALL).prop_map(|reason| EventKind::Closed { reason }),
        (dept_id(), any_text()).prop_map(|(department_id, evidence)| {
            EventKind::RatingDisputed {
                department_id,
                evidence,
            }
        }),
        (any::<bool>(), any_text())
            .prop_map(|(exempt, note)| EventKind::DisputeDecided { exempt, note }),
        (dept_id(), any_text(), opt_ts()).prop_map(|(department_id, reason, resume_by)| {
            EventKind::SuspensionRequested {
                department_id,
                reason,
                resume_by,
            }
        }),
        any_text().prop_map(|note| EventKind::Suspended { note }),
        any_text().prop_map(|note| EventKind::SuspensionRejected { note }),
        (
            (opt_ts(), opt_ts(), any::<i64>(), any_text()),
            prop::collection::vec(part_deadlines(), 0..3),
            opt_ts(),
            opt_ts(),
        )
            .prop_map(
                |(
                    (sign_due, reply_due, suspended_seconds, note),
                    parts,
                    window_start,
                    requested_reply_due,
                )| EventKind::Resumed {
                    sign_due,
                    reply_due,
                    suspended_seconds,
                    note,
                    parts,
                    window_start,
                    requested_reply_due,
                }
            ),
        any_text().prop_map(|reason| EventKind::Withdrawn { reason }),
        any_text().prop_map(|content| EventKind::AnsweredDirectly { content }),
        (ticket_id(), any_text())
            .prop_map(|(master_id, note)| EventKind::Merged { master_id, note }),
        any_text().prop_map(|reason| EventKind::MarkedInvalid { reason }),
        (ids(), any_text()).prop_map(|(department_ids, note)| EventKind::Urged {
            department_ids,
            note
        }),
        (
            prop::sample::select(SupervisionLevel::ALL),
            ids(),
            any_text(),
            opt_ts()
        )
            .prop_map(|(level, department_ids, note, feedback_due)| {
                EventKind::Supervised {
                    level,
                    department_ids,
                    note,
                    feedback_due,
                }
            }),
        (
            prop::sample::select(DeadlineKind::ALL),
            prop::sample::select(WarningLevel::ALL)
        )
            .prop_map(|(kind, level)| EventKind::WarningChanged { kind, level }),
    ]
}
