//! The shared Store conformance suite, run against SQLite on a fresh temp file per case.

use hotline_store_sqlite::SqliteStore;

hotline_store::conformance_suite!(
    sqlite,
    fresh = async { tempfile::tempdir() },
    open = async |dir: &tempfile::TempDir| SqliteStore::open(&dir.path().join("hotline.db")).await,
);
