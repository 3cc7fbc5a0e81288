//! The ticket (工单) and the values it is made of.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{DepartmentId, TicketId};
use crate::policy::TicketPolicy;
use crate::routing::RoutingDecision;

/// Declares a closed enum whose variants travel as SCREAMING_SNAKE_CASE text
/// (in events, database columns and logs), with `as_str`, `ALL` and `FromStr`.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Returns the stable text code of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err(crate::UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }
    };
}
pub(crate) use coded_enum;

coded_enum! {
    /// Where the appeal came in.
    Channel {
        Phone = "PHONE", Web = "WEB", App = "APP", Wechat = "WECHAT", Email = "EMAIL",
        Sms = "SMS", Letter = "LETTER",
        /// Field visit (走访).
        Visit = "VISIT",
        /// Leader's mailbox.
        Mailbox = "MAILBOX",
        Media = "MEDIA",
    }
}

coded_enum! {
    /// What the citizen wants; drives the deadline policy.
    AppealType {
        Consultation = "CONSULTATION", Request = "REQUEST", Complaint = "COMPLAINT",
        Report = "REPORT", Suggestion = "SUGGESTION", Praise = "PRAISE",
    }
}

coded_enum! {
    /// How fast the matter must move.
    Priority { Normal = "NORMAL", Urgent = "URGENT", Emergency = "EMERGENCY" }
}

coded_enum! {
    /// Where a ticket is in the closed loop.
    TicketStatus {
        PendingDispatch = "PENDING_DISPATCH", Dispatched = "DISPATCHED",
        InProgress = "IN_PROGRESS", Replied = "REPLIED", Closed = "CLOSED", Merged = "MERGED",
    }
}

impl TicketStatus {
    /// Returns whether the ticket still needs work (not closed, not merged).
    pub fn is_open(self) -> bool {
        !matches!(self, TicketStatus::Closed | TicketStatus::Merged)
    }
}

coded_enum! {
    /// The traffic light of a running deadline.
    WarningLevel {
        None = "NONE", Warning = "WARNING", Overdue = "OVERDUE",
        SeriouslyOverdue = "SERIOUSLY_OVERDUE",
    }
}

coded_enum! {
    /// Which deadline a warning or overdue listing is about.
    DeadlineKind { Sign = "SIGN", Reply = "REPLY", Callback = "CALLBACK" }
}

coded_enum! {
    /// A department's part in a ticket.
    AssignmentRole {
        /// 主办: accountable, replies.
        Lead = "LEAD",
        /// 协办: signs and submits an opinion.
        CoHandler = "CO_HANDLER",
        /// 二级派单: handles for the department above it, which stays accountable.
        Delegate = "DELEGATE",
    }
}

coded_enum! {
    /// How far one department has got with its part.
    AssignmentStatus {
        Dispatched = "DISPATCHED", Signed = "SIGNED", OpinionSubmitted = "OPINION_SUBMITTED",
        Replied = "REPLIED", Returned = "RETURNED", Cancelled = "CANCELLED",
    }
}

impl AssignmentStatus {
    /// Returns whether this part of the work is still live.
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            AssignmentStatus::Returned | AssignmentStatus::Cancelled
        )
    }
}

coded_enum! {
    /// The outcome a department reports.
    ReplyResult {
        /// 已解决.
        Solved = "SOLVED",
        /// 解释说明: an unreasonable demand, explained.
        Explained = "EXPLAINED",
        /// 分期办理: needs a plan over time.
        Phased = "PHASED",
    }
}

coded_enum! {
    /// The citizen's verdict at callback.
    Satisfaction {
        Satisfied = "SATISFIED", BasicallySatisfied = "BASICALLY_SATISFIED",
        Unsatisfied = "UNSATISFIED",
    }
}

coded_enum! {
    /// Why a ticket closed.
    CloseReason {
        Callback = "CALLBACK", NoCallback = "NO_CALLBACK", AnsweredDirectly = "ANSWERED_DIRECTLY",
        Withdrawn = "WITHDRAWN", Invalid = "INVALID",
    }
}

coded_enum! {
    /// How hard the center is pushing (催办 < 督办 < 领导督办).
    SupervisionLevel {
        Urge = "URGE", Supervise = "SUPERVISE", LeaderSupervise = "LEADER_SUPERVISE",
    }
}

/// The person behind the appeal. Personal data: masked for roles without PII rights.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Citizen {
    /// Name as given; empty when anonymous.
    pub name: String,
    /// Contact phone; empty when none was given.
    pub phone: String,
    /// The citizen gave no identity.
    pub anonymous: bool,
    /// 保密: departments must not see who complained.
    pub confidential: bool,
    /// The citizen wants to be called back about the outcome.
    pub wants_callback: bool,
}

impl Citizen {
    /// Returns the citizen as roles without PII rights see it: `张*`, `138****5678`.
    pub fn masked(&self) -> Citizen {
        let name = match self.name.chars().next() {
            Some(first) => format!("{first}{}", "*".repeat(self.name.chars().count() - 1)),
            None => String::new(),
        };
        let chars: Vec<char> = self.phone.chars().collect();
        let phone = if chars.len() > 7 {
            let keep_tail = 4;
            let keep_head = 3;
            let hidden = chars.len() - keep_head - keep_tail;
            format!(
                "{}{}{}",
                chars[..keep_head].iter().collect::<String>(),
                "*".repeat(hidden),
                chars[chars.len() - keep_tail..].iter().collect::<String>()
            )
        } else {
            "*".repeat(chars.len())
        };
        Citizen {
            name,
            phone,
            ..self.clone()
        }
    }

    /// Returns the citizen with identity removed, for confidential tickets seen by departments.
    pub fn hidden(&self) -> Citizen {
        Citizen {
            name: String::new(),
            phone: String::new(),
            ..self.clone()
        }
    }
}

/// A point on the map, when the channel gives one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

/// Where the appeal sits in the taxonomy, and who decided that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Path in the taxonomy, levels joined by `/` (e.g. `城乡建设/物业管理`).
    pub path: String,
    /// The classifier's label, kept even when an operator overrode it.
    pub label: String,
    /// The classifier's confidence in `label`, 0..=1 (1 when a person chose).
    pub confidence: f64,
    /// An operator chose `path` over the classifier's label.
    pub overridden: bool,
}

/// One department's part in a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The department doing this part.
    pub department_id: DepartmentId,
    /// Lead, co-handler or delegate.
    pub role: AssignmentRole,
    /// How far this part has got.
    pub status: AssignmentStatus,
    /// When it was handed over.
    pub assigned_at: Timestamp,
    /// Sign-for deadline.
    pub sign_due: Timestamp,
    /// Reply deadline (delegates inherit their parent's).
    pub reply_due: Timestamp,
    /// When it was signed for; `None` until then.
    pub signed_at: Option<Timestamp>,
    /// The department that delegated this part down, for delegates.
    pub delegated_from: Option<DepartmentId>,
    /// A co-handler's opinion.
    pub opinion: Option<String>,
    /// Return requests of this part that a dispatcher rejected (counted against it).
    #[serde(default)]
    pub returns_rejected: u32,
    /// Extensions of this part's reply deadline a supervisor granted.
    #[serde(default)]
    pub extensions_granted: u32,
    /// 催办 notices this part received.
    #[serde(default)]
    pub urged: u32,
    /// 督办 and 领导督办 this part received.
    #[serde(default)]
    pub supervised: u32,
}

/// The lead department's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Solved, explained or phased.
    pub result: ReplyResult,
    /// What the department says was done.
    pub content: String,
    /// Who replied (the lead or one of its delegates).
    pub department_id: DepartmentId,
    /// When.
    pub replied_at: Timestamp,
}

/// What the citizen said when called back (回访).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecord {
    /// The citizen was reached.
    pub contacted: bool,
    /// The citizen says the matter is solved.
    pub resolved: bool,
    /// The citizen's rating; `None` when not contacted.
    pub satisfaction: Option<Satisfaction>,
    /// Free text from the operator.
    pub comment: String,
    /// When.
    pub recorded_at: Timestamp,
}

/// A department's request to give the ticket back, awaiting a dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReturn {
    /// The lead department asking.
    pub department_id: DepartmentId,
    /// Why it thinks the ticket is misrouted.
    pub reason: String,
    /// When it asked.
    pub requested_at: Timestamp,
}

/// A request for a later reply deadline, awaiting a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExtension {
    /// The department asking.
    pub department_id: DepartmentId,
    /// The deadline it wants.
    pub requested_reply_due: Timestamp,
    /// Why.
    pub reason: String,
}

/// A request to stop the clock, awaiting a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSuspension {
    /// The department asking.
    pub department_id: DepartmentId,
    /// What the ticket waits for.
    pub reason: String,
    /// When the department expects to resume, if known.
    pub resume_by: Option<Timestamp>,
}

/// A citizen's appeal and everything that happened to it, as a projection of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Stable id (UUIDv7).
    pub id: TicketId,
    /// Human number `{center}-{YYYYMMDD}-{seq:06}`.
    pub number: String,
    /// Where the loop stands.
    pub status: TicketStatus,
    /// Bumped by one per accepted command; the optimistic-concurrency token.
    pub version: u64,
    /// Sequence number of the last event.
    pub last_seq: u64,
    /// Intake channel.
    pub channel: Channel,
    /// Consultation, complaint, ...
    pub appeal_type: AppealType,
    /// Normal, urgent or emergency.
    pub priority: Priority,
    /// The person; see [`Citizen`].
    pub citizen: Citizen,
    /// One-line summary.
    pub title: String,
    /// The appeal in the citizen's words.
    pub body: String,
    /// Street address of the matter.
    pub address: String,
    /// Administrative code (6, 9 or 12 digits) or empty.
    pub region_code: String,
    /// Map position, when known.
    pub location: Option<GeoPoint>,
    /// Taxonomy placement, once known.
    pub category: Option<Category>,
    /// The deadline policy resolved at intake; every later deadline, warning
    /// threshold and limit comes from it, whatever the policy in force becomes.
    /// (Projections stored before it existed read the built-in default.)
    #[serde(default)]
    pub policy: TicketPolicy,
    /// Intake routing's decision and its reasons: which rule, which score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingDecision>,
    /// When the lead's sign and reply windows started counting (the dispatch, or
    /// the latest reopen), moved forward with the deadlines when a stopped clock
    /// resumes: the base of the warning thresholds. `None` while undispatched.
    #[serde(default)]
    pub window_start: Option<Timestamp>,
    /// Every department's part, in the order they were handed out.
    pub assignments: Vec<Assignment>,
    /// The accountable department while dispatched.
    pub lead_department_id: Option<DepartmentId>,
    /// Sign-for deadline of the lead assignment.
    pub sign_due: Option<Timestamp>,
    /// Reply deadline of the lead assignment.
    pub reply_due: Option<Timestamp>,
    /// Callback deadline once replied.
    pub callback_due: Option<Timestamp>,
    /// The worst traffic light currently lit.
    pub warning_level: WarningLevel,
    /// The clock is stopped (挂起).
    pub suspended: bool,
    /// When the clock stopped.
    pub suspended_at: Option<Timestamp>,
    /// Pending return request.
    pub pending_return: Option<PendingReturn>,
    /// Pending extension request.
    pub pending_extension: Option<PendingExtension>,
    /// Pending suspension request.
    pub pending_suspension: Option<PendingSuspension>,
    /// Pending rating dispute evidence.
    pub pending_dispute: Option<String>,
    /// Return requests made (limited by policy).
    pub return_count: u32,
    /// Return requests rejected: counted against the department.
    pub rejected_return_count: u32,
    /// Extension requests made (limited by policy).
    pub extension_count: u32,
    /// Times reopened after an unsatisfied callback (重办).
    pub reopen_count: u32,
    /// Replies sent back on review.
    pub review_rejection_count: u32,
    /// Times urged (催办).
    pub urge_count: u32,
    /// Highest supervision applied.
    pub supervision_level: Option<SupervisionLevel>,
    /// Feedback due date of the latest formal supervision.
    pub supervision_feedback_due: Option<Timestamp>,
    /// The latest reply.
    pub reply: Option<Reply>,
    /// The operator's answer, when answered directly at intake.
    pub direct_answer: Option<String>,
    /// The reply was accepted on review.
    pub reply_accepted: bool,
    /// The latest callback.
    pub callback: Option<CallbackRecord>,
    /// A supervisor exempted the rating from statistics after a dispute.
    pub rating_exempt: bool,
    /// The rating dispute was decided (one per rating).
    pub dispute_decided: bool,
    /// Why it closed.
    pub close_reason: Option<CloseReason>,
    /// The master ticket, when merged.
    pub merged_into: Option<TicketId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the last event happened.
    pub updated_at: Timestamp,
    /// When it closed or merged.
    pub closed_at: Option<Timestamp>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_only_the_edges_of_a_mobile_number() {
        let citizen = Citizen {
            name: "张三丰".to_owned(),
            phone: "13812345678".to_owned(),
            ..Citizen::default()
        };
        let masked = citizen.masked();
        assert_eq!(masked.phone, "138****5678");
        assert_eq!(masked.name, "张**");
        assert_eq!(
            Citizen {
                phone: "12345".to_owned(),
                ..Citizen::default()
            }
            .masked()
            .phone,
            "*****"
        );
    }

    #[test]
    fn coded_enums_round_trip_through_text() {
        for status in TicketStatus::ALL {
            assert_eq!(status.as_str().parse::<TicketStatus>().unwrap(), *status);
        }
        assert!("BOGUS".parse::<Channel>().is_err());
    }
}
