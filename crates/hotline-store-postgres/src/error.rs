//! Translation of sqlx and PostgreSQL failures into [`StoreError`], through named SQLSTATE
//! codes (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).

use hotline_store::StoreError;

/// The SQLSTATE codes and classes the store acts on.
mod sqlstate {
    /// Class 08, connection exception: the server went away mid-call.
    pub const CONNECTION_EXCEPTION_CLASS: &str = "08";
    /// Class 53, insufficient resources: disk full, out of memory, too many connections.
    pub const INSUFFICIENT_RESOURCES_CLASS: &str = "53";
    /// The server is shutting down (`pg_ctl stop`, failover).
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    /// The server crashed and is restarting.
    pub const CRASH_SHUTDOWN: &str = "57P02";
    /// The server is starting up or in recovery.
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    /// A statement ran on a read-only server (a standby, or `default_transaction_read_only`).
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    /// A lock could not be taken (`lock_timeout`).
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    /// The server cancelled the statement (`statement_timeout`).
    pub const QUERY_CANCELED: &str = "57014";
    /// Two transactions waited on each other; the server aborted one.
    pub const DEADLOCK_DETECTED: &str = "40P01";
    /// A serializable transaction could not be ordered.
    pub const SERIALIZATION_FAILURE: &str = "40001";
}

/// Returns whether a SQLSTATE means "try again later" rather than a bug.
fn transient(code: &str) -> bool {
    code.starts_with(sqlstate::CONNECTION_EXCEPTION_CLASS)
        || code.starts_with(sqlstate::INSUFFICIENT_RESOURCES_CLASS)
        || [
            sqlstate::ADMIN_SHUTDOWN,
            sqlstate::CRASH_SHUTDOWN,
            sqlstate::CANNOT_CONNECT_NOW,
            sqlstate::READ_ONLY_SQL_TRANSACTION,
            sqlstate::LOCK_NOT_AVAILABLE,
            sqlstate::QUERY_CANCELED,
            sqlstate::DEADLOCK_DETECTED,
            sqlstate::SERIALIZATION_FAILURE,
        ]
        .contains(&code)
}

/// Returns whether an error is a unique or primary-key violation.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Maps a sqlx error to a store error; `context` says what the store was doing.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| map(context, error)
}

pub(crate) fn map(context: &'static str, error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if transient(&code) => {
                StoreError::Unavailable(format!("{context}: {error}"))
            }
            _ => internal(context, error),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("{context}: {error}")),
        _ => internal(context, error),
    }
}

fn internal(context: &'static str, error: sqlx::Error) -> StoreError {
    StoreError::Internal(anyhow::Error::new(error).context(context))
}

/// Maps a failure to run the embedded migrations.
pub(crate) fn migrate(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(inner)
        | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => {
            map("running migrations", inner)
        }
        other => StoreError::Internal(anyhow::Error::new(other).context("running migrations")),
    }
}

/// Reports stored data that does not decode: a bug or corrupt data.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(anyhow::anyhow!("corrupt stored data: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_exhaustion_and_closed_pools_are_unavailable() {
        assert!(matches!(
            map("x", sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map("x", sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map("x", sqlx::Error::RowNotFound),
            StoreError::Internal(_)
        ));
    }

    #[test]
    fn connection_and_shutdown_codes_are_transient_constraint_codes_are_not() {
        for code in [
            "08006", "08001", "53100", "53300", "57P01", "57P03", "25006",
        ] {
            assert!(transient(code), "{code}");
        }
        // unique_violation, foreign_key_violation, undefined_table, syntax_error
        for code in ["23505", "23503", "42P01", "42601"] {
            assert!(!transient(code), "{code}");
        }
    }
}
