//! The end-to-end test fixture: [`TestServer`] starts a real hotline server on
//! `127.0.0.1:0` with a temporary SQLite file and hands out typed gRPC clients
//! authenticated with keys it creates through the admin API.

#![forbid(unsafe_code)]

pub mod pii;

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
use tonic::transport::Channel;

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
        pii::capture();
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().to_path_buf();
        let mut config = ServerConfig::default();
        configure(&mut config);
        config.data_dir = data_dir.clone();
        let app = App::open(config).await?;
        let key_path = app
            .ensure_admin_key()
            .await?
            .ok_or_else(|| anyhow::anyhow!("a fresh database must get an admin key"))?;
        let admin_key = std::fs::read_to_string(key_path)?.trim().to_owned();
        Self::serve(app, dir, admin_key).await
    }

    /// Starts a second server on `first`'s database, as another replica would run:
    /// same tickets and keys, a data directory of its own.
    pub async fn replica_of(
        first: &TestServer,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = ServerConfig::default();
        configure(&mut config);
        config.data_dir = dir.path().to_path_buf();
        config.database_url = Some(format!(
            "sqlite://{}",
            first.data_dir.join("hotline.db").display()
        ));
        let app = App::open(config).await?;
        Self::serve(app, dir, first.admin_key.clone()).await
    }

    async fn serve(app: App, dir: tempfile::TempDir, admin_key: String) -> anyhow::Result<Self> {
        let data_dir = dir.path().to_path_buf();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.serve(listener, async {
            let _ = rx.await;
        }));
        // The listener is bound already: connecting needs no wait.
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        Ok(Self {
            addr,
            data_dir,
            admin_key,
            channel,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        })
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
        let value = key.map(|k| {
            format!("Bearer {k}")
                .parse()
                .unwrap_or_else(|_| MetadataValue::from_static("Bearer x"))
        });
        InterceptedService::new(self.channel.clone(), Bearer(value))
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
