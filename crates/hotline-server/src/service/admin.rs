//! AdminService: departments, routing rules, deadline policy, calendar,
//! credentials and the classifier. Writes that change the snapshot hold the
//! admin lock until the snapshot is reloaded, so concurrent admins never
//! leave the in-memory copy behind the store.

use std::path::PathBuf;
use std::sync::Arc;

use hotline_core::{DeadlinePolicy, Department, Taxonomy, TaxonomyEntry};
use hotline_proto::v1 as pb;
use hotline_proto::v1::admin_service_server::AdminService;
use hotline_store::ApiKeyRecord;
use jiff::Timestamp;
use tonic::{Request, Response, Status};
use tracing::field::Empty;
use tracing::instrument;

use crate::auth::{self, Rpc};
use crate::classifier::IntakeClassifier;
use crate::convert::{
    IntoProto, NewApiKey, TryFromProto, routing_rules_from_proto, timestamp_to_proto,
};
use crate::error::ApiError;
use crate::settings::{self, CalendarDoc};
use crate::state::Shared;

/// The AdminService implementation.
#[derive(Debug, Clone)]
pub struct AdminApi {
    shared: Arc<Shared>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.into()))
}

impl AdminApi {
    /// Builds the service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn upsert(
        &self,
        request: pb::UpsertDepartmentRequest,
    ) -> Result<pb::Department, ApiError> {
        let Some(department) = request.department else {
            return Err(ApiError::invalid("department", "is required"));
        };
        let department = Department::try_from_proto(department)?;
        let _guard = self.shared.admin_lock.lock().await;
        let snapshot = self.shared.snapshot();
        if let Some(parent) = &department.parent_id {
            if snapshot.directory.department(parent).is_none() {
                return Err(ApiError::invalid(
                    "department.parent_id",
                    format!("unknown department {parent}"),
                ));
            }
            if snapshot.directory.is_descendant(parent, &department.id) {
                return Err(ApiError::invalid(
                    "department.parent_id",
                    "would put the department below itself",
                ));
            }
        }
        self.shared.store.upsert_department(&department).await?;
        self.shared.reload().await?;
        tracing::info!(department_id = %department.id, "department upserted");
        Ok((&department).into_proto())
    }

    async fn put_rules(&self, request: pb::PutRoutingRulesRequest) -> Result<i32, ApiError> {
        let _guard = self.shared.admin_lock.lock().await;
        let snapshot = self.shared.snapshot();
        let rules = routing_rules_from_proto(request.rules, &snapshot.directory)?;
        let json = to_json(&rules)?;
        self.shared
            .store
            .put_setting(settings::ROUTING_RULES, &json, Timestamp::now())
            .await?;
        self.shared.reload().await?;
        tracing::info!(count = rules.len(), "routing rules replaced");
        Ok(i32::try_from(rules.len()).unwrap_or(i32::MAX))
    }

    async fn put_policy(
        &self,
        request: pb::PutDeadlinePolicyRequest,
    ) -> Result<pb::DeadlinePolicy, ApiError> {
        let Some(policy) = request.policy else {
            return Err(ApiError::invalid("policy", "is required"));
        };
        let policy = DeadlinePolicy::try_from_proto(policy)?;
        let expected = request
            .expected_version
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| ApiError::invalid("expected_version", "must not be negative"))
            })
            .transpose()?;
        let _guard = self.shared.admin_lock.lock().await;
        let current = self
            .shared
            .store
            .get_setting(settings::DEADLINE_POLICY)
            .await?;
        let actual = current.map_or(0, |s| u64::try_from(s.version).unwrap_or(0));
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(ApiError::Conflict { expected, actual });
        }
        let json = to_json(&policy)?;
        let version = self
            .shared
            .store
            .put_setting(settings::DEADLINE_POLICY, &json, Timestamp::now())
            .await?;
        self.shared.reload().await?;
        tracing::info!(version, "deadline policy replaced");
        Ok((&policy, version).into_proto())
    }

    async fn store_calendar(
        &self,
        request: pb::PutCalendarRequest,
    ) -> Result<pb::Calendar, ApiError> {
        let Some(calendar) = request.calendar else {
            return Err(ApiError::invalid("calendar", "is required"));
        };
        let doc = CalendarDoc::try_from_proto(calendar)?;
        doc.to_calendar()?;
        let json = to_json(&doc)?;
        let _guard = self.shared.admin_lock.lock().await;
        let version = self
            .shared
            .store
            .put_setting(settings::CALENDAR, &json, Timestamp::now())
            .await?;
        self.shared.reload().await?;
        tracing::info!(version, "calendar replaced");
        Ok(doc.into_proto())
    }

    async fn calendar(&self) -> Result<pb::Calendar, ApiError> {
        let stored =
            settings::load::<CalendarDoc>(self.shared.store.as_ref(), settings::CALENDAR).await?;
        let doc = stored.map_or_else(
            || CalendarDoc::of(&crate::app::default_calendar(&self.shared.time_zone_name)),
            |(doc, _)| doc,
        );
        Ok(doc.into_proto())
    }

    async fn create_key(
        &self,
        request: pb::CreateApiKeyRequest,
    ) -> Result<pb::CreateApiKeyResponse, ApiError> {
        let new = NewApiKey::try_from_proto(request)?;
        let now = Timestamp::now();
        if let Some(department) = &new.department_id
            && self
                .shared
                .snapshot()
                .directory
                .department(department)
                .is_none()
        {
            return Err(ApiError::invalid(
                "department_id",
                format!("unknown department {department}"),
            ));
        }
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::invalid("expires_at", "must be in the future"));
        }
        let key = auth::generate_key(&self.shared.key_hasher).map_err(ApiError::Internal)?;
        let record = ApiKeyRecord {
            id: key.id.clone(),
            name: new.name,
            role: new.role,
            department_id: new.department_id,
            secret_hash: key.secret_hash.clone(),
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
        };
        self.shared.store.insert_api_key(&record).await?;
        tracing::info!(new_key_id = %record.id, new_role = %record.role, "api key created");
        Ok(pb::CreateApiKeyResponse {
            key: key.secret,
            key_id: key.id,
        })
    }

    async fn revoke_key(
        &self,
        request: pb::RevokeApiKeyRequest,
    ) -> Result<pb::RevokeApiKeyResponse, ApiError> {
        if request.key_id.is_empty() {
            return Err(ApiError::invalid("key_id", "is required"));
        }
        let record = self
            .shared
            .store
            .revoke_api_key(&request.key_id, Timestamp::now())
            .await?;
        // This process stops accepting the key at once; others within the cache lifetime.
        self.shared.keys.clear();
        tracing::info!(revoked_key_id = %record.id, "api key revoked");
        Ok(pb::RevokeApiKeyResponse {
            key_id: record.id,
            revoked_at: record.revoked_at.map(timestamp_to_proto),
        })
    }
}

impl AdminApi {
    /// Loads the model (the requested path, or the one in force) and keyword
    /// rules off the request path, then swaps them in; a refused file leaves
    /// the classifier in force untouched and says why.
    async fn reload(
        &self,
        request: pb::ReloadClassifierRequest,
    ) -> Result<pb::ReloadClassifierResponse, ApiError> {
        let _admin = self.shared.admin_lock.lock().await;
        let current = self.shared.classifier.get();
        let mut source = current.source().clone();
        if !request.model_path.trim().is_empty() {
            source.model = Some(PathBuf::from(request.model_path.trim()));
        }
        let loaded = tokio::task::spawn_blocking(move || IntakeClassifier::load(&source))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let response = match loaded {
            Ok(classifier) => {
                let response = pb::ReloadClassifierResponse {
                    model_version: classifier.version().to_owned(),
                    labels: i32::try_from(classifier.labels()).unwrap_or(i32::MAX),
                    loaded: true,
                    message: format!(
                        "model {} with {} labels and {} keyword rules in force",
                        classifier.version(),
                        classifier.labels(),
                        classifier.rule_count()
                    ),
                };
                self.shared.classifier.set(classifier);
                tracing::info!(model = %response.model_version, "classifier reloaded");
                response
            }
            Err(error) => {
                tracing::warn!(error = %error, "classifier reload refused");
                pb::ReloadClassifierResponse {
                    model_version: current.version().to_owned(),
                    labels: i32::try_from(current.labels()).unwrap_or(i32::MAX),
                    loaded: false,
                    message: format!("{error}; the previous classifier stays in force"),
                }
            }
        };
        Ok(response)
    }
}

impl AdminApi {
    /// Stores a new taxonomy after checking it and that every routing rule's
    /// category is still in it, then reloads the snapshot.
    async fn store_taxonomy(
        &self,
        request: pb::PutTaxonomyRequest,
    ) -> Result<pb::PutTaxonomyResponse, ApiError> {
        if request.categories.is_empty() {
            return Err(ApiError::invalid("categories", "must not be empty"));
        }
        let entries: Vec<TaxonomyEntry> = request
            .categories
            .into_iter()
            .map(|c| TaxonomyEntry {
                code: c.code.trim().to_owned(),
                path: c.path.trim().to_owned(),
            })
            .collect();
        let taxonomy = Taxonomy::new(entries.clone())
            .map_err(|e| ApiError::invalid("categories", e.to_string()))?;
        let _guard = self.shared.admin_lock.lock().await;
        let snapshot = self.shared.snapshot();
        if let Some(rule) = snapshot
            .rules
            .iter()
            .find(|r| !r.category_prefix.is_empty() && !taxonomy.contains(&r.category_prefix))
        {
            return Err(ApiError::FailedPrecondition(format!(
                "routing rule {} uses category {}, which the new taxonomy does not have; change the rule first",
                rule.id, rule.category_prefix
            )));
        }
        let json = to_json(&entries)?;
        let version = self
            .shared
            .store
            .put_setting(settings::TAXONOMY, &json, Timestamp::now())
            .await?;
        self.shared.reload().await?;
        tracing::info!(version, categories = entries.len(), "taxonomy replaced");
        Ok(pb::PutTaxonomyResponse {
            categories: i32::try_from(entries.len()).unwrap_or(i32::MAX),
            version,
        })
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    #[instrument(skip_all, fields(rpc = "UpsertDepartment", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn upsert_department(
        &self,
        request: Request<pb::UpsertDepartmentRequest>,
    ) -> Result<Response<pb::UpsertDepartmentResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::UpsertDepartment)
            .await?;
        let department = self.upsert(request.into_inner()).await?;
        Ok(Response::new(pb::UpsertDepartmentResponse {
            department: Some(department),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListDepartments", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_departments(
        &self,
        request: Request<pb::ListDepartmentsRequest>,
    ) -> Result<Response<pb::ListDepartmentsResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::ListDepartments)
            .await?;
        let departments = self
            .shared
            .store
            .list_departments()
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListDepartmentsResponse {
            departments: departments.iter().map(IntoProto::into_proto).collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "PutRoutingRules", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn put_routing_rules(
        &self,
        request: Request<pb::PutRoutingRulesRequest>,
    ) -> Result<Response<pb::PutRoutingRulesResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::PutRoutingRules)
            .await?;
        let count = self.put_rules(request.into_inner()).await?;
        Ok(Response::new(pb::PutRoutingRulesResponse { count }))
    }

    #[instrument(skip_all, fields(rpc = "GetRoutingRules", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_routing_rules(
        &self,
        request: Request<pb::GetRoutingRulesRequest>,
    ) -> Result<Response<pb::GetRoutingRulesResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::GetRoutingRules)
            .await?;
        let snapshot = self.shared.snapshot();
        Ok(Response::new(pb::GetRoutingRulesResponse {
            rules: snapshot.rules.iter().map(IntoProto::into_proto).collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "PutDeadlinePolicy", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn put_deadline_policy(
        &self,
        request: Request<pb::PutDeadlinePolicyRequest>,
    ) -> Result<Response<pb::PutDeadlinePolicyResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::PutDeadlinePolicy)
            .await?;
        let policy = self.put_policy(request.into_inner()).await?;
        Ok(Response::new(pb::PutDeadlinePolicyResponse {
            policy: Some(policy),
        }))
    }

    #[instrument(skip_all, fields(rpc = "GetDeadlinePolicy", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_deadline_policy(
        &self,
        request: Request<pb::GetDeadlinePolicyRequest>,
    ) -> Result<Response<pb::GetDeadlinePolicyResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::GetDeadlinePolicy)
            .await?;
        let snapshot = self.shared.snapshot();
        Ok(Response::new(pb::GetDeadlinePolicyResponse {
            policy: Some((&snapshot.policy, snapshot.policy_version).into_proto()),
        }))
    }

    #[instrument(skip_all, fields(rpc = "PutCalendar", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn put_calendar(
        &self,
        request: Request<pb::PutCalendarRequest>,
    ) -> Result<Response<pb::PutCalendarResponse>, Status> {
        self.shared.authorize(&request, Rpc::PutCalendar).await?;
        let calendar = self.store_calendar(request.into_inner()).await?;
        Ok(Response::new(pb::PutCalendarResponse {
            calendar: Some(calendar),
        }))
    }

    #[instrument(skip_all, fields(rpc = "GetCalendar", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::GetCalendarResponse>, Status> {
        self.shared.authorize(&request, Rpc::GetCalendar).await?;
        Ok(Response::new(pb::GetCalendarResponse {
            calendar: Some(self.calendar().await?),
        }))
    }

    #[instrument(skip_all, fields(rpc = "CreateApiKey", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        self.shared.authorize(&request, Rpc::CreateApiKey).await?;
        Ok(Response::new(self.create_key(request.into_inner()).await?))
    }

    #[instrument(skip_all, fields(rpc = "ListApiKeys", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        self.shared.authorize(&request, Rpc::ListApiKeys).await?;
        let keys = self
            .shared
            .store
            .list_api_keys()
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListApiKeysResponse {
            keys: keys.iter().map(IntoProto::into_proto).collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "RevokeApiKey", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        self.shared.authorize(&request, Rpc::RevokeApiKey).await?;
        Ok(Response::new(self.revoke_key(request.into_inner()).await?))
    }

    #[instrument(skip_all, fields(rpc = "ReloadClassifier", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn reload_classifier(
        &self,
        request: Request<pb::ReloadClassifierRequest>,
    ) -> Result<Response<pb::ReloadClassifierResponse>, Status> {
        self.shared
            .authorize(&request, Rpc::ReloadClassifier)
            .await?;
        Ok(Response::new(self.reload(request.into_inner()).await?))
    }

    #[instrument(skip_all, fields(rpc = "PutTaxonomy", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn put_taxonomy(
        &self,
        request: Request<pb::PutTaxonomyRequest>,
    ) -> Result<Response<pb::PutTaxonomyResponse>, Status> {
        self.shared.authorize(&request, Rpc::PutTaxonomy).await?;
        Ok(Response::new(
            self.store_taxonomy(request.into_inner()).await?,
        ))
    }

    #[instrument(skip_all, fields(rpc = "GetTaxonomy", ticket_id = Empty, key_id = Empty, role = Empty))]
    async fn get_taxonomy(
        &self,
        request: Request<pb::GetTaxonomyRequest>,
    ) -> Result<Response<pb::GetTaxonomyResponse>, Status> {
        self.shared.authorize(&request, Rpc::GetTaxonomy).await?;
        let snapshot = self.shared.snapshot();
        Ok(Response::new(pb::GetTaxonomyResponse {
            categories: snapshot
                .directory
                .taxonomy
                .entries()
                .iter()
                .map(|e| pb::TaxonomyCategory {
                    code: e.code.clone(),
                    path: e.path.clone(),
                })
                .collect(),
            version: snapshot.taxonomy_version,
        }))
    }
}
