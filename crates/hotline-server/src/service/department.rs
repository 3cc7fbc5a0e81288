//! DepartmentService: the handling departments' side of the closed loop.

use std::sync::Arc;

use hotline_core::{AssignmentStatus, Ticket, TicketStatus};
use hotline_proto::v1 as pb;
use hotline_proto::v1::department_service_server::DepartmentService;
use hotline_store::TicketFilter;
use tonic::{Request, Response, Status};
use tracing::field::Empty;
use tracing::instrument;

use super::{department_subtree, mutation};
use crate::auth::Rpc;
use crate::convert::{Violations, page_request, required_enum};
use crate::error::ApiError;
use crate::notify::{self, NotificationStream, Watch};
use crate::state::{Principal, Shared};

/// Statuses listed when the caller names none: the ones a department works on.
const WORKING_STATUSES: &[TicketStatus] = &[
    TicketStatus::Dispatched,
    TicketStatus::InProgress,
    TicketStatus::Replied,
];

/// The DepartmentService implementation.
#[derive(Debug, Clone)]
pub struct DepartmentApi {
    shared: Arc<Shared>,
}

impl DepartmentApi {
    /// Builds the service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn list(
        &self,
        principal: &Principal,
        request: pb::ListAssignmentsRequest,
    ) -> Result<pb::ListAssignmentsResponse, ApiError> {
        let mut v = Violations::default();
        let page = v.take(page_request(request.page_size, &request.page_token));
        let mut statuses: Vec<TicketStatus> = request
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(i, raw)| v.take(required_enum(&format!("statuses[{i}]"), *raw)))
            .collect();
        let Some(page) = page else {
            return Err(v.into_error());
        };
        v.check()?;
        if statuses.is_empty() {
            statuses = WORKING_STATUSES.to_vec();
        }
        let snapshot = self.shared.snapshot();
        let departments = department_subtree(principal, &snapshot, &request.department_id)?;
        let filter = TicketFilter {
            statuses,
            departments: Some(departments),
            ..TicketFilter::default()
        };
        let result = self.shared.store.list_tickets(&filter, &page).await?;
        // The store matches departments that hold or held a part; a department that
        // gave the ticket back (approved return) has no assignment left in it. A page
        // may so come back shorter than asked, with more to follow.
        let departments = filter.departments.unwrap_or_default();
        let assigned = |t: &&Ticket| {
            t.assignments.iter().any(|a| {
                a.status != AssignmentStatus::Returned && departments.contains(&a.department_id)
            })
        };
        Ok(pb::ListAssignmentsResponse {
            tickets: result
                .items
                .iter()
                .filter(assigned)
                .map(|t| self.shared.view(principal, t))
                .collect(),
            next_page_token: result.next_token.unwrap_or_default(),
        })
    }

    fn watch(
        &self,
        principal: Principal,
        request: &pb::WatchAssignmentsRequest,
    ) -> Result<NotificationStream, ApiError> {
        let after_event_id = if request.after_event_id.is_empty() {
            None
        } else {
            match request.after_event_id.parse::<i64>() {
                Ok(id) if id >= 0 => Some(id),
                _ => {
                    return Err(ApiError::invalid(
                        "after_event_id",
                        "must be an event id from an earlier notification",
                    ));
                }
            }
        };
        let snapshot = self.shared.snapshot();
        let departments = department_subtree(&principal, &snapshot, &request.department_id)?;
        tracing::info!(after_event_id, "watch stream opened");
        Ok(notify::watch(
            Arc::clone(&self.shared),
            Watch {
                principal,
                departments,
                after_event_id,
            },
        ))
    }
}

#[tonic::async_trait]
impl DepartmentService for DepartmentApi {
    type WatchAssignmentsStream = NotificationStream;

    #[instrument(skip_all, fields(rpc = "ListAssignments", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        let principal = self
            .shared
            .authorize(&request, Rpc::ListAssignments)
            .await?;
        Ok(Response::new(
            self.list(&principal, request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "WatchAssignments", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn watch_assignments(
        &self,
        request: Request<pb::WatchAssignmentsRequest>,
    ) -> Result<Response<Self::WatchAssignmentsStream>, Status> {
        let principal = self
            .shared
            .authorize(&request, Rpc::WatchAssignments)
            .await?;
        Ok(Response::new(self.watch(principal, request.get_ref())?))
    }

    #[instrument(skip_all, fields(rpc = "SignTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn sign_ticket(
        &self,
        request: Request<pb::SignTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::SignTicket).await
    }

    #[instrument(skip_all, fields(rpc = "ReturnTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn return_ticket(
        &self,
        request: Request<pb::ReturnTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::ReturnTicket).await
    }

    #[instrument(skip_all, fields(rpc = "RequestExtension", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn request_extension(
        &self,
        request: Request<pb::RequestExtensionRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::RequestExtension).await
    }

    #[instrument(skip_all, fields(rpc = "RequestSuspension", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn request_suspension(
        &self,
        request: Request<pb::RequestSuspensionRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::RequestSuspension).await
    }

    #[instrument(skip_all, fields(rpc = "ResumeTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn resume_ticket(
        &self,
        request: Request<pb::ResumeTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::ResumeTicket).await
    }

    #[instrument(skip_all, fields(rpc = "AddProgress", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn add_progress(
        &self,
        request: Request<pb::AddProgressRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::AddProgress).await
    }

    #[instrument(skip_all, fields(rpc = "DelegateTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn delegate_ticket(
        &self,
        request: Request<pb::DelegateTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::DelegateTicket).await
    }

    #[instrument(skip_all, fields(rpc = "SubmitOpinion", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn submit_opinion(
        &self,
        request: Request<pb::SubmitOpinionRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::SubmitOpinion).await
    }

    #[instrument(skip_all, fields(rpc = "ReplyTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn reply_ticket(
        &self,
        request: Request<pb::ReplyTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::ReplyTicket).await
    }

    #[instrument(skip_all, fields(rpc = "DisputeRating", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn dispute_rating(
        &self,
        request: Request<pb::DisputeRatingRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::DisputeRating).await
    }
}
