//! One example per rule of the closed loop (SPEC §1), each read as a sentence.
//!
//! Every accepted command also goes through [`Flow::run`], which checks that the
//! version moved by one and that the ticket is the replay of its event log.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    ENV, ENV_GUSU, ENV_GUSU_SHILU, ENV_WUZHONG, Flow, HOUSING, MASTER, TICKET, TRANSPORT, WATER,
    World, complaint, department, operator, reply, supervisor, target,
};
use hotline_core::{
    Action, Actor, AppealType, AssignmentRole, AssignmentStatus, Category, CloseReason, Command,
    DeadlineKind, DepartmentId, DomainError, EventKind, GeoPoint, Limit, MAX_BODY_CHARS,
    MAX_NOTE_CHARS, MAX_TITLE_CHARS, NewTicket, Priority, ReplyResult, Satisfaction,
    SupervisionLevel, TicketStatus, create_ticket,
};
use jiff::{SignedDuration, Timestamp};

// ---- helpers -------------------------------------------------------------------------

fn text(s: &str) -> String {
    s.to_owned()
}

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn plus(at: Timestamp, by: SignedDuration) -> Timestamp {
    at.checked_add(by).unwrap()
}

fn sign() -> Command {
    Command::Sign {
        note: String::new(),
    }
}

fn callback(satisfaction: Satisfaction, resolved: bool, reopen: bool) -> Command {
    Command::RecordCallback {
        contacted: true,
        resolved,
        satisfaction: Some(satisfaction),
        comment: text("回访完成"),
        reopen,
    }
}

fn request_extension(to: Timestamp) -> Command {
    Command::RequestExtension {
        requested_reply_due: to,
        reason: text("需要协调多个部门"),
    }
}

fn request_suspension() -> Command {
    Command::RequestSuspension {
        reason: text("等待法院判决"),
        resume_by: None,
    }
}

fn decide_suspension(approve: bool) -> Command {
    Command::DecideSuspension {
        approve,
        note: String::new(),
    }
}

fn resume() -> Command {
    Command::Resume {
        note: String::new(),
    }
}

/// Asserts an illegal-transition refusal for `action` in `status`, and that its
/// message names the state; returns the reason.
#[track_caller]
fn illegal(error: DomainError, action: Action, status: TicketStatus) -> &'static str {
    assert!(
        error.to_string().contains(status.as_str()),
        "the message names the state: {error}"
    );
    match error {
        DomainError::IllegalTransition {
            action: a,
            status: s,
            reason,
        } if a == action && s == status => reason,
        other => panic!("expected IllegalTransition({action}, {status}), got {other:?}"),
    }
}

#[track_caller]
fn invalid(error: DomainError, field: &str) {
    match error {
        DomainError::InvalidField { field: f, .. } if f == field => {}
        other => panic!("expected InvalidField({field}), got {other:?}"),
    }
}

#[track_caller]
fn not_assigned(error: DomainError, department: &str) {
    match error {
        DomainError::NotAssigned { department_id, .. } if department_id.as_str() == department => {}
        other => panic!("expected NotAssigned({department}), got {other:?}"),
    }
}

#[track_caller]
fn limit(error: DomainError, which: Limit, max: u32) {
    assert_eq!(error, DomainError::LimitExceeded { limit: which, max });
}

fn part(flow: &Flow, id: &str) -> hotline_core::Assignment {
    flow.ticket
        .active_assignment(&DepartmentId::new(id))
        .cloned()
        .expect("a live part")
}

// ---- sign ------------------------------------------------------------------------------

#[test]
fn exactly_one_sign_succeeds() {
    let mut flow = Flow::dispatched(ENV, &[]);
    let env = department(ENV);
    flow.ok(&env, sign());
    assert_eq!(flow.ticket.status, TicketStatus::InProgress);
    assert_eq!(part(&flow, ENV).status, AssignmentStatus::Signed);

    let reason = illegal(
        flow.refused(&env, sign()),
        Action::Sign,
        TicketStatus::InProgress,
    );
    assert!(reason.contains("already signed"), "{reason}");
}

#[test]
fn a_department_without_a_part_cannot_sign() {
    let mut flow = Flow::dispatched(ENV, &[]);
    not_assigned(flow.refused(&department(WATER), sign()), WATER);
    // A child department has no part until it is delegated one.
    not_assigned(flow.refused(&department(ENV_GUSU), sign()), ENV_GUSU);
    let error = flow.refused(&operator(), sign());
    assert!(
        matches!(error, DomainError::NotAssigned { .. }),
        "{error:?}"
    );
}

#[test]
fn signing_after_the_sign_deadline_is_recorded_as_late() {
    let mut flow = Flow::dispatched(ENV, &[]);
    flow.advance(hours(25));
    let events = flow.ok(&department(ENV), sign());
    assert!(matches!(
        &events[0].kind,
        EventKind::Signed { late: true, .. }
    ));
}

// ---- return ----------------------------------------------------------------------------

#[test]
fn an_approved_return_sends_the_ticket_back_to_dispatch_counted_against_nobody() {
    let mut flow = Flow::dispatched(WATER, &[HOUSING]);
    flow.ok(
        &department(WATER),
        Command::Return {
            reason: text("不属于本部门职责"),
        },
    );
    assert!(flow.ticket.pending_return.is_some());

    flow.ok(
        &operator(),
        Command::DecideReturn {
            approve: true,
            note: String::new(),
        },
    );
    let t = &flow.ticket;
    assert_eq!(t.status, TicketStatus::PendingDispatch);
    assert_eq!(
        (t.lead_department_id.as_ref(), t.sign_due, t.reply_due),
        (None, None, None)
    );
    assert!(
        t.assignments
            .iter()
            .all(|a| a.status == AssignmentStatus::Returned)
    );
    assert_eq!((t.return_count, t.rejected_return_count), (1, 0));

    // It can now go to the right department.
    let dispatch = Command::Dispatch {
        lead_department_id: DepartmentId::new(ENV),
        co_department_ids: vec![],
        note: String::new(),
    };
    flow.ok(&operator(), dispatch);
    assert_eq!(flow.ticket.lead_department_id, Some(DepartmentId::new(ENV)));
}

#[test]
fn a_rejected_return_keeps_the_ticket_and_its_deadlines_and_counts_against_the_department() {
    let mut flow = Flow::in_progress(WATER);
    let before = flow.ticket.clone();
    flow.ok(
        &department(WATER),
        Command::Return {
            reason: text("不属于本部门职责"),
        },
    );
    flow.ok(
        &supervisor(),
        Command::DecideReturn {
            approve: false,
            note: text("属于供水问题"),
        },
    );
    let t = &flow.ticket;
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(
        (t.sign_due, t.reply_due),
        (before.sign_due, before.reply_due)
    );
    assert_eq!(t.lead_department_id, before.lead_department_id);
    assert_eq!((t.return_count, t.rejected_return_count), (1, 1));
    assert!(t.pending_return.is_none());
}

#[test]
fn only_the_lead_returns_and_one_request_at_a_time() {
    let mut flow = Flow::dispatched(WATER, &[HOUSING]);
    let why = || Command::Return {
        reason: text("不属于本部门职责"),
    };
    not_assigned(flow.refused(&department(HOUSING), why()), HOUSING);
    invalid(
        flow.refused(&department(WATER), Command::Return { reason: text("  ") }),
        "reason",
    );
    flow.ok(&department(WATER), why());
    illegal(
        flow.refused(&department(WATER), why()),
        Action::Return,
        TicketStatus::Dispatched,
    );
    // Nor can the department reply while it asks to give the ticket back.
    flow.ok(&department(WATER), sign());
    illegal(
        flow.refused(&department(WATER), reply("已处理")),
        Action::Reply,
        TicketStatus::InProgress,
    );
}

#[test]
fn returns_are_limited_by_policy() {
    let mut flow = Flow::dispatched(WATER, &[]);
    let max = flow.world.policy.limits.max_returns;
    assert_eq!(max, 2);
    for _ in 0..max {
        flow.ok(
            &department(WATER),
            Command::Return {
                reason: text("误派"),
            },
        );
        flow.ok(
            &supervisor(),
            Command::DecideReturn {
                approve: false,
                note: String::new(),
            },
        );
    }
    limit(
        flow.refused(
            &department(WATER),
            Command::Return {
                reason: text("误派"),
            },
        ),
        Limit::Returns,
        2,
    );
}

#[test]
fn a_return_decision_needs_a_pending_request() {
    let mut flow = Flow::dispatched(WATER, &[]);
    let decide = Command::DecideReturn {
        approve: true,
        note: String::new(),
    };
    illegal(
        flow.refused(&supervisor(), decide),
        Action::DecideReturn,
        TicketStatus::Dispatched,
    );
}

// ---- delegation ------------------------------------------------------------------------

#[test]
fn delegation_goes_only_to_a_descendant_department() {
    let mut flow = Flow::in_progress(ENV);
    let env = department(ENV);
    let to = |id: &str| Command::Delegate {
        to_department_id: DepartmentId::new(id),
        note: String::new(),
    };
    invalid(flow.refused(&env, to(WATER)), "to_department_id");
    invalid(flow.refused(&env, to(ENV)), "to_department_id");
    invalid(flow.refused(&env, to("ghost")), "to_department_id");
    flow.ok(&env, to(ENV_GUSU));
    // A grandchild is a descendant too.
    flow.ok(&env, to(ENV_GUSU_SHILU));
    // A department already at work is not delegated again.
    invalid(flow.refused(&env, to(ENV_GUSU)), "to_department_id");
}

#[test]
fn the_parent_must_sign_before_delegating() {
    let mut flow = Flow::dispatched(ENV, &[]);
    let to_gusu = Command::Delegate {
        to_department_id: DepartmentId::new(ENV_GUSU),
        note: String::new(),
    };
    let reason = illegal(
        flow.refused(&department(ENV), to_gusu.clone()),
        Action::Delegate,
        TicketStatus::Dispatched,
    );
    assert!(reason.contains("sign"), "{reason}");
    flow.ok(&department(ENV), sign());
    flow.ok(&department(ENV), to_gusu);
}

#[test]
fn a_delegate_inherits_the_reply_deadline_and_can_reply() {
    let mut flow = Flow::in_progress(ENV);
    flow.advance(hours(3));
    let to_gusu = Command::Delegate {
        to_department_id: DepartmentId::new(ENV_GUSU),
        note: text("请姑苏分局办理"),
    };
    flow.ok(&department(ENV), to_gusu);
    let delegate = part(&flow, ENV_GUSU);
    assert_eq!(delegate.role, AssignmentRole::Delegate);
    assert_eq!(delegate.delegated_from, Some(DepartmentId::new(ENV)));
    assert_eq!(delegate.reply_due, part(&flow, ENV).reply_due);
    assert_eq!(delegate.sign_due, plus(flow.world.now, days(1)));

    let gusu = department(ENV_GUSU);
    illegal(
        flow.refused(&gusu, reply("已处理")),
        Action::Reply,
        TicketStatus::InProgress,
    );
    flow.ok(&gusu, sign());
    flow.ok(&gusu, reply("已责令工地停止夜间施工"));
    let t = &flow.ticket;
    assert_eq!(t.status, TicketStatus::Replied);
    assert_eq!(
        t.reply.as_ref().unwrap().department_id,
        DepartmentId::new(ENV_GUSU)
    );
    // The parent stays accountable.
    assert_eq!(t.lead_department_id, Some(DepartmentId::new(ENV)));
}

#[test]
fn a_delegate_passes_the_ticket_down_only_within_its_own_subtree() {
    let mut flow = Flow::in_progress(ENV);
    let to = |id: &str| Command::Delegate {
        to_department_id: DepartmentId::new(id),
        note: String::new(),
    };
    flow.ok(&department(ENV), to(ENV_GUSU));
    let gusu = department(ENV_GUSU);
    flow.ok(&gusu, sign());
    invalid(flow.refused(&gusu, to(ENV_WUZHONG)), "to_department_id");
    flow.ok(&gusu, to(ENV_GUSU_SHILU));
    assert_eq!(
        part(&flow, ENV_GUSU_SHILU).reply_due,
        part(&flow, ENV).reply_due
    );
}

// ---- joint handling --------------------------------------------------------------------

#[test]
fn co_handlers_sign_and_submit_opinions_but_only_the_lead_replies() {
    let mut flow = Flow::dispatched(ENV, &[WATER, HOUSING]);
    let (env, water, housing) = (department(ENV), department(WATER), department(HOUSING));
    let opinion = || Command::SubmitOpinion {
        content: text("建议联合执法"),
    };

    // A co-handler's signature does not start the lead's work.
    flow.ok(&water, sign());
    assert_eq!(flow.ticket.status, TicketStatus::Dispatched);
    flow.ok(&water, opinion());
    assert_eq!(
        part(&flow, WATER).status,
        AssignmentStatus::OpinionSubmitted
    );
    assert_eq!(part(&flow, WATER).opinion.as_deref(), Some("建议联合执法"));
    illegal(
        flow.refused(&water, opinion()),
        Action::SubmitOpinion,
        TicketStatus::Dispatched,
    );
    illegal(
        flow.refused(&housing, opinion()),
        Action::SubmitOpinion,
        TicketStatus::Dispatched,
    );
    not_assigned(flow.refused(&env, opinion()), ENV);

    flow.ok(&env, sign());
    flow.ok(&housing, sign());
    not_assigned(flow.refused(&housing, reply("已处理")), HOUSING);
    not_assigned(flow.refused(&water, reply("已处理")), WATER);
    flow.ok(&env, reply("已联合执法"));
    assert_eq!(flow.ticket.status, TicketStatus::Replied);
}

// ---- extension -------------------------------------------------------------------------

#[test]
fn an_approved_extension_moves_the_reply_deadline() {
    let mut flow = Flow::in_progress(ENV);
    let later = plus(flow.ticket.reply_due.unwrap(), days(5));
    flow.ok(&department(ENV), request_extension(later));
    assert_eq!(
        flow.ticket
            .pending_extension
            .as_ref()
            .unwrap()
            .requested_reply_due,
        later
    );
    flow.ok(
        &supervisor(),
        Command::DecideExtension {
            approve: true,
            note: String::new(),
        },
    );
    assert_eq!(flow.ticket.reply_due, Some(later));
    assert_eq!(part(&flow, ENV).reply_due, later);
    assert_eq!(flow.ticket.extension_count, 1);
}

#[test]
fn a_rejected_extension_keeps_the_reply_deadline() {
    let mut flow = Flow::in_progress(ENV);
    let due = flow.ticket.reply_due;
    flow.ok(
        &department(ENV),
        request_extension(plus(due.unwrap(), days(5))),
    );
    flow.ok(
        &supervisor(),
        Command::DecideExtension {
            approve: false,
            note: text("理由不充分"),
        },
    );
    assert_eq!(flow.ticket.reply_due, due);
    assert!(flow.ticket.pending_extension.is_none());
}

#[test]
fn extensions_are_limited_by_policy() {
    let mut flow = Flow::in_progress(ENV);
    assert_eq!(flow.world.policy.limits.max_extensions, 1);
    let later = plus(flow.ticket.reply_due.unwrap(), days(5));
    flow.ok(&department(ENV), request_extension(later));
    flow.ok(
        &supervisor(),
        Command::DecideExtension {
            approve: false,
            note: String::new(),
        },
    );
    limit(
        flow.refused(&department(ENV), request_extension(later)),
        Limit::Extensions,
        1,
    );
}

#[test]
fn the_requested_reply_deadline_must_be_later_than_the_current_one() {
    let mut flow = Flow::in_progress(ENV);
    let due = flow.ticket.reply_due.unwrap();
    invalid(
        flow.refused(&department(ENV), request_extension(due)),
        "requested_reply_due",
    );
    invalid(
        flow.refused(&department(ENV), request_extension(plus(due, hours(-1)))),
        "requested_reply_due",
    );
}

#[test]
fn an_extension_is_asked_only_for_a_signed_ticket_and_not_by_co_handlers() {
    let mut flow = Flow::dispatched(ENV, &[WATER]);
    let later = plus(flow.ticket.reply_due.unwrap(), days(5));
    illegal(
        flow.refused(&department(ENV), request_extension(later)),
        Action::RequestExtension,
        TicketStatus::Dispatched,
    );
    flow.ok(&department(ENV), sign());
    flow.ok(&department(WATER), sign());
    not_assigned(
        flow.refused(&department(WATER), request_extension(later)),
        WATER,
    );
}

#[test]
fn a_pending_extension_moves_with_the_clock_when_the_ticket_is_suspended() {
    // Found by the property tests: the request asked for a date past the old deadline;
    // after a long suspension, approving it must not bring the shifted deadline forward.
    let mut flow = Flow::in_progress(ENV);
    let asked = plus(flow.ticket.reply_due.unwrap(), hours(1));
    flow.ok(&department(ENV), request_extension(asked));
    flow.ok(&department(ENV), request_suspension());
    flow.ok(&supervisor(), decide_suspension(true));
    flow.advance(days(3));
    flow.ok(&supervisor(), resume());
    let shifted = flow.ticket.reply_due.unwrap();
    flow.ok(
        &supervisor(),
        Command::DecideExtension {
            approve: true,
            note: String::new(),
        },
    );
    assert_eq!(flow.ticket.reply_due, Some(plus(asked, days(3))));
    assert!(flow.ticket.reply_due.unwrap() > shifted);
}

// ---- suspension ------------------------------------------------------------------------

#[test]
fn suspending_stops_the_clock_and_resuming_shifts_every_running_deadline_by_the_time_stopped() {
    let mut flow = Flow::in_progress(ENV);
    let (sign_due, reply_due) = (
        flow.ticket.sign_due.unwrap(),
        flow.ticket.reply_due.unwrap(),
    );
    flow.ok(&department(ENV), request_suspension());
    assert!(
        !flow.ticket.suspended,
        "a request alone does not stop the clock"
    );
    flow.ok(&supervisor(), decide_suspension(true));
    assert!(flow.ticket.suspended);
    assert_eq!(flow.ticket.running_deadline(), None);

    flow.advance(days(3));
    let reason = illegal(
        flow.refused(&department(ENV), reply("已处理")),
        Action::Reply,
        TicketStatus::InProgress,
    );
    assert!(reason.contains("suspended"), "{reason}");

    let events = flow.ok(&department(ENV), resume());
    assert!(
        matches!(&events[0].kind, EventKind::Resumed { suspended_seconds, .. } if *suspended_seconds == 3 * 86_400)
    );
    let t = &flow.ticket;
    assert!(!t.suspended && t.suspended_at.is_none());
    // The sign deadline was met before the clock stopped: it stays, so a late sign
    // could never turn on time; the reply deadline still runs and moves.
    assert_eq!(t.sign_due, Some(sign_due));
    assert_eq!(t.reply_due, Some(plus(reply_due, days(3))));
    assert_eq!(part(&flow, ENV).reply_due, plus(reply_due, days(3)));
    assert_eq!(
        t.running_deadline(),
        Some((DeadlineKind::Reply, plus(reply_due, days(3))))
    );
    flow.ok(&department(ENV), reply("已处理"));
}

#[test]
fn the_clock_stops_in_whole_seconds_for_the_ticket_and_its_parts_alike() {
    // Found by the property tests: with a sub-second stop, the ticket moved by the exact
    // stop while its assignments moved by the whole seconds the event records.
    let mut flow = Flow::dispatched(ENV, &[WATER]);
    flow.ok(&department(ENV), sign());
    flow.ok(&department(ENV), request_suspension());
    flow.ok(&supervisor(), decide_suspension(true));
    let reply_due = flow.ticket.reply_due.unwrap();
    flow.advance(SignedDuration::from_millis(90_500));
    flow.ok(&supervisor(), resume());
    let shifted = plus(reply_due, SignedDuration::from_secs(90));
    assert_eq!(flow.ticket.reply_due, Some(shifted));
    assert_eq!(part(&flow, ENV).reply_due, shifted);
    assert_eq!(part(&flow, WATER).reply_due, shifted);
}

#[test]
fn a_rejected_suspension_keeps_the_clock_running_and_resume_needs_a_stopped_clock() {
    let mut flow = Flow::in_progress(ENV);
    illegal(
        flow.refused(&supervisor(), resume()),
        Action::Resume,
        TicketStatus::InProgress,
    );
    illegal(
        flow.refused(&supervisor(), decide_suspension(true)),
        Action::DecideSuspension,
        TicketStatus::InProgress,
    );
    flow.ok(&department(ENV), request_suspension());
    illegal(
        flow.refused(&department(ENV), request_suspension()),
        Action::RequestSuspension,
        TicketStatus::InProgress,
    );
    flow.ok(&supervisor(), decide_suspension(false));
    assert!(!flow.ticket.suspended && flow.ticket.pending_suspension.is_none());
    illegal(
        flow.refused(&supervisor(), resume()),
        Action::Resume,
        TicketStatus::InProgress,
    );
    let past = Command::RequestSuspension {
        reason: text("等待"),
        resume_by: Some(flow.world.now),
    };
    invalid(flow.refused(&department(ENV), past), "resume_by");
}

// ---- reply and review ------------------------------------------------------------------

#[test]
fn a_reply_needs_content_and_sets_the_callback_deadline() {
    let mut flow = Flow::in_progress(ENV);
    invalid(flow.refused(&department(ENV), reply(" ")), "content");
    invalid(flow.refused(&department(ENV), reply("a\u{0}b")), "content");
    invalid(
        flow.refused(&department(ENV), reply(&"长".repeat(MAX_NOTE_CHARS + 1))),
        "content",
    );
    flow.advance(hours(5));
    flow.ok(
        &department(ENV),
        Command::Reply {
            result: ReplyResult::Phased,
            content: text("分期整改"),
        },
    );
    let t = &flow.ticket;
    assert_eq!(t.reply.as_ref().unwrap().result, ReplyResult::Phased);
    assert_eq!(t.callback_due, Some(plus(flow.world.now, days(2))));
    assert_eq!(part(&flow, ENV).status, AssignmentStatus::Replied);
}

#[test]
fn a_review_rejection_sends_the_reply_back_to_in_progress() {
    let mut flow = Flow::replied(ENV);
    flow.ok(
        &operator(),
        Command::ReviewReply {
            accept: false,
            note: text("答复过于简单"),
        },
    );
    let t = &flow.ticket;
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(t.callback_due, None);
    assert_eq!(t.review_rejection_count, 1);
    assert_eq!(part(&flow, ENV).status, AssignmentStatus::Signed);
    flow.ok(&department(ENV), reply("已补充说明整改措施"));
    assert_eq!(flow.ticket.status, TicketStatus::Replied);
}

#[test]
fn an_accepted_reply_is_not_reviewed_twice() {
    let mut flow = Flow::replied(ENV);
    flow.ok(
        &operator(),
        Command::ReviewReply {
            accept: true,
            note: String::new(),
        },
    );
    assert!(flow.ticket.reply_accepted);
    let again = Command::ReviewReply {
        accept: false,
        note: String::new(),
    };
    illegal(
        flow.refused(&operator(), again),
        Action::ReviewReply,
        TicketStatus::Replied,
    );
}

// ---- callback and reopen ---------------------------------------------------------------

#[test]
fn a_satisfied_callback_closes_the_ticket() {
    let mut flow = Flow::replied(ENV);
    flow.ok(&operator(), callback(Satisfaction::Satisfied, true, false));
    let t = &flow.ticket;
    assert_eq!(t.status, TicketStatus::Closed);
    assert_eq!(t.close_reason, Some(CloseReason::Callback));
    assert_eq!(t.closed_at, Some(flow.world.now));
    assert_eq!(t.running_deadline(), None);
}

#[test]
fn an_unsatisfied_callback_reopens_to_the_same_department_with_a_new_deadline() {
    let mut flow = Flow::replied(ENV);
    flow.advance(days(1));
    flow.ok(
        &operator(),
        callback(Satisfaction::Unsatisfied, false, true),
    );
    let t = &flow.ticket;
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(t.reopen_count, 1);
    assert_eq!(t.lead_department_id, Some(DepartmentId::new(ENV)));
    // A normal complaint gets ten (always-open) working days again.
    assert_eq!(t.reply_due, Some(plus(flow.world.now, days(10))));
    assert_eq!(part(&flow, ENV).status, AssignmentStatus::Signed);
    flow.ok(&department(ENV), reply("已再次处理"));
}

#[test]
fn a_ticket_closed_on_an_unsatisfied_callback_can_be_reopened_later() {
    let mut flow = Flow::replied(ENV);
    flow.ok(
        &operator(),
        callback(Satisfaction::Unsatisfied, false, false),
    );
    assert_eq!(flow.ticket.status, TicketStatus::Closed);
    flow.ok(
        &operator(),
        Command::Reopen {
            note: text("市民再次来电"),
        },
    );
    assert_eq!(flow.ticket.status, TicketStatus::InProgress);
    assert_eq!(
        (flow.ticket.close_reason, flow.ticket.closed_at),
        (None, None)
    );
}

#[test]
fn a_satisfied_resolved_case_does_not_reopen() {
    let mut flow = Flow::replied(ENV);
    invalid(
        flow.refused(&operator(), callback(Satisfaction::Satisfied, true, true)),
        "reopen",
    );
    flow.ok(&operator(), callback(Satisfaction::Satisfied, true, false));
    let reason = illegal(
        flow.refused(
            &operator(),
            Command::Reopen {
                note: String::new(),
            },
        ),
        Action::Reopen,
        TicketStatus::Closed,
    );
    assert!(reason.contains("unsatisfied"), "{reason}");
}

#[test]
fn reopens_are_limited_by_policy() {
    let mut flow = Flow::replied(ENV);
    let max = flow.world.policy.limits.max_reopens;
    assert_eq!(max, 2);
    for _ in 0..max {
        flow.ok(
            &operator(),
            callback(Satisfaction::Unsatisfied, false, true),
        );
        flow.ok(&department(ENV), reply("再次处理"));
    }
    limit(
        flow.refused(
            &operator(),
            callback(Satisfaction::Unsatisfied, false, true),
        ),
        Limit::Reopens,
        2,
    );
    flow.ok(
        &operator(),
        callback(Satisfaction::Unsatisfied, false, false),
    );
    limit(
        flow.refused(
            &operator(),
            Command::Reopen {
                note: String::new(),
            },
        ),
        Limit::Reopens,
        2,
    );
}

#[test]
fn a_citizen_not_reached_leaves_the_ticket_awaiting_its_callback() {
    let mut flow = Flow::replied(ENV);
    let missed = Command::RecordCallback {
        contacted: false,
        resolved: false,
        satisfaction: None,
        comment: text("无人接听"),
        reopen: false,
    };
    flow.ok(&operator(), missed);
    assert_eq!(flow.ticket.status, TicketStatus::Replied);
    let rated = Command::RecordCallback {
        contacted: false,
        resolved: false,
        satisfaction: Some(Satisfaction::Satisfied),
        comment: String::new(),
        reopen: false,
    };
    invalid(flow.refused(&operator(), rated), "satisfaction");
    let unrated = Command::RecordCallback {
        contacted: true,
        resolved: true,
        satisfaction: None,
        comment: String::new(),
        reopen: false,
    };
    invalid(flow.refused(&operator(), unrated), "satisfaction");
}

#[test]
fn calling_back_a_ticket_never_replied_is_refused_naming_its_state() {
    let mut flow = Flow::dispatched(ENV, &[]);
    let cb = || callback(Satisfaction::Satisfied, true, false);
    illegal(
        flow.refused(&operator(), cb()),
        Action::RecordCallback,
        TicketStatus::Dispatched,
    );
    flow.ok(&department(ENV), sign());
    let error = flow.refused(&operator(), cb());
    assert_eq!(
        error.to_string(),
        "cannot RECORD_CALLBACK a ticket in state IN_PROGRESS: only a replied ticket is called back"
    );
    illegal(error, Action::RecordCallback, TicketStatus::InProgress);
}

// ---- rating dispute --------------------------------------------------------------------

#[test]
fn only_an_unsatisfied_rating_is_disputed_by_the_lead_and_decided_once() {
    let dispute = || Command::DisputeRating {
        evidence: text("现场照片与整改记录"),
    };
    let decide = |approve| Command::DecideDispute {
        approve,
        note: String::new(),
    };

    let mut satisfied = Flow::replied(ENV);
    satisfied.ok(
        &operator(),
        callback(Satisfaction::BasicallySatisfied, true, false),
    );
    illegal(
        satisfied.refused(&department(ENV), dispute()),
        Action::DisputeRating,
        TicketStatus::Closed,
    );

    let mut flow = Flow::replied(ENV);
    illegal(
        flow.refused(&department(ENV), dispute()),
        Action::DisputeRating,
        TicketStatus::Replied,
    );
    flow.ok(
        &operator(),
        callback(Satisfaction::Unsatisfied, false, false),
    );
    not_assigned(flow.refused(&department(WATER), dispute()), WATER);
    invalid(
        flow.refused(
            &department(ENV),
            Command::DisputeRating {
                evidence: String::new(),
            },
        ),
        "evidence",
    );
    illegal(
        flow.refused(&supervisor(), decide(true)),
        Action::DecideDispute,
        TicketStatus::Closed,
    );
    flow.ok(&department(ENV), dispute());
    illegal(
        flow.refused(&department(ENV), dispute()),
        Action::DisputeRating,
        TicketStatus::Closed,
    );
    flow.ok(&supervisor(), decide(true));
    assert!(flow.ticket.rating_exempt && flow.ticket.dispute_decided);
    illegal(
        flow.refused(&supervisor(), decide(false)),
        Action::DecideDispute,
        TicketStatus::Closed,
    );
    illegal(
        flow.refused(&department(ENV), dispute()),
        Action::DisputeRating,
        TicketStatus::Closed,
    );
}

#[test]
fn a_rating_already_answered_by_a_reopen_is_not_disputed_after_a_later_close() {
    // Found by the property tests: the first rating led to a reopen; the ticket then
    // closed without a callback, and the stale rating could still be disputed.
    let mut flow = Flow::create(NewTicket {
        citizen: hotline_core::Citizen {
            wants_callback: false,
            ..complaint().citizen
        },
        auto_dispatch: Some(target(ENV, &[])),
        ..complaint()
    });
    flow.ok(&department(ENV), sign());
    flow.ok(&department(ENV), reply("已处理"));
    flow.ok(
        &operator(),
        callback(Satisfaction::Unsatisfied, false, true),
    );
    flow.ok(&department(ENV), reply("已再次处理"));
    flow.ok(&Actor::system(), Command::AutoClose);
    assert_eq!(flow.ticket.close_reason, Some(CloseReason::NoCallback));
    let dispute = Command::DisputeRating {
        evidence: text("整改记录"),
    };
    illegal(
        flow.refused(&department(ENV), dispute),
        Action::DisputeRating,
        TicketStatus::Closed,
    );
}

// ---- auto close ------------------------------------------------------------------------

#[test]
fn auto_close_waits_for_the_callback_deadline_when_the_citizen_wants_a_callback() {
    let mut flow = Flow::replied(ENV);
    let due = flow.ticket.callback_due.unwrap();
    illegal(
        flow.refused(&Actor::system(), Command::AutoClose),
        Action::AutoClose,
        TicketStatus::Replied,
    );
    flow.advance(due.duration_since(flow.world.now) - SignedDuration::from_secs(1));
    illegal(
        flow.refused(&Actor::system(), Command::AutoClose),
        Action::AutoClose,
        TicketStatus::Replied,
    );
    flow.advance(SignedDuration::from_secs(1));
    flow.ok(&Actor::system(), Command::AutoClose);
    assert_eq!(flow.ticket.close_reason, Some(CloseReason::NoCallback));
}

#[test]
fn auto_close_closes_at_once_when_no_callback_is_wanted() {
    let mut flow = Flow::create(NewTicket {
        citizen: hotline_core::Citizen {
            wants_callback: false,
            ..complaint().citizen
        },
        auto_dispatch: Some(target(ENV, &[])),
        ..complaint()
    });
    illegal(
        flow.refused(&Actor::system(), Command::AutoClose),
        Action::AutoClose,
        TicketStatus::Dispatched,
    );
    flow.ok(&department(ENV), sign());
    flow.ok(&department(ENV), reply("已处理"));
    flow.ok(&Actor::system(), Command::AutoClose);
    assert_eq!(flow.ticket.status, TicketStatus::Closed);
    assert_eq!(flow.ticket.close_reason, Some(CloseReason::NoCallback));
}

// ---- withdraw, invalid, answer directly, merge -----------------------------------------

#[test]
fn a_citizen_may_withdraw_an_open_ticket_and_the_parts_are_cancelled() {
    let mut flow = Flow::dispatched(ENV, &[WATER]);
    flow.ok(&department(ENV), sign());
    flow.ok(
        &operator(),
        Command::Withdraw {
            reason: text("问题已自行解决"),
        },
    );
    let t = &flow.ticket;
    assert_eq!(
        (t.status, t.close_reason),
        (TicketStatus::Closed, Some(CloseReason::Withdrawn))
    );
    assert!(
        t.assignments
            .iter()
            .all(|a| a.status == AssignmentStatus::Cancelled)
    );
    let again = Command::Withdraw {
        reason: String::new(),
    };
    illegal(
        flow.refused(&operator(), again),
        Action::Withdraw,
        TicketStatus::Closed,
    );
}

#[test]
fn a_ticket_marked_invalid_closes_with_that_reason() {
    let mut flow = Flow::create(complaint());
    invalid(
        flow.refused(
            &operator(),
            Command::MarkInvalid {
                reason: String::new(),
            },
        ),
        "reason",
    );
    flow.ok(
        &operator(),
        Command::MarkInvalid {
            reason: text("骚扰电话"),
        },
    );
    assert_eq!(flow.ticket.close_reason, Some(CloseReason::Invalid));
    let again = Command::MarkInvalid {
        reason: text("重复"),
    };
    illegal(
        flow.refused(&operator(), again),
        Action::MarkInvalid,
        TicketStatus::Closed,
    );
}

#[test]
fn an_operator_answers_directly_only_before_dispatch() {
    let consultation = || NewTicket {
        appeal_type: AppealType::Consultation,
        ..complaint()
    };
    let mut flow = Flow::create(consultation());
    let answer = || Command::AnswerDirectly {
        content: text("可通过政务服务网办理"),
    };
    flow.ok(&operator(), answer());
    let t = &flow.ticket;
    assert_eq!(
        (t.status, t.close_reason),
        (TicketStatus::Closed, Some(CloseReason::AnsweredDirectly))
    );
    assert_eq!(t.direct_answer.as_deref(), Some("可通过政务服务网办理"));

    let mut dispatched = Flow::create(NewTicket {
        auto_dispatch: Some(target(HOUSING, &[])),
        ..consultation()
    });
    illegal(
        dispatched.refused(&operator(), answer()),
        Action::AnswerDirectly,
        TicketStatus::Dispatched,
    );
    let mut pending = Flow::create(consultation());
    invalid(
        pending.refused(
            &operator(),
            Command::AnswerDirectly {
                content: String::new(),
            },
        ),
        "content",
    );
}

#[test]
fn a_duplicate_is_merged_into_its_master_and_then_accepts_nothing() {
    let mut flow = Flow::dispatched(ENV, &[]);
    let merge = Command::Merge {
        master_id: MASTER,
        master_status: TicketStatus::InProgress,
        note: text("重复件"),
    };
    flow.ok(&operator(), merge.clone());
    let t = &flow.ticket;
    assert_eq!(
        (t.status, t.merged_into),
        (TicketStatus::Merged, Some(MASTER))
    );
    assert!(t.closed_at.is_some());
    assert!(
        t.assignments
            .iter()
            .all(|a| a.status == AssignmentStatus::Cancelled)
    );

    let env = department(ENV);
    let everything: Vec<(Actor, Command)> = vec![
        (operator(), merge),
        (env.clone(), sign()),
        (env.clone(), reply("已处理")),
        (
            operator(),
            callback(Satisfaction::Unsatisfied, false, false),
        ),
        (
            operator(),
            Command::Reopen {
                note: String::new(),
            },
        ),
        (
            env.clone(),
            Command::DisputeRating {
                evidence: text("证据"),
            },
        ),
        (
            supervisor(),
            Command::DecideDispute {
                approve: true,
                note: String::new(),
            },
        ),
        (
            operator(),
            Command::Withdraw {
                reason: String::new(),
            },
        ),
        (
            supervisor(),
            Command::Urge {
                note: String::new(),
            },
        ),
        (Actor::system(), Command::AutoClose),
    ];
    for (actor, command) in everything {
        let action = command.action();
        assert!(
            matches!(
                flow.refused(&actor, command),
                DomainError::IllegalTransition { .. }
            ),
            "{action}"
        );
    }
}

#[test]
fn a_ticket_is_not_merged_into_itself_nor_into_a_merged_master() {
    let mut flow = Flow::create(complaint());
    let into = |master_id, master_status| Command::Merge {
        master_id,
        master_status,
        note: String::new(),
    };
    invalid(
        flow.refused(&operator(), into(TICKET, TicketStatus::PendingDispatch)),
        "master_ticket_id",
    );
    invalid(
        flow.refused(&operator(), into(MASTER, TicketStatus::Merged)),
        "master_ticket_id",
    );
    flow.ok(&operator(), into(MASTER, TicketStatus::Replied));
}

// ---- urge and supervise ----------------------------------------------------------------

#[test]
fn urging_records_the_level_and_notifies_the_departments_still_at_work() {
    let mut flow = Flow::dispatched(ENV, &[WATER, HOUSING]);
    flow.ok(&department(WATER), sign());
    flow.ok(
        &department(WATER),
        Command::SubmitOpinion {
            content: text("同意"),
        },
    );
    let events = flow.ok(
        &supervisor(),
        Command::Urge {
            note: text("请加快办理"),
        },
    );
    let EventKind::Urged { department_ids, .. } = &events[0].kind else {
        panic!("{events:?}")
    };
    assert_eq!(
        department_ids,
        &[DepartmentId::new(ENV), DepartmentId::new(HOUSING)]
    );
    assert_eq!(
        &flow.ticket.notified_departments(&events[0].kind),
        department_ids
    );
    assert_eq!(flow.ticket.urge_count, 1);
    assert_eq!(flow.ticket.supervision_level, Some(SupervisionLevel::Urge));
}

#[test]
fn supervision_keeps_the_highest_level_and_its_feedback_date() {
    let mut flow = Flow::in_progress(ENV);
    let feedback = plus(flow.world.now, days(2));
    let supervise = |level, feedback_due| Command::Supervise {
        level,
        note: text("督办"),
        feedback_due,
    };
    let past = Some(flow.world.now);
    invalid(
        flow.refused(&supervisor(), supervise(SupervisionLevel::Supervise, past)),
        "feedback_due",
    );
    let events = flow.ok(
        &supervisor(),
        supervise(SupervisionLevel::LeaderSupervise, Some(feedback)),
    );
    assert!(
        matches!(&events[0].kind, EventKind::Supervised { department_ids, .. } if department_ids == &[DepartmentId::new(ENV)])
    );
    flow.ok(&supervisor(), supervise(SupervisionLevel::Supervise, None));
    flow.ok(
        &supervisor(),
        Command::Urge {
            note: String::new(),
        },
    );
    assert_eq!(
        flow.ticket.supervision_level,
        Some(SupervisionLevel::LeaderSupervise)
    );
}

#[test]
fn urging_and_supervising_need_a_ticket_with_a_department() {
    let mut flow = Flow::create(complaint());
    let urge = Command::Urge {
        note: String::new(),
    };
    illegal(
        flow.refused(&supervisor(), urge.clone()),
        Action::Urge,
        TicketStatus::PendingDispatch,
    );
    let mut replied = Flow::replied(ENV);
    illegal(
        replied.refused(&supervisor(), urge),
        Action::Urge,
        TicketStatus::Replied,
    );
}

// ---- deadlines -------------------------------------------------------------------------

fn dispatched_at_intake(appeal_type: AppealType, priority: Priority) -> Flow {
    Flow::create(NewTicket {
        appeal_type,
        priority,
        auto_dispatch: Some(target(WATER, &[])),
        ..complaint()
    })
}

#[test]
fn an_emergency_gets_thirty_minutes_to_sign_and_two_hours_to_reply() {
    let flow = dispatched_at_intake(AppealType::Complaint, Priority::Emergency);
    let now = flow.world.now;
    assert_eq!(
        flow.ticket.sign_due,
        Some(plus(now, SignedDuration::from_mins(30)))
    );
    assert_eq!(flow.ticket.reply_due, Some(plus(now, hours(2))));
    assert_eq!(
        flow.ticket.running_deadline(),
        Some((DeadlineKind::Sign, plus(now, SignedDuration::from_mins(30))))
    );
}

#[test]
fn an_urgent_appeal_gets_two_hours_to_sign_and_a_day_to_reply() {
    let flow = dispatched_at_intake(AppealType::Request, Priority::Urgent);
    let now = flow.world.now;
    assert_eq!(flow.ticket.sign_due, Some(plus(now, hours(2))));
    assert_eq!(flow.ticket.reply_due, Some(plus(now, hours(24))));
}

#[test]
fn a_normal_complaint_gets_ten_working_days_which_an_always_open_calendar_counts_as_240_hours() {
    let flow = dispatched_at_intake(AppealType::Complaint, Priority::Normal);
    let now = flow.world.now;
    assert_eq!(flow.ticket.sign_due, Some(plus(now, hours(24))));
    assert_eq!(flow.ticket.reply_due, Some(plus(now, hours(240))));
    let report = dispatched_at_intake(AppealType::Report, Priority::Normal);
    assert_eq!(report.ticket.reply_due, Some(plus(now, hours(240))));
}

#[test]
fn other_normal_appeals_get_five_working_days_and_consultations_two() {
    let now = World::default().now;
    let request = dispatched_at_intake(AppealType::Request, Priority::Normal);
    assert_eq!(request.ticket.reply_due, Some(plus(now, days(5))));
    let consultation = dispatched_at_intake(AppealType::Consultation, Priority::Normal);
    assert_eq!(consultation.ticket.reply_due, Some(plus(now, days(2))));
}

#[test]
fn a_dispatch_by_hand_starts_the_clock_when_it_happens() {
    let mut flow = Flow::create(complaint());
    assert_eq!(flow.ticket.running_deadline(), None);
    flow.advance(hours(7));
    let dispatch = Command::Dispatch {
        lead_department_id: DepartmentId::new(ENV),
        co_department_ids: vec![DepartmentId::new(TRANSPORT)],
        note: String::new(),
    };
    flow.ok(&operator(), dispatch);
    assert_eq!(flow.ticket.sign_due, Some(plus(flow.world.now, days(1))));
    assert_eq!(flow.ticket.reply_due, Some(plus(flow.world.now, days(10))));
    assert_eq!(
        part(&flow, TRANSPORT).reply_due,
        flow.ticket.reply_due.unwrap()
    );
}

#[test]
fn a_dispatch_names_known_departments_once_and_only_while_awaiting_dispatch() {
    let mut flow = Flow::create(complaint());
    let dispatch = |lead: &str, co: &[&str]| Command::Dispatch {
        lead_department_id: DepartmentId::new(lead),
        co_department_ids: co.iter().copied().map(DepartmentId::new).collect(),
        note: String::new(),
    };
    invalid(
        flow.refused(&operator(), dispatch("ghost", &[])),
        "lead_department_id",
    );
    invalid(
        flow.refused(&operator(), dispatch(ENV, &["ghost"])),
        "co_department_ids",
    );
    invalid(
        flow.refused(&operator(), dispatch(ENV, &[ENV])),
        "co_department_ids",
    );
    invalid(
        flow.refused(&operator(), dispatch(ENV, &[WATER, WATER])),
        "co_department_ids",
    );
    flow.ok(&operator(), dispatch(ENV, &[WATER]));
    illegal(
        flow.refused(&operator(), dispatch(HOUSING, &[])),
        Action::Dispatch,
        TicketStatus::Dispatched,
    );
}

// ---- intake ----------------------------------------------------------------------------

fn intake(new: NewTicket) -> Result<hotline_core::Decision, DomainError> {
    let world = World::default();
    create_ticket(TICKET, "SZ-20260302-000001", new, &world.ctx(&operator()))
}

#[test]
fn intake_takes_a_valid_appeal_as_version_one_awaiting_dispatch() {
    let decision = intake(complaint()).unwrap();
    assert_eq!(decision.ticket.version, 1);
    assert_eq!(decision.ticket.status, TicketStatus::PendingDispatch);
    assert_eq!(decision.events.len(), 1);
    let routed = intake(NewTicket {
        auto_dispatch: Some(target(ENV, &[WATER])),
        ..complaint()
    })
    .unwrap();
    assert_eq!(routed.events.len(), 2);
    assert!(matches!(
        &routed.events[1].kind,
        EventKind::Dispatched {
            automatic: true,
            ..
        }
    ));
    assert!(routed.events.iter().all(|e| e.version == 1));
}

#[test]
fn intake_refuses_bad_input_naming_the_field() {
    let category = |path: &str, confidence| {
        Some(Category {
            code: String::new(),
            path: path.to_owned(),
            label: path.to_owned(),
            confidence,
            overridden: false,
        })
    };
    let at = |latitude, longitude| {
        Some(GeoPoint {
            latitude,
            longitude,
        })
    };
    let with_phone = |phone: &str| NewTicket {
        citizen: hotline_core::Citizen {
            phone: phone.to_owned(),
            ..complaint().citizen
        },
        ..complaint()
    };
    let cases: Vec<(&str, NewTicket)> = vec![
        (
            "body",
            NewTicket {
                body: String::new(),
                ..complaint()
            },
        ),
        (
            "body",
            NewTicket {
                body: " \n\t".to_owned(),
                ..complaint()
            },
        ),
        (
            "body",
            NewTicket {
                body: "噪".repeat(MAX_BODY_CHARS + 1),
                ..complaint()
            },
        ),
        (
            "title",
            NewTicket {
                title: String::new(),
                ..complaint()
            },
        ),
        (
            "title",
            NewTicket {
                title: "噪".repeat(MAX_TITLE_CHARS + 1),
                ..complaint()
            },
        ),
        (
            "title",
            NewTicket {
                title: "bell\u{7}".to_owned(),
                ..complaint()
            },
        ),
        (
            "category_hint",
            NewTicket {
                category: category("环境保护/噪声", 0.9),
                ..complaint()
            },
        ),
        (
            "category_hint",
            NewTicket {
                category: category("环境保护", f64::NAN),
                ..complaint()
            },
        ),
        (
            "category_hint",
            NewTicket {
                category: category("环境保护", 1.5),
                ..complaint()
            },
        ),
        ("citizen.phone", with_phone("138-abcd-5678")),
        ("citizen.phone", with_phone("12")),
        ("citizen.phone", with_phone("+86+512")),
        ("citizen.phone", with_phone(&"1".repeat(21))),
        (
            "region_code",
            NewTicket {
                region_code: "32050".to_owned(),
                ..complaint()
            },
        ),
        (
            "region_code",
            NewTicket {
                region_code: "３２０５０６".to_owned(),
                ..complaint()
            },
        ),
        (
            "region_code",
            NewTicket {
                region_code: "32050a".to_owned(),
                ..complaint()
            },
        ),
        (
            "latitude",
            NewTicket {
                location: at(f64::NAN, 120.6),
                ..complaint()
            },
        ),
        (
            "latitude",
            NewTicket {
                location: at(91.0, 120.6),
                ..complaint()
            },
        ),
        (
            "longitude",
            NewTicket {
                location: at(31.3, f64::INFINITY),
                ..complaint()
            },
        ),
        (
            "lead_department_id",
            NewTicket {
                auto_dispatch: Some(target("ghost", &[])),
                ..complaint()
            },
        ),
        (
            "co_department_ids",
            NewTicket {
                auto_dispatch: Some(target(ENV, &[ENV])),
                ..complaint()
            },
        ),
    ];
    for (field, new) in cases {
        match intake(new) {
            Err(DomainError::InvalidField { field: f, .. }) if f == field => {}
            other => panic!("expected InvalidField({field}), got {other:?}"),
        }
    }
}

#[test]
fn text_limits_count_characters_not_bytes() {
    // 200 three-byte characters are 600 bytes and still a valid title.
    let title = "噪".repeat(MAX_TITLE_CHARS);
    let body = "噪".repeat(MAX_BODY_CHARS);
    assert!(
        intake(NewTicket {
            title,
            body,
            ..complaint()
        })
        .is_ok()
    );
}

#[test]
fn intake_refuses_an_empty_ticket_number() {
    let world = World::default();
    let error = create_ticket(TICKET, " ", complaint(), &world.ctx(&operator())).unwrap_err();
    invalid(error, "number");
}

#[test]
fn strange_input_is_refused_or_taken_without_panic() {
    let huge = "噪".repeat(1_000_000);
    let controls: String = (0u8..32).map(char::from).collect();
    let strange = [
        huge.clone(),
        controls.clone(),
        "\u{202e}\u{200b}\u{feff}".to_owned(),
        "🀄️👨‍👩‍👧".repeat(50),
        "\r\n\t".to_owned(),
        "'; drop table tickets; --".to_owned(),
    ];
    for s in &strange {
        let new = NewTicket {
            title: s.clone(),
            body: s.clone(),
            address: s.clone(),
            region_code: s.clone(),
            citizen: hotline_core::Citizen {
                name: s.clone(),
                phone: s.clone(),
                ..complaint().citizen
            },
            location: Some(GeoPoint {
                latitude: f64::NAN,
                longitude: f64::NEG_INFINITY,
            }),
            ..complaint()
        };
        assert!(matches!(intake(new), Err(DomainError::InvalidField { .. })));
        // Masking a strange citizen never panics either.
        let _ = hotline_core::Citizen {
            name: s.clone(),
            phone: s.clone(),
            ..complaint().citizen
        }
        .masked();
    }
    let mut flow = Flow::in_progress(ENV);
    for s in [huge, controls] {
        let error = flow.refused(&department(ENV), reply(&s));
        invalid(error, "content");
        let error = flow.refused(&supervisor(), Command::Urge { note: s.clone() });
        invalid(error, "note");
    }
}

#[test]
fn a_prepared_ticket_numbered_later_is_the_ticket_created_with_that_number() {
    let world = World::default();
    let actor = operator();
    let mut new = complaint();
    new.auto_dispatch = Some(target(ENV_GUSU, &[WATER]));
    let whole = create_ticket(
        TICKET,
        "SZ-20260302-000042",
        new.clone(),
        &world.ctx(&actor),
    )
    .expect("taken in");
    let prepared =
        hotline_core::prepare_ticket(TICKET, new.clone(), &world.ctx(&actor)).expect("prepared");
    assert_eq!(prepared.ticket().number, "", "no number before numbering");
    assert_eq!(
        prepared.ticket().next_check_at(&hotline_core::AlwaysOpen),
        whole.ticket.next_check_at(&hotline_core::AlwaysOpen)
    );
    let numbered = prepared
        .clone()
        .number("SZ-20260302-000042")
        .expect("numbered");
    assert_eq!(numbered, whole);
    assert_eq!(numbered.events.len(), 2, "created and dispatched");
    invalid(prepared.number("  ").expect_err("blank number"), "number");
    // A bad appeal is refused before any number is needed.
    new.title = String::new();
    invalid(
        hotline_core::prepare_ticket(TICKET, new, &world.ctx(&actor)).expect_err("no title"),
        "title",
    );
}
