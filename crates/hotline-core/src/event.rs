//! Events: the append-only record of everything that happened to a ticket (全程留痕).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{DepartmentId, TicketId};
use crate::model::{
    AppealType, Category, Channel, Citizen, CloseReason, DeadlineKind, GeoPoint, Priority,
    ReplyResult, Satisfaction, SupervisionLevel, WarningLevel, coded_enum,
};
use crate::policy::TicketPolicy;
use crate::routing::RoutingDecision;

coded_enum! {
    /// What a credential may do; the server's authorization matrix is keyed on it.
    Role {
        Operator = "OPERATOR", Department = "DEPARTMENT", Supervisor = "SUPERVISOR",
        Admin = "ADMIN",
        /// The service itself (sweeper, auto-close).
        System = "SYSTEM",
    }
}

/// Who did it: recorded on every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The credential's id (an API key id, or `system`).
    pub id: String,
    /// The credential's role.
    pub role: Role,
    /// The department a DEPARTMENT credential is bound to.
    pub department_id: Option<DepartmentId>,
}

impl Actor {
    /// The service itself, for sweeper-driven changes.
    pub fn system() -> Self {
        Self {
            id: "system".to_owned(),
            role: Role::System,
            department_id: None,
        }
    }
}

/// One thing that happened to one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The ticket it happened to.
    pub ticket_id: TicketId,
    /// Position in the ticket's timeline, from 1, without gaps.
    pub seq: u64,
    /// The ticket version this event's command produced (one command may emit several events).
    pub version: u64,
    /// When it happened.
    pub at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, with everything needed to replay it without policy or clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
#[expect(
    clippy::large_enum_variant,
    reason = "one Created per ticket, built once and serialised; boxing it would cost every reader a hop"
)]
pub enum EventKind {
    /// The appeal was taken in.
    Created {
        number: String,
        channel: Channel,
        appeal_type: AppealType,
        priority: Priority,
        citizen: Citizen,
        title: String,
        body: String,
        address: String,
        region_code: String,
        location: Option<GeoPoint>,
        category: Option<Category>,
        /// The deadline policy the ticket runs under from now on (absent in events
        /// written before it was recorded: those read the built-in default).
        #[serde(default)]
        policy: TicketPolicy,
        /// Intake routing's decision and its reasons (absent in older events).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing: Option<Box<RoutingDecision>>,
    },
    /// Handed to a lead department and optional co-handlers.
    Dispatched {
        lead_department_id: DepartmentId,
        co_department_ids: Vec<DepartmentId>,
        sign_due: Timestamp,
        reply_due: Timestamp,
        /// Dispatched at create by a routing rule, not by a person.
        automatic: bool,
        note: String,
    },
    /// A department signed for its part (签收).
    Signed {
        department_id: DepartmentId,
        late: bool,
    },
    /// The lead asked to give the ticket back (退单).
    ReturnRequested {
        department_id: DepartmentId,
        reason: String,
    },
    /// A dispatcher took the ticket back: it waits for dispatch again.
    ReturnApproved {
        department_id: DepartmentId,
        note: String,
    },
    /// A dispatcher refused the return: counted against the department.
    ReturnRejected {
        department_id: DepartmentId,
        note: String,
    },
    /// Passed down to a child department (二级派单).
    Delegated {
        from_department_id: DepartmentId,
        to_department_id: DepartmentId,
        sign_due: Timestamp,
        reply_due: Timestamp,
        note: String,
    },
    /// A co-handler's opinion (会办意见).
    OpinionSubmitted {
        department_id: DepartmentId,
        content: String,
    },
    /// The handler asked for a later reply deadline.
    ExtensionRequested {
        department_id: DepartmentId,
        requested_reply_due: Timestamp,
        reason: String,
    },
    /// A supervisor granted the extension.
    ExtensionApproved { reply_due: Timestamp, note: String },
    /// A supervisor refused the extension.
    ExtensionRejected { note: String },
    /// A handling note.
    ProgressAdded {
        department_id: DepartmentId,
        content: String,
    },
    /// The lead answered (答复).
    Replied {
        department_id: DepartmentId,
        result: ReplyResult,
        content: String,
        callback_due: Timestamp,
    },
    /// The center accepted the reply on review.
    ReplyAccepted { note: String },
    /// The center sent the reply back (审核退回).
    ReplySentBack { note: String },
    /// The citizen was called back (回访), or the attempt failed.
    CallbackRecorded {
        contacted: bool,
        resolved: bool,
        satisfaction: Option<Satisfaction>,
        comment: String,
    },
    /// Sent back to the same department after an unsatisfied callback (重办).
    Reopened { reply_due: Timestamp, note: String },
    /// The loop ended.
    Closed { reason: CloseReason },
    /// The lead contested an unsatisfied rating (申诉).
    RatingDisputed {
        department_id: DepartmentId,
        evidence: String,
    },
    /// A supervisor decided the dispute; `exempt` removes the rating from statistics.
    DisputeDecided { exempt: bool, note: String },
    /// The handler asked to stop the clock.
    SuspensionRequested {
        department_id: DepartmentId,
        reason: String,
        resume_by: Option<Timestamp>,
    },
    /// A supervisor stopped the clock (挂起).
    Suspended { note: String },
    /// A supervisor refused to stop the clock.
    SuspensionRejected { note: String },
    /// The clock runs again; every running deadline moved by the time stopped,
    /// counted the way its window counts (working time for working-time windows).
    /// The new deadlines are recorded, so replay needs no calendar.
    Resumed {
        /// The ticket's (the lead's) sign deadline after the move.
        sign_due: Option<Timestamp>,
        /// The ticket's (the lead's) reply deadline after the move.
        reply_due: Option<Timestamp>,
        /// Wall-clock seconds the clock stood still.
        suspended_seconds: i64,
        note: String,
        /// Every live part's deadlines after the move. Empty in events written
        /// before it was recorded: then every live deadline moves by
        /// `suspended_seconds`, as those events meant.
        #[serde(default)]
        parts: Vec<PartDeadlines>,
        /// The ticket's `window_start` after the move.
        #[serde(default)]
        window_start: Option<Timestamp>,
        /// A pending extension's requested deadline after the move.
        #[serde(default)]
        requested_reply_due: Option<Timestamp>,
    },
    /// The citizen withdrew the appeal (撤诉).
    Withdrawn { reason: String },
    /// An operator answered at intake (直接答复).
    AnsweredDirectly { content: String },
    /// Folded into a master ticket (并件).
    Merged { master_id: TicketId, note: String },
    /// Not a real appeal (无效).
    MarkedInvalid { reason: String },
    /// 催办: a notice to the handling departments.
    Urged {
        department_ids: Vec<DepartmentId>,
        note: String,
    },
    /// 督办 / 领导督办: formal supervision with a feedback date.
    Supervised {
        level: SupervisionLevel,
        department_ids: Vec<DepartmentId>,
        note: String,
        feedback_due: Option<Timestamp>,
    },
    /// A deadline's traffic light changed.
    WarningChanged {
        kind: DeadlineKind,
        level: WarningLevel,
    },
}

/// One live part's deadlines, as a resume moved them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartDeadlines {
    /// The department whose live part this is (a department holds at most one).
    pub department_id: DepartmentId,
    /// Its sign deadline (unchanged once signed).
    pub sign_due: Timestamp,
    /// Its reply deadline (unchanged once replied).
    pub reply_due: Timestamp,
}

impl EventKind {
    /// Returns the event's action code as it appears on timelines (`DISPATCHED`, ...).
    pub fn action(&self) -> &'static str {
        match self {
            EventKind::Created { .. } => "CREATED",
            EventKind::Dispatched { .. } => "DISPATCHED",
            EventKind::Signed { .. } => "SIGNED",
            EventKind::ReturnRequested { .. } => "RETURN_REQUESTED",
            EventKind::ReturnApproved { .. } => "RETURN_APPROVED",
            EventKind::ReturnRejected { .. } => "RETURN_REJECTED",
            EventKind::Delegated { .. } => "DELEGATED",
            EventKind::OpinionSubmitted { .. } => "OPINION_SUBMITTED",
            EventKind::ExtensionRequested { .. } => "EXTENSION_REQUESTED",
            EventKind::ExtensionApproved { .. } => "EXTENSION_APPROVED",
            EventKind::ExtensionRejected { .. } => "EXTENSION_REJECTED",
            EventKind::ProgressAdded { .. } => "PROGRESS_ADDED",
            EventKind::Replied { .. } => "REPLIED",
            EventKind::ReplyAccepted { .. } => "REPLY_ACCEPTED",
            EventKind::ReplySentBack { .. } => "REPLY_SENT_BACK",
            EventKind::CallbackRecorded { .. } => "CALLBACK_RECORDED",
            EventKind::Reopened { .. } => "REOPENED",
            EventKind::Closed { .. } => "CLOSED",
            EventKind::RatingDisputed { .. } => "RATING_DISPUTED",
            EventKind::DisputeDecided { .. } => "DISPUTE_DECIDED",
            EventKind::SuspensionRequested { .. } => "SUSPENSION_REQUESTED",
            EventKind::Suspended { .. } => "SUSPENDED",
            EventKind::SuspensionRejected { .. } => "SUSPENSION_REJECTED",
            EventKind::Resumed { .. } => "RESUMED",
            EventKind::Withdrawn { .. } => "WITHDRAWN",
            EventKind::AnsweredDirectly { .. } => "ANSWERED_DIRECTLY",
            EventKind::Merged { .. } => "MERGED",
            EventKind::MarkedInvalid { .. } => "MARKED_INVALID",
            EventKind::Urged { .. } => "URGED",
            EventKind::Supervised { .. } => "SUPERVISED",
            EventKind::WarningChanged { .. } => "WARNING_CHANGED",
        }
    }
}
