//! SQLite-specific behaviour the shared conformance suite does not cover: file setup,
//! migrations, refused idempotency keys, corrupt rows and extreme instants.

use std::path::Path;

use hotline_core::{DeadlinePolicy, DomainError, PolicyEntry, Window};
use hotline_store::conformance::{self, World, appeal, create_request, operator, t0};
use hotline_store::{DeadlineQuery, PageRequest, Store, StoreError, TicketFilter};
use hotline_store_sqlite::{SqliteStore, migrate};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

async fn raw(path: &Path) -> SqliteConnection {
    let url = format!("sqlite://{}", path.display());
    SqliteConnection::connect(&url)
        .await
        .expect("raw connection")
}

#[tokio::test]
async fn open_creates_a_wal_file_with_the_schema_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("pragma journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations order by version")
            .fetch_all(&mut conn)
            .await
            .expect("migrations table");
    assert_eq!(applied, [1]);
    conn.close().await.expect("close raw");
    store.close().await;
}

#[tokio::test]
async fn migrate_is_repeatable_and_open_accepts_a_migrated_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    migrate(&path).await.expect("first migrate");
    migrate(&path).await.expect("second migrate is a no-op");
    let store = SqliteStore::open(&path).await.expect("open");
    assert!(store.list_departments().await.expect("list").is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_missing_directory_is_unavailable_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no-such-dir").join("hotline.db");
    let opened = SqliteStore::open(&path).await;
    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{opened:?}"
    );
}

#[tokio::test]
async fn blank_or_oversized_request_ids_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hotline.db"))
        .await
        .expect("open");
    let world = World::new();
    let actor = operator();
    for bad in ["", "   ", &"x".repeat(129), "a\u{0}b"] {
        let request = create_request(appeal("路灯不亮"), t0(), Some(bad));
        let refused = store.create_ticket(request, &world.ctx(&actor, t0())).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Rejected(DomainError::InvalidField {
                    field: "request_id",
                    ..
                }))
            ),
            "{bad:?}: {refused:?}"
        );
    }
    store.close().await;
}

#[tokio::test]
async fn page_tokens_are_bound_to_their_listing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hotline.db"))
        .await
        .expect("open");
    let world = World::new();
    let actor = operator();
    for _ in 0..2 {
        let request = create_request(appeal("路灯不亮"), t0(), None);
        store
            .create_ticket(request, &world.ctx(&actor, t0()))
            .await
            .expect("create");
    }
    let page = store
        .list_tickets(
            &TicketFilter::default(),
            &PageRequest {
                size: 1,
                token: None,
            },
        )
        .await
        .expect("list");
    let foreign = PageRequest {
        size: 1,
        token: page.next_token,
    };
    assert!(foreign.token.is_some());
    let refused = store
        .list_deadlines(&DeadlineQuery::default(), &foreign)
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Rejected(DomainError::InvalidField {
                field: "page_token",
                ..
            }))
        ),
        "{refused:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn a_corrupt_projection_is_an_internal_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let world = World::new();
    let actor = operator();
    let request = create_request(appeal("路灯不亮"), t0(), None);
    let id = request.id;
    store
        .create_ticket(request, &world.ctx(&actor, t0()))
        .await
        .expect("create");
    let mut conn = raw(&path).await;
    sqlx::query("update tickets set projection = '{not json'")
        .execute(&mut conn)
        .await
        .expect("corrupt the row");
    conn.close().await.expect("close raw");
    let read = store.get_ticket(id).await;
    assert!(matches!(read, Err(StoreError::Internal(_))), "{read:?}");
    let command = conformance::dispatch(conformance::ENV_BUREAU, &[]);
    let applied = store
        .apply(id, None, command, &world.ctx(&actor, t0()))
        .await;
    assert!(
        matches!(applied, Err(StoreError::Internal(_))),
        "{applied:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn deadlines_at_the_end_of_time_are_stored_and_listed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hotline.db"))
        .await
        .expect("open");
    // A window of u32::MAX minutes (about 8,000 years) saturates at the calendar's end.
    let forever = Window::Calendar { minutes: u32::MAX };
    let policy = DeadlinePolicy {
        entries: vec![PolicyEntry {
            appeal_type: None,
            priority: None,
            category_prefix: None,
            sign_within: forever,
            reply_within: forever,
        }],
        ..DeadlinePolicy::default()
    };
    let world = World::with_policy(policy);
    let actor = operator();
    let request = create_request(appeal("路灯不亮"), t0(), None);
    let id = request.id;
    store
        .create_ticket(request, &world.ctx(&actor, t0()))
        .await
        .expect("create");
    let command = conformance::dispatch(conformance::ENV_BUREAU, &[]);
    let applied = store
        .apply(id, None, command, &world.ctx(&actor, t0()))
        .await
        .expect("dispatch");
    let due = applied.ticket.sign_due.expect("sign due");
    let listed = store
        .list_deadlines(&DeadlineQuery::default(), &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|i| (i.ticket.id, i.due))
            .collect::<Vec<_>>(),
        [(id, due)]
    );
    let overdue = DeadlineQuery {
        due_before: Some(t0()),
        ..DeadlineQuery::default()
    };
    let listed = store
        .list_deadlines(&overdue, &PageRequest::default())
        .await
        .expect("list");
    assert!(listed.items.is_empty());
    store.close().await;
}
