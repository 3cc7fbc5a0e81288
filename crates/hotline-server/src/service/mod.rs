//! The four tonic services. Each handler authorizes first (one [`Rpc`] per
//! handler, checked against the matrix), then converts the request, then
//! calls the store through [`Shared`]; errors become `Status` only through
//! `From<ApiError>`.

mod admin;
mod department;
mod supervision;
mod ticket;

pub use admin::AdminApi;
pub use department::DepartmentApi;
pub use supervision::SupervisionApi;
pub use ticket::TicketApi;

use hotline_core::{Command, DepartmentId};
use hotline_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::auth::Rpc;
use crate::convert::{Target, TryFromProto};
use crate::error::ApiError;
use crate::state::{Principal, Shared, Snapshot};

/// Runs a ticket mutation: authorize, convert, apply, and answer with the ticket.
async fn mutation<R>(
    shared: &Shared,
    request: Request<R>,
    rpc: Rpc,
) -> Result<Response<pb::TicketResponse>, Status>
where
    (Target, Command): TryFromProto<R>,
{
    let principal = shared.authorize(&request, rpc).await?;
    let (target, command) = <(Target, Command)>::try_from_proto(request.into_inner())?;
    let ticket = shared.mutate(&principal, target, command).await?;
    Ok(Response::new(pb::TicketResponse {
        ticket: Some(shared.view(&principal, &ticket)),
    }))
}

/// Resolves the department whose subtree a list or watch covers: a DEPARTMENT
/// caller gets its own (or a department below it); others must name one.
fn department_subtree(
    principal: &Principal,
    snapshot: &Snapshot,
    requested: &str,
) -> Result<Vec<DepartmentId>, ApiError> {
    let directory = &snapshot.directory;
    match principal.department() {
        Some(own) => {
            let scope = directory.subtree(own);
            if requested.is_empty() {
                return Ok(scope);
            }
            let wanted = DepartmentId::new(requested);
            if scope.contains(&wanted) {
                Ok(directory.subtree(&wanted))
            } else {
                Err(outside_scope(own))
            }
        }
        None => {
            if requested.is_empty() {
                return Err(ApiError::invalid(
                    "department_id",
                    "is required for SUPERVISOR and ADMIN callers",
                ));
            }
            let wanted = DepartmentId::new(requested);
            if directory.department(&wanted).is_none() {
                return Err(ApiError::NotFound {
                    entity: "department",
                    id: requested.to_owned(),
                });
            }
            Ok(directory.subtree(&wanted))
        }
    }
}

/// Resolves an optional single-department filter within the caller's scope:
/// `None` means every department the caller may see.
fn department_filter(
    principal: &Principal,
    snapshot: &Snapshot,
    requested: &str,
) -> Result<Option<Vec<DepartmentId>>, ApiError> {
    let wanted = (!requested.is_empty()).then(|| DepartmentId::new(requested));
    match (principal.department(), wanted) {
        (None, None) => Ok(None),
        (None, Some(wanted)) => Ok(Some(vec![wanted])),
        (Some(own), None) => Ok(Some(snapshot.directory.subtree(own))),
        (Some(own), Some(wanted)) => {
            if snapshot.directory.subtree(own).contains(&wanted) {
                Ok(Some(vec![wanted]))
            } else {
                Err(outside_scope(own))
            }
        }
    }
}

fn outside_scope(own: &DepartmentId) -> ApiError {
    ApiError::PermissionDenied(format!(
        "department_id is outside department {own} and the departments below it"
    ))
}
