//! SupervisionService: deadlines, supervision (督办), decisions and analysis.

use std::sync::Arc;

use hotline_core::{DeadlineKind, DepartmentId, WarningLevel};
use hotline_proto::v1 as pb;
use hotline_proto::v1::supervision_service_server::SupervisionService;
use hotline_store::{DeadlineItem, DeadlineQuery, PageRequest};
use jiff::{SignedDuration, Timestamp};
use tonic::{Request, Response, Status};
use tracing::field::Empty;
use tracing::instrument;

use super::{department_filter, mutation};
use crate::analysis;
use crate::auth::Rpc;
use crate::convert::{
    IntoProto, Violations, enum_to_i32, optional_enum, page_request, required_timestamp,
    timestamp_to_proto,
};
use crate::error::ApiError;
use crate::state::{Principal, Shared};

/// Look-ahead of ListDueSoon when the caller gives none.
const DEFAULT_DUE_SOON: SignedDuration = SignedDuration::from_hours(24);
/// Minimum tickets of a hotspot when the caller gives none.
pub const DEFAULT_HOTSPOT_MIN_COUNT: usize = 5;
/// Region digits of a hotspot when the caller gives none (district).
const DEFAULT_REGION_LEVEL: usize = 6;

/// The SupervisionService implementation.
#[derive(Debug, Clone)]
pub struct SupervisionApi {
    shared: Arc<Shared>,
}

/// The filters ListOverdue and ListDueSoon share.
struct DeadlineListing {
    query: DeadlineQuery,
    page: PageRequest,
}

impl SupervisionApi {
    /// Builds the service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn deadlines(
        &self,
        principal: &Principal,
        listing: DeadlineListing,
        now: Timestamp,
    ) -> Result<(Vec<pb::OverdueItem>, String), ApiError> {
        let result = self
            .shared
            .store
            .list_deadlines(&listing.query, &listing.page)
            .await?;
        let items = result
            .items
            .iter()
            .map(|item| self.overdue_item(principal, item, now))
            .collect();
        Ok((items, result.next_token.unwrap_or_default()))
    }

    fn overdue_item(
        &self,
        principal: &Principal,
        item: &DeadlineItem,
        now: Timestamp,
    ) -> pb::OverdueItem {
        let owner = match item.kind {
            DeadlineKind::Callback => String::new(),
            DeadlineKind::Sign | DeadlineKind::Reply => item
                .ticket
                .lead_department_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        pb::OverdueItem {
            ticket: Some(self.shared.view(principal, &item.ticket)),
            kind: enum_to_i32(item.kind),
            due: Some(timestamp_to_proto(item.due)),
            overdue_seconds: now.duration_since(item.due).as_secs(),
            department_id: owner,
        }
    }

    async fn list_overdue_items(
        &self,
        principal: &Principal,
        request: pb::ListOverdueRequest,
    ) -> Result<pb::ListOverdueResponse, ApiError> {
        let mut v = Violations::default();
        let kind = v.take(optional_enum::<DeadlineKind>("kind", request.kind));
        let min_level = v.take(optional_enum::<WarningLevel>(
            "min_level",
            request.min_level.unwrap_or(0),
        ));
        let page = v.take(page_request(request.page_size, &request.page_token));
        let (Some(kind), Some(min_level), Some(page)) = (kind, min_level, page) else {
            return Err(v.into_error());
        };
        v.check()?;
        let snapshot = self.shared.snapshot();
        let departments = department_filter(principal, &snapshot, &request.department_id)?;
        let now = Timestamp::now();
        // Past due is judged against the clock, to the instant. The other levels are
        // lights only the sweeper knows (each ticket has its own thresholds), so they
        // are read as it last set them: WARNING also lists yellow deadlines not yet
        // due, SERIOUSLY_OVERDUE only deadlines past their serious span.
        let (due_before, min_level) = match min_level {
            None | Some(WarningLevel::None | WarningLevel::Overdue) => (Some(now), None),
            Some(WarningLevel::Warning) => (None, Some(WarningLevel::Warning)),
            Some(WarningLevel::SeriouslyOverdue) => {
                (Some(now), Some(WarningLevel::SeriouslyOverdue))
            }
        };
        let listing = DeadlineListing {
            query: DeadlineQuery {
                due_before,
                due_after: None,
                kind,
                departments,
                region_prefix: non_empty(request.region_prefix),
                category_prefix: non_empty(request.category_prefix),
                min_level,
            },
            page,
        };
        let (items, next_page_token) = self.deadlines(principal, listing, now).await?;
        Ok(pb::ListOverdueResponse {
            items,
            next_page_token,
        })
    }

    async fn list_due_soon_items(
        &self,
        principal: &Principal,
        request: pb::ListDueSoonRequest,
    ) -> Result<pb::ListDueSoonResponse, ApiError> {
        let mut v = Violations::default();
        let kind = v.take(optional_enum::<DeadlineKind>("kind", request.kind));
        let min_level = v.take(optional_enum::<WarningLevel>(
            "min_level",
            request.min_level.unwrap_or(0),
        ));
        let page = v.take(page_request(request.page_size, &request.page_token));
        let within = match request.within_seconds {
            0 => Some(DEFAULT_DUE_SOON),
            n if n > 0 => Some(SignedDuration::from_secs(n)),
            _ => {
                v.push("within_seconds", "must not be negative");
                None
            }
        };
        let (Some(kind), Some(min_level), Some(page), Some(within)) =
            (kind, min_level, page, within)
        else {
            return Err(v.into_error());
        };
        v.check()?;
        let snapshot = self.shared.snapshot();
        let departments = department_filter(principal, &snapshot, &request.department_id)?;
        let now = Timestamp::now();
        let listing = DeadlineListing {
            query: DeadlineQuery {
                due_before: Some(now.checked_add(within).unwrap_or(Timestamp::MAX)),
                due_after: Some(now),
                kind,
                departments,
                region_prefix: non_empty(request.region_prefix),
                category_prefix: non_empty(request.category_prefix),
                min_level,
            },
            page,
        };
        let (items, next_page_token) = self.deadlines(principal, listing, now).await?;
        Ok(pb::ListDueSoonResponse {
            items,
            next_page_token,
        })
    }

    async fn stats(
        &self,
        principal: &Principal,
        request: pb::GetDepartmentStatsRequest,
    ) -> Result<pb::GetDepartmentStatsResponse, ApiError> {
        let (start, end) = period(
            ("period_start", request.period_start.as_ref()),
            ("period_end", request.period_end.as_ref()),
        )?;
        let snapshot = self.shared.snapshot();
        let wanted = department_filter(principal, &snapshot, &request.department_id)?;
        let departments: Vec<_> = match wanted {
            None => snapshot.directory.departments().cloned().collect(),
            Some(ids) => {
                if let [only] = ids.as_slice()
                    && snapshot.directory.department(only).is_none()
                {
                    return Err(ApiError::NotFound {
                        entity: "department",
                        id: only.to_string(),
                    });
                }
                ids.iter()
                    .filter_map(|id: &DepartmentId| snapshot.directory.department(id).cloned())
                    .collect()
            }
        };
        let rows = analysis::department_stats(
            self.shared.store.as_ref(),
            &departments,
            start,
            end,
            Timestamp::now(),
            self.shared.snapshot().calendar.as_ref(),
        )
        .await?;
        Ok(pb::GetDepartmentStatsResponse {
            stats: rows.iter().map(IntoProto::into_proto).collect(),
        })
    }

    async fn hotspots(
        &self,
        request: pb::ListHotspotsRequest,
    ) -> Result<pb::ListHotspotsResponse, ApiError> {
        let (start, end) = period(
            ("window_start", request.window_start.as_ref()),
            ("window_end", request.window_end.as_ref()),
        )?;
        let min_count = match usize::try_from(request.min_count) {
            Ok(0) => DEFAULT_HOTSPOT_MIN_COUNT,
            Ok(n) => n,
            Err(_) => return Err(ApiError::invalid("min_count", "must not be negative")),
        };
        let region_level = match request.region_level {
            0 => DEFAULT_REGION_LEVEL,
            6 => 6,
            9 => 9,
            12 => 12,
            _ => return Err(ApiError::invalid("region_level", "must be 6, 9 or 12")),
        };
        let rows = analysis::hotspots(
            self.shared.store.as_ref(),
            start,
            end,
            min_count,
            region_level,
        )
        .await?;
        Ok(pb::ListHotspotsResponse {
            hotspots: rows.iter().map(IntoProto::into_proto).collect(),
        })
    }
}

/// Returns a filter text, `None` when empty (no filter).
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Parses a required `[start, end)` period.
fn period(
    start: (&str, Option<&prost_types::Timestamp>),
    end: (&str, Option<&prost_types::Timestamp>),
) -> Result<(Timestamp, Timestamp), ApiError> {
    let mut v = Violations::default();
    let from = v.take(required_timestamp(start.0, start.1));
    let to = v.take(required_timestamp(end.0, end.1));
    let (Some(from), Some(to)) = (from, to) else {
        return Err(v.into_error());
    };
    if to <= from {
        v.push(end.0, format!("must be after {}", start.0));
    }
    v.check()?;
    Ok((from, to))
}

#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    #[instrument(skip_all, fields(rpc = "ListOverdue", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_overdue(
        &self,
        request: Request<pb::ListOverdueRequest>,
    ) -> Result<Response<pb::ListOverdueResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::ListOverdue).await?;
        Ok(Response::new(
            self.list_overdue_items(&principal, request.into_inner())
                .await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "ListDueSoon", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_due_soon(
        &self,
        request: Request<pb::ListDueSoonRequest>,
    ) -> Result<Response<pb::ListDueSoonResponse>, Status> {
        let principal = self.shared.authorize(&request, Rpc::ListDueSoon).await?;
        Ok(Response::new(
            self.list_due_soon_items(&principal, request.into_inner())
                .await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "UrgeTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn urge_ticket(
        &self,
        request: Request<pb::UrgeTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::UrgeTicket).await
    }

    #[instrument(skip_all, fields(rpc = "SuperviseTicket", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn supervise_ticket(
        &self,
        request: Request<pb::SuperviseTicketRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::SuperviseTicket).await
    }

    #[instrument(skip_all, fields(rpc = "DecideExtension", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn decide_extension(
        &self,
        request: Request<pb::DecideExtensionRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::DecideExtension).await
    }

    #[instrument(skip_all, fields(rpc = "DecideReturn", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn decide_return(
        &self,
        request: Request<pb::DecideReturnRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::DecideReturn).await
    }

    #[instrument(skip_all, fields(rpc = "DecideSuspension", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn decide_suspension(
        &self,
        request: Request<pb::DecideSuspensionRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::DecideSuspension).await
    }

    #[instrument(skip_all, fields(rpc = "DecideDispute", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn decide_dispute(
        &self,
        request: Request<pb::DecideDisputeRequest>,
    ) -> Result<Response<pb::TicketResponse>, Status> {
        mutation(&self.shared, request, Rpc::DecideDispute).await
    }

    #[instrument(skip_all, fields(rpc = "GetDepartmentStats", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_department_stats(
        &self,
        request: Request<pb::GetDepartmentStatsRequest>,
    ) -> Result<Response<pb::GetDepartmentStatsResponse>, Status> {
        let principal = self
            .shared
            .authorize(&request, Rpc::GetDepartmentStats)
            .await?;
        Ok(Response::new(
            self.stats(&principal, request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "ListHotspots", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_hotspots(
        &self,
        request: Request<pb::ListHotspotsRequest>,
    ) -> Result<Response<pb::ListHotspotsResponse>, Status> {
        self.shared.authorize(&request, Rpc::ListHotspots).await?;
        Ok(Response::new(self.hotspots(request.into_inner()).await?))
    }
}
