//! PostgreSQL-specific behaviour the shared conformance suite does not cover: several
//! replicas sweeping one database, row locks skipped rather than waited for, migrations,
//! and an unreachable server. Cases that need a server skip without `TEST_DATABASE_URL`
//! (and fail instead under `HOTLINE_REQUIRE_SERVERS=1`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::{TestSchema, URL_ENV};
use hotline_core::{DomainError, NewTicket, TicketId, WarningLevel};
use hotline_store::conformance::{
    Backend, ENV_BUREAU, Fixture, World, appeal, create_request, days, mins, operator, skipped,
    system, t0,
};
use hotline_store::{Created, Store, StoreError};
use hotline_store_postgres::{PgStore, migrate_with, parse_url};
use sqlx::{Connection, PgConnection};

/// A fresh schema that opens as many stores (replicas, each with its own pool) as asked.
#[derive(Debug)]
struct Schema(TestSchema);

impl Schema {
    async fn create() -> Schema {
        Schema(TestSchema::create().await.expect("create a test schema"))
    }
}

impl Backend for Schema {
    type Store = PgStore;

    async fn open(&self) -> PgStore {
        PgStore::connect_with(self.0.options())
            .await
            .expect("connect to the test schema")
    }
}

/// Files `n` tickets at `t0` and dispatches each to the environment bureau a minute later.
async fn dispatched_tickets(fx: &Fixture<PgStore>, n: usize) -> Vec<TicketId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let ticket = fx.create(appeal(&format!("路灯不亮 {i}")), t0()).await;
        fx.dispatch(ticket.id, t0() + mins(1), ENV_BUREAU, &[])
            .await;
        ids.push(ticket.id);
    }
    ids
}

/// Fails a case that would otherwise hang (a sweep waiting on a lock it should skip).
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within 30 s"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_sweeping_at_once_escalate_each_due_ticket_exactly_once() {
    if skipped(Some(URL_ENV)) {
        return;
    }
    let schema = Schema::create().await;
    let fx = Fixture::open(&schema).await;
    let tickets = dispatched_tickets(&fx, 60).await;
    let world = Arc::new(World::new());
    // Three days later every ticket is past its sign deadline: each sweep records its
    // missed levels (yellow, overdue, seriously overdue) in one command.
    let at = t0() + days(3);
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = schema.open().await;
        let world = Arc::clone(&world);
        let start = Arc::clone(&start);
        replicas.push(tokio::spawn(async move {
            let actor = system();
            let mut swept = 0;
            let mut changed = Vec::new();
            start.wait().await;
            loop {
                let batch = store
                    .sweep_due(&world.ctx(&actor, at), 7)
                    .await
                    .expect("sweep_due");
                if batch.swept == 0 {
                    break;
                }
                swept += batch.swept;
                changed.extend(batch.applied.iter().map(|applied| applied.ticket.id));
            }
            store.close().await;
            (swept, changed)
        }));
    }
    let mut swept = 0;
    let mut changed: BTreeMap<TicketId, usize> = BTreeMap::new();
    for replica in replicas {
        let (n, ids) = within("a replica's sweep", replica)
            .await
            .expect("replica task");
        swept += n;
        for id in ids {
            *changed.entry(id).or_default() += 1;
        }
    }
    assert_eq!(
        swept,
        tickets.len(),
        "every due ticket is taken exactly once"
    );
    assert_eq!(changed.len(), tickets.len(), "every due ticket changed");
    assert!(
        changed.values().all(|times| *times == 1),
        "no ticket changed twice: {changed:?}"
    );
    assert!(fx.due(at).await.is_empty(), "no due work is left");
    for id in &tickets {
        let warnings = fx
            .timeline(*id)
            .await
            .iter()
            .filter(|e| e.event.kind.action() == "WARNING_CHANGED")
            .count();
        assert_eq!(warnings, 3, "ticket {id}: each level lit once");
        assert_eq!(
            fx.get(*id).await.warning_level,
            WarningLevel::SeriouslyOverdue
        );
    }
    // The global feed holds each event once, in id order: created, dispatched, 3 lights.
    let mut feed = Vec::new();
    let mut after = 0;
    loop {
        let page = fx
            .store
            .events_after(after, 100)
            .await
            .expect("events_after");
        let Some(last) = page.last() else { break };
        after = last.id;
        feed.extend(page);
    }
    assert_eq!(feed.len(), tickets.len() * 5);
    assert!(feed.windows(2).all(|w| w[0].id < w[1].id));
    fx.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_locked_by_another_transaction_is_skipped_then_swept() {
    if skipped(Some(URL_ENV)) {
        return;
    }
    let schema = Schema::create().await;
    let fx = Fixture::open(&schema).await;
    let tickets = dispatched_tickets(&fx, 3).await;
    let at = t0() + days(3);
    let actor = system();
    // Another replica (or a command) holds the first ticket's row.
    let mut other = PgConnection::connect_with(&schema.0.options())
        .await
        .expect("raw connection");
    let mut held = other.begin().await.expect("begin");
    sqlx::query("select id from tickets where id = $1 for update")
        .bind(tickets[0].0)
        .execute(&mut *held)
        .await
        .expect("lock a row");
    let batch = within(
        "a sweep next to a locked row",
        fx.store.sweep_due(&fx.world.ctx(&actor, at), 100),
    )
    .await
    .expect("sweep_due");
    let changed: Vec<TicketId> = batch.applied.iter().map(|a| a.ticket.id).collect();
    assert_eq!(batch.swept, 2);
    assert_eq!(changed, tickets[1..]);
    // The listing still shows the locked ticket as due: nobody has swept it yet.
    assert_eq!(
        fx.due(at)
            .await
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [tickets[0]]
    );
    held.rollback().await.expect("release the row");
    let batch = fx.sweep(at, 100).await;
    assert_eq!(batch.swept, 1);
    assert_eq!(batch.applied[0].ticket.id, tickets[0]);
    assert_eq!(fx.sweep(at, 100).await.swept, 0);
    other.close().await.expect("close raw connection");
    fx.store.close().await;
}

#[tokio::test]
async fn migrate_is_repeatable_and_connect_accepts_a_migrated_schema() {
    if skipped(Some(URL_ENV)) {
        return;
    }
    let schema = TestSchema::create().await.expect("create a test schema");
    migrate_with(schema.options()).await.expect("first migrate");
    migrate_with(schema.options())
        .await
        .expect("second migrate is a no-op");
    let store = PgStore::connect_with(schema.options())
        .await
        .expect("connect");
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations order by version")
            .fetch_all(store.pool())
            .await
            .expect("migrations table");
    assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7]);
    let synchronous_commit: String = sqlx::query_scalar("show synchronous_commit")
        .fetch_one(store.pool())
        .await
        .expect("setting");
    assert_eq!(synchronous_commit, "on", "acknowledged writes are flushed");
    assert!(store.list_departments().await.expect("list").is_empty());
    store.close().await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_not_a_hang() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://hotline@127.0.0.1:{port}/hotline");
    match within("connecting to a closed port", PgStore::connect(&url)).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("connecting"), "{message}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn a_malformed_url_is_refused_naming_the_field_without_echoing_it() {
    match parse_url("postgres://hotline:s3cret@[::1/hotline") {
        Err(StoreError::Rejected(DomainError::InvalidField { field, reason })) => {
            assert_eq!(field, "database_url");
            assert!(!reason.contains("s3cret"), "{reason}");
        }
        other => panic!("expected a refused database_url, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_creating_at_once_number_gap_free_and_file_each_request_id_once() {
    if skipped(Some(URL_ENV)) {
        return;
    }
    let schema = Schema::create().await;
    let replicas = [Arc::new(schema.open().await), Arc::new(schema.open().await)];
    let world = Arc::new(World::new());
    let days_ = [t0(), t0() + days(1)];
    let mut tasks = Vec::new();
    for k in 0..600_usize {
        let store = Arc::clone(&replicas[k % 2]);
        let world = Arc::clone(&world);
        let now = days_[k % 3 % 2] + mins(i64::try_from(k % 7).expect("small"));
        let blank = NewTicket {
            title: String::new(),
            ..appeal("x")
        };
        // Plain creates, request ids repeated across both replicas, and refusals with
        // and without request ids (some sharing an accepted create's id).
        let (request, request_id) = match k % 6 {
            0..=2 => (
                create_request(appeal(&format!("路灯不亮 {k}")), now, None),
                None,
            ),
            3 => {
                let id = format!("req-{}", k / 6 % 40);
                (create_request(appeal("井盖缺失"), now, Some(&id)), Some(id))
            }
            4 if k % 12 == 4 => {
                let id = format!("req-{}", k / 6 % 40);
                (create_request(blank, now, Some(&id)), Some(id))
            }
            4 => {
                let id = format!("req-bad-{k}");
                (create_request(blank, now, Some(&id)), Some(id))
            }
            _ => (create_request(blank, now, None), None),
        };
        let accepted = k % 6 <= 3;
        tasks.push(tokio::spawn(async move {
            let actor = operator();
            let outcome = store.create_ticket(request, &world.ctx(&actor, now)).await;
            (request_id, accepted, outcome)
        }));
    }
    let mut plain = 0;
    let mut by_request_id: BTreeMap<String, Vec<Created>> = BTreeMap::new();
    let mut accepted_ids = BTreeSet::new();
    let mut filed = Vec::new();
    for task in tasks {
        let (request_id, accepted, outcome) = task.await.expect("create task");
        match (request_id, accepted, outcome) {
            (None, true, Ok(created)) => {
                assert!(created.created);
                plain += 1;
                filed.push(created);
            }
            (Some(id), true, Ok(created)) => {
                accepted_ids.insert(id.clone());
                by_request_id.entry(id).or_default().push(created);
            }
            // A refused retry of an id filed before gets that ticket back.
            (Some(id), false, Ok(created)) if id.starts_with("req-") && !id.contains("bad") => {
                assert!(!created.created);
                by_request_id.entry(id).or_default().push(created);
            }
            (_, false, Err(StoreError::Rejected(DomainError::InvalidField { .. }))) => {}
            (id, accepted, outcome) => {
                panic!("request {id:?} (accepted: {accepted}): {outcome:?}")
            }
        }
    }
    assert_eq!(plain, 300);
    assert_eq!(accepted_ids.len(), 40);
    for (id, results) in &by_request_id {
        let winners: Vec<&Created> = results.iter().filter(|c| c.created).collect();
        assert_eq!(winners.len(), 1, "request id {id} filed once: {results:?}");
        assert!(
            results.iter().all(|c| c.ticket.id == winners[0].ticket.id),
            "request id {id}: one ticket"
        );
        filed.push(winners[0].clone());
    }
    let store = &replicas[0];
    let pool = store.pool();
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .expect("count")
    };
    assert_eq!(count("select count(*) from tickets").await, 340);
    assert_eq!(count("select count(*) from events").await, 340);
    assert_eq!(count("select count(*) from idempotency").await, 40);
    // Per day, numbers run from 1 without gaps or repeats, as the counter says.
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "select split_part(t.number, '-', 2), count(*), count(distinct t.number), \
         max(split_part(t.number, '-', 3)::bigint) from tickets t group by 1",
    )
    .fetch_all(pool)
    .await
    .expect("numbers");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (day, n, distinct, max) in rows {
        assert_eq!((n, distinct, max), (n, n, n), "numbers of {day}");
        let last: i64 = sqlx::query_scalar("select last_seq from ticket_numbers where day = $1")
            .bind(&day)
            .fetch_one(pool)
            .await
            .expect("counter");
        assert_eq!(last, n, "the counter of {day}");
    }
    // Every acknowledged ticket reads back as answered, its event with the id given.
    let mut event_ids = BTreeSet::new();
    for created in &filed {
        assert_eq!(
            store.get_ticket(created.ticket.id).await.expect("stored"),
            created.ticket
        );
        assert_eq!(created.events.len(), 1);
        assert!(event_ids.insert(created.events[0].id));
    }
    let actor = system();
    let problems = store
        .check_rows(world.ctx(&actor, t0()).calendar)
        .await
        .expect("check rows");
    assert!(problems.is_empty(), "{problems:?}");
    for replica in &replicas {
        replica.close().await;
    }
}

/// Many transactions at once change parts handed over on the same day: each adds to
/// the same day rows, under row locks taken in key order, so none waits forever
/// and no change is lost.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_changes_to_one_day_of_parts_lose_no_count() {
    if skipped(Some(URL_ENV)) {
        return;
    }
    let schema = Schema::create().await;
    let fx = Fixture::open(&schema).await;
    let tickets = dispatched_tickets(&fx, 48).await;
    let env = hotline_store::conformance::department(ENV_BUREAU);
    let mut tasks = Vec::new();
    for (i, id) in (0_i64..).zip(&tickets) {
        let (store, world, env, id) = (
            Arc::clone(&fx.store),
            Arc::clone(&fx.world),
            env.clone(),
            *id,
        );
        let at = t0() + mins(10 + i);
        tasks.push(tokio::spawn(async move {
            let sign = hotline_store::conformance::sign();
            store.apply(id, None, sign, &world.ctx(&env, at)).await
        }));
    }
    for task in tasks {
        within("a sign", task)
            .await
            .expect("sign task")
            .expect("sign");
    }
    let problems = fx
        .store
        .check_rows(&hotline_core::AlwaysOpen)
        .await
        .expect("check_rows");
    assert!(problems.is_empty(), "{problems:?}");
    let all = fx
        .list_all(&hotline_store::TicketFilter::default(), 100)
        .await;
    assert_eq!(all.len(), tickets.len());
    hotline_store::conformance::assert_totals_match_tickets(fx.store.as_ref(), &all).await;
    fx.store.close().await;
}

/// The migration that adds the day rows fills them from the statistics rows there
/// are: the row check finds them as the writes would have left them.
#[tokio::test]
async fn the_day_rows_migration_sums_the_rows_there_are() {
    if skipped(Some(URL_ENV)) {
        return;
    }
    let schema = Schema::create().await;
    let fx = Fixture::open(&schema).await;
    let tickets = dispatched_tickets(&fx, 6).await;
    let env = hotline_store::conformance::department(ENV_BUREAU);
    for (i, id) in (0_i64..).zip(&tickets).filter(|(i, _)| i % 2 == 0) {
        let at = t0() + days(i) + mins(30);
        let sign = hotline_store::conformance::sign();
        fx.store
            .apply(*id, None, sign, &fx.world.ctx(&env, at))
            .await
            .expect("sign");
    }
    let migration = include_str!("../../../migrations/postgres/0007_stats_days.sql");
    let fill = &migration[migration.find("insert into stats_days").expect("the fill")..];
    let mut conn = PgConnection::connect_with(&schema.0.options())
        .await
        .expect("connect");
    let rows: i64 = sqlx::query_scalar("select count(*) from stats_days")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert!(rows >= 1, "the writes kept day rows");
    sqlx::query("delete from stats_days")
        .execute(&mut conn)
        .await
        .expect("clear");
    sqlx::query(sqlx::AssertSqlSafe(fill))
        .execute(&mut conn)
        .await
        .expect("fill");
    let refilled: i64 = sqlx::query_scalar("select count(*) from stats_days")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(refilled, rows);
    conn.close().await.expect("close");
    let problems = fx
        .store
        .check_rows(&hotline_core::AlwaysOpen)
        .await
        .expect("check_rows");
    assert!(problems.is_empty(), "{problems:?}");
    fx.store.close().await;
}
