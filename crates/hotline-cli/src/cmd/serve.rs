//! `hotline serve` and `hotline migrate`: run the server in this process.
//!
//! Their flags are generated from the server's table of settings
//! ([`hotline_server::SETTINGS`]), so every setting has a flag, an environment
//! variable and a configuration-file key with one precedence: flag, then
//! environment, then the file named by `--config` or `HOTLINE_CONFIG`, then
//! the default. With none, the server keeps a SQLite file in the working
//! directory and listens on 127.0.0.1:50051.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Arg, ArgAction, ArgMatches, Args};
use hotline_server::{App, Layers, SETTINGS, Scope, ServerConfig, Setting, telemetry};

/// The flags of the settings a command takes: `STORAGE_ONLY` for `migrate`.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags<const STORAGE_ONLY: bool> {
    /// The flags given, by setting key.
    values: Vec<(&'static str, String)>,
}

impl<const STORAGE_ONLY: bool> SettingFlags<STORAGE_ONLY> {
    fn settings() -> impl Iterator<Item = &'static Setting> {
        SETTINGS
            .iter()
            .filter(|s| !STORAGE_ONLY || s.scope == Scope::Storage)
    }

    fn scope() -> Scope {
        if STORAGE_ONLY {
            Scope::Storage
        } else {
            Scope::Serve
        }
    }
}

impl<const STORAGE_ONLY: bool> clap::FromArgMatches for SettingFlags<STORAGE_ONLY> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let values = Self::settings()
            .filter_map(|s| {
                matches
                    .get_one::<String>(s.key)
                    .map(|value| (s.key, value.clone()))
            })
            .collect();
        Ok(Self { values })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<const STORAGE_ONLY: bool> Args for SettingFlags<STORAGE_ONLY> {
    fn augment_args(mut command: clap::Command) -> clap::Command {
        for setting in Self::settings() {
            let default = if setting.default.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", setting.default)
            };
            let mut arg = Arg::new(setting.key)
                .long(setting.flag)
                .value_name(setting.value_name)
                .action(ArgAction::Set)
                .help(format!("{} [env: {}]{default}", setting.about, setting.env));
            if setting.switch {
                // `--allow-plaintext` alone means true; `--allow-plaintext=false` still works.
                arg = arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true");
            }
            command = command.arg(arg);
        }
        command
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// `hotline serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (keys as in docs/configuration.md)
    #[arg(long, env = "HOTLINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: SettingFlags<false>,
}

/// `hotline migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// TOML configuration file (keys as in docs/configuration.md)
    #[arg(long, env = "HOTLINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: SettingFlags<true>,
}

/// `hotline audit`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Walk every ticket's event hash chain and report any edited, removed or
    /// reordered event; exits 1 when something is wrong
    Verify(AuditArgs),
}

/// `hotline audit verify`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// TOML configuration file (keys as in docs/configuration.md)
    #[arg(long, env = "HOTLINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Only this ticket (its id)
    #[arg(long, value_name = "ID")]
    ticket: Option<hotline_core::TicketId>,

    /// Also replay every ticket's events and compare with the stored ticket, and
    /// check that rows agree (no orphans, deadline columns as the tickets imply)
    #[arg(long)]
    pub(crate) deep: bool,

    /// Print one JSON document
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    settings: SettingFlags<true>,
}

impl AuditArgs {
    /// Returns the configuration these arguments, the environment and the file give.
    ///
    /// # Errors
    /// See [`load_config`].
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        load_config(self.config.as_deref(), &self.settings)
    }
}

/// Verifies the database and prints what it found.
pub async fn audit(config: ServerConfig, args: &AuditArgs) -> anyhow::Result<()> {
    let report = hotline_server::audit(&config, args.ticket, args.deep).await?;
    let clean = report.is_clean();
    if args.json {
        let doc = serde_json::json!({
            "ok": clean,
            "tickets": report.tickets,
            "events": report.events,
            "breaks": report.breaks.iter().map(|b| serde_json::json!({
                "ticket_id": b.ticket_id,
                "seq": b.seq,
                "event_id": b.event_id,
                "problem": b.problem,
            })).collect::<Vec<_>>(),
            "projection_mismatches": report.projection_mismatches,
            "row_problems": report.row_problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        for b in &report.breaks {
            println!("BROKEN  {b}");
        }
        for m in &report.projection_mismatches {
            println!("MISMATCH  {m}");
        }
        for p in &report.row_problems {
            println!("ROW  {p}");
        }
        println!(
            "{} tickets, {} events checked{}: {} chain breaks{}",
            report.tickets,
            report.events,
            if args.deep { " (deep)" } else { "" },
            report.breaks.len(),
            if args.deep {
                format!(
                    ", {} projection mismatches, {} row problems",
                    report.projection_mismatches.len(),
                    report.row_problems.len()
                )
            } else {
                String::new()
            }
        );
    }
    if clean {
        Ok(())
    } else {
        anyhow::bail!("the audit found problems")
    }
}

/// Builds the configuration from the flags, the process environment and the file.
///
/// # Errors
/// The file cannot be read, or [`hotline_server::load_config`] refuses it.
pub fn load_config<const STORAGE_ONLY: bool>(
    file: Option<&Path>,
    flags: &SettingFlags<STORAGE_ONLY>,
) -> anyhow::Result<ServerConfig> {
    let text = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration file {}", path.display()))?,
        ),
        None => None,
    };
    let env = |name: &str| std::env::var(name).ok();
    let layers = Layers {
        flags: flags.values.clone(),
        env: &env,
        file: file.zip(text.as_deref()),
    };
    Ok(hotline_server::load_config(
        &layers,
        SettingFlags::<STORAGE_ONLY>::scope(),
    )?)
}

impl ServeArgs {
    /// Returns the configuration these arguments, the environment and the file give.
    ///
    /// # Errors
    /// See [`load_config`].
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        load_config(self.config.as_deref(), &self.settings)
    }
}

impl MigrateArgs {
    /// Returns the configuration these arguments, the environment and the file give.
    ///
    /// # Errors
    /// See [`load_config`].
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        load_config(self.config.as_deref(), &self.settings)
    }
}

/// Runs `body` on a multi-threaded runtime with telemetry set up from
/// `config`, and flushes the exporters after it returns.
///
/// # Errors
/// The runtime or telemetry cannot start, or `body` fails.
pub fn with_telemetry<F>(config: &ServerConfig, body: F) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let telemetry = telemetry::init(config)?;
        let result = body.await;
        // Exporting blocks on the network: keep it off the async workers.
        if let Err(error) = tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
            tracing::warn!(error = %error, "telemetry shutdown failed");
        }
        result
    })
}

/// Opens the app, makes sure an admin key exists, binds and serves until
/// SIGINT or SIGTERM.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    tracing::info!(config = ?config, "starting");
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
pub async fn migrate(config: ServerConfig) -> anyhow::Result<()> {
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
    use clap::Parser as _;

    use crate::args::{Cli, Command};

    #[test]
    fn every_setting_has_a_serve_flag_and_storage_ones_a_migrate_flag() {
        let mut serve = vec!["hotline", "serve"];
        let mut migrate = vec!["hotline", "migrate"];
        let flags: Vec<String> = hotline_server::SETTINGS
            .iter()
            .map(|s| format!("--{}", s.flag))
            .collect();
        let switches: Vec<String> = hotline_server::SETTINGS
            .iter()
            .map(|s| format!("--{}=v", s.flag))
            .collect();
        for ((setting, flag), switch) in hotline_server::SETTINGS.iter().zip(&flags).zip(&switches)
        {
            if setting.switch {
                serve.push(switch.as_str());
            } else {
                serve.extend([flag.as_str(), "v"]);
            }
            if setting.scope == hotline_server::Scope::Storage {
                migrate.extend([flag.as_str(), "v"]);
            }
        }
        let Command::Serve(args) = Cli::try_parse_from(&serve).expect("serve parses").command
        else {
            panic!("not serve");
        };
        assert_eq!(args.settings.values.len(), hotline_server::SETTINGS.len());
        assert!(Cli::try_parse_from(&migrate).is_ok());
        let listen = Cli::try_parse_from(["hotline", "migrate", "--listen", "0.0.0.0:1"]);
        assert!(listen.is_err(), "migrate does not listen");
    }

    #[test]
    fn flags_reach_the_configuration() {
        let cli = Cli::try_parse_from([
            "hotline",
            "serve",
            "--sweep-interval",
            "250ms",
            "--log-format",
            "json",
            "--center",
            "SZ",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        let config = args.config().expect("valid");
        assert!(!config.allow_plaintext);
        assert_eq!(config.sweep_interval, std::time::Duration::from_millis(250));
        assert_eq!(config.log_format, hotline_server::LogFormat::Json);
        assert_eq!(config.center, "SZ");
    }

    #[test]
    fn a_bare_switch_flag_means_true_and_takes_an_explicit_value() {
        let parse = |words: &[&str]| {
            let cli = Cli::try_parse_from(words).expect("parses");
            let Command::Serve(args) = cli.command else {
                panic!("not serve");
            };
            args.config().expect("valid")
        };
        let bare = parse(&[
            "hotline",
            "serve",
            "--allow-plaintext",
            "--listen",
            "0.0.0.0:1",
        ]);
        assert!(bare.allow_plaintext);
        assert_eq!(bare.listen.to_string(), "0.0.0.0:1");
        assert!(bare.validate().is_ok());
        let off = parse(&["hotline", "serve", "--allow-plaintext=false"]);
        assert!(!off.allow_plaintext);
    }
}
