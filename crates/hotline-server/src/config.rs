//! The server's configuration: one typed struct ([`ServerConfig`]) with the
//! defaults of an embedded, single-process deployment, and the one table of
//! settings ([`SETTINGS`]) from which flags, environment variables and
//! configuration-file keys are all derived.
//!
//! Each setting is read from four layers, the first that has it wins:
//! command-line flag, environment variable, TOML file (`--config FILE` or
//! `HOTLINE_CONFIG`), default. [`load`] is a pure function of those layers (it
//! reads no environment and no file itself), so tests pass their own.
//!
//! Adding a setting takes one field in [`ServerConfig`] (and its default) and
//! one entry in [`SETTINGS`]: the flag, the environment variable, the file key,
//! validation and `hotline serve --help` follow from the entry, and a test
//! checks that `docs/configuration.md` lists it.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::classifier::ClassifierSource;
use jiff::tz::TimeZone;

/// Name of the SQLite file inside `data_dir`.
pub const DATABASE_FILE: &str = "hotline.db";
/// Name of the bootstrap admin key file inside `data_dir`.
pub const ADMIN_KEY_FILE: &str = "hotline-admin.key";
/// Name of the key hash secret a SQLite server creates inside `data_dir`
/// when `key_hash_secret_file` is not set.
pub const KEY_HASH_SECRET_FILE: &str = "key-hash.secret";

/// Shortest sweep interval accepted: the sweeper's queries are cheap, but not free.
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(10);
/// Shortest gauge refresh accepted: each refresh runs two grouped counts.
pub const MIN_METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// How the server is set up.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on; the CLI binds it (the library serves a bound listener).
    pub listen: SocketAddr,
    /// PEM certificate chain the server presents; with `tls_key` the gRPC port
    /// speaks TLS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of the CAs client certificates must chain to. Set, every
    /// client must present such a certificate (mutual TLS), and one naming an
    /// API key may stand in for that key's secret.
    pub client_ca: Option<PathBuf>,
    /// Serves plaintext gRPC on a non-loopback address: for a service mesh or
    /// ingress that terminates TLS in front of the server. Loopback needs no leave.
    pub allow_plaintext: bool,
    /// File of the server secret that keys API key hashes (at least 32 bytes).
    /// `None`: `data_dir/key-hash.secret`, created at first start, which only a
    /// SQLite server may use (replicas sharing PostgreSQL must share the secret).
    pub key_hash_secret_file: Option<PathBuf>,
    /// Directory of the SQLite file and the admin key file.
    pub data_dir: PathBuf,
    /// `None` for the SQLite file in `data_dir`; `sqlite://PATH` for another SQLite file;
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` for PostgreSQL (production: several
    /// replicas may share it).
    pub database_url: Option<String>,
    /// `redis://HOST:PORT/DB` when several replicas share the database: they tell
    /// each other what they committed, so every replica's watchers hear every
    /// dispatch. `None` keeps notifications in this process.
    pub redis_url: Option<String>,
    /// Center code: the first part of ticket numbers (`HL-20261122-000001`).
    pub center: String,
    /// IANA time zone of the center: the day part of ticket numbers.
    pub time_zone: String,
    /// Classifier confidence from which a ticket matching a direct-dispatch rule
    /// is dispatched at create.
    pub auto_dispatch_threshold: f64,
    /// How often the sweeper looks for due deadlines: the delay with which a
    /// warning light changes or a replied ticket closes by itself.
    pub sweep_interval: Duration,
    /// Classifier model file; `None` classifies by keyword rules alone.
    pub model: Option<PathBuf>,
    /// Keyword rules file; `None` uses the shipped rules.
    pub keyword_rules: Option<PathBuf>,
    /// Log line format on stderr: text for people, JSON for log collectors.
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (`info`, `warn,hotline_server=debug`).
    pub log_level: String,
    /// OTLP/gRPC collector for traces and metrics; nothing is exported without one.
    pub otlp_endpoint: Option<String>,
    /// How often the ticket gauges (by status, overdue by department, sweeper
    /// lag) are recounted from the store, when metrics are exported.
    pub metrics_interval: Duration,
    /// Requests per second each credential may make, on average; 0 turns limits off.
    /// Shared by every replica through Redis when `redis_url` is set.
    pub rate_limit: f64,
    /// Requests a credential may make at once above its rate (the bucket's size).
    pub rate_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 50051)),
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            allow_plaintext: false,
            key_hash_secret_file: None,
            data_dir: PathBuf::from("."),
            database_url: None,
            redis_url: None,
            center: "HL".to_owned(),
            time_zone: "Asia/Shanghai".to_owned(),
            auto_dispatch_threshold: 0.8,
            sweep_interval: Duration::from_secs(1),
            model: None,
            keyword_rules: None,
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            otlp_endpoint: None,
            metrics_interval: Duration::from_secs(30),
            rate_limit: 200.0,
            rate_burst: 400,
        }
    }
}

/// Shows URLs by scheme only: a database URL may carry a password.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("client_ca", &self.client_ca)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("key_hash_secret_file", &self.key_hash_secret_file)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact))
            .field("redis_url", &self.redis_url.as_deref().map(redact))
            .field("center", &self.center)
            .field("time_zone", &self.time_zone)
            .field("auto_dispatch_threshold", &self.auto_dispatch_threshold)
            .field("sweep_interval", &self.sweep_interval)
            .field("model", &self.model)
            .field("keyword_rules", &self.keyword_rules)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("metrics_interval", &self.metrics_interval)
            .field("rate_limit", &self.rate_limit)
            .field("rate_burst", &self.rate_burst)
            .finish()
    }
}

/// Returns `scheme://[redacted]`: enough to tell backends apart, nothing more.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://[redacted]"),
        None => "[redacted]".to_owned(),
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the span fields.
    Json,
}

/// Where the tickets are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (which may carry a password).
    Postgres(String),
}

/// Hides a PostgreSQL URL: it may carry a password.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.debug_tuple("Postgres").field(&"[redacted]").finish(),
        }
    }
}

/// Which commands take a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `serve` and `migrate`: where the data lives.
    Storage,
    /// `serve` only.
    Serve,
}

/// One setting: its names in every layer, its documentation, and how a text
/// value is checked and stored.
#[derive(Clone, Copy)]
pub struct Setting {
    /// Key in the configuration file; also the field of [`ServerConfig`].
    pub key: &'static str,
    /// Long flag without its dashes.
    pub flag: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// Placeholder in `--help`.
    pub value_name: &'static str,
    /// The default, as documented (a test checks it is [`ServerConfig::default`]'s).
    pub default: &'static str,
    /// One line on what it does, for `--help` and the documentation.
    pub about: &'static str,
    /// Which commands take it.
    pub scope: Scope,
    /// Whether the value may hold credentials: never echoed, not even in errors.
    pub secret: bool,
    /// Whether it is a yes/no setting, so that the bare flag (`--allow-plaintext`)
    /// means `true`.
    pub switch: bool,
    /// Parses and checks a value and stores it; the error says what is wrong
    /// with it, without repeating it.
    pub apply: fn(&mut ServerConfig, &str) -> Result<(), String>,
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting").field("key", &self.key).finish()
    }
}

/// Every setting of `hotline serve` and `hotline migrate`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        flag: "listen",
        env: "HOTLINE_LISTEN",
        value_name: "ADDR",
        default: "127.0.0.1:50051",
        about: "Address to listen on for gRPC",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.listen = v
                .parse()
                .map_err(|_| "must be HOST:PORT with an IP address, e.g. 0.0.0.0:50051")?;
            Ok(())
        },
    },
    Setting {
        key: "tls_cert",
        flag: "tls-cert",
        env: "HOTLINE_TLS_CERT",
        value_name: "FILE",
        default: "",
        about: "PEM certificate chain of the server; with --tls-key, gRPC is served over TLS only",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.tls_cert = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Setting {
        key: "tls_key",
        flag: "tls-key",
        env: "HOTLINE_TLS_KEY",
        value_name: "FILE",
        default: "",
        about: "PEM private key of --tls-cert",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.tls_key = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Setting {
        key: "client_ca",
        flag: "client-ca",
        env: "HOTLINE_CLIENT_CA",
        value_name: "FILE",
        default: "",
        about: "PEM bundle of CAs: every client must present a certificate chaining to one (mutual TLS)",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.client_ca = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Setting {
        key: "allow_plaintext",
        flag: "allow-plaintext",
        env: "HOTLINE_ALLOW_PLAINTEXT",
        value_name: "BOOL",
        default: "false",
        about: "Serve plaintext gRPC on a non-loopback address (a mesh or ingress terminates TLS in front)",
        scope: Scope::Serve,
        secret: false,
        switch: true,
        apply: |c, v| {
            c.allow_plaintext = parse_bool(v)?;
            Ok(())
        },
    },
    Setting {
        key: "data_dir",
        flag: "data-dir",
        env: "HOTLINE_DATA_DIR",
        value_name: "DIR",
        default: ".",
        about: "Directory of the SQLite database and the admin key file",
        scope: Scope::Storage,
        secret: false,
        switch: false,
        apply: |c, v| {
            if v.is_empty() {
                return Err("must not be empty".to_owned());
            }
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
    },
    Setting {
        key: "database_url",
        flag: "database-url",
        env: "HOTLINE_DATABASE_URL",
        value_name: "URL",
        default: "",
        about: "Database URL (sqlite://PATH) instead of SQLite in the data directory",
        scope: Scope::Storage,
        secret: true,
        switch: false,
        apply: |c, v| {
            let candidate = ServerConfig {
                database_url: (!v.is_empty()).then(|| v.to_owned()),
                ..c.clone()
            };
            candidate.database().map_err(|e| e.to_string())?;
            c.database_url = candidate.database_url;
            Ok(())
        },
    },
    Setting {
        key: "redis_url",
        flag: "redis-url",
        env: "HOTLINE_REDIS_URL",
        value_name: "URL",
        default: "",
        about: "Redis (redis://HOST:PORT/DB) carrying notifications between replicas; empty keeps them in-process",
        scope: Scope::Serve,
        secret: true,
        switch: false,
        apply: |c, v| {
            if v.is_empty() {
                c.redis_url = None;
                return Ok(());
            }
            hotline_redis::check_url(v).map_err(|_| {
                "must be a Redis URL, e.g. redis://redis.internal:6379/0".to_owned()
            })?;
            c.redis_url = Some(v.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "key_hash_secret_file",
        flag: "key-hash-secret-file",
        env: "HOTLINE_KEY_HASH_SECRET_FILE",
        value_name: "FILE",
        default: "",
        about: "File of the secret (32 bytes or more) keying API key hashes; required with PostgreSQL, \
                else created as key-hash.secret in the data directory",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.key_hash_secret_file = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Setting {
        key: "center",
        flag: "center",
        env: "HOTLINE_CENTER",
        value_name: "CODE",
        default: "HL",
        about: "Center code, the prefix of ticket numbers",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            check_center(v)?;
            c.center = v.to_owned();
            Ok(())
        },
    },
    Setting {
        key: "time_zone",
        flag: "time-zone",
        env: "HOTLINE_TIME_ZONE",
        value_name: "ZONE",
        default: "Asia/Shanghai",
        about: "IANA time zone of the center",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            TimeZone::get(v).map_err(|_| "is not a known IANA time zone".to_owned())?;
            c.time_zone = v.to_owned();
            Ok(())
        },
    },
    Setting {
        key: "auto_dispatch_threshold",
        flag: "auto-dispatch-threshold",
        env: "HOTLINE_AUTO_DISPATCH_THRESHOLD",
        value_name: "P",
        default: "0.8",
        about: "Classifier confidence needed to dispatch at create",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            let p: f64 = v.parse().map_err(|_| "must be a number from 0 to 1")?;
            if !(0.0..=1.0).contains(&p) {
                return Err("must be a number from 0 to 1".to_owned());
            }
            c.auto_dispatch_threshold = p;
            Ok(())
        },
    },
    Setting {
        key: "sweep_interval",
        flag: "sweep-interval",
        env: "HOTLINE_SWEEP_INTERVAL",
        value_name: "SPAN",
        default: "1s",
        about: "How often the sweeper looks for due deadlines (500ms, 1s, 1m)",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.sweep_interval = parse_interval(v, MIN_SWEEP_INTERVAL)?;
            Ok(())
        },
    },
    Setting {
        key: "model",
        flag: "model",
        env: "HOTLINE_MODEL",
        value_name: "FILE",
        default: "",
        about: "Classifier model file from `hotline classify train`; without one, keyword rules alone categorise",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.model = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Setting {
        key: "keyword_rules",
        flag: "keyword-rules",
        env: "HOTLINE_KEYWORD_RULES",
        value_name: "FILE",
        default: "",
        about: "Keyword rules file (`category keyword+keyword` per line); empty uses the shipped rules",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.keyword_rules = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Setting {
        key: "log_format",
        flag: "log-format",
        env: "HOTLINE_LOG_FORMAT",
        value_name: "FORMAT",
        default: "text",
        about: "Log lines on stderr: text or json",
        scope: Scope::Storage,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.log_format = match v {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err("must be text or json".to_owned()),
            };
            Ok(())
        },
    },
    Setting {
        key: "log_level",
        flag: "log-level",
        env: "RUST_LOG",
        value_name: "FILTER",
        default: "info",
        about: "Log filter: a level or RUST_LOG directives (warn,hotline_server=debug)",
        scope: Scope::Storage,
        secret: false,
        switch: false,
        apply: |c, v| {
            tracing_subscriber::EnvFilter::builder()
                .parse(v)
                .map_err(|e| format!("is not a log filter: {e}"))?;
            c.log_level = v.to_owned();
            Ok(())
        },
    },
    Setting {
        key: "otlp_endpoint",
        flag: "otlp-endpoint",
        env: "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name: "URL",
        default: "",
        about: "OpenTelemetry collector (OTLP/gRPC, http://HOST:4317) for traces and metrics",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            if v.is_empty() {
                c.otlp_endpoint = None;
                return Ok(());
            }
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                return Err(
                    "must be an http:// or https:// URL, e.g. http://collector:4317".into(),
                );
            }
            c.otlp_endpoint = Some(v.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "metrics_interval",
        flag: "metrics-interval",
        env: "HOTLINE_METRICS_INTERVAL",
        value_name: "SPAN",
        default: "30s",
        about: "How often ticket gauges are recounted from the store when exporting",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.metrics_interval = parse_interval(v, MIN_METRICS_INTERVAL)?;
            Ok(())
        },
    },
    Setting {
        key: "rate_limit",
        flag: "rate-limit",
        env: "HOTLINE_RATE_LIMIT",
        value_name: "PER_SECOND",
        default: "200",
        about: "Requests per second per API key, shared by replicas through Redis (0: no limit)",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            let rate: f64 = v
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r >= 0.0 && *r <= 1e6)
                .ok_or("must be a number of requests per second from 0 (no limit) to 1000000")?;
            c.rate_limit = rate;
            Ok(())
        },
    },
    Setting {
        key: "rate_burst",
        flag: "rate-burst",
        env: "HOTLINE_RATE_BURST",
        value_name: "N",
        default: "400",
        about: "Requests an API key may make at once above its rate",
        scope: Scope::Serve,
        secret: false,
        switch: false,
        apply: |c, v| {
            c.rate_burst = v
                .parse()
                .ok()
                .filter(|b| (1..=10_000_000).contains(b))
                .ok_or("must be a whole number from 1 to 10000000")?;
            Ok(())
        },
    },
];

/// Parses a yes/no value: `true` or `false` (also `1`, `0`, `yes`, `no`).
fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("must be true or false".to_owned()),
    }
}

/// Checks a center code: 1 to 16 ASCII letters or digits.
fn check_center(code: &str) -> Result<(), String> {
    let ok =
        !code.is_empty() && code.len() <= 16 && code.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 16 ASCII letters or digits".to_owned())
    }
}

/// Parses `500ms`, `2s`, `1m`, `1h` or `1d`, no shorter than `min`.
///
/// # Errors
/// A malformed span or one under `min`, as a message about the value.
pub fn parse_interval(text: &str, min: Duration) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: u64 = number
        .parse()
        .map_err(|_| "must be a whole number and a unit: 500ms, 1s, 1m, 1h or 1d")?;
    let unit_millis: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err("the unit is one of ms, s, m, h, d".to_owned()),
    };
    let millis = amount
        .checked_mul(unit_millis)
        .ok_or("is too large".to_owned())?;
    let interval = Duration::from_millis(millis);
    if interval < min {
        return Err(format!("must be at least {} ms", min.as_millis()));
    }
    Ok(interval)
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A key of this configuration file.
    File(PathBuf),
    /// An environment variable.
    Env,
    /// A command-line flag.
    Flag,
}

/// A configuration that cannot be used, naming the setting as its source spells it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is malformed or out of range.
    #[error("{}: {message}", name(.setting, .origin))]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration file has a key that is no setting.
    #[error("unknown key {key:?} in {}; known keys: {}", .file.display(), known_keys())]
    UnknownKey {
        /// The file.
        file: PathBuf,
        /// The key.
        key: String,
    },
    /// The configuration file is not valid TOML.
    #[error("{} is not valid TOML: {message}", .file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's report, with line and column.
        message: String,
    },
}

/// Names a setting as its source spells it: `sweep_interval in /etc/hotline.toml`,
/// `HOTLINE_SWEEP_INTERVAL`, `--sweep-interval`.
fn name(key: &str, origin: &Origin) -> String {
    let setting = SETTINGS.iter().find(|s| s.key == key);
    match (origin, setting) {
        (Origin::File(path), _) => format!("{key} in {}", path.display()),
        (Origin::Env, Some(s)) => format!("environment variable {}", s.env),
        (Origin::Flag, Some(s)) => format!("--{}", s.flag),
        (Origin::Default, _) | (_, None) => format!("{key} (default)"),
    }
}

fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The layers of configuration [`load`] merges, highest precedence first.
pub struct Layers<'a> {
    /// Flag values given on the command line, by setting key.
    pub flags: Vec<(&'static str, String)>,
    /// Looks up an environment variable (`std::env::var(..).ok()` in the binary).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The configuration file's path and contents, if one was named.
    pub file: Option<(&'a Path, &'a str)>,
}

impl fmt::Debug for Layers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field(
                "flags",
                &self.flags.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("file", &self.file.map(|(path, _)| path))
            .finish_non_exhaustive()
    }
}

/// Builds the configuration of the settings in `scope` (and, for
/// [`Scope::Serve`], the storage ones): each from its flag, else its environment
/// variable (empty counts as unset), else the file, else the default.
///
/// # Errors
/// The file is not TOML or has a key that is no setting (whatever the scope: a
/// typo must not pass silently), or a value is invalid.
pub fn load(layers: &Layers<'_>, scope: Scope) -> Result<ServerConfig, ConfigError> {
    let file = match layers.file {
        Some((path, text)) => Some((path, parse_file(path, text)?)),
        None => None,
    };
    let mut config = ServerConfig::default();
    for setting in SETTINGS {
        if scope == Scope::Storage && setting.scope == Scope::Serve {
            continue;
        }
        let flag = layers
            .flags
            .iter()
            .find(|(key, _)| *key == setting.key)
            .map(|(_, value)| (FileValue::Text(value.clone()), Origin::Flag));
        let env = || {
            (layers.env)(setting.env)
                .filter(|v| !v.is_empty())
                .map(|v| (FileValue::Text(v), Origin::Env))
        };
        let from_file = || {
            let (path, values) = file.as_ref()?;
            values
                .iter()
                .find(|(key, _)| key == setting.key)
                .map(|(_, value)| (value.clone(), Origin::File(path.to_path_buf())))
        };
        let Some((value, origin)) = flag.or_else(env).or_else(from_file) else {
            continue;
        };
        let value = match value {
            FileValue::Text(text) => text,
            FileValue::NotScalar => {
                return Err(invalid(
                    setting,
                    origin,
                    "must be a string, number or boolean",
                ));
            }
        };
        (setting.apply)(&mut config, &value)
            .map_err(|message| invalid(setting, origin, message))?;
    }
    Ok(config)
}

/// A value as [`Setting::apply`] takes it: flags and environment variables are
/// text, the file may hold typed scalars.
#[derive(Debug, Clone)]
enum FileValue {
    /// A scalar, as text (`0.9`, `"1s"`, `true`).
    Text(String),
    /// An array or table: no setting takes one.
    NotScalar,
}

fn invalid(setting: &Setting, origin: Origin, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.key,
        origin,
        message: message.into(),
    }
}

/// Parses the file into (key, value) pairs, refusing unknown keys.
fn parse_file(path: &Path, text: &str) -> Result<Vec<(String, FileValue)>, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut values = Vec::with_capacity(table.len());
    for (key, value) in table {
        if !SETTINGS.iter().any(|s| s.key == key) {
            return Err(ConfigError::UnknownKey {
                file: path.to_path_buf(),
                key,
            });
        }
        let value = match value {
            toml::Value::String(s) => FileValue::Text(s),
            toml::Value::Integer(i) => FileValue::Text(i.to_string()),
            toml::Value::Float(x) => FileValue::Text(x.to_string()),
            toml::Value::Boolean(b) => FileValue::Text(b.to_string()),
            toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => {
                FileValue::NotScalar
            }
        };
        values.push((key, value));
    }
    Ok(values)
}

impl ServerConfig {
    /// Returns the bootstrap admin key file.
    pub fn admin_key_path(&self) -> PathBuf {
        self.data_dir.join(ADMIN_KEY_FILE)
    }

    /// Returns whether the gRPC port speaks TLS (a certificate and its key are set).
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Refuses plaintext gRPC on `addr` unless it is a loopback address or
    /// `allow_plaintext` is set: API keys and citizens' data must not cross a
    /// network unencrypted by accident.
    ///
    /// # Errors
    /// The refusal, saying how to serve TLS or allow plaintext.
    pub fn check_transport(&self, addr: SocketAddr) -> anyhow::Result<()> {
        if self.tls_enabled() || self.allow_plaintext || addr.ip().is_loopback() {
            return Ok(());
        }
        bail!(
            "refusing plaintext gRPC on {addr}, which is not a loopback address: API keys and \
             citizens' data would cross the network unencrypted. Serve TLS with tls_cert and \
             tls_key (--tls-cert FILE --tls-key FILE), or set allow_plaintext \
             (--allow-plaintext, HOTLINE_ALLOW_PLAINTEXT=true) when a service mesh or ingress \
             in front terminates TLS"
        )
    }

    /// Resolves `database_url` (or its absence) to a backend.
    ///
    /// # Errors
    /// An empty SQLite path, a PostgreSQL URL without a host, or an unknown scheme.
    pub fn database(&self) -> anyhow::Result<Database> {
        let Some(url) = self.database_url.as_deref() else {
            return Ok(Database::Sqlite(self.data_dir.join(DATABASE_FILE)));
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("sqlite:// needs a file path, e.g. sqlite:///var/lib/hotline/hotline.db");
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        match url.split_once("://") {
            Some(("postgres" | "postgresql", rest)) => {
                if rest.is_empty() || rest.starts_with('/') {
                    bail!(
                        "database url postgres:// needs a host, e.g. postgres://hotline@db.internal/hotline"
                    );
                }
                Ok(Database::Postgres(url.to_owned()))
            }
            Some((scheme, _)) => {
                bail!(
                    "unsupported database url scheme {scheme:?}; use sqlite://PATH or postgres://HOST/DB"
                )
            }
            None => bail!("database url must look like sqlite://PATH or postgres://HOST/DB"),
        }
    }

    /// Returns where the intake classifier is loaded from.
    pub fn classifier_source(&self) -> ClassifierSource {
        ClassifierSource {
            model: self.model.clone(),
            keyword_rules: self.keyword_rules.clone(),
        }
    }

    /// Checks the settings together (the loader checks each value as it reads
    /// it, not how they combine) and a configuration built in code, and
    /// returns the parsed time zone. Reads no file: the TLS files are read
    /// when the server opens.
    ///
    /// # Errors
    /// The first invalid setting, named by its file key.
    pub fn validate(&self) -> anyhow::Result<TimeZone> {
        check_center(&self.center).map_err(|e| anyhow::anyhow!("center {e}"))?;
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                bail!("tls_cert is set without tls_key: TLS needs the certificate and its key")
            }
            (None, Some(_)) => {
                bail!("tls_key is set without tls_cert: TLS needs the certificate and its key")
            }
            _ => {}
        }
        if self.client_ca.is_some() && !self.tls_enabled() {
            bail!(
                "client_ca needs tls_cert and tls_key: client certificates are only asked for over TLS"
            );
        }
        self.check_transport(self.listen)?;
        if !(0.0..=1.0).contains(&self.auto_dispatch_threshold) {
            bail!("auto_dispatch_threshold must be a number from 0 to 1");
        }
        if self.sweep_interval < MIN_SWEEP_INTERVAL {
            bail!(
                "sweep_interval must be at least {} ms",
                MIN_SWEEP_INTERVAL.as_millis()
            );
        }
        if self.metrics_interval < MIN_METRICS_INTERVAL {
            bail!(
                "metrics_interval must be at least {} s",
                MIN_METRICS_INTERVAL.as_secs()
            );
        }
        self.database().context("database_url")?;
        if let Some(url) = &self.redis_url {
            // The error names the setting and never the URL, which may hold a password.
            hotline_redis::check_url(url).map_err(|_| {
                anyhow::anyhow!("redis_url must be a Redis URL, e.g. redis://redis.internal:6379/0")
            })?;
        }
        TimeZone::get(&self.time_zone)
            .with_context(|| format!("time_zone {:?} is not a known IANA zone", self.time_zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn load_with(
        flags: &[(&'static str, &str)],
        env: &[(&str, &str)],
        file: Option<&str>,
    ) -> Result<ServerConfig, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let layers = Layers {
            flags: flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            env: &lookup,
            file: file.map(|text| (Path::new("/etc/hotline.toml"), text)),
        };
        load(&layers, Scope::Serve)
    }

    fn message(result: Result<ServerConfig, ConfigError>) -> String {
        match result {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn defaults_are_the_embedded_deployment() {
        let config = ServerConfig::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(
            config.database().expect("sqlite"),
            Database::Sqlite(PathBuf::from("./hotline.db"))
        );
        assert_eq!(
            config.admin_key_path(),
            PathBuf::from("./hotline-admin.key")
        );
        assert!(config.validate().is_ok());
        let layers = Layers {
            flags: Vec::new(),
            env: &no_env,
            file: None,
        };
        assert_eq!(load(&layers, Scope::Serve).expect("defaults"), config);
    }

    #[test]
    fn documented_defaults_are_the_real_defaults() {
        for setting in SETTINGS {
            let mut config = ServerConfig::default();
            (setting.apply)(&mut config, setting.default)
                .unwrap_or_else(|e| panic!("default of {}: {e}", setting.key));
            assert_eq!(
                config,
                ServerConfig::default(),
                "default of {}",
                setting.key
            );
            assert_eq!(
                setting.flag,
                setting.key.replace('_', "-"),
                "{}",
                setting.key
            );
        }
    }

    #[test]
    fn flags_beat_environment_beat_file_beat_defaults() {
        let file = "center = \"FILE\"\ntime_zone = \"Europe/Paris\"\nsweep_interval = \"2s\"\n\
                    auto_dispatch_threshold = 0.5\n";
        let env = [
            ("HOTLINE_CENTER", "ENV"),
            ("HOTLINE_TIME_ZONE", "Asia/Tokyo"),
        ];
        let config = load_with(&[("center", "FLAG")], &env, Some(file)).expect("valid");
        assert_eq!(config.center, "FLAG", "flag over env and file");
        assert_eq!(config.time_zone, "Asia/Tokyo", "env over file");
        assert_eq!(
            config.sweep_interval,
            Duration::from_secs(2),
            "file over default"
        );
        assert!((config.auto_dispatch_threshold - 0.5).abs() < f64::EPSILON);
        assert_eq!(config.listen, ServerConfig::default().listen, "default");
    }

    #[test]
    fn empty_environment_variables_count_as_unset() {
        let config =
            load_with(&[], &[("HOTLINE_CENTER", "")], Some("center = \"SZ\"")).expect("ok");
        assert_eq!(config.center, "SZ");
    }

    #[test]
    fn bad_values_name_the_setting_and_its_source() {
        let from_file = message(load_with(&[], &[], Some("sweep_interval = \"1ms\"")));
        assert_eq!(
            from_file,
            "sweep_interval in /etc/hotline.toml: must be at least 10 ms"
        );
        let from_env = message(load_with(&[], &[("HOTLINE_LISTEN", "localhost")], None));
        assert!(
            from_env.starts_with("environment variable HOTLINE_LISTEN: must be HOST:PORT"),
            "{from_env}"
        );
        let from_flag = message(load_with(&[("auto_dispatch_threshold", "1.5")], &[], None));
        assert_eq!(
            from_flag,
            "--auto-dispatch-threshold: must be a number from 0 to 1"
        );
        let zone = message(load_with(&[("time_zone", "Mars/Base")], &[], None));
        assert_eq!(zone, "--time-zone: is not a known IANA time zone");
        let center = message(load_with(&[], &[], Some("center = \"H-L\"")));
        assert!(
            center.starts_with("center in /etc/hotline.toml"),
            "{center}"
        );
        let level = message(load_with(&[], &[("RUST_LOG", "info,[")], None));
        assert!(
            level.starts_with("environment variable RUST_LOG: is not a log filter"),
            "{level}"
        );
        let format = message(load_with(&[("log_format", "xml")], &[], None));
        assert_eq!(format, "--log-format: must be text or json");
        let table = message(load_with(&[], &[], Some("listen = [1, 2]")));
        assert_eq!(
            table,
            "listen in /etc/hotline.toml: must be a string, number or boolean"
        );
    }

    #[test]
    fn a_bad_value_in_a_lower_layer_is_ignored_when_a_higher_one_sets_it() {
        let config = load_with(
            &[("sweep_interval", "5s")],
            &[],
            Some("sweep_interval = \"never\""),
        )
        .expect("the flag wins");
        assert_eq!(config.sweep_interval, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_refused() {
        let unknown = message(load_with(
            &[],
            &[],
            Some("listen = \"0.0.0.0:1\"\nsweep_intervall = \"1s\""),
        ));
        assert!(
            unknown.starts_with(
                "unknown key \"sweep_intervall\" in /etc/hotline.toml; known keys: listen,"
            ),
            "{unknown}"
        );
        let syntax = message(load_with(&[], &[], Some("listen = ")));
        assert!(
            syntax.starts_with("/etc/hotline.toml is not valid TOML"),
            "{syntax}"
        );
    }

    #[test]
    fn storage_scope_reads_only_storage_settings_but_checks_every_key() {
        let layers = Layers {
            flags: vec![("listen", "nonsense".to_owned())],
            env: &no_env,
            file: Some((
                Path::new("h.toml"),
                "data_dir = \"/srv\"\nlisten = \"0.0.0.0:1\"",
            )),
        };
        let config = load(&layers, Scope::Storage).expect("listen is not read by migrate");
        assert_eq!(config.data_dir, PathBuf::from("/srv"));
        let typo = Layers {
            file: Some((Path::new("h.toml"), "data_directory = \"/srv\"")),
            ..layers
        };
        assert!(matches!(
            load(&typo, Scope::Storage),
            Err(ConfigError::UnknownKey { .. })
        ));
    }

    #[test]
    fn secrets_are_never_echoed() {
        let error = message(load_with(
            &[("database_url", "mysql://u:pw-s3cr3t@h/db")],
            &[],
            None,
        ));
        assert!(error.starts_with("--database-url: unsupported"), "{error}");
        assert!(!error.contains("pw-s3cr3t"), "{error}");
        let config = ServerConfig {
            database_url: Some("postgres://u:pw-s3cr3t@h/db".to_owned()),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("pw-s3cr3t"), "{shown}");
        assert!(shown.contains("postgres://[redacted]"));
        let error = message(load_with(
            &[],
            &[("HOTLINE_REDIS_URL", "http://u:pw-s3cr3t@cache")],
            None,
        ));
        assert!(
            error.starts_with("environment variable HOTLINE_REDIS_URL: must be a Redis URL"),
            "{error}"
        );
        assert!(!error.contains("pw-s3cr3t"), "{error}");
        let config = load_with(
            &[("redis_url", "redis://:pw-s3cr3t@cache:6379/0")],
            &[],
            None,
        )
        .expect("a redis url");
        assert_eq!(
            config.redis_url.as_deref(),
            Some("redis://:pw-s3cr3t@cache:6379/0")
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("pw-s3cr3t"), "{shown}");
        assert!(shown.contains("redis://[redacted]"), "{shown}");
        let built = ServerConfig {
            redis_url: Some("memcached://u:pw-s3cr3t@cache".to_owned()),
            ..ServerConfig::default()
        };
        let error = built.validate().expect_err("not redis").to_string();
        assert!(error.starts_with("redis_url"), "{error}");
        assert!(!error.contains("pw-s3cr3t"), "{error}");
    }

    #[test]
    fn database_urls_resolve_by_scheme() {
        let with = |url: &str| ServerConfig {
            database_url: Some(url.to_owned()),
            ..ServerConfig::default()
        };
        assert_eq!(
            with("sqlite:///tmp/x.db").database().expect("sqlite"),
            Database::Sqlite(PathBuf::from("/tmp/x.db"))
        );
        let postgres = with("postgres://u:secret@h/db")
            .database()
            .expect("postgres");
        assert_eq!(
            postgres,
            Database::Postgres("postgres://u:secret@h/db".to_owned())
        );
        let shown = format!("{postgres:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(matches!(
            with("postgresql://h/db").database(),
            Ok(Database::Postgres(_))
        ));
        let no_host = with("postgres://").database().expect_err("no host");
        assert!(no_host.to_string().contains("needs a host"), "{no_host}");
        assert!(with("mysql://h").database().is_err());
        assert!(with("sqlite://").database().is_err());
    }

    #[test]
    fn intervals_take_milliseconds_and_larger_units() {
        let min = Duration::from_millis(10);
        assert_eq!(parse_interval("50ms", min), Ok(Duration::from_millis(50)));
        assert_eq!(parse_interval("2s", min), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1m", min), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("1d", min), Ok(Duration::from_secs(86_400)));
        for bad in ["", "ms", "fast", "-1s", "1.5s", "5ms", "1w"] {
            assert!(parse_interval(bad, min).is_err(), "{bad}");
        }
    }

    #[test]
    fn configurations_built_in_code_are_validated() {
        let bad_zone = ServerConfig {
            time_zone: "Mars/Base".to_owned(),
            ..ServerConfig::default()
        };
        assert!(bad_zone.validate().is_err());
        let busy_sweeper = ServerConfig {
            sweep_interval: Duration::from_millis(1),
            ..ServerConfig::default()
        };
        let error = busy_sweeper.validate().expect_err("too busy").to_string();
        assert!(error.starts_with("sweep_interval"), "{error}");
    }

    #[test]
    fn tls_needs_a_certificate_and_its_key_and_client_cas_need_tls() {
        let cert_only = ServerConfig {
            tls_cert: Some(PathBuf::from("/etc/hotline/tls.crt")),
            ..ServerConfig::default()
        };
        let error = cert_only.validate().expect_err("no key").to_string();
        assert!(
            error.starts_with("tls_cert is set without tls_key"),
            "{error}"
        );
        let key_only = ServerConfig {
            tls_key: Some(PathBuf::from("/etc/hotline/tls.key")),
            ..ServerConfig::default()
        };
        let error = key_only.validate().expect_err("no cert").to_string();
        assert!(
            error.starts_with("tls_key is set without tls_cert"),
            "{error}"
        );
        let ca_only = ServerConfig {
            client_ca: Some(PathBuf::from("/etc/hotline/ca.pem")),
            ..ServerConfig::default()
        };
        let error = ca_only.validate().expect_err("no tls").to_string();
        assert!(
            error.starts_with("client_ca needs tls_cert and tls_key"),
            "{error}"
        );
        let mutual = ServerConfig {
            client_ca: Some(PathBuf::from("/etc/hotline/ca.pem")),
            ..key_only
        };
        assert!(mutual.validate().is_err(), "still no certificate");
    }

    #[test]
    fn plaintext_is_refused_off_loopback_unless_allowed_or_tls() {
        let every_interface = load_with(&[("listen", "0.0.0.0:50051")], &[], None)
            .expect("each value is valid alone");
        let error = every_interface
            .validate()
            .expect_err("plaintext on every interface")
            .to_string();
        assert!(
            error.starts_with("refusing plaintext gRPC on 0.0.0.0:50051"),
            "{error}"
        );
        assert!(
            error.contains("--tls-cert"),
            "says how to serve TLS: {error}"
        );
        assert!(
            error.contains("--allow-plaintext"),
            "says how to allow it: {error}"
        );
        assert!(error.contains("HOTLINE_ALLOW_PLAINTEXT"), "{error}");

        let allowed = load_with(
            &[("listen", "0.0.0.0:50051")],
            &[("HOTLINE_ALLOW_PLAINTEXT", "true")],
            None,
        )
        .expect("valid");
        assert!(allowed.allow_plaintext);
        assert!(allowed.validate().is_ok());
        let from_file = load_with(
            &[],
            &[],
            Some("listen = \"10.0.0.5:50051\"\nallow_plaintext = true"),
        )
        .expect("a toml boolean");
        assert!(from_file.validate().is_ok());
        let tls = ServerConfig {
            tls_cert: Some(PathBuf::from("tls.crt")),
            tls_key: Some(PathBuf::from("tls.key")),
            ..every_interface.clone()
        };
        assert!(tls.validate().is_ok(), "TLS may listen anywhere");
        for loopback in ["127.0.0.1:1", "[::1]:50051"] {
            let config = load_with(&[("listen", loopback)], &[], None).expect("valid");
            assert!(config.validate().is_ok(), "{loopback}");
        }
        let bad = message(load_with(&[("allow_plaintext", "sure")], &[], None));
        assert_eq!(bad, "--allow-plaintext: must be true or false");
    }
}
