//! `hotline seed`: bulk-loads a realistic history straight into the store, for
//! benchmarks and demos of the supervision queries on years of tickets.
//!
//! Every ticket is built by the domain itself ([`hotline_core::create_ticket`]
//! and [`Ticket::execute`], at instants spread over the chosen years), so its
//! events, projection, deadlines and warning lights are exactly what the server
//! would have written; the backend's `bulk_load` then writes whole batches at
//! once (COPY on PostgreSQL, one transaction of prepared statements on SQLite),
//! with the events' hash chain, assignments, statistics rows and text fingerprints.
//!
//! Most tickets are closed (full loop with a callback, a few answered directly,
//! withdrawn or invalid); the open ones are the most recent, stopped at every
//! stage of the loop, and swept at the present instant so their warning lights
//! are those the sweeper would show: many overdue, some still running.
//! Reproducible: the same `--seed` and flags give the same tickets, except that
//! the years end at the present instant.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use hotline_core::{
    Actor, AppealType, Calendar, Category, Channel, Citizen, Command, Context, DeadlinePolicy,
    Department, DepartmentId, Directory, NewTicket, Priority, ReplyResult, Role, Satisfaction,
    Taxonomy, Ticket, TicketId, TicketStatus, WorkingCalendar,
};
use hotline_proto::v1;
use hotline_server::{Database, ServerConfig};
use hotline_store::Store;
use hotline_store::bulk::History;
use hotline_store_postgres::PgStore;
use hotline_store_sqlite::SqliteStore;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::cmd::bench::texts::{self, Appeal, REGIONS, Rng, TEMPLATES};
use crate::cmd::serve::{SettingFlags, load_config};

/// `hotline seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// TOML configuration file (keys as in docs/configuration.md)
    #[arg(long, env = "HOTLINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Tickets to load
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    tickets: u64,

    /// Years of history, ending now
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
    years: u32,

    /// Days of history instead of years: a recent burst, most deadlines still ahead
    #[arg(long, conflicts_with = "years", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    days: Option<u32>,

    /// Departments to create and hand tickets to (`seed.*` ids)
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=1000))]
    departments: u32,

    /// Share of tickets still open (the most recent ones), from 0 to 1
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    open_fraction: f64,

    /// Seed of the random choices: the same seed gives the same tickets
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Tickets per transaction
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,

    /// Print one JSON document instead of text
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    settings: SettingFlags<true>,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a number from 0 to 1")),
    }
}

impl SeedArgs {
    /// Returns the configuration these arguments, the environment and the file give.
    ///
    /// # Errors
    /// See [`load_config`].
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        load_config(self.config.as_deref(), &self.settings)
    }
}

/// The backend being seeded: bulk loading is an inherent method of each.
enum Target {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Target {
    async fn open(config: &ServerConfig) -> anyhow::Result<Self> {
        Ok(match config.database()? {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                Target::Sqlite(
                    SqliteStore::open(&path)
                        .await
                        .with_context(|| format!("cannot open {}", path.display()))?,
                )
            }
            Database::Postgres(url) => Target::Postgres(
                PgStore::connect(&url)
                    .await
                    .context("cannot open the PostgreSQL database")?,
            ),
        })
    }

    fn store(&self) -> &dyn Store {
        match self {
            Target::Sqlite(store) => store,
            Target::Postgres(store) => store,
        }
    }

    /// Ends a load: PostgreSQL's planner needs statistics of what was loaded.
    async fn finish_load(&self) -> anyhow::Result<()> {
        match self {
            Target::Sqlite(_) => {}
            Target::Postgres(store) => store.analyze().await?,
        }
        Ok(())
    }

    async fn bulk_load(&self, batch: &[History], calendar: &dyn Calendar) -> anyhow::Result<u64> {
        Ok(match self {
            Target::Sqlite(store) => store.bulk_load(batch, calendar).await?,
            Target::Postgres(store) => store.bulk_load(batch, calendar).await?,
        })
    }
}

/// What a seed run wrote.
#[derive(Debug, Default, Clone)]
struct Tally {
    tickets: u64,
    events: u64,
    by_status: HashMap<TicketStatus, u64>,
    overdue: u64,
}

/// Runs `hotline seed`.
pub async fn run(config: ServerConfig, args: &SeedArgs) -> anyhow::Result<()> {
    let time_zone = TimeZone::get(&config.time_zone)
        .with_context(|| format!("time_zone {:?} is not a known zone", config.time_zone))?;
    let target = Target::open(&config).await?;
    let store = target.store();
    let now = Timestamp::now();
    let existing: u64 = store
        .ticket_counts(now)
        .await?
        .by_status
        .iter()
        .map(|(_, n)| n)
        .sum();
    if existing > 0 {
        anyhow::bail!(
            "the database already holds {existing} tickets; seed fills an empty database"
        );
    }
    let departments = departments(args.departments);
    for department in &departments {
        store.upsert_department(department).await?;
    }
    let plan = Plan {
        tickets: args.tickets,
        open: open_count(args.tickets, args.open_fraction),
        start: now
            .checked_sub(SignedDuration::from_hours(match args.days {
                Some(days) => i64::from(days) * 24,
                None => i64::from(args.years) * 365 * 24,
            }))
            .context("--years reaches before the representable range")?,
        now,
        seed: args.seed,
        center: config.center.clone(),
        time_zone,
        time_zone_name: config.time_zone.clone(),
        departments,
    };
    let calendar = default_calendar(&config.time_zone);

    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.tickets).with_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} tickets  {per_sec}  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let began = Instant::now();
    // The domain builds tickets on its own thread while the store writes the
    // previous batch: two batches in flight at most.
    let (sender, mut batches) = tokio::sync::mpsc::channel::<(Vec<History>, Tally)>(2);
    let batch_size = args.batch as usize;
    let builder = std::thread::spawn(move || {
        plan.build(batch_size, |batch| sender.blocking_send(batch).is_ok())
    });
    let mut tally = Tally::default();
    while let Some((batch, counted)) = batches.recv().await {
        let events = target
            .bulk_load(&batch, &calendar)
            .await
            .context("bulk load failed")?;
        tally.tickets += counted.tickets;
        tally.events += events;
        tally.overdue += counted.overdue;
        for (status, n) in counted.by_status {
            *tally.by_status.entry(status).or_default() += n;
        }
        bar.inc(counted.tickets);
    }
    let built = builder
        .join()
        .map_err(|_| anyhow::anyhow!("the ticket builder panicked"))?;
    built?;
    target
        .finish_load()
        .await
        .context("cannot refresh the planner's statistics")?;
    bar.finish_and_clear();
    store.close().await;
    let elapsed = began.elapsed().as_secs_f64();
    let mut statuses: Vec<(TicketStatus, u64)> = tally.by_status.into_iter().collect();
    statuses.sort_by_key(|(status, _)| status.as_str());
    if args.json {
        let by_status: serde_json::Map<String, serde_json::Value> = statuses
            .iter()
            .map(|(status, n)| (status.as_str().to_owned(), (*n).into()))
            .collect();
        let doc = serde_json::json!({
            "tickets": tally.tickets,
            "events": tally.events,
            "departments": args.departments,
            "by_status": by_status,
            "overdue": tally.overdue,
            "seconds": elapsed,
        });
        println!("{doc}");
    } else {
        println!(
            "seeded {} tickets ({} events) in {elapsed:.1} s ({:.0} tickets/s)",
            tally.tickets,
            tally.events,
            tally.tickets as f64 / elapsed.max(1e-9)
        );
        for (status, n) in statuses {
            println!("  {:<17} {n}", status.as_str());
        }
        println!("  overdue now       {}", tally.overdue);
    }
    Ok(())
}

/// Open tickets for `fraction` of `tickets`, rounded to the nearest.
fn open_count(tickets: u64, fraction: f64) -> u64 {
    ((tickets as f64 * fraction).round() as u64).min(tickets)
}

/// The calendar the server uses until an administrator puts one (see `serve`).
fn default_calendar(time_zone: &str) -> WorkingCalendar {
    let china = WorkingCalendar::china_default();
    if china.time_zone_name() == time_zone {
        china
    } else {
        WorkingCalendar::weekdays(time_zone)
    }
}

/// Districts of the seeded departments: region code prefix and name.
const DISTRICTS: &[(&str, &str, &str)] = &[
    ("gusu", "320508", "姑苏区"),
    ("wuzhong", "320506", "吴中区"),
    ("xiangcheng", "320507", "相城区"),
    ("huqiu", "320505", "虎丘区"),
    ("wujiang", "320509", "吴江区"),
    ("sip", "320571", "工业园区"),
    ("kunshan", "320583", "昆山市"),
    ("city", "3205", "苏州市"),
];

/// Bureaus of each district, and the first taxonomy level each answers for.
const BUREAUS: &[(&str, &str, &[&str])] = &[
    ("env", "生态环境局", &["环境保护"]),
    ("housing", "住房和城乡建设局", &["城乡建设"]),
    ("transport", "交通运输局", &["交通运输"]),
    ("hrss", "人力资源和社会保障局", &["劳动和社会保障"]),
    ("urban", "城市管理局", &[]),
];

/// `count` departments: each bureau of each district in turn (`seed.<district>.<bureau>`).
fn departments(count: u32) -> Vec<Department> {
    (0..count as usize)
        .map(|k| {
            let (bureau_id, bureau_name, _) = BUREAUS[k % BUREAUS.len()];
            let round = k / BUREAUS.len();
            let (district_id, region, district_name) = DISTRICTS[round % DISTRICTS.len()];
            let lap = round / DISTRICTS.len();
            let suffix = if lap == 0 {
                String::new()
            } else {
                format!(".{lap}")
            };
            Department {
                id: DepartmentId::new(format!("seed.{district_id}.{bureau_id}{suffix}")),
                name: format!("{district_name}{bureau_name}{suffix}"),
                parent_id: None,
                region_code: region.to_owned(),
                level: 1,
            }
        })
        .collect()
}

/// Everything the builder thread needs.
struct Plan {
    tickets: u64,
    open: u64,
    start: Timestamp,
    now: Timestamp,
    seed: u64,
    center: String,
    time_zone: TimeZone,
    time_zone_name: String,
    departments: Vec<Department>,
}

/// Where an open ticket stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    PendingDispatch,
    Dispatched,
    InProgress,
    Replied,
    Closed,
}

/// How a closed ticket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Callback,
    AnsweredDirectly,
    Withdrawn,
    Invalid,
}

impl Plan {
    /// Builds every ticket, handing batches to `send` until it returns false.
    fn build(
        self,
        batch_size: usize,
        mut send: impl FnMut((Vec<History>, Tally)) -> bool,
    ) -> anyhow::Result<()> {
        let calendar = default_calendar(&self.time_zone_name);
        let directory = Directory::new(self.departments.clone(), Taxonomy::builtin());
        let policy = DeadlinePolicy::default();
        let world = World {
            calendar: &calendar,
            directory: &directory,
            policy: &policy,
        };
        let mut rng = Rng::new(self.seed);
        let span = self.now.duration_since(self.start).as_secs_f64();
        // The open tickets are drawn from the most recent ones (selection
        // sampling: exactly `open` of the last `window`).
        let window = (self.open * 3).min(self.tickets);
        let mut open_left = self.open;
        let mut day_seq: (String, u32) = (String::new(), 0);
        let mut batch = Vec::with_capacity(batch_size);
        let mut tally = Tally::default();
        for i in 0..self.tickets {
            let offset = (i as f64 + rng_unit(&mut rng)) / self.tickets as f64 * span;
            let created = self
                .start
                .checked_add(SignedDuration::from_secs_f64(offset))
                .unwrap_or(self.now)
                .min(self.now);
            let remaining = self.tickets - i;
            let open =
                remaining <= window && open_left > 0 && (rng.next_u64() % remaining) < open_left;
            if open {
                open_left -= 1;
            }
            let day = created
                .to_zoned(self.time_zone.clone())
                .strftime("%Y%m%d")
                .to_string();
            if day_seq.0 == day {
                day_seq.1 += 1;
            } else {
                day_seq = (day, 1);
            }
            let number = format!("{}-{}-{:06}", self.center, day_seq.0, day_seq.1);
            let history = self
                .ticket(&world, &mut rng, created, &number, open)
                .with_context(|| format!("cannot build ticket {number}"))?;
            tally.tickets += 1;
            *tally.by_status.entry(history.ticket.status).or_default() += 1;
            if history
                .ticket
                .running_deadline()
                .is_some_and(|(_, due)| due < self.now)
            {
                tally.overdue += 1;
            }
            batch.push(history);
            if batch.len() == batch_size {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                if !send((full, std::mem::take(&mut tally))) {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            send((batch, tally));
        }
        Ok(())
    }

    /// Builds one ticket's life from `created` on.
    fn ticket(
        &self,
        world: &World<'_>,
        rng: &mut Rng,
        created: Timestamp,
        number: &str,
        open: bool,
    ) -> anyhow::Result<History> {
        let template = rng.pick(TEMPLATES);
        let region = *rng.pick(REGIONS);
        let appeal = Appeal::generate(rng, template, region);
        let (stage, ending) = if open {
            let stage = match rng.below(20) {
                0..=1 => Stage::PendingDispatch,
                2..=5 => Stage::Dispatched,
                6..=16 => Stage::InProgress,
                _ => Stage::Replied,
            };
            (stage, Ending::Callback)
        } else {
            let ending = match rng.below(50) {
                0..=3 if appeal.appeal_type == v1::AppealType::Consultation => {
                    Ending::AnsweredDirectly
                }
                0..=3 => Ending::Callback,
                4 => Ending::Withdrawn,
                5 => Ending::Invalid,
                _ => Ending::Callback,
            };
            (Stage::Closed, ending)
        };
        let appeal_type =
            proto_enum::<AppealType>(appeal.appeal_type.as_str_name(), "APPEAL_TYPE_")?;
        let new = NewTicket {
            channel: proto_enum::<Channel>(texts::channel(rng).as_str_name(), "CHANNEL_")?,
            appeal_type,
            priority: proto_enum::<Priority>(appeal.priority.as_str_name(), "PRIORITY_")?,
            citizen: Citizen {
                name: appeal.name.clone(),
                phone: appeal.phone.clone(),
                anonymous: false,
                confidential: false,
                // The sweeper closes a replied ticket nobody will call back, so the
                // open ones awaiting review all want a callback.
                wants_callback: stage == Stage::Replied || rng.chance(0.9),
            },
            title: appeal.title.clone(),
            body: appeal.body.clone(),
            address: appeal.address.clone(),
            region_code: appeal.region_code.to_owned(),
            location: None,
            category: Some(Category {
                path: appeal.category.to_owned(),
                label: appeal.category.to_owned(),
                confidence: 1.0,
                overridden: true,
                code: world
                    .directory
                    .taxonomy
                    .code_of(appeal.category)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            auto_dispatch: None,
            routing: None,
        };
        let id = TicketId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(
                u64::try_from(created.as_millisecond()).unwrap_or_default(),
                &rng.next_u64().to_le_bytes().repeat(2)[..10]
                    .try_into()
                    .unwrap_or([0; 10]),
            )
            .into_uuid(),
        );
        let operator = Actor {
            id: "seed-operator".to_owned(),
            role: Role::Operator,
            department_id: None,
        };
        let decision = hotline_core::create_ticket(id, number, new, &world.at(created, &operator))?;
        let mut life = Life {
            ticket: decision.ticket,
            events: decision.events,
            at: created,
            now: self.now,
        };

        match ending {
            Ending::AnsweredDirectly => {
                life.wait(minutes(rng, 2, 15));
                life.run(
                    world,
                    &operator,
                    Command::AnswerDirectly {
                        content: "已告知市民办理流程和所需材料。".to_owned(),
                    },
                )?;
                return Ok(life.finish());
            }
            Ending::Invalid => {
                life.wait(minutes(rng, 5, 60));
                life.run(
                    world,
                    &operator,
                    Command::MarkInvalid {
                        reason: "无实际诉求内容".to_owned(),
                    },
                )?;
                return Ok(life.finish());
            }
            Ending::Withdrawn | Ending::Callback => {}
        }
        if stage == Stage::PendingDispatch {
            return Ok(life.sweep(world));
        }
        let lead = self.lead_for(rng, appeal.category, appeal.region_code);
        life.wait(minutes(rng, 5, 180));
        life.run(
            world,
            &operator,
            Command::Dispatch {
                lead_department_id: lead.clone(),
                co_department_ids: Vec::new(),
                note: "按属地和职责派单".to_owned(),
            },
        )?;
        if ending == Ending::Withdrawn {
            life.wait(minutes(rng, 60, 2 * 24 * 60));
            life.run(
                world,
                &operator,
                Command::Withdraw {
                    reason: "市民来电表示问题已自行解决".to_owned(),
                },
            )?;
            return Ok(life.finish());
        }
        if stage == Stage::Dispatched {
            return Ok(life.sweep(world));
        }
        let department = Actor {
            id: format!("seed-key-{}", lead.as_str()),
            role: Role::Department,
            department_id: Some(lead.clone()),
        };
        // Mostly on time; one in ten signs late.
        let sign_after = if rng.chance(0.1) {
            minutes(rng, 24 * 60, 4 * 24 * 60)
        } else {
            minutes(rng, 20, 12 * 60)
        };
        life.wait(sign_after);
        life.run(
            world,
            &department,
            Command::Sign {
                note: "已签收，安排人员核查".to_owned(),
            },
        )?;
        if stage == Stage::InProgress {
            return Ok(life.sweep(world));
        }
        let reply_after = if rng.chance(0.1) {
            minutes(rng, 10 * 24 * 60, 30 * 24 * 60)
        } else {
            minutes(rng, 4 * 60, 8 * 24 * 60)
        };
        life.wait(reply_after);
        if stage == Stage::Replied {
            // A reply awaiting review is recent: older ones would be reviewed,
            // or closed by the sweeper once their callback fell due.
            let recent = self
                .now
                .checked_sub(minutes(rng, 30, 20 * 60))
                .unwrap_or(self.now);
            life.at = life.at.max(recent);
        }
        life.run(
            world,
            &department,
            Command::Reply {
                result: if rng.chance(0.8) {
                    ReplyResult::Solved
                } else {
                    ReplyResult::Explained
                },
                content: "经现场核查，已责令整改，问题已处理完毕，后续将加强巡查。".to_owned(),
            },
        )?;
        if stage == Stage::Replied {
            return Ok(life.sweep(world));
        }
        life.wait(minutes(rng, 30, 8 * 60));
        life.run(
            world,
            &operator,
            Command::ReviewReply {
                accept: true,
                note: String::new(),
            },
        )?;
        life.wait(minutes(rng, 60, 3 * 24 * 60));
        if life.ticket.citizen.wants_callback {
            let satisfaction = match rng.below(20) {
                0..=15 => Satisfaction::Satisfied,
                16..=18 => Satisfaction::BasicallySatisfied,
                _ => Satisfaction::Unsatisfied,
            };
            life.run(
                world,
                &operator,
                Command::RecordCallback {
                    contacted: true,
                    resolved: satisfaction != Satisfaction::Unsatisfied,
                    satisfaction: Some(satisfaction),
                    comment: String::new(),
                    reopen: false,
                },
            )?;
        } else {
            life.run(world, &Actor::system(), Command::AutoClose)?;
        }
        Ok(life.finish())
    }

    /// The department of the ticket's district whose bureau answers for its
    /// category, else the district's city-management bureau, else any.
    fn lead_for(&self, rng: &mut Rng, category: &str, region_code: &str) -> DepartmentId {
        let top = category.split('/').next().unwrap_or_default();
        let bureau = BUREAUS
            .iter()
            .find(|(_, _, tops)| tops.contains(&top))
            .map_or("urban", |(id, _, _)| *id);
        let district = DISTRICTS
            .iter()
            .find(|(_, prefix, _)| region_code.starts_with(prefix))
            .map_or("city", |(id, _, _)| *id);
        let wanted = format!("seed.{district}.{bureau}");
        self.departments
            .iter()
            .find(|d| d.id.as_str() == wanted)
            .or_else(|| {
                let fallback = format!("seed.{district}.urban");
                self.departments.iter().find(|d| d.id.as_str() == fallback)
            })
            .unwrap_or_else(|| rng.pick(&self.departments))
            .id
            .clone()
    }
}

/// Reference data shared by every command of a seed run.
struct World<'a> {
    calendar: &'a dyn Calendar,
    directory: &'a Directory,
    policy: &'a DeadlinePolicy,
}

impl World<'_> {
    fn at<'b>(&'b self, now: Timestamp, actor: &'b Actor) -> Context<'b> {
        Context {
            now,
            actor,
            policy: self.policy,
            calendar: self.calendar,
            directory: self.directory,
        }
    }
}

/// A ticket being walked through its life, never past the present instant.
struct Life {
    ticket: Ticket,
    events: Vec<hotline_core::Event>,
    at: Timestamp,
    now: Timestamp,
}

impl Life {
    fn wait(&mut self, by: SignedDuration) {
        self.at = self.at.checked_add(by).unwrap_or(self.now).min(self.now);
    }

    fn run(&mut self, world: &World<'_>, actor: &Actor, command: Command) -> anyhow::Result<()> {
        let action = command.action();
        let decision = self
            .ticket
            .execute(&command, &world.at(self.at, actor))
            .with_context(|| format!("{action} refused"))?;
        self.ticket = decision.ticket;
        self.events.extend(decision.events);
        Ok(())
    }

    /// Lets the sweeper look at an open ticket at the present instant, as it
    /// would have: its warning light shows how late it is.
    fn sweep(mut self, world: &World<'_>) -> History {
        let system = Actor::system();
        if let Some(decision) = self.ticket.sweep(&world.at(self.now, &system)) {
            self.ticket = decision.ticket;
            self.events.extend(decision.events);
        }
        self.finish()
    }

    fn finish(self) -> History {
        History {
            ticket: self.ticket,
            events: self.events,
        }
    }
}

/// A uniform number in [0, 1).
fn rng_unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
}

/// A duration of `low` to `high` minutes.
fn minutes(rng: &mut Rng, low: i64, high: i64) -> SignedDuration {
    let span = usize::try_from((high - low).max(1)).unwrap_or(1);
    SignedDuration::from_mins(low + i64::try_from(rng.below(span)).unwrap_or(0))
}

/// Maps a proto enum's name (`APPEAL_TYPE_COMPLAINT`) to the domain's code (`COMPLAINT`).
fn proto_enum<T>(name: &str, prefix: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(name.strip_prefix(prefix).unwrap_or(name).parse::<T>()?)
}
