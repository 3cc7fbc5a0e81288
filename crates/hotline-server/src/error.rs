//! The one error type of every RPC ([`ApiError`]) and its mapping to
//! `tonic::Status`, in one place.
//!
//! Store and domain errors become an [`ApiError`] through `From`; an
//! [`ApiError`] becomes a `Status` only through `From<ApiError> for Status`.
//! `Internal` and `Unavailable` carry their cause for the log and show clients a
//! generic message: internal error text never reaches a `Status`.

use hotline_core::DomainError;
use hotline_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The message clients see for any internal failure.
const INTERNAL_MESSAGE: &str = "internal error";
/// The message clients see when storage is down.
const UNAVAILABLE_MESSAGE: &str = "service temporarily unavailable, retry later";

/// One malformed request field, reported as a `google.rpc.BadRequest` violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field as clients name it (`citizen.phone`, `rules[2].lead_department_id`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldViolation {
    /// Builds a violation of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why an RPC failed. Each variant maps to exactly one gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; one violation per bad field (never empty).
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// No credential, or one that is unknown, revoked or expired.
    #[error("missing or invalid api key")]
    Unauthenticated,
    /// The credential's role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The entity does not exist, or the caller may not know that it does.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked up (`ticket`, `department`, `api key`).
        entity: &'static str,
        /// The id asked for, as the client sent it.
        id: String,
    },
    /// The caller's `expected_version` is stale.
    #[error("version conflict: expected {expected}, found {actual}")]
    Conflict {
        /// The version the caller expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// The state machine refuses the action; the message names the state and the action.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller's API key has used up its rate; it may retry after the wait.
    #[error(
        "rate limit of {rate} requests per second for this API key exceeded; retry in {} ms",
        retry_after.as_millis().max(1)
    )]
    RateLimited {
        /// Requests per second the key is allowed.
        rate: f64,
        /// Until a request will be accepted again.
        retry_after: std::time::Duration,
    },
    /// Storage cannot be reached; the text is the cause, for the log only.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data; the cause is for the log only.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// Builds an `InvalidArgument` with one violation.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation::new(field, reason)])
    }

    /// Builds the NOT_FOUND of a ticket: the same for an unknown id and for a
    /// ticket outside the caller's scope, so existence is not leaked.
    pub fn ticket_not_found(id: impl std::fmt::Display) -> Self {
        ApiError::NotFound {
            entity: "ticket",
            id: id.to_string(),
        }
    }

    /// Returns the gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument(_) => Code::InvalidArgument,
            ApiError::Unauthenticated => Code::Unauthenticated,
            ApiError::PermissionDenied(_) => Code::PermissionDenied,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::Conflict { .. } => Code::Aborted,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::RateLimited { .. } => Code::ResourceExhausted,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::InvalidField { field, reason } => ApiError::invalid(field, reason),
            DomainError::IllegalTransition { .. }
            | DomainError::NotAssigned { .. }
            | DomainError::LimitExceeded { .. } => ApiError::FailedPrecondition(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity, id } => ApiError::NotFound { entity, id },
            StoreError::Conflict { expected, actual } => ApiError::Conflict { expected, actual },
            StoreError::Rejected(domain) => domain.into(),
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            StoreError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        match error {
            ApiError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.reason.clone());
                }
                Status::with_error_details(
                    code,
                    format!("invalid argument: {}", describe(&violations)),
                    details,
                )
            }
            ApiError::RateLimited { retry_after, .. } => {
                let message = error.to_string();
                Status::with_error_details(
                    code,
                    message,
                    ErrorDetails::with_retry_info(Some(retry_after)),
                )
            }
            ApiError::Unavailable(cause) => {
                tracing::error!(error = %cause, "storage unavailable");
                Status::new(code, UNAVAILABLE_MESSAGE)
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Status::new(code, INTERNAL_MESSAGE)
            }
            other => Status::new(code, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::{Action, DepartmentId, Limit, TicketStatus};

    use super::*;

    fn status_of(error: StoreError) -> Status {
        Status::from(ApiError::from(error))
    }

    #[test]
    fn store_not_found_is_not_found_with_the_id() {
        let status = status_of(StoreError::NotFound {
            entity: "ticket",
            id: "0190-abc".to_owned(),
        });
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "ticket 0190-abc not found");
    }

    #[test]
    fn an_out_of_scope_ticket_looks_exactly_like_an_unknown_one() {
        let unknown = status_of(StoreError::NotFound {
            entity: "ticket",
            id: "x".to_owned(),
        });
        let hidden = Status::from(ApiError::ticket_not_found("x"));
        assert_eq!(unknown.code(), hidden.code());
        assert_eq!(unknown.message(), hidden.message());
    }

    #[test]
    fn store_conflict_is_aborted() {
        let status = status_of(StoreError::Conflict {
            expected: 3,
            actual: 4,
        });
        assert_eq!(status.code(), Code::Aborted);
        assert!(
            status.message().contains("expected 3"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn invalid_field_is_invalid_argument_with_a_bad_request_violation() {
        let status = status_of(StoreError::Rejected(DomainError::InvalidField {
            field: "citizen.phone",
            reason: "must be digits".to_owned(),
        }));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = &details
            .bad_request()
            .expect("bad request details")
            .field_violations;
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "citizen.phone");
        assert_eq!(violations[0].description, "must be digits");
    }

    #[test]
    fn several_violations_all_reach_the_details() {
        let status = Status::from(ApiError::InvalidArgument(vec![
            FieldViolation::new("channel", "must be set"),
            FieldViolation::new("title", "must not be empty"),
        ]));
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("bad request details")
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["channel", "title"]);
    }

    #[test]
    fn illegal_transition_is_failed_precondition_naming_state_and_action() {
        let status = status_of(StoreError::Rejected(DomainError::IllegalTransition {
            action: Action::Sign,
            status: TicketStatus::Closed,
            reason: "it is not with a department",
        }));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("SIGN"), "{}", status.message());
        assert!(status.message().contains("CLOSED"), "{}", status.message());
    }

    #[test]
    fn not_assigned_and_limits_are_failed_preconditions() {
        let not_assigned = status_of(StoreError::Rejected(DomainError::NotAssigned {
            action: Action::Reply,
            department_id: DepartmentId::new("sz.env"),
            reason: "co-handlers do not handle the matter itself",
        }));
        assert_eq!(not_assigned.code(), Code::FailedPrecondition);
        assert!(not_assigned.message().contains("REPLY"));
        let limit = status_of(StoreError::Rejected(DomainError::LimitExceeded {
            limit: Limit::Returns,
            max: 2,
        }));
        assert_eq!(limit.code(), Code::FailedPrecondition);
    }

    #[test]
    fn unavailable_and_internal_hide_their_cause() {
        let unavailable = status_of(StoreError::Unavailable(
            "disk I/O error at /secret".to_owned(),
        ));
        assert_eq!(unavailable.code(), Code::Unavailable);
        assert_eq!(unavailable.message(), UNAVAILABLE_MESSAGE);
        let internal = status_of(StoreError::Internal(anyhow::anyhow!(
            "constraint failed: tickets.secret"
        )));
        assert_eq!(internal.code(), Code::Internal);
        assert_eq!(internal.message(), INTERNAL_MESSAGE);
        assert!(!internal.message().contains("secret"));
    }

    #[test]
    fn every_api_error_has_its_own_code() {
        let cases = [
            (ApiError::invalid("f", "r"), Code::InvalidArgument),
            (ApiError::Unauthenticated, Code::Unauthenticated),
            (
                ApiError::PermissionDenied("no".to_owned()),
                Code::PermissionDenied,
            ),
            (ApiError::ticket_not_found("t"), Code::NotFound),
            (
                ApiError::Conflict {
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
            (
                ApiError::FailedPrecondition("no".to_owned()),
                Code::FailedPrecondition,
            ),
            (ApiError::Unavailable("down".to_owned()), Code::Unavailable),
            (ApiError::Internal(anyhow::anyhow!("bug")), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(error).code(), code);
        }
    }
}
