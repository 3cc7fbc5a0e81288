//! Many concurrent creates, filed in shared transactions: every one is acknowledged
//! with its own ticket, numbers run without gaps, and every hash chain verifies.

use std::collections::BTreeSet;
use std::sync::Arc;

use hotline_core::{DispatchTarget, DomainError};
use hotline_store::chain::Verifier;
use hotline_store::conformance::{
    CENTER, ENV_BUREAU, World, appeal, create_request, day_of, operator, t0,
};
use hotline_store::{Store, StoreError};
use hotline_store_sqlite::SqliteStore;

const CREATES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_creates_file_two_hundred_numbered_chained_tickets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("hotline.db"))
            .await
            .expect("open"),
    );
    let world = Arc::new(World::new());
    let now = t0();
    let mut tasks = Vec::new();
    for n in 0..CREATES {
        let mut new = appeal(&format!("第{n}号路灯不亮"));
        // Every third one is dispatched at intake: two events to chain.
        if n % 3 == 0 {
            new.auto_dispatch = Some(DispatchTarget {
                lead_department_id: ENV_BUREAU.into(),
                co_department_ids: Vec::new(),
            });
        }
        // Every other one carries its own request id.
        let request_id = (n % 2 == 0).then(|| format!("req-{n}"));
        let request = create_request(new, now, request_id.as_deref());
        let store = Arc::clone(&store);
        let world = Arc::clone(&world);
        tasks.push(tokio::spawn(async move {
            let actor = operator();
            store.create_ticket(request, &world.ctx(&actor, now)).await
        }));
    }
    let mut numbers = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut events = 0;
    for task in tasks {
        let created = task
            .await
            .expect("task")
            .unwrap_or_else(|error| panic!("a concurrent create failed: {error}"));
        assert!(created.created);
        assert!(!created.events.is_empty());
        assert_eq!(
            store.get_ticket(created.ticket.id).await.expect("stored"),
            created.ticket,
            "the acknowledged ticket is the stored one"
        );
        events += created.events.len();
        numbers.insert(created.ticket.number);
        ids.insert(created.ticket.id);
    }
    let day = day_of(now);
    let expected: BTreeSet<String> = (1..=CREATES)
        .map(|seq| format!("{CENTER}-{day}-{seq:06}"))
        .collect();
    assert_eq!(numbers, expected, "distinct numbers, no gaps");
    assert_eq!(ids.len(), CREATES);

    let mut verifier = Verifier::default();
    let mut after = None;
    loop {
        let rows = store
            .audit_events(after.clone(), None, 500)
            .await
            .expect("audit rows");
        let Some(last) = rows.last() else { break };
        after = Some((last.ticket_id.clone(), last.seq));
        for row in &rows {
            verifier.check(row);
        }
    }
    assert!(verifier.breaks.is_empty(), "{:?}", verifier.breaks);
    assert_eq!(
        (verifier.tickets, verifier.events),
        (CREATES as u64, events as u64)
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_creates_among_concurrent_ones_fail_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("hotline.db"))
            .await
            .expect("open"),
    );
    let world = Arc::new(World::new());
    let now = t0();
    let mut tasks = Vec::new();
    for n in 0..60 {
        let mut new = appeal(&format!("第{n}号井盖缺失"));
        // Every fifth is refused by the domain, half of them with a request id (those
        // still reach the writer, to look the id up).
        if n % 5 == 0 {
            new.title = String::new();
        }
        let request_id = (n % 10 == 0).then(|| format!("req-{n}"));
        let request = create_request(new, now, request_id.as_deref());
        let store = Arc::clone(&store);
        let world = Arc::clone(&world);
        tasks.push(tokio::spawn(async move {
            let actor = operator();
            (
                n,
                store.create_ticket(request, &world.ctx(&actor, now)).await,
            )
        }));
    }
    let mut numbers = BTreeSet::new();
    for task in tasks {
        let (n, outcome) = task.await.expect("task");
        match outcome {
            Ok(created) if n % 5 != 0 => {
                numbers.insert(created.ticket.number);
            }
            Err(StoreError::Rejected(DomainError::InvalidField { field: "title", .. }))
                if n % 5 == 0 => {}
            other => panic!("create {n}: {other:?}"),
        }
    }
    let day = day_of(now);
    let expected: BTreeSet<String> = (1..=48)
        .map(|seq| format!("{CENTER}-{day}-{seq:06}"))
        .collect();
    assert_eq!(numbers, expected, "refusals take no number");
    store.close().await;
}
