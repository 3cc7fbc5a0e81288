//! `hotline seed` on both backends: a seeded history passes `hotline audit
//! verify --deep`, holds the tickets asked for with the requested share still
//! open, and answers the supervision queries (overdue and due-soon listings,
//! duplicate candidates) with real rows, read back through the store API.
//!
//! The PostgreSQL case needs `TEST_DATABASE_URL` (see `.ci/services.sh`) and runs
//! in a database of its own; it is skipped without it unless
//! `HOTLINE_REQUIRE_SERVERS=1`.

mod support;

use std::process::{Command, Output};

use hotline_core::TicketStatus;
use hotline_core::similar::Signature;
use hotline_store::{DeadlineQuery, PageRequest, Store, TicketFilter};
use jiff::Timestamp;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};

use support::HOTLINE;

/// Tickets each test seeds.
const TICKETS: u64 = 2000;

/// Runs `hotline` with none of the host's `HOTLINE_*` settings.
fn hotline(args: &[&str]) -> Output {
    let mut command = Command::new(HOTLINE);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOTLINE_") {
            command.env_remove(name);
        }
    }
    command.args(args).output().expect("run hotline")
}

/// Runs `hotline` and parses its one JSON document, asserting success.
fn json(args: &[&str]) -> Value {
    let output = hotline(args);
    assert!(
        output.status.success(),
        "hotline {args:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Seeds through the CLI with `db` (the database flags), then checks the
/// report, the audit and a second seed's refusal.
fn seed_and_audit(db: &[&str]) {
    let tickets = TICKETS.to_string();
    let mut args = vec![
        "seed",
        "--tickets",
        &tickets,
        "--open-fraction",
        "0.1",
        "--batch",
        "700",
    ];
    args.extend_from_slice(db);
    args.push("--json");
    let report = json(&args);
    assert_eq!(report["tickets"], TICKETS, "{report}");
    let by_status = report["by_status"].as_object().expect("by_status");
    let count = |status: &str| by_status.get(status).and_then(Value::as_u64).unwrap_or(0);
    assert_eq!(count("CLOSED"), TICKETS - TICKETS / 10, "{report}");
    let open: u64 = ["PENDING_DISPATCH", "DISPATCHED", "IN_PROGRESS", "REPLIED"]
        .iter()
        .map(|s| count(s))
        .sum();
    assert_eq!(open, TICKETS / 10, "{report}");
    for status in ["PENDING_DISPATCH", "DISPATCHED", "IN_PROGRESS", "REPLIED"] {
        assert!(count(status) > 0, "no {status}: {report}");
    }
    assert!(report["overdue"].as_u64().expect("overdue") > 0, "{report}");
    let events = report["events"].as_u64().expect("events");
    assert!(events > 4 * TICKETS, "{report}");

    let mut audit = vec!["audit", "verify", "--deep", "--json"];
    audit.extend_from_slice(db);
    let verified = json(&audit);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["tickets"], TICKETS, "{verified}");
    assert_eq!(verified["events"], events, "{verified}");

    let mut again = vec!["seed", "--tickets", "10"];
    again.extend_from_slice(db);
    let refused = hotline(&again);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("already holds 2000 tickets"), "{stderr}");
}

/// Reads the seeded history back through the store: counts, overdue and
/// due-soon listings, and a duplicate look-up that finds a seeded ticket.
async fn check_queries(store: &dyn Store) {
    let now = Timestamp::now();
    let counts = store.ticket_counts(now).await.expect("counts");
    let total: u64 = counts.by_status.iter().map(|(_, n)| n).sum();
    assert_eq!(total, TICKETS);
    let open: u64 = counts
        .by_status
        .iter()
        .filter(|(s, _)| s.is_open())
        .map(|(_, n)| n)
        .sum();
    assert_eq!(open, TICKETS / 10);
    assert!(!counts.overdue_by_department.is_empty(), "{counts:?}");

    let page = PageRequest {
        size: 50,
        token: None,
    };
    let overdue = store
        .list_deadlines(
            &DeadlineQuery {
                due_before: Some(now),
                ..DeadlineQuery::default()
            },
            &page,
        )
        .await
        .expect("overdue");
    assert!(!overdue.items.is_empty());
    assert!(overdue.items.iter().all(|item| item.due < now));
    assert!(
        overdue
            .items
            .iter()
            .all(|item| item.ticket.status.is_open())
    );
    let due_soon = store
        .list_deadlines(
            &DeadlineQuery {
                due_after: Some(now),
                ..DeadlineQuery::default()
            },
            &page,
        )
        .await
        .expect("due soon");
    assert!(!due_soon.items.is_empty(), "no deadline still running");

    let departments = store.list_departments().await.expect("departments");
    assert_eq!(
        departments
            .iter()
            .filter(|d| d.id.as_str().starts_with("seed."))
            .count(),
        40
    );

    let closed = store
        .list_tickets(
            &TicketFilter {
                statuses: vec![TicketStatus::Closed],
                ..TicketFilter::default()
            },
            &PageRequest {
                size: 5,
                token: None,
            },
        )
        .await
        .expect("closed tickets");
    let probe = closed.items.first().expect("a closed ticket");
    let signature = Signature::of(&probe.title, &probe.body).expect("a signature");
    let stored = store.signatures(&[probe.id]).await.expect("signatures");
    assert_eq!(
        stored,
        [(probe.id, signature.clone())],
        "the seeded signature is the text's"
    );
    let recent = store
        .recent_tickets(Timestamp::MIN)
        .await
        .expect("recent tickets");
    let kept = recent
        .tickets
        .iter()
        .find(|t| t.ticket_id == probe.id)
        .expect("the probe is among the recent tickets");
    assert_eq!(kept.signature.as_ref(), Some(&signature));
}

#[tokio::test]
async fn a_seeded_sqlite_history_audits_clean_and_answers_supervision_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("utf-8").to_owned();
    seed_and_audit(&["--data-dir", &data_dir]);
    let store =
        hotline_store_sqlite::SqliteStore::open(&dir.path().join(hotline_server::DATABASE_FILE))
            .await
            .expect("open");
    check_queries(&store).await;
    store.close().await;
}

#[tokio::test]
async fn a_seeded_postgres_history_audits_clean_and_answers_supervision_queries() {
    let Some(base) = support::required("TEST_DATABASE_URL") else {
        return;
    };
    let name = format!("hotline_seed_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&base).await.expect("connect");
    admin
        .execute(AssertSqlSafe(format!("create database {name}")))
        .await
        .expect("create database");
    let (server, _) = base.rsplit_once('/').expect("URL ends with /DATABASE");
    let url = format!("{server}/{name}");

    seed_and_audit(&["--database-url", &url]);
    let store = hotline_store_postgres::PgStore::connect(&url)
        .await
        .expect("connect");
    check_queries(&store).await;
    store.close().await;

    admin
        .execute(AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .await
        .expect("drop database");
}
