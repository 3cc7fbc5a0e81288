//! Test databases: each case gets its own schema in the database at `TEST_DATABASE_URL`,
//! created empty and dropped with everything in it when the guard goes, so cases run in
//! parallel without seeing each other's rows.

use hotline_store_postgres::{PgConnectOptions, parse_url};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The environment variable naming the test server's database.
pub const URL_ENV: &str = "TEST_DATABASE_URL";

/// A fresh schema; dropping it drops the schema.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    /// The schema's name: `hotline_test_` and a fresh UUID (only `[a-z0-9_]`).
    pub name: String,
}

impl TestSchema {
    /// Creates an empty schema in the database at `TEST_DATABASE_URL`.
    pub async fn create() -> Result<TestSchema, sqlx::Error> {
        let url = std::env::var(URL_ENV)
            .map_err(|_| sqlx::Error::Configuration(format!("{URL_ENV} is not set").into()))?;
        let name = format!("hotline_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&url).await?;
        conn.execute(AssertSqlSafe(format!("create schema {name}")))
            .await?;
        conn.close().await?;
        Ok(TestSchema { url, name })
    }

    /// Connection options whose connections use only this schema.
    pub fn options(&self) -> PgConnectOptions {
        match parse_url(&self.url) {
            Ok(options) => options.options([("search_path", self.name.as_str())]),
            Err(error) => panic!("{URL_ENV}: {error}"),
        }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside the test's runtime: clean up on a thread
        // with a runtime of its own.
        let url = self.url.clone();
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await?;
                conn.execute(AssertSqlSafe(format!("drop schema {name} cascade")))
                    .await?;
                conn.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test schema {}: {error}", self.name),
            Err(_) => eprintln!("dropping test schema {} panicked", self.name),
        }
    }
}
