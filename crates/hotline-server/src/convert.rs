//! Proto ↔ domain conversions, all in one place. Proto types stop here.
//!
//! The orphan rule forbids `impl TryFrom<pb::X> for hotline_core::Y` in this
//! crate (both types are foreign), so the two directions are local traits:
//! [`TryFromProto`] validates and collects every field violation into one
//! INVALID_ARGUMENT, and [`IntoProto`] never fails. Citizen data goes out only
//! through [`ticket_to_proto`] and [`timeline_event_to_proto`], which take the
//! caller's [`Pii`] view explicitly so it cannot be forgotten.

use hotline_core::{
    AppealType, Assignment, AssignmentRole, AssignmentStatus, CallbackRecord, Category, Channel,
    Citizen, CloseReason, Command, DeadlineKind, DeadlinePolicy, Department, DepartmentId,
    DepartmentStats, Directory, EventKind, GeoPoint, Limits, NewTicket, PolicyEntry, Priority,
    Reply, ReplyResult, Role, RoutingDecision, RoutingOutcome, RoutingRule, Satisfaction,
    SupervisionLevel, Ticket, TicketId, TicketStatus, WarningLevel, Window,
};
use hotline_proto::v1 as pb;
use hotline_store::{ApiKeyRecord, PageRequest, StoredEvent};
use jiff::{SignedDuration, Timestamp};

use crate::analysis::{Candidate, HotspotRow};
use crate::error::{ApiError, FieldViolation};
use crate::settings::{CalendarDay, CalendarDoc, WorkingInterval};

/// Converts a proto value into a validated domain value.
pub trait TryFromProto<P>: Sized {
    /// Validates `proto` and converts it.
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] with one violation per bad field.
    fn try_from_proto(proto: P) -> Result<Self, ApiError>;
}

/// Converts a domain value into its proto form.
pub trait IntoProto<P> {
    /// Converts `self`.
    fn into_proto(self) -> P;
}

/// Collects field violations so one response reports every bad field.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Records a violation.
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldViolation::new(field, reason));
    }

    /// Returns the value, or records its violation and returns `None`.
    pub fn take<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        result.map_err(|v| self.0.push(v)).ok()
    }

    /// Returns `Ok` when nothing was recorded.
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] with everything recorded.
    pub fn check(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }

    /// Turns what was recorded into an error (for the `let ... else` after a failed `take`).
    pub fn into_error(self) -> ApiError {
        if self.0.is_empty() {
            ApiError::Internal(anyhow::anyhow!("conversion failed without a violation"))
        } else {
            ApiError::InvalidArgument(self.0)
        }
    }
}

// ---------------------------------------------------------------- enums

/// A domain enum with a proto twin whose zero value is `_UNSPECIFIED`.
pub trait ProtoEnum: Sized + Copy {
    /// The generated enum.
    type Proto: Copy + TryFrom<i32> + Into<i32>;
    /// Returns the proto value.
    fn to_proto(self) -> Self::Proto;
    /// Returns the domain value; `None` for `_UNSPECIFIED` and values with no domain twin.
    fn from_proto(proto: Self::Proto) -> Option<Self>;
}

macro_rules! proto_enum {
    ($name:ident { $($domain:ident <=> $proto:ident),+ $(,)? }) => {
        impl ProtoEnum for $name {
            type Proto = pb::$name;
            fn to_proto(self) -> pb::$name {
                match self { $($name::$domain => pb::$name::$proto),+ }
            }
            fn from_proto(proto: pb::$name) -> Option<Self> {
                match proto { $(pb::$name::$proto => Some($name::$domain),)+ _ => None }
            }
        }
    };
}

proto_enum!(Channel {
    Phone <=> Phone, Web <=> Web, App <=> App, Wechat <=> Wechat, Email <=> Email, Sms <=> Sms,
    Letter <=> Letter, Visit <=> Visit, Mailbox <=> Mailbox, Media <=> Media,
});
proto_enum!(AppealType {
    Consultation <=> Consultation, Request <=> Request, Complaint <=> Complaint,
    Report <=> Report, Suggestion <=> Suggestion, Praise <=> Praise,
});
proto_enum!(Priority { Normal <=> Normal, Urgent <=> Urgent, Emergency <=> Emergency });
proto_enum!(RoutingOutcome {
    AutoDispatched <=> AutoDispatched, NoCategory <=> NoCategory, NoRule <=> NoRule,
    RuleNotDirect <=> RuleNotDirect, BelowThreshold <=> BelowThreshold,
    UnknownDepartment <=> UnknownDepartment,
});
proto_enum!(TicketStatus {
    PendingDispatch <=> PendingDispatch, Dispatched <=> Dispatched, InProgress <=> InProgress,
    Replied <=> Replied, Closed <=> Closed, Merged <=> Merged,
});
proto_enum!(WarningLevel {
    None <=> None, Warning <=> Warning, Overdue <=> Overdue, SeriouslyOverdue <=> SeriouslyOverdue,
});
proto_enum!(AssignmentRole { Lead <=> Lead, CoHandler <=> CoHandler, Delegate <=> Delegate });
proto_enum!(ReplyResult { Solved <=> Solved, Explained <=> Explained, Phased <=> Phased });
proto_enum!(Satisfaction {
    Satisfied <=> Satisfied, BasicallySatisfied <=> BasicallySatisfied,
    Unsatisfied <=> Unsatisfied,
});
proto_enum!(CloseReason {
    Callback <=> Callback, NoCallback <=> NoCallback, AnsweredDirectly <=> AnsweredDirectly,
    Withdrawn <=> Withdrawn, Invalid <=> Invalid,
});
proto_enum!(SupervisionLevel {
    Urge <=> Urge, Supervise <=> Supervise, LeaderSupervise <=> LeaderSupervise,
});
proto_enum!(DeadlineKind { Sign <=> Sign, Reply <=> Reply, Callback <=> Callback });

/// Roles as the API knows them; the internal SYSTEM role has no proto value.
impl ProtoEnum for Role {
    type Proto = pb::Role;
    fn to_proto(self) -> pb::Role {
        match self {
            Role::Operator => pb::Role::Operator,
            Role::Department => pb::Role::Department,
            Role::Supervisor => pb::Role::Supervisor,
            Role::Admin => pb::Role::Admin,
            Role::System => pb::Role::Unspecified,
        }
    }
    fn from_proto(proto: pb::Role) -> Option<Self> {
        match proto {
            pb::Role::Operator => Some(Role::Operator),
            pb::Role::Department => Some(Role::Department),
            pb::Role::Supervisor => Some(Role::Supervisor),
            pb::Role::Admin => Some(Role::Admin),
            pb::Role::Unspecified => None,
        }
    }
}

/// Returns the wire value of a domain enum.
pub fn enum_to_i32<E: ProtoEnum>(value: E) -> i32 {
    value.to_proto().into()
}

/// Parses a required enum field: `_UNSPECIFIED` and unknown numbers are refused.
pub fn required_enum<E: ProtoEnum>(field: &str, raw: i32) -> Result<E, FieldViolation> {
    match optional_enum::<E>(field, raw)? {
        Some(value) => Ok(value),
        None => Err(FieldViolation::new(field, "must be set")),
    }
}

/// Parses an enum field where `_UNSPECIFIED` means "any" or "none".
pub fn optional_enum<E: ProtoEnum>(field: &str, raw: i32) -> Result<Option<E>, FieldViolation> {
    if raw == 0 {
        return Ok(None);
    }
    let proto = E::Proto::try_from(raw)
        .map_err(|_| FieldViolation::new(field, format!("unknown value {raw}")))?;
    E::from_proto(proto)
        .map(Some)
        .ok_or_else(|| FieldViolation::new(field, format!("value {raw} is not accepted here")))
}

// ---------------------------------------------------------------- scalars

/// Converts a domain instant to a protobuf timestamp.
pub fn timestamp_to_proto(at: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.as_second(),
        nanos: at.subsec_nanosecond(),
    }
}

fn opt_timestamp(at: Option<Timestamp>) -> Option<prost_types::Timestamp> {
    at.map(timestamp_to_proto)
}

/// Parses a protobuf timestamp.
pub fn timestamp_from_proto(
    field: &str,
    at: &prost_types::Timestamp,
) -> Result<Timestamp, FieldViolation> {
    Timestamp::new(at.seconds, at.nanos)
        .map_err(|_| FieldViolation::new(field, "is not a valid timestamp"))
}

/// Parses an optional protobuf timestamp.
pub fn optional_timestamp(
    field: &str,
    at: Option<&prost_types::Timestamp>,
) -> Result<Option<Timestamp>, FieldViolation> {
    at.map(|t| timestamp_from_proto(field, t)).transpose()
}

/// Parses a required protobuf timestamp.
pub fn required_timestamp(
    field: &str,
    at: Option<&prost_types::Timestamp>,
) -> Result<Timestamp, FieldViolation> {
    optional_timestamp(field, at)?.ok_or_else(|| FieldViolation::new(field, "is required"))
}

/// Parses a ticket id (a UUID).
pub fn ticket_id(field: &str, raw: &str) -> Result<TicketId, FieldViolation> {
    if raw.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    raw.parse()
        .map_err(|_| FieldViolation::new(field, "must be a UUID"))
}

/// Parses a required department id.
pub fn department_id(field: &str, raw: &str) -> Result<DepartmentId, FieldViolation> {
    if raw.trim().is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if raw.chars().count() > MAX_DEPARTMENT_ID_CHARS {
        return Err(FieldViolation::new(field, "is too long"));
    }
    Ok(DepartmentId::new(raw))
}

/// Parses an optional department id (empty means none).
pub fn optional_department_id(
    field: &str,
    raw: &str,
) -> Result<Option<DepartmentId>, FieldViolation> {
    if raw.is_empty() {
        Ok(None)
    } else {
        department_id(field, raw).map(Some)
    }
}

fn expected_version(raw: Option<i64>) -> Result<Option<u64>, FieldViolation> {
    raw.map(|v| {
        u64::try_from(v)
            .map_err(|_| FieldViolation::new("expected_version", "must not be negative"))
    })
    .transpose()
}

/// Parses page size and token.
pub fn page_request(page_size: i32, page_token: &str) -> Result<PageRequest, FieldViolation> {
    let size = u32::try_from(page_size)
        .map_err(|_| FieldViolation::new("page_size", "must not be negative"))?;
    let token = (!page_token.is_empty()).then(|| page_token.to_owned());
    Ok(PageRequest { size, token })
}

/// Longest department id accepted.
const MAX_DEPARTMENT_ID_CHARS: usize = 64;
/// Longest `request_id` accepted.
const MAX_REQUEST_ID_CHARS: usize = 128;
/// Longest department or key name accepted.
const MAX_NAME_CHARS: usize = 100;

// ---------------------------------------------------------------- intake

/// A validated CreateTicket request, before classification and routing.
#[derive(Debug, Clone)]
pub struct Intake {
    /// Idempotency key.
    pub request_id: Option<String>,
    /// The appeal; `category` is set from the hint, `auto_dispatch` is left to routing.
    pub ticket: NewTicket,
}

impl TryFromProto<(pb::CreateTicketRequest, &Directory)> for Intake {
    fn try_from_proto(
        (request, directory): (pb::CreateTicketRequest, &Directory),
    ) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        if request.request_id.chars().count() > MAX_REQUEST_ID_CHARS {
            v.push(
                "request_id",
                format!("is longer than {MAX_REQUEST_ID_CHARS} characters"),
            );
        }
        let channel = v.take(required_enum::<Channel>("channel", request.channel));
        let appeal_type = v.take(required_enum::<AppealType>(
            "appeal_type",
            request.appeal_type,
        ));
        let priority = v.take(required_enum::<Priority>("priority", request.priority));
        if request.citizen.is_none() {
            v.push("citizen", "is required");
        }
        let location = match (request.latitude, request.longitude) {
            (None, None) => None,
            (Some(latitude), Some(longitude)) => Some(GeoPoint {
                latitude,
                longitude,
            }),
            _ => {
                v.push("latitude", "latitude and longitude must be given together");
                None
            }
        };
        let category = if request.category_hint.is_empty() {
            None
        } else if let Some(path) = directory.taxonomy.resolve(&request.category_hint) {
            // An operator's choice, by code or path: certain, and recorded as an
            // override of the classifier.
            Some(Category {
                path: path.to_owned(),
                label: path.to_owned(),
                confidence: 1.0,
                overridden: true,
                code: directory
                    .taxonomy
                    .code_of(path)
                    .unwrap_or_default()
                    .to_owned(),
            })
        } else {
            v.push(
                "category_hint",
                "is neither a code nor a path of the taxonomy",
            );
            None
        };
        let (Some(channel), Some(appeal_type), Some(priority), Some(citizen)) =
            (channel, appeal_type, priority, request.citizen)
        else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok(Intake {
            request_id: (!request.request_id.is_empty()).then_some(request.request_id),
            ticket: NewTicket {
                routing: None,
                channel,
                appeal_type,
                priority,
                citizen: Citizen {
                    name: citizen.name,
                    phone: citizen.phone,
                    anonymous: citizen.anonymous,
                    confidential: citizen.confidential,
                    wants_callback: citizen.wants_callback,
                },
                title: request.title,
                body: request.body,
                address: request.address,
                region_code: request.region_code,
                location,
                category,
                auto_dispatch: None,
            },
        })
    }
}

// ---------------------------------------------------------------- mutations

/// Which ticket a mutation is for, and the version the caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Optimistic-concurrency check; `None` skips it.
    pub expected_version: Option<u64>,
}

fn target(v: &mut Violations, raw_id: &str, raw_version: Option<i64>) -> Option<Target> {
    let ticket_id = v.take(ticket_id("ticket_id", raw_id));
    let expected_version = v.take(expected_version(raw_version));
    Some(Target {
        ticket_id: ticket_id?,
        expected_version: expected_version?,
    })
}

/// Implements `TryFromProto<Request> for (Target, Command)` for mutations whose
/// only fallible fields are the target: `$build` turns the request into the command.
macro_rules! simple_mutation {
    ($request:ident, |$r:ident| $build:expr) => {
        impl TryFromProto<pb::$request> for (Target, Command) {
            fn try_from_proto($r: pb::$request) -> Result<Self, ApiError> {
                let mut v = Violations::default();
                let Some(target) = target(&mut v, &$r.ticket_id, $r.expected_version) else {
                    return Err(v.into_error());
                };
                v.check()?;
                Ok((target, $build))
            }
        }
    };
}

simple_mutation!(AnswerDirectlyRequest, |r| Command::AnswerDirectly {
    content: r.content
});
simple_mutation!(ReviewReplyRequest, |r| Command::ReviewReply {
    accept: r.accept,
    note: r.note
});
simple_mutation!(WithdrawTicketRequest, |r| Command::Withdraw {
    reason: r.reason
});
simple_mutation!(MarkInvalidRequest, |r| Command::MarkInvalid {
    reason: r.reason
});
simple_mutation!(SignTicketRequest, |r| Command::Sign { note: r.note });
simple_mutation!(ReturnTicketRequest, |r| Command::Return {
    reason: r.reason
});
simple_mutation!(ResumeTicketRequest, |r| Command::Resume { note: r.note });
simple_mutation!(AddProgressRequest, |r| Command::AddProgress {
    content: r.content
});
simple_mutation!(SubmitOpinionRequest, |r| Command::SubmitOpinion {
    content: r.content
});
simple_mutation!(DisputeRatingRequest, |r| Command::DisputeRating {
    evidence: r.evidence
});
simple_mutation!(UrgeTicketRequest, |r| Command::Urge { note: r.note });
simple_mutation!(DecideExtensionRequest, |r| Command::DecideExtension {
    approve: r.approve,
    note: r.note
});
simple_mutation!(DecideReturnRequest, |r| Command::DecideReturn {
    approve: r.approve,
    note: r.note
});
simple_mutation!(DecideSuspensionRequest, |r| Command::DecideSuspension {
    approve: r.approve,
    note: r.note
});
simple_mutation!(DecideDisputeRequest, |r| Command::DecideDispute {
    approve: r.approve,
    note: r.note
});

impl TryFromProto<pb::DispatchRequest> for (Target, Command) {
    fn try_from_proto(r: pb::DispatchRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let lead = v.take(department_id("lead_department_id", &r.lead_department_id));
        let mut co_department_ids = Vec::with_capacity(r.co_department_ids.len());
        for (i, raw) in r.co_department_ids.iter().enumerate() {
            if let Some(id) = v.take(department_id(&format!("co_department_ids[{i}]"), raw)) {
                co_department_ids.push(id);
            }
        }
        let (Some(target), Some(lead_department_id)) = (target, lead) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::Dispatch {
                lead_department_id,
                co_department_ids,
                note: r.note,
            },
        ))
    }
}

impl TryFromProto<pb::RecordCallbackRequest> for (Target, Command) {
    fn try_from_proto(r: pb::RecordCallbackRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let satisfaction = v.take(optional_enum::<Satisfaction>(
            "satisfaction",
            r.satisfaction,
        ));
        let (Some(target), Some(satisfaction)) = (target, satisfaction) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::RecordCallback {
                contacted: r.contacted,
                resolved: r.resolved,
                satisfaction,
                comment: r.comment,
                reopen: r.reopen,
            },
        ))
    }
}

impl TryFromProto<pb::RequestExtensionRequest> for (Target, Command) {
    fn try_from_proto(r: pb::RequestExtensionRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let due = v.take(required_timestamp(
            "requested_reply_due",
            r.requested_reply_due.as_ref(),
        ));
        let (Some(target), Some(requested_reply_due)) = (target, due) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::RequestExtension {
                requested_reply_due,
                reason: r.reason,
            },
        ))
    }
}

impl TryFromProto<pb::RequestSuspensionRequest> for (Target, Command) {
    fn try_from_proto(r: pb::RequestSuspensionRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let resume_by = v.take(optional_timestamp("resume_by", r.resume_by.as_ref()));
        let (Some(target), Some(resume_by)) = (target, resume_by) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::RequestSuspension {
                reason: r.reason,
                resume_by,
            },
        ))
    }
}

impl TryFromProto<pb::DelegateTicketRequest> for (Target, Command) {
    fn try_from_proto(r: pb::DelegateTicketRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let to = v.take(department_id("to_department_id", &r.to_department_id));
        let (Some(target), Some(to_department_id)) = (target, to) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::Delegate {
                to_department_id,
                note: r.note,
            },
        ))
    }
}

impl TryFromProto<pb::ReplyTicketRequest> for (Target, Command) {
    fn try_from_proto(r: pb::ReplyTicketRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let result = v.take(required_enum::<ReplyResult>("result", r.result));
        let (Some(target), Some(result)) = (target, result) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::Reply {
                result,
                content: r.content,
            },
        ))
    }
}

impl TryFromProto<pb::SuperviseTicketRequest> for (Target, Command) {
    fn try_from_proto(r: pb::SuperviseTicketRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let level = v.take(
            required_enum::<SupervisionLevel>("level", r.level).and_then(|level| {
                if level == SupervisionLevel::Urge {
                    Err(FieldViolation::new(
                        "level",
                        "must be SUPERVISE or LEADER_SUPERVISE",
                    ))
                } else {
                    Ok(level)
                }
            }),
        );
        let feedback_due = v.take(optional_timestamp("feedback_due", r.feedback_due.as_ref()));
        let (Some(target), Some(level), Some(feedback_due)) = (target, level, feedback_due) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok((
            target,
            Command::Supervise {
                level,
                note: r.note,
                feedback_due,
            },
        ))
    }
}

/// A validated MergeTickets request; the handler loads the master to build the command.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// The duplicate.
    pub target: Target,
    /// The master ticket.
    pub master_id: TicketId,
    /// Note for the timeline.
    pub note: String,
}

impl TryFromProto<pb::MergeTicketsRequest> for MergeRequest {
    fn try_from_proto(r: pb::MergeTicketsRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let target = target(&mut v, &r.ticket_id, r.expected_version);
        let master = v.take(ticket_id("master_ticket_id", &r.master_ticket_id));
        let (Some(target), Some(master_id)) = (target, master) else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok(MergeRequest {
            target,
            master_id,
            note: r.note,
        })
    }
}

// ---------------------------------------------------------------- tickets out

/// How much of the citizen a caller may see (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pii {
    /// Name and phone as given.
    Full,
    /// `张*`, `138****5678`.
    Masked,
    /// Name and phone removed (confidential tickets, for departments).
    Hidden,
}

impl Pii {
    /// Returns the view a role gets of a ticket's citizen.
    pub fn for_viewer(role: Role, confidential: bool) -> Pii {
        match role {
            Role::Operator => Pii::Full,
            Role::Department if confidential => Pii::Hidden,
            Role::Department => Pii::Full,
            Role::Supervisor | Role::Admin | Role::System => Pii::Masked,
        }
    }

    /// Returns the citizen as this view shows it.
    pub fn apply(self, citizen: &Citizen) -> Citizen {
        match self {
            Pii::Full => citizen.clone(),
            Pii::Masked => citizen.masked(),
            Pii::Hidden => citizen.hidden(),
        }
    }
}

impl IntoProto<pb::Citizen> for Citizen {
    fn into_proto(self) -> pb::Citizen {
        pb::Citizen {
            name: self.name,
            phone: self.phone,
            anonymous: self.anonymous,
            confidential: self.confidential,
            wants_callback: self.wants_callback,
        }
    }
}

impl IntoProto<pb::Category> for &Category {
    fn into_proto(self) -> pb::Category {
        pb::Category {
            path: self.path.clone(),
            label: self.label.clone(),
            confidence: self.confidence,
            overridden: self.overridden,
            code: self.code.clone(),
        }
    }
}

impl IntoProto<pb::Reply> for &Reply {
    fn into_proto(self) -> pb::Reply {
        pb::Reply {
            result: enum_to_i32(self.result),
            content: self.content.clone(),
            department_id: self.department_id.to_string(),
            replied_at: Some(timestamp_to_proto(self.replied_at)),
        }
    }
}

impl IntoProto<pb::CallbackRecord> for &CallbackRecord {
    fn into_proto(self) -> pb::CallbackRecord {
        pb::CallbackRecord {
            contacted: self.contacted,
            resolved: self.resolved,
            satisfaction: self.satisfaction.map_or(0, enum_to_i32),
            comment: self.comment.clone(),
            recorded_at: Some(timestamp_to_proto(self.recorded_at)),
        }
    }
}

fn assignment_to_proto(ticket: &Ticket, a: &Assignment) -> pb::Assignment {
    let return_requested = a.status.is_active()
        && ticket
            .pending_return
            .as_ref()
            .is_some_and(|p| p.department_id == a.department_id);
    let delegated = a.status == AssignmentStatus::Signed
        && ticket.assignments.iter().any(|child| {
            child.status.is_active() && child.delegated_from.as_ref() == Some(&a.department_id)
        });
    let status = if return_requested {
        pb::AssignmentStatus::ReturnRequested
    } else if delegated {
        pb::AssignmentStatus::Delegated
    } else {
        match a.status {
            AssignmentStatus::Dispatched => pb::AssignmentStatus::Dispatched,
            AssignmentStatus::Signed => pb::AssignmentStatus::Signed,
            AssignmentStatus::OpinionSubmitted => pb::AssignmentStatus::OpinionSubmitted,
            AssignmentStatus::Replied => pb::AssignmentStatus::Replied,
            AssignmentStatus::Returned => pb::AssignmentStatus::Returned,
            AssignmentStatus::Cancelled => pb::AssignmentStatus::Cancelled,
        }
    };
    let is_current_lead = a.role == AssignmentRole::Lead && a.status.is_active();
    pb::Assignment {
        department_id: a.department_id.to_string(),
        role: enum_to_i32(a.role),
        status: status.into(),
        sign_due: Some(timestamp_to_proto(a.sign_due)),
        reply_due: Some(timestamp_to_proto(a.reply_due)),
        signed_at: opt_timestamp(a.signed_at),
        delegated_from: a
            .delegated_from
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        opinion: a.opinion.clone().unwrap_or_default(),
        // The projection counts extension requests per ticket; they belong to the lead.
        extension_count: if is_current_lead {
            saturating_i32(ticket.extension_count)
        } else {
            0
        },
        return_reason: if return_requested {
            ticket
                .pending_return
                .as_ref()
                .map(|p| p.reason.clone())
                .unwrap_or_default()
        } else {
            String::new()
        },
        assigned_at: Some(timestamp_to_proto(a.assigned_at)),
    }
}

fn saturating_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn pending_requests(ticket: &Ticket) -> Vec<pb::PendingRequest> {
    let mut out = Vec::new();
    if let Some(p) = &ticket.pending_return {
        out.push(pb::PendingRequest {
            kind: pb::RequestKind::Return.into(),
            department_id: p.department_id.to_string(),
            reason: p.reason.clone(),
            requested_reply_due: None,
            resume_by: None,
            requested_at: Some(timestamp_to_proto(p.requested_at)),
        });
    }
    if let Some(p) = &ticket.pending_extension {
        out.push(pb::PendingRequest {
            kind: pb::RequestKind::Extension.into(),
            department_id: p.department_id.to_string(),
            reason: p.reason.clone(),
            requested_reply_due: Some(timestamp_to_proto(p.requested_reply_due)),
            resume_by: None,
            requested_at: None,
        });
    }
    if let Some(p) = &ticket.pending_suspension {
        out.push(pb::PendingRequest {
            kind: pb::RequestKind::Suspension.into(),
            department_id: p.department_id.to_string(),
            reason: p.reason.clone(),
            requested_reply_due: None,
            resume_by: opt_timestamp(p.resume_by),
            requested_at: None,
        });
    }
    if let Some(evidence) = &ticket.pending_dispute {
        out.push(pb::PendingRequest {
            kind: pb::RequestKind::Dispute.into(),
            department_id: ticket
                .lead_department_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            reason: evidence.clone(),
            requested_reply_due: None,
            resume_by: None,
            requested_at: None,
        });
    }
    out
}

/// Converts a ticket for a caller with the given citizen view.
pub fn ticket_to_proto(ticket: &Ticket, pii: Pii) -> pb::Ticket {
    let close_reason = match (ticket.status, ticket.close_reason) {
        (TicketStatus::Merged, _) => pb::CloseReason::Merged.into(),
        (_, Some(reason)) => enum_to_i32(reason),
        (_, None) => 0,
    };
    pb::Ticket {
        id: ticket.id.to_string(),
        number: ticket.number.clone(),
        status: enum_to_i32(ticket.status),
        version: saturating_i64(ticket.version),
        channel: enum_to_i32(ticket.channel),
        appeal_type: enum_to_i32(ticket.appeal_type),
        priority: enum_to_i32(ticket.priority),
        category: ticket.category.as_ref().map(IntoProto::into_proto),
        title: ticket.title.clone(),
        body: ticket.body.clone(),
        address: ticket.address.clone(),
        region_code: ticket.region_code.clone(),
        latitude: ticket.location.map(|p| p.latitude),
        longitude: ticket.location.map(|p| p.longitude),
        citizen: Some(pii.apply(&ticket.citizen).into_proto()),
        lead_department_id: ticket
            .lead_department_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        co_department_ids: ticket
            .assignments
            .iter()
            .filter(|a| a.role == AssignmentRole::CoHandler && a.status.is_active())
            .map(|a| a.department_id.to_string())
            .collect(),
        assignments: ticket
            .assignments
            .iter()
            .map(|a| assignment_to_proto(ticket, a))
            .collect(),
        sign_due: opt_timestamp(ticket.sign_due),
        reply_due: opt_timestamp(ticket.reply_due),
        callback_due: opt_timestamp(ticket.callback_due),
        warning_level: enum_to_i32(ticket.warning_level),
        duplicates: Vec::new(),
        suspended: ticket.suspended,
        reopen_count: saturating_i32(ticket.reopen_count),
        return_count: saturating_i32(ticket.return_count),
        extension_count: saturating_i32(ticket.extension_count),
        close_reason,
        merged_into: ticket
            .merged_into
            .map(|id| id.to_string())
            .unwrap_or_default(),
        reply: ticket.reply.as_ref().map(IntoProto::into_proto),
        callback: ticket.callback.as_ref().map(IntoProto::into_proto),
        rating_exempt: ticket.rating_exempt,
        supervision_level: ticket.supervision_level.map_or(0, enum_to_i32),
        supervision_feedback_due: opt_timestamp(ticket.supervision_feedback_due),
        pending_requests: pending_requests(ticket),
        created_at: Some(timestamp_to_proto(ticket.created_at)),
        updated_at: Some(timestamp_to_proto(ticket.updated_at)),
        closed_at: opt_timestamp(ticket.closed_at),
        policy_version: ticket.policy.version,
        routing: ticket.routing.as_ref().map(IntoProto::into_proto),
    }
}

impl IntoProto<pb::RoutingDecision> for &RoutingDecision {
    fn into_proto(self) -> pb::RoutingDecision {
        pb::RoutingDecision {
            outcome: enum_to_i32(self.outcome),
            rule_id: self.rule_id.clone().unwrap_or_default(),
            lead_department_id: self
                .target
                .as_ref()
                .map(|t| t.lead_department_id.to_string())
                .unwrap_or_default(),
            co_department_ids: self
                .target
                .as_ref()
                .map(|t| {
                    t.co_department_ids
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            classified_by: self.classified_by.clone(),
            confidence: self.confidence,
            threshold: self.threshold,
            candidates: self
                .candidates
                .iter()
                .map(|c| pb::ScoredCategory {
                    category: c.category.clone(),
                    confidence: c.confidence,
                })
                .collect(),
            explanation: self.explanation.clone(),
        }
    }
}

/// Returns the department an event is about, if one.
fn event_department(kind: &EventKind) -> Option<&DepartmentId> {
    match kind {
        EventKind::Dispatched {
            lead_department_id, ..
        } => Some(lead_department_id),
        EventKind::Signed { department_id, .. }
        | EventKind::ReturnRequested { department_id, .. }
        | EventKind::ReturnApproved { department_id, .. }
        | EventKind::ReturnRejected { department_id, .. }
        | EventKind::OpinionSubmitted { department_id, .. }
        | EventKind::ExtensionRequested { department_id, .. }
        | EventKind::ProgressAdded { department_id, .. }
        | EventKind::Replied { department_id, .. }
        | EventKind::RatingDisputed { department_id, .. }
        | EventKind::SuspensionRequested { department_id, .. } => Some(department_id),
        EventKind::Delegated {
            to_department_id, ..
        } => Some(to_department_id),
        _ => None,
    }
}

/// Returns the free text given with an event, if any.
fn event_note(kind: &EventKind) -> &str {
    match kind {
        EventKind::Dispatched { note, .. }
        | EventKind::ReturnApproved { note, .. }
        | EventKind::ReturnRejected { note, .. }
        | EventKind::Delegated { note, .. }
        | EventKind::ExtensionApproved { note, .. }
        | EventKind::ExtensionRejected { note }
        | EventKind::ReplyAccepted { note }
        | EventKind::ReplySentBack { note }
        | EventKind::Reopened { note, .. }
        | EventKind::DisputeDecided { note, .. }
        | EventKind::Suspended { note }
        | EventKind::SuspensionRejected { note }
        | EventKind::Resumed { note, .. }
        | EventKind::Merged { note, .. }
        | EventKind::Urged { note, .. }
        | EventKind::Supervised { note, .. } => note,
        EventKind::ReturnRequested { reason, .. }
        | EventKind::ExtensionRequested { reason, .. }
        | EventKind::SuspensionRequested { reason, .. }
        | EventKind::Withdrawn { reason }
        | EventKind::MarkedInvalid { reason } => reason,
        EventKind::OpinionSubmitted { content, .. }
        | EventKind::ProgressAdded { content, .. }
        | EventKind::Replied { content, .. }
        | EventKind::AnsweredDirectly { content } => content,
        EventKind::CallbackRecorded { comment, .. } => comment,
        EventKind::RatingDisputed { evidence, .. } => evidence,
        EventKind::Created { .. }
        | EventKind::Signed { .. }
        | EventKind::Closed { .. }
        | EventKind::WarningChanged { .. } => "",
    }
}

/// Converts a stored event for a caller with the given citizen view.
pub fn timeline_event_to_proto(stored: &StoredEvent, pii: Pii) -> pb::TimelineEvent {
    let event = &stored.event;
    let mut kind = event.kind.clone();
    if let EventKind::Created { citizen, .. } = &mut kind {
        *citizen = pii.apply(citizen);
    }
    pb::TimelineEvent {
        seq: saturating_i64(event.seq),
        version: saturating_i64(event.version),
        at: Some(timestamp_to_proto(event.at)),
        action: kind.action().to_owned(),
        actor_id: event.actor.id.clone(),
        actor_role: enum_to_i32(event.actor.role),
        department_id: event_department(&kind)
            .map(ToString::to_string)
            .unwrap_or_default(),
        note: event_note(&kind).to_owned(),
        // Serializing an in-memory enum of strings and numbers cannot fail.
        detail_json: serde_json::to_string(&kind).unwrap_or_default(),
        // The store does not chain event hashes yet; see the report on the hash chain.
        hash: String::new(),
    }
}

// ---------------------------------------------------------------- admin

/// Returns whether a region code is empty or 6, 9 or 12 digits.
fn valid_region_code(code: &str) -> bool {
    code.is_empty()
        || (matches!(code.len(), 6 | 9 | 12) && code.bytes().all(|b| b.is_ascii_digit()))
}

impl TryFromProto<pb::Department> for Department {
    fn try_from_proto(d: pb::Department) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let id_ok = !d.id.is_empty()
            && d.id.len() <= MAX_DEPARTMENT_ID_CHARS
            && d.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            v.push(
                "department.id",
                "must be 1 to 64 letters, digits, '.', '_' or '-'",
            );
        }
        if d.name.trim().is_empty() || d.name.chars().count() > MAX_NAME_CHARS {
            v.push(
                "department.name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            );
        }
        if !d.parent_id.is_empty() && d.parent_id == d.id {
            v.push("department.parent_id", "must not be the department itself");
        }
        if !valid_region_code(&d.region_code) {
            v.push("department.region_code", "must be 6, 9 or 12 digits");
        }
        let level = v.take(
            u32::try_from(d.level)
                .map_err(|_| FieldViolation::new("department.level", "must not be negative")),
        );
        let Some(level) = level else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok(Department {
            id: DepartmentId::new(d.id),
            name: d.name,
            parent_id: (!d.parent_id.is_empty()).then(|| DepartmentId::new(d.parent_id)),
            region_code: d.region_code,
            level,
        })
    }
}

impl IntoProto<pb::Department> for &Department {
    fn into_proto(self) -> pb::Department {
        pb::Department {
            id: self.id.to_string(),
            name: self.name.clone(),
            parent_id: self
                .parent_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            region_code: self.region_code.clone(),
            level: i32::try_from(self.level).unwrap_or(i32::MAX),
        }
    }
}

/// Validates a new rule set against the directory: departments must exist, ids
/// must be unique (empty ones are assigned `rule-N`), prefixes well formed.
///
/// # Errors
/// [`ApiError::InvalidArgument`] naming `rules[i].field`.
pub fn routing_rules_from_proto(
    rules: Vec<pb::RoutingRule>,
    directory: &Directory,
) -> Result<Vec<RoutingRule>, ApiError> {
    let mut v = Violations::default();
    let mut out: Vec<RoutingRule> = Vec::with_capacity(rules.len());
    for (i, rule) in rules.into_iter().enumerate() {
        let field = |name: &str| format!("rules[{i}].{name}");
        let id = if rule.id.is_empty() {
            format!("rule-{}", i + 1)
        } else {
            rule.id
        };
        if out.iter().any(|r| r.id == id) {
            v.push(field("id"), format!("rule id {id:?} is used twice"));
        }
        if !rule.category_prefix.is_empty() && !directory.taxonomy.contains(&rule.category_prefix) {
            v.push(
                field("category_prefix"),
                "is not a category of the taxonomy",
            );
        }
        if rule.region_prefix.len() > 12 || !rule.region_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            v.push(field("region_prefix"), "must be at most 12 digits");
        }
        let appeal_type = v.take(optional_enum::<AppealType>(
            &field("appeal_type"),
            rule.appeal_type,
        ));
        let lead = v.take(department_id(
            &field("lead_department_id"),
            &rule.lead_department_id,
        ));
        if let Some(lead) = &lead
            && directory.department(lead).is_none()
        {
            v.push(
                field("lead_department_id"),
                format!("unknown department {lead}"),
            );
        }
        let mut co_department_ids = Vec::new();
        for (j, raw) in rule.co_department_ids.iter().enumerate() {
            let name = field(&format!("co_department_ids[{j}]"));
            if let Some(id) = v.take(department_id(&name, raw)) {
                if directory.department(&id).is_none() {
                    v.push(name, format!("unknown department {id}"));
                } else if lead.as_ref() == Some(&id) || co_department_ids.contains(&id) {
                    v.push(name, format!("department {id} named twice"));
                }
                co_department_ids.push(id);
            }
        }
        if let (Some(appeal_type), Some(lead_department_id)) = (appeal_type, lead) {
            out.push(RoutingRule {
                id,
                category_prefix: rule.category_prefix,
                region_prefix: rule.region_prefix,
                appeal_type,
                lead_department_id,
                co_department_ids,
                direct_dispatch: rule.direct_dispatch,
            });
        }
    }
    v.check()?;
    Ok(out)
}

impl IntoProto<pb::RoutingRule> for &RoutingRule {
    fn into_proto(self) -> pb::RoutingRule {
        pb::RoutingRule {
            id: self.id.clone(),
            category_prefix: self.category_prefix.clone(),
            region_prefix: self.region_prefix.clone(),
            appeal_type: self.appeal_type.map_or(0, enum_to_i32),
            lead_department_id: self.lead_department_id.to_string(),
            co_department_ids: self
                .co_department_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            direct_dispatch: self.direct_dispatch,
        }
    }
}

fn window_from_proto(field: &str, w: Option<&pb::Window>) -> Result<Window, FieldViolation> {
    let w = w.ok_or_else(|| FieldViolation::new(field, "is required"))?;
    let mode = pb::TimeMode::try_from(w.mode)
        .map_err(|_| FieldViolation::new(format!("{field}.mode"), "unknown value"))?;
    // Zero calendar minutes is a deadline that falls at once (an immediate-response
    // rule, or a drill); zero working time would read as a mistake.
    if w.amount == 0 && mode != pb::TimeMode::Calendar {
        return Err(FieldViolation::new(
            format!("{field}.amount"),
            "must be positive (only a calendar-time window may be 0 minutes)",
        ));
    }
    match mode {
        pb::TimeMode::Unspecified => {
            Err(FieldViolation::new(format!("{field}.mode"), "must be set"))
        }
        pb::TimeMode::Calendar => Ok(Window::Calendar { minutes: w.amount }),
        pb::TimeMode::WorkingHours => Ok(Window::WorkingHours { hours: w.amount }),
        pb::TimeMode::WorkingDays => Ok(Window::WorkingDays { days: w.amount }),
    }
}

fn window_to_proto(w: Window) -> pb::Window {
    let (mode, amount) = match w {
        Window::Calendar { minutes } => (pb::TimeMode::Calendar, minutes),
        Window::WorkingHours { hours } => (pb::TimeMode::WorkingHours, hours),
        Window::WorkingDays { days } => (pb::TimeMode::WorkingDays, days),
    };
    pb::Window {
        mode: mode.into(),
        amount,
    }
}

impl TryFromProto<pb::DeadlinePolicy> for DeadlinePolicy {
    fn try_from_proto(p: pb::DeadlinePolicy) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let mut entries = Vec::with_capacity(p.entries.len());
        for (i, e) in p.entries.into_iter().enumerate() {
            let field = |name: &str| format!("policy.entries[{i}].{name}");
            let appeal_type = v.take(optional_enum::<AppealType>(
                &field("appeal_type"),
                e.appeal_type,
            ));
            let priority = v.take(optional_enum::<Priority>(&field("priority"), e.priority));
            let sign = v.take(window_from_proto(
                &field("sign_within"),
                e.sign_within.as_ref(),
            ));
            let reply = v.take(window_from_proto(
                &field("reply_within"),
                e.reply_within.as_ref(),
            ));
            if let (Some(appeal_type), Some(priority), Some(sign_within), Some(reply_within)) =
                (appeal_type, priority, sign, reply)
            {
                entries.push(PolicyEntry {
                    appeal_type,
                    priority,
                    category_prefix: (!e.category_prefix.is_empty()).then_some(e.category_prefix),
                    sign_within,
                    reply_within,
                });
            }
        }
        let callback = v.take(window_from_proto(
            "policy.callback_within",
            p.callback_within.as_ref(),
        ));
        if !(1..=100).contains(&p.warning_percent) {
            v.push("policy.warning_percent", "must be between 1 and 100");
        }
        let Some(callback_within) = callback else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok(DeadlinePolicy {
            // The store numbers versions; what a client sends is ignored.
            version: 0,
            entries,
            callback_within,
            warning_percent: p.warning_percent,
            serious_overdue_minutes: p.serious_overdue_minutes,
            limits: Limits {
                max_returns: p.max_returns,
                max_extensions: p.max_extensions,
                max_reopens: p.max_reopens,
            },
        })
    }
}

impl IntoProto<pb::DeadlinePolicy> for (&DeadlinePolicy, i64) {
    fn into_proto(self) -> pb::DeadlinePolicy {
        let (policy, version) = self;
        pb::DeadlinePolicy {
            entries: policy
                .entries
                .iter()
                .map(|e| pb::PolicyEntry {
                    appeal_type: e.appeal_type.map_or(0, enum_to_i32),
                    priority: e.priority.map_or(0, enum_to_i32),
                    category_prefix: e.category_prefix.clone().unwrap_or_default(),
                    sign_within: Some(window_to_proto(e.sign_within)),
                    reply_within: Some(window_to_proto(e.reply_within)),
                })
                .collect(),
            max_returns: policy.limits.max_returns,
            max_extensions: policy.limits.max_extensions,
            max_reopens: policy.limits.max_reopens,
            warning_percent: policy.warning_percent,
            serious_overdue_minutes: policy.serious_overdue_minutes,
            callback_within: Some(window_to_proto(policy.callback_within)),
            version,
        }
    }
}

impl TryFromProto<pb::Calendar> for CalendarDoc {
    fn try_from_proto(c: pb::Calendar) -> Result<Self, ApiError> {
        let doc = CalendarDoc {
            time_zone: c.time_zone,
            working_hours: c
                .working_hours
                .into_iter()
                .map(|w| WorkingInterval {
                    start: w.start,
                    end: w.end,
                })
                .collect(),
            days: c
                .days
                .into_iter()
                .map(|d| CalendarDay {
                    date: d.date,
                    working: d.working,
                    name: d.name,
                })
                .collect(),
        };
        let violations = doc.violations();
        if violations.is_empty() {
            Ok(doc)
        } else {
            Err(ApiError::InvalidArgument(violations))
        }
    }
}

impl IntoProto<pb::Calendar> for CalendarDoc {
    fn into_proto(self) -> pb::Calendar {
        pb::Calendar {
            time_zone: self.time_zone,
            working_hours: self
                .working_hours
                .into_iter()
                .map(|w| pb::WorkingInterval {
                    start: w.start,
                    end: w.end,
                })
                .collect(),
            days: self
                .days
                .into_iter()
                .map(|d| pb::CalendarDay {
                    date: d.date,
                    working: d.working,
                    name: d.name,
                })
                .collect(),
        }
    }
}

/// A validated CreateApiKey request.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// What it may do.
    pub role: Role,
    /// Its department, for DEPARTMENT keys (existence is checked by the handler).
    pub department_id: Option<DepartmentId>,
    /// Label.
    pub name: String,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

impl TryFromProto<pb::CreateApiKeyRequest> for NewApiKey {
    fn try_from_proto(r: pb::CreateApiKeyRequest) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let role = v.take(required_enum::<Role>("role", r.role));
        let department_id = v.take(optional_department_id("department_id", &r.department_id));
        match (role, &department_id) {
            (Some(Role::Department), Some(None)) => {
                v.push("department_id", "is required for ROLE_DEPARTMENT");
            }
            (Some(role), Some(Some(_))) if role != Role::Department => {
                v.push(
                    "department_id",
                    "must be empty unless the role is ROLE_DEPARTMENT",
                );
            }
            _ => {}
        }
        if r.name.chars().count() > MAX_NAME_CHARS {
            v.push(
                "name",
                format!("is longer than {MAX_NAME_CHARS} characters"),
            );
        }
        let expires_at = v.take(optional_timestamp("expires_at", r.expires_at.as_ref()));
        let (Some(role), Some(department_id), Some(expires_at)) = (role, department_id, expires_at)
        else {
            return Err(v.into_error());
        };
        v.check()?;
        Ok(NewApiKey {
            role,
            department_id,
            name: r.name,
            expires_at,
        })
    }
}

impl IntoProto<pb::ApiKeyInfo> for &ApiKeyRecord {
    fn into_proto(self) -> pb::ApiKeyInfo {
        pb::ApiKeyInfo {
            key_id: self.id.clone(),
            name: self.name.clone(),
            role: enum_to_i32(self.role),
            department_id: self
                .department_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            created_at: Some(timestamp_to_proto(self.created_at)),
            revoked_at: opt_timestamp(self.revoked_at),
            expires_at: opt_timestamp(self.expires_at),
        }
    }
}

// ---------------------------------------------------------------- analysis

impl IntoProto<pb::DuplicateCandidate> for &Candidate {
    fn into_proto(self) -> pb::DuplicateCandidate {
        pb::DuplicateCandidate {
            ticket_id: self.ticket_id.to_string(),
            number: self.number.clone(),
            reason: self.reason.to_owned(),
            score: self.score,
        }
    }
}

impl IntoProto<pb::DepartmentStats> for &DepartmentStats {
    fn into_proto(self) -> pb::DepartmentStats {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let seconds = |d: Option<SignedDuration>| d.map_or(0, |d| d.as_secs());
        let mean_reply_seconds = seconds(self.mean_reply_time());
        pb::DepartmentStats {
            department_id: self.department_id.to_string(),
            department_name: self.department_name.clone(),
            dispatched: count(self.dispatched),
            signed_on_time: count(self.signed_on_time),
            response_rate: self.response_rate(),
            callbacks: count(self.callbacks),
            resolved: count(self.resolved),
            resolution_rate: self.resolution_rate(),
            satisfied: count(self.satisfied),
            satisfaction_rate: self.satisfaction_rate(),
            replied: count(self.replied),
            replied_on_time: count(self.replied_on_time),
            on_time_reply_rate: self.on_time_reply_rate(),
            returns: count(self.returns()),
            extensions: count(self.extensions),
            overdue: count(self.overdue),
            mean_handling_seconds: mean_reply_seconds,
            rank: i32::try_from(self.rank).unwrap_or(i32::MAX),
            urged: count(self.urged),
            supervised: count(self.supervised),
            returns_approved: count(self.returns_approved),
            returns_rejected: count(self.returns_rejected),
            mean_sign_seconds: seconds(self.mean_sign_time()),
            mean_reply_seconds,
            signed: count(self.signed),
        }
    }
}

fn hotspot_sample(t: &Ticket) -> pb::HotspotSample {
    pb::HotspotSample {
        ticket_id: t.id.to_string(),
        number: t.number.clone(),
        title: t.title.clone(),
        created_at: Some(timestamp_to_proto(t.created_at)),
    }
}

impl IntoProto<pb::Hotspot> for &HotspotRow {
    fn into_proto(self) -> pb::Hotspot {
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        pb::Hotspot {
            category: self.category.clone(),
            region_code: self.region_code.clone(),
            count: count(self.count),
            ticket_ids: self.ticket_ids.iter().map(ToString::to_string).collect(),
            first_at: Some(timestamp_to_proto(self.first_at)),
            last_at: Some(timestamp_to_proto(self.last_at)),
            previous_count: count(self.previous_count),
            growth: self.growth(),
            samples: self.samples.iter().map(hotspot_sample).collect(),
            clusters: self
                .clusters
                .iter()
                .map(|(n, t)| pb::HotspotCluster {
                    count: count(*n),
                    sample: Some(hotspot_sample(t)),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::Taxonomy;

    use super::*;

    fn directory() -> Directory {
        Directory::new(
            [Department {
                id: "sz.env".into(),
                name: "环保".to_owned(),
                parent_id: None,
                region_code: String::new(),
                level: 1,
            }],
            Taxonomy::builtin(),
        )
    }

    fn create_request() -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            request_id: "r-1".to_owned(),
            channel: pb::Channel::Phone.into(),
            appeal_type: pb::AppealType::Complaint.into(),
            priority: pb::Priority::Normal.into(),
            citizen: Some(pb::Citizen {
                name: "张三".to_owned(),
                ..Default::default()
            }),
            title: "噪声".to_owned(),
            body: "夜间施工".to_owned(),
            category_hint: "环境保护/噪声污染/施工噪声".to_owned(),
            ..Default::default()
        }
    }

    fn violated_fields<T: std::fmt::Debug>(result: Result<T, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_intake_converts_with_the_hint_as_an_override() {
        let intake = Intake::try_from_proto((create_request(), &directory())).expect("valid");
        assert_eq!(intake.request_id.as_deref(), Some("r-1"));
        assert_eq!(intake.ticket.channel, Channel::Phone);
        let category = intake.ticket.category.expect("category from hint");
        assert!(category.overridden);
        assert!((category.confidence - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn unspecified_enums_and_missing_citizen_are_all_reported() {
        let request = pb::CreateTicketRequest {
            channel: 0,
            appeal_type: 0,
            priority: 99,
            citizen: None,
            ..create_request()
        };
        let fields = violated_fields(Intake::try_from_proto((request, &directory())));
        assert_eq!(fields, ["channel", "appeal_type", "priority", "citizen"]);
    }

    #[test]
    fn unknown_category_hints_and_long_request_ids_are_refused() {
        let request = pb::CreateTicketRequest {
            category_hint: "不存在".to_owned(),
            request_id: "x".repeat(129),
            ..create_request()
        };
        let fields = violated_fields(Intake::try_from_proto((request, &directory())));
        assert_eq!(fields, ["request_id", "category_hint"]);
    }

    #[test]
    fn half_a_location_is_refused() {
        let request = pb::CreateTicketRequest {
            latitude: Some(31.3),
            ..create_request()
        };
        let fields = violated_fields(Intake::try_from_proto((request, &directory())));
        assert_eq!(fields, ["latitude"]);
    }

    #[test]
    fn mutations_need_a_uuid_and_a_non_negative_version() {
        let bad = pb::SignTicketRequest {
            ticket_id: "not-a-uuid".to_owned(),
            expected_version: Some(-1),
            note: String::new(),
        };
        let fields = violated_fields(<(Target, Command)>::try_from_proto(bad));
        assert_eq!(fields, ["ticket_id", "expected_version"]);
        let missing = pb::UrgeTicketRequest::default();
        let fields = violated_fields(<(Target, Command)>::try_from_proto(missing));
        assert_eq!(fields, ["ticket_id"]);
        let id = uuid::Uuid::now_v7().to_string();
        let good = pb::SignTicketRequest {
            ticket_id: id,
            expected_version: Some(3),
            note: "ok".to_owned(),
        };
        let (target, command) = <(Target, Command)>::try_from_proto(good).expect("valid");
        assert_eq!(target.expected_version, Some(3));
        assert_eq!(
            command,
            Command::Sign {
                note: "ok".to_owned()
            }
        );
    }

    #[test]
    fn replies_need_a_result_and_supervision_a_real_level() {
        let id = uuid::Uuid::now_v7().to_string();
        let reply = pb::ReplyTicketRequest {
            ticket_id: id.clone(),
            ..Default::default()
        };
        assert_eq!(
            violated_fields(<(Target, Command)>::try_from_proto(reply)),
            ["result"]
        );
        let urge_level = pb::SuperviseTicketRequest {
            ticket_id: id,
            level: pb::SupervisionLevel::Urge.into(),
            ..Default::default()
        };
        assert_eq!(
            violated_fields(<(Target, Command)>::try_from_proto(urge_level)),
            ["level"]
        );
    }

    #[test]
    fn satisfaction_unspecified_means_not_rated() {
        let id = uuid::Uuid::now_v7().to_string();
        let request = pb::RecordCallbackRequest {
            ticket_id: id,
            ..Default::default()
        };
        let (_, command) = <(Target, Command)>::try_from_proto(request).expect("valid");
        assert!(matches!(
            command,
            Command::RecordCallback {
                satisfaction: None,
                ..
            }
        ));
    }

    #[test]
    fn enums_round_trip_and_unknown_numbers_are_refused() {
        for channel in Channel::ALL {
            assert_eq!(
                required_enum::<Channel>("c", enum_to_i32(*channel)),
                Ok(*channel)
            );
        }
        for status in TicketStatus::ALL {
            assert_eq!(
                required_enum::<TicketStatus>("s", enum_to_i32(*status)),
                Ok(*status)
            );
        }
        assert!(required_enum::<Channel>("c", 0).is_err());
        assert!(optional_enum::<Channel>("c", 42).is_err());
        assert_eq!(optional_enum::<AppealType>("a", 0), Ok(None));
        assert!(required_enum::<CloseReason>("r", pb::CloseReason::Merged.into()).is_err());
        assert_eq!(Role::System.to_proto(), pb::Role::Unspecified);
    }

    #[test]
    fn api_keys_for_departments_need_a_department_and_others_must_not_have_one() {
        let department = pb::CreateApiKeyRequest {
            role: pb::Role::Department.into(),
            ..Default::default()
        };
        assert_eq!(
            violated_fields(NewApiKey::try_from_proto(department)),
            ["department_id"]
        );
        let operator = pb::CreateApiKeyRequest {
            role: pb::Role::Operator.into(),
            department_id: "sz.env".to_owned(),
            ..Default::default()
        };
        assert_eq!(
            violated_fields(NewApiKey::try_from_proto(operator)),
            ["department_id"]
        );
        let unspecified = pb::CreateApiKeyRequest::default();
        assert_eq!(
            violated_fields(NewApiKey::try_from_proto(unspecified)),
            ["role"]
        );
    }

    #[test]
    fn routing_rules_must_name_known_departments_and_categories() {
        let rules = vec![
            pb::RoutingRule {
                category_prefix: "环境保护".to_owned(),
                lead_department_id: "sz.env".to_owned(),
                direct_dispatch: true,
                ..Default::default()
            },
            pb::RoutingRule {
                id: "rule-1".to_owned(),
                category_prefix: "没有".to_owned(),
                lead_department_id: "sz.nobody".to_owned(),
                ..Default::default()
            },
        ];
        let fields = violated_fields(routing_rules_from_proto(rules, &directory()));
        assert_eq!(
            fields,
            [
                "rules[1].id",
                "rules[1].category_prefix",
                "rules[1].lead_department_id"
            ]
        );
    }

    #[test]
    fn deadline_policy_round_trips_and_rejects_unspecified_modes() {
        let policy = DeadlinePolicy::default();
        let proto: pb::DeadlinePolicy = (&policy, 7).into_proto();
        assert_eq!(proto.version, 7);
        assert_eq!(
            DeadlinePolicy::try_from_proto(proto.clone()).expect("valid"),
            policy
        );
        let mut broken = proto.clone();
        broken.entries[0].sign_within = Some(pb::Window { mode: 0, amount: 5 });
        broken.entries[1].reply_within = Some(pb::Window {
            mode: pb::TimeMode::WorkingDays.into(),
            amount: 0,
        });
        broken.warning_percent = 0;
        let fields = violated_fields(DeadlinePolicy::try_from_proto(broken));
        assert_eq!(
            fields,
            [
                "policy.entries[0].sign_within.mode",
                "policy.entries[1].reply_within.amount",
                "policy.warning_percent"
            ]
        );
        let mut at_once = proto;
        at_once.entries[0].sign_within = Some(pb::Window {
            mode: pb::TimeMode::Calendar.into(),
            amount: 0,
        });
        let policy = DeadlinePolicy::try_from_proto(at_once).expect("0 calendar minutes is valid");
        assert_eq!(
            policy.entries[0].sign_within,
            Window::Calendar { minutes: 0 }
        );
    }

    #[test]
    fn departments_need_an_id_name_and_sane_level() {
        let bad = pb::Department {
            id: "bad id".to_owned(),
            level: -1,
            ..Default::default()
        };
        let fields = violated_fields(Department::try_from_proto(bad));
        assert_eq!(
            fields,
            ["department.id", "department.name", "department.level"]
        );
    }

    #[test]
    fn pii_views_follow_the_role_and_confidentiality() {
        assert_eq!(Pii::for_viewer(Role::Operator, true), Pii::Full);
        assert_eq!(Pii::for_viewer(Role::Department, false), Pii::Full);
        assert_eq!(Pii::for_viewer(Role::Department, true), Pii::Hidden);
        assert_eq!(Pii::for_viewer(Role::Supervisor, false), Pii::Masked);
        assert_eq!(Pii::for_viewer(Role::Admin, false), Pii::Masked);
        let citizen = Citizen {
            name: "张三".to_owned(),
            phone: "13812345678".to_owned(),
            ..Default::default()
        };
        assert_eq!(Pii::Masked.apply(&citizen).phone, "138****5678");
        assert_eq!(Pii::Hidden.apply(&citizen).name, "");
    }
}
