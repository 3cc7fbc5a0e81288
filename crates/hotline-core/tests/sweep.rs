//! The sweeper's rules on one ticket (see `src/sweep.rs`), each read as a
//! sentence: the traffic light of the running deadline, the auto-close of
//! replied tickets, suspension, and the policy a ticket keeps.
//!
//! The default policy on the always-open calendar gives a normal complaint a
//! sign window of one working day (24 h), a reply window of ten (240 h), a
//! callback window of two (48 h), the yellow light at 80 % of a window and
//! "seriously overdue" 24 h past due.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{ENV, Flow, World, complaint, department, operator, reply, start, supervisor, target};
use hotline_core::{
    Actor, CloseReason, Command, DeadlineKind, DeadlinePolicy, EventKind, NewTicket, PolicyEntry,
    Satisfaction, TicketStatus, WarningLevel, Window, WorkingCalendar,
};
use jiff::{SignedDuration, Timestamp};

fn mins(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

fn at(offset: SignedDuration) -> Timestamp {
    start().checked_add(offset).unwrap()
}

/// Moves the flow's clock to `start() + offset`.
fn jump(flow: &mut Flow, offset: SignedDuration) {
    let by = flow.world.now.duration_until(at(offset));
    flow.advance(by);
}

/// The (kind, level) of each warning change among `events`.
fn lights(events: &[hotline_core::Event]) -> Vec<(DeadlineKind, WarningLevel)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::WarningChanged { kind, level } => Some((kind, level)),
            _ => None,
        })
        .collect()
}

fn sign() -> Command {
    Command::Sign {
        note: String::new(),
    }
}

#[test]
fn each_level_is_reached_once_and_in_order_as_time_passes() {
    let mut flow = Flow::dispatched(ENV, &[]);
    // 80 % of the 24 h sign window: 19 h 12 min after dispatch.
    assert_eq!(flow.next_check_at(), Some(at(hours(19) + mins(12))));

    jump(&mut flow, hours(19));
    assert!(flow.sweep().is_empty(), "nothing before the threshold");

    jump(&mut flow, hours(19) + mins(12));
    let events = flow.sweep();
    assert_eq!(
        lights(&events),
        [(DeadlineKind::Sign, WarningLevel::Warning)]
    );
    assert!(events.iter().all(|e| e.actor == Actor::system()));
    assert_eq!(flow.ticket.warning_level, WarningLevel::Warning);
    assert!(
        flow.sweep().is_empty(),
        "a second sweep at the same instant changes nothing"
    );

    // Due exactly at 24 h: signing then is on time, so the light is not red yet.
    jump(&mut flow, hours(24));
    assert!(flow.sweep().is_empty());
    let due = flow.ticket.sign_due.unwrap();
    assert_eq!(
        flow.next_check_at(),
        Some(due.checked_add(SignedDuration::from_nanos(1)).unwrap())
    );
    jump(&mut flow, hours(24) + SignedDuration::from_secs(1));
    assert_eq!(
        lights(&flow.sweep()),
        [(DeadlineKind::Sign, WarningLevel::Overdue)]
    );
    assert!(flow.sweep().is_empty());

    jump(&mut flow, hours(48) + SignedDuration::from_secs(1));
    assert_eq!(
        lights(&flow.sweep()),
        [(DeadlineKind::Sign, WarningLevel::SeriouslyOverdue)]
    );
    assert_eq!(flow.next_check_at(), None, "nothing left to light");
    jump(&mut flow, hours(24 * 30));
    assert!(flow.sweep().is_empty());
    let all: Vec<_> = lights(&flow.events).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        all,
        [
            WarningLevel::Warning,
            WarningLevel::Overdue,
            WarningLevel::SeriouslyOverdue
        ]
    );
}

#[test]
fn a_sweeper_that_was_down_records_every_missed_level_in_order_in_one_command() {
    let mut flow = Flow::dispatched(ENV, &[]);
    let version = flow.ticket.version;
    jump(&mut flow, hours(72));
    let events = flow.sweep();
    assert_eq!(
        lights(&events),
        [
            (DeadlineKind::Sign, WarningLevel::Warning),
            (DeadlineKind::Sign, WarningLevel::Overdue),
            (DeadlineKind::Sign, WarningLevel::SeriouslyOverdue),
        ]
    );
    assert!(events.iter().all(|e| e.version == version + 1));
    assert!(flow.sweep().is_empty());
}

#[test]
fn signing_puts_out_the_light_and_the_reply_window_counts_from_the_dispatch() {
    let mut flow = Flow::dispatched(ENV, &[]);
    jump(&mut flow, hours(30));
    assert_eq!(flow.sweep().len(), 2);
    flow.ok(&department(ENV), sign());
    assert_eq!(flow.ticket.warning_level, WarningLevel::None);
    // Ten working days from the dispatch; yellow at 80 % of them (192 h).
    assert_eq!(flow.next_check_at(), Some(at(hours(192))));
    assert!(flow.sweep().is_empty());
    jump(&mut flow, hours(250));
    assert_eq!(
        lights(&flow.sweep()),
        [
            (DeadlineKind::Reply, WarningLevel::Warning),
            (DeadlineKind::Reply, WarningLevel::Overdue),
        ]
    );
}

#[test]
fn an_approved_extension_puts_out_the_light_until_the_longer_window_runs_low() {
    let mut flow = Flow::in_progress(ENV);
    jump(&mut flow, hours(241));
    assert_eq!(flow.sweep().len(), 2);
    let extended = at(hours(24 * 20));
    flow.ok(
        &department(ENV),
        Command::RequestExtension {
            requested_reply_due: extended,
            reason: "需要协调多个部门".to_owned(),
        },
    );
    flow.ok(
        &supervisor(),
        Command::DecideExtension {
            approve: true,
            note: String::new(),
        },
    );
    assert_eq!(flow.ticket.warning_level, WarningLevel::None);
    assert!(flow.sweep().is_empty());
    // 80 % of the 480 h from the dispatch to the new deadline.
    assert_eq!(flow.next_check_at(), Some(at(hours(384))));
}

#[test]
fn a_replied_ticket_turns_yellow_for_its_callback_then_closes_at_callback_due() {
    let mut flow = Flow::in_progress(ENV);
    jump(&mut flow, hours(10));
    flow.ok(&department(ENV), reply("已协调工地停止夜间施工"));
    // Callback within 48 h of the reply: yellow at 38 h 24 min, closed at 48 h.
    assert_eq!(flow.next_check_at(), Some(at(hours(48) + mins(24))));
    jump(&mut flow, hours(48) + mins(24));
    let events = flow.sweep();
    assert_eq!(
        lights(&events),
        [(DeadlineKind::Callback, WarningLevel::Warning)]
    );
    assert!(
        flow.ticket.notified_departments(&events[0].kind).is_empty(),
        "the callback is the center's to make, not the department's"
    );
    assert_eq!(flow.next_check_at(), Some(at(hours(58))));
    jump(&mut flow, hours(57));
    assert!(flow.sweep().is_empty());
    jump(&mut flow, hours(58));
    let events = flow.sweep();
    assert!(matches!(
        events.as_slice(),
        [e] if e.kind == EventKind::Closed { reason: CloseReason::NoCallback }
    ));
    assert_eq!(flow.ticket.status, TicketStatus::Closed);
    assert_eq!(flow.ticket.warning_level, WarningLevel::None);
    assert_eq!(flow.next_check_at(), None);
    assert!(flow.sweep().is_empty());
}

#[test]
fn a_replied_ticket_whose_citizen_wants_no_callback_closes_at_once() {
    let mut flow = Flow::create(NewTicket {
        auto_dispatch: Some(target(ENV, &[])),
        citizen: hotline_core::Citizen {
            wants_callback: false,
            ..complaint().citizen
        },
        ..complaint()
    });
    assert!(flow.sweep().is_empty());
    flow.ok(&department(ENV), sign());
    jump(&mut flow, hours(2));
    flow.ok(&department(ENV), reply("已处理"));
    assert_eq!(flow.next_check_at(), Some(at(hours(2))), "due at once");
    let events = flow.sweep();
    assert_eq!(
        events.iter().map(|e| e.kind.action()).collect::<Vec<_>>(),
        ["CLOSED"]
    );
    assert_eq!(flow.ticket.close_reason, Some(CloseReason::NoCallback));
}

#[test]
fn a_callback_recorded_in_time_leaves_nothing_for_the_sweeper() {
    let mut flow = Flow::replied(ENV);
    flow.ok(
        &operator(),
        Command::RecordCallback {
            contacted: true,
            resolved: true,
            satisfaction: Some(Satisfaction::Satisfied),
            comment: String::new(),
            reopen: false,
        },
    );
    assert_eq!(flow.next_check_at(), None);
    jump(&mut flow, hours(24 * 40));
    assert!(flow.sweep().is_empty());
}

#[test]
fn a_suspended_ticket_gets_no_warnings_and_resumes_with_its_thresholds_moved() {
    let mut flow = Flow::in_progress(ENV);
    jump(&mut flow, hours(10));
    flow.ok(
        &department(ENV),
        Command::RequestSuspension {
            reason: "等待法院判决".to_owned(),
            resume_by: None,
        },
    );
    flow.ok(
        &supervisor(),
        Command::DecideSuspension {
            approve: true,
            note: String::new(),
        },
    );
    assert_eq!(
        flow.next_check_at(),
        None,
        "no timer while the clock stands"
    );
    jump(&mut flow, hours(24 * 30));
    assert!(flow.sweep().is_empty(), "no warning for a stopped clock");
    flow.ok(
        &supervisor(),
        Command::Resume {
            note: String::new(),
        },
    );
    // 710 h stopped: the reply deadline (240 h) and the window start both moved,
    // so the yellow light comes 192 h after the dispatch plus the stop.
    assert_eq!(flow.ticket.reply_due, Some(at(hours(950))));
    assert_eq!(flow.ticket.window_start, Some(at(hours(710))));
    assert_eq!(flow.next_check_at(), Some(at(hours(902))));
    assert!(flow.sweep().is_empty());
    jump(&mut flow, hours(902));
    assert_eq!(
        lights(&flow.sweep()),
        [(DeadlineKind::Reply, WarningLevel::Warning)]
    );
}

/// The default calendar: 09:00–12:00 and 13:30–17:30 on weekdays, Asia/Shanghai.
fn working_world() -> World {
    World {
        calendar: Arc::new(WorkingCalendar::weekdays("Asia/Shanghai")),
        ..World::default()
    }
}

#[test]
fn warning_thresholds_count_working_time_for_working_time_windows() {
    // Dispatched Monday 09:00; one working day to sign: due Tuesday 09:00. The
    // window holds 7 h of working time; 80 % of it (5 h 36 min: 09:00–12:00, then
    // 13:30–16:06) ends Monday 16:06.
    let flow = Flow::create_in(
        working_world(),
        NewTicket {
            auto_dispatch: Some(target(ENV, &[])),
            ..complaint()
        },
    );
    assert_eq!(flow.ticket.sign_due, Some(at(hours(24))));
    assert_eq!(flow.next_check_at(), Some(at(hours(7) + mins(6))));

    // An emergency counts wall-clock minutes whatever the calendar: 30 min to
    // sign, yellow after 24 of them.
    let emergency = Flow::create_in(
        working_world(),
        NewTicket {
            priority: hotline_core::Priority::Emergency,
            auto_dispatch: Some(target(ENV, &[])),
            ..complaint()
        },
    );
    assert_eq!(emergency.next_check_at(), Some(at(mins(24))));
}

#[test]
fn resuming_moves_working_time_deadlines_by_the_working_time_stopped() {
    let mut flow = Flow::create_in(
        working_world(),
        NewTicket {
            auto_dispatch: Some(target(ENV, &[])),
            ..complaint()
        },
    );
    flow.ok(&department(ENV), sign());
    let reply_due = flow.ticket.reply_due.unwrap();
    // Stopped from Friday 16:00 to Monday 10:00 local: 66 h of wall clock, but
    // only 1 h 30 min (Friday) + 1 h (Monday) of working time.
    jump(&mut flow, hours(4 * 24 + 7));
    flow.ok(
        &department(ENV),
        Command::RequestSuspension {
            reason: "等待材料".to_owned(),
            resume_by: None,
        },
    );
    flow.ok(
        &supervisor(),
        Command::DecideSuspension {
            approve: true,
            note: String::new(),
        },
    );
    jump(&mut flow, hours(7 * 24 + 1));
    let events = flow.ok(
        &supervisor(),
        Command::Resume {
            note: String::new(),
        },
    );
    let EventKind::Resumed {
        suspended_seconds, ..
    } = &events[0].kind
    else {
        panic!("expected a resume, got {:?}", events[0].kind);
    };
    assert_eq!(
        *suspended_seconds,
        66 * 3600,
        "the wall-clock stop is recorded"
    );
    let moved = flow
        .world
        .calendar
        .add_working_time(reply_due, hours(2) + mins(30));
    assert_eq!(flow.ticket.reply_due, Some(moved));
    assert_ne!(moved, reply_due.checked_add(hours(66)).unwrap());
    let lead = flow.ticket.lead_assignment().unwrap();
    assert_eq!(lead.reply_due, moved, "the lead's part moved alike");
}

#[test]
fn a_ticket_keeps_the_policy_it_was_created_under() {
    let strict = DeadlinePolicy {
        version: 3,
        entries: vec![PolicyEntry {
            appeal_type: None,
            priority: None,
            category_prefix: None,
            sign_within: Window::Calendar { minutes: 60 },
            reply_within: Window::Calendar { minutes: 600 },
        }],
        warning_percent: 50,
        ..DeadlinePolicy::default()
    };
    let mut flow = Flow::create_in(
        World {
            policy: strict,
            ..World::default()
        },
        complaint(),
    );
    assert_eq!(flow.ticket.policy.version, 3);
    assert!(matches!(
        &flow.events[0].kind,
        EventKind::Created { policy, .. } if policy.version == 3
    ));
    // The center adopts a new policy; the ticket still runs under version 3.
    flow.world.policy = DeadlinePolicy {
        version: 4,
        ..DeadlinePolicy::default()
    };
    flow.ok(
        &operator(),
        Command::Dispatch {
            lead_department_id: ENV.into(),
            co_department_ids: vec![],
            note: String::new(),
        },
    );
    assert_eq!(flow.ticket.sign_due, Some(at(hours(1))));
    assert_eq!(flow.ticket.reply_due, Some(at(hours(10))));
    assert_eq!(flow.next_check_at(), Some(at(mins(30))), "yellow at 50 %");
    flow.ok(&department(ENV), sign());
    flow.ok(&department(ENV), reply("已处理"));
    flow.ok(
        &operator(),
        Command::RecordCallback {
            contacted: true,
            resolved: false,
            satisfaction: Some(Satisfaction::Unsatisfied),
            comment: String::new(),
            reopen: true,
        },
    );
    assert_eq!(
        flow.ticket.reply_due,
        Some(at(hours(10))),
        "a reopen gets the ticket's own reply window again"
    );
    // A ticket created now gets version 4.
    let fresh = Flow::create_in(flow.world.clone(), complaint());
    assert_eq!(fresh.ticket.policy.version, 4);
}

#[test]
fn a_ticket_stored_before_policies_were_recorded_reads_the_default() {
    let flow = Flow::dispatched(ENV, &[]);
    let mut json = serde_json::to_value(&flow.events[0]).unwrap();
    json["kind"].as_object_mut().unwrap().remove("policy");
    let old: hotline_core::Event = serde_json::from_value(json).unwrap();
    let ticket = hotline_core::Ticket::replay(&[old]).unwrap();
    assert_eq!(ticket.policy, hotline_core::TicketPolicy::default());
    assert_eq!(ticket.policy.version, 0);
}
