//! `hotline serve` and `hotline migrate`: run the server in this process.
//!
//! Flags override the server's defaults ([`ServerConfig::default`]): with none,
//! the server keeps a SQLite file in the working directory and listens on
//! 127.0.0.1:50051.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use hotline_server::{App, ServerConfig};

/// Where the data lives; shared by `serve` and `migrate`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Directory of the SQLite database and the admin key file [default: .]
    #[arg(long, env = "HOTLINE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Database URL (e.g. postgres://...) instead of SQLite in the data directory
    #[arg(
        long,
        env = "HOTLINE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

/// `hotline serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051]
    #[arg(long, env = "HOTLINE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,

    #[command(flatten)]
    storage: StorageArgs,

    /// Center code, the prefix of ticket numbers [default: HL]
    #[arg(long, env = "HOTLINE_CENTER", value_name = "CODE")]
    center: Option<String>,

    /// IANA time zone of the center [default: Asia/Shanghai]
    #[arg(long, env = "HOTLINE_TIME_ZONE", value_name = "ZONE")]
    time_zone: Option<String>,

    /// Classifier confidence needed to dispatch at create [default: 0.8]
    #[arg(long, env = "HOTLINE_AUTO_DISPATCH_THRESHOLD", value_name = "P")]
    auto_dispatch_threshold: Option<f64>,
}

/// `hotline migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    storage: StorageArgs,
}

impl StorageArgs {
    /// Applies these flags over `config`.
    fn apply(self, config: &mut ServerConfig) {
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = self.database_url.filter(|u| !u.is_empty()) {
            config.database_url = Some(url);
        }
    }
}

impl ServeArgs {
    /// Builds the server configuration: defaults, then these flags.
    fn config(self) -> ServerConfig {
        let mut config = ServerConfig::default();
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        self.storage.apply(&mut config);
        if let Some(center) = self.center {
            config.center = center;
        }
        if let Some(zone) = self.time_zone {
            config.time_zone = zone;
        }
        if let Some(threshold) = self.auto_dispatch_threshold {
            config.auto_dispatch_threshold = threshold;
        }
        config
    }
}

/// Opens the app, makes sure an admin key exists, binds and serves until
/// SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config();
    let listen = config.listen;
    let app = App::open(config).await?;
    if let Some(path) = app.ensure_admin_key().await? {
        println!("admin key written to {}", path.display());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr().unwrap_or(listen);
    println!("hotline listening on {local}");
    app.serve(listener, shutdown_signal()).await
}

/// Applies the database migrations and exits.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::default();
    args.storage.apply(&mut config);
    hotline_server::migrate(&config).await?;
    println!("migrations applied");
    Ok(())
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot install the SIGTERM handler");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received, draining connections");
}
