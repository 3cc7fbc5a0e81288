//! The end-to-end test fixture: [`TestServer`] starts a real hotline server on
//! `127.0.0.1:0` with a temporary SQLite file (over TLS when asked) and hands
//! out typed gRPC clients authenticated with keys it creates through the admin
//! API. [`pki`] makes certificate authorities and certificates for TLS tests.

#![forbid(unsafe_code)]

pub mod pii;
pub mod pki;

use std::net::SocketAddr;
use std::path::PathBuf;

use hotline_proto::v1::admin_service_client::AdminServiceClient;
use hotline_proto::v1::department_service_client::DepartmentServiceClient;
use hotline_proto::v1::supervision_service_client::SupervisionServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::v1::{self as pb, Role};
use hotline_server::{App, ServerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig};

/// Adds `authorization: Bearer <key>` to every request.
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel that authenticates as one credential.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A running server and the directory it keeps its data in.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory (SQLite file and admin key).
    pub data_dir: PathBuf,
    /// The admin key written at first start.
    pub admin_key: String,
    /// The configuration it was started with (its `data_dir` is the temp dir).
    pub config: ServerConfig,
    /// The TLS setup of the fixture's own connection; `None` for plaintext.
    client_tls: Option<ClientTlsConfig>,
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on a fresh temporary data directory.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on a fresh temporary data directory, with `configure`
    /// applied to its configuration first (e.g. a short `sweep_interval`, so
    /// deadlines light up while a test waits).
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> anyhow::Result<Self> {
        Self::start_tls(configure, None).await
    }

    /// Starts a server as [`TestServer::start_with`] does, connecting the
    /// fixture's own channel with `client_tls` (`None`: plaintext), e.g. with
    /// the CA of the server certificate and, for mutual TLS, a client certificate.
    pub async fn start_tls(
        configure: impl FnOnce(&mut ServerConfig),
        client_tls: Option<ClientTlsConfig>,
    ) -> anyhow::Result<Self> {
        pii::capture();
        let dir = tempfile::tempdir()?;
        let mut config = ServerConfig::default();
        configure(&mut config);
        config.data_dir = dir.path().to_path_buf();
        Self::start_in(dir, config, client_tls, None).await
    }

    /// Starts a second server on `first`'s database and key hash secret, as another
    /// replica would run: same tickets and keys, a data directory of its own.
    pub async fn replica_of(
        first: &TestServer,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> anyhow::Result<Self> {
        pii::capture();
        let dir = tempfile::tempdir()?;
        let mut config = ServerConfig::default();
        configure(&mut config);
        config.data_dir = dir.path().to_path_buf();
        config.database_url = Some(format!(
            "sqlite://{}",
            first.data_dir.join("hotline.db").display()
        ));
        config.key_hash_secret_file = Some(first.data_dir.join("key-hash.secret"));
        Self::start_in(dir, config, None, Some(first.admin_key.clone())).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        config: ServerConfig,
        client_tls: Option<ClientTlsConfig>,
        admin_key: Option<String>,
    ) -> anyhow::Result<Self> {
        let app = App::open(config.clone()).await?;
        let admin_key = match (app.ensure_admin_key().await?, admin_key) {
            (Some(path), _) => std::fs::read_to_string(path)?.trim().to_owned(),
            (None, Some(known)) => known,
            (None, None) => anyhow::bail!("a fresh database must get an admin key"),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.serve(listener, async {
            let _ = rx.await;
        }));
        // The listener is bound already: connecting needs no wait.
        let channel = open_channel(addr, client_tls.clone()).await?;
        Ok(Self {
            addr,
            data_dir: config.data_dir.clone(),
            admin_key,
            config,
            client_tls,
            channel,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        })
    }

    /// Stops the server and starts it again on the same data directory, with
    /// `configure` applied to its configuration; the admin key stays the same
    /// unless the restart writes a new one.
    pub async fn restart_with(
        mut self,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> anyhow::Result<Self> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await??;
        }
        let mut config = self.config.clone();
        configure(&mut config);
        let dir = tempfile::tempdir()?;
        let kept = std::mem::replace(&mut self._dir, dir);
        let client_tls = self.client_tls.clone();
        let admin_key = self.admin_key.clone();
        Self::start_in(kept, config, client_tls, Some(admin_key)).await
    }

    /// Opens a new channel to the server: `https://127.0.0.1:PORT` with
    /// `tls`, plaintext without.
    ///
    /// # Errors
    /// The TLS setup is refused, or the connection (or, over TLS 1.2, the
    /// handshake) fails.
    pub async fn connect(&self, tls: Option<ClientTlsConfig>) -> anyhow::Result<Channel> {
        open_channel(self.addr, tls).await
    }

    /// Stops the server gracefully and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await??;
        }
        Ok(())
    }

    /// Returns an authenticated channel for `key` (`None`: no authorization header).
    pub fn authed(&self, key: Option<&str>) -> Authed {
        authed_on(self.channel.clone(), key)
    }

    /// Ticket client for a key.
    pub fn tickets(&self, key: &str) -> TicketServiceClient<Authed> {
        TicketServiceClient::new(self.authed(Some(key)))
    }

    /// Department client for a key.
    pub fn departments(&self, key: &str) -> DepartmentServiceClient<Authed> {
        DepartmentServiceClient::new(self.authed(Some(key)))
    }

    /// Supervision client for a key.
    pub fn supervision(&self, key: &str) -> SupervisionServiceClient<Authed> {
        SupervisionServiceClient::new(self.authed(Some(key)))
    }

    /// Admin client for any key (for the few admin RPCs other roles may call).
    pub fn admin_as(&self, key: &str) -> AdminServiceClient<Authed> {
        AdminServiceClient::new(self.authed(Some(key)))
    }

    /// Admin client with the bootstrap admin key.
    pub fn admin(&self) -> AdminServiceClient<Authed> {
        AdminServiceClient::new(self.authed(Some(&self.admin_key)))
    }

    /// Creates a key through the admin API and returns its secret.
    pub async fn key(&self, role: Role, department_id: &str, name: &str) -> anyhow::Result<String> {
        let response = self
            .admin()
            .create_api_key(pb::CreateApiKeyRequest {
                role: role as i32,
                department_id: department_id.to_owned(),
                name: name.to_owned(),
                expires_at: None,
            })
            .await?;
        Ok(response.into_inner().key)
    }
}

/// Connects to `addr`: `https://` with `tls`, plaintext without.
async fn open_channel(addr: SocketAddr, tls: Option<ClientTlsConfig>) -> anyhow::Result<Channel> {
    let channel = match tls {
        Some(tls) => {
            Channel::from_shared(format!("https://{addr}"))?
                .tls_config(tls)?
                .connect()
                .await?
        }
        None => {
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?
        }
    };
    Ok(channel)
}

/// Wraps `channel` so that it sends `key` (`None`: no authorization header).
pub fn authed_on(channel: Channel, key: Option<&str>) -> Authed {
    let value = key.map(|k| {
        format!("Bearer {k}")
            .parse()
            .unwrap_or_else(|_| MetadataValue::from_static("Bearer x"))
    });
    InterceptedService::new(channel, Bearer(value))
}

/// Stops the server, and fails the test if anything logged so far held PII.
impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if !std::thread::panicking() {
            pii::assert_no_pii_logged();
        }
    }
}
