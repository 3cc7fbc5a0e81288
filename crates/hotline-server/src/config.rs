//! The server's configuration: one typed struct with the defaults of an
//! embedded, single-process deployment. Loading it from files and environment
//! is the CLI's job; this module only resolves and validates it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::classifier::ClassifierSource;
use jiff::tz::TimeZone;

/// Name of the SQLite file inside `data_dir`.
pub const DATABASE_FILE: &str = "hotline.db";
/// Name of the bootstrap admin key file inside `data_dir`.
pub const ADMIN_KEY_FILE: &str = "hotline-admin.key";

/// How the server is set up.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on; the CLI binds it (the library serves a bound listener).
    pub listen: SocketAddr,
    /// Directory of the SQLite file and the admin key file.
    pub data_dir: PathBuf,
    /// `None` for the SQLite file in `data_dir`; `sqlite://PATH` for another SQLite file;
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` for PostgreSQL (production: several
    /// replicas may share it).
    pub database_url: Option<String>,
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
}

/// Shortest sweep interval accepted: the sweeper's queries are cheap, but not free.
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(10);

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 50051)),
            data_dir: PathBuf::from("."),
            database_url: None,
            center: "HL".to_owned(),
            time_zone: "Asia/Shanghai".to_owned(),
            auto_dispatch_threshold: 0.8,
            sweep_interval: Duration::from_secs(1),
            model: None,
            keyword_rules: None,
        }
    }
}

/// Shows the database URL's scheme only: a URL may carry a password.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let database = self
            .database_url
            .as_deref()
            .map(|url| match url.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://[redacted]"),
                None => "[redacted]".to_owned(),
            });
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &database)
            .field("center", &self.center)
            .field("time_zone", &self.time_zone)
            .field("auto_dispatch_threshold", &self.auto_dispatch_threshold)
            .field("sweep_interval", &self.sweep_interval)
            .field("model", &self.model)
            .field("keyword_rules", &self.keyword_rules)
            .finish()
    }
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

impl ServerConfig {
    /// Returns the bootstrap admin key file.
    pub fn admin_key_path(&self) -> PathBuf {
        self.data_dir.join(ADMIN_KEY_FILE)
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
                bail!(
                    "database url sqlite:// needs a file path, e.g. sqlite:///var/lib/hotline/hotline.db"
                );
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

    /// Checks the settings and returns the parsed time zone.
    ///
    /// # Errors
    /// A malformed center code, an unknown time zone, a threshold outside 0..=1 or
    /// a sweep interval under [`MIN_SWEEP_INTERVAL`].
    pub(crate) fn validate(&self) -> anyhow::Result<TimeZone> {
        let center_ok = !self.center.is_empty()
            && self.center.len() <= 16
            && self.center.bytes().all(|b| b.is_ascii_alphanumeric());
        if !center_ok {
            bail!(
                "center code must be 1 to 16 ASCII letters or digits, got {:?}",
                self.center
            );
        }
        if !(0.0..=1.0).contains(&self.auto_dispatch_threshold) {
            bail!("auto-dispatch threshold must be between 0 and 1");
        }
        if self.sweep_interval < MIN_SWEEP_INTERVAL {
            bail!(
                "sweep interval must be at least {} ms",
                MIN_SWEEP_INTERVAL.as_millis()
            );
        }
        self.database()?;
        TimeZone::get(&self.time_zone)
            .with_context(|| format!("unknown time zone {:?}", self.time_zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn debug_hides_database_credentials() {
        let config = ServerConfig {
            database_url: Some("postgres://u:secret@h/db".to_owned()),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("postgres://[redacted]"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad_zone = ServerConfig {
            time_zone: "Mars/Base".to_owned(),
            ..ServerConfig::default()
        };
        assert!(bad_zone.validate().is_err());
        let bad_center = ServerConfig {
            center: "H-L".to_owned(),
            ..ServerConfig::default()
        };
        assert!(bad_center.validate().is_err());
        let bad_threshold = ServerConfig {
            auto_dispatch_threshold: 1.5,
            ..ServerConfig::default()
        };
        assert!(bad_threshold.validate().is_err());
        let busy_sweeper = ServerConfig {
            sweep_interval: Duration::from_millis(1),
            ..ServerConfig::default()
        };
        assert!(busy_sweeper.validate().is_err());
    }
}
