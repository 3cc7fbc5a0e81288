//! The command line: global flags, the top-level command tree, and argument
//! groups shared by several commands (the ticket to act on, approve/reject,
//! paging). Each command group's own flags live in its module under `cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;

use crate::client::{Remote, TlsFiles};
use crate::cmd::{
    admin, bench, calendar, classify, demo, dept, health, seed, serve, supervise, ticket,
};
use crate::output::Format;

/// Text shown after the top-level help.
const AFTER_HELP: &str = "\
Getting started:
  hotline serve                              # SQLite in ./, listens on 127.0.0.1:50051
  hotline demo                               # departments, routing rules and keys in ./demo-keys
  hotline --key-file demo-keys/operator.key ticket create --type complaint \\
      --title '夜间施工噪声' --body '...' --region 320508001 --category 环境保护/噪声污染/施工噪声

Times are RFC 3339 or local \"YYYY-MM-DD HH:MM\" (Asia/Shanghai).
Exit status: 0 ok, 2 bad input (usage or INVALID_ARGUMENT), 1 any other error.";

/// The help heading of the flags every command takes.
const GLOBAL: &str = "Global options";

/// `hotline`: the 12345 hotline server and its command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "hotline",
    version,
    about = "12345-style government service hotline: server and command-line client",
    after_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every client command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server is, which key to send, and how to print.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Server address: `https://HOST:PORT`, `http://HOST:PORT`, or `HOST:PORT` (https with TLS flags)
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HOTLINE_ADDR",
        default_value = "http://127.0.0.1:50051",
        value_name = "ADDR"
    )]
    pub addr: String,

    /// API key to send [env: HOTLINE_KEY]
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        value_name = "KEY",
        conflicts_with = "key_file"
    )]
    pub key: Option<String>,

    /// Read the API key from a file; `admin` and `demo` fall back to ./hotline-admin.key
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "PATH")]
    pub key_file: Option<PathBuf>,

    /// PEM CA bundle the server's certificate must chain to (https:// only; default: system roots)
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HOTLINE_CA_CERT",
        value_name = "PATH"
    )]
    pub ca_cert: Option<PathBuf>,

    /// PEM client certificate for servers that require one (mutual TLS)
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HOTLINE_CLIENT_CERT",
        value_name = "PATH",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,

    /// PEM private key of --client-cert
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HOTLINE_CLIENT_KEY",
        value_name = "PATH",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,

    /// Print one JSON document (the RPC's response) instead of tables
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
}

impl GlobalArgs {
    /// Returns the server address and TLS files to connect with.
    pub fn target(&self) -> Remote {
        Remote {
            addr: self.addr.clone(),
            tls: TlsFiles {
                ca_cert: self.ca_cert.clone(),
                client_cert: self.client_cert.clone(),
                client_key: self.client_key.clone(),
            },
        }
    }

    /// Returns the output format chosen by `--json`.
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (SQLite in the data directory unless --database-url)
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit
    Migrate(serve::MigrateArgs),
    /// Check the database: event hash chains, and with --deep every ticket against its events
    #[command(subcommand)]
    Audit(serve::AuditCommand),
    /// Check a database's invariants (audit verify --deep): hash chains intact, every
    /// ticket equal to the replay of its events, no orphan rows, deadline columns as the
    /// tickets imply; exits 1 on any problem
    Check(serve::AuditArgs),
    /// Bulk-load years of realistic tickets straight into an empty database (benchmarks, demos)
    Seed(seed::SeedArgs),
    /// Check a server's grpc.health.v1 status: exit 0 when SERVING (for container health checks)
    Health(health::HealthArgs),
    /// Seed demo departments, routing rules and keys (needs the admin key)
    Demo(demo::DemoArgs),
    /// Operator commands: create, dispatch, answer, review, call back, merge tickets
    #[command(subcommand)]
    Ticket(ticket::TicketCommand),
    /// Department commands: list, watch, sign for, return, extend, reply to tickets
    #[command(subcommand)]
    Dept(dept::DeptCommand),
    /// Supervisor commands: overdue work, urging, decisions, statistics, hotspots
    #[command(subcommand)]
    Supervise(supervise::SuperviseCommand),
    /// Administrator commands: departments, routing rules, policy, calendar, keys
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Load generator: drive a running server and report throughput and latency percentiles
    Bench(bench::BenchArgs),
    /// Working-calendar arithmetic, offline: add working time, count it, look up a day
    #[command(subcommand)]
    Calendar(calendar::CalendarCommand),
    /// Appeal classifier, offline: train a model, evaluate or cross-validate it, predict
    #[command(subcommand)]
    Classify(classify::ClassifyCommand),
}

/// The ticket a mutation acts on, and its optimistic-concurrency guard.
#[derive(Debug, Args)]
pub struct Target {
    /// Ticket id
    #[arg(value_name = "TICKET")]
    pub ticket: String,

    /// Fail with ABORTED unless the ticket is at this version
    #[arg(long, value_name = "N")]
    pub expect_version: Option<i64>,
}

/// A supervisor's decision on a department request.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Decision {
    /// Approve the request
    #[arg(long)]
    pub approve: bool,

    /// Reject the request
    #[arg(long)]
    pub reject: bool,
}

/// Cursor paging of list commands.
#[derive(Debug, Args)]
pub struct Page {
    /// Maximum rows per page (0: the server's default)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: i32,

    /// Continue from a previous page's next_page_token
    #[arg(
        long,
        value_name = "TOKEN",
        default_value = "",
        hide_default_value = true
    )]
    pub page_token: String,
}

/// Parses a command-line time for clap (see [`crate::time::parse_time`]).
pub fn time_arg(text: &str) -> anyhow::Result<Timestamp> {
    crate::time::parse_time(text)
}

/// Parses a span such as `24h` for clap, into seconds.
pub fn span_arg(text: &str) -> anyhow::Result<i64> {
    crate::time::parse_span_seconds(text)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_enum_words_list_the_choices() {
        let err = Cli::try_parse_from(["hotline", "ticket", "create", "--type", "rant"])
            .expect_err("bad word");
        let text = err.to_string();
        assert!(text.contains("invalid value 'rant'"), "{text}");
        for word in [
            "consultation",
            "request",
            "complaint",
            "report",
            "suggestion",
            "praise",
        ] {
            assert!(text.contains(word), "{word} missing in {text}");
        }
    }

    #[test]
    fn decisions_need_exactly_one_of_approve_or_reject() {
        let parse = |args: &[&str]| {
            let mut argv = vec!["hotline", "supervise", "decide-extension", "T1"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv)
        };
        assert!(parse(&["--approve"]).is_ok());
        assert!(parse(&["--reject"]).is_ok());
        assert!(parse(&[]).is_err());
        assert!(parse(&["--approve", "--reject"]).is_err());
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "hotline",
            "ticket",
            "show",
            "T1",
            "--json",
            "--addr",
            "127.0.0.1:1",
        ])
        .expect("parses");
        assert!(cli.global.json);
        assert_eq!(cli.global.addr, "127.0.0.1:1");
    }

    #[test]
    fn key_and_key_file_conflict() {
        let err = Cli::try_parse_from(["hotline", "--key", "k", "--key-file", "f", "dept", "list"])
            .expect_err("conflict");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
