//! The ticket domain of hotline: what a 12345 appeal is, the closed loop it must
//! travel, and the deadlines that keep it moving.
//!
//! Everything here is pure: no IO, no clock, no randomness. Callers pass the
//! current time, the acting credential, the policy and the reference data in a
//! [`Context`], and get back events or a typed [`DomainError`]. A ticket is the
//! fold of its events ([`Ticket::replay`]), so storage only has to append events
//! and keep the projection next to them.

#![forbid(unsafe_code)]

mod calendar;
pub mod classify;
mod command;
mod directory;
mod error;
mod event;
mod ids;
mod machine;
mod model;
mod policy;
mod routing;
pub mod similar;
mod stats;
mod sweep;
mod validate;

pub use calendar::{
    AlwaysOpen, CHINA_CALENDAR, Calendar, CalendarDaySpec, CalendarParseError, CalendarProblem,
    CalendarSpec, CalendarSpecError, CalendarViolation, DayKind, FirstListed, MAX_WALK_DAYS,
    WorkingCalendar, WorkingIntervalSpec,
};
pub use command::{Action, Command, Context, DispatchTarget, NewTicket};
pub use directory::{Department, Directory, Taxonomy, TaxonomyEntry, TaxonomyError};
pub use error::{DomainError, Limit, ReplayError};
pub use event::{Actor, Event, EventKind, PartDeadlines, Role};
pub use ids::{DepartmentId, TicketId};
pub use machine::{Decision, Unnumbered, create_ticket, prepare_ticket};
pub use model::{
    AppealType, Assignment, AssignmentRole, AssignmentStatus, CallbackRecord, Category, Channel,
    Citizen, CloseReason, DeadlineKind, GeoPoint, PendingExtension, PendingReturn,
    PendingSuspension, Priority, Reply, ReplyResult, Satisfaction, SupervisionLevel, Ticket,
    TicketStatus, WarningLevel,
};
pub use policy::{DeadlinePolicy, Limits, PolicyEntry, TicketPolicy, Window};
pub use routing::{
    Classification, RoutingDecision, RoutingOutcome, RoutingRule, ScoredCategory, decide_routing,
    route,
};
pub use stats::{DepartmentStats, StatsBuilder, StatsPart, department_stats, rate, stats_parts};
pub use sweep::DeadlineThresholds;
pub use validate::{MAX_BODY_CHARS, MAX_NOTE_CHARS, MAX_TITLE_CHARS};

/// Parses one of this crate's string-coded enums, naming the type on failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownValue {
    /// The enum being parsed, e.g. `TicketStatus`.
    pub kind: &'static str,
    /// The text that matched no variant.
    pub value: String,
}
