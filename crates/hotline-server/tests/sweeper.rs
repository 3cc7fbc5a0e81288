//! The sweeper against a real SQLite store, driven by an injected clock: each
//! test files tickets through the store and calls `Sweeper::run_once` at the
//! instants it chooses.
//!
//! The policy here counts calendar time, so no calendar can move a threshold:
//! one hour to sign (yellow at 48 min, red after 60, seriously overdue after
//! 90), ten hours to reply, two hours to call back.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use hotline_core::{
    Command, DeadlineKind, DeadlinePolicy, DispatchTarget, EventKind, NewTicket, PolicyEntry,
    TicketId, TicketStatus, WarningLevel, Window,
};
use hotline_server::{SweepReport, Sweeper};
use hotline_store::conformance::{
    ENV_BUREAU, World, appeal, create_request, department, mins, operator, supervisor, t0,
};
use hotline_store::{DeadlineQuery, PageRequest, Store};
use hotline_store_sqlite::SqliteStore;
use jiff::Timestamp;

fn policy() -> DeadlinePolicy {
    DeadlinePolicy {
        version: 1,
        entries: vec![PolicyEntry {
            appeal_type: None,
            priority: None,
            category_prefix: None,
            sign_within: Window::Calendar { minutes: 60 },
            reply_within: Window::Calendar { minutes: 600 },
        }],
        callback_within: Window::Calendar { minutes: 120 },
        warning_percent: 80,
        serious_overdue_minutes: 30,
        ..DeadlinePolicy::default()
    }
}

/// A store on a temp file, the world its commands run in, and a sweeper over it.
struct Bench {
    store: Arc<SqliteStore>,
    world: World,
    sweeper: Sweeper,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("hotline.db"))
                .await
                .unwrap(),
        );
        let sweeper = Sweeper::open(store.clone()).await.unwrap();
        Bench {
            store,
            world: World::with_policy(policy()),
            sweeper,
            _dir: dir,
        }
    }

    /// Files an appeal dispatched at once to the environment bureau.
    async fn dispatched(&self, at: Timestamp) -> TicketId {
        self.file(
            NewTicket {
                auto_dispatch: Some(DispatchTarget {
                    lead_department_id: ENV_BUREAU.into(),
                    co_department_ids: vec![],
                }),
                ..appeal("路灯不亮")
            },
            at,
        )
        .await
    }

    async fn file(&self, new: NewTicket, at: Timestamp) -> TicketId {
        let actor = operator();
        self.store
            .create_ticket(create_request(new, at, None), &self.world.ctx(&actor, at))
            .await
            .unwrap()
            .ticket
            .id
    }

    async fn run(
        &self,
        id: TicketId,
        actor: &hotline_core::Actor,
        at: Timestamp,
        command: Command,
    ) {
        self.store
            .apply(id, None, command, &self.world.ctx(actor, at))
            .await
            .unwrap();
    }

    async fn sweep(&self, at: Timestamp) -> SweepReport {
        self.sweeper.run_once(at).await.unwrap()
    }

    /// The warning levels on a ticket's timeline, in order.
    async fn lights(&self, id: TicketId) -> Vec<(DeadlineKind, WarningLevel)> {
        self.store
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .filter_map(|e| match e.event.kind {
                EventKind::WarningChanged { kind, level } => Some((kind, level)),
                _ => None,
            })
            .collect()
    }
}

fn at(minutes: i64) -> Timestamp {
    t0() + mins(minutes)
}

const SIGN_LEVELS: [(DeadlineKind, WarningLevel); 3] = [
    (DeadlineKind::Sign, WarningLevel::Warning),
    (DeadlineKind::Sign, WarningLevel::Overdue),
    (DeadlineKind::Sign, WarningLevel::SeriouslyOverdue),
];

#[tokio::test]
async fn each_level_fires_once_and_in_order() {
    let bench = Bench::new().await;
    let id = bench.dispatched(at(0)).await;
    assert_eq!(bench.sweep(at(47)).await, SweepReport::default());

    let report = bench.sweep(at(48)).await;
    assert_eq!((report.processed, report.warnings), (1, 1));
    assert_eq!(
        bench.sweep(at(48)).await,
        SweepReport::default(),
        "the same instant again changes nothing"
    );
    // Due at 60 min exactly: signing then is on time, so no red yet.
    assert_eq!(bench.sweep(at(60)).await.events, 0);
    assert_eq!(bench.sweep(at(61)).await.warnings, 1);
    assert_eq!(bench.sweep(at(61)).await.events, 0);
    assert_eq!(bench.sweep(at(91)).await.warnings, 1);
    for minute in [91, 120, 600, 6000] {
        assert_eq!(bench.sweep(at(minute)).await, SweepReport::default());
    }
    assert_eq!(bench.lights(id).await, SIGN_LEVELS);
    let ticket = bench.store.get_ticket(id).await.unwrap();
    assert_eq!(ticket.warning_level, WarningLevel::SeriouslyOverdue);
    assert_eq!(ticket.policy.version, 1);
}

#[tokio::test]
async fn a_sweeper_that_was_down_catches_up_in_order_in_one_command_per_ticket() {
    let bench = Bench::new().await;
    let id = bench.dispatched(at(0)).await;
    let report = bench.sweep(at(24 * 60)).await;
    assert_eq!((report.processed, report.warnings), (1, 3));
    let timeline = bench.store.timeline(id).await.unwrap();
    let versions: Vec<u64> = timeline
        .iter()
        .filter(|e| e.event.kind.action() == "WARNING_CHANGED")
        .map(|e| e.event.version)
        .collect();
    assert_eq!(versions, [2, 2, 2]);
    assert_eq!(bench.lights(id).await, SIGN_LEVELS);
}

#[tokio::test]
async fn two_thousand_tickets_due_at_the_same_instant_are_all_processed() {
    const N: usize = 2000;
    let bench = Bench::new().await;
    let mut ids = Vec::with_capacity(N);
    for _ in 0..N {
        ids.push(bench.dispatched(at(0)).await);
    }
    let due = bench.store.due_for_sweep(at(120), 1000).await.unwrap();
    assert_eq!(due.len(), 1000, "the listing is capped");
    assert!(due.iter().all(|d| d.next_check_at == at(48)));

    let report = bench.sweep(at(120)).await;
    assert_eq!(report.processed, N);
    assert_eq!(report.warnings, 3 * N);
    assert_eq!(report.events, 3 * N);
    assert_eq!(
        bench.sweep(at(120)).await,
        SweepReport::default(),
        "re-running at the same instant changes nothing"
    );
    assert!(
        bench
            .store
            .due_for_sweep(at(1_000_000), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Every ticket got exactly the three levels, in order: read the whole feed.
    let mut per_ticket: BTreeMap<TicketId, Vec<WarningLevel>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let batch = bench.store.events_after(after, 500).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.id;
        for stored in &batch {
            if let EventKind::WarningChanged { level, .. } = stored.event.kind {
                per_ticket
                    .entry(stored.event.ticket_id)
                    .or_default()
                    .push(level);
            }
        }
    }
    assert_eq!(per_ticket.len(), N);
    let levels = SIGN_LEVELS.map(|(_, level)| level).to_vec();
    assert!(per_ticket.values().all(|l| *l == levels));
    let serious = DeadlineQuery {
        min_level: Some(WarningLevel::SeriouslyOverdue),
        ..DeadlineQuery::default()
    };
    let mut page = PageRequest {
        size: 500,
        token: None,
    };
    let mut listed = 0;
    loop {
        let got = bench.store.list_deadlines(&serious, &page).await.unwrap();
        listed += got.items.len();
        match got.next_token {
            Some(token) => page.token = Some(token),
            None => break,
        }
    }
    assert_eq!(listed, N);
}

#[tokio::test]
async fn suspended_tickets_get_no_warnings_and_resume_with_their_deadlines_moved() {
    let bench = Bench::new().await;
    let id = bench.dispatched(at(0)).await;
    let env = department(ENV_BUREAU);
    bench
        .run(
            id,
            &env,
            at(10),
            Command::Sign {
                note: String::new(),
            },
        )
        .await;
    bench
        .run(
            id,
            &env,
            at(20),
            Command::RequestSuspension {
                reason: "等待鉴定结论".to_owned(),
                resume_by: None,
            },
        )
        .await;
    bench
        .run(
            id,
            &supervisor(),
            at(20),
            Command::DecideSuspension {
                approve: true,
                note: String::new(),
            },
        )
        .await;
    // Ten hours to reply were due at 600 min; suspended, nothing lights up.
    assert_eq!(bench.sweep(at(24 * 60)).await, SweepReport::default());
    assert!(bench.lights(id).await.is_empty());

    bench
        .run(
            id,
            &supervisor(),
            at(30 * 60),
            Command::Resume {
                note: String::new(),
            },
        )
        .await;
    // Stopped from 20 min to 30 h: the deadline and the yellow threshold moved by
    // those 29 h 40 min.
    let stopped = mins(30 * 60 - 20);
    let ticket = bench.store.get_ticket(id).await.unwrap();
    assert_eq!(ticket.reply_due, Some(at(600) + stopped));
    assert_eq!(bench.sweep(at(30 * 60)).await, SweepReport::default());
    assert_eq!(bench.sweep(at(480) + stopped - mins(1)).await.events, 0);
    let report = bench.sweep(at(480) + stopped).await;
    assert_eq!(report.warnings, 1);
    assert_eq!(
        bench.lights(id).await,
        [(DeadlineKind::Reply, WarningLevel::Warning)]
    );
}

#[tokio::test]
async fn replied_tickets_close_when_no_callback_is_wanted_or_its_deadline_passes() {
    let bench = Bench::new().await;
    let env = department(ENV_BUREAU);
    let mut quiet = appeal("不需要回访");
    quiet.citizen.wants_callback = false;
    quiet.auto_dispatch = Some(DispatchTarget {
        lead_department_id: ENV_BUREAU.into(),
        co_department_ids: vec![],
    });
    let quiet = bench.file(quiet, at(0)).await;
    let waiting = bench.dispatched(at(0)).await;
    for id in [quiet, waiting] {
        bench
            .run(
                id,
                &env,
                at(5),
                Command::Sign {
                    note: String::new(),
                },
            )
            .await;
        bench
            .run(
                id,
                &env,
                at(30),
                Command::Reply {
                    result: hotline_core::ReplyResult::Solved,
                    content: "已修复".to_owned(),
                },
            )
            .await;
    }
    let report = bench.sweep(at(31)).await;
    assert_eq!((report.processed, report.closed), (1, 1));
    let closed = bench.store.get_ticket(quiet).await.unwrap();
    assert_eq!(closed.status, TicketStatus::Closed);
    // The other one: yellow at 80 % of its two callback hours, closed at the end.
    assert_eq!(bench.sweep(at(30 + 96)).await.warnings, 1);
    assert_eq!(bench.sweep(at(30 + 119)).await, SweepReport::default());
    let report = bench.sweep(at(30 + 120)).await;
    assert_eq!((report.closed, report.warnings), (1, 0));
    assert_eq!(
        bench.store.get_ticket(waiting).await.unwrap().status,
        TicketStatus::Closed
    );
}

#[tokio::test]
async fn the_gauges_count_statuses_overdue_departments_and_the_sweepers_lag() {
    use hotline_server::telemetry::gauges::Gauges;

    let bench = Bench::new().await;
    for id in [ENV_BUREAU, "sz.idle"] {
        let unit = hotline_core::Department {
            id: id.into(),
            name: id.to_owned(),
            parent_id: None,
            region_code: String::new(),
            level: 1,
        };
        bench.store.upsert_department(&unit).await.unwrap();
    }
    bench.dispatched(at(0)).await;
    let gauges = Gauges::new(&opentelemetry::global::meter("test"));
    let status = |statuses: &[(String, u64)], name: &str| {
        statuses.iter().find(|(s, _)| s == name).map(|(_, n)| *n)
    };

    // Before the sign deadline: one dispatched ticket, nothing overdue or due.
    gauges.refresh(bench.store.as_ref(), at(30)).await.unwrap();
    let reading = gauges.last();
    let (statuses, overdue, lag) = (
        reading.by_status,
        reading.overdue_by_department,
        reading.sweeper_lag_seconds,
    );
    assert_eq!(
        statuses.len(),
        TicketStatus::ALL.len(),
        "every status is reported"
    );
    assert_eq!(status(&statuses, "DISPATCHED"), Some(1));
    assert_eq!(status(&statuses, "CLOSED"), Some(0));
    assert_eq!(
        overdue,
        [(ENV_BUREAU.to_owned(), 0), ("sz.idle".to_owned(), 0)]
    );
    assert!(lag.abs() < f64::EPSILON, "{lag}");

    // Past it, unswept: the bureau has one overdue ticket, and the yellow light
    // due at minute 48 has waited 22 minutes.
    gauges.refresh(bench.store.as_ref(), at(70)).await.unwrap();
    let reading = gauges.last();
    assert_eq!(reading.overdue_by_department[0], (ENV_BUREAU.to_owned(), 1));
    let lag = reading.sweeper_lag_seconds;
    assert!((lag - 22.0 * 60.0).abs() < 1e-6, "{lag}");

    // Once swept, nothing due remains: no lag.
    bench.sweep(at(70)).await;
    gauges.refresh(bench.store.as_ref(), at(70)).await.unwrap();
    let lag = gauges.last().sweeper_lag_seconds;
    assert!(lag.abs() < f64::EPSILON, "{lag}");
}
