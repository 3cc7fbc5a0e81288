//! What every service shares: the store, the in-memory snapshot of reference
//! data, authentication, department scoping, the PII view, and the one path
//! every ticket mutation takes ([`Shared::mutate`]).

use std::sync::{Arc, OnceLock, RwLock};

use hotline_core::{
    Action, Actor, Calendar, Command, Context, DeadlinePolicy, DepartmentId, Directory,
    DomainError, Role, RoutingRule, Taxonomy, Ticket, TicketId,
};
use hotline_proto::v1 as pb;
use hotline_store::{ApiKeyRecord, Store, StoreError, StoredEvent};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio::sync::{Mutex, broadcast, watch};

use crate::auth::{self, Credentials, KeyCache, KeyHasher, Rpc};
use crate::classifier::{ClassifierSlot, IntakeClassifier};
use crate::convert::{Pii, Target, ticket_to_proto};
use crate::error::ApiError;
use crate::ratelimit::RateLimits;
use crate::recent::RecentIndex;
use crate::settings;

/// Reference data read by every command, swapped whole when an admin changes it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Departments and taxonomy.
    pub directory: Directory,
    /// Routing rules in force.
    pub rules: Vec<RoutingRule>,
    /// Deadline policy in force.
    pub policy: DeadlinePolicy,
    /// Version of the stored policy; 0 while the default is in force.
    pub policy_version: i64,
    /// Working-time arithmetic for deadlines: the stored calendar, or the default.
    pub calendar: Arc<dyn Calendar>,
    /// Version of the stored taxonomy; 0 while the shipped one is in force.
    pub taxonomy_version: i64,
}

/// One committed event and the ticket after the command that wrote it, for watchers.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The event with its global id.
    pub event: StoredEvent,
    /// The ticket after the command.
    pub ticket: Arc<Ticket>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Recorded on every event: key id, role and department.
    pub actor: Actor,
}

impl Principal {
    /// Returns the caller's role.
    pub fn role(&self) -> Role {
        self.actor.role
    }

    /// Returns the caller's key id.
    pub fn key_id(&self) -> &str {
        &self.actor.id
    }

    /// Returns the department a DEPARTMENT key is bound to.
    pub fn department(&self) -> Option<&DepartmentId> {
        match self.actor.role {
            Role::Department => self.actor.department_id.as_ref(),
            _ => None,
        }
    }
}

/// Capacity of the notification bus; a watcher further behind reads from the store.
const BUS_CAPACITY: usize = 1024;

/// The state behind all four services.
#[derive(Debug)]
pub struct Shared {
    /// The storage port.
    pub store: Arc<dyn Store>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serializes admin writes with the snapshot reload that follows them.
    pub admin_lock: Mutex<()>,
    /// Recent key look-ups.
    pub keys: KeyCache,
    /// Hashes key secrets with the server secret, for look-ups and new keys.
    pub key_hasher: KeyHasher,
    /// Committed events, for watchers in this process.
    pub bus: broadcast::Sender<Notice>,
    /// Announces committed events to the other replicas, when Redis is configured.
    fanout: OnceLock<hotline_redis::Fanout>,
    /// Per-credential rate limits; none until the server sets them.
    rate_limits: OnceLock<RateLimits>,
    /// Flips to true when the server shuts down; watch streams end on it.
    pub shutdown: watch::Sender<bool>,
    /// The calendar in force until an administrator puts one.
    default_calendar: Arc<dyn Calendar>,
    /// The category tree.
    taxonomy: Taxonomy,
    /// Center code, first part of ticket numbers.
    pub center: String,
    /// The center's time zone, for the day part of ticket numbers.
    pub time_zone: TimeZone,
    /// Name of that time zone, for the default calendar.
    pub time_zone_name: String,
    /// Minimum classification confidence for auto-dispatch.
    pub auto_dispatch_threshold: f64,
    /// The intake classifier in force, swapped by `ReloadClassifier`.
    pub classifier: ClassifierSlot,
    /// The tickets duplicates are looked for among.
    pub recent: RecentIndex,
}

impl Shared {
    /// Builds the shared state and loads the snapshot from the store.
    ///
    /// # Errors
    /// Store errors, or stored settings that do not parse.
    pub async fn load(
        store: Arc<dyn Store>,
        center: String,
        time_zone: TimeZone,
        time_zone_name: String,
        auto_dispatch_threshold: f64,
        default_calendar: Arc<dyn Calendar>,
        key_hasher: KeyHasher,
    ) -> Result<Shared, ApiError> {
        let taxonomy = Taxonomy::builtin();
        let snapshot = load_snapshot(store.as_ref(), &taxonomy, &default_calendar).await?;
        let recent = RecentIndex::load(store.as_ref(), Timestamp::now()).await?;
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let (shutdown, _) = watch::channel(false);
        Ok(Shared {
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
            admin_lock: Mutex::new(()),
            keys: KeyCache::default(),
            key_hasher,
            bus,
            fanout: OnceLock::new(),
            rate_limits: OnceLock::new(),
            shutdown,
            default_calendar,
            taxonomy,
            center,
            time_zone,
            time_zone_name,
            auto_dispatch_threshold,
            classifier: ClassifierSlot::new(IntakeClassifier::builtin()),
            recent,
        })
    }

    /// Returns the reference data in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads departments, rules and policy from the store and swaps the snapshot.
    ///
    /// # Errors
    /// Store errors, or stored settings that do not parse.
    pub async fn reload(&self) -> Result<(), ApiError> {
        let fresh =
            load_snapshot(self.store.as_ref(), &self.taxonomy, &self.default_calendar).await?;
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// Reloads the reference data every `every` until shutdown, so that changes an
    /// administrator made through another replica sharing the database reach this
    /// one within that delay. Holds the admin lock while reloading, so a local
    /// admin write is never overtaken by an older read.
    pub async fn refresh_settings(
        self: Arc<Self>,
        every: std::time::Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(every) => {}
            }
            let _admin = self.admin_lock.lock().await;
            match self.reload().await {
                Ok(()) if failing => {
                    tracing::info!("settings refresh works again");
                    failing = false;
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    tracing::warn!(error = %error, "settings refresh failed; keeping the settings in force");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Builds the command context for an actor at `now`.
    pub fn context<'a>(
        &'a self,
        now: Timestamp,
        actor: &'a Actor,
        snapshot: &'a Snapshot,
    ) -> Context<'a> {
        Context {
            now,
            actor,
            policy: &snapshot.policy,
            calendar: snapshot.calendar.as_ref(),
            directory: &snapshot.directory,
        }
    }

    /// Returns the local date `YYYYMMDD` of an instant in the center's time zone.
    pub fn day_of(&self, at: Timestamp) -> String {
        at.to_zoned(self.time_zone.clone())
            .strftime("%Y%m%d")
            .to_string()
    }

    /// Authenticates the request (bearer key, client certificate, or both) and
    /// checks the authorization matrix.
    ///
    /// # Errors
    /// `Unauthenticated`, `PermissionDenied`, or `Unavailable` when keys cannot be read.
    pub async fn authorize<T>(
        &self,
        request: &tonic::Request<T>,
        rpc: Rpc,
    ) -> Result<Principal, ApiError> {
        let principal = self.authenticate(&Credentials::of(request)).await?;
        let span = tracing::Span::current();
        span.record("key_id", principal.key_id());
        span.record("role", principal.role().as_str());
        if let Some(limits) = self.rate_limits.get() {
            limits.check(principal.key_id()).await?;
        }
        if auth::authorize(rpc, principal.role()) {
            Ok(principal)
        } else {
            tracing::warn!("permission denied");
            Err(ApiError::PermissionDenied(format!(
                "role {} may not call {}",
                principal.role(),
                rpc.name()
            )))
        }
    }

    /// Finds the key a call acts as: the one its bearer secret hashes to, or,
    /// without a secret, the one its verified client certificate names. When
    /// both are present they must name the same key. Failures are logged with
    /// the key id when known and the peer address, never with the secret.
    ///
    /// # Errors
    /// `Unauthenticated`, or `Unavailable` when keys cannot be read.
    pub async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<Principal, ApiError> {
        let peer = credentials.peer_label();
        let certificate_key = match &credentials.certificate_key {
            Ok(id) => id.as_deref(),
            Err(error) => {
                tracing::warn!(peer = %peer, error = %error, "unusable client certificate");
                return Err(ApiError::Unauthenticated);
            }
        };
        let record = match (credentials.bearer, certificate_key) {
            (Some(secret), certificate_key) => {
                let record = self.key_by_secret(secret, &peer).await?;
                if let Some(named) = certificate_key
                    && named != record.id
                {
                    tracing::warn!(
                        key_id = %record.id,
                        certificate_key_id = %named,
                        peer = %peer,
                        "bearer key and client certificate name different keys"
                    );
                    return Err(ApiError::Unauthenticated);
                }
                record
            }
            (None, Some(id)) => self.key_by_id(id, &peer).await?,
            (None, None) => {
                tracing::warn!(peer = %peer, "request without bearer api key");
                return Err(ApiError::Unauthenticated);
            }
        };
        if record.revoked_at.is_some() {
            tracing::warn!(key_id = %record.id, peer = %peer, "revoked api key used");
            return Err(ApiError::Unauthenticated);
        }
        if record.expires_at.is_some_and(|at| at <= Timestamp::now()) {
            tracing::warn!(key_id = %record.id, peer = %peer, "expired api key used");
            return Err(ApiError::Unauthenticated);
        }
        if record.role == Role::Department && record.department_id.is_none() {
            tracing::warn!(key_id = %record.id, peer = %peer, "department api key without department");
            return Err(ApiError::Unauthenticated);
        }
        Ok(Principal {
            actor: Actor {
                id: record.id,
                role: record.role,
                department_id: record.department_id,
            },
        })
    }

    /// Finds the key whose secret is `secret`, through the cache.
    async fn key_by_secret(&self, secret: &str, peer: &str) -> Result<ApiKeyRecord, ApiError> {
        if !auth::is_well_formed_secret(secret) {
            tracing::warn!(peer = %peer, "malformed api key");
            return Err(ApiError::Unauthenticated);
        }
        let hash = self.key_hasher.hash(secret);
        let record = match self.keys.get(&hash) {
            Some(record) => record,
            None => {
                let record = self.store.api_key_by_hash(&hash).await?;
                self.keys.put(hash.clone(), record.clone());
                record
            }
        };
        record
            .filter(|r| auth::constant_time_eq(&r.secret_hash, &hash))
            .ok_or_else(|| {
                tracing::warn!(peer = %peer, "unknown api key");
                ApiError::Unauthenticated
            })
    }

    /// Finds the key a client certificate names, through the cache.
    async fn key_by_id(&self, id: &str, peer: &str) -> Result<ApiKeyRecord, ApiError> {
        let record = match self.keys.get(id) {
            Some(record) => record,
            None => {
                let record = self.store.api_key_by_id(id).await?;
                self.keys.put(id.to_owned(), record.clone());
                record
            }
        };
        record.ok_or_else(|| {
            tracing::warn!(certificate_key_id = %id, peer = %peer, "client certificate names an unknown key");
            ApiError::Unauthenticated
        })
    }

    /// Returns the departments whose tickets a caller sees: `None` for everything
    /// (operators, supervisors, admins), the own subtree for a DEPARTMENT key.
    pub fn scope(&self, principal: &Principal, snapshot: &Snapshot) -> Option<Vec<DepartmentId>> {
        principal
            .department()
            .map(|own| snapshot.directory.subtree(own))
    }

    /// Loads a ticket the caller may see; NOT_FOUND, identical to an unknown id, otherwise.
    ///
    /// # Errors
    /// `NotFound`, or store errors.
    pub async fn load_visible(
        &self,
        principal: &Principal,
        id: TicketId,
    ) -> Result<Ticket, ApiError> {
        let ticket = match self.store.get_ticket(id).await {
            Ok(ticket) => ticket,
            Err(StoreError::NotFound { .. }) => return Err(ApiError::ticket_not_found(id)),
            Err(other) => return Err(other.into()),
        };
        match self.scope(principal, &self.snapshot()) {
            Some(scope) if !visible(&ticket, &scope) => {
                tracing::info!("ticket outside the caller's scope");
                Err(ApiError::ticket_not_found(id))
            }
            _ => Ok(ticket),
        }
    }

    /// Applies a command for a caller: scope check, store transaction, notification.
    ///
    /// # Errors
    /// Everything [`Store::apply`] returns, with refusals naming the ticket's
    /// state, and NOT_FOUND for tickets outside the caller's scope.
    pub async fn mutate(
        &self,
        principal: &Principal,
        target: Target,
        command: Command,
    ) -> Result<Ticket, ApiError> {
        let id = target.ticket_id;
        tracing::Span::current().record("ticket_id", tracing::field::display(id));
        let seen = match principal.department() {
            Some(_) => Some(self.load_visible(principal, id).await?),
            None => None,
        };
        let action = command.action();
        let snapshot = self.snapshot();
        let ctx = self.context(Timestamp::now(), &principal.actor, &snapshot);
        match self
            .store
            .apply(id, target.expected_version, command, &ctx)
            .await
        {
            Ok(applied) => {
                self.publish(&applied.events, &applied.ticket);
                Ok(applied.ticket)
            }
            Err(StoreError::NotFound { .. }) => Err(ApiError::ticket_not_found(id)),
            Err(StoreError::Rejected(
                error @ (DomainError::NotAssigned { .. } | DomainError::LimitExceeded { .. }),
            )) => {
                let ticket = match seen {
                    Some(ticket) => ticket,
                    None => self.load_visible(principal, id).await?,
                };
                Err(refusal(action, &ticket, principal, error))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Applies per-credential rate limits from now on; the first set stays.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        if self.rate_limits.set(limits).is_err() {
            tracing::warn!("rate limits are already set, keeping them");
        }
    }

    /// Announces committed events to the other replicas from now on; the first
    /// fan-out set stays (a server starts one).
    pub fn set_fanout(&self, fanout: hotline_redis::Fanout) {
        if self.fanout.set(fanout).is_err() {
            tracing::warn!("a redis fan-out is already running, keeping it");
        }
    }

    /// Hands committed events to watchers in this process and, when replicas
    /// share the database, announces their ids to the others.
    pub fn publish(&self, events: &[StoredEvent], ticket: &Ticket) {
        if let Some(fanout) = self.fanout.get()
            && !events.is_empty()
        {
            let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
            fanout.announce(ticket.id, &ids);
        }
        self.deliver_local(events, ticket);
    }

    /// Hands events to watchers in this process only: those committed here, or
    /// read back from the store after another replica announced them.
    pub fn deliver_local(&self, events: &[StoredEvent], ticket: &Ticket) {
        if events.is_empty() || self.bus.receiver_count() == 0 {
            return;
        }
        let ticket = Arc::new(ticket.clone());
        for event in events {
            // An error only means that nobody is watching right now.
            let _ = self.bus.send(Notice {
                event: event.clone(),
                ticket: Arc::clone(&ticket),
            });
        }
    }

    /// Converts a ticket with the citizen view the caller is entitled to.
    pub fn view(&self, principal: &Principal, ticket: &Ticket) -> pb::Ticket {
        ticket_to_proto(ticket, pii_for(principal, ticket))
    }
}

/// Returns the citizen view of a ticket for a caller.
pub fn pii_for(principal: &Principal, ticket: &Ticket) -> Pii {
    Pii::for_viewer(principal.role(), ticket.citizen.confidential)
}

/// Returns whether a department in `scope` holds or held a part in the ticket.
pub fn visible(ticket: &Ticket, scope: &[DepartmentId]) -> bool {
    ticket
        .assignments
        .iter()
        .any(|a| scope.contains(&a.department_id))
}

/// Words a refusal that the domain states without the ticket's state.
fn refusal(action: Action, ticket: &Ticket, principal: &Principal, error: DomainError) -> ApiError {
    match error {
        DomainError::NotAssigned { reason, .. } => match principal.department() {
            Some(own) if !ticket.involves(own) => ApiError::PermissionDenied(format!(
                "department {own} has no part in this ticket; only a department below it has"
            )),
            _ => ApiError::FailedPrecondition(format!(
                "cannot {action} a ticket in state {}: {reason}",
                ticket.status
            )),
        },
        DomainError::LimitExceeded { .. } => ApiError::FailedPrecondition(format!(
            "cannot {action} a ticket in state {}: {error}",
            ticket.status
        )),
        other => other.into(),
    }
}

async fn load_snapshot(
    store: &dyn Store,
    taxonomy: &Taxonomy,
    default_calendar: &Arc<dyn Calendar>,
) -> Result<Snapshot, ApiError> {
    let departments = store.list_departments().await?;
    let loaded = settings::load_all(store).await?;
    let (taxonomy, taxonomy_version) = loaded.taxonomy.unwrap_or_else(|| (taxonomy.clone(), 0));
    Ok(Snapshot {
        directory: Directory::new(departments, taxonomy),
        taxonomy_version,
        rules: loaded.rules,
        policy: loaded.policy,
        policy_version: loaded.policy_version,
        calendar: match loaded.calendar {
            Some(calendar) => Arc::new(calendar),
            None => default_calendar.clone(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use hotline_core::{AlwaysOpen, Department};
    use hotline_store_sqlite::SqliteStore;

    use super::*;

    async fn replica(path: &std::path::Path) -> Arc<Shared> {
        let store = SqliteStore::open(path).await.unwrap();
        Arc::new(
            Shared::load(
                Arc::new(store),
                "HL".to_owned(),
                TimeZone::UTC,
                "UTC".to_owned(),
                0.8,
                Arc::new(AlwaysOpen),
                KeyHasher::new(&[3; 32]).expect("32 bytes"),
            )
            .await
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn another_replicas_admin_changes_reach_this_one_by_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.db");
        let a = replica(&path).await;
        let b = replica(&path).await;
        let refresher = tokio::spawn(
            Arc::clone(&b).refresh_settings(Duration::from_millis(20), b.shutdown.subscribe()),
        );
        // Replica A's admin adds a department and a routing rule to it.
        a.store
            .upsert_department(&Department {
                id: "env".into(),
                name: "环境局".to_owned(),
                parent_id: None,
                region_code: "320500".to_owned(),
                level: 1,
            })
            .await
            .unwrap();
        let rules = r#"[{"id":"env","category_prefix":"环境保护","region_prefix":"","appeal_type":null,"lead_department_id":"env","co_department_ids":[],"direct_dispatch":true}]"#;
        a.store
            .put_setting(settings::ROUTING_RULES, rules, Timestamp::now())
            .await
            .unwrap();
        a.reload().await.unwrap();
        assert_eq!(a.snapshot().rules.len(), 1);

        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while b.snapshot().rules.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "replica B never saw the rule"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = b.snapshot();
        assert_eq!(seen.rules[0].id, "env");
        assert!(seen.directory.department(&"env".into()).is_some());
        b.shutdown.send_replace(true);
        refresher.await.unwrap();
    }
}
