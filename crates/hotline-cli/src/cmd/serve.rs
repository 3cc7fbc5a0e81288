//! `hotline serve` and `hotline migrate`: run the server in this process.
//!
//! Flags override the server's defaults ([`ServerConfig::default`]): with none,
//! the server keeps a SQLite file in the working directory and listens on
//! 127.0.0.1:50051.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

    /// How often the sweeper looks for due deadlines, e.g. 500ms, 1s, 1m [default: 1s]
    #[arg(long, env = "HOTLINE_SWEEP_INTERVAL", value_name = "SPAN", value_parser = interval_arg)]
    sweep_interval: Option<Duration>,

    /// Classifier model file (from `hotline classify train`); without one,
    /// only keyword rules categorise and the rest waits for an operator
    #[arg(long, env = "HOTLINE_MODEL", value_name = "FILE")]
    model: Option<PathBuf>,

    /// Keyword rules file (`category keyword+keyword` per line) [default: the shipped rules]
    #[arg(long, env = "HOTLINE_KEYWORD_RULES", value_name = "FILE")]
    keyword_rules: Option<PathBuf>,
}

/// Parses an interval such as `500ms` or `2s` (any unit of `--within`, plus `ms`).
fn interval_arg(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    if let Some(millis) = text.strip_suffix("ms") {
        let millis: u64 = millis
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid interval {text:?}: use e.g. 500ms, 1s or 1m"))?;
        return Ok(Duration::from_millis(millis));
    }
    let seconds = crate::time::parse_span_seconds(text)?;
    u64::try_from(seconds)
        .map(Duration::from_secs)
        .map_err(|_| anyhow::anyhow!("interval {text:?} must not be negative"))
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
        if let Some(interval) = self.sweep_interval {
            config.sweep_interval = interval;
        }
        config.model = self.model;
        config.keyword_rules = self.keyword_rules;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_intervals_take_milliseconds_and_the_span_units() {
        assert_eq!(interval_arg("50ms").ok(), Some(Duration::from_millis(50)));
        assert_eq!(interval_arg("2s").ok(), Some(Duration::from_secs(2)));
        assert_eq!(interval_arg("1m").ok(), Some(Duration::from_secs(60)));
        for bad in ["", "ms", "fast", "-1s", "1.5s"] {
            assert!(interval_arg(bad).is_err(), "{bad}");
        }
    }
}
