//! Translation of sqlx and SQLite failures into [`StoreError`], through named result codes.

use hotline_store::StoreError;

/// SQLite primary result codes (<https://www.sqlite.org/rescode.html>). The extended code
/// SQLite reports carries the primary code in its low byte.
mod code {
    /// The database file is locked by another connection.
    pub const SQLITE_BUSY: i32 = 5;
    /// A table is locked (shared-cache or same-connection conflict).
    pub const SQLITE_LOCKED: i32 = 6;
    /// An attempt to write a read-only database.
    pub const SQLITE_READONLY: i32 = 8;
    /// A disk I/O error.
    pub const SQLITE_IOERR: i32 = 10;
    /// The disk is full.
    pub const SQLITE_FULL: i32 = 13;
    /// The database file cannot be opened.
    pub const SQLITE_CANTOPEN: i32 = 14;
}

/// Returns the primary SQLite result code of a database error, if it carries one.
fn primary_code(error: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    let extended: i32 = error.code()?.parse().ok()?;
    Some(extended & 0xff)
}

/// Returns whether an error is a unique or primary-key violation.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Maps a sqlx error to a store error; `context` says what the store was doing.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| map(context, error)
}

fn map(context: &'static str, error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match primary_code(db.as_ref()) {
            Some(
                code::SQLITE_BUSY
                | code::SQLITE_LOCKED
                | code::SQLITE_READONLY
                | code::SQLITE_IOERR
                | code::SQLITE_FULL
                | code::SQLITE_CANTOPEN,
            ) => StoreError::Unavailable(format!("{context}: {error}")),
            _ => internal(context, error),
        },
        sqlx::Error::Io(_)
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

/// Reports stored data that does not decode: a bug or a corrupt file.
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
}
