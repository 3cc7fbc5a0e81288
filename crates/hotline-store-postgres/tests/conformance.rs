//! The shared Store conformance suite, run against PostgreSQL with a fresh schema per case.
//! Needs `TEST_DATABASE_URL` (see `.ci/services.sh`); skipped without it unless
//! `HOTLINE_REQUIRE_SERVERS=1`.

mod common;

use common::TestSchema;
use hotline_store_postgres::PgStore;

hotline_store::conformance_suite!(
    postgres,
    fresh = TestSchema::create(),
    open = async |schema: &TestSchema| PgStore::connect_with(schema.options()).await,
    skip_unless_env = "TEST_DATABASE_URL",
);
