//! Production mode end to end: three `hotline serve` processes on one
//! PostgreSQL database and one Redis, as behind a load balancer.
//!
//! A department watching on replica C hears dispatches and deadline lights
//! made on A and B; the three sweepers race for the same overdue tickets and
//! each light changes exactly once; every notification reaches the watcher
//! exactly once. Then Redis is killed: creates and signs keep succeeding, and
//! once Redis is back live pushes resume and a watcher resuming from its last
//! event id gets everything it missed.
//!
//! Needs `TEST_DATABASE_URL` and `TEST_REDIS_URL` (see `.ci/services.sh`); the
//! test runs its own `redis-server` (so it can kill it) and its own database.
//! Skipped without them unless `HOTLINE_REQUIRE_SERVERS=1`, which makes it fail.
//! Set `TEST_LOG=1` to see the servers' logs on stderr.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use hotline_proto::v1::{self as pb, Role};
use pb::department_service_client::DepartmentServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use support::{
    Authed, Database, RedisServer, Server, WATER, add_water_bureau, admin_client, bearer,
    create_key, required,
};
use tonic::transport::Channel;

/// Tickets created and dispatched while Redis is up.
const TICKETS: usize = 300;
/// Tickets created and signed while Redis is down.
const TICKETS_WITHOUT_REDIS: usize = 20;
/// Calls in flight at once while loading tickets.
const WORKERS: usize = 6;
/// Longest any phase may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(90);

/// Clients of one replica, as the operator and as the water bureau.
#[derive(Clone)]
struct Clients {
    channel: Channel,
    operator: String,
    water: String,
}

impl Clients {
    fn tickets(&self) -> TicketServiceClient<Authed> {
        TicketServiceClient::with_interceptor(self.channel.clone(), bearer(&self.operator))
    }

    fn departments(&self) -> DepartmentServiceClient<Authed> {
        DepartmentServiceClient::with_interceptor(self.channel.clone(), bearer(&self.water))
    }

    /// Creates a ticket and dispatches it to the water bureau; returns its id.
    async fn dispatched(&self, title: &str) -> Result<String, tonic::Status> {
        let created = self
            .tickets()
            .create_ticket(complaint(title))
            .await?
            .into_inner()
            .ticket
            .expect("ticket");
        self.tickets()
            .dispatch(pb::DispatchRequest {
                ticket_id: created.id.clone(),
                expected_version: Some(created.version),
                lead_department_id: WATER.into(),
                co_department_ids: vec![],
                note: String::new(),
            })
            .await?;
        Ok(created.id)
    }

    async fn sign(&self, ticket_id: &str) -> Result<(), tonic::Status> {
        self.departments()
            .sign_ticket(pb::SignTicketRequest {
                ticket_id: ticket_id.into(),
                expected_version: None,
                note: String::new(),
            })
            .await
            .map(drop)
    }

    async fn watch(&self, after_event_id: &str) -> tonic::Streaming<pb::AssignmentNotification> {
        self.departments()
            .watch_assignments(pb::WatchAssignmentsRequest {
                department_id: String::new(),
                after_event_id: after_event_id.into(),
            })
            .await
            .expect("watch")
            .into_inner()
    }

    /// The ticket's timeline; waits out the key's rate limit, as a polling client must.
    async fn timeline(&self, ticket_id: &str) -> Vec<pb::TimelineEvent> {
        loop {
            match self
                .tickets()
                .get_timeline(pb::GetTimelineRequest {
                    ticket_id: ticket_id.into(),
                })
                .await
            {
                Ok(reply) => return reply.into_inner().events,
                Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(status) => panic!("timeline: {status}"),
            }
        }
    }
}

/// A complaint without a category, so no rule dispatches it at create.
fn complaint(title: &str) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        request_id: String::new(),
        channel: pb::Channel::Phone as i32,
        appeal_type: pb::AppealType::Complaint as i32,
        priority: pb::Priority::Normal as i32,
        citizen: Some(pb::Citizen {
            name: "王小明".into(),
            phone: "13812345678".into(),
            anonymous: false,
            confidential: false,
            wants_callback: true,
        }),
        title: title.into(),
        body: format!("{title}，已经三天了，请尽快处理。"),
        address: "姑苏区平江路100号".into(),
        region_code: "320508".into(),
        category_hint: String::new(),
        latitude: None,
        longitude: None,
    }
}

/// A policy whose sign deadline falls at once: every dispatched ticket is overdue
/// on the next sweep of whichever replica gets to it first.
fn sign_at_once() -> pb::DeadlinePolicy {
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
            sign_within: window(pb::TimeMode::Calendar, 0),
            reply_within: window(pb::TimeMode::Calendar, 600),
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

/// Sets up the water bureau, the policy and two keys through the first replica's
/// bootstrap admin key; returns (operator key, water bureau key).
async fn bootstrap(first: &Server) -> (String, String) {
    let mut admin = admin_client(first.channel().await, &first.admin_key());
    add_water_bureau(&mut admin).await;
    admin
        .put_deadline_policy(pb::PutDeadlinePolicyRequest {
            policy: Some(sign_at_once()),
            expected_version: None,
        })
        .await
        .expect("policy");
    let operator = create_key(&mut admin, Role::Operator, "", "Operator").await;
    let water = create_key(&mut admin, Role::Department, WATER, "Department").await;
    (operator, water)
}

/// What a watcher received: every notification, in arrival order.
#[derive(Default)]
struct Heard {
    all: Vec<pb::AssignmentNotification>,
}

impl Heard {
    /// Reads notifications until `enough` holds, failing after [`PATIENCE`].
    async fn until(
        &mut self,
        stream: &mut tonic::Streaming<pb::AssignmentNotification>,
        what: &str,
        enough: impl Fn(&[pb::AssignmentNotification]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !enough(&self.all) {
            let next = tokio::time::timeout_at(deadline, stream.message())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{what}: not heard within {PATIENCE:?} ({} so far)",
                        self.all.len()
                    )
                })
                .expect("stream healthy")
                .expect("stream open");
            self.all.push(next);
        }
    }

    /// Reads whatever arrives within `quiet`.
    async fn drain(
        &mut self,
        stream: &mut tonic::Streaming<pb::AssignmentNotification>,
        quiet: Duration,
    ) {
        while let Ok(Ok(Some(next))) = tokio::time::timeout(quiet, stream.message()).await {
            self.all.push(next);
        }
    }

    /// Ids received more than once.
    fn doubled(&self) -> Vec<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for n in &self.all {
            *counts.entry(n.event_id.as_str()).or_default() += 1;
        }
        counts
            .into_iter()
            .filter(|(_, c)| *c > 1)
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// Notifications per ticket.
    fn per_ticket(&self) -> HashMap<&str, usize> {
        let mut counts = HashMap::new();
        for n in &self.all {
            *counts.entry(n.ticket_id.as_str()).or_default() += 1;
        }
        counts
    }
}

/// The notifications the water bureau is owed for a ticket, read from its
/// timeline: the dispatch and every warning light of its own deadlines.
/// Asserts that no light was recorded twice.
fn owed(ticket_id: &str, timeline: &[pb::TimelineEvent]) -> (usize, usize) {
    let mut levels = BTreeMap::<(String, String), usize>::new();
    let mut dispatched = 0;
    for event in timeline {
        match event.action.as_str() {
            "DISPATCHED" => dispatched += 1,
            "WARNING_CHANGED" => {
                let detail: serde_json::Value =
                    serde_json::from_str(&event.detail_json).expect("detail json");
                let kind = detail["kind"].as_str().unwrap_or_default().to_owned();
                let level = detail["level"].as_str().unwrap_or_default().to_owned();
                *levels.entry((kind, level)).or_default() += 1;
            }
            _ => {}
        }
    }
    assert_eq!(dispatched, 1, "{ticket_id} dispatched once");
    for ((kind, level), count) in &levels {
        assert_eq!(*count, 1, "{ticket_id}: {kind} {level} lit {count} times");
    }
    let overdue = levels
        .keys()
        .filter(|(kind, level)| kind == "SIGN" && level == "OVERDUE")
        .count();
    let lights = levels.keys().filter(|(kind, _)| kind != "CALLBACK").count();
    (dispatched + lights, overdue)
}

/// A tiny deterministic generator for picking replicas (seeded per run, printed).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Creates and dispatches `count` tickets, each through a replica picked at random.
async fn load(replicas: &[Clients], count: usize, seed: u64, prefix: &str) -> Vec<String> {
    let mut picks = XorShift(seed | 1);
    let plan: Vec<(usize, usize)> = (0..count)
        .map(|i| (i, usize::try_from(picks.next() % 3).expect("small")))
        .collect();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let mine: Vec<(usize, Clients)> = plan
            .iter()
            .filter(|(i, _)| i % WORKERS == worker)
            .map(|(i, r)| (*i, replicas[*r].clone()))
            .collect();
        let prefix = prefix.to_owned();
        workers.spawn(async move {
            let mut ids = Vec::new();
            for (i, clients) in mine {
                let id = clients
                    .dispatched(&format!("{prefix}{i}号楼停水"))
                    .await
                    .expect("create and dispatch");
                ids.push(id);
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(done) = workers.join_next().await {
        ids.extend(done.expect("worker"));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_notifications_and_deadlines_and_survive_losing_redis() {
    let (Some(database_base), Some(_)) =
        (required("TEST_DATABASE_URL"), required("TEST_REDIS_URL"))
    else {
        return;
    };
    let started = Instant::now();
    let mut redis = RedisServer::start();
    let database = Database::create(&database_base, "hotline_replicas").await;
    // Every replica reads the same key hash secret: a key made through A works on B and C.
    let (database_url, redis_url) = (database.url(), redis.url());
    let args = [
        "--database-url",
        database_url.as_str(),
        "--redis-url",
        redis_url.as_str(),
        "--sweep-interval",
        "50ms",
        "--log-level",
        "warn",
    ];
    let a = Server::start(&args);
    let (operator, water) = bootstrap(&a).await;
    // B and C start after the setup, so they load the policy and department at open.
    let b = Server::start(&args);
    let c = Server::start(&args);
    let mut replicas = Vec::new();
    for replica in [&a, &b, &c] {
        replicas.push(Clients {
            channel: replica.channel().await,
            operator: operator.clone(),
            water: water.clone(),
        });
    }
    let (on_a, on_b, on_c) = (&replicas[0], &replicas[1], &replicas[2]);

    // The watcher on C must hear a dispatch made on A: the fan-out is live once it does
    // (the subscriptions are made in the background at start).
    let mut stream = on_c.watch("").await;
    let mut heard = Heard::default();
    let probe_deadline = Instant::now() + PATIENCE;
    let mut probes = Vec::new();
    loop {
        probes.push(on_a.dispatched("探测停水").await.expect("probe"));
        heard.drain(&mut stream, Duration::from_millis(300)).await;
        if heard.all.iter().any(|n| probes.contains(&n.ticket_id)) {
            break;
        }
        assert!(Instant::now() < probe_deadline, "C never heard A");
    }

    // A ticket filed on one replica is a duplicate candidate on the others at once: each
    // catches its duplicate index up from the event log before looking.
    let mut first_call = complaint("平江路100号门口水管爆裂");
    if let Some(citizen) = first_call.citizen.as_mut() {
        citizen.phone = "13955550001".into();
    }
    let on_c_ticket = on_c
        .tickets()
        .create_ticket(first_call.clone())
        .await
        .expect("create on C")
        .into_inner()
        .ticket
        .expect("ticket");
    let again = on_b
        .tickets()
        .create_ticket(first_call)
        .await
        .expect("create on B")
        .into_inner();
    assert!(
        again
            .duplicates
            .iter()
            .any(|d| d.ticket_id == on_c_ticket.id),
        "B finds C's ticket at once: {:?}",
        again.duplicates
    );
    let again_id = again.ticket.expect("ticket").id;
    let similar = on_a
        .tickets()
        .find_similar(pb::FindSimilarRequest {
            ticket_id: again_id,
            ..pb::FindSimilarRequest::default()
        })
        .await
        .expect("find similar on A")
        .into_inner();
    assert!(
        similar
            .candidates
            .iter()
            .any(|d| d.ticket_id == on_c_ticket.id),
        "A finds it too: {:?}",
        similar.candidates
    );

    // 300 tickets through random replicas; all overdue at once, swept by three sweepers.
    let seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    let tickets = load(&replicas, TICKETS, seed, "甲").await;
    let mut owed_total = BTreeMap::new();
    let mut overdue = 0;
    let deadline = Instant::now() + PATIENCE;
    for id in probes.iter().chain(&tickets) {
        loop {
            let timeline = on_b.timeline(id).await;
            let (owed_here, overdue_here) = owed(id, &timeline);
            if overdue_here == 1 {
                owed_total.insert(id.clone(), owed_here);
                overdue += 1;
                break;
            }
            assert!(Instant::now() < deadline, "{id} never turned overdue");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let owed_count: usize = owed_total.values().sum();
    heard
        .until(&mut stream, "every dispatch and light", |all| {
            let got: BTreeSet<&str> = all.iter().map(|n| n.event_id.as_str()).collect();
            got.len() >= owed_count
        })
        .await;
    // Anything doubled would arrive right behind: listen a little longer.
    heard.drain(&mut stream, Duration::from_secs(1)).await;
    let doubled = heard.doubled();
    assert!(
        doubled.is_empty(),
        "notifications delivered twice: {doubled:?}"
    );
    let per_ticket = heard.per_ticket();
    for (id, owed_here) in &owed_total {
        assert_eq!(
            per_ticket.get(id.as_str()).copied().unwrap_or_default(),
            *owed_here,
            "notifications for {id}"
        );
    }
    let by_origin_replica = tickets.len();
    println!(
        "3 replicas, {by_origin_replica} tickets (+{} probes), {overdue} overdue transitions, \
         {} notifications on C, {} doubled",
        probes.len(),
        heard.all.len(),
        doubled.len()
    );
    let last_before = heard
        .all
        .iter()
        .filter_map(|n| n.event_id.parse::<i64>().ok())
        .max()
        .expect("events heard");

    // Redis goes away: creates and signs keep succeeding on every replica.
    redis.kill();
    let without = load(&replicas, TICKETS_WITHOUT_REDIS, seed.rotate_left(17), "乙").await;
    for (i, id) in without.iter().enumerate() {
        replicas[i % 3].sign(id).await.expect("sign without redis");
    }
    println!(
        "redis killed once: {} tickets created, dispatched and signed without it",
        without.len()
    );

    // Redis returns: live pushes from A reach C again, without restarting anything.
    redis.restart();
    let mut probes_after = Vec::new();
    let probe_deadline = Instant::now() + PATIENCE;
    loop {
        probes_after.push(on_a.dispatched("恢复探测").await.expect("probe"));
        heard.drain(&mut stream, Duration::from_millis(300)).await;
        if heard
            .all
            .iter()
            .any(|n| probes_after.contains(&n.ticket_id))
        {
            break;
        }
        assert!(
            Instant::now() < probe_deadline,
            "live pushes did not resume"
        );
    }
    let doubled = heard.doubled();
    assert!(
        doubled.is_empty(),
        "delivered twice around the outage: {doubled:?}"
    );

    // Nothing lost: a watcher resuming from the last id heard before the outage gets
    // every dispatch and sign-deadline light of the tickets made without Redis.
    let mut owed_without = BTreeMap::new();
    for id in &without {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let timeline = on_c.timeline(id).await;
            assert!(timeline.iter().any(|e| e.action == "SIGNED"), "{id} signed");
            let (owed_here, overdue_here) = owed(id, &timeline);
            if overdue_here == 1 {
                owed_without.insert(id.clone(), owed_here);
                break;
            }
            assert!(Instant::now() < deadline, "{id} never turned overdue");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut resumed_stream = on_c.watch(&last_before.to_string()).await;
    let mut resumed = Heard::default();
    resumed
        .until(
            &mut resumed_stream,
            "the resumed watcher's backlog",
            |all| {
                let per: HashMap<&str, usize> = all.iter().fold(HashMap::new(), |mut m, n| {
                    *m.entry(n.ticket_id.as_str()).or_default() += 1;
                    m
                });
                owed_without
                    .iter()
                    .all(|(id, owed)| per.get(id.as_str()).copied().unwrap_or_default() >= *owed)
            },
        )
        .await;
    resumed
        .drain(&mut resumed_stream, Duration::from_millis(500))
        .await;
    assert!(resumed.doubled().is_empty(), "resume delivered twice");
    let per_ticket = resumed.per_ticket();
    for (id, owed_here) in &owed_without {
        assert_eq!(
            per_ticket.get(id.as_str()).copied(),
            Some(*owed_here),
            "{id}"
        );
    }
    assert!(
        resumed
            .all
            .iter()
            .all(|n| n.event_id.parse::<i64>().is_ok_and(|id| id > last_before)),
        "the resumed watcher starts after its id"
    );
    println!(
        "after redis returned: live pushes resumed, resumed watcher got {} notifications, 0 lost, 0 doubled ({:.1} s)",
        resumed.all.len(),
        started.elapsed().as_secs_f64()
    );
}
