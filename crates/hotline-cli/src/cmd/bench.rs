//! `hotline bench`: a load generator that drives a running server over gRPC
//! and reports throughput, errors by gRPC code and latency percentiles from
//! an HDR histogram.
//!
//! Two ways to apply load:
//! - closed loop (default): `--concurrency` workers send back to back, so the
//!   offered load adapts to the server's speed;
//! - open loop (`--rate R`): operations start at a fixed arrival rate whatever
//!   the server does, and each latency is measured from the operation's
//!   intended start, so time spent queueing behind a slow server is counted
//!   rather than hidden (no coordinated omission). `--concurrency` then caps
//!   operations in flight; an arrival that waits for a slot still counts its
//!   wait, and arrivals that never started by the end are reported as unsent.
//!
//! Scenarios: `intake` (CreateTicket), `loop` (the full life of a ticket) and
//! `supervisor` (read-heavy supervision queries over the existing history).

pub(crate) mod texts;

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use hotline_proto::v1;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tokio::time::Instant;

use self::texts::{Appeal, REGIONS, Rng, TEMPLATES};
use crate::args::GlobalArgs;
use crate::client::{Connection, KeySources, Remote, read_key_file, resolve_key};
use crate::output::{Format, Table, code_name, print_json};
use crate::time::to_proto;

/// `hotline bench`.
#[derive(Debug, Args)]
#[command(after_help = "\
Keys: intake needs an operator key and supervisor a supervisor key (--key, --key-file or
HOTLINE_KEY); loop needs --admin-key-file. Given --admin-key-file, the bench makes the keys
it needs itself (expiring, revoked at the end); for loop it also upserts its departments
(bench.*) and adds routing rules for region 320571, restoring the previous rules at the end.")]
pub struct BenchArgs {
    /// What to drive
    #[arg(long, value_enum, default_value_t = Scenario::Intake)]
    scenario: Scenario,

    /// Workers sending back to back; with --rate, the cap on operations in flight
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    concurrency: u32,

    /// How long to apply load, e.g. 20s or 2m
    #[arg(long, value_name = "SPAN", default_value = "20s", value_parser = duration_arg)]
    duration: Duration,

    /// Open loop: start this many operations per second (a loop operation is one ticket's life)
    #[arg(long, value_name = "R", value_parser = rate_arg)]
    rate: Option<f64>,

    /// Administrator key: lets the bench make its own keys, departments and rules
    #[arg(long, value_name = "PATH")]
    admin_key_file: Option<PathBuf>,
}

/// What the bench drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// CreateTicket with generated appeals (operators at intake)
    Intake,
    /// Each operation is one ticket's life: create, dispatch, sign, reply, review, callback
    Loop,
    /// ListOverdue, ListDueSoon, GetDepartmentStats and FindSimilar over the history
    Supervisor,
}

impl Scenario {
    /// Returns the scenario's name as typed on the command line.
    fn name(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::Loop => "loop",
            Self::Supervisor => "supervisor",
        }
    }
}

/// Parses `--duration`: a span such as `20s` or `2m`, at least one second.
fn duration_arg(text: &str) -> anyhow::Result<Duration> {
    let seconds = crate::time::parse_span_seconds(text)?;
    if seconds < 1 {
        bail!("the duration must be at least 1s");
    }
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

/// Parses `--rate`: operations per second, positive and finite.
fn rate_arg(text: &str) -> anyhow::Result<f64> {
    let rate: f64 = text
        .trim()
        .parse()
        .with_context(|| format!("invalid rate {text:?}: give operations per second, e.g. 50"))?;
    if !rate.is_finite() || rate <= 0.0 || rate > 1_000_000.0 {
        bail!("the rate must be above 0 and at most 1000000 per second");
    }
    Ok(rate)
}

/// Runs the bench and prints its report.
pub async fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<()> {
    let format = global.format();
    let keyring = match &args.admin_key_file {
        Some(path) => {
            let admin = Connection::open(&global.target(), Some(read_key_file(path)?)).await?;
            // Keys outlive the run by a margin, so a crashed bench leaves none valid for long.
            let lifetime = SignedDuration::try_from(args.duration)
                .context("the duration is too long")?
                .checked_add(SignedDuration::from_hours(1))
                .context("the duration is too long")?;
            Some(Arc::new(Keyring::new(
                admin,
                global.target(),
                Timestamp::now() + lifetime,
            )))
        }
        None => None,
    };
    let env_key = std::env::var("HOTLINE_KEY").ok();
    let own_key = resolve_key(KeySources {
        flag: global.key.as_deref(),
        file: global.key_file.as_deref(),
        env: env_key.as_deref(),
        fallback_file: None,
    })?;

    let mut saved_rules = None;
    let prepared = prepare(
        args.scenario,
        &global.target(),
        own_key,
        keyring.as_ref(),
        &mut saved_rules,
    )
    .await;
    let outcome = match prepared {
        Ok(workload) => Ok(drive(Arc::new(workload), &args, format).await),
        Err(error) => Err(error),
    };
    // Clean up even when setup or the run failed half-way.
    if let Some(keyring) = &keyring {
        keyring.tear_down(saved_rules).await;
    }
    let report = outcome?;
    match format {
        Format::Json => print_json(&report.to_json()),
        Format::Text => report.print(),
    }
    Ok(())
}

/// Makes the connections and server-side setup `scenario` needs.
async fn prepare(
    scenario: Scenario,
    target: &Remote,
    own_key: Option<String>,
    keyring: Option<&Arc<Keyring>>,
    saved_rules: &mut Option<Vec<v1::RoutingRule>>,
) -> anyhow::Result<Workload> {
    let scenario_name = scenario.name();
    let connect = |role: v1::Role| async move {
        match (keyring, own_key) {
            (Some(keyring), _) => keyring.mint(role, "").await,
            (None, Some(key)) => Connection::open(target, Some(key)).await,
            (None, None) => bail!(
                "the {scenario_name} scenario needs {} {} key: pass --key, --key-file or \
                 HOTLINE_KEY, or --admin-key-file to let the bench make one",
                if role == v1::Role::Operator {
                    "an"
                } else {
                    "a"
                },
                role_word(role)
            ),
        }
    };
    Ok(match scenario {
        Scenario::Intake => Workload::Intake {
            operator: connect(v1::Role::Operator).await?,
        },
        Scenario::Supervisor => Workload::Supervisor {
            supervisor: connect(v1::Role::Supervisor).await?,
        },
        Scenario::Loop => {
            let Some(keyring) = keyring else {
                bail!(
                    "the loop scenario needs --admin-key-file: it makes its own departments, \
                     routing rules and department keys"
                );
            };
            *saved_rules = Some(keyring.install_loop_setup().await?);
            let operator = keyring.mint(v1::Role::Operator, "").await?;
            for (id, ..) in LOOP_DEPARTMENTS {
                keyring.department(id).await?;
            }
            Workload::Loop {
                operator,
                keyring: Arc::clone(keyring),
            }
        }
    })
}

/// Returns the role's lower-case name for messages.
fn role_word(role: v1::Role) -> &'static str {
    match role {
        v1::Role::Operator => "operator",
        v1::Role::Supervisor => "supervisor",
        v1::Role::Department => "department",
        v1::Role::Admin => "admin",
        _ => "valid",
    }
}

/// A bench department: id, name, region, level.
type BenchDepartment = (&'static str, &'static str, &'static str, i32);

/// The departments the loop scenario hands tickets to, in Suzhou Industrial Park.
const LOOP_DEPARTMENTS: [BenchDepartment; 3] = [
    ("bench.sip.env", "压测·园区生态环境处", "320571", 2),
    ("bench.sip.city", "压测·园区城市管理处", "320571", 2),
    ("bench.sip.housing", "压测·园区物业管理科", "320571", 2),
];

/// The region prefix of the loop's rules and tickets, kept apart from other traffic.
const LOOP_REGION: &str = "320571";

/// The loop's routing rules: id, category, lead department, direct dispatch.
///
/// Three-level categories outrank the usual shallower rules of a server; the
/// two that are not direct leave the ticket for the operator's Dispatch.
const LOOP_RULES: [(&str, &str, &str, bool); 6] = [
    (
        "bench-noise",
        "环境保护/噪声污染/施工噪声",
        "bench.sip.env",
        true,
    ),
    (
        "bench-fumes",
        "环境保护/大气污染/餐饮油烟",
        "bench.sip.env",
        true,
    ),
    (
        "bench-stalls",
        "城乡建设/城市管理/占道经营",
        "bench.sip.city",
        true,
    ),
    (
        "bench-lamps",
        "城乡建设/市政设施/路灯照明",
        "bench.sip.city",
        true,
    ),
    (
        "bench-property",
        "城乡建设/物业管理/物业服务",
        "bench.sip.housing",
        false,
    ),
    (
        "bench-parking",
        "交通运输/道路交通/停车管理",
        "bench.sip.city",
        false,
    ),
];

/// Keys and setup made through the administrator key, undone at the end.
#[derive(Debug)]
struct Keyring {
    /// The administrator's connection.
    admin: Connection,
    /// The server address and TLS files, for the connections of minted keys.
    target: Remote,
    /// When minted keys expire.
    expires_at: Timestamp,
    /// Ids of the keys minted, to revoke.
    minted: Mutex<Vec<String>>,
    /// One connection per department met, made on first use.
    departments: tokio::sync::Mutex<HashMap<String, Connection>>,
}

impl Keyring {
    /// Returns a keyring minting through `admin`.
    fn new(admin: Connection, target: Remote, expires_at: Timestamp) -> Self {
        Self {
            admin,
            target,
            expires_at,
            minted: Mutex::new(Vec::new()),
            departments: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Creates a key of `role` (for `department_id` if a department key) and connects with it.
    async fn mint(&self, role: v1::Role, department_id: &str) -> anyhow::Result<Connection> {
        let name = if department_id.is_empty() {
            format!("bench {}", role_word(role))
        } else {
            format!("bench {department_id}")
        };
        let created = self
            .admin
            .admin()
            .create_api_key(v1::CreateApiKeyRequest {
                role: role.into(),
                department_id: department_id.to_owned(),
                name,
                expires_at: Some(to_proto(self.expires_at)),
            })
            .await
            .with_context(|| format!("cannot create a bench {} key", role_word(role)))?
            .into_inner();
        self.minted
            .lock()
            .map_err(|_| anyhow::anyhow!("the key list was poisoned"))?
            .push(created.key_id);
        Connection::open(&self.target, Some(created.key)).await
    }

    /// Returns a connection with a key of `department_id`, minting it on first use.
    async fn department(&self, department_id: &str) -> anyhow::Result<Connection> {
        let mut departments = self.departments.lock().await;
        if let Some(conn) = departments.get(department_id) {
            return Ok(conn.clone());
        }
        let conn = self.mint(v1::Role::Department, department_id).await?;
        departments.insert(department_id.to_owned(), conn.clone());
        Ok(conn)
    }

    /// Upserts the loop's departments and adds its routing rules to the
    /// server's; returns the rules as they were, to restore.
    async fn install_loop_setup(&self) -> anyhow::Result<Vec<v1::RoutingRule>> {
        let mut admin = self.admin.admin();
        for (id, name, region, level) in LOOP_DEPARTMENTS {
            admin
                .upsert_department(v1::UpsertDepartmentRequest {
                    department: Some(v1::Department {
                        id: id.to_owned(),
                        name: name.to_owned(),
                        parent_id: String::new(),
                        region_code: region.to_owned(),
                        level,
                    }),
                })
                .await
                .with_context(|| format!("cannot upsert bench department {id}"))?;
        }
        let saved = admin
            .get_routing_rules(v1::GetRoutingRulesRequest {})
            .await
            .context("cannot read the routing rules")?
            .into_inner()
            .rules;
        // Rules of an earlier, interrupted run are replaced, not duplicated.
        let mut rules: Vec<v1::RoutingRule> = saved
            .iter()
            .filter(|rule| !rule.id.starts_with("bench-"))
            .cloned()
            .collect();
        rules.extend(
            LOOP_RULES
                .iter()
                .map(|(id, category, lead, direct)| v1::RoutingRule {
                    id: (*id).to_owned(),
                    category_prefix: (*category).to_owned(),
                    region_prefix: LOOP_REGION.to_owned(),
                    appeal_type: v1::AppealType::Unspecified.into(),
                    lead_department_id: (*lead).to_owned(),
                    co_department_ids: Vec::new(),
                    direct_dispatch: *direct,
                }),
        );
        admin
            .put_routing_rules(v1::PutRoutingRulesRequest { rules })
            .await
            .context("cannot add the bench routing rules")?;
        Ok(saved
            .into_iter()
            .filter(|r| !r.id.starts_with("bench-"))
            .collect())
    }

    /// Revokes every minted key and restores `rules` if given; failures are
    /// warnings, as the measurements are already taken.
    async fn tear_down(&self, rules: Option<Vec<v1::RoutingRule>>) {
        let mut admin = self.admin.admin();
        if let Some(rules) = rules
            && let Err(status) = admin
                .put_routing_rules(v1::PutRoutingRulesRequest { rules })
                .await
        {
            tracing::warn!(
                code = code_name(status.code()),
                message = status.message(),
                "cannot restore the routing rules"
            );
        }
        let minted = match self.minted.lock() {
            Ok(mut minted) => std::mem::take(&mut *minted),
            Err(_) => return,
        };
        for key_id in minted {
            if let Err(status) = admin
                .revoke_api_key(v1::RevokeApiKeyRequest {
                    key_id: key_id.clone(),
                })
                .await
            {
                tracing::warn!(key_id = %key_id, code = code_name(status.code()), "cannot revoke a bench key");
            }
        }
    }
}

/// The connections a scenario sends through.
#[derive(Debug)]
enum Workload {
    /// Operators creating tickets.
    Intake {
        /// An operator key.
        operator: Connection,
    },
    /// Tickets taken through their whole life.
    Loop {
        /// An operator key.
        operator: Connection,
        /// Department keys, minted as departments are met.
        keyring: Arc<Keyring>,
    },
    /// Supervisors querying.
    Supervisor {
        /// A supervisor key.
        supervisor: Connection,
    },
}

impl Workload {
    /// Runs one operation; its first RPC's latency counts from `start`, the
    /// intended start in an open loop.
    async fn once(&self, rng: &mut Rng, rec: &Recorder, start: Instant) {
        match self {
            Self::Intake { operator } => {
                let template = rng.pick(TEMPLATES);
                let region = *rng.pick(REGIONS);
                let appeal = Appeal::generate(rng, template, region);
                let request = appeal.create_request(
                    uuid::Uuid::now_v7().to_string(),
                    texts::channel(rng),
                    rng.chance(0.7),
                    rng.chance(0.9),
                );
                let mut client = operator.tickets();
                rec.time("CreateTicket", start, client.create_ticket(request))
                    .await;
            }
            Self::Supervisor { supervisor } => supervise(supervisor, rng, rec, start).await,
            Self::Loop { operator, keyring } => {
                if life_of_a_ticket(operator, keyring, rng, rec, start).await {
                    rec.completed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One supervisor query, chosen by weight.
async fn supervise(conn: &Connection, rng: &mut Rng, rec: &Recorder, start: Instant) {
    let mut supervision = conn.supervision();
    match rng.below(10) {
        0..=2 => {
            let request = v1::ListOverdueRequest {
                page_size: 50,
                ..Default::default()
            };
            rec.time("ListOverdue", start, supervision.list_overdue(request))
                .await;
        }
        3..=5 => {
            let request = v1::ListDueSoonRequest {
                within_seconds: 3 * 86_400,
                page_size: 50,
                ..Default::default()
            };
            rec.time("ListDueSoon", start, supervision.list_due_soon(request))
                .await;
        }
        6..=7 => {
            let now = Timestamp::now();
            let request = v1::GetDepartmentStatsRequest {
                department_id: String::new(),
                period_start: Some(to_proto(now - SignedDuration::from_hours(30 * 24))),
                period_end: Some(to_proto(now)),
            };
            rec.time(
                "GetDepartmentStats",
                start,
                supervision.get_department_stats(request),
            )
            .await;
        }
        _ => {
            let template = rng.pick(TEMPLATES);
            let region = *rng.pick(REGIONS);
            let appeal = Appeal::generate(rng, template, region);
            let request = v1::FindSimilarRequest {
                title: appeal.title,
                body: appeal.body,
                address: appeal.address,
                limit: 10,
                category: appeal.category.to_owned(),
                ..Default::default()
            };
            let mut tickets = conn.tickets();
            rec.time("FindSimilar", start, tickets.find_similar(request))
                .await;
        }
    }
}

/// Takes one ticket from intake to a closing callback; returns whether it closed.
///
/// Each step is a separate RPC with its own latency. A failed step ends the
/// ticket's life (the failure is counted); the ticket stays where it stopped.
async fn life_of_a_ticket(
    operator: &Connection,
    keyring: &Keyring,
    rng: &mut Rng,
    rec: &Recorder,
    start: Instant,
) -> bool {
    let loop_templates: Vec<&texts::Template> = TEMPLATES
        .iter()
        .filter(|t| LOOP_RULES.iter().any(|r| r.1 == t.category))
        .collect();
    let template = *rng.pick(&loop_templates);
    let regions: Vec<texts::Region> = REGIONS
        .iter()
        .copied()
        .filter(|r| r.0.starts_with(LOOP_REGION))
        .collect();
    let region = *rng.pick(&regions);
    let appeal = Appeal::generate(rng, template, region);
    let mut tickets = operator.tickets();
    let request = appeal.create_request(
        uuid::Uuid::now_v7().to_string(),
        texts::channel(rng),
        true,
        true,
    );
    let Some(created) = rec
        .time("CreateTicket", start, tickets.create_ticket(request))
        .await
    else {
        return false;
    };
    let Some(mut ticket) = created.ticket else {
        return false;
    };

    if ticket.status() == v1::TicketStatus::PendingDispatch {
        let lead = LOOP_RULES
            .iter()
            .find(|r| r.1 == appeal.category)
            .map_or(LOOP_DEPARTMENTS[0].0, |r| r.2);
        let request = v1::DispatchRequest {
            ticket_id: ticket.id.clone(),
            expected_version: Some(ticket.version),
            lead_department_id: lead.to_owned(),
            co_department_ids: Vec::new(),
            note: "按属地派单".to_owned(),
        };
        let Some(next) = step(rec, "Dispatch", tickets.dispatch(request)).await else {
            return false;
        };
        ticket = next;
    }

    let department = match keyring.department(&ticket.lead_department_id).await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "cannot get a department key");
            return false;
        }
    };
    let mut dept = department.departments();
    let request = v1::SignTicketRequest {
        ticket_id: ticket.id.clone(),
        expected_version: Some(ticket.version),
        note: "已签收，安排人员核查".to_owned(),
    };
    let Some(signed) = step(rec, "SignTicket", dept.sign_ticket(request)).await else {
        return false;
    };
    ticket = signed;

    // One reply in ten is sent back on review and answered again.
    let mut send_back = rng.chance(0.1);
    loop {
        let request = v1::ReplyTicketRequest {
            ticket_id: ticket.id.clone(),
            expected_version: Some(ticket.version),
            result: if rng.chance(0.8) {
                v1::ReplyResult::Solved
            } else {
                v1::ReplyResult::Explained
            }
            .into(),
            content: "经现场核查，已责令整改，问题已处理完毕，后续将加强巡查。".to_owned(),
        };
        let Some(replied) = step(rec, "ReplyTicket", dept.reply_ticket(request)).await else {
            return false;
        };
        let request = v1::ReviewReplyRequest {
            ticket_id: replied.id.clone(),
            expected_version: Some(replied.version),
            accept: !send_back,
            note: if send_back {
                "答复过于简单，请补充处理结果".to_owned()
            } else {
                String::new()
            },
        };
        let Some(reviewed) = step(rec, "ReviewReply", tickets.review_reply(request)).await else {
            return false;
        };
        ticket = reviewed;
        if !send_back {
            break;
        }
        send_back = false;
    }

    let satisfaction = match rng.below(20) {
        0..=15 => v1::Satisfaction::Satisfied,
        16..=18 => v1::Satisfaction::BasicallySatisfied,
        _ => v1::Satisfaction::Unsatisfied,
    };
    let request = v1::RecordCallbackRequest {
        ticket_id: ticket.id.clone(),
        expected_version: Some(ticket.version),
        contacted: true,
        resolved: satisfaction != v1::Satisfaction::Unsatisfied,
        satisfaction: satisfaction.into(),
        comment: String::new(),
        reopen: false,
    };
    step(rec, "RecordCallback", tickets.record_callback(request))
        .await
        .is_some_and(|t| t.status() == v1::TicketStatus::Closed)
}

/// Times a mutation from now and returns the updated ticket.
async fn step(
    rec: &Recorder,
    op: &'static str,
    call: impl Future<Output = Result<tonic::Response<v1::TicketResponse>, tonic::Status>>,
) -> Option<v1::Ticket> {
    rec.time(op, Instant::now(), call)
        .await
        .and_then(|r| r.ticket)
}

/// Applies the load for the configured duration and returns the report.
async fn drive(workload: Arc<Workload>, args: &BenchArgs, format: Format) -> Report {
    let rec = Arc::new(Recorder::default());
    let bar = progress_bar(args.duration, format);
    let begin = Instant::now();
    let end = begin + args.duration;
    let ticker = tokio::spawn(tick(bar.clone(), Arc::clone(&rec), begin));
    // Different seeds per run, so repeated runs do not send identical texts.
    let seed = u64::try_from(Timestamp::now().as_nanosecond()).unwrap_or_default();
    let mut unsent = 0;
    match args.rate {
        None => {
            let mut workers = tokio::task::JoinSet::new();
            for worker in 0..u64::from(args.concurrency) {
                let workload = Arc::clone(&workload);
                let rec = Arc::clone(&rec);
                let mut rng = Rng::new(seed ^ worker.wrapping_mul(0x9E37_79B9));
                workers.spawn(async move {
                    while Instant::now() < end {
                        workload.once(&mut rng, &rec, Instant::now()).await;
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        }
        Some(rate) => {
            let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency as usize));
            let mut in_flight = tokio::task::JoinSet::new();
            let period = Duration::from_secs_f64(1.0 / rate);
            let mut intended = begin;
            let mut arrival = 0u64;
            while intended < end {
                tokio::time::sleep_until(intended).await;
                let permit = tokio::select! {
                    permit = Arc::clone(&slots).acquire_owned() => permit.ok(),
                    () = tokio::time::sleep_until(end) => None,
                };
                let Some(permit) = permit else {
                    break;
                };
                let workload = Arc::clone(&workload);
                let rec = Arc::clone(&rec);
                let mut rng = Rng::new(seed ^ arrival.wrapping_mul(0x9E37_79B9));
                let start = intended;
                in_flight.spawn(async move {
                    workload.once(&mut rng, &rec, start).await;
                    drop(permit);
                });
                arrival += 1;
                intended = begin + period.mul_f64(arrival as f64);
                // Reap finished tasks so the set does not grow with the run.
                while in_flight.try_join_next().is_some() {}
            }
            // Arrivals due before the end that never got a slot.
            let due = (args.duration.as_secs_f64() * rate).ceil() as u64;
            unsent = due.saturating_sub(arrival);
            while in_flight.join_next().await.is_some() {}
        }
    }
    let elapsed = begin.elapsed();
    ticker.abort();
    // The ticker holds the recorder; wait until it is gone.
    let _ = ticker.await;
    bar.finish_and_clear();
    let tallies = match Arc::try_unwrap(rec) {
        Ok(rec) => rec,
        Err(shared) => Recorder::snapshot(&shared),
    };
    Report::new(args, elapsed, unsent, tallies)
}

/// A progress bar on stderr over the run's duration; hidden for --json or
/// when stderr is not a terminal.
fn progress_bar(duration: Duration, format: Format) -> ProgressBar {
    if format == Format::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Updates the bar with the time gone and the counts so far, five times a second.
async fn tick(bar: ProgressBar, rec: Arc<Recorder>, begin: Instant) {
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    loop {
        interval.tick().await;
        let elapsed = begin.elapsed();
        let requests = rec.requests.load(Ordering::Relaxed);
        let errors = rec.errors.load(Ordering::Relaxed);
        bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        bar.set_message(format!(
            "{requests} requests, {errors} errors, {:.0} req/s",
            requests as f64 / elapsed.as_secs_f64().max(0.001)
        ));
    }
}

/// The highest latency the histograms hold, in microseconds (one minute);
/// slower calls are recorded as this.
const MAX_MICROS: u64 = 60_000_000;

/// Counts and latencies of one RPC.
#[derive(Debug, Clone)]
struct OpTally {
    /// Latencies in microseconds, successes and failures alike.
    latency: Histogram<u64>,
    /// Successful calls.
    ok: u64,
    /// Failed calls by gRPC code name.
    errors: BTreeMap<&'static str, u64>,
    /// The first message seen per failing code, to show what went wrong.
    samples: BTreeMap<&'static str, String>,
}

impl OpTally {
    /// Returns an empty tally.
    fn new() -> Self {
        Self {
            latency: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            samples: BTreeMap::new(),
        }
    }

    /// Returns the number of calls.
    fn requests(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }
}

/// Returns a histogram of 1 µs to one minute at three significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3)
        .expect("1 µs to one minute at three significant digits are valid bounds")
}

/// What the workers record, shared between them.
#[derive(Debug, Default)]
struct Recorder {
    /// Tallies per RPC name.
    ops: Mutex<BTreeMap<&'static str, OpTally>>,
    /// Calls so far, for the progress bar.
    requests: AtomicU64,
    /// Failed calls so far, for the progress bar.
    errors: AtomicU64,
    /// Tickets taken through to CLOSED (loop scenario).
    completed: AtomicU64,
}

impl Recorder {
    /// Awaits `call`, records its latency since `since` and its outcome under
    /// `op`, and returns the response on success.
    async fn time<T>(
        &self,
        op: &'static str,
        since: Instant,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Option<T> {
        let result = call.await;
        let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.requests.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut ops) = self.ops.lock() {
            let tally = ops.entry(op).or_insert_with(OpTally::new);
            tally.latency.saturating_record(micros.clamp(1, MAX_MICROS));
            match &result {
                Ok(_) => tally.ok += 1,
                Err(status) => {
                    let code = code_name(status.code());
                    *tally.errors.entry(code).or_default() += 1;
                    tally
                        .samples
                        .entry(code)
                        .or_insert_with(|| status.message().to_owned());
                }
            }
        }
        result.ok().map(tonic::Response::into_inner)
    }

    /// Copies the tallies out of a recorder still shared (a cancelled task
    /// may hold a reference).
    fn snapshot(shared: &Self) -> Self {
        let ops = shared.ops.lock().map(|ops| ops.clone()).unwrap_or_default();
        Self {
            ops: Mutex::new(ops),
            requests: AtomicU64::new(shared.requests.load(Ordering::Relaxed)),
            errors: AtomicU64::new(shared.errors.load(Ordering::Relaxed)),
            completed: AtomicU64::new(shared.completed.load(Ordering::Relaxed)),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Percentiles {
    /// Median.
    p50: f64,
    /// 90th percentile.
    p90: f64,
    /// 99th percentile.
    p99: f64,
    /// 99.9th percentile.
    p999: f64,
    /// Slowest call.
    max: f64,
    /// Arithmetic mean.
    mean: f64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram in microseconds.
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1_000.0,
        }
    }

    /// Returns the percentiles as a JSON object, rounded to microseconds.
    fn to_json(self) -> serde_json::Value {
        let r = |v: f64| (v * 1_000.0).round() / 1_000.0;
        json!({
            "p50": r(self.p50),
            "p90": r(self.p90),
            "p99": r(self.p99),
            "p99_9": r(self.p999),
            "max": r(self.max),
            "mean": r(self.mean),
        })
    }
}

/// The outcome of a run.
#[derive(Debug)]
struct Report {
    /// The scenario run.
    scenario: Scenario,
    /// Workers, or the in-flight cap with a rate.
    concurrency: u32,
    /// The open-loop arrival rate, if any.
    rate: Option<f64>,
    /// The configured load duration.
    duration: Duration,
    /// Wall time until the last operation finished.
    elapsed: Duration,
    /// Open loop: arrivals that never got a slot before the end.
    unsent: u64,
    /// Tickets closed (loop scenario).
    completed: u64,
    /// Per RPC, in name order.
    ops: BTreeMap<&'static str, OpTally>,
    /// All RPCs together.
    total: OpTally,
}

impl Report {
    /// Builds the report from the recorder's tallies.
    fn new(args: &BenchArgs, elapsed: Duration, unsent: u64, rec: Recorder) -> Self {
        let ops = rec.ops.into_inner().unwrap_or_default();
        let mut total = OpTally::new();
        for tally in ops.values() {
            // Same bounds on both sides, so adding cannot fail.
            let _ = total.latency.add(&tally.latency);
            total.ok += tally.ok;
            for (code, n) in &tally.errors {
                *total.errors.entry(*code).or_default() += n;
            }
            for (code, message) in &tally.samples {
                total
                    .samples
                    .entry(*code)
                    .or_insert_with(|| message.clone());
            }
        }
        Self {
            scenario: args.scenario,
            concurrency: args.concurrency,
            rate: args.rate,
            duration: args.duration,
            elapsed,
            unsent,
            completed: rec.completed.into_inner(),
            ops,
            total,
        }
    }

    /// Returns calls per second over the wall time.
    fn throughput(&self) -> f64 {
        self.total.requests() as f64 / self.elapsed.as_secs_f64().max(0.001)
    }

    /// Returns the report as one JSON document.
    fn to_json(&self) -> serde_json::Value {
        let errors: u64 = self.total.errors.values().sum();
        let operations: serde_json::Map<String, serde_json::Value> = self
            .ops
            .iter()
            .map(|(name, tally)| {
                (
                    (*name).to_owned(),
                    json!({
                        "requests": tally.requests(),
                        "ok": tally.ok,
                        "errors": tally.errors,
                        "latency_ms": Percentiles::of(&tally.latency).to_json(),
                    }),
                )
            })
            .collect();
        let mut doc = json!({
            "scenario": self.scenario.name(),
            "mode": if self.rate.is_some() { "open" } else { "closed" },
            "concurrency": self.concurrency,
            "rate": self.rate,
            "duration_s": self.duration.as_secs_f64(),
            "elapsed_s": (self.elapsed.as_secs_f64() * 1_000.0).round() / 1_000.0,
            "requests": self.total.requests(),
            "ok": self.total.ok,
            "errors": errors,
            "errors_by_code": self.total.errors,
            "error_samples": self.total.samples,
            "throughput_rps": (self.throughput() * 10.0).round() / 10.0,
            "latency_ms": Percentiles::of(&self.total.latency).to_json(),
            "operations": operations,
        });
        if self.rate.is_some() {
            doc["unsent"] = json!(self.unsent);
        }
        if self.scenario == Scenario::Loop {
            doc["tickets_closed"] = json!(self.completed);
        }
        doc
    }

    /// Prints the report as text.
    fn print(&self) {
        let mode = match self.rate {
            Some(rate) => format!(
                "open loop at {rate} ops/s, at most {} in flight",
                self.concurrency
            ),
            None => format!("closed loop, {} workers", self.concurrency),
        };
        println!(
            "scenario {}: {mode}, {} s of load ({:.2} s until the last reply)",
            self.scenario.name(),
            self.duration.as_secs(),
            self.elapsed.as_secs_f64()
        );
        let errors: u64 = self.total.errors.values().sum();
        println!(
            "requests {} ({} ok, {errors} errors), {:.1} req/s",
            self.total.requests(),
            self.total.ok,
            self.throughput()
        );
        if self.scenario == Scenario::Loop {
            println!("tickets closed {}", self.completed);
        }
        if self.rate.is_some() && self.unsent > 0 {
            println!(
                "unsent {} (arrivals that found every slot busy until the end)",
                self.unsent
            );
        }
        for (code, n) in &self.total.errors {
            let sample = self.total.samples.get(code).map_or("", String::as_str);
            println!("error {code}: {n} (e.g. {sample})");
        }
        let mut table = Table::new([
            "RPC", "REQUESTS", "ERRORS", "P50 MS", "P90 MS", "P99 MS", "P99.9 MS", "MAX MS",
        ]);
        let mut row = |name: &str, tally: &OpTally| {
            let p = Percentiles::of(&tally.latency);
            table.row([
                name.to_owned(),
                tally.requests().to_string(),
                tally.errors.values().sum::<u64>().to_string(),
                format!("{:.2}", p.p50),
                format!("{:.2}", p.p90),
                format!("{:.2}", p.p99),
                format!("{:.2}", p.p999),
                format!("{:.2}", p.max),
            ]);
        };
        for (name, tally) in &self.ops {
            row(name, tally);
        }
        if self.ops.len() > 1 {
            row("all", &self.total);
        }
        print!("{}", table.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_are_checked() {
        assert_eq!(duration_arg("20s").expect("20s"), Duration::from_secs(20));
        assert_eq!(duration_arg("2m").expect("2m"), Duration::from_secs(120));
        assert!(duration_arg("0s").is_err());
        assert!(duration_arg("fast").is_err());
        assert_eq!(rate_arg("50").expect("50"), 50.0);
        assert_eq!(rate_arg("0.5").expect("0.5"), 0.5);
        for bad in ["0", "-3", "NaN", "inf", "lots"] {
            assert!(rate_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loop_rules_name_loop_departments_and_templated_categories() {
        for (id, category, lead, _) in LOOP_RULES {
            assert!(
                LOOP_DEPARTMENTS.iter().any(|d| d.0 == lead),
                "rule {id}: unknown lead {lead}"
            );
            assert!(
                TEMPLATES.iter().any(|t| t.category == category),
                "rule {id}: no template for {category}"
            );
        }
        assert!(REGIONS.iter().any(|r| r.0.starts_with(LOOP_REGION)));
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = new_histogram();
        for micros in 1..=1_000u64 {
            h.record(micros * 10).expect("in range");
        }
        let p = Percentiles::of(&h);
        assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.p99 - 9.9).abs() < 0.01, "{p:?}");
        assert!((p.max - 10.0).abs() < 0.01, "{p:?}");
        assert_eq!(Percentiles::of(&new_histogram()).max, 0.0);
    }

    #[tokio::test]
    async fn the_recorder_counts_outcomes_by_code() {
        let rec = Recorder::default();
        let start = Instant::now();
        let ok = rec
            .time("Op", start, async { Ok(tonic::Response::new(7)) })
            .await;
        assert_eq!(ok, Some(7));
        let failed: Option<i32> = rec
            .time("Op", start, async {
                Err(tonic::Status::unavailable("storage down"))
            })
            .await;
        assert_eq!(failed, None);
        let ops = rec.ops.lock().expect("lock");
        let tally = &ops["Op"];
        assert_eq!((tally.ok, tally.requests()), (1, 2));
        assert_eq!(tally.errors.get("UNAVAILABLE"), Some(&1));
        assert_eq!(tally.samples["UNAVAILABLE"], "storage down");
        assert_eq!(tally.latency.len(), 2);
    }
}
