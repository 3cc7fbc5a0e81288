//! Faults and races: real `hotline serve` processes, real databases, bounded load
//! through gRPC clients, faults injected, and afterwards the database checked
//! against what the clients were told.
//!
//! - **kill -9 under load** (SQLite and PostgreSQL): 16 clients create tickets and
//!   take each through dispatch, sign and reply for a bounded time while the server
//!   is killed with SIGKILL and restarted 3 times. Clients time out and retry every
//!   call with the same request id or expected version, as a department system
//!   would. Afterwards: every acknowledged create exists once, every acknowledged
//!   state change is in its ticket's timeline at the acknowledged version, no ticket
//!   exists that no client created, and `hotline check` finds every hash chain
//!   intact, every stored ticket equal to the replay of its events, no orphan row
//!   and every indexed deadline column as its ticket implies.
//! - **PostgreSQL outages under load**: the same load while the test's own
//!   PostgreSQL cluster is stopped for 2 s, 3 times; calls fail UNAVAILABLE and are
//!   retried, and the same checks hold afterwards.
//! - **Redis outages under load**: the same load through two replicas sharing
//!   PostgreSQL and a Redis that is killed for 2 s, 3 times.
//! - **races across replicas** (PostgreSQL): 50 concurrent signs, then 50 replies,
//!   and on another ticket 50 returns, spread over 3 server processes: exactly one
//!   of each succeeds and the timeline holds it once.
//!
//! `CHAOS_SECONDS` sets the load phase (default 20). PostgreSQL scenarios need
//! `TEST_DATABASE_URL` (see `.ci/services.sh`) and skip without it unless
//! `HOTLINE_REQUIRE_SERVERS=1`. Each prints what it injected and what it checked.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotline_proto::v1::{self as pb, Role};
use pb::department_service_client::DepartmentServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use support::{
    Authed, Database, PgCluster, RedisServer, Server, WATER, add_water_bureau, admin_client,
    audit_deep, bearer, create_key, required,
};
use tokio::time::Instant;
use tonic::Code;
use tonic::transport::Channel;

/// Clients driving load at once.
const CLIENTS: usize = 16;
/// SIGKILLs during the load phase.
const KILLS: usize = 3;
/// How long one call may take before the client gives up on it and retries.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client keeps retrying one call before the test fails.
const PATIENCE: Duration = Duration::from_secs(90);
/// Concurrent attempts in each race.
const RACERS: usize = 50;

/// Seconds of load, from `CHAOS_SECONDS`.
fn load_seconds() -> u64 {
    std::env::var("CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// Keys for the operator desk and the water bureau.
#[derive(Clone)]
struct Keys {
    operator: String,
    water: String,
}

/// Creates the water bureau and the two keys through the bootstrap admin key.
async fn set_up(channel: Channel, admin_key: &str) -> Keys {
    let mut admin = admin_client(channel, admin_key);
    add_water_bureau(&mut admin).await;
    Keys {
        operator: create_key(&mut admin, Role::Operator, "", "chaos operator").await,
        water: create_key(&mut admin, Role::Department, WATER, "chaos water bureau").await,
    }
}

fn complaint(request_id: &str, n: usize) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        request_id: request_id.into(),
        channel: pb::Channel::Web as i32,
        appeal_type: pb::AppealType::Complaint as i32,
        priority: pb::Priority::Normal as i32,
        citizen: Some(pb::Citizen {
            name: "赵敏".into(),
            phone: "13600002222".into(),
            anonymous: false,
            confidential: false,
            wants_callback: true,
        }),
        title: format!("小区停水 {n}"),
        body: format!("第{n}栋从早上开始停水，没有任何通知，请尽快恢复供水。"),
        address: "工业园区星湖街".into(),
        region_code: "320571".into(),
        category_hint: String::new(),
        latitude: None,
        longitude: None,
    }
}

/// Whether a failed call's outcome is unknown: the server may or may not have done
/// it (it died, the connection broke, the client stopped waiting).
fn outcome_unknown(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

/// What the clients were told, checked against the database afterwards.
#[derive(Debug, Default)]
struct Ledger {
    /// Request id → the ticket its create was acknowledged with.
    created: BTreeMap<String, String>,
    /// (ticket, version) → the action acknowledged at that version.
    changes: BTreeMap<(String, i64), String>,
    /// Calls sent again after an unknown outcome.
    retries: u64,
    /// Retried state changes that found the first attempt had been applied.
    applied_before_retry: u64,
}

/// One load client: its channel and keys, and the shared ledger.
struct Client {
    tickets: TicketServiceClient<Authed>,
    department: DepartmentServiceClient<Authed>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Client {
    fn new(channel: Channel, keys: &Keys, ledger: Arc<Mutex<Ledger>>) -> Self {
        Client {
            tickets: TicketServiceClient::with_interceptor(channel.clone(), bearer(&keys.operator)),
            department: DepartmentServiceClient::with_interceptor(channel, bearer(&keys.water)),
            ledger,
        }
    }

    fn retried(&self) {
        self.ledger.lock().expect("ledger").retries += 1;
    }

    /// Creates a ticket, retrying with the same request id until it is acknowledged.
    async fn create(&mut self, n: usize) -> pb::Ticket {
        let request_id = format!("chaos-{}", uuid::Uuid::now_v7().simple());
        let started = Instant::now();
        loop {
            let call = self.tickets.create_ticket(complaint(&request_id, n));
            match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(Ok(response)) => {
                    let ticket = response.into_inner().ticket.expect("ticket");
                    let mut ledger = self.ledger.lock().expect("ledger");
                    let earlier = ledger.created.insert(request_id.clone(), ticket.id.clone());
                    assert!(
                        earlier.is_none(),
                        "request id {request_id} acknowledged twice"
                    );
                    return ticket;
                }
                Ok(Err(status)) if !outcome_unknown(&status) => {
                    panic!("create {request_id}: {status:?}")
                }
                _ => {}
            }
            assert!(
                started.elapsed() < PATIENCE,
                "create {request_id} never acknowledged"
            );
            self.retried();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends one state change with `expected_version`, retrying unknown outcomes;
    /// returns the version after it. A retry that meets a version conflict reads the
    /// ticket: the earlier attempt was applied if the ticket is one version on and
    /// its newest event is this action; anything else fails the test.
    async fn advance(&mut self, ticket_id: &str, version: i64, step: Step) -> i64 {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = tokio::time::timeout(CALL_TIMEOUT, self.send(ticket_id, version, step))
                .await
                .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("client timeout")));
            match outcome {
                Ok(ticket) => {
                    assert_eq!(ticket.version, version + 1, "{step:?} on {ticket_id}");
                    self.acknowledge(ticket_id, version + 1, step);
                    return version + 1;
                }
                Err(status) if status.code() == Code::Aborted && attempts > 1 => {
                    let timeline = self.timeline(ticket_id).await;
                    let newest = timeline.last().expect("events");
                    assert!(
                        newest.version == version + 1 && newest.action == step.action(),
                        "{step:?} on {ticket_id} at version {version} met a conflict, but the \
                         ticket's newest event is {} at version {}",
                        newest.action,
                        newest.version
                    );
                    self.ledger.lock().expect("ledger").applied_before_retry += 1;
                    self.acknowledge(ticket_id, version + 1, step);
                    return version + 1;
                }
                Err(status) if !outcome_unknown(&status) => {
                    panic!("{step:?} on {ticket_id}: {status:?}")
                }
                Err(_) => {}
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{step:?} on {ticket_id} never acknowledged"
            );
            self.retried();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn acknowledge(&self, ticket_id: &str, version: i64, step: Step) {
        let mut ledger = self.ledger.lock().expect("ledger");
        let earlier = ledger
            .changes
            .insert((ticket_id.to_owned(), version), step.action().to_owned());
        assert!(
            earlier.is_none(),
            "version {version} of {ticket_id} acknowledged twice"
        );
    }

    async fn send(
        &mut self,
        ticket_id: &str,
        version: i64,
        step: Step,
    ) -> Result<pb::Ticket, tonic::Status> {
        let ticket_id = ticket_id.to_owned();
        let expected_version = Some(version);
        let response = match step {
            Step::Dispatch => {
                self.tickets
                    .dispatch(pb::DispatchRequest {
                        ticket_id,
                        expected_version,
                        lead_department_id: WATER.into(),
                        co_department_ids: vec![],
                        note: String::new(),
                    })
                    .await?
                    .into_inner()
                    .ticket
            }
            Step::Sign => {
                self.department
                    .sign_ticket(pb::SignTicketRequest {
                        ticket_id,
                        expected_version,
                        note: String::new(),
                    })
                    .await?
                    .into_inner()
                    .ticket
            }
            Step::Reply => {
                self.department
                    .reply_ticket(pb::ReplyTicketRequest {
                        ticket_id,
                        expected_version,
                        result: pb::ReplyResult::Solved as i32,
                        content: "已联系供水公司抢修，下午三点恢复供水。".into(),
                    })
                    .await?
                    .into_inner()
                    .ticket
            }
        };
        Ok(response.expect("ticket"))
    }

    /// Reads a timeline, retrying while the server is away.
    async fn timeline(&mut self, ticket_id: &str) -> Vec<pb::TimelineEvent> {
        let started = Instant::now();
        loop {
            let call = self.tickets.get_timeline(pb::GetTimelineRequest {
                ticket_id: ticket_id.into(),
            });
            match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(Ok(response)) => return response.into_inner().events,
                Ok(Err(status)) if !outcome_unknown(&status) => {
                    panic!("timeline of {ticket_id}: {status:?}")
                }
                _ => {}
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timeline of {ticket_id} unreadable"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The state changes each ticket goes through after its create.
#[derive(Debug, Clone, Copy)]
enum Step {
    Dispatch,
    Sign,
    Reply,
}

impl Step {
    const ALL: [Step; 3] = [Step::Dispatch, Step::Sign, Step::Reply];

    fn action(self) -> &'static str {
        match self {
            Step::Dispatch => "DISPATCHED",
            Step::Sign => "SIGNED",
            Step::Reply => "REPLIED",
        }
    }
}

/// Runs load through `servers` (addresses of one or more replicas) while `fault` is
/// injected [`KILLS`] times, evenly spread; `audit_args` name the database for
/// `hotline audit verify`. Prints and checks what the clients were told.
async fn under_faults(
    scenario: &str,
    addrs: Vec<String>,
    admin_key: &str,
    mut fault: impl FnMut() + Send + 'static,
    audit_args: &[&str],
) {
    let lazy = |addr: &str| {
        Channel::from_shared(format!("http://{addr}"))
            .expect("address")
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy()
    };
    let channel = lazy(&addrs[0]);
    let keys = set_up(channel.clone(), admin_key).await;
    if addrs.len() > 1 {
        // Other replicas reread reference data every 5 s: let them learn the bureau.
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let load = Duration::from_secs(load_seconds());
    let stop_at = Instant::now() + load;

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        // A channel per client, as separate department systems would have.
        let mut client = Client::new(lazy(&addrs[c % addrs.len()]), &keys, Arc::clone(&ledger));
        clients.push(tokio::spawn(async move {
            let mut n = c * 100_000;
            while Instant::now() < stop_at {
                n += 1;
                let ticket = client.create(n).await;
                let mut version = ticket.version;
                for step in Step::ALL {
                    version = client.advance(&ticket.id, version, step).await;
                }
            }
        }));
    }
    let injector = tokio::task::spawn_blocking(move || {
        for _ in 0..KILLS {
            std::thread::sleep(load / u32::try_from(KILLS + 1).expect("small"));
            fault();
        }
    });
    injector.await.expect("fault injector");
    for client in clients {
        client.await.expect("a load client failed");
    }
    // What the database holds, read through a fresh client.
    let ledger = std::mem::take(&mut *ledger.lock().expect("ledger"));
    let mut reader = Client::new(channel, &keys, Arc::new(Mutex::new(Ledger::default())));
    let mut stored: BTreeSet<String> = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = reader
            .tickets
            .list_tickets(pb::ListTicketsRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        for ticket in page.tickets {
            assert!(
                stored.insert(ticket.id.clone()),
                "{} listed twice",
                ticket.id
            );
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let acknowledged: BTreeSet<String> = ledger.created.values().cloned().collect();
    assert_eq!(
        acknowledged.len(),
        ledger.created.len(),
        "two request ids acknowledged with one ticket"
    );
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&acknowledged).collect();
    assert!(lost.is_empty(), "acknowledged tickets missing: {lost:?}");
    assert!(
        extra.is_empty(),
        "tickets no client was told about (duplicates): {extra:?}"
    );
    let mut lost_changes = 0;
    for ticket_id in &acknowledged {
        let timeline = reader.timeline(ticket_id).await;
        let by_version: BTreeMap<i64, &str> = timeline
            .iter()
            .map(|e| (e.version, e.action.as_str()))
            .collect();
        for ((id, version), action) in ledger.changes.range((ticket_id.clone(), 0)..) {
            if id != ticket_id {
                break;
            }
            if by_version.get(version) != Some(&action.as_str()) {
                lost_changes += 1;
                eprintln!("{ticket_id}: {action} at version {version} not in {by_version:?}");
            }
        }
        let newest = ledger
            .changes
            .range((ticket_id.clone(), 0)..)
            .take_while(|((id, _), _)| id == ticket_id)
            .map(|((_, v), _)| *v)
            .max()
            .unwrap_or(1);
        let last = timeline.last().expect("events").version;
        assert_eq!(
            last, newest,
            "{ticket_id}: a state change nobody was told about"
        );
    }
    assert_eq!(lost_changes, 0, "acknowledged state changes lost");
    let report = audit_deep(audit_args);
    let writes = ledger.created.len() + ledger.changes.len();
    println!(
        "{scenario}: {KILLS} faults in {}s, {CLIENTS} clients, \
         {writes} acknowledged writes ({} creates, {} state changes), {} retries \
         ({} found already applied), 0 lost, 0 duplicated; audit: {} tickets, {} events, \
         0 chain breaks, 0 projection mismatches, 0 row problems",
        load.as_secs(),
        ledger.created.len(),
        ledger.changes.len(),
        ledger.retries,
        ledger.applied_before_retry,
        report["tickets"],
        report["events"],
    );
    assert!(
        ledger.created.len() >= CLIENTS,
        "the load barely ran: {} tickets",
        ledger.created.len()
    );
}

/// Kills `server` with SIGKILL and starts it again, shared with the fault injector.
fn kill_and_restart(server: &Arc<Mutex<Server>>) -> impl FnMut() + Send + 'static {
    let server = Arc::clone(server);
    move || {
        let mut server = server.lock().expect("server");
        server.kill();
        std::thread::sleep(Duration::from_millis(300));
        server.restart();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_kill_9_under_load() {
    let server = Server::start_restartable(&["--log-level", "warn", "--rate-limit", "0"]);
    let dir = server.dir.path().display().to_string();
    let (addr, admin_key) = (server.addr.clone(), server.admin_key());
    let server = Arc::new(Mutex::new(server));
    under_faults(
        "kill -9 under load (SQLite)",
        vec![addr],
        &admin_key,
        kill_and_restart(&server),
        &["--data-dir", &dir],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_kill_9_under_load() {
    let Some(base) = required("TEST_DATABASE_URL") else {
        return;
    };
    let database = Database::create(&base, "hotline_chaos").await;
    let url = database.url();
    let server = Server::start_restartable(&[
        "--database-url",
        &url,
        "--log-level",
        "warn",
        "--rate-limit",
        "0",
    ]);
    let (addr, admin_key) = (server.addr.clone(), server.admin_key());
    let server = Arc::new(Mutex::new(server));
    under_faults(
        "kill -9 under load (PostgreSQL)",
        vec![addr],
        &admin_key,
        kill_and_restart(&server),
        &["--database-url", &url],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outages_under_load_lose_nothing() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.url();
    let server = Server::start(&[
        "--database-url",
        &url,
        "--log-level",
        "error",
        "--rate-limit",
        "0",
    ]);
    let cluster = Arc::new(cluster);
    let outage = {
        let cluster = Arc::clone(&cluster);
        move || {
            cluster.stop();
            std::thread::sleep(Duration::from_secs(2));
            cluster.resume();
        }
    };
    under_faults(
        "PostgreSQL stopped under load",
        vec![server.addr.clone()],
        &server.admin_key(),
        outage,
        &["--database-url", &url],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outages_under_load_lose_nothing() {
    let Some(base) = required("TEST_DATABASE_URL") else {
        return;
    };
    if required("TEST_REDIS_URL").is_none() {
        return;
    }
    let database = Database::create(&base, "hotline_redis_chaos").await;
    let url = database.url();
    let redis = Arc::new(Mutex::new(RedisServer::start()));
    let redis_url = redis.lock().expect("redis").url();
    let args = [
        "--database-url",
        url.as_str(),
        "--redis-url",
        redis_url.as_str(),
        "--log-level",
        "error",
        "--rate-limit",
        "0",
    ];
    let replicas: Vec<Server> = (0..2).map(|_| Server::start(&args)).collect();
    let outage = {
        let redis = Arc::clone(&redis);
        move || {
            let mut redis = redis.lock().expect("redis");
            redis.kill();
            std::thread::sleep(Duration::from_secs(2));
            redis.restart();
        }
    };
    under_faults(
        "Redis killed under load (2 replicas)",
        replicas.iter().map(|r| r.addr.clone()).collect(),
        &replicas[0].admin_key(),
        outage,
        &["--database-url", &url],
    )
    .await;
}

/// Sends `RACERS` copies of one call at once, spread over `channels`, and returns
/// how many succeeded and the codes of the others.
async fn race<F, Fut>(channels: &[Channel], call: F) -> (usize, BTreeMap<String, usize>)
where
    F: Fn(Channel) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let attempts: Vec<_> = (0..RACERS)
        .map(|n| tokio::spawn(call(channels[n % channels.len()].clone())))
        .collect();
    let mut ok = 0;
    let mut refused = BTreeMap::new();
    for attempt in attempts {
        match attempt.await.expect("racer") {
            Ok(()) => ok += 1,
            Err(status) => *refused.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }
    (ok, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_across_replicas_apply_exactly_once() {
    let Some(base) = required("TEST_DATABASE_URL") else {
        return;
    };
    let database = Database::create(&base, "hotline_races").await;
    let url = database.url();
    let args = [
        "--database-url",
        url.as_str(),
        "--log-level",
        "warn",
        "--rate-limit",
        "0",
    ];
    let replicas: Vec<Server> = (0..3).map(|_| Server::start(&args)).collect();
    let mut channels = Vec::new();
    for replica in &replicas {
        channels.push(replica.channel().await);
    }
    let keys = set_up(channels[0].clone(), &replicas[0].admin_key()).await;
    // The other replicas reread reference data every 5 s: wait until they know the bureau.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut client = Client::new(channels[1].clone(), &keys, Arc::clone(&ledger));

    let first = client.create(1).await;
    client
        .advance(&first.id, first.version, Step::Dispatch)
        .await;
    let second = client.create(2).await;
    client
        .advance(&second.id, second.version, Step::Dispatch)
        .await;

    let water = keys.water.clone();
    let (signed, sign_refusals) = race(&channels, |channel| {
        let (key, id) = (water.clone(), first.id.clone());
        async move {
            DepartmentServiceClient::with_interceptor(channel, bearer(&key))
                .sign_ticket(pb::SignTicketRequest {
                    ticket_id: id,
                    expected_version: None,
                    note: String::new(),
                })
                .await
                .map(drop)
        }
    })
    .await;
    let (replied, reply_refusals) = race(&channels, |channel| {
        let (key, id) = (water.clone(), first.id.clone());
        async move {
            DepartmentServiceClient::with_interceptor(channel, bearer(&key))
                .reply_ticket(pb::ReplyTicketRequest {
                    ticket_id: id,
                    expected_version: None,
                    result: pb::ReplyResult::Solved as i32,
                    content: "已修复。".into(),
                })
                .await
                .map(drop)
        }
    })
    .await;
    let (returned, return_refusals) = race(&channels, |channel| {
        let (key, id) = (water.clone(), second.id.clone());
        async move {
            DepartmentServiceClient::with_interceptor(channel, bearer(&key))
                .return_ticket(pb::ReturnTicketRequest {
                    ticket_id: id,
                    expected_version: None,
                    reason: "不属于本单位职责".into(),
                })
                .await
                .map(drop)
        }
    })
    .await;

    let first_actions: Vec<String> = client
        .timeline(&first.id)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    let second_actions: Vec<String> = client
        .timeline(&second.id)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    println!(
        "races across 3 replicas: {RACERS} signs → {signed} ok, refused {sign_refusals:?}; \
         {RACERS} replies → {replied} ok, refused {reply_refusals:?}; {RACERS} returns → \
         {returned} ok, refused {return_refusals:?}; timelines {first_actions:?} and \
         {second_actions:?}"
    );
    assert_eq!((signed, replied, returned), (1, 1, 1));
    for refusals in [&sign_refusals, &reply_refusals, &return_refusals] {
        assert!(
            refusals
                .keys()
                .all(|code| code == "FailedPrecondition" || code == "Aborted"),
            "the losers are refused by the state machine or the version check: {refusals:?}"
        );
    }
    assert_eq!(
        first_actions,
        ["CREATED", "DISPATCHED", "SIGNED", "REPLIED"]
    );
    assert_eq!(second_actions.len(), 3, "{second_actions:?}");
    assert_eq!(second_actions[..2], ["CREATED", "DISPATCHED"]);
    audit_deep(&["--database-url", &url]);
}
