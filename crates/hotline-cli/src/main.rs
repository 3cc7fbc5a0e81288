//! `hotline`: runs the 12345 hotline server (`serve`, `migrate`), seeds a demo,
//! and calls every gRPC service from the command line, for operators
//! (`ticket`), departments (`dept`), supervisors (`supervise`) and
//! administrators (`admin`).

#![forbid(unsafe_code)]

mod args;
mod client;
mod cmd;
mod enums;
mod files;
mod json;
mod output;
mod render;
mod time;

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command, GlobalArgs};
use crate::client::{ADMIN_KEY_FILE, Connection, KeySources, resolve_key};
use crate::cmd::Ctx;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => args.config().and_then(|config| {
            cmd::serve::with_telemetry(&config, cmd::serve::serve(config.clone()))
        }),
        Command::Migrate(args) => args.config().and_then(|config| {
            cmd::serve::with_telemetry(&config, cmd::serve::migrate(config.clone()))
        }),
        Command::Check(mut args) => {
            args.deep = true;
            args.config().and_then(|config| {
                cmd::serve::with_telemetry(&config, cmd::serve::audit(config.clone(), &args))
            })
        }
        Command::Audit(cmd::serve::AuditCommand::Verify(args)) => {
            args.config().and_then(|config| {
                cmd::serve::with_telemetry(&config, cmd::serve::audit(config.clone(), &args))
            })
        }
        Command::Seed(args) => args.config().and_then(|config| {
            cmd::serve::with_telemetry(&config, cmd::seed::run(config.clone(), &args))
        }),
        // Load generation gets every core: a single-threaded client would
        // measure its own queueing rather than the server.
        Command::Bench(args) => {
            init_client_logs();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")
                .and_then(|runtime| runtime.block_on(cmd::bench::run(&cli.global, args)))
        }
        command => {
            init_client_logs();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")
                .and_then(|runtime| runtime.block_on(run(cli.global, command)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

/// Logs warnings and errors of client commands to stderr, filtered by `RUST_LOG`.
fn init_client_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs a client command.
async fn run(global: GlobalArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_)
        | Command::Migrate(_)
        | Command::Audit(_)
        | Command::Check(_)
        | Command::Seed(_)
        | Command::Bench(_) => {
            anyhow::bail!("serve, migrate, audit, check, seed and bench run on their own runtime")
        }
        Command::Health(args) => {
            let ctx = connect(&global, None).await?;
            cmd::health::run(&ctx, args).await
        }
        Command::Demo(args) => {
            let ctx = connect(&global, Some(Path::new(ADMIN_KEY_FILE))).await?;
            hint_on_auth_failure(&ctx, cmd::demo::run(&ctx, args).await)
        }
        Command::Admin(command) => {
            let ctx = connect(&global, Some(Path::new(ADMIN_KEY_FILE))).await?;
            hint_on_auth_failure(&ctx, cmd::admin::run(&ctx, command).await)
        }
        Command::Ticket(command) => {
            let ctx = connect(&global, None).await?;
            hint_on_auth_failure(&ctx, cmd::ticket::run(&ctx, command).await)
        }
        Command::Dept(command) => {
            let ctx = connect(&global, None).await?;
            hint_on_auth_failure(&ctx, cmd::dept::run(&ctx, command).await)
        }
        Command::Supervise(command) => {
            let ctx = connect(&global, None).await?;
            hint_on_auth_failure(&ctx, cmd::supervise::run(&ctx, command).await)
        }
        Command::Calendar(command) => cmd::calendar::run(command, global.format()),
        Command::Classify(command) => cmd::classify::run(command, global.format()),
    }
}

/// Connects with the key from `--key`, `--key-file`, `HOTLINE_KEY`, or the
/// `fallback` file when it exists, in that order.
async fn connect(global: &GlobalArgs, fallback: Option<&Path>) -> anyhow::Result<Ctx> {
    let env_key = std::env::var("HOTLINE_KEY").ok();
    let key = resolve_key(KeySources {
        flag: global.key.as_deref(),
        file: global.key_file.as_deref(),
        env: env_key.as_deref(),
        fallback_file: fallback,
    })?;
    let conn = Connection::open(&global.target(), key).await?;
    Ok(Ctx {
        conn,
        format: global.format(),
    })
}

/// Advice printed after an error's own report.
#[derive(Debug)]
struct Hint(&'static str);

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Adds a hint to UNAUTHENTICATED failures when no key was sent.
fn hint_on_auth_failure(ctx: &Ctx, result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(error)
            if !ctx.conn.has_key()
                && error
                    .downcast_ref::<tonic::Status>()
                    .is_some_and(|s| s.code() == tonic::Code::Unauthenticated) =>
        {
            Err(error.context(Hint(
                "no API key was sent; pass --key, --key-file or set HOTLINE_KEY",
            )))
        }
        other => other,
    }
}

/// Prints an error to stderr and returns the exit code: gRPC failures as
/// `error: CODE: message` with field violations, anything else as `error: ...`.
fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(status) = error.downcast_ref::<tonic::Status>() {
        eprintln!("{}", output::status_report(status));
        if let Some(hint) = error.downcast_ref::<Hint>() {
            eprintln!("hint: {hint}");
        }
        return ExitCode::from(output::status_exit_code(status));
    }
    eprintln!("error: {error:#}");
    if error
        .downcast_ref::<hotline_server::ConfigError>()
        .is_some()
    {
        return ExitCode::from(2);
    }
    ExitCode::FAILURE
}
