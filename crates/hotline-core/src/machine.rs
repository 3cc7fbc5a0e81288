//! The closed loop as one state machine: [`Ticket::decide`] turns a command into
//! the events it causes (or a typed refusal), and [`Ticket::apply`] folds an
//! event into the ticket. Deciding never mutates; applying never refuses. So a
//! stored ticket is always `Ticket::replay` of its stored events.

use jiff::{SignedDuration, Timestamp};

use crate::calendar::{AlwaysOpen, Calendar};
use crate::command::{Action, Command, Context, DispatchTarget, NewTicket};
use crate::error::{DomainError, Limit, ReplayError};
use crate::event::{Event, EventKind, PartDeadlines, Role};
use crate::ids::{DepartmentId, TicketId};
use crate::model::{
    Assignment, AssignmentRole, AssignmentStatus, CallbackRecord, CloseReason, DeadlineKind,
    PendingExtension, PendingReturn, PendingSuspension, Reply, Satisfaction, Ticket, TicketStatus,
    WarningLevel,
};
use crate::policy::{TicketPolicy, Window};
use crate::validate::{self, MAX_BODY_CHARS, MAX_NOTE_CHARS, MAX_TITLE_CHARS};

/// An accepted command: the events to append and the ticket they produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The ticket after the events.
    pub ticket: Ticket,
    /// The events, in order; never empty.
    pub events: Vec<Event>,
}

const OPEN: &[TicketStatus] = &[
    TicketStatus::PendingDispatch,
    TicketStatus::Dispatched,
    TicketStatus::InProgress,
    TicketStatus::Replied,
];
const HANDLING: &[TicketStatus] = &[TicketStatus::Dispatched, TicketStatus::InProgress];

/// Takes in a new appeal: validates it and yields the creation events (and the
/// dispatch, when routing chose a department), as version 1.
///
/// # Errors
/// [`DomainError::InvalidField`] naming the first bad field.
pub fn create_ticket(
    id: TicketId,
    number: &str,
    new: NewTicket,
    ctx: &Context<'_>,
) -> Result<Decision, DomainError> {
    prepare_ticket(id, new, ctx)?.number(number)
}

/// A new appeal the domain accepted, decided in full but for its human number.
///
/// The number comes from a per-day counter that a store advances inside the
/// transaction filing the ticket; everything else needs the command's
/// [`Context`]. Splitting the two lets a caller decide with its own context and
/// hand this owned value to a writer that files many tickets in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Unnumbered {
    /// The decision with an empty number.
    decision: Decision,
}

/// Validates a new appeal and decides its creation events, leaving the number for
/// [`Unnumbered::number`]. `create_ticket(id, n, new, ctx)` is
/// `prepare_ticket(id, new, ctx)?.number(n)`.
///
/// # Errors
/// [`DomainError::InvalidField`] naming the first bad field.
pub fn prepare_ticket(
    id: TicketId,
    new: NewTicket,
    ctx: &Context<'_>,
) -> Result<Unnumbered, DomainError> {
    validate_new_ticket(&new, ctx)?;
    let category_path = new.category.as_ref().map(|c| c.path.as_str());
    let policy = ctx
        .policy
        .resolve(new.appeal_type, new.priority, category_path);
    let mut kinds = vec![EventKind::Created {
        number: String::new(),
        channel: new.channel,
        appeal_type: new.appeal_type,
        priority: new.priority,
        citizen: new.citizen,
        title: new.title,
        body: new.body,
        address: new.address,
        region_code: new.region_code,
        location: new.location,
        category: new.category,
        policy,
        routing: new.routing.map(Box::new),
    }];
    if let Some(target) = new.auto_dispatch {
        kinds.push(dispatch_event(&target, &policy, true, String::new(), ctx));
    }
    let events: Vec<Event> = kinds
        .into_iter()
        .zip(1..)
        .map(|(kind, seq)| Event {
            ticket_id: id,
            seq,
            version: 1,
            at: ctx.now,
            actor: ctx.actor.clone(),
            kind,
        })
        .collect();
    let ticket = Ticket::replay(&events).map_err(|_| DomainError::InvalidField {
        field: "ticket",
        reason: "could not be created".to_owned(),
    })?;
    Ok(Unnumbered {
        decision: Decision { ticket, events },
    })
}

impl Unnumbered {
    /// The ticket as it will be filed, with an empty number.
    pub fn ticket(&self) -> &Ticket {
        &self.decision.ticket
    }

    /// Gives the ticket its human number: the same decision [`create_ticket`] returns
    /// for that number.
    ///
    /// # Errors
    /// [`DomainError::InvalidField`] (`number`) when the number is blank.
    pub fn number(self, number: &str) -> Result<Decision, DomainError> {
        if number.trim().is_empty() {
            return Err(DomainError::InvalidField {
                field: "number",
                reason: "must not be empty".to_owned(),
            });
        }
        let mut decision = self.decision;
        // The number is only in the creation event and, by replay, in the ticket.
        if let Some(Event {
            kind: EventKind::Created { number: n, .. },
            ..
        }) = decision.events.first_mut()
        {
            number.clone_into(n);
        }
        number.clone_into(&mut decision.ticket.number);
        Ok(decision)
    }
}

fn validate_new_ticket(new: &NewTicket, ctx: &Context<'_>) -> Result<(), DomainError> {
    validate::required_text("title", &new.title, MAX_TITLE_CHARS)?;
    validate::required_text("body", &new.body, MAX_BODY_CHARS)?;
    validate::name(&new.citizen.name)?;
    validate::phone(&new.citizen.phone)?;
    validate::address(&new.address)?;
    validate::region_code(&new.region_code)?;
    if let Some(point) = new.location {
        if !(point.latitude.is_finite() && (-90.0..=90.0).contains(&point.latitude)) {
            return Err(invalid("latitude", "must be between -90 and 90"));
        }
        if !(point.longitude.is_finite() && (-180.0..=180.0).contains(&point.longitude)) {
            return Err(invalid("longitude", "must be between -180 and 180"));
        }
    }
    if let Some(category) = &new.category {
        if !ctx.directory.taxonomy.contains(&category.path) {
            return Err(invalid(
                "category_hint",
                format!("unknown category {:?}", category.path),
            ));
        }
        if !(0.0..=1.0).contains(&category.confidence) {
            return Err(invalid(
                "category_hint",
                "confidence must be between 0 and 1",
            ));
        }
    }
    if let Some(target) = &new.auto_dispatch {
        validate_dispatch_target(&target.lead_department_id, &target.co_department_ids, ctx)?;
    }
    Ok(())
}

fn validate_dispatch_target(
    lead: &DepartmentId,
    co: &[DepartmentId],
    ctx: &Context<'_>,
) -> Result<(), DomainError> {
    if ctx.directory.department(lead).is_none() {
        return Err(invalid(
            "lead_department_id",
            format!("unknown department {lead}"),
        ));
    }
    for (i, dept) in co.iter().enumerate() {
        if ctx.directory.department(dept).is_none() {
            return Err(invalid(
                "co_department_ids",
                format!("unknown department {dept}"),
            ));
        }
        if dept == lead || co[..i].contains(dept) {
            return Err(invalid(
                "co_department_ids",
                format!("department {dept} named twice"),
            ));
        }
    }
    Ok(())
}

/// The dispatch to `target` now, with the deadlines of the ticket's own policy.
fn dispatch_event(
    target: &DispatchTarget,
    policy: &TicketPolicy,
    automatic: bool,
    note: String,
    ctx: &Context<'_>,
) -> EventKind {
    EventKind::Dispatched {
        lead_department_id: target.lead_department_id.clone(),
        co_department_ids: target.co_department_ids.clone(),
        sign_due: ctx.calendar.add(ctx.now, policy.sign_within),
        reply_due: ctx.calendar.add(ctx.now, policy.reply_within),
        automatic,
        note,
    }
}

/// Returns the calendar a window counts in: wall-clock time for calendar-time
/// windows, `calendar` for working-time ones.
pub(crate) fn counting(calendar: &dyn Calendar, window: Window) -> &dyn Calendar {
    match window {
        Window::Calendar { .. } => &AlwaysOpen,
        Window::WorkingHours { .. } | Window::WorkingDays { .. } => calendar,
    }
}

/// Truncates a duration to whole seconds, negatives to zero.
fn whole_seconds(duration: SignedDuration) -> SignedDuration {
    SignedDuration::from_secs(duration.max(SignedDuration::ZERO).as_secs())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn note(field: &'static str, value: &str) -> Result<String, DomainError> {
    validate::optional_text(field, value, MAX_NOTE_CHARS)?;
    Ok(value.to_owned())
}

fn required(field: &'static str, value: &str) -> Result<String, DomainError> {
    validate::required_text(field, value, MAX_NOTE_CHARS)?;
    Ok(value.to_owned())
}

impl Ticket {
    /// Decides a command and applies its events: the new ticket (version + 1) and the events.
    ///
    /// # Errors
    /// The [`DomainError`] from [`Ticket::decide`]; the ticket is unchanged.
    pub fn execute(&self, command: &Command, ctx: &Context<'_>) -> Result<Decision, DomainError> {
        let kinds = self.decide(command, ctx)?;
        Ok(self.commit(kinds, ctx))
    }

    /// Stamps decided events (next sequence numbers, version + 1, `ctx.now`, the
    /// actor) and applies them.
    pub(crate) fn commit(&self, kinds: Vec<EventKind>, ctx: &Context<'_>) -> Decision {
        let version = self.version + 1;
        let events: Vec<Event> = kinds
            .into_iter()
            .zip(self.last_seq + 1..)
            .map(|(kind, seq)| Event {
                ticket_id: self.id,
                seq,
                version,
                at: ctx.now,
                actor: ctx.actor.clone(),
                kind,
            })
            .collect();
        let mut ticket = self.clone();
        for event in &events {
            ticket.apply(event);
        }
        Decision { ticket, events }
    }

    /// Returns the events a command causes, or why it is refused. Never empty on success.
    ///
    /// # Errors
    /// [`DomainError::IllegalTransition`] naming the current state and the refused action,
    /// [`DomainError::NotAssigned`] when the acting department has no matching part,
    /// [`DomainError::LimitExceeded`] past a policy limit, and
    /// [`DomainError::InvalidField`] for malformed input.
    pub fn decide(
        &self,
        command: &Command,
        ctx: &Context<'_>,
    ) -> Result<Vec<EventKind>, DomainError> {
        let action = command.action();
        let limits = self.policy.limits;
        match command {
            Command::Dispatch {
                lead_department_id,
                co_department_ids,
                note: text,
            } => {
                self.require(
                    action,
                    &[TicketStatus::PendingDispatch],
                    "it is not awaiting dispatch",
                )?;
                validate_dispatch_target(lead_department_id, co_department_ids, ctx)?;
                let target = DispatchTarget {
                    lead_department_id: lead_department_id.clone(),
                    co_department_ids: co_department_ids.clone(),
                };
                Ok(vec![dispatch_event(
                    &target,
                    &self.policy,
                    false,
                    note("note", text)?,
                    ctx,
                )])
            }
            Command::Sign { note: _ } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let assignment = self.acting_assignment(action, ctx)?;
                if assignment.status != AssignmentStatus::Dispatched {
                    return Err(self.refuse(action, "the department has already signed for it"));
                }
                Ok(vec![EventKind::Signed {
                    department_id: assignment.department_id.clone(),
                    late: ctx.now > assignment.sign_due,
                }])
            }
            Command::Return { reason } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let lead = self.acting_lead(action, ctx)?;
                if self.pending_return.is_some() {
                    return Err(self.refuse(action, "a return request is already pending"));
                }
                if self.return_count >= limits.max_returns {
                    return Err(DomainError::LimitExceeded {
                        limit: Limit::Returns,
                        max: limits.max_returns,
                    });
                }
                Ok(vec![EventKind::ReturnRequested {
                    department_id: lead.department_id.clone(),
                    reason: required("reason", reason)?,
                }])
            }
            Command::DecideReturn {
                approve,
                note: text,
            } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let Some(pending) = &self.pending_return else {
                    return Err(self.refuse(action, "no return request is pending"));
                };
                let department_id = pending.department_id.clone();
                let note = note("note", text)?;
                Ok(vec![if *approve {
                    EventKind::ReturnApproved {
                        department_id,
                        note,
                    }
                } else {
                    EventKind::ReturnRejected {
                        department_id,
                        note,
                    }
                }])
            }
            Command::Delegate {
                to_department_id,
                note: text,
            } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let from = self.acting_handler(action, ctx)?;
                if from.status != AssignmentStatus::Signed {
                    return Err(self.refuse(action, "sign for the ticket before delegating it"));
                }
                if ctx.directory.department(to_department_id).is_none() {
                    return Err(invalid(
                        "to_department_id",
                        format!("unknown department {to_department_id}"),
                    ));
                }
                if !ctx
                    .directory
                    .is_descendant(to_department_id, &from.department_id)
                {
                    return Err(invalid(
                        "to_department_id",
                        format!("{to_department_id} is not below {}", from.department_id),
                    ));
                }
                if self.active_assignment(to_department_id).is_some() {
                    return Err(invalid(
                        "to_department_id",
                        format!("{to_department_id} already has a part in this ticket"),
                    ));
                }
                let reply_due = from.reply_due;
                let sign_due = ctx
                    .calendar
                    .add(ctx.now, self.policy.sign_within)
                    .min(reply_due);
                Ok(vec![EventKind::Delegated {
                    from_department_id: from.department_id.clone(),
                    to_department_id: to_department_id.clone(),
                    sign_due,
                    reply_due,
                    note: note("note", text)?,
                }])
            }
            Command::SubmitOpinion { content } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let assignment = self.acting_assignment(action, ctx)?;
                if assignment.role != AssignmentRole::CoHandler {
                    return Err(DomainError::NotAssigned {
                        action,
                        department_id: assignment.department_id.clone(),
                        reason: "only co-handlers submit opinions",
                    });
                }
                match assignment.status {
                    AssignmentStatus::Signed => Ok(vec![EventKind::OpinionSubmitted {
                        department_id: assignment.department_id.clone(),
                        content: required("content", content)?,
                    }]),
                    AssignmentStatus::Dispatched => {
                        Err(self.refuse(action, "sign for the ticket before submitting an opinion"))
                    }
                    _ => Err(self.refuse(action, "the opinion was already submitted")),
                }
            }
            Command::RequestExtension {
                requested_reply_due,
                reason,
            } => {
                self.require(
                    action,
                    &[TicketStatus::InProgress],
                    "only a signed ticket is extended",
                )?;
                let handler = self.acting_handler(action, ctx)?;
                if self.pending_extension.is_some() {
                    return Err(self.refuse(action, "an extension request is already pending"));
                }
                if self.extension_count >= limits.max_extensions {
                    return Err(DomainError::LimitExceeded {
                        limit: Limit::Extensions,
                        max: limits.max_extensions,
                    });
                }
                if self
                    .reply_due
                    .is_some_and(|due| *requested_reply_due <= due)
                {
                    return Err(invalid(
                        "requested_reply_due",
                        "must be later than the current reply deadline",
                    ));
                }
                Ok(vec![EventKind::ExtensionRequested {
                    department_id: handler.department_id.clone(),
                    requested_reply_due: *requested_reply_due,
                    reason: required("reason", reason)?,
                }])
            }
            Command::DecideExtension {
                approve,
                note: text,
            } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let Some(pending) = &self.pending_extension else {
                    return Err(self.refuse(action, "no extension request is pending"));
                };
                let note = note("note", text)?;
                Ok(vec![if *approve {
                    EventKind::ExtensionApproved {
                        reply_due: pending.requested_reply_due,
                        note,
                    }
                } else {
                    EventKind::ExtensionRejected { note }
                }])
            }
            Command::AddProgress { content } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let assignment = self.acting_assignment(action, ctx)?;
                Ok(vec![EventKind::ProgressAdded {
                    department_id: assignment.department_id.clone(),
                    content: required("content", content)?,
                }])
            }
            Command::Reply { result, content } => {
                self.require(
                    action,
                    &[TicketStatus::InProgress],
                    "only a signed ticket is replied",
                )?;
                let handler = self.acting_handler(action, ctx)?;
                if handler.status != AssignmentStatus::Signed {
                    return Err(self.refuse(action, "sign for the ticket before replying"));
                }
                if self.suspended {
                    return Err(self.refuse(action, "the ticket is suspended; resume it first"));
                }
                if self.pending_return.is_some() {
                    return Err(self.refuse(action, "a return request is pending"));
                }
                Ok(vec![EventKind::Replied {
                    department_id: handler.department_id.clone(),
                    result: *result,
                    content: required("content", content)?,
                    callback_due: ctx.calendar.add(ctx.now, self.policy.callback_within),
                }])
            }
            Command::ReviewReply { accept, note: text } => {
                self.require(
                    action,
                    &[TicketStatus::Replied],
                    "there is no reply to review",
                )?;
                if self.reply_accepted {
                    return Err(self.refuse(action, "the reply was already accepted"));
                }
                let note = note("note", text)?;
                Ok(vec![if *accept {
                    EventKind::ReplyAccepted { note }
                } else {
                    EventKind::ReplySentBack { note }
                }])
            }
            Command::RecordCallback {
                contacted,
                resolved,
                satisfaction,
                comment,
                reopen,
            } => {
                self.require(
                    action,
                    &[TicketStatus::Replied],
                    "only a replied ticket is called back",
                )?;
                let comment = note("comment", comment)?;
                let record = EventKind::CallbackRecorded {
                    contacted: *contacted,
                    resolved: *resolved && *contacted,
                    satisfaction: *satisfaction,
                    comment,
                };
                if !*contacted {
                    if satisfaction.is_some() {
                        return Err(invalid("satisfaction", "must be unset when not contacted"));
                    }
                    if *reopen {
                        return Err(invalid("reopen", "a citizen not reached cannot reopen"));
                    }
                    return Ok(vec![record]);
                }
                let Some(rating) = satisfaction else {
                    return Err(invalid(
                        "satisfaction",
                        "is required when the citizen was contacted",
                    ));
                };
                if !*reopen {
                    return Ok(vec![
                        record,
                        EventKind::Closed {
                            reason: CloseReason::Callback,
                        },
                    ]);
                }
                if *rating != Satisfaction::Unsatisfied && *resolved {
                    return Err(invalid(
                        "reopen",
                        "only an unsatisfied or unresolved case reopens",
                    ));
                }
                let reopened = self.reopen_event(action, String::new(), ctx)?;
                Ok(vec![record, reopened])
            }
            Command::Reopen { note: text } => {
                self.require(
                    action,
                    &[TicketStatus::Closed],
                    "only a closed ticket is reopened",
                )?;
                let unsatisfied = self.close_reason == Some(CloseReason::Callback)
                    && self.callback.as_ref().is_some_and(|c| {
                        c.satisfaction == Some(Satisfaction::Unsatisfied) || !c.resolved
                    });
                if !unsatisfied {
                    return Err(self.refuse(action, "it did not close on an unsatisfied callback"));
                }
                // A pending dispute must be decided first: a reopen would drop it unrecorded.
                if self.pending_dispute.is_some() {
                    return Err(self.refuse(action, "a rating dispute is pending"));
                }
                Ok(vec![self.reopen_event(action, note("note", text)?, ctx)?])
            }
            Command::DisputeRating { evidence } => {
                self.require(
                    action,
                    &[TicketStatus::Closed],
                    "only a closed ticket's rating is disputed",
                )?;
                let lead = self.acting_lead_any_status(action, ctx)?;
                // The rating disputed is the one the ticket closed on: a rating from before a
                // reopen was already answered by the reopen, and later closes carry none.
                let unsatisfied = self.close_reason == Some(CloseReason::Callback)
                    && self
                        .callback
                        .as_ref()
                        .is_some_and(|c| c.satisfaction == Some(Satisfaction::Unsatisfied));
                if !unsatisfied {
                    return Err(self.refuse(action, "only an unsatisfied rating can be disputed"));
                }
                if self.pending_dispute.is_some() || self.dispute_decided {
                    return Err(self.refuse(action, "the rating was already disputed"));
                }
                Ok(vec![EventKind::RatingDisputed {
                    department_id: lead,
                    evidence: required("evidence", evidence)?,
                }])
            }
            Command::DecideDispute {
                approve,
                note: text,
            } => {
                if self.pending_dispute.is_none() {
                    return Err(self.refuse(action, "no rating dispute is pending"));
                }
                Ok(vec![EventKind::DisputeDecided {
                    exempt: *approve,
                    note: note("note", text)?,
                }])
            }
            Command::RequestSuspension { reason, resume_by } => {
                self.require(action, HANDLING, "it is not with a department")?;
                let handler = self.acting_handler(action, ctx)?;
                if self.suspended {
                    return Err(self.refuse(action, "the ticket is already suspended"));
                }
                if self.pending_suspension.is_some() {
                    return Err(self.refuse(action, "a suspension request is already pending"));
                }
                if resume_by.is_some_and(|at| at <= ctx.now) {
                    return Err(invalid("resume_by", "must be in the future"));
                }
                Ok(vec![EventKind::SuspensionRequested {
                    department_id: handler.department_id.clone(),
                    reason: required("reason", reason)?,
                    resume_by: *resume_by,
                }])
            }
            Command::DecideSuspension {
                approve,
                note: text,
            } => {
                self.require(action, HANDLING, "it is not with a department")?;
                if self.pending_suspension.is_none() {
                    return Err(self.refuse(action, "no suspension request is pending"));
                }
                let note = note("note", text)?;
                Ok(vec![if *approve {
                    EventKind::Suspended { note }
                } else {
                    EventKind::SuspensionRejected { note }
                }])
            }
            Command::Resume { note: text } => {
                self.require(action, HANDLING, "it is not with a department")?;
                if ctx.actor.role == Role::Department {
                    self.acting_handler(action, ctx)?;
                }
                let (true, Some(since)) = (self.suspended, self.suspended_at) else {
                    return Err(self.refuse(action, "the ticket is not suspended"));
                };
                Ok(vec![self.resumed_event(since, note("note", text)?, ctx)])
            }
            Command::Withdraw { reason } => {
                self.require(action, OPEN, "it is no longer open")?;
                Ok(vec![
                    EventKind::Withdrawn {
                        reason: note("reason", reason)?,
                    },
                    EventKind::Closed {
                        reason: CloseReason::Withdrawn,
                    },
                ])
            }
            Command::AnswerDirectly { content } => {
                self.require(
                    action,
                    &[TicketStatus::PendingDispatch],
                    "it is already dispatched",
                )?;
                Ok(vec![
                    EventKind::AnsweredDirectly {
                        content: required("content", content)?,
                    },
                    EventKind::Closed {
                        reason: CloseReason::AnsweredDirectly,
                    },
                ])
            }
            Command::Merge {
                master_id,
                master_status,
                note: text,
            } => {
                self.require(action, OPEN, "it is no longer open")?;
                if *master_id == self.id {
                    return Err(invalid(
                        "master_ticket_id",
                        "a ticket cannot be merged into itself",
                    ));
                }
                if *master_status == TicketStatus::Merged {
                    return Err(invalid(
                        "master_ticket_id",
                        "the master ticket is itself merged",
                    ));
                }
                Ok(vec![EventKind::Merged {
                    master_id: *master_id,
                    note: note("note", text)?,
                }])
            }
            Command::MarkInvalid { reason } => {
                self.require(action, OPEN, "it is no longer open")?;
                Ok(vec![
                    EventKind::MarkedInvalid {
                        reason: required("reason", reason)?,
                    },
                    EventKind::Closed {
                        reason: CloseReason::Invalid,
                    },
                ])
            }
            Command::Urge { note: text } => {
                self.require(action, HANDLING, "it is not with a department")?;
                Ok(vec![EventKind::Urged {
                    department_ids: self.departments_at_work(),
                    note: note("note", text)?,
                }])
            }
            Command::Supervise {
                level,
                note: text,
                feedback_due,
            } => {
                self.require(action, HANDLING, "it is not with a department")?;
                if feedback_due.is_some_and(|at| at <= ctx.now) {
                    return Err(invalid("feedback_due", "must be in the future"));
                }
                Ok(vec![EventKind::Supervised {
                    level: *level,
                    department_ids: self.departments_at_work(),
                    note: note("note", text)?,
                    feedback_due: *feedback_due,
                }])
            }
            Command::AutoClose => {
                self.require(
                    action,
                    &[TicketStatus::Replied],
                    "only a replied ticket closes by itself",
                )?;
                let callback_due = self.callback_due.is_some_and(|due| ctx.now >= due);
                if self.citizen.wants_callback && !callback_due {
                    return Err(self.refuse(action, "the callback is still due"));
                }
                Ok(vec![EventKind::Closed {
                    reason: CloseReason::NoCallback,
                }])
            }
        }
    }

    /// The resume of a clock stopped at `since`: every deadline still running moves
    /// by the time stopped, counted the way its window counts — wall-clock time for
    /// calendar-time windows, working time (through the calendar) for the others —
    /// in whole seconds. Deadlines already met stay: a part that signed keeps its
    /// sign deadline, so a late sign never turns on time.
    fn resumed_event(&self, since: Timestamp, note: String, ctx: &Context<'_>) -> EventKind {
        let stopped_in =
            |window: Window| whole_seconds(counting(ctx.calendar, window).elapsed(since, ctx.now));
        let (sign_stop, reply_stop) = (
            stopped_in(self.policy.sign_within),
            stopped_in(self.policy.reply_within),
        );
        let move_sign = |due: Timestamp| {
            counting(ctx.calendar, self.policy.sign_within).add_working_time(due, sign_stop)
        };
        let move_reply = |due: Timestamp| {
            counting(ctx.calendar, self.policy.reply_within).add_working_time(due, reply_stop)
        };
        let parts: Vec<PartDeadlines> = self
            .assignments
            .iter()
            .filter(|a| a.status.is_active())
            .map(|a| {
                let unsigned = a.status == AssignmentStatus::Dispatched;
                let unreplied = unsigned || a.status == AssignmentStatus::Signed;
                PartDeadlines {
                    department_id: a.department_id.clone(),
                    sign_due: if unsigned {
                        move_sign(a.sign_due)
                    } else {
                        a.sign_due
                    },
                    reply_due: if unreplied {
                        move_reply(a.reply_due)
                    } else {
                        a.reply_due
                    },
                }
            })
            .collect();
        let lead = self
            .lead_assignment()
            .and_then(|lead| parts.iter().find(|p| p.department_id == lead.department_id));
        // The window start moves with the deadline running now, so the share of
        // the window used (the warning threshold) is what it was when the clock stopped.
        let lead_signed = self
            .lead_assignment()
            .is_some_and(|a| a.status != AssignmentStatus::Dispatched);
        let window_start = self.window_start.map(|start| {
            if lead_signed {
                move_reply(start)
            } else {
                move_sign(start)
            }
        });
        EventKind::Resumed {
            sign_due: lead.map(|p| p.sign_due).or(self.sign_due),
            reply_due: lead.map(|p| p.reply_due).or(self.reply_due),
            suspended_seconds: whole_seconds(ctx.now.duration_since(since)).as_secs(),
            note,
            window_start,
            requested_reply_due: self.pending_extension.as_ref().map(|pending| {
                // Strictly after the moved deadline, as it was after the old one, even
                // where working-time arithmetic would fold both into one instant.
                let gap = self.reply_due.map_or(SignedDuration::ZERO, |due| {
                    pending.requested_reply_due.duration_since(due)
                });
                let after_deadline = lead
                    .map(|p| p.reply_due)
                    .or(self.reply_due)
                    .and_then(|due| due.checked_add(gap).ok());
                move_reply(pending.requested_reply_due)
                    .max(after_deadline.unwrap_or(Timestamp::MIN))
            }),
            parts,
        }
    }

    fn reopen_event(
        &self,
        action: Action,
        note: String,
        ctx: &Context<'_>,
    ) -> Result<EventKind, DomainError> {
        let max = self.policy.limits.max_reopens;
        if self.reopen_count >= max {
            return Err(DomainError::LimitExceeded {
                limit: Limit::Reopens,
                max,
            });
        }
        if self.lead_assignment().is_none() {
            return Err(self.refuse(action, "it has no lead department to reopen to"));
        }
        Ok(EventKind::Reopened {
            reply_due: ctx.calendar.add(ctx.now, self.policy.reply_within),
            note,
        })
    }

    fn require(
        &self,
        action: Action,
        allowed: &[TicketStatus],
        reason: &'static str,
    ) -> Result<(), DomainError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(self.refuse(action, reason))
        }
    }

    fn refuse(&self, action: Action, reason: &'static str) -> DomainError {
        DomainError::IllegalTransition {
            action,
            status: self.status,
            reason,
        }
    }

    fn actor_department(
        &self,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<DepartmentId, DomainError> {
        ctx.actor
            .department_id
            .clone()
            .ok_or_else(|| DomainError::NotAssigned {
                action,
                department_id: DepartmentId::new(""),
                reason: "the credential is bound to no department",
            })
    }

    /// The acting department's live part, whatever its role.
    fn acting_assignment(
        &self,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<&Assignment, DomainError> {
        let department_id = self.actor_department(action, ctx)?;
        self.active_assignment(&department_id)
            .ok_or(DomainError::NotAssigned {
                action,
                department_id,
                reason: "it has no part in this ticket",
            })
    }

    /// The acting department's part, if it handles the matter: the lead or a delegate below it.
    fn acting_handler(
        &self,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<&Assignment, DomainError> {
        let assignment = self.acting_assignment(action, ctx)?;
        match assignment.role {
            AssignmentRole::Lead | AssignmentRole::Delegate => Ok(assignment),
            AssignmentRole::CoHandler => Err(DomainError::NotAssigned {
                action,
                department_id: assignment.department_id.clone(),
                reason: "co-handlers do not handle the matter itself",
            }),
        }
    }

    /// The acting department's part, if it is the lead.
    fn acting_lead(&self, action: Action, ctx: &Context<'_>) -> Result<&Assignment, DomainError> {
        let assignment = self.acting_assignment(action, ctx)?;
        if assignment.role == AssignmentRole::Lead {
            Ok(assignment)
        } else {
            Err(DomainError::NotAssigned {
                action,
                department_id: assignment.department_id.clone(),
                reason: "only the lead department may do this",
            })
        }
    }

    /// The acting department, if it is the ticket's lead (also after the loop closed).
    fn acting_lead_any_status(
        &self,
        action: Action,
        ctx: &Context<'_>,
    ) -> Result<DepartmentId, DomainError> {
        let department_id = self.actor_department(action, ctx)?;
        if self.lead_department_id.as_ref() == Some(&department_id) {
            Ok(department_id)
        } else {
            Err(DomainError::NotAssigned {
                action,
                department_id,
                reason: "only the lead department may do this",
            })
        }
    }

    /// Returns the live assignment of a department, if any.
    pub fn active_assignment(&self, department_id: &DepartmentId) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.status.is_active() && &a.department_id == department_id)
    }

    /// Returns the live lead assignment.
    pub fn lead_assignment(&self) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.status.is_active() && a.role == AssignmentRole::Lead)
    }

    /// Returns whether a department (exactly this one) holds or held a part in this ticket.
    pub fn involves(&self, department_id: &DepartmentId) -> bool {
        self.assignments
            .iter()
            .any(|a| &a.department_id == department_id)
    }

    /// Departments with live, unfinished parts: who gets urged.
    fn departments_at_work(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .filter(|a| {
                matches!(
                    a.status,
                    AssignmentStatus::Dispatched | AssignmentStatus::Signed
                )
            })
            .map(|a| a.department_id.clone())
            .collect()
    }

    /// Returns the deadline the ticket is running against now, if any: sign while
    /// dispatched, reply while in progress, callback once replied; none while suspended.
    pub fn running_deadline(&self) -> Option<(DeadlineKind, Timestamp)> {
        if self.suspended {
            return None;
        }
        match self.status {
            TicketStatus::Dispatched => self.sign_due.map(|d| (DeadlineKind::Sign, d)),
            TicketStatus::InProgress => self.reply_due.map(|d| (DeadlineKind::Reply, d)),
            TicketStatus::Replied => self.callback_due.map(|d| (DeadlineKind::Callback, d)),
            _ => None,
        }
    }

    /// Returns the departments whose watchers should hear about this event.
    pub fn notified_departments(&self, kind: &EventKind) -> Vec<DepartmentId> {
        match kind {
            EventKind::Dispatched {
                lead_department_id,
                co_department_ids,
                ..
            } => std::iter::once(lead_department_id.clone())
                .chain(co_department_ids.iter().cloned())
                .collect(),
            EventKind::Delegated {
                to_department_id, ..
            } => vec![to_department_id.clone()],
            EventKind::Urged { department_ids, .. }
            | EventKind::Supervised { department_ids, .. } => department_ids.clone(),
            EventKind::ReturnApproved { department_id, .. }
            | EventKind::ReturnRejected { department_id, .. } => vec![department_id.clone()],
            // The callback is the center's to make; departments hear of their own deadlines,
            // and only the parts still working on them.
            EventKind::WarningChanged {
                kind: DeadlineKind::Callback,
                ..
            } => Vec::new(),
            EventKind::WarningChanged { .. } => self
                .assignments
                .iter()
                .filter(|a| a.status.is_active() && a.role != AssignmentRole::CoHandler)
                .map(|a| a.department_id.clone())
                .collect(),
            EventKind::Reopened { .. }
            | EventKind::ReplySentBack { .. }
            | EventKind::ExtensionApproved { .. }
            | EventKind::ExtensionRejected { .. }
            | EventKind::Suspended { .. }
            | EventKind::SuspensionRejected { .. }
            | EventKind::Resumed { .. }
            | EventKind::DisputeDecided { .. }
            | EventKind::Withdrawn { .. }
            | EventKind::Merged { .. }
            | EventKind::MarkedInvalid { .. } => self
                .assignments
                .iter()
                .filter(|a| a.role != AssignmentRole::CoHandler)
                .map(|a| a.department_id.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Folds a ticket's events, oldest first, into the ticket.
    ///
    /// # Errors
    /// [`ReplayError`] when the events do not start with a creation or break the sequence.
    pub fn replay(events: &[Event]) -> Result<Ticket, ReplayError> {
        let (first, rest) = events.split_first().ok_or(ReplayError::Empty)?;
        let mut ticket = Ticket::created(first)?;
        for event in rest {
            if event.ticket_id != ticket.id || event.seq != ticket.last_seq + 1 {
                return Err(ReplayError::OutOfSequence { seq: event.seq });
            }
            ticket.apply(event);
        }
        Ok(ticket)
    }

    fn created(event: &Event) -> Result<Ticket, ReplayError> {
        let EventKind::Created {
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
            routing,
        } = &event.kind
        else {
            return Err(ReplayError::NotCreated(event.kind.action()));
        };
        if event.seq != 1 {
            return Err(ReplayError::OutOfSequence { seq: event.seq });
        }
        Ok(Ticket {
            id: event.ticket_id,
            number: number.clone(),
            status: TicketStatus::PendingDispatch,
            version: event.version,
            last_seq: event.seq,
            channel: *channel,
            appeal_type: *appeal_type,
            priority: *priority,
            citizen: citizen.clone(),
            title: title.clone(),
            body: body.clone(),
            address: address.clone(),
            region_code: region_code.clone(),
            location: *location,
            category: category.clone(),
            policy: *policy,
            routing: routing.as_deref().cloned(),
            window_start: None,
            assignments: Vec::new(),
            lead_department_id: None,
            sign_due: None,
            reply_due: None,
            callback_due: None,
            warning_level: WarningLevel::None,
            suspended: false,
            suspended_at: None,
            pending_return: None,
            pending_extension: None,
            pending_suspension: None,
            pending_dispute: None,
            return_count: 0,
            rejected_return_count: 0,
            extension_count: 0,
            reopen_count: 0,
            review_rejection_count: 0,
            urge_count: 0,
            supervision_level: None,
            supervision_feedback_due: None,
            reply: None,
            direct_answer: None,
            reply_accepted: false,
            callback: None,
            rating_exempt: false,
            dispute_decided: false,
            close_reason: None,
            merged_into: None,
            created_at: event.at,
            updated_at: event.at,
            closed_at: None,
        })
    }

    /// Folds one event into the ticket. Total: an event that does not fit is recorded
    /// (version, sequence, time) but changes nothing else.
    pub fn apply(&mut self, event: &Event) {
        self.version = event.version;
        self.last_seq = event.seq;
        self.updated_at = event.at;
        let at = event.at;
        match &event.kind {
            EventKind::Created { .. } => {}
            EventKind::Dispatched {
                lead_department_id,
                co_department_ids,
                sign_due,
                reply_due,
                ..
            } => {
                let assignment = |department_id: &DepartmentId, role| Assignment {
                    department_id: department_id.clone(),
                    role,
                    status: AssignmentStatus::Dispatched,
                    assigned_at: at,
                    sign_due: *sign_due,
                    reply_due: *reply_due,
                    signed_at: None,
                    delegated_from: None,
                    opinion: None,
                    returns_rejected: 0,
                    extensions_granted: 0,
                    urged: 0,
                    supervised: 0,
                };
                self.assignments
                    .push(assignment(lead_department_id, AssignmentRole::Lead));
                for co in co_department_ids {
                    self.assignments
                        .push(assignment(co, AssignmentRole::CoHandler));
                }
                self.status = TicketStatus::Dispatched;
                self.lead_department_id = Some(lead_department_id.clone());
                self.sign_due = Some(*sign_due);
                self.reply_due = Some(*reply_due);
                self.window_start = Some(at);
                self.warning_level = WarningLevel::None;
            }
            EventKind::Signed { department_id, .. } => {
                let mut lead_signed = false;
                if let Some(a) = self.active_assignment_mut(department_id) {
                    a.status = AssignmentStatus::Signed;
                    a.signed_at = Some(at);
                    lead_signed = a.role == AssignmentRole::Lead;
                }
                if lead_signed && self.status == TicketStatus::Dispatched {
                    self.status = TicketStatus::InProgress;
                    self.warning_level = WarningLevel::None;
                }
            }
            EventKind::ReturnRequested {
                department_id,
                reason,
            } => {
                self.pending_return = Some(PendingReturn {
                    department_id: department_id.clone(),
                    reason: reason.clone(),
                    requested_at: at,
                });
                self.return_count += 1;
            }
            EventKind::ReturnApproved { .. } => {
                for a in self.assignments.iter_mut().filter(|a| a.status.is_active()) {
                    a.status = AssignmentStatus::Returned;
                }
                self.status = TicketStatus::PendingDispatch;
                self.lead_department_id = None;
                self.sign_due = None;
                self.reply_due = None;
                self.window_start = None;
                self.warning_level = WarningLevel::None;
                self.pending_return = None;
                self.pending_extension = None;
                self.pending_suspension = None;
                self.suspended = false;
                self.suspended_at = None;
            }
            EventKind::ReturnRejected { department_id, .. } => {
                self.pending_return = None;
                self.rejected_return_count += 1;
                if let Some(a) = self.active_assignment_mut(department_id) {
                    a.returns_rejected += 1;
                }
            }
            EventKind::Delegated {
                from_department_id,
                to_department_id,
                sign_due,
                reply_due,
                ..
            } => {
                self.assignments.push(Assignment {
                    department_id: to_department_id.clone(),
                    role: AssignmentRole::Delegate,
                    status: AssignmentStatus::Dispatched,
                    assigned_at: at,
                    sign_due: *sign_due,
                    reply_due: *reply_due,
                    signed_at: None,
                    delegated_from: Some(from_department_id.clone()),
                    opinion: None,
                    returns_rejected: 0,
                    extensions_granted: 0,
                    urged: 0,
                    supervised: 0,
                });
            }
            EventKind::OpinionSubmitted {
                department_id,
                content,
            } => {
                if let Some(a) = self.active_assignment_mut(department_id) {
                    a.status = AssignmentStatus::OpinionSubmitted;
                    a.opinion = Some(content.clone());
                }
            }
            EventKind::ExtensionRequested {
                department_id,
                requested_reply_due,
                reason,
            } => {
                self.pending_extension = Some(PendingExtension {
                    department_id: department_id.clone(),
                    requested_reply_due: *requested_reply_due,
                    reason: reason.clone(),
                });
                self.extension_count += 1;
            }
            EventKind::ExtensionApproved { reply_due, .. } => {
                if let Some(pending) = self.pending_extension.take()
                    && let Some(a) = self.active_assignment_mut(&pending.department_id)
                {
                    a.extensions_granted += 1;
                }
                self.reply_due = Some(*reply_due);
                for a in self.handler_assignments_mut() {
                    a.reply_due = *reply_due;
                }
                self.warning_level = WarningLevel::None;
            }
            EventKind::ExtensionRejected { .. } => self.pending_extension = None,
            EventKind::ProgressAdded { .. } => {}
            EventKind::Replied {
                department_id,
                result,
                content,
                callback_due,
            } => {
                self.reply = Some(Reply {
                    result: *result,
                    content: content.clone(),
                    department_id: department_id.clone(),
                    replied_at: at,
                });
                self.reply_accepted = false;
                self.status = TicketStatus::Replied;
                self.callback_due = Some(*callback_due);
                self.pending_extension = None;
                self.pending_suspension = None;
                self.warning_level = WarningLevel::None;
                for a in self.handler_assignments_mut() {
                    if a.status == AssignmentStatus::Signed {
                        a.status = AssignmentStatus::Replied;
                    }
                }
            }
            EventKind::ReplyAccepted { .. } => self.reply_accepted = true,
            EventKind::ReplySentBack { .. } => {
                self.status = TicketStatus::InProgress;
                self.callback_due = None;
                self.review_rejection_count += 1;
                self.warning_level = WarningLevel::None;
                for a in self.handler_assignments_mut() {
                    if a.status == AssignmentStatus::Replied {
                        a.status = AssignmentStatus::Signed;
                    }
                }
            }
            EventKind::CallbackRecorded {
                contacted,
                resolved,
                satisfaction,
                comment,
            } => {
                self.callback = Some(CallbackRecord {
                    contacted: *contacted,
                    resolved: *resolved,
                    satisfaction: *satisfaction,
                    comment: comment.clone(),
                    recorded_at: at,
                });
            }
            EventKind::Reopened { reply_due, .. } => {
                self.status = TicketStatus::InProgress;
                self.reopen_count += 1;
                self.reply_due = Some(*reply_due);
                self.window_start = Some(at);
                self.callback_due = None;
                self.close_reason = None;
                self.closed_at = None;
                self.reply_accepted = false;
                self.pending_dispute = None;
                self.dispute_decided = false;
                self.rating_exempt = false;
                self.warning_level = WarningLevel::None;
                for a in self.handler_assignments_mut() {
                    if a.status == AssignmentStatus::Replied {
                        a.status = AssignmentStatus::Signed;
                    }
                    a.reply_due = *reply_due;
                }
            }
            EventKind::Closed { reason } => {
                // Parts never finished (a co-handler that gave no opinion, a delegate that
                // never replied) end with the ticket, so listings don't show them as open.
                self.cancel_unfinished_assignments();
                self.status = TicketStatus::Closed;
                self.close_reason = Some(*reason);
                self.closed_at = Some(at);
                self.warning_level = WarningLevel::None;
                self.clear_pending();
            }
            EventKind::RatingDisputed { evidence, .. } => {
                self.pending_dispute = Some(evidence.clone())
            }
            EventKind::DisputeDecided { exempt, .. } => {
                self.pending_dispute = None;
                self.dispute_decided = true;
                self.rating_exempt = *exempt;
            }
            EventKind::SuspensionRequested {
                department_id,
                reason,
                resume_by,
            } => {
                self.pending_suspension = Some(PendingSuspension {
                    department_id: department_id.clone(),
                    reason: reason.clone(),
                    resume_by: *resume_by,
                });
            }
            EventKind::Suspended { .. } => {
                self.pending_suspension = None;
                self.suspended = true;
                self.suspended_at = Some(at);
            }
            EventKind::SuspensionRejected { .. } => self.pending_suspension = None,
            EventKind::Resumed {
                sign_due,
                reply_due,
                suspended_seconds,
                parts,
                window_start,
                requested_reply_due,
                ..
            } => {
                self.suspended = false;
                self.suspended_at = None;
                self.sign_due = *sign_due;
                self.reply_due = *reply_due;
                if parts.is_empty() {
                    self.resume_by_wall_clock(SignedDuration::from_secs(*suspended_seconds));
                } else {
                    for part in parts {
                        if let Some(a) = self.active_assignment_mut(&part.department_id) {
                            a.sign_due = part.sign_due;
                            a.reply_due = part.reply_due;
                        }
                    }
                    self.window_start = *window_start;
                    if let (Some(pending), Some(due)) =
                        (&mut self.pending_extension, requested_reply_due)
                    {
                        pending.requested_reply_due = *due;
                    }
                }
            }
            EventKind::Withdrawn { .. } | EventKind::MarkedInvalid { .. } => {}
            EventKind::AnsweredDirectly { content } => self.direct_answer = Some(content.clone()),
            EventKind::Merged { master_id, .. } => {
                self.cancel_unfinished_assignments();
                self.status = TicketStatus::Merged;
                self.merged_into = Some(*master_id);
                self.closed_at = Some(at);
                self.warning_level = WarningLevel::None;
                self.clear_pending();
            }
            EventKind::Urged { department_ids, .. } => {
                for department_id in department_ids {
                    if let Some(a) = self.active_assignment_mut(department_id) {
                        a.urged += 1;
                    }
                }
                self.urge_count += 1;
                self.supervision_level = self
                    .supervision_level
                    .max(Some(crate::SupervisionLevel::Urge));
            }
            EventKind::Supervised {
                level,
                feedback_due,
                department_ids,
                ..
            } => {
                for department_id in department_ids {
                    if let Some(a) = self.active_assignment_mut(department_id) {
                        a.supervised += 1;
                    }
                }
                self.supervision_level = self.supervision_level.max(Some(*level));
                self.supervision_feedback_due = *feedback_due;
            }
            EventKind::WarningChanged { level, .. } => self.warning_level = *level,
        }
    }

    fn active_assignment_mut(&mut self, department_id: &DepartmentId) -> Option<&mut Assignment> {
        self.assignments
            .iter_mut()
            .find(|a| a.status.is_active() && &a.department_id == department_id)
    }

    /// The live lead and delegate parts: they share the reply deadline.
    fn handler_assignments_mut(&mut self) -> impl Iterator<Item = &mut Assignment> {
        self.assignments
            .iter_mut()
            .filter(|a| a.status.is_active() && a.role != AssignmentRole::CoHandler)
    }

    /// Folds a resume written before resumes recorded their deadlines: every live
    /// deadline (and a pending extension's date, which must stay past it) moved by
    /// the wall-clock time stopped.
    fn resume_by_wall_clock(&mut self, stopped: SignedDuration) {
        let shift = |at: Timestamp| at.saturating_add(stopped).unwrap_or(at);
        for a in self.assignments.iter_mut().filter(|a| a.status.is_active()) {
            a.sign_due = shift(a.sign_due);
            a.reply_due = shift(a.reply_due);
        }
        self.window_start = self.window_start.map(shift);
        if let Some(pending) = &mut self.pending_extension {
            pending.requested_reply_due = shift(pending.requested_reply_due);
        }
    }

    fn cancel_unfinished_assignments(&mut self) {
        for a in self.assignments.iter_mut() {
            if matches!(
                a.status,
                AssignmentStatus::Dispatched | AssignmentStatus::Signed
            ) {
                a.status = AssignmentStatus::Cancelled;
            }
        }
    }

    fn clear_pending(&mut self) {
        self.pending_return = None;
        self.pending_extension = None;
        self.pending_suspension = None;
        self.suspended = false;
        self.suspended_at = None;
    }
}
