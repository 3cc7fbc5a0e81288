//! The server as a library: [`App::open`] the store and snapshot (and read
//! the TLS files and the key hash secret), bootstrap an admin key, and
//! [`App::serve`] a bound listener until a shutdown future resolves, draining
//! in-flight calls before the store is closed.

use crate::classifier::IntakeClassifier;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use hotline_core::Role;
use hotline_proto::v1::admin_service_server::AdminServiceServer;
use hotline_proto::v1::department_service_server::DepartmentServiceServer;
use hotline_proto::v1::supervision_service_server::SupervisionServiceServer;
use hotline_proto::v1::ticket_service_server::TicketServiceServer;
use hotline_store::{ApiKeyRecord, Store};
use hotline_store_postgres::PgStore;
use hotline_store_sqlite::SqliteStore;
use jiff::Timestamp;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{self, KeyHasher};
use crate::config::{Database, KEY_HASH_SECRET_FILE, ServerConfig};
use crate::service::{AdminApi, DepartmentApi, SupervisionApi, TicketApi};
use crate::state::Shared;
use crate::sweeper::Sweeper;
use crate::telemetry::SERVICE_NAME;
use crate::telemetry::gauges::Gauges;
use crate::telemetry::rpc::{RpcLayer, RpcMetrics};

/// Largest request accepted: a ticket body is at most 10 000 characters, so
/// 1 MiB leaves ample room while bounding what one call can make us buffer.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest response sent: tonic clients refuse more than 4 MiB by default.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Longest a unary call may run (streams are not cut: the timeout covers the
/// handler, not the response body).
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls served at once per connection; more wait their turn.
const CONCURRENCY_PER_CONNECTION: usize = 256;
/// How long shutdown waits for in-flight calls (e.g. a health Watch that never
/// ends) before the server stops anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a replica on a shared database rereads departments, rules, policy,
/// calendar and taxonomy: the delay before another replica's admin change applies here.
const SETTINGS_REFRESH: Duration = Duration::from_secs(5);
/// Label of the key [`App::ensure_admin_key`] creates.
const BOOTSTRAP_KEY_NAME: &str = "bootstrap admin";

/// A hotline server: the opened store and the in-memory snapshot of its settings.
#[derive(Debug)]
pub struct App {
    shared: Arc<Shared>,
    config: ServerConfig,
    /// The checked TLS setup; `None` serves plaintext.
    tls: Option<ServerTlsConfig>,
    /// Whether this start created the key hash secret: keys already stored
    /// were hashed otherwise and no longer match, so a new admin key is due
    /// (once: the flag is cleared when it is written).
    new_key_hash_secret: AtomicBool,
}

impl App {
    /// Reads the TLS files and the key hash secret (creating the secret for a
    /// SQLite server that has none), opens and migrates the store, and loads
    /// departments, routing rules and deadline policy into memory.
    ///
    /// # Errors
    /// Invalid configuration, an unusable TLS file or key hash secret, a store
    /// that cannot be opened or migrated, or stored settings that do not parse.
    pub async fn open(config: ServerConfig) -> anyhow::Result<App> {
        let time_zone = config.validate()?;
        let tls = crate::tls::server_tls(&config).await?;
        let (key_hasher, new_key_hash_secret) = load_key_hasher(&config).await?;
        let source = config.classifier_source();
        let classifier = tokio::task::spawn_blocking(move || IntakeClassifier::load(&source))
            .await
            .context("classifier loading stopped")??;
        let store = open_store(&config).await?;
        let shared = Shared::load(
            store,
            config.center.clone(),
            time_zone,
            config.time_zone.clone(),
            config.auto_dispatch_threshold,
            Arc::new(default_calendar(&config.time_zone)),
            key_hasher,
        )
        .await
        .context("cannot load settings")?;
        tracing::info!(
            model = classifier.version(),
            labels = classifier.labels(),
            keyword_rules = classifier.rule_count(),
            "classifier loaded"
        );
        shared.classifier.set(classifier);
        tracing::info!(center = %config.center, "hotline opened");
        Ok(App {
            shared: Arc::new(shared),
            config,
            tls,
            new_key_hash_secret: AtomicBool::new(new_key_hash_secret),
        })
    }

    /// Creates an ADMIN key when there is no key at all, or when this start
    /// created the key hash secret (the stored keys were hashed with another
    /// secret, or none, and match nothing now); writes it to
    /// `data_dir/hotline-admin.key` (mode 0600) and returns that path. Returns
    /// `None` when usable keys exist. The key itself is never logged.
    ///
    /// # Errors
    /// Store errors, or the key file cannot be written.
    pub async fn ensure_admin_key(&self) -> anyhow::Result<Option<PathBuf>> {
        let keys = self.shared.store.list_api_keys().await?;
        let new_secret = self.new_key_hash_secret.swap(false, Ordering::SeqCst);
        if !keys.is_empty() && !new_secret {
            return Ok(None);
        }
        if !keys.is_empty() {
            tracing::warn!(
                keys = keys.len(),
                "a new key hash secret was created: the stored api keys no longer match and \
                 must be issued again; a new bootstrap admin key is written"
            );
        }
        let key = auth::generate_key(&self.shared.key_hasher)?;
        let path = self.config.admin_key_path();
        tokio::fs::create_dir_all(&self.config.data_dir)
            .await
            .with_context(|| format!("cannot create {}", self.config.data_dir.display()))?;
        write_secret_file(&path, &key.secret)
            .await
            .with_context(|| format!("cannot write the admin key to {}", path.display()))?;
        let record = ApiKeyRecord {
            id: key.id.clone(),
            name: BOOTSTRAP_KEY_NAME.to_owned(),
            role: Role::Admin,
            department_id: None,
            secret_hash: key.secret_hash.clone(),
            created_at: Timestamp::now(),
            expires_at: None,
            revoked_at: None,
        };
        if let Err(error) = self.shared.store.insert_api_key(&record).await {
            // A file holding a key that does not work would only mislead.
            let _ = tokio::fs::remove_file(&path).await;
            return Err(error.into());
        }
        tracing::info!(key_id = %record.id, path = %path.display(), "bootstrap admin key created");
        Ok(Some(path))
    }

    /// Returns a sweeper over this server's store and bus, for driving it with a
    /// chosen clock (`serve` runs its own with the wall clock).
    pub fn sweeper(&self) -> Sweeper {
        Sweeper::new(Arc::clone(&self.shared))
    }

    /// Serves gRPC on `listener`, and sweeps deadlines every
    /// `sweep_interval` in the background, until `shutdown` resolves. Then health
    /// turns NOT_SERVING, watch streams and the sweeper end, in-flight calls
    /// finish (for at most 30 s), and the store is closed.
    ///
    /// # Errors
    /// The reflection service cannot be built, or the transport fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shared = self.shared;
        let local = listener
            .local_addr()
            .context("listener has no local address")?;
        // The bound address is what counts (`listen` may name port 0 or a host
        // the caller resolved differently).
        self.config.check_transport(local)?;
        let (health, health_service) = tonic_health::server::health_reporter();
        set_health(&health, ServingStatus::Serving).await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(hotline_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("cannot build the reflection service")?;

        let signal = {
            let shared = Arc::clone(&shared);
            async move {
                shutdown.await;
                tracing::info!("shutdown requested, draining");
                set_health(&health, ServingStatus::NotServing).await;
                shared.shutdown.send_replace(true);
            }
        };
        let rpc_metrics = RpcMetrics::new(&opentelemetry::global::meter(SERVICE_NAME));
        let mut builder = Server::builder();
        if let Some(tls) = self.tls.clone() {
            builder = builder
                .tls_config(tls)
                .context("tls_cert, tls_key and client_ca do not make a usable TLS setup")?;
        }
        let server = builder
            .timeout(RPC_TIMEOUT)
            .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
            .layer(RpcLayer::new(rpc_metrics))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(
                TicketServiceServer::new(TicketApi::new(Arc::clone(&shared)))
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
            )
            .add_service(
                DepartmentServiceServer::new(DepartmentApi::new(Arc::clone(&shared)))
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
            )
            .add_service(
                SupervisionServiceServer::new(SupervisionApi::new(Arc::clone(&shared)))
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
            )
            .add_service(
                AdminServiceServer::new(AdminApi::new(Arc::clone(&shared)))
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
            )
            // Without TCP_NODELAY a response's last segment waits for the client's
            // delayed ACK: about 40 ms added to every unary call.
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                signal,
            );
        tracing::info!(
            addr = %local,
            tls = self.tls.is_some(),
            client_certificates = self.config.client_ca.is_some(),
            "serving grpc"
        );

        // Rate limits apply from the first request; with Redis, all replicas share the buckets.
        let shared_limits = match &self.config.redis_url {
            Some(url) if self.config.rate_limit > 0.0 => {
                Some(hotline_redis::SharedLimiter::new(url).context("redis_url")?)
            }
            _ => None,
        };
        shared.set_rate_limits(crate::ratelimit::RateLimits::new(
            self.config.rate_limit,
            self.config.rate_burst,
            shared_limits,
        ));
        // Replicas sharing the database tell each other what they committed.
        let relay = match &self.config.redis_url {
            Some(url) => {
                let (fanout, incoming) =
                    hotline_redis::Fanout::start(url, shared.shutdown.subscribe())
                        .context("redis_url")?;
                shared.set_fanout(fanout);
                Some(tokio::spawn(crate::notify::relay(
                    Arc::clone(&shared),
                    incoming,
                )))
            }
            None => None,
        };
        let sweeper = tokio::spawn(
            Sweeper::new(Arc::clone(&shared))
                .run(self.config.sweep_interval, shared.shutdown.subscribe()),
        );
        // Only a shared database (PostgreSQL) has other replicas changing settings.
        let refresher = matches!(self.config.database()?, Database::Postgres(_)).then(|| {
            tokio::spawn(
                Arc::clone(&shared).refresh_settings(SETTINGS_REFRESH, shared.shutdown.subscribe()),
            )
        });
        // The gauges cost two grouped counts per interval: only worth it when exported.
        let gauges = self.config.otlp_endpoint.is_some().then(|| {
            let gauges = Gauges::new(&opentelemetry::global::meter(SERVICE_NAME));
            tokio::spawn(gauges.run(
                Arc::clone(&shared.store),
                self.config.metrics_interval,
                shared.shutdown.subscribe(),
            ))
        });
        let mut stopping = shared.shutdown.subscribe();
        let drain_deadline = async move {
            // An error means the sender is gone, which cannot happen while `shared` lives.
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        };
        let result = tokio::select! {
            result = server => result.context("grpc transport failed"),
            () = drain_deadline => {
                tracing::warn!("in-flight calls did not finish in time, stopping anyway");
                Ok(())
            }
        };
        // The transport may also end on its own (an error): stop the sweeper either way.
        shared.shutdown.send_replace(true);
        if let Err(error) = sweeper.await {
            tracing::error!(error = %error, "sweeper task failed");
        }
        if let Some(gauges) = gauges
            && let Err(error) = gauges.await
        {
            tracing::error!(error = %error, "gauge task failed");
        }
        if let Some(refresher) = refresher
            && let Err(error) = refresher.await
        {
            tracing::error!(error = %error, "settings refresh task failed");
        }
        if let Some(relay) = relay
            && let Err(error) = relay.await
        {
            tracing::error!(error = %error, "replica relay task failed");
        }
        shared.store.close().await;
        tracing::info!("server stopped");
        result
    }
}

/// Applies pending database migrations, creating the database if needed.
///
/// # Errors
/// Invalid database configuration, or the migration fails.
pub async fn migrate(config: &ServerConfig) -> anyhow::Result<()> {
    match config.database()? {
        Database::Sqlite(path) => {
            ensure_parent_dir(&path).await?;
            hotline_store_sqlite::migrate(&path)
                .await
                .with_context(|| format!("cannot migrate {}", path.display()))?;
        }
        Database::Postgres(url) => {
            hotline_store_postgres::migrate(&url)
                .await
                .context("cannot migrate the PostgreSQL database")?;
        }
    }
    Ok(())
}

/// Opens the configured backend (which applies pending migrations).
pub(crate) async fn open_store(config: &ServerConfig) -> anyhow::Result<Arc<dyn Store>> {
    match config.database()? {
        Database::Sqlite(path) => {
            ensure_parent_dir(&path).await?;
            let store = SqliteStore::open(&path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            Ok(Arc::new(store))
        }
        // Several replicas may share the database: the sweeper of each takes due
        // tickets with `for update skip locked`, so none is escalated twice.
        Database::Postgres(url) => {
            let store = PgStore::connect(&url)
                .await
                .context("cannot open the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
    }
}

async fn ensure_parent_dir(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display())),
        _ => Ok(()),
    }
}

/// Sets the overall status and that of each hotline service.
async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in [
        <TicketServiceServer<TicketApi> as tonic::server::NamedService>::NAME,
        <DepartmentServiceServer<DepartmentApi> as tonic::server::NamedService>::NAME,
        <SupervisionServiceServer<SupervisionApi> as tonic::server::NamedService>::NAME,
        <AdminServiceServer<AdminApi> as tonic::server::NamedService>::NAME,
    ] {
        health.set_service_status(service, status).await;
    }
}

/// Reads the key hash secret: the file `key_hash_secret_file` names, or for
/// SQLite `data_dir/key-hash.secret`, created with 32 random bytes (hex) at
/// first start. Returns the hasher and whether the secret was just created.
/// The secret is the file's text without surrounding whitespace; it is never
/// logged nor shown in errors.
///
/// # Errors
/// PostgreSQL without the setting (replicas must share one secret), a file
/// that cannot be read or created, or a secret under 32 bytes.
async fn load_key_hasher(config: &ServerConfig) -> anyhow::Result<(KeyHasher, bool)> {
    let (path, created) = match &config.key_hash_secret_file {
        Some(path) => (path.clone(), false),
        None => {
            if let Database::Postgres(_) = config.database()? {
                anyhow::bail!(
                    "key_hash_secret_file is required with PostgreSQL: every replica must key \
                     API key hashes with the same secret. Set --key-hash-secret-file FILE or \
                     HOTLINE_KEY_HASH_SECRET_FILE to a file of 32 bytes or more shared by all \
                     replicas (e.g. made by `openssl rand -hex 32`)"
                );
            }
            let path = config.data_dir.join(KEY_HASH_SECRET_FILE);
            tokio::fs::create_dir_all(&config.data_dir)
                .await
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let mut secret = [0u8; KeyHasher::MIN_SECRET_BYTES];
            getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("os rng failed: {e}"))?;
            let created = match write_new_secret_file(&path, &hex::encode(secret)).await {
                Ok(()) => true,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(error) => {
                    return Err(anyhow::Error::new(error).context(format!(
                        "cannot create the key hash secret {}",
                        path.display()
                    )));
                }
            };
            if created {
                tracing::info!(path = %path.display(), "key hash secret created");
            }
            (path, created)
        }
    };
    let text = tokio::fs::read(&path).await.with_context(|| {
        format!(
            "key_hash_secret_file {}: cannot read the file",
            path.display()
        )
    })?;
    warn_if_readable_by_others(&path).await;
    let hasher = KeyHasher::new(text.trim_ascii()).with_context(|| {
        format!(
            "key_hash_secret_file {}: too short (make one with `openssl rand -hex 32`)",
            path.display()
        )
    })?;
    Ok((hasher, created))
}

/// Warns when a secret file may be read by other users than its owner.
async fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(metadata) = tokio::fs::metadata(path).await {
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the key hash secret is readable by other users; make it mode 0600 or 0400"
            );
        }
    }
}

/// Writes `secret` and a newline to a new file readable by its owner only. The
/// file is created with mode 0600, never widened and narrowed afterwards; a
/// stale file from an earlier database is replaced.
async fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    write_new_secret_file(path, secret).await
}

/// Writes `secret` and a newline to a file that must not exist yet, with mode
/// 0600 from the start.
async fn write_new_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(format!("{secret}\n").as_bytes()).await?;
    file.sync_all().await
}

/// Returns the calendar in force until an administrator puts one: the shipped
/// mainland China schedule in its own zone, or Monday-to-Friday in another zone.
pub(crate) fn default_calendar(time_zone: &str) -> hotline_core::WorkingCalendar {
    let china = hotline_core::WorkingCalendar::china_default();
    if china.time_zone_name() == time_zone {
        china
    } else {
        hotline_core::WorkingCalendar::weekdays(time_zone)
    }
}
