//! Deadlines when time misbehaves: servers run on a wall clock the test moves
//! (libfaketime: the wall clock jumps, the monotonic clock the timers use does not).
//!
//! - **clock jump**: a server whose clock jumps forward an hour, then another, lights
//!   each due warning level of every ticket exactly once.
//! - **sweeper crash**: three replicas on one PostgreSQL database and one clock; the
//!   clock jumps so that every ticket falls due at the same instant, and one replica
//!   is killed with SIGKILL while the sweepers work through them (twice). Every ticket
//!   ends with the same lights as every other, each lit once: the killed replica's
//!   uncommitted batch is swept by the others, no level skipped or repeated.
//!
//! Needs libfaketime (`.ci/services.sh` installs it); the crash scenario also needs
//! `TEST_DATABASE_URL`. Skipped without them unless `HOTLINE_REQUIRE_SERVERS=1`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use hotline_proto::v1::{self as pb, Role};
use pb::ticket_service_client::TicketServiceClient;
use support::{
    Authed, Database, FakeClock, Server, WATER, add_water_bureau, admin_client, audit_deep, bearer,
    create_key, required,
};
use tokio::time::Instant;
use tonic::transport::Channel;

/// Longest the sweepers may take to light every ticket after a jump.
const PATIENCE: Duration = Duration::from_secs(60);

/// Signing within 30 minutes, warned at 80 %, seriously overdue an hour after.
fn policy() -> pb::DeadlinePolicy {
    let window = |mode: pb::TimeMode, amount| {
        Some(pb::Window {
            mode: mode.into(),
            amount,
        })
    };
    pb::DeadlinePolicy {
        entries: vec![pb::PolicyEntry {
            appeal_type: 0,
            priority: 0,
            category_prefix: String::new(),
            sign_within: window(pb::TimeMode::Calendar, 30),
            reply_within: window(pb::TimeMode::Calendar, 24 * 60),
        }],
        max_returns: 2,
        max_extensions: 1,
        max_reopens: 2,
        warning_percent: 80,
        serious_overdue_minutes: 60,
        callback_within: window(pb::TimeMode::WorkingDays, 2),
        version: 0,
    }
}

/// Sets up the bureau and the policy; returns an operator key.
async fn set_up(channel: Channel, admin_key: &str) -> String {
    let mut admin = admin_client(channel, admin_key);
    add_water_bureau(&mut admin).await;
    admin
        .put_deadline_policy(pb::PutDeadlinePolicyRequest {
            policy: Some(policy()),
            expected_version: None,
        })
        .await
        .expect("policy");
    create_key(&mut admin, Role::Operator, "", "clock").await
}

/// Creates a ticket and dispatches it to the water bureau; returns its id.
async fn dispatched(tickets: &mut TicketServiceClient<Authed>, n: usize) -> String {
    let ticket = tickets
        .create_ticket(pb::CreateTicketRequest {
            request_id: String::new(),
            channel: pb::Channel::Phone as i32,
            appeal_type: pb::AppealType::Complaint as i32,
            priority: pb::Priority::Normal as i32,
            citizen: Some(pb::Citizen {
                name: "钱进".into(),
                phone: "13400004444".into(),
                anonymous: false,
                confidential: false,
                wants_callback: true,
            }),
            title: format!("水压太低 {n}"),
            body: format!("第{n}栋高层水压太低，楼上几户都用不了水。"),
            address: "吴中区东吴北路".into(),
            region_code: "320506".into(),
            category_hint: String::new(),
            latitude: None,
            longitude: None,
        })
        .await
        .expect("create")
        .into_inner()
        .ticket
        .expect("ticket");
    tickets
        .dispatch(pb::DispatchRequest {
            ticket_id: ticket.id.clone(),
            expected_version: Some(ticket.version),
            lead_department_id: WATER.into(),
            co_department_ids: vec![],
            note: String::new(),
        })
        .await
        .expect("dispatch");
    ticket.id
}

/// The warning lights a ticket's timeline records: (deadline kind, level) → times lit.
async fn lights(
    tickets: &mut TicketServiceClient<Authed>,
    ticket_id: &str,
) -> BTreeMap<(String, String), usize> {
    let timeline = tickets
        .get_timeline(pb::GetTimelineRequest {
            ticket_id: ticket_id.into(),
        })
        .await
        .expect("timeline")
        .into_inner()
        .events;
    let mut lit = BTreeMap::new();
    for event in timeline.iter().filter(|e| e.action == "WARNING_CHANGED") {
        let detail: serde_json::Value =
            serde_json::from_str(&event.detail_json).expect("detail json");
        let key = (
            detail["kind"].as_str().unwrap_or_default().to_owned(),
            detail["level"].as_str().unwrap_or_default().to_owned(),
        );
        *lit.entry(key).or_default() += 1;
    }
    lit
}

/// Waits until every ticket's sign deadline shows `level`; returns every ticket's lights.
async fn until_lit(
    tickets: &mut TicketServiceClient<Authed>,
    ids: &[String],
    level: &str,
) -> Vec<BTreeMap<(String, String), usize>> {
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        for id in ids {
            all.push(lights(tickets, id).await);
        }
        let want = ("SIGN".to_owned(), level.to_owned());
        if all.iter().all(|lit| lit.contains_key(&want)) {
            return all;
        }
        let done = all.iter().filter(|lit| lit.contains_key(&want)).count();
        assert!(
            started.elapsed() < PATIENCE,
            "{done} of {} tickets show SIGN {level} after {PATIENCE:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Asserts every light was lit once and every ticket has the same lights; returns them.
fn each_once_and_alike(all: &[BTreeMap<(String, String), usize>]) -> Vec<(String, String)> {
    for lit in all {
        for ((kind, level), count) in lit {
            assert_eq!(*count, 1, "{kind} {level} lit {count} times");
        }
    }
    let first: Vec<_> = all[0].keys().cloned().collect();
    for lit in all {
        assert_eq!(
            lit.keys().cloned().collect::<Vec<_>>(),
            first,
            "a level skipped on some ticket"
        );
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_jump_lights_each_due_level_once() {
    let Some(clock) = FakeClock::new() else {
        return;
    };
    let server = Server::start_with_env(
        &[
            "--sweep-interval",
            "50ms",
            "--log-level",
            "warn",
            "--rate-limit",
            "0",
        ],
        &clock.envs(),
    );
    let channel = server.channel().await;
    let operator = set_up(channel.clone(), &server.admin_key()).await;
    let mut tickets = TicketServiceClient::with_interceptor(channel, bearer(&operator));
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(dispatched(&mut tickets, n).await);
    }
    // Many sweeps at real time: nothing is due for 24 minutes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert!(lights(&mut tickets, id).await.is_empty(), "lit before due");
    }

    clock.set("+1h");
    until_lit(&mut tickets, &ids, "OVERDUE").await;
    // Let many more sweeps run at the new time: nothing may light twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    clock.set("+2h");
    let all = until_lit(&mut tickets, &ids, "SERIOUSLY_OVERDUE").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut after = Vec::new();
    for id in &ids {
        after.push(lights(&mut tickets, id).await);
    }
    assert_eq!(after, all, "sweeps after the last jump changed nothing");
    let levels = each_once_and_alike(&after);
    audit_deep(&["--data-dir", &server.dir.path().display().to_string()]);
    println!(
        "clock jumped +1h, then +2h: {} tickets, lights {levels:?} each lit once per ticket",
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweeper_killed_mid_batch_leaves_its_batch_to_the_other_replicas() {
    let Some(clock) = FakeClock::new() else {
        return;
    };
    let Some(base) = required("TEST_DATABASE_URL") else {
        return;
    };
    let database = Database::create(&base, "hotline_sweeper_crash").await;
    let url = database.url();
    let args = [
        "--database-url",
        url.as_str(),
        "--sweep-interval",
        "20ms",
        "--log-level",
        "warn",
        "--rate-limit",
        "0",
    ];
    let mut replicas: Vec<Server> = (0..3)
        .map(|_| Server::start_with_env(&args, &clock.envs()))
        .collect();
    let channel = replicas[0].channel().await;
    let operator = set_up(channel.clone(), &replicas[0].admin_key()).await;
    // The other replicas reread reference data every 5 s: let them learn the policy.
    tokio::time::sleep(Duration::from_secs(6)).await;

    const TICKETS: usize = 300;
    let mut loaders = Vec::new();
    for w in 0..6 {
        let channel = replicas[w % 3].channel().await;
        let operator = operator.clone();
        loaders.push(tokio::spawn(async move {
            let mut tickets = TicketServiceClient::with_interceptor(channel, bearer(&operator));
            let mut ids = Vec::new();
            for n in (w..TICKETS).step_by(6) {
                ids.push(dispatched(&mut tickets, n).await);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for loader in loaders {
        ids.extend(loader.await.expect("loader"));
    }

    // Everything falls due at once; the first replica dies mid-sweep, twice.
    let mut kills = 0;
    for jump in ["+1h", "+2h"] {
        clock.set(jump);
        tokio::time::sleep(Duration::from_millis(150)).await;
        replicas[0].kill();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        replicas[0].restart();
        let survivor = replicas[1].channel().await;
        let mut tickets = TicketServiceClient::with_interceptor(survivor, bearer(&operator));
        let level = if jump == "+1h" {
            "OVERDUE"
        } else {
            "SERIOUSLY_OVERDUE"
        };
        until_lit(&mut tickets, &ids, level).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut tickets =
        TicketServiceClient::with_interceptor(replicas[2].channel().await, bearer(&operator));
    let mut all = Vec::new();
    for id in &ids {
        all.push(lights(&mut tickets, id).await);
    }
    let levels = each_once_and_alike(&all);
    audit_deep(&["--database-url", &url]);
    println!(
        "sweeper crash: {TICKETS} tickets due at one instant, twice; {kills} SIGKILLs of a \
         sweeping replica; every ticket lit {levels:?}, each once"
    );
}
