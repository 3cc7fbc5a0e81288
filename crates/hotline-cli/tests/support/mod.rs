//! Real processes for the production-mode tests: a PostgreSQL cluster of the test's
//! own (so it can be stopped and started), `hotline serve` processes, and gRPC
//! clients with a bearer key.
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The binary under test.
pub const HOTLINE: &str = env!("CARGO_BIN_EXE_hotline");

/// Whether servers the test needs must be there (CI) rather than skipped for.
pub fn servers_required() -> bool {
    std::env::var("HOTLINE_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// Returns the value of `var`, or `None` (saying why) when the test must skip.
pub fn required(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                !servers_required(),
                "{var} is not set, but HOTLINE_REQUIRE_SERVERS=1 requires this test to run"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// A free port on loopback (free when asked: the caller binds it soon after).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The directory of the PostgreSQL server binaries: `HOTLINE_PG_BIN` (set by
/// `.ci/services.sh`), else the newest under `/usr/lib/postgresql`.
pub fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOTLINE_PG_BIN").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (initdb refuses to; the cluster then runs as `postgres`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A PostgreSQL cluster owned by one test: its own data directory and port, so the
/// test can stop and start it without disturbing anything else. Dropping it stops it.
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Creates and starts a cluster, or `None` (saying why) when PostgreSQL is not
    /// installed and the test may skip.
    pub fn start() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            assert!(
                !servers_required(),
                "no PostgreSQL server binaries, but HOTLINE_REQUIRE_SERVERS=1 requires them"
            );
            eprintln!("skipped: no PostgreSQL server binaries (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let cluster = PgCluster {
            bin,
            port: free_port(),
            dir,
            as_postgres,
        };
        let data = cluster.data();
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "hotline", "--auth=trust", "-E", "UTF8"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.resume();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command for one of the server's binaries, run as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://hotline@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl start");
        assert!(status.success(), "pg_ctl start failed: {}", self.log());
    }

    /// Stops the server the way an operator does (`pg_ctl stop -m fast`): sessions are
    /// terminated and new connections refused until [`PgCluster::resume`].
    pub fn stop(&self) {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl stop");
        assert!(status.success(), "pg_ctl stop failed: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One `hotline serve` process; dropping it kills it. It can be killed with
/// SIGKILL and started again on the same data directory and address.
pub struct Server {
    child: Option<Child>,
    /// `host:port` it listens on.
    pub addr: String,
    /// Its data directory (SQLite file unless `--database-url`, admin key file).
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Server {
    /// Starts `hotline serve` on a free port with `args` added, and waits for it to listen.
    /// Its log goes to stderr with `TEST_LOG=1`.
    pub fn start(args: &[&str]) -> Self {
        Server::start_with_env(args, &[])
    }

    /// Like [`Server::start`] with environment variables added (e.g. a fake clock).
    pub fn start_with_env(args: &[&str], envs: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let envs = envs.to_vec();
        let (child, addr) = spawn(dir.path(), "127.0.0.1:0", args, &envs);
        Server {
            child: Some(child),
            addr,
            dir,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            envs,
        }
    }

    /// Like [`Server::start`] on a fixed free port, so that after [`Server::restart`]
    /// clients find it at the same address.
    pub fn start_restartable(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let listen = format!("127.0.0.1:{}", free_port());
        let (child, addr) = spawn(dir.path(), &listen, args, &[]);
        Server {
            child: Some(child),
            addr,
            dir,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            envs: Vec::new(),
        }
    }

    /// Kills it with SIGKILL: no drain, no goodbye, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same data directory and address.
    pub fn restart(&mut self) {
        self.kill();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let (child, addr) = spawn(self.dir.path(), &self.addr, &args, &self.envs);
        assert_eq!(addr, self.addr, "restarted on the same address");
        self.child = Some(child);
    }

    /// The bootstrap admin key the server wrote into its data directory.
    pub fn admin_key(&self) -> String {
        admin_key_in(self.dir.path())
    }

    /// A channel to it.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("address")
            .connect()
            .await
            .expect("connect to the server")
    }

    /// A channel that connects when first used and reconnects after the server
    /// comes back, as a long-lived client's would.
    pub fn lazy_channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("address")
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `hotline serve` on `dir` and `listen`; returns the child and the address
/// it announced.
fn spawn(dir: &Path, listen: &str, args: &[&str], envs: &[(String, String)]) -> (Child, String) {
    let log = if std::env::var_os("TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let mut command = Command::new(HOTLINE);
    for (name, _) in std::env::vars() {
        if name.starts_with("HOTLINE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(dir)
        .arg("--key-hash-secret-file")
        .arg(key_hash_secret())
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn hotline serve");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("hotline listening on ") {
                    break addr.trim().to_owned();
                }
            }
            Err(_) => panic!("hotline serve did not announce its address"),
        }
    };
    (child, addr)
}

/// One key hash secret for every server this test binary starts, as replicas of one
/// deployment share theirs: a key made through one works on all.
pub fn key_hash_secret() -> &'static Path {
    static FILE: std::sync::OnceLock<tempfile::NamedTempFile> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let secret = format!(
            "{}{}",
            uuid::Uuid::now_v7().simple(),
            uuid::Uuid::now_v7().simple()
        );
        std::fs::write(file.path(), secret).expect("write the key hash secret");
        file
    })
    .path()
}

/// Runs `hotline check --json` with `args` (the database): hash chains, every ticket
/// against its events, orphan rows, indexed deadline columns. Returns its report;
/// panics with the report when it finds problems.
pub fn audit_deep(args: &[&str]) -> serde_json::Value {
    let mut command = Command::new(HOTLINE);
    for (name, _) in std::env::vars() {
        if name.starts_with("HOTLINE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let out = command
        .args(["check", "--json"])
        .args(args)
        .output()
        .expect("run hotline check");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && report["ok"] == true,
        "the audit found problems: {report}"
    );
    report
}

/// Reads the bootstrap admin key from a server's data directory.
pub fn admin_key_in(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("hotline-admin.key"))
        .expect("the server wrote the admin key")
        .trim()
        .to_owned()
}

/// A request interceptor adding a bearer key.
pub type Auth =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send + Sync>;
/// A channel whose requests carry a bearer key.
pub type Authed = InterceptedService<Channel, Auth>;

/// Adds `Authorization: Bearer KEY` to every request.
pub fn bearer(key: &str) -> Auth {
    let value: tonic::metadata::MetadataValue<_> =
        format!("Bearer {key}").parse().expect("ascii key");
    Box::new(move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", value.clone());
        Ok(request)
    })
}

/// A database of its own on the PostgreSQL server at `TEST_DATABASE_URL`, dropped
/// with the guard.
pub struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    /// Creates `<prefix>_<uuid>` on the server `base` points at.
    pub async fn create(base: &str, prefix: &str) -> Self {
        use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(base)
            .await
            .expect("TEST_DATABASE_URL");
        conn.execute(AssertSqlSafe(format!("create database {name}")))
            .await
            .expect("create the test database");
        conn.close().await.expect("close");
        Database {
            admin_url: base.to_owned(),
            name,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        let (server, _) = self
            .admin_url
            .rsplit_once('/')
            .expect("TEST_DATABASE_URL ends with /DATABASE");
        format!("{server}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                conn.execute(AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .await?;
                conn.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        });
        if !matches!(cleanup.join(), Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// libfaketime, which shifts a process's wall clock by the offset written in a file
/// (`FAKETIME_TIMESTAMP_FILE`), leaving its monotonic clock alone: `HOTLINE_FAKETIME_LIB`
/// (set by `.ci/services.sh`), else the Debian package's path. `None`, saying why, when
/// it is missing and the test may skip.
pub fn faketime_lib() -> Option<PathBuf> {
    let path = std::env::var_os("HOTLINE_FAKETIME_LIB")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || PathBuf::from("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
            PathBuf::from,
        );
    if path.exists() {
        return Some(path);
    }
    assert!(
        !servers_required(),
        "libfaketime is missing ({}), but HOTLINE_REQUIRE_SERVERS=1 requires the clock tests",
        path.display()
    );
    eprintln!("skipped: libfaketime is missing (apt-get install faketime)");
    None
}

/// A wall-clock offset shared by the server processes started with [`FakeClock::envs`].
pub struct FakeClock {
    lib: PathBuf,
    file: tempfile::NamedTempFile,
}

impl FakeClock {
    /// A clock at real time, or `None` without libfaketime.
    pub fn new() -> Option<Self> {
        let clock = FakeClock {
            lib: faketime_lib()?,
            file: tempfile::NamedTempFile::new().expect("temp file"),
        };
        clock.set("+0");
        Some(clock)
    }

    /// Moves every process's clock to `offset` from real time (`+1h`, `+90m`).
    pub fn set(&self, offset: &str) {
        std::fs::write(self.file.path(), format!("{offset}\n")).expect("write the offset");
    }

    /// The environment that puts a process on this clock.
    pub fn envs(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".to_owned(), self.lib.display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".to_owned(),
                self.file.path().display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".to_owned(), "1".to_owned()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
        ]
    }
}

/// A `redis-server` child without persistence on a port of its own; dropping it kills it.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one (`.ci/services.sh` installs the binary).
    pub fn start() -> Self {
        let mut redis = RedisServer {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again) on its port.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/services.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// Kills it with SIGKILL: connections break without a goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL redis-server");
            child.wait().expect("reap redis-server");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The department the production-mode tests dispatch to.
pub const WATER: &str = "water";

/// An admin client on `channel` with `admin_key`.
pub fn admin_client(
    channel: Channel,
    admin_key: &str,
) -> hotline_proto::v1::admin_service_client::AdminServiceClient<Authed> {
    hotline_proto::v1::admin_service_client::AdminServiceClient::with_interceptor(
        channel,
        bearer(admin_key),
    )
}

/// Creates the water bureau ([`WATER`]), a city-level department.
pub async fn add_water_bureau(
    admin: &mut hotline_proto::v1::admin_service_client::AdminServiceClient<Authed>,
) {
    use hotline_proto::v1 as pb;
    admin
        .upsert_department(pb::UpsertDepartmentRequest {
            department: Some(pb::Department {
                id: WATER.into(),
                name: "市水务局".into(),
                parent_id: String::new(),
                region_code: "320500".into(),
                level: 1,
            }),
        })
        .await
        .expect("department");
}

/// Creates an API key for `role` (and `department`, for DEPARTMENT keys) and returns
/// its secret.
pub async fn create_key(
    admin: &mut hotline_proto::v1::admin_service_client::AdminServiceClient<Authed>,
    role: hotline_proto::v1::Role,
    department: &str,
    name: &str,
) -> String {
    use hotline_proto::v1 as pb;
    admin
        .create_api_key(pb::CreateApiKeyRequest {
            role: role as i32,
            department_id: department.into(),
            name: name.into(),
            expires_at: None,
        })
        .await
        .expect("key")
        .into_inner()
        .key
}
