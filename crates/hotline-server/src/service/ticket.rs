//! TicketService: intake and the center's steps of the closed loop (operators).

use std::sync::Arc;

use hotline_core::{Classification, Command, RoutingOutcome, TicketStatus, decide_routing};
use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_server::TicketService;
use hotline_store::{CreateTicket, TicketFilter};
use jiff::Timestamp;
use tonic::{Request, Response, Status};
use tracing::field::Empty;
use tracing::instrument;
use uuid::Uuid;

use super::{department_filter, mutation};
use crate::analysis::{Probe, find_duplicates};
use crate::auth::Rpc;
use crate::convert::{
    Intake, IntoProto, MergeRequest, TryFromProto, Violations, optional_timestamp, page_request,
    required_enum, ticket_id, timeline_event_to_proto,
};
use crate::error::ApiError;
use crate::state::{Principal, Shared, pii_for};

/// Candidates returned when the caller gives no limit.
const DEFAULT_SIMILAR: usize = 10;
/// Most candidates returned.
const MAX_SIMILAR: usize = 50;

/// The TicketService implementation.
#[derive(Debug, Clone)]
pub struct TicketApi {
    shared: Arc<Shared>,
}

impl TicketApi {
    /// Builds the service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn create(
        &self,
        principal: &Principal,
        request: pb::CreateTicketRequest,
    ) -> Result<pb::CreateTicketResponse, ApiError> {
        let shared = &self.shared;
        let snapshot = shared.snapshot();
        let Intake {
            request_id,
            mut ticket,
        } = Intake::try_from_proto((request, &snapshot.directory))?;
        let classification = if ticket.category.is_some() {
            Classification {
                source: "operator".to_owned(),
                candidates: Vec::new(),
            }
        } else {
            let (category, classification) = shared.classifier.get().classify(
                &ticket.title,
                &ticket.body,
                &snapshot.directory.taxonomy,
            );
            ticket.category = category;
            classification
        };
        let decision = decide_routing(
            &snapshot.rules,
            &snapshot.directory,
            ticket.category.as_ref(),
            &classification,
            &ticket.region_code,
            ticket.appeal_type,
            shared.auto_dispatch_threshold,
        );
        if decision.outcome == RoutingOutcome::UnknownDepartment {
            tracing::warn!(rule_id = ?decision.rule_id, "routing rule names an unknown department");
        }
        ticket.auto_dispatch = decision.auto_dispatch().cloned();
        ticket.routing = Some(decision);
        let now = Timestamp::now();
        let ctx = shared.context(now, &principal.actor, &snapshot);
        let request = CreateTicket {
            request_id,
            id: hotline_core::TicketId::from_uuid(Uuid::now_v7()),
            center: shared.center.clone(),
            day: shared.day_of(now),
            ticket,
        };
        let created = shared.store.create_ticket(request, &ctx).await?;
        tracing::Span::current().record("ticket_id", tracing::field::display(created.ticket.id));
        shared.publish(&created.events, &created.ticket);
        tracing::info!(
            created = created.created,
            status = %created.ticket.status,
            "ticket taken in"
        );

        let probe = Probe::of(&created.ticket);
        // Duplicates are advice: the ticket is already filed, so a failed look-up
        // must not turn a successful create into an error.
        let duplicates = match find_duplicates(
            shared.store.as_ref(),
            &shared.recent,
            &probe,
            None,
            now,
            DEFAULT_SIMILAR,
        )
        .await
        {
            Ok(found) => found.iter().map(IntoProto::into_proto).collect(),
            Err(error) => {
                tracing::warn!(error = %error, "duplicate look-up failed");
                Vec::new()
            }
        };
        let mut ticket = shared.view(principal, &created.ticket);
        ticket.duplicates.clone_from(&duplicates);
        Ok(pb::CreateTicketResponse {
            ticket: Some(ticket),
            created: created.created,
            duplicates,
        })
    }

    async fn list(
        &self,
        principal: &Principal,
        request: pb::ListTicketsRequest,
    ) -> Result<pb::ListTicketsResponse, ApiError> {
        let mut v = Violations::default();
        let page = v.take(page_request(request.page_size, &request.page_token));
        let statuses: Vec<TicketStatus> = request
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(i, raw)| v.take(required_enum(&format!("statuses[{i}]"), *raw)))
            .collect();
        let after = v.take(optional_timestamp(
            "created_after",
            request.created_after.as_ref(),
        ));
        let before = v.take(optional_timestamp(
            "created_before",
            request.created_before.as_ref(),
        ));
        let (Some(page), Some(created_after), Some(created_before)) = (page, after, before) else {
            return Err(v.into_error());
        };
        v.check()?;
        let snapshot = self.shared.snapshot();
        let departments = department_filter(principal, &snapshot, &request.department_id)?;
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let filter = TicketFilter {
            statuses,
            departments,
            region_prefix: non_empty(request.region_prefix),
            category_prefix: non_empty(request.category_prefix),
            created_after,
            created_before,
            text: non_empty(request.text),
            ..TicketFilter::default()
        };
        let result = self.shared.store.list_tickets(&filter, &page).await?;
        Ok(pb::ListTicketsResponse {
            tickets: result
                .items
                .iter()
                .map(|t| self.shared.view(principal, t))
                .collect(),
            next_page_token: result.next_token.unwrap_or_default(),
        })
    }

    async fn similar(
        &self,
        principal: &Principal,
        request: pb::FindSimilarRequest,
    ) -> Result<pb::FindSimilarResponse, ApiError> {
        let limit = match usize::try_from(request.limit) {
            Err(_) => return Err(ApiError::invalid("limit", "must not be negative")),
            Ok(0) => DEFAULT_SIMILAR,
            Ok(n) => n.min(MAX_SIMILAR),
        };
        let probe = if request.ticket_id.is_empty() {
            let probe = Probe {
                exclude: None,
                phone: request.phone,
                address: request.address,
                category: (!request.category.is_empty()).then_some(request.category),
                region_code: String::new(),
                title: request.title,
                body: request.body,
            };
            let no_text = probe.title.trim().is_empty() && probe.body.trim().is_empty();
            if probe.phone.is_empty() && probe.address.is_empty() && no_text {
                return Err(ApiError::invalid(
                    "ticket_id",
                    "give a ticket id, or a title, body, phone or address to match",
                ));
            }
            probe
        } else {
            let id = ticket_id("ticket_id", &request.ticket_id)
                .map_err(|v| ApiError::InvalidArgument(vec![v]))?;
            tracing::Span::current().record("ticket_id", tracing::field::display(id));
            let ticket = self.shared.load_visible(principal, id).await?;
            Probe::of(&ticket)
        };
        let scope = self.shared.scope(principal, &self.shared.snapshot());
        let found = find_duplicates(
            self.shared.store.as_ref(),
            &self.shared.recent,
            &probe,
            scope,
            Timestamp::now(),
            limit,
        )
        .await?;
        Ok(pb::FindSimilarResponse {
            candidates: found.iter().map(IntoProto::into_proto).collect(),
        })
    }

    async fn merge(
        &self,
        principal: &Principal,
        request: pb::MergeTicketsRequest,
    ) -> Result<pb::TicketResponse, ApiError> {
        let MergeRequest {
            target,
            master_id,
            note,
        } = MergeRequest::try_from_proto(request)?;
        let master = self.shared.load_visible(principal, master_id).await?;
        let command = Command::Merge {
            master_id,
            master_status: master.status,
            note,
        };
        let ticket = self.shared.mutate(principal, target, command).await?;
        Ok(pb::TicketResponse {
            ticket: Some(self.shared.view(principal, &ticket)),
        })
    }
}

#[tonic::async_trait]
impl TicketService for TicketApi {
    #[instrument(skip_all, fields(rpc = "CreateTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Result<Response<pb::CreateTicketResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::CreateTicket).await?;
        Ok(Response::new(
            self.create(&principal, request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "GetTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::GetTicket).await?;
        let id = ticket_id("ticket_id", &request.get_ref().ticket_id)
            .map_err(|v| ApiError::InvalidArgument(vec![v]))?;
        tracing::Span::current().record("ticket_id", tracing::field::display(id));
        let ticket = self.shared.load_visible(&principal, id).await?;
        Ok(Response::new(pb::TicketResponse {
            ticket: Some(self.shared.view(&principal, &ticket)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListTickets", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::ListTickets).await?;
        Ok(Response::new(
            self.list(&principal, request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "GetTimeline", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_timeline(
        &self,
        request: Request<pb::GetTimelineRequest>,
    ) -> Result<Response<pb::GetTimelineResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::GetTimeline).await?;
        let id = ticket_id("ticket_id", &request.get_ref().ticket_id)
            .map_err(|v| ApiError::InvalidArgument(vec![v]))?;
        tracing::Span::current().record("ticket_id", tracing::field::display(id));
        let ticket = self.shared.load_visible(&principal, id).await?;
        let pii = pii_for(&principal, &ticket);
        let events = self
            .shared
            .store
            .timeline(id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::GetTimelineResponse {
            events: events
                .iter()
                .map(|e| timeline_event_to_proto(e, pii))
                .collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Dispatch", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn dispatch(
        &self,
        request: Request<pb::DispatchRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::Dispatch).await
    }

    #[instrument(skip_all, fields(rpc = "AnswerDirectly", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn answer_directly(
        &self,
        request: Request<pb::AnswerDirectlyRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::AnswerDirectly).await
    }

    #[instrument(skip_all, fields(rpc = "ReviewReply", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn review_reply(
        &self,
        request: Request<pb::ReviewReplyRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::ReviewReply).await
    }

    #[instrument(skip_all, fields(rpc = "RecordCallback", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn record_callback(
        &self,
        request: Request<pb::RecordCallbackRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::RecordCallback).await
    }

    #[instrument(skip_all, fields(rpc = "WithdrawTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn withdraw_ticket(
        &self,
        request: Request<pb::WithdrawTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::WithdrawTicket).await
    }

    #[instrument(skip_all, fields(rpc = "MergeTickets", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn merge_tickets(
        &self,
        request: Request<pb::MergeTicketsRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::MergeTickets).await?;
        Ok(Response::new(
            self.merge(&principal, request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "FindSimilar", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn find_similar(
        &self,
        request: Request<pb::FindSimilarRequest>,
    ) -> Result<Response<pb::FindSimilarResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::FindSimilar).await?;
        Ok(Response::new(
            self.similar(&principal, request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "MarkInvalid", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn mark_invalid(
        &self,
        request: Request<pb::MarkInvalidRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::MarkInvalid).await
    }
}
