//! Commands: what a caller asks to happen to a ticket.

use jiff::Timestamp;

use crate::calendar::Calendar;
use crate::directory::Directory;
use crate::event::Actor;
use crate::ids::{DepartmentId, TicketId};
use crate::model::{
    AppealType, Category, Channel, Citizen, GeoPoint, Priority, ReplyResult, Satisfaction,
    SupervisionLevel, TicketStatus, coded_enum,
};
use crate::policy::DeadlinePolicy;
use crate::routing::RoutingDecision;

/// What the state machine needs besides the ticket: time, actor and reference data.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The instant the command takes effect.
    pub now: Timestamp,
    /// Who is acting.
    pub actor: &'a Actor,
    /// The deadline policy in force. Read only at intake, where it is resolved
    /// into the new ticket's own [`TicketPolicy`](crate::TicketPolicy); every
    /// later command uses the ticket's.
    pub policy: &'a DeadlinePolicy,
    /// Working-time arithmetic.
    pub calendar: &'a dyn Calendar,
    /// Departments and taxonomy.
    pub directory: &'a Directory,
}

/// Where routing sends a new ticket when it is confident enough to dispatch at create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DispatchTarget {
    /// The accountable department.
    pub lead_department_id: DepartmentId,
    /// Departments that help.
    pub co_department_ids: Vec<DepartmentId>,
}

/// An appeal as taken in.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    /// Intake channel.
    pub channel: Channel,
    /// What the citizen wants.
    pub appeal_type: AppealType,
    /// How fast it must move.
    pub priority: Priority,
    /// The person.
    pub citizen: Citizen,
    /// One-line summary.
    pub title: String,
    /// The appeal text.
    pub body: String,
    /// Street address.
    pub address: String,
    /// Administrative code.
    pub region_code: String,
    /// Map position.
    pub location: Option<GeoPoint>,
    /// Category chosen by the operator or the classifier; must exist in the taxonomy.
    pub category: Option<Category>,
    /// Dispatch at create (a confident classification matched a routing rule).
    pub auto_dispatch: Option<DispatchTarget>,
    /// Why intake routing decided as it did; recorded on the ticket.
    pub routing: Option<RoutingDecision>,
}

/// A request to change a ticket. Each variant names the action of the closed loop it performs.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Hand the ticket to a lead department and co-handlers.
    Dispatch {
        lead_department_id: DepartmentId,
        co_department_ids: Vec<DepartmentId>,
        note: String,
    },
    /// Sign for the acting department's part.
    Sign { note: String },
    /// The lead asks to give the ticket back.
    Return { reason: String },
    /// A dispatcher decides a return request.
    DecideReturn { approve: bool, note: String },
    /// Pass the acting department's part to a child department.
    Delegate {
        to_department_id: DepartmentId,
        note: String,
    },
    /// A co-handler's opinion.
    SubmitOpinion { content: String },
    /// Ask for a later reply deadline.
    RequestExtension {
        requested_reply_due: Timestamp,
        reason: String,
    },
    /// A supervisor decides an extension request.
    DecideExtension { approve: bool, note: String },
    /// A handling note.
    AddProgress { content: String },
    /// The lead's answer.
    Reply {
        result: ReplyResult,
        content: String,
    },
    /// The center reviews the reply: accept, or send it back to the department.
    ReviewReply { accept: bool, note: String },
    /// The callback to the citizen; `reopen` sends an unsatisfied case back.
    RecordCallback {
        contacted: bool,
        resolved: bool,
        satisfaction: Option<Satisfaction>,
        comment: String,
        reopen: bool,
    },
    /// Reopen a ticket closed with an unsatisfied callback.
    Reopen { note: String },
    /// The lead contests an unsatisfied rating.
    DisputeRating { evidence: String },
    /// A supervisor decides the dispute.
    DecideDispute { approve: bool, note: String },
    /// The handler asks to stop the clock.
    RequestSuspension {
        reason: String,
        resume_by: Option<Timestamp>,
    },
    /// A supervisor decides the suspension request.
    DecideSuspension { approve: bool, note: String },
    /// Start the clock again.
    Resume { note: String },
    /// The citizen withdraws.
    Withdraw { reason: String },
    /// The operator answers at intake.
    AnswerDirectly { content: String },
    /// Fold this ticket into a master ticket; the caller loads the master.
    Merge {
        master_id: TicketId,
        master_status: TicketStatus,
        note: String,
    },
    /// Not a real appeal.
    MarkInvalid { reason: String },
    /// 催办.
    Urge { note: String },
    /// 督办 / 领导督办.
    Supervise {
        level: SupervisionLevel,
        note: String,
        feedback_due: Option<Timestamp>,
    },
    /// Close a replied ticket whose callback is not wanted or is past due.
    AutoClose,
}

coded_enum! {
    /// The name of an action, for errors, authorization and logs.
    Action {
        Create = "CREATE", Dispatch = "DISPATCH", Sign = "SIGN", Return = "RETURN",
        DecideReturn = "DECIDE_RETURN", Delegate = "DELEGATE", SubmitOpinion = "SUBMIT_OPINION",
        RequestExtension = "REQUEST_EXTENSION", DecideExtension = "DECIDE_EXTENSION",
        AddProgress = "ADD_PROGRESS", Reply = "REPLY", ReviewReply = "REVIEW_REPLY",
        RecordCallback = "RECORD_CALLBACK", Reopen = "REOPEN", DisputeRating = "DISPUTE_RATING",
        DecideDispute = "DECIDE_DISPUTE", RequestSuspension = "REQUEST_SUSPENSION",
        DecideSuspension = "DECIDE_SUSPENSION", Resume = "RESUME", Withdraw = "WITHDRAW",
        AnswerDirectly = "ANSWER_DIRECTLY", Merge = "MERGE", MarkInvalid = "MARK_INVALID",
        Urge = "URGE", Supervise = "SUPERVISE", AutoClose = "AUTO_CLOSE",
    }
}

impl Command {
    /// Returns the action this command performs.
    pub fn action(&self) -> Action {
        match self {
            Command::Dispatch { .. } => Action::Dispatch,
            Command::Sign { .. } => Action::Sign,
            Command::Return { .. } => Action::Return,
            Command::DecideReturn { .. } => Action::DecideReturn,
            Command::Delegate { .. } => Action::Delegate,
            Command::SubmitOpinion { .. } => Action::SubmitOpinion,
            Command::RequestExtension { .. } => Action::RequestExtension,
            Command::DecideExtension { .. } => Action::DecideExtension,
            Command::AddProgress { .. } => Action::AddProgress,
            Command::Reply { .. } => Action::Reply,
            Command::ReviewReply { .. } => Action::ReviewReply,
            Command::RecordCallback { .. } => Action::RecordCallback,
            Command::Reopen { .. } => Action::Reopen,
            Command::DisputeRating { .. } => Action::DisputeRating,
            Command::DecideDispute { .. } => Action::DecideDispute,
            Command::RequestSuspension { .. } => Action::RequestSuspension,
            Command::DecideSuspension { .. } => Action::DecideSuspension,
            Command::Resume { .. } => Action::Resume,
            Command::Withdraw { .. } => Action::Withdraw,
            Command::AnswerDirectly { .. } => Action::AnswerDirectly,
            Command::Merge { .. } => Action::Merge,
            Command::MarkInvalid { .. } => Action::MarkInvalid,
            Command::Urge { .. } => Action::Urge,
            Command::Supervise { .. } => Action::Supervise,
            Command::AutoClose => Action::AutoClose,
        }
    }
}
