//! SQLite-specific behaviour the shared conformance suite does not cover: file setup,
//! migrations, refused idempotency keys, corrupt rows and extreme instants.

use std::path::Path;

use hotline_core::similar::Signature;
use hotline_core::{
    AlwaysOpen, DeadlinePolicy, DispatchTarget, DomainError, PolicyEntry, WarningLevel, Window,
    create_ticket,
};
use hotline_store::conformance::{self, World, appeal, create_request, operator, t0};
use hotline_store::{DeadlineQuery, PageRequest, Store, StoreError, TicketFilter};
use hotline_store_sqlite::{SqliteStore, migrate};
use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Connection};

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
    assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7, 8]);
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

/// The first migration alone, as a database written before the sweeper had columns.
const FIRST_MIGRATION: &str = include_str!("../../../migrations/sqlite/0001_init.sql");

#[tokio::test]
async fn upgrading_gives_old_tickets_a_timer_and_their_light() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).expect("dir");
    std::fs::write(old.join("0001_init.sql"), FIRST_MIGRATION).expect("write");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("connect");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("old migrator")
        .run(&mut conn)
        .await
        .expect("old schema");

    // A ticket as the old server wrote it: dispatched, its light already yellow.
    let world = World::new();
    let operator = operator();
    let system = conformance::system();
    let mut new = appeal("路灯不亮");
    new.auto_dispatch = Some(DispatchTarget {
        lead_department_id: conformance::ENV_BUREAU.into(),
        co_department_ids: vec![],
    });
    let id = conformance::new_id();
    let created =
        create_ticket(id, "SZ-20260302-000001", new, &world.ctx(&operator, t0())).expect("created");
    let swept_at = t0() + conformance::hours(20);
    let ticket = created
        .ticket
        .sweep(&world.ctx(&system, swept_at))
        .expect("yellow")
        .ticket;
    assert_eq!(ticket.warning_level, WarningLevel::Warning);
    let nanos = |at: jiff::Timestamp| i64::try_from(at.as_nanosecond()).expect("in range");
    sqlx::query(
        "insert into tickets (id, number, status, version, lead_department_id, region_code, \
         category_path, phone, address, title, body, created_at, updated_at, deadline_kind, \
         deadline_at, projection) values (?, ?, 'DISPATCHED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
         'SIGN', ?, ?)",
    )
    .bind(id.to_string())
    .bind(ticket.number.clone())
    .bind(i64::try_from(ticket.version).expect("small"))
    .bind(conformance::ENV_BUREAU)
    .bind(ticket.region_code.clone())
    .bind(ticket.category.as_ref().map(|c| c.path.clone()))
    .bind(ticket.citizen.phone.clone())
    .bind(ticket.address.clone())
    .bind(ticket.title.clone())
    .bind(ticket.body.clone())
    .bind(nanos(ticket.created_at))
    .bind(nanos(ticket.updated_at))
    .bind(nanos(ticket.sign_due.expect("sign due")))
    .bind(serde_json::to_string(&ticket).expect("json"))
    .execute(&mut conn)
    .await
    .expect("old row");
    conn.close().await.expect("close raw");

    let store = SqliteStore::open(&path).await.expect("open upgrades");
    assert_eq!(
        store
            .due_for_sweep(t0() + conformance::days(365), 10)
            .await
            .expect("due")
            .iter()
            .map(|d| (d.id, d.next_check_at))
            .collect::<Vec<_>>(),
        [(id, swept_at)],
        "due at once: its first sweep computes its real timer"
    );
    let yellow = DeadlineQuery {
        min_level: Some(WarningLevel::Warning),
        ..DeadlineQuery::default()
    };
    let listed = store
        .list_deadlines(&yellow, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        listed.items.len(),
        1,
        "the light was read from the projection"
    );
    let batch = store
        .sweep_due(&world.ctx(&system, swept_at), 10)
        .await
        .expect("sweep");
    assert_eq!((batch.swept, batch.applied.len()), (1, 0));
    assert_eq!(
        store
            .due_for_sweep(t0() + conformance::days(365), 10)
            .await
            .expect("due")
            .iter()
            .map(|d| d.next_check_at)
            .collect::<Vec<_>>(),
        [ticket.sign_due.expect("due") + jiff::SignedDuration::from_nanos(1)]
    );
    store.close().await;
}

#[tokio::test]
async fn an_unreadable_due_row_is_put_off_and_holds_up_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let world = World::new();
    let operator = operator();
    let mut ids = Vec::new();
    for title in ["路灯不亮", "井盖缺失"] {
        let request = create_request(appeal(title), t0(), None);
        ids.push(request.id);
        store
            .create_ticket(request, &world.ctx(&operator, t0()))
            .await
            .expect("create");
        store
            .apply(
                *ids.last().expect("id"),
                None,
                conformance::dispatch(conformance::ENV_BUREAU, &[]),
                &world.ctx(&operator, t0()),
            )
            .await
            .expect("dispatch");
    }
    let mut conn = raw(&path).await;
    sqlx::query("update tickets set projection = '{not json' where id = ?")
        .bind(ids[0].to_string())
        .execute(&mut conn)
        .await
        .expect("corrupt one row");
    conn.close().await.expect("close raw");

    let system = conformance::system();
    let now = t0() + conformance::hours(20);
    let batch = store
        .sweep_due(&world.ctx(&system, now), 10)
        .await
        .expect("the batch goes through");
    assert_eq!(batch.swept, 2);
    assert_eq!(
        batch
            .applied
            .iter()
            .map(|a| a.ticket.id)
            .collect::<Vec<_>>(),
        [ids[1]]
    );
    let due = store
        .due_for_sweep(now + conformance::hours(2), 10)
        .await
        .expect("due");
    assert_eq!(
        due.iter()
            .map(|d| (d.id, d.next_check_at))
            .collect::<Vec<_>>(),
        [(ids[0], now + conformance::hours(1))]
    );
    store.close().await;
}

#[tokio::test]
async fn upgrading_signs_old_tickets_when_the_store_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Tickets written by the current store, to copy into a file at the old schema.
    let source = dir.path().join("source.db");
    let store = SqliteStore::open(&source).await.expect("open source");
    let world = World::new();
    let actor = operator();
    let mut texts = Vec::new();
    for (n, (title, body)) in [
        (
            "小区电梯故障一个月无人维修",
            "金鸡湖花园小区8幢2单元电梯已经坏了一个多月，物业一直说在等配件，老人上下楼非常困难。",
        ),
        (
            "金鸡湖花园8幢电梯坏了一个多月",
            "金鸡湖花园小区8幢2单元的电梯坏了一个多月了，物业总说在等配件，楼上老人上下楼很困难。",
        ),
        (
            "物业费上涨未经业主大会同意",
            "新城花园物业公司把物业费从每平方1.2元涨到1.8元，没有召开业主大会，也没有公示收支。",
        ),
        ("！！！", "？？？"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut new = appeal(title);
        new.body = body.to_owned();
        let at = t0() + conformance::mins(i64::try_from(n).expect("small"));
        let created = store
            .create_ticket(create_request(new, at, None), &world.ctx(&actor, at))
            .await
            .expect("created");
        texts.push(created.ticket);
    }
    store.close().await;

    let path = dir.path().join("hotline.db");
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).expect("dir");
    std::fs::write(old.join("0001_init.sql"), FIRST_MIGRATION).expect("write");
    std::fs::write(old.join("0002_sweeper.sql"), SECOND_MIGRATION).expect("write");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("connect");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("old migrator")
        .run(&mut conn)
        .await
        .expect("old schema");
    sqlx::query("attach database ? as source")
        .bind(source.display().to_string())
        .execute(&mut conn)
        .await
        .expect("attach");
    sqlx::query("insert into main.tickets select * from source.tickets")
        .execute(&mut conn)
        .await
        .expect("old rows");
    conn.close().await.expect("close raw");

    let store = SqliteStore::open(&path).await.expect("open upgrades");
    let ids: Vec<_> = texts.iter().map(|t| t.id).collect();
    let signatures: std::collections::HashMap<_, _> = store
        .signatures(&ids)
        .await
        .expect("signatures")
        .into_iter()
        .collect();
    for ticket in &texts {
        assert_eq!(
            signatures.get(&ticket.id),
            Signature::of(&ticket.title, &ticket.body).as_ref(),
            "the backfilled signature is the signature of the text"
        );
    }
    let recent = store
        .recent_tickets(jiff::Timestamp::MIN)
        .await
        .expect("recent tickets");
    let probe = Signature::of(&texts[1].title, &texts[1].body).expect("letters");
    assert_eq!(recent.tickets[1].signature.as_ref(), Some(&probe));
    store.close().await;

    let mut conn = raw(&path).await;
    let counts: (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from fingerprint_backlog), \
         (select count(*) from ticket_signatures), \
         (select count(*) from ticket_signatures where signature is null)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counts");
    assert_eq!(
        counts,
        (0, 4, 1),
        "every ticket done, the one without letters has no signature"
    );
    conn.close().await.expect("close raw");
}

const SECOND_MIGRATION: &str = include_str!("../../../migrations/sqlite/0002_sweeper.sql");

/// Tickets filed before the statistics rows existed get them when the store opens,
/// their working times marked unknown and so computed afresh when summed.
#[tokio::test]
async fn opening_gives_older_tickets_their_statistics_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let world = World::new();
    let env = conformance::department(conformance::ENV_BUREAU);
    let mut ids = Vec::new();
    for (i, title) in ["路灯不亮", "噪声扰民", "井盖缺失"].into_iter().enumerate() {
        let at = t0() + conformance::hours(i64::try_from(i).expect("small"));
        let created = store
            .create_ticket(
                create_request(appeal(title), at, None),
                &world.ctx(&operator(), at),
            )
            .await
            .expect("create");
        let id = created.ticket.id;
        let dispatch = conformance::dispatch(conformance::ENV_BUREAU, &[]);
        store
            .apply(id, None, dispatch, &world.ctx(&operator(), at))
            .await
            .expect("dispatch");
        if i > 0 {
            let signed_at = at + conformance::days(2);
            store
                .apply(id, None, conformance::sign(), &world.ctx(&env, signed_at))
                .await
                .expect("sign");
        }
        ids.push(id);
    }
    store.close().await;

    // As the migration leaves a database written before the rows existed.
    let mut conn = raw(&path).await;
    for table in ["ticket_stats", "stats_days"] {
        sqlx::query(AssertSqlSafe(format!("delete from {table}")))
            .execute(&mut conn)
            .await
            .expect("clear");
    }
    sqlx::query(
        "insert into stats_backlog (ticket_id) \
         select distinct ticket_id from assignments where role in ('LEAD', 'DELEGATE')",
    )
    .execute(&mut conn)
    .await
    .expect("backlog");
    conn.close().await.expect("close raw");

    let store = SqliteStore::open(&path).await.expect("reopen");
    let mut conn = raw(&path).await;
    let (rows, untimed): (i64, i64) =
        sqlx::query_as("select count(*), count(*) - count(calendar) from ticket_stats")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!((rows, untimed), (3, 3));
    let backlog: i64 = sqlx::query_scalar("select count(*) from stats_backlog")
        .fetch_one(&mut conn)
        .await
        .expect("backlog");
    assert_eq!(backlog, 0);
    conn.close().await.expect("close raw");
    let tickets = store
        .list_tickets(&TicketFilter::default(), &PageRequest::default())
        .await
        .expect("list")
        .items;
    assert_eq!(tickets.len(), ids.len());
    conformance::assert_totals_match_tickets(&store, &tickets).await;
    conformance::assert_projection_matches_events(&store).await;
    store.close().await;
}

/// The migration that adds the day rows fills them from the statistics rows there
/// are: the row check finds them as the writes would have left them.
#[tokio::test]
async fn the_day_rows_migration_sums_the_rows_there_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let world = World::new();
    let env = conformance::department(conformance::ENV_BUREAU);
    for i in 0..6_i64 {
        let at = t0() + conformance::hours(i * 11);
        let created = store
            .create_ticket(
                create_request(appeal("路灯不亮"), at, None),
                &world.ctx(&operator(), at),
            )
            .await
            .expect("create");
        let id = created.ticket.id;
        let dispatch = conformance::dispatch(conformance::ENV_BUREAU, &[]);
        store
            .apply(id, None, dispatch, &world.ctx(&operator(), at))
            .await
            .expect("dispatch");
        if i % 2 == 0 {
            let signed_at = at + conformance::hours(3);
            store
                .apply(id, None, conformance::sign(), &world.ctx(&env, signed_at))
                .await
                .expect("sign");
        }
    }
    store.close().await;

    let migration = include_str!("../../../migrations/sqlite/0008_stats_days.sql");
    let fill = &migration[migration.find("insert into stats_days").expect("the fill")..];
    let mut conn = raw(&path).await;
    let days: i64 = sqlx::query_scalar("select count(*) from stats_days")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert!(
        days >= 3,
        "6 tickets over 55 hours fill 3 days or more, not {days}"
    );
    sqlx::query("delete from stats_days")
        .execute(&mut conn)
        .await
        .expect("clear");
    sqlx::query(AssertSqlSafe(fill))
        .execute(&mut conn)
        .await
        .expect("fill");
    conn.close().await.expect("close raw");

    let store = SqliteStore::open(&path).await.expect("reopen");
    let problems = store.check_rows(&AlwaysOpen).await.expect("check");
    assert!(problems.is_empty(), "{problems:?}");
    store.close().await;
}
