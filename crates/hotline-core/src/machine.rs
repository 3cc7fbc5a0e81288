//! The closed loop as one state machine: [`Ticket::decide`] turns a command into
//! the events it causes (or a typed refusal), and [`Ticket::apply`] folds an
//! event into the ticket. Deciding never mutates; applying never refuses. So a
//! stored ticket is always `Ticket::replay` of its stored events.

use jiff::{SignedDuration, Timestamp};

use crate::command::{Action, Command, Context, DispatchTarget, NewTicket};
use crate::error::{DomainError, Limit, ReplayError};
use crate::event::{Event, EventKind, Role};
use crate::ids::{DepartmentId, TicketId};
use crate::model::{
    Assignment, AssignmentRole, AssignmentStatus, CallbackRecord, CloseReason, DeadlineKind,
    PendingExtension, PendingReturn, PendingSuspension, Reply, Satisfaction, Ticket, TicketStatus,
    WarningLevel,
};
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
    validate_new_ticket(&new, ctx)?;
    if number.trim().is_empty() {
        return Err(DomainError::InvalidField {
            field: "number",
            reason: "must not be empty".to_owned(),
        });
    }
    let category_path = new.category.as_ref().map(|c| c.path.clone());
    let mut kinds = vec![EventKind::Created {
        number: number.to_owned(),
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
    }];
    if let Some(target) = new.auto_dispatch {
        kinds.push(dispatch_event(
            &target,
            new.appeal_type,
            new.priority,
            category_path.as_deref(),
            true,
            String::new(),
            ctx,
        ));
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
    Ok(Decision { ticket, events })
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

fn dispatch_event(
    target: &DispatchTarget,
    appeal_type: crate::model::AppealType,
    priority: crate::model::Priority,
    category: Option<&str>,
    automatic: bool,
    note: String,
    ctx: &Context<'_>,
) -> EventKind {
    let (sign_within, reply_within) = ctx.policy.windows_for(appeal_type, priority, category);
    EventKind::Dispatched {
        lead_department_id: target.lead_department_id.clone(),
        co_department_ids: target.co_department_ids.clone(),
        sign_due: ctx.calendar.add(ctx.now, sign_within),
        reply_due: ctx.calendar.add(ctx.now, reply_within),
        automatic,
        note,
    }
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
        Ok(Decision { ticket, events })
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
        let limits = ctx.policy.limits;
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
                    self.appeal_type,
                    self.priority,
                    self.category.as_ref().map(|c| c.path.as_str()),
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
                let (sign_within, _) = ctx.policy.windows_for(
                    self.appeal_type,
                    self.priority,
                    self.category.as_ref().map(|c| c.path.as_str()),
                );
                let reply_due = from.reply_due;
                let sign_due = ctx.calendar.add(ctx.now, sign_within).min(reply_due);
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
                    callback_due: ctx.calendar.add(ctx.now, ctx.policy.callback_within),
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
                // Whole seconds, as the event records them: the ticket's deadlines and its
                // assignments' (shifted by `suspended_seconds` on apply) must move alike.
                let stopped = SignedDuration::from_secs(
                    ctx.now
                        .duration_since(since)
                        .max(SignedDuration::ZERO)
                        .as_secs(),
                );
                let shift =
                    |due: Option<Timestamp>| due.map(|d| d.saturating_add(stopped).unwrap_or(d));
                Ok(vec![EventKind::Resumed {
                    sign_due: shift(self.sign_due),
                    reply_due: shift(self.reply_due),
                    suspended_seconds: stopped.as_secs(),
                    note: note("note", text)?,
                }])
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

    fn reopen_event(
        &self,
        action: Action,
        note: String,
        ctx: &Context<'_>,
    ) -> Result<EventKind, DomainError> {
        let max = ctx.policy.limits.max_reopens;
        if self.reopen_count >= max {
            return Err(DomainError::LimitExceeded {
                limit: Limit::Reopens,
                max,
            });
        }
        if self.lead_assignment().is_none() {
            return Err(self.refuse(action, "it has no lead department to reopen to"));
        }
        let (_, reply_within) = ctx.policy.windows_for(
            self.appeal_type,
            self.priority,
            self.category.as_ref().map(|c| c.path.as_str()),
        );
        Ok(EventKind::Reopened {
            reply_due: ctx.calendar.add(ctx.now, reply_within),
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
            EventKind::Reopened { .. }
            | EventKind::ReplySentBack { .. }
            | EventKind::WarningChanged { .. }
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
                self.warning_level = WarningLevel::None;
                self.pending_return = None;
                self.pending_extension = None;
                self.pending_suspension = None;
                self.suspended = false;
                self.suspended_at = None;
            }
            EventKind::ReturnRejected { .. } => {
                self.pending_return = None;
                self.rejected_return_count += 1;
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
                self.pending_extension = None;
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
                ..
            } => {
                self.suspended = false;
                self.suspended_at = None;
                self.sign_due = *sign_due;
                self.reply_due = *reply_due;
                let stopped = SignedDuration::from_secs(*suspended_seconds);
                for a in self.assignments.iter_mut().filter(|a| a.status.is_active()) {
                    a.sign_due = a.sign_due.saturating_add(stopped).unwrap_or(a.sign_due);
                    a.reply_due = a.reply_due.saturating_add(stopped).unwrap_or(a.reply_due);
                }
                // A pending extension asked for a date past the old deadline; it moves with
                // the deadline, or approving it would now bring the deadline forward.
                if let Some(pending) = &mut self.pending_extension {
                    let due = pending.requested_reply_due;
                    pending.requested_reply_due = due.saturating_add(stopped).unwrap_or(due);
                }
            }
            EventKind::Withdrawn { .. } | EventKind::MarkedInvalid { .. } => {}
            EventKind::AnsweredDirectly { content } => self.direct_answer = Some(content.clone()),
            EventKind::Merged { master_id, .. } => {
                self.cancel_unfinished_assignments();
                self.status = TicketStatus::Merged;
                self.merged_into = Some(*master_id);
                self.closed_at = Some(at);
                self.clear_pending();
            }
            EventKind::Urged { .. } => {
                self.urge_count += 1;
                self.supervision_level = self
                    .supervision_level
                    .max(Some(crate::SupervisionLevel::Urge));
            }
            EventKind::Supervised {
                level,
                feedback_due,
                ..
            } => {
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
