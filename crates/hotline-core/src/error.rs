//! Why the domain refuses a command.

use crate::command::Action;
use crate::ids::DepartmentId;
use crate::model::TicketStatus;

/// Which per-ticket limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Return requests.
    Returns,
    /// Extension requests.
    Extensions,
    /// Reopens after callback.
    Reopens,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Returns => "returns",
            Limit::Extensions => "extensions",
            Limit::Reopens => "reopens",
        })
    }
}

/// A command the domain refuses; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field of the command is malformed; `field` is the request field name.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The request field, as clients name it (e.g. `citizen.phone`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The state machine does not allow this action in the ticket's current state.
    #[error("cannot {action} a ticket in state {status}: {reason}")]
    IllegalTransition {
        /// The refused action.
        action: Action,
        /// The ticket's current state.
        status: TicketStatus,
        /// What else stands in the way, when the status alone does not say.
        reason: &'static str,
    },
    /// The acting department has no part in this ticket that allows the action.
    #[error("department {department_id} cannot {action} this ticket: {reason}")]
    NotAssigned {
        /// The refused action.
        action: Action,
        /// The acting department.
        department_id: DepartmentId,
        /// Which part it lacks.
        reason: &'static str,
    },
    /// A per-ticket limit from policy was reached.
    #[error("limit of {max} {limit} per ticket reached")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The policy's maximum.
        max: u32,
    },
}

/// Why a list of events does not fold into a ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// There were no events.
    #[error("no events to replay")]
    Empty,
    /// The first event is not a creation.
    #[error("first event is {0}, not CREATED")]
    NotCreated(&'static str),
    /// An event belongs to another ticket or breaks the sequence.
    #[error("event {seq} is out of sequence or belongs to another ticket")]
    OutOfSequence {
        /// The offending event's sequence number.
        seq: u64,
    },
}
