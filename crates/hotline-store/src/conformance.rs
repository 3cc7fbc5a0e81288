//! The conformance suite: one set of test bodies written against the [`Store`] trait,
//! which every backend runs, so the closed loop behaves the same on SQLite and PostgreSQL.
//!
//! A backend instantiates the whole suite with one macro call in an integration test.
//! `fresh` is an async expression yielding a guard that owns a new, empty database (a
//! temp dir, a throwaway PostgreSQL database) and cleans it up on drop; `open` is an async
//! closure that opens a store on that guard, and may be called again after the store was
//! closed, which is how the durability case reopens the same database:
//!
//! ```ignore
//! hotline_store::conformance_suite!(
//!     sqlite,
//!     fresh = async { tempfile::tempdir() },
//!     open = async |dir: &tempfile::TempDir| SqliteStore::open(&dir.path().join("hotline.db")).await,
//! );
//! ```
//!
//! The macro expands to a module named after the backend with one
//! `#[tokio::test(flavor = "multi_thread")]` per case, so each case shows up by name
//! (`sqlite::concurrent_signs_admit_exactly_one`). The calling crate needs `tokio` (with
//! `macros` and `rt-multi-thread`) among its dev-dependencies.
//!
//! Every case ends with [`assert_projection_matches_events`]: for every ticket in the
//! store, the stored projection equals the replay of its stored timeline.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use hotline_core::{
    Action, Actor, AlwaysOpen, AppealType, AssignmentRole, AssignmentStatus, Calendar, Category,
    Channel, Citizen, CloseReason, Command, Context, DeadlineKind, DeadlinePolicy, Department,
    DepartmentId, DepartmentStats, Directory, DomainError, EventKind, GeoPoint, Limit, NewTicket,
    Priority, ReplyResult, Role, Satisfaction, StatsBuilder, Taxonomy, Ticket, TicketId,
    TicketStatus, WarningLevel,
};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use hotline_core::similar::{SIMILAR_THRESHOLD, Signature};

use crate::{
    ApiKeyRecord, Applied, CreateTicket, Created, DeadlineItem, DeadlineQuery, HotspotCount,
    HotspotQuery, PageRequest, RecentTickets, StatsQuery, Store, StoreError, StoreResult,
    StoredEvent, SweptBatch, TicketFilter,
};

/// Instantiates the conformance suite for one backend; see the [module docs](self).
///
/// With `skip_unless_env = "VAR"`, each case passes without running when `VAR` is unset
/// (for backends that need a server, e.g. PostgreSQL with `TEST_DATABASE_URL`), unless
/// `HOTLINE_REQUIRE_SERVERS=1`, which makes it fail instead (see [`skipped`]).
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ident, fresh = $fresh:expr, open = $open:expr $(,)?) => {
        $crate::__conformance_suite!($backend, $fresh, $open, ::core::option::Option::None);
    };
    (
        $backend:ident,
        fresh = $fresh:expr,
        open = $open:expr,
        skip_unless_env = $var:literal $(,)?
    ) => {
        $crate::__conformance_suite!($backend, $fresh, $open, ::core::option::Option::Some($var));
    };
}

/// Lists the cases of [`conformance_suite!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_suite {
    ($backend:ident, $fresh:expr, $open:expr, $skip:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            $crate::__conformance_cases!(
                $fresh,
                $open,
                $skip;
                create_is_idempotent_and_numbers_run_per_day,
                concurrent_signs_admit_exactly_one,
                full_loop_closes_with_versions_and_timeline,
                returns_are_decided_and_limited_by_policy,
                joint_handling_lets_only_the_lead_reply,
                merge_folds_a_duplicate_into_its_master,
                deadline_listing_finds_overdue_and_due_soon,
                stale_expected_version_conflicts_and_writes_nothing,
                refused_commands_and_bad_input_write_nothing,
                ticket_listing_scopes_filters_and_pages,
                events_after_resumes_from_any_id,
                reference_data_settings_and_api_keys,
                reopened_store_keeps_everything,
                sweeper_takes_due_tickets_and_lights_each_level_once,
                sweeper_closes_replied_tickets_nobody_calls_back,
                deadline_listing_filters_by_level_and_follows_delegation,
                recent_tickets_follow_the_event_log_within_the_window,
                hotspot_counts_group_by_category_and_region_with_trend,
                event_log_forms_a_verifiable_hash_chain_per_ticket,
                department_totals_follow_every_change_of_a_part,
            );
        }
    };
}

/// Expands one test per case of [`conformance_suite!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($fresh:expr, $open:expr, $skip:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread")]
            async fn $case() {
                if $crate::conformance::skipped($skip) {
                    return;
                }
                let guard = $fresh.await.expect("the backend prepares a fresh database");
                let harness = $crate::conformance::Harness::new(guard, $open);
                $crate::conformance::$case(&harness).await;
            }
        )+
    };
}

/// The environment variable that turns a skip into a failure: CI sets it to `1`, so a
/// suite that needs a server cannot pass there by silently not running.
pub const REQUIRE_SERVERS_ENV: &str = "HOTLINE_REQUIRE_SERVERS";

/// Returns whether a case should not run because the environment variable it needs is
/// unset; says so on stderr.
///
/// # Panics
/// When the variable is unset while [`REQUIRE_SERVERS_ENV`] is `1`.
pub fn skipped(needs_env: Option<&str>) -> bool {
    match needs_env {
        Some(var) if std::env::var_os(var).is_none() => {
            if std::env::var(REQUIRE_SERVERS_ENV).is_ok_and(|v| v == "1") {
                panic!("{var} is not set, but {REQUIRE_SERVERS_ENV}=1 requires this case to run");
            }
            eprintln!("skipped: {var} is not set");
            true
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A backend under test: it opens stores on one database, as often as asked.
pub trait Backend {
    /// The store type.
    type Store: Store;

    /// Opens a store on this backend's database (again, after a previous one was closed).
    fn open(&self) -> impl Future<Output = Self::Store>;
}

/// A [`Backend`] made of a guard owning a fresh database and an async closure opening it.
pub struct Harness<G, O, S> {
    guard: G,
    open: O,
    store: PhantomData<fn() -> S>,
}

impl<G, O, S> std::fmt::Debug for Harness<G, O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

impl<G, O, S> Harness<G, O, S>
where
    O: AsyncFn(&G) -> StoreResult<S>,
    S: Store,
{
    /// Pairs a database guard with the closure that opens a store on it.
    pub fn new(guard: G, open: O) -> Self {
        Self {
            guard,
            open,
            store: PhantomData,
        }
    }
}

impl<G, O, S> Backend for Harness<G, O, S>
where
    O: AsyncFn(&G) -> StoreResult<S>,
    S: Store,
{
    type Store = S;

    async fn open(&self) -> S {
        match (self.open)(&self.guard).await {
            Ok(store) => store,
            Err(error) => panic!("the backend could not open a store: {error}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// Center code of every fixture ticket number.
pub const CENTER: &str = "SZ";
/// A city bureau with two street offices below it (城管局).
pub const CITY_BUREAU: &str = "sz.cgj";
/// First street office under [`CITY_BUREAU`].
pub const STREET_A: &str = "sz.cgj.shuangta";
/// Second street office under [`CITY_BUREAU`].
pub const STREET_B: &str = "sz.cgj.pingjiang";
/// The environment bureau.
pub const ENV_BUREAU: &str = "sz.hbj";
/// The water bureau.
pub const WATER_BUREAU: &str = "sz.swj";
/// The housing bureau.
pub const HOUSING_BUREAU: &str = "sz.zjj";

/// Returns the fixture department tree.
pub fn departments() -> Vec<Department> {
    let department = |id: &str, name: &str, parent: Option<&str>, region: &str, level| Department {
        id: id.into(),
        name: name.to_owned(),
        parent_id: parent.map(DepartmentId::from),
        region_code: region.to_owned(),
        level,
    };
    vec![
        department(CITY_BUREAU, "苏州市城市管理局", None, "320500", 1),
        department(
            STREET_A,
            "双塔街道办事处",
            Some(CITY_BUREAU),
            "320508001",
            2,
        ),
        department(
            STREET_B,
            "平江街道办事处",
            Some(CITY_BUREAU),
            "320508002",
            2,
        ),
        department(ENV_BUREAU, "苏州市生态环境局", None, "320500", 1),
        department(WATER_BUREAU, "苏州市水务局", None, "320500", 1),
        department(HOUSING_BUREAU, "苏州市住房和城乡建设局", None, "320500", 1),
    ]
}

/// Returns an operator credential (call center).
pub fn operator() -> Actor {
    Actor {
        id: "key-operator".to_owned(),
        role: Role::Operator,
        department_id: None,
    }
}

/// Returns a supervisor credential.
pub fn supervisor() -> Actor {
    Actor {
        id: "key-supervisor".to_owned(),
        role: Role::Supervisor,
        department_id: None,
    }
}

/// Returns an administrator credential.
pub fn admin() -> Actor {
    Actor {
        id: "key-admin".to_owned(),
        role: Role::Admin,
        department_id: None,
    }
}

/// Returns the service's own credential (sweeper, auto-close).
pub fn system() -> Actor {
    Actor::system()
}

/// Returns a credential bound to one department.
pub fn department(id: &str) -> Actor {
    Actor {
        id: format!("key-{id}"),
        role: Role::Department,
        department_id: Some(id.into()),
    }
}

/// Reference data and policy every case runs against.
#[derive(Debug)]
pub struct World {
    /// The fixture departments and the builtin taxonomy.
    pub directory: Directory,
    /// The deadline policy in force.
    pub policy: DeadlinePolicy,
    /// Calendar time: a working day is 24 hours.
    pub calendar: AlwaysOpen,
}

impl Default for World {
    fn default() -> Self {
        Self::with_policy(DeadlinePolicy::default())
    }
}

impl World {
    /// Returns the fixture world with the default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the fixture world with another policy.
    pub fn with_policy(policy: DeadlinePolicy) -> Self {
        Self {
            directory: Directory::new(departments(), Taxonomy::builtin()),
            policy,
            calendar: AlwaysOpen,
        }
    }

    /// Returns the context of a command by `actor` at `now`.
    pub fn ctx<'a>(&'a self, actor: &'a Actor, now: Timestamp) -> Context<'a> {
        Context {
            now,
            actor,
            policy: &self.policy,
            calendar: &self.calendar,
            directory: &self.directory,
        }
    }
}

/// Returns the suite's epoch: Monday 2026-03-02 09:00 in Suzhou.
pub fn t0() -> Timestamp {
    Timestamp::from_second(1_772_413_200).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Returns `n` minutes.
pub fn mins(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

/// Returns `n` hours.
pub fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

/// Returns `n` days of 24 hours.
pub fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// Returns the `YYYYMMDD` of an instant (UTC; the store does not care which zone).
pub fn day_of(now: Timestamp) -> String {
    now.strftime("%Y%m%d").to_string()
}

/// Returns a fresh ticket id.
pub fn new_id() -> TicketId {
    TicketId::from_uuid(Uuid::now_v7())
}

/// Returns a valid appeal about a street light, to be adjusted per case.
pub fn appeal(title: &str) -> NewTicket {
    NewTicket {
        routing: None,
        channel: Channel::Phone,
        appeal_type: AppealType::Request,
        priority: Priority::Normal,
        citizen: Citizen {
            name: "张三".to_owned(),
            phone: "13812345678".to_owned(),
            anonymous: false,
            confidential: false,
            wants_callback: true,
        },
        title: title.to_owned(),
        body: format!("{title}，请尽快处理。"),
        address: "姑苏区人民路100号".to_owned(),
        region_code: "320508001".to_owned(),
        location: Some(GeoPoint {
            latitude: 31.298_886,
            longitude: 120.585_316,
        }),
        category: Some(category("城乡建设/市政设施/路灯照明")),
        auto_dispatch: None,
    }
}

/// Returns a category chosen by the classifier with a non-round confidence.
pub fn category(path: &str) -> Category {
    Category {
        code: String::new(),
        path: path.to_owned(),
        label: path.to_owned(),
        confidence: 0.873_1,
        overridden: false,
    }
}

/// Returns a create request for `new`, numbered on the day of `now`.
pub fn create_request(new: NewTicket, now: Timestamp, request_id: Option<&str>) -> CreateTicket {
    CreateTicket {
        request_id: request_id.map(str::to_owned),
        id: new_id(),
        center: CENTER.to_owned(),
        day: day_of(now),
        ticket: new,
    }
}

/// Returns a dispatch to `lead` with co-handlers.
pub fn dispatch(lead: &str, co: &[&str]) -> Command {
    Command::Dispatch {
        lead_department_id: lead.into(),
        co_department_ids: co.iter().map(|d| DepartmentId::from(*d)).collect(),
        note: String::new(),
    }
}

/// Returns a sign-for.
pub fn sign() -> Command {
    Command::Sign {
        note: String::new(),
    }
}

/// Returns a reply saying the matter is solved.
pub fn reply() -> Command {
    Command::Reply {
        result: ReplyResult::Solved,
        content: "已派人维修，现已恢复。".to_owned(),
    }
}

/// Returns a callback that reached the citizen.
pub fn callback(satisfaction: Satisfaction, reopen: bool) -> Command {
    Command::RecordCallback {
        contacted: true,
        resolved: satisfaction != Satisfaction::Unsatisfied,
        satisfaction: Some(satisfaction),
        comment: String::new(),
        reopen,
    }
}

/// A store opened on a fresh database, with the world its commands run in.
#[derive(Debug)]
pub struct Fixture<S> {
    /// The store under test, shareable with spawned tasks.
    pub store: Arc<S>,
    /// Reference data and policy.
    pub world: Arc<World>,
}

impl<S: Store> Fixture<S> {
    /// Opens a store from the backend.
    pub async fn open<B: Backend<Store = S>>(backend: &B) -> Self {
        Self {
            store: Arc::new(backend.open().await),
            world: Arc::new(World::new()),
        }
    }

    /// Files a ticket as the operator at `now`; panics if refused.
    pub async fn create(&self, new: NewTicket, now: Timestamp) -> Ticket {
        let created = self.try_create(create_request(new, now, None), now).await;
        match created {
            Ok(created) => {
                assert!(
                    created.created,
                    "a create without request id always creates"
                );
                created.ticket
            }
            Err(error) => panic!("create refused: {error}"),
        }
    }

    /// Files a ticket as the operator at `now`.
    pub async fn try_create(&self, request: CreateTicket, now: Timestamp) -> StoreResult<Created> {
        let actor = operator();
        self.store
            .create_ticket(request, &self.world.ctx(&actor, now))
            .await
    }

    /// Applies a command without an expected version.
    pub async fn apply(
        &self,
        id: TicketId,
        actor: &Actor,
        now: Timestamp,
        command: Command,
    ) -> StoreResult<Applied> {
        self.store
            .apply(id, None, command, &self.world.ctx(actor, now))
            .await
    }

    /// Applies a command that must be accepted; returns the ticket after it.
    pub async fn ok(
        &self,
        id: TicketId,
        actor: &Actor,
        now: Timestamp,
        command: Command,
    ) -> Ticket {
        let action = command.action();
        match self.apply(id, actor, now, command).await {
            Ok(applied) => {
                let stored = self.get(id).await;
                assert_eq!(
                    applied.ticket, stored,
                    "{action}: returned ticket differs from stored"
                );
                applied.ticket
            }
            Err(error) => panic!("{action} by {} refused: {error}", actor.id),
        }
    }

    /// Loads a ticket that must exist.
    pub async fn get(&self, id: TicketId) -> Ticket {
        match self.store.get_ticket(id).await {
            Ok(ticket) => ticket,
            Err(error) => panic!("get_ticket {id}: {error}"),
        }
    }

    /// Loads a timeline that must exist.
    pub async fn timeline(&self, id: TicketId) -> Vec<StoredEvent> {
        match self.store.timeline(id).await {
            Ok(events) => events,
            Err(error) => panic!("timeline {id}: {error}"),
        }
    }

    /// Dispatches as the operator.
    pub async fn dispatch(&self, id: TicketId, now: Timestamp, lead: &str, co: &[&str]) -> Ticket {
        self.ok(id, &operator(), now, dispatch(lead, co)).await
    }

    /// Signs as `dept`.
    pub async fn sign(&self, id: TicketId, now: Timestamp, dept: &str) -> Ticket {
        self.ok(id, &department(dept), now, sign()).await
    }

    /// Replies as `dept`.
    pub async fn reply(&self, id: TicketId, now: Timestamp, dept: &str) -> Ticket {
        self.ok(id, &department(dept), now, reply()).await
    }

    /// Lists every ticket matching `filter`, following tokens with pages of `size`,
    /// and checks the pages chain without repeats.
    pub async fn list_all(&self, filter: &TicketFilter, size: u32) -> Vec<Ticket> {
        let mut page = PageRequest { size, token: None };
        let mut out: Vec<Ticket> = Vec::new();
        for _ in 0..10_000 {
            let got = match self.store.list_tickets(filter, &page).await {
                Ok(got) => got,
                Err(error) => panic!("list_tickets: {error}"),
            };
            assert!(
                got.items.len() <= page.effective_size() as usize,
                "page larger than asked"
            );
            if got.next_token.is_some() {
                assert_eq!(
                    got.items.len(),
                    page.effective_size() as usize,
                    "short page with a token"
                );
            }
            out.extend(got.items);
            match got.next_token {
                Some(token) => page.token = Some(token),
                None => return out,
            }
        }
        panic!("list_tickets never returned a last page");
    }

    /// Runs one sweep batch as the system at `now`; panics on a store error.
    pub async fn sweep(&self, now: Timestamp, limit: u32) -> SweptBatch {
        let actor = system();
        match self
            .store
            .sweep_due(&self.world.ctx(&actor, now), limit)
            .await
        {
            Ok(batch) => {
                for applied in &batch.applied {
                    assert_eq!(
                        applied.ticket,
                        self.get(applied.ticket.id).await,
                        "a swept ticket differs from the stored one"
                    );
                }
                batch
            }
            Err(error) => panic!("sweep_due: {error}"),
        }
    }

    /// Lists the sweeper's due work at `now`: (ticket, next check), earliest first.
    pub async fn due(&self, now: Timestamp) -> Vec<(TicketId, Timestamp)> {
        match self.store.due_for_sweep(now, 1000).await {
            Ok(due) => due.iter().map(|d| (d.id, d.next_check_at)).collect(),
            Err(error) => panic!("due_for_sweep: {error}"),
        }
    }

    /// Lists every deadline matching `query` with pages of `size`.
    pub async fn deadlines_all(&self, query: &DeadlineQuery, size: u32) -> Vec<DeadlineItem> {
        let mut page = PageRequest { size, token: None };
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let got = match self.store.list_deadlines(query, &page).await {
                Ok(got) => got,
                Err(error) => panic!("list_deadlines: {error}"),
            };
            assert!(
                got.items.len() <= page.effective_size() as usize,
                "page larger than asked"
            );
            out.extend(got.items);
            match got.next_token {
                Some(token) => page.token = Some(token),
                None => return out,
            }
        }
        panic!("list_deadlines never returned a last page");
    }
}

/// Returns the ids of tickets, in order.
pub fn ids(tickets: &[Ticket]) -> Vec<TicketId> {
    tickets.iter().map(|t| t.id).collect()
}

/// Returns the timeline's action codes, in order.
pub fn actions(timeline: &[StoredEvent]) -> Vec<&'static str> {
    timeline.iter().map(|e| e.event.kind.action()).collect()
}

/// Asserts that a result is a domain refusal and returns it.
#[track_caller]
pub fn refusal<T: std::fmt::Debug>(result: StoreResult<T>) -> DomainError {
    match result {
        Err(StoreError::Rejected(refusal)) => refusal,
        other => panic!("expected a domain refusal, got {other:?}"),
    }
}

/// Asserts that a result is an illegal transition of `action` from `status`; returns the reason.
#[track_caller]
pub fn illegal<T: std::fmt::Debug>(
    result: StoreResult<T>,
    action: Action,
    status: TicketStatus,
) -> &'static str {
    match refusal(result) {
        DomainError::IllegalTransition {
            action: a,
            status: s,
            reason,
        } if a == action && s == status => reason,
        other => panic!("expected illegal {action} from {status}, got {other:?}"),
    }
}

/// Asserts that a result is an invalid-field refusal naming `field`.
#[track_caller]
pub fn invalid_field<T: std::fmt::Debug>(result: StoreResult<T>, field: &str) {
    match refusal(result) {
        DomainError::InvalidField { field: f, .. } if f == field => {}
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

/// Asserts the store's central invariant for every ticket it holds: the timeline runs
/// `seq` 1..n without gaps, its global ids increase, and replaying it yields exactly
/// the stored projection (also as listed).
pub async fn assert_projection_matches_events<S: Store>(store: &S) {
    let mut page = PageRequest {
        size: 100,
        token: None,
    };
    let mut seen = BTreeSet::new();
    let mut all = Vec::new();
    loop {
        let listed = match store.list_tickets(&TicketFilter::default(), &page).await {
            Ok(listed) => listed,
            Err(error) => panic!("list_tickets: {error}"),
        };
        for ticket in &listed.items {
            assert!(seen.insert(ticket.id), "ticket {} listed twice", ticket.id);
            let timeline = match store.timeline(ticket.id).await {
                Ok(timeline) => timeline,
                Err(error) => panic!("timeline {}: {error}", ticket.id),
            };
            let seqs: Vec<u64> = timeline.iter().map(|e| e.event.seq).collect();
            let expected: Vec<u64> = (1..=timeline.len() as u64).collect();
            assert_eq!(seqs, expected, "ticket {}: seq must run 1..n", ticket.id);
            assert!(
                timeline.windows(2).all(|w| w[0].id < w[1].id),
                "ticket {}: global ids must increase along the timeline",
                ticket.id
            );
            assert!(timeline.iter().all(|e| e.event.ticket_id == ticket.id));
            let events: Vec<_> = timeline.into_iter().map(|e| e.event).collect();
            let replayed = match Ticket::replay(&events) {
                Ok(replayed) => replayed,
                Err(error) => panic!("ticket {}: timeline does not replay: {error}", ticket.id),
            };
            let stored = match store.get_ticket(ticket.id).await {
                Ok(stored) => stored,
                Err(error) => panic!("get_ticket {}: {error}", ticket.id),
            };
            assert_eq!(
                replayed, stored,
                "ticket {}: projection is not the replay of its events",
                ticket.id
            );
            assert_eq!(
                &stored, ticket,
                "ticket {}: listed ticket differs from stored",
                ticket.id
            );
        }
        all.extend(listed.items);
        match listed.next_token {
            Some(token) => page.token = Some(token),
            None => break,
        }
    }
    assert_totals_match_tickets(store, &all).await;
    // And the rows agree with each other: no orphans, indexed columns as the tickets say.
    match store.check_rows(&AlwaysOpen).await {
        Ok(problems) => assert!(problems.is_empty(), "rows disagree: {problems:?}"),
        Err(error) => panic!("check_rows: {error}"),
    }
}

/// Returns the statistics of the fixture departments over `[start, end)` as a server
/// computes them from [`Store::department_totals`] on `calendar`.
pub async fn stats_from_totals<S: Store>(
    store: &S,
    (start, end): (Timestamp, Timestamp),
    now: Timestamp,
    calendar: &dyn Calendar,
) -> Vec<DepartmentStats> {
    let departments = departments();
    let query = StatsQuery {
        departments: departments.iter().map(|d| d.id.clone()).collect(),
        start,
        end,
        now,
        calendar: calendar.identity(),
    };
    let totals = match store.department_totals(&query).await {
        Ok(totals) => totals,
        Err(error) => panic!("department_totals: {error}"),
    };
    let mut builder = StatsBuilder::new(&departments, start, end, now, calendar);
    for sums in &totals.sums {
        builder.add_totals(sums);
    }
    for part in &totals.retime {
        builder.add_times(part);
    }
    builder.finish()
}

/// Asserts that the store's statistics rows sum to what [`StatsBuilder`] computes
/// over the tickets themselves, for several periods and instants, on the calendar
/// the rows were written with and on another one (whose times are recomputed).
pub async fn assert_totals_match_tickets<S: Store>(store: &S, tickets: &[Ticket]) {
    let assigned: Vec<Timestamp> = tickets
        .iter()
        .flat_map(|t| t.assignments.iter().map(|a| a.assigned_at))
        .collect();
    let (Some(first), Some(last)) = (assigned.iter().min(), assigned.iter().max()) else {
        return;
    };
    let middle = *first + (last.duration_since(*first) / 2);
    // Midnight UTC on or before an instant: the day rows' boundaries.
    let midnight = |at: Timestamp| {
        Timestamp::from_second(at.as_second().div_euclid(86_400) * 86_400).unwrap_or(at)
    };
    let periods = [
        (*first, *last + SignedDuration::from_nanos(1)),
        (*first, middle),
        (middle, *last + days(1)),
        (*last + days(1), *last + days(2)),
        // Whole days only, then whole days with one ragged end each way.
        (midnight(*first), midnight(*last) + days(1)),
        (midnight(*first), middle),
        (middle, midnight(*last) + days(1)),
    ];
    let working = hotline_core::WorkingCalendar::china_default();
    let calendars: [&dyn Calendar; 2] = [&AlwaysOpen, &working];
    for (start, end) in periods {
        for now in [*first, middle, *last + days(40)] {
            for calendar in calendars {
                let expected = hotline_core::department_stats(
                    &departments(),
                    tickets,
                    start,
                    end,
                    now,
                    calendar,
                );
                let summed = stats_from_totals(store, (start, end), now, calendar).await;
                assert_eq!(
                    summed, expected,
                    "statistics rows disagree with the tickets over [{start}, {end}) at {now}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// 50 concurrent creates with one request id file one ticket; numbers run per center and day.
pub async fn create_is_idempotent_and_numbers_run_per_day<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        // Each retry reaches the server anew and gets a fresh ticket id: only the request id
        // ties them together.
        let request = create_request(appeal("路灯不亮"), now, Some("req-lamp-1"));
        let store = Arc::clone(&fx.store);
        let world = Arc::clone(&fx.world);
        tasks.push(tokio::spawn(async move {
            let actor = operator();
            store.create_ticket(request, &world.ctx(&actor, now)).await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(created)) => results.push(created),
            Ok(Err(error)) => panic!("a concurrent create failed: {error}"),
            Err(error) => panic!("a create task panicked: {error}"),
        }
    }
    let winners: Vec<&Created> = results.iter().filter(|c| c.created).collect();
    assert_eq!(winners.len(), 1, "exactly one create files the ticket");
    let first = winners[0].clone();
    assert_eq!(actions(&first.events), ["CREATED"]);
    for created in &results {
        assert_eq!(
            created.ticket.id, first.ticket.id,
            "every retry returns the same ticket"
        );
        if !created.created {
            assert!(created.events.is_empty(), "a retry writes no events");
        }
    }
    let day = day_of(now);
    assert_eq!(first.ticket.number, format!("{CENTER}-{day}-000001"));
    assert_eq!(first.ticket.version, 1);
    assert_eq!(first.ticket.status, TicketStatus::PendingDispatch);
    assert_eq!(
        fx.get(first.ticket.id).await,
        first.ticket,
        "floats and instants read back exactly"
    );
    assert_eq!(
        ids(&fx.list_all(&TicketFilter::default(), 0).await),
        [first.ticket.id]
    );
    assert_eq!(fx.timeline(first.ticket.id).await.len(), 1);

    // A retry after the ticket moved on returns it as it is now, still without new events.
    fx.dispatch(first.ticket.id, now + mins(5), ENV_BUREAU, &[])
        .await;
    let late = fx
        .try_create(
            create_request(appeal("路灯不亮"), now, Some("req-lamp-1")),
            now + mins(6),
        )
        .await;
    match late {
        Ok(late) => {
            assert!(!late.created);
            assert!(late.events.is_empty());
            assert_eq!(late.ticket.id, first.ticket.id);
            assert_eq!(late.ticket.status, TicketStatus::Dispatched);
        }
        Err(error) => panic!("late retry: {error}"),
    }

    // Successive tickets of the day count up; the next day and another center start over.
    let second = fx.create(appeal("井盖缺失"), now + mins(10)).await;
    let third = fx.create(appeal("路面塌陷"), now + mins(20)).await;
    assert_eq!(second.number, format!("{CENTER}-{day}-000002"));
    assert_eq!(third.number, format!("{CENTER}-{day}-000003"));
    let tomorrow = now + days(1);
    let next_day = fx.create(appeal("路灯闪烁"), tomorrow).await;
    assert_eq!(
        next_day.number,
        format!("{CENTER}-{}-000001", day_of(tomorrow))
    );
    let mut other_center = create_request(appeal("路灯闪烁"), now, None);
    other_center.center = "WX".to_owned();
    match fx.try_create(other_center, now + mins(30)).await {
        Ok(created) => assert_eq!(created.ticket.number, format!("WX-{day}-000001")),
        Err(error) => panic!("create for another center: {error}"),
    }
    // A different request id is a different appeal.
    let other = fx
        .try_create(
            create_request(appeal("路灯不亮"), now, Some("req-lamp-2")),
            now + mins(40),
        )
        .await;
    match other {
        Ok(created) => {
            assert!(created.created);
            assert_eq!(created.ticket.number, format!("{CENTER}-{day}-000004"));
        }
        Err(error) => panic!("create with another request id: {error}"),
    }
    assert_eq!(fx.list_all(&TicketFilter::default(), 0).await.len(), 6);
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// 20 concurrent signs by the lead: one succeeds, the rest conflict or are refused.
pub async fn concurrent_signs_admit_exactly_one<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let ticket = fx.create(appeal("路灯不亮"), now).await;
    let dispatched = fx.dispatch(ticket.id, now + mins(1), ENV_BUREAU, &[]).await;
    assert_eq!(dispatched.version, 2);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&fx.store);
        let world = Arc::clone(&fx.world);
        let id = ticket.id;
        // Half the signers pin the version they saw, half do not.
        let expected = (i % 2 == 0).then_some(dispatched.version);
        tasks.push(tokio::spawn(async move {
            let actor = department(ENV_BUREAU);
            store
                .apply(id, expected, sign(), &world.ctx(&actor, now + mins(5)))
                .await
        }));
    }
    let mut signed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(applied)) => {
                signed += 1;
                assert_eq!(applied.ticket.version, 3);
                assert_eq!(actions(&applied.events), ["SIGNED"]);
            }
            Ok(Err(StoreError::Conflict { expected, actual })) => {
                assert_eq!((expected, actual), (2, 3));
            }
            Ok(Err(StoreError::Rejected(DomainError::IllegalTransition { action, .. }))) => {
                assert_eq!(action, Action::Sign);
            }
            Ok(Err(error)) => panic!("unexpected outcome of a concurrent sign: {error}"),
            Err(error) => panic!("a sign task panicked: {error}"),
        }
    }
    assert_eq!(signed, 1, "exactly one sign succeeds");
    let stored = fx.get(ticket.id).await;
    assert_eq!(stored.status, TicketStatus::InProgress);
    assert_eq!(stored.version, 3);
    let timeline = fx.timeline(ticket.id).await;
    assert_eq!(actions(&timeline), ["CREATED", "DISPATCHED", "SIGNED"]);
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// The whole closed loop, with an extension and a reopen, ends CLOSED with a gapless timeline.
pub async fn full_loop_closes_with_versions_and_timeline<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let env = department(ENV_BUREAU);
    let created = fx.create(appeal("小区路灯损坏"), now).await;
    let id = created.id;
    assert_eq!(
        (created.status, created.version),
        (TicketStatus::PendingDispatch, 1)
    );

    let t = fx.dispatch(id, now + mins(10), ENV_BUREAU, &[]).await;
    assert_eq!((t.status, t.version), (TicketStatus::Dispatched, 2));
    assert_eq!(
        t.lead_department_id.as_ref().map(DepartmentId::as_str),
        Some(ENV_BUREAU)
    );
    assert_eq!(t.sign_due, Some(now + mins(10) + days(1)));
    let first_reply_due = now + mins(10) + days(5);
    assert_eq!(t.reply_due, Some(first_reply_due));

    let t = fx.sign(id, now + hours(1), ENV_BUREAU).await;
    assert_eq!((t.status, t.version), (TicketStatus::InProgress, 3));

    let extended_due = first_reply_due + days(3);
    let request = Command::RequestExtension {
        requested_reply_due: extended_due,
        reason: "需协调供电部门更换线路".to_owned(),
    };
    let t = fx.ok(id, &env, now + hours(2), request).await;
    assert_eq!((t.version, t.extension_count), (4, 1));
    assert_eq!(
        t.reply_due,
        Some(first_reply_due),
        "the deadline moves only when approved"
    );

    let approve = Command::DecideExtension {
        approve: true,
        note: String::new(),
    };
    let t = fx.ok(id, &supervisor(), now + hours(3), approve).await;
    assert_eq!(t.version, 5);
    assert_eq!(t.reply_due, Some(extended_due), "approval moves reply_due");
    assert_eq!(t.lead_assignment().map(|a| a.reply_due), Some(extended_due));
    assert!(t.pending_extension.is_none());

    let t = fx.reply(id, now + days(1), ENV_BUREAU).await;
    assert_eq!((t.status, t.version), (TicketStatus::Replied, 6));
    assert_eq!(t.callback_due, Some(now + days(1) + days(2)));

    let op = operator();
    let t = fx
        .ok(
            id,
            &op,
            now + days(2),
            callback(Satisfaction::Unsatisfied, true),
        )
        .await;
    assert_eq!(
        (t.status, t.version, t.reopen_count),
        (TicketStatus::InProgress, 7, 1)
    );
    assert_eq!(
        t.reply_due,
        Some(now + days(2) + days(5)),
        "a reopen sets a new reply deadline"
    );
    assert!(t.callback_due.is_none());

    let t = fx.reply(id, now + days(3), ENV_BUREAU).await;
    assert_eq!((t.status, t.version), (TicketStatus::Replied, 8));

    let closed = fx
        .ok(
            id,
            &op,
            now + days(4),
            callback(Satisfaction::Satisfied, false),
        )
        .await;
    assert_eq!((closed.status, closed.version), (TicketStatus::Closed, 9));
    assert_eq!(closed.close_reason, Some(CloseReason::Callback));
    assert_eq!(closed.closed_at, Some(now + days(4)));
    assert_eq!(closed.reopen_count, 1);
    assert_eq!(
        closed.callback.as_ref().and_then(|c| c.satisfaction),
        Some(Satisfaction::Satisfied)
    );
    assert!(closed.running_deadline().is_none());

    let timeline = fx.timeline(id).await;
    assert_eq!(
        actions(&timeline),
        [
            "CREATED",
            "DISPATCHED",
            "SIGNED",
            "EXTENSION_REQUESTED",
            "EXTENSION_APPROVED",
            "REPLIED",
            "CALLBACK_RECORDED",
            "REOPENED",
            "REPLIED",
            "CALLBACK_RECORDED",
            "CLOSED",
        ]
    );
    let seqs: Vec<u64> = timeline.iter().map(|e| e.event.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<u64>>());
    let versions: Vec<u64> = timeline.iter().map(|e| e.event.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 9]);
    assert_eq!(
        timeline[2].event.actor, env,
        "the actor is recorded on each event"
    );
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// An approved return sends the ticket back for dispatch; a rejected one counts against the
/// department; the policy caps return requests.
pub async fn returns_are_decided_and_limited_by_policy<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let housing = department(HOUSING_BUREAU);
    let give_back = || Command::Return {
        reason: "不属于本部门职责".to_owned(),
    };

    // Approved: back to PENDING_DISPATCH, then dispatched elsewhere.
    let a = fx.create(appeal("楼道漏水"), now).await;
    fx.dispatch(a.id, now + mins(1), HOUSING_BUREAU, &[]).await;
    fx.sign(a.id, now + mins(2), HOUSING_BUREAU).await;
    let t = fx.ok(a.id, &housing, now + mins(3), give_back()).await;
    assert_eq!(t.return_count, 1);
    assert!(t.pending_return.is_some());
    let approve = Command::DecideReturn {
        approve: true,
        note: String::new(),
    };
    let t = fx.ok(a.id, &supervisor(), now + mins(4), approve).await;
    assert_eq!(t.status, TicketStatus::PendingDispatch);
    assert_eq!(
        (t.lead_department_id.clone(), t.sign_due, t.reply_due),
        (None, None, None)
    );
    assert_eq!(t.rejected_return_count, 0);
    assert_eq!(t.assignments[0].status, AssignmentStatus::Returned);
    assert!(t.running_deadline().is_none());
    let t = fx.dispatch(a.id, now + mins(5), WATER_BUREAU, &[]).await;
    assert_eq!(t.status, TicketStatus::Dispatched);
    assert_eq!(
        t.lead_department_id.as_ref().map(DepartmentId::as_str),
        Some(WATER_BUREAU)
    );
    assert_eq!(t.assignments.len(), 2);
    let refused = fx.apply(a.id, &housing, now + mins(6), sign()).await;
    assert!(
        matches!(refusal(refused), DomainError::NotAssigned { .. }),
        "the old lead has no part"
    );

    // Rejected: stays with the department, deadlines unchanged, counted.
    let b = fx.create(appeal("违章搭建"), now).await;
    fx.dispatch(b.id, now + mins(1), ENV_BUREAU, &[]).await;
    let signed = fx.sign(b.id, now + mins(2), ENV_BUREAU).await;
    let env = department(ENV_BUREAU);
    let reject = || Command::DecideReturn {
        approve: false,
        note: "属于本部门职责".to_owned(),
    };
    fx.ok(b.id, &env, now + mins(3), give_back()).await;
    let t = fx.ok(b.id, &supervisor(), now + mins(4), reject()).await;
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(t.rejected_return_count, 1);
    assert_eq!(
        (t.sign_due, t.reply_due),
        (signed.sign_due, signed.reply_due)
    );
    assert_eq!(
        t.lead_department_id.as_ref().map(DepartmentId::as_str),
        Some(ENV_BUREAU)
    );
    fx.ok(b.id, &env, now + mins(5), give_back()).await;
    let t = fx.ok(b.id, &supervisor(), now + mins(6), reject()).await;
    assert_eq!((t.return_count, t.rejected_return_count), (2, 2));

    // The third request passes the default policy's limit of two.
    let before = fx.timeline(b.id).await;
    let limited = fx.apply(b.id, &env, now + mins(7), give_back()).await;
    let max = fx.world.policy.limits.max_returns;
    assert_eq!(
        refusal(limited),
        DomainError::LimitExceeded {
            limit: Limit::Returns,
            max
        }
    );
    assert_eq!(
        fx.timeline(b.id).await,
        before,
        "a refused return writes nothing"
    );
    assert_eq!(fx.get(b.id).await, t);

    // The limit is the ticket's own, resolved at intake: a later policy allowing three
    // does not lift it, while a ticket taken in under that policy gets three.
    let mut generous = DeadlinePolicy {
        version: 2,
        ..DeadlinePolicy::default()
    };
    generous.limits.max_returns = max + 1;
    let world = World::with_policy(generous);
    let still = fx
        .store
        .apply(
            b.id,
            Some(t.version),
            give_back(),
            &world.ctx(&env, now + mins(8)),
        )
        .await;
    assert_eq!(
        refusal(still),
        DomainError::LimitExceeded {
            limit: Limit::Returns,
            max
        }
    );
    let request = create_request(appeal("违章搭建"), now, None);
    let c = match fx
        .store
        .create_ticket(request, &world.ctx(&operator(), now + mins(9)))
        .await
    {
        Ok(created) => created.ticket,
        Err(error) => panic!("create under the generous policy: {error}"),
    };
    assert_eq!(
        (c.policy.version, c.policy.limits.max_returns),
        (2, max + 1)
    );
    fx.dispatch(c.id, now + mins(10), ENV_BUREAU, &[]).await;
    for minute in [11, 13] {
        fx.ok(c.id, &env, now + mins(minute), give_back()).await;
        fx.ok(c.id, &supervisor(), now + mins(minute + 1), reject())
            .await;
    }
    let t = fx.ok(c.id, &env, now + mins(15), give_back()).await;
    assert_eq!(t.return_count, 3);
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// A lead and two co-handlers sign; co-handlers give opinions; only the lead replies.
pub async fn joint_handling_lets_only_the_lead_reply<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let mut new = appeal("河道污染伴随管网破损");
    new.category = Some(category("环境保护/水污染/河道污染"));
    let ticket = fx.create(new, now).await;
    let id = ticket.id;
    let t = fx
        .dispatch(
            id,
            now + mins(1),
            ENV_BUREAU,
            &[WATER_BUREAU, HOUSING_BUREAU],
        )
        .await;
    let roles: Vec<(&str, AssignmentRole)> = t
        .assignments
        .iter()
        .map(|a| (a.department_id.as_str(), a.role))
        .collect();
    assert_eq!(
        roles,
        [
            (ENV_BUREAU, AssignmentRole::Lead),
            (WATER_BUREAU, AssignmentRole::CoHandler),
            (HOUSING_BUREAU, AssignmentRole::CoHandler),
        ]
    );

    let t = fx.sign(id, now + mins(2), WATER_BUREAU).await;
    assert_eq!(
        t.status,
        TicketStatus::Dispatched,
        "a co-handler's sign does not start the work"
    );
    let t = fx.sign(id, now + mins(3), ENV_BUREAU).await;
    assert_eq!(t.status, TicketStatus::InProgress);
    let t = fx.sign(id, now + mins(4), HOUSING_BUREAU).await;
    assert!(
        t.assignments
            .iter()
            .all(|a| a.status == AssignmentStatus::Signed)
    );

    let outsider = fx
        .apply(id, &department(CITY_BUREAU), now + mins(5), sign())
        .await;
    assert!(matches!(
        refusal(outsider),
        DomainError::NotAssigned {
            action: Action::Sign,
            ..
        }
    ));

    let opinion = |text: &str| Command::SubmitOpinion {
        content: text.to_owned(),
    };
    let water = department(WATER_BUREAU);
    fx.ok(id, &water, now + hours(1), opinion("管网已排查，建议截污"))
        .await;
    let t = fx
        .ok(
            id,
            &department(HOUSING_BUREAU),
            now + hours(2),
            opinion("配合施工"),
        )
        .await;
    let co: Vec<(AssignmentStatus, Option<&str>)> = t
        .assignments
        .iter()
        .filter(|a| a.role == AssignmentRole::CoHandler)
        .map(|a| (a.status, a.opinion.as_deref()))
        .collect();
    assert_eq!(
        co,
        [
            (
                AssignmentStatus::OpinionSubmitted,
                Some("管网已排查，建议截污")
            ),
            (AssignmentStatus::OpinionSubmitted, Some("配合施工")),
        ]
    );
    let twice = fx
        .apply(id, &water, now + hours(3), opinion("再补充"))
        .await;
    illegal(twice, Action::SubmitOpinion, TicketStatus::InProgress);
    let lead_opinion = fx
        .apply(id, &department(ENV_BUREAU), now + hours(3), opinion("x"))
        .await;
    assert!(matches!(
        refusal(lead_opinion),
        DomainError::NotAssigned { .. }
    ));

    let before = fx.get(id).await;
    let co_reply = fx.apply(id, &water, now + hours(4), reply()).await;
    match refusal(co_reply) {
        DomainError::NotAssigned {
            action: Action::Reply,
            department_id,
            ..
        } => {
            assert_eq!(department_id.as_str(), WATER_BUREAU);
        }
        other => panic!("expected NotAssigned for a co-handler's reply, got {other:?}"),
    }
    assert_eq!(fx.get(id).await, before, "a refused reply writes nothing");

    let t = fx.reply(id, now + hours(5), ENV_BUREAU).await;
    assert_eq!(t.status, TicketStatus::Replied);
    assert_eq!(
        t.reply.as_ref().map(|r| r.department_id.as_str()),
        Some(ENV_BUREAU)
    );
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// A duplicate merged into its master becomes MERGED; self-merges are refused.
pub async fn merge_folds_a_duplicate_into_its_master<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let master = fx.create(appeal("人民路路灯不亮"), now).await;
    let master = fx
        .dispatch(master.id, now + mins(1), CITY_BUREAU, &[])
        .await;
    let duplicate = fx
        .create(appeal("人民路100号路灯坏了"), now + mins(2))
        .await;
    let merge = |into: &Ticket| Command::Merge {
        master_id: into.id,
        master_status: into.status,
        note: "同一路灯".to_owned(),
    };
    let merged = fx
        .ok(duplicate.id, &operator(), now + mins(3), merge(&master))
        .await;
    assert_eq!(merged.status, TicketStatus::Merged);
    assert_eq!(merged.merged_into, Some(master.id));
    assert_eq!(merged.closed_at, Some(now + mins(3)));
    assert!(merged.running_deadline().is_none());
    assert_eq!(fx.get(master.id).await, master, "the master is not touched");

    let again = fx
        .apply(duplicate.id, &operator(), now + mins(4), merge(&master))
        .await;
    illegal(again, Action::Merge, TicketStatus::Merged);

    let third = fx.create(appeal("路灯不亮"), now + mins(5)).await;
    let before = fx.timeline(third.id).await;
    let itself = fx
        .apply(third.id, &operator(), now + mins(6), merge(&third))
        .await;
    invalid_field(itself, "master_ticket_id");
    let into_merged = fx
        .apply(third.id, &operator(), now + mins(6), merge(&merged))
        .await;
    invalid_field(into_merged, "master_ticket_id");
    assert_eq!(fx.timeline(third.id).await, before);
    assert_eq!(fx.get(third.id).await, third);
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Overdue listing: exactly the overdue tickets, most overdue first, across pages, with
/// kind, department, region and category filters; `due_after` for due-soon.
pub async fn deadline_listing_finds_overdue_and_due_soon<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0() + days(30);
    let op = operator();
    let sup = supervisor();

    // Sign deadlines (a working day = 24 h on the fixture calendar).
    let s1 = fx.create(appeal("S1"), now - days(3)).await.id;
    fx.dispatch(s1, now - days(3), ENV_BUREAU, &[]).await; // due now-2d
    let s2 = fx.create(appeal("S2"), now - hours(26)).await.id;
    fx.dispatch(s2, now - hours(26), WATER_BUREAU, &[]).await; // due now-2h
    let s3 = fx.create(appeal("S3"), now - hours(1)).await.id;
    fx.dispatch(s3, now - hours(1), HOUSING_BUREAU, &[]).await; // due now+23h

    // Reply deadlines (five working days; emergencies two hours).
    let r1 = fx.create(appeal("R1"), now - days(10)).await.id;
    fx.dispatch(r1, now - days(10), ENV_BUREAU, &[]).await;
    fx.sign(r1, now - days(10) + hours(1), ENV_BUREAU).await; // due now-5d
    let mut noise = appeal("R2");
    noise.region_code = "320506001".to_owned();
    noise.category = Some(category("环境保护/噪声污染/施工噪声"));
    let r2 = fx.create(noise, now - days(6)).await.id;
    fx.dispatch(r2, now - days(6), WATER_BUREAU, &[]).await;
    fx.sign(r2, now - days(6) + hours(1), WATER_BUREAU).await; // due now-1d
    let mut emergency = appeal("R3");
    emergency.priority = Priority::Emergency;
    let r3 = fx.create(emergency, now - hours(3)).await.id;
    fx.dispatch(r3, now - hours(3), HOUSING_BUREAU, &[]).await;
    fx.sign(r3, now - hours(3) + mins(5), HOUSING_BUREAU).await; // due now-1h

    // Callback deadlines (two working days after the reply).
    let c1 = fx.create(appeal("C1"), now - days(8)).await.id;
    fx.dispatch(c1, now - days(8), ENV_BUREAU, &[]).await;
    fx.sign(c1, now - days(8) + hours(1), ENV_BUREAU).await;
    fx.reply(c1, now - days(4) - hours(3), ENV_BUREAU).await; // due now-2d-3h
    let c2 = fx.create(appeal("C2"), now - days(3)).await.id;
    fx.dispatch(c2, now - days(3), WATER_BUREAU, &[]).await;
    fx.sign(c2, now - days(3) + hours(1), WATER_BUREAU).await;
    fx.reply(c2, now - days(1), WATER_BUREAU).await; // due now+1d

    // No running deadline: closed, pending, suspended.
    let x1 = fx.create(appeal("X1"), now - days(9)).await.id;
    fx.dispatch(x1, now - days(9), ENV_BUREAU, &[]).await;
    fx.sign(x1, now - days(9), ENV_BUREAU).await;
    fx.reply(x1, now - days(8), ENV_BUREAU).await;
    fx.ok(
        x1,
        &op,
        now - days(7),
        callback(Satisfaction::Satisfied, false),
    )
    .await;
    fx.create(appeal("P1"), now - days(9)).await;
    let u1 = fx.create(appeal("U1"), now - days(10)).await.id;
    fx.dispatch(u1, now - days(10), ENV_BUREAU, &[]).await;
    fx.sign(u1, now - days(10), ENV_BUREAU).await;
    let suspend = Command::RequestSuspension {
        reason: "等待法院裁定".to_owned(),
        resume_by: None,
    };
    fx.ok(u1, &department(ENV_BUREAU), now - days(9), suspend)
        .await;
    let approve = Command::DecideSuspension {
        approve: true,
        note: String::new(),
    };
    let u = fx.ok(u1, &sup, now - days(9), approve).await;
    assert!(u.suspended);

    let overdue = DeadlineQuery {
        due_before: Some(now),
        ..DeadlineQuery::default()
    };
    let expected = [
        (r1, DeadlineKind::Reply, now - days(5)),
        (c1, DeadlineKind::Callback, now - days(2) - hours(3)),
        (s1, DeadlineKind::Sign, now - days(2)),
        (r2, DeadlineKind::Reply, now - days(1)),
        (s2, DeadlineKind::Sign, now - hours(2)),
        (r3, DeadlineKind::Reply, now - hours(1)),
    ];
    let summary = |items: &[DeadlineItem]| -> Vec<(TicketId, DeadlineKind, Timestamp)> {
        items.iter().map(|i| (i.ticket.id, i.kind, i.due)).collect()
    };

    // Pages of three: two full pages, no gap, no repeat, the last without a token.
    let first = fx
        .store
        .list_deadlines(
            &overdue,
            &PageRequest {
                size: 3,
                token: None,
            },
        )
        .await;
    let first = match first {
        Ok(first) => first,
        Err(error) => panic!("list_deadlines: {error}"),
    };
    assert_eq!(summary(&first.items), expected[..3]);
    let token = first.next_token.clone();
    assert!(
        token.is_some(),
        "a full page with more behind it has a token"
    );
    let second = fx
        .store
        .list_deadlines(&overdue, &PageRequest { size: 3, token })
        .await;
    let second = match second {
        Ok(second) => second,
        Err(error) => panic!("list_deadlines page 2: {error}"),
    };
    assert_eq!(summary(&second.items), expected[3..]);
    assert_eq!(second.next_token, None);
    assert_eq!(summary(&fx.deadlines_all(&overdue, 4).await), expected);
    assert_eq!(summary(&fx.deadlines_all(&overdue, 1).await), expected);
    for item in first.items.iter().chain(&second.items) {
        assert_eq!(item.ticket, fx.get(item.ticket.id).await);
        assert_eq!(item.ticket.running_deadline(), Some((item.kind, item.due)));
    }

    let of_kind = |kind| DeadlineQuery {
        kind: Some(kind),
        ..overdue.clone()
    };
    let listed = |items: Vec<DeadlineItem>| items.iter().map(|i| i.ticket.id).collect::<Vec<_>>();
    assert_eq!(
        listed(fx.deadlines_all(&of_kind(DeadlineKind::Sign), 3).await),
        [s1, s2]
    );
    assert_eq!(
        listed(fx.deadlines_all(&of_kind(DeadlineKind::Reply), 3).await),
        [r1, r2, r3]
    );
    assert_eq!(
        listed(fx.deadlines_all(&of_kind(DeadlineKind::Callback), 3).await),
        [c1]
    );

    let of_departments = |ids: &[&str]| DeadlineQuery {
        departments: Some(ids.iter().map(|d| DepartmentId::from(*d)).collect()),
        ..overdue.clone()
    };
    assert_eq!(
        listed(fx.deadlines_all(&of_departments(&[WATER_BUREAU]), 3).await),
        [r2, s2]
    );
    assert_eq!(
        listed(
            fx.deadlines_all(&of_departments(&[ENV_BUREAU, HOUSING_BUREAU]), 3)
                .await
        ),
        [r1, c1, s1, r3]
    );
    assert!(fx.deadlines_all(&of_departments(&[]), 3).await.is_empty());
    let region = DeadlineQuery {
        region_prefix: Some("320506".to_owned()),
        ..overdue.clone()
    };
    assert_eq!(listed(fx.deadlines_all(&region, 3).await), [r2]);
    let env_category = DeadlineQuery {
        category_prefix: Some("环境保护".to_owned()),
        ..overdue.clone()
    };
    assert_eq!(listed(fx.deadlines_all(&env_category, 3).await), [r2]);
    let partial_level = DeadlineQuery {
        category_prefix: Some("环境".to_owned()),
        ..overdue.clone()
    };
    assert!(
        fx.deadlines_all(&partial_level, 3).await.is_empty(),
        "prefixes match whole levels"
    );

    // Due soon: not yet overdue, due within two days.
    let soon = DeadlineQuery {
        due_after: Some(now),
        due_before: Some(now + days(2)),
        ..DeadlineQuery::default()
    };
    assert_eq!(
        summary(&fx.deadlines_all(&soon, 1).await),
        [
            (s3, DeadlineKind::Sign, now + hours(23)),
            (c2, DeadlineKind::Callback, now + days(1)),
        ]
    );
    let everything = fx.deadlines_all(&DeadlineQuery::default(), 5).await;
    assert_eq!(listed(everything), [r1, c1, s1, r2, s2, r3, s3, c2]);

    let garbage = PageRequest {
        size: 3,
        token: Some("not a token".to_owned()),
    };
    invalid_field(
        fx.store.list_deadlines(&overdue, &garbage).await,
        "page_token",
    );

    // The operations gauges: every status once, overdue sign and reply deadlines by
    // lead department (c1's overdue callback is the center's, not the bureau's).
    let counts = match fx.store.ticket_counts(now).await {
        Ok(counts) => counts,
        Err(error) => panic!("ticket_counts: {error}"),
    };
    let mut by_status = counts.by_status.clone();
    by_status.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(
        by_status,
        [
            (TicketStatus::Closed, 1),
            (TicketStatus::Dispatched, 3),
            (TicketStatus::InProgress, 4),
            (TicketStatus::PendingDispatch, 1),
            (TicketStatus::Replied, 2),
        ]
    );
    assert_eq!(
        counts.overdue_by_department,
        [
            (DepartmentId::from(ENV_BUREAU), 2),
            (DepartmentId::from(WATER_BUREAU), 2),
            (DepartmentId::from(HOUSING_BUREAU), 1),
        ]
    );
    let earlier = match fx.store.ticket_counts(now - days(30)).await {
        Ok(counts) => counts,
        Err(error) => panic!("ticket_counts: {error}"),
    };
    assert!(
        earlier.overdue_by_department.is_empty(),
        "nothing was overdue a month earlier"
    );
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// A stale `expected_version` is a conflict and writes nothing; unknown ids are not found.
pub async fn stale_expected_version_conflicts_and_writes_nothing<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let env = department(ENV_BUREAU);
    let ticket = fx.create(appeal("路灯不亮"), now).await;
    let dispatched = fx.dispatch(ticket.id, now + mins(1), ENV_BUREAU, &[]).await;
    let before = fx.timeline(ticket.id).await;
    for stale in [1, 3, u64::MAX] {
        let ctx = fx.world.ctx(&env, now + mins(2));
        match fx.store.apply(ticket.id, Some(stale), sign(), &ctx).await {
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!((expected, actual), (stale, 2));
            }
            other => panic!("expected a conflict for version {stale}, got {other:?}"),
        }
        assert_eq!(fx.timeline(ticket.id).await, before);
        assert_eq!(fx.get(ticket.id).await, dispatched);
    }
    let ctx = fx.world.ctx(&env, now + mins(3));
    match fx.store.apply(ticket.id, Some(2), sign(), &ctx).await {
        Ok(applied) => assert_eq!(applied.ticket.version, 3),
        Err(error) => panic!("sign at the current version: {error}"),
    }

    let unknown = new_id();
    let missing = fx.store.apply(unknown, None, sign(), &ctx).await;
    assert!(
        matches!(
            missing,
            Err(StoreError::NotFound {
                entity: "ticket",
                ..
            })
        ),
        "{missing:?}"
    );
    let missing = fx.store.get_ticket(unknown).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    let missing = fx.store.timeline(unknown).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Refused commands and invalid intake change nothing: no events, no projection change,
/// no ticket, no number and no request id consumed.
pub async fn refused_commands_and_bad_input_write_nothing<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let day = day_of(now);
    let op = operator();
    let ticket = fx.create(appeal("路灯不亮"), now).await;
    assert_eq!(ticket.number, format!("{CENTER}-{day}-000001"));

    let never_replied = fx.apply(
        ticket.id,
        &op,
        now + mins(1),
        callback(Satisfaction::Satisfied, false),
    );
    let reason = illegal(
        never_replied.await,
        Action::RecordCallback,
        TicketStatus::PendingDispatch,
    );
    assert!(
        reason.contains("replied"),
        "the refusal says a reply is required: {reason}"
    );
    fx.dispatch(ticket.id, now + mins(2), ENV_BUREAU, &[]).await;
    let signed = fx.sign(ticket.id, now + mins(3), ENV_BUREAU).await;
    let before = fx.timeline(ticket.id).await;
    let in_progress = fx.apply(
        ticket.id,
        &op,
        now + mins(4),
        callback(Satisfaction::Satisfied, false),
    );
    illegal(
        in_progress.await,
        Action::RecordCallback,
        TicketStatus::InProgress,
    );
    let empty_reply = Command::Reply {
        result: ReplyResult::Solved,
        content: "  ".to_owned(),
    };
    invalid_field(
        fx.apply(
            ticket.id,
            &department(ENV_BUREAU),
            now + mins(5),
            empty_reply,
        )
        .await,
        "content",
    );
    assert_eq!(fx.timeline(ticket.id).await, before);
    assert_eq!(fx.get(ticket.id).await, signed);

    let mut empty_body = appeal("路灯不亮");
    empty_body.body = String::new();
    let mut long_title = appeal("路灯不亮");
    long_title.title = "灯".repeat(hotline_core::MAX_TITLE_CHARS + 1);
    let mut unknown_category = appeal("路灯不亮");
    unknown_category.category = Some(category("城乡建设/不存在的分类"));
    let mut bad_phone = appeal("路灯不亮");
    bad_phone.citizen.phone = "12ab".to_owned();
    let cases = [
        (empty_body, "body"),
        (long_title, "title"),
        (unknown_category, "category_hint"),
        (bad_phone, "citizen.phone"),
    ];
    let mut refused_ids = Vec::new();
    for (new, field) in cases {
        let request = create_request(new, now, Some(&format!("req-bad-{field}")));
        refused_ids.push(request.id);
        invalid_field(fx.try_create(request, now + mins(10)).await, field);
    }
    for id in refused_ids {
        let missing = fx.store.get_ticket(id).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
    assert_eq!(
        ids(&fx.list_all(&TicketFilter::default(), 0).await),
        [ticket.id]
    );

    // The refused creates consumed neither a number nor their request ids.
    let retried = fx
        .try_create(
            create_request(appeal("路灯不亮"), now, Some("req-bad-body")),
            now + mins(11),
        )
        .await;
    match retried {
        Ok(created) => {
            assert!(
                created.created,
                "a request id whose create was refused is still free"
            );
            assert_eq!(created.ticket.number, format!("{CENTER}-{day}-000002"));
        }
        Err(error) => panic!("create after refusals: {error}"),
    }
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Department scoping, the other filters, and newest-first pagination without gaps.
pub async fn ticket_listing_scopes_filters_and_pages<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let at = |h: i64| now + hours(h);

    // L1: with the city bureau, delegated down to a street office.
    let mut new = appeal("路灯不亮");
    new.citizen.phone = "13800000001".to_owned();
    let l1 = fx.create(new, at(0)).await.id;
    fx.dispatch(l1, at(0), CITY_BUREAU, &[]).await;
    fx.sign(l1, at(0) + mins(1), CITY_BUREAU).await;
    let delegate = Command::Delegate {
        to_department_id: STREET_A.into(),
        note: String::new(),
    };
    let t = fx
        .ok(l1, &department(CITY_BUREAU), at(0) + mins(2), delegate)
        .await;
    assert!(t.involves(&STREET_A.into()));

    // L2: joint handling, noise complaint in another district.
    let mut new = appeal("工地夜间施工噪声扰民");
    new.appeal_type = AppealType::Complaint;
    new.body = "每晚十点后仍在施工".to_owned();
    new.region_code = "320506001".to_owned();
    new.address = "吴中区干将路1号".to_owned();
    new.category = Some(category("环境保护/噪声污染/施工噪声"));
    let l2 = fx.create(new, at(1)).await.id;
    fx.dispatch(l2, at(1), ENV_BUREAU, &[WATER_BUREAU]).await;

    // L3: misrouted to housing, returned, dispatched to water.
    let mut new = appeal("小区停水");
    new.region_code = "320508002".to_owned();
    new.category = Some(category("城乡建设/公用事业/供水"));
    let l3 = fx.create(new, at(2)).await.id;
    fx.dispatch(l3, at(2), HOUSING_BUREAU, &[]).await;
    let give_back = Command::Return {
        reason: "供水归水务".to_owned(),
    };
    fx.ok(l3, &department(HOUSING_BUREAU), at(2) + mins(1), give_back)
        .await;
    let approve = Command::DecideReturn {
        approve: true,
        note: String::new(),
    };
    fx.ok(l3, &supervisor(), at(2) + mins(2), approve).await;
    fx.dispatch(l3, at(2) + mins(3), WATER_BUREAU, &[]).await;

    // L4: pending, uncategorized, same phone as L1.
    let mut new = appeal("咨询养老保险缴费");
    new.appeal_type = AppealType::Consultation;
    new.citizen.phone = "13800000001".to_owned();
    new.region_code = "320505001".to_owned();
    new.category = None;
    let l4 = fx.create(new, at(3)).await.id;

    // L5: answered directly.
    let mut new = appeal("咨询办事时间");
    new.appeal_type = AppealType::Consultation;
    new.region_code = "320505001".to_owned();
    new.category = Some(category("政务服务/政务服务/办事效率"));
    let l5 = fx.create(new, at(4)).await.id;
    let answer = Command::AnswerDirectly {
        content: "工作日九点至五点".to_owned(),
    };
    fx.ok(l5, &operator(), at(4) + mins(1), answer).await;

    // L6: a duplicate of L2, merged into it.
    let mut new = appeal("施工噪声太大");
    new.region_code = "320506001".to_owned();
    new.address = "吴中区干将路1号".to_owned();
    new.category = Some(category("环境保护/噪声污染/施工噪声"));
    let l6 = fx.create(new, at(5)).await.id;
    let master = fx.get(l2).await;
    let merge = Command::Merge {
        master_id: l2,
        master_status: master.status,
        note: String::new(),
    };
    fx.ok(l6, &operator(), at(5) + mins(1), merge).await;

    // L7: straight to the other street office.
    let mut new = appeal("占道经营");
    new.region_code = "320508002".to_owned();
    new.category = Some(category("城乡建设/城市管理/占道经营"));
    let l7 = fx.create(new, at(6)).await.id;
    fx.dispatch(l7, at(6), STREET_B, &[]).await;

    // L8, L9: filed at the same instant, so only the id orders them.
    let l8 = fx.create(appeal("同时一"), at(7)).await.id;
    let l9 = fx.create(appeal("同时二"), at(7)).await.id;
    let (tie_hi, tie_lo) = if l8 > l9 { (l8, l9) } else { (l9, l8) };

    let newest_first = vec![tie_hi, tie_lo, l7, l6, l5, l4, l3, l2, l1];
    for size in [0, 1, 2, 4, 9, 10] {
        assert_eq!(
            ids(&fx.list_all(&TicketFilter::default(), size).await),
            newest_first,
            "size {size}"
        );
    }

    let scoped = |ids: &[&str]| TicketFilter {
        departments: Some(ids.iter().map(|d| DepartmentId::from(*d)).collect()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&scoped(&[STREET_A]), 1).await), [l1]);
    assert_eq!(ids(&fx.list_all(&scoped(&[CITY_BUREAU]), 1).await), [l1]);
    let subtree = fx.world.directory.subtree(&CITY_BUREAU.into());
    let subtree_ids: Vec<&str> = subtree.iter().map(DepartmentId::as_str).collect();
    assert_eq!(ids(&fx.list_all(&scoped(&subtree_ids), 1).await), [l7, l1]);
    assert_eq!(
        ids(&fx.list_all(&scoped(&[WATER_BUREAU]), 1).await),
        [l3, l2]
    );
    assert_eq!(
        ids(&fx.list_all(&scoped(&[HOUSING_BUREAU]), 1).await),
        [l3],
        "a returned part counts"
    );
    assert!(
        fx.list_all(&scoped(&[]), 1).await.is_empty(),
        "scoped to no department sees nothing"
    );

    let filter = TicketFilter {
        lead_department_id: Some(WATER_BUREAU.into()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&filter, 1).await), [l3]);
    let of_status = |statuses: &[TicketStatus]| TicketFilter {
        statuses: statuses.to_vec(),
        ..TicketFilter::default()
    };
    assert_eq!(
        ids(&fx
            .list_all(&of_status(&[TicketStatus::PendingDispatch]), 1)
            .await),
        [tie_hi, tie_lo, l4]
    );
    assert_eq!(
        ids(&fx
            .list_all(&of_status(&[TicketStatus::Closed, TicketStatus::Merged]), 1)
            .await),
        [l6, l5]
    );
    let working = [TicketStatus::Dispatched, TicketStatus::InProgress];
    assert_eq!(
        ids(&fx.list_all(&of_status(&working), 2).await),
        [l7, l3, l2, l1]
    );

    let region = |prefix: &str| TicketFilter {
        region_prefix: Some(prefix.to_owned()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&region("320508002"), 1).await), [l7, l3]);
    assert_eq!(ids(&fx.list_all(&region("320506"), 1).await), [l6, l2]);
    assert_eq!(ids(&fx.list_all(&region("320505"), 1).await), [l5, l4]);
    let category_under = |prefix: &str| TicketFilter {
        category_prefix: Some(prefix.to_owned()),
        ..TicketFilter::default()
    };
    assert_eq!(
        ids(&fx.list_all(&category_under("环境保护"), 1).await),
        [l6, l2]
    );
    assert_eq!(
        ids(&fx.list_all(&category_under("城乡建设/公用事业"), 1).await),
        [l3]
    );
    assert_eq!(
        ids(&fx
            .list_all(&category_under("城乡建设/城市管理/占道经营"), 1)
            .await),
        [l7]
    );
    assert!(
        fx.list_all(&category_under("城乡"), 1).await.is_empty(),
        "prefixes match whole levels"
    );

    let text = |needle: &str| TicketFilter {
        text: Some(needle.to_owned()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&text("噪声"), 1).await), [l6, l2], "title");
    assert_eq!(ids(&fx.list_all(&text("十点后"), 1).await), [l2], "body");
    let phone = TicketFilter {
        phone: Some("13800000001".to_owned()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&phone, 1).await), [l4, l1]);
    let address = TicketFilter {
        address: Some("吴中区干将路1号".to_owned()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&address, 1).await), [l6, l2]);
    let window = TicketFilter {
        created_after: Some(at(2)),
        created_before: Some(at(5)),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&window, 2).await), [l5, l4, l3]);
    let combined = TicketFilter {
        departments: Some(vec![WATER_BUREAU.into()]),
        region_prefix: Some("320506".to_owned()),
        text: Some("噪声".to_owned()),
        ..TicketFilter::default()
    };
    assert_eq!(ids(&fx.list_all(&combined, 1).await), [l2]);

    let garbage = PageRequest {
        size: 2,
        token: Some("%%%".to_owned()),
    };
    invalid_field(
        fx.store
            .list_tickets(&TicketFilter::default(), &garbage)
            .await,
        "page_token",
    );
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// `events_after` returns every event once, by strictly increasing global id, and can
/// resume from any id.
pub async fn events_after_resumes_from_any_id<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let a = fx.create(appeal("A"), now).await.id;
    let b = fx.create(appeal("B"), now + mins(1)).await.id;
    fx.dispatch(a, now + mins(2), ENV_BUREAU, &[WATER_BUREAU])
        .await;
    fx.dispatch(b, now + mins(3), HOUSING_BUREAU, &[]).await;
    let applied = fx
        .apply(a, &department(ENV_BUREAU), now + mins(4), sign())
        .await;
    let applied = match applied {
        Ok(applied) => applied,
        Err(error) => panic!("sign: {error}"),
    };
    fx.sign(b, now + mins(5), HOUSING_BUREAU).await;
    let urge = Command::Urge {
        note: "请加快".to_owned(),
    };
    fx.ok(a, &supervisor(), now + mins(6), urge).await;
    fx.reply(b, now + mins(7), HOUSING_BUREAU).await;
    fx.ok(
        b,
        &operator(),
        now + mins(8),
        callback(Satisfaction::Satisfied, false),
    )
    .await;

    let mut all: Vec<StoredEvent> = Vec::new();
    let mut after = 0;
    for _ in 0..1_000 {
        let batch = match fx.store.events_after(after, 4).await {
            Ok(batch) => batch,
            Err(error) => panic!("events_after: {error}"),
        };
        assert!(batch.len() <= 4);
        let Some(last) = batch.last() else { break };
        after = last.id;
        all.extend(batch);
    }
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "ids strictly increase"
    );
    let timeline_a = fx.timeline(a).await;
    let timeline_b = fx.timeline(b).await;
    assert_eq!(all.len(), timeline_a.len() + timeline_b.len());
    let mut from_tickets: Vec<StoredEvent> = timeline_a.into_iter().chain(timeline_b).collect();
    from_tickets.sort_by_key(|e| e.id);
    assert_eq!(
        all, from_tickets,
        "the global feed is exactly the union of the timelines"
    );
    let signed = all.iter().find(|e| e.id == applied.events[0].id);
    assert_eq!(
        signed.map(|e| &e.event),
        Some(&applied.events[0].event),
        "apply returns global ids"
    );

    for (k, event) in all.iter().enumerate() {
        let rest = match fx.store.events_after(event.id, 100).await {
            Ok(rest) => rest,
            Err(error) => panic!("events_after {}: {error}", event.id),
        };
        assert_eq!(rest, all[k + 1..], "resuming after {}", event.id);
    }
    match fx.store.events_after(i64::MIN, 100).await {
        Ok(from_start) => assert_eq!(from_start, all),
        Err(error) => panic!("events_after from the start: {error}"),
    }
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Departments upsert and list; settings bump their version; API keys insert, look up,
/// list, and revoke once.
pub async fn reference_data_settings_and_api_keys<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let store = fx.store.as_ref();
    let now = t0();
    let expect = |what: &str, result: StoreResult<()>| {
        if let Err(error) = result {
            panic!("{what}: {error}");
        }
    };

    // Departments.
    let mut tree = departments();
    for dept in tree.iter().rev() {
        expect("upsert_department", store.upsert_department(dept).await);
    }
    tree.sort_by(|a, b| a.id.cmp(&b.id));
    let listed = match store.list_departments().await {
        Ok(listed) => listed,
        Err(error) => panic!("list_departments: {error}"),
    };
    assert_eq!(listed, tree);
    let mut renamed = tree[0].clone();
    renamed.name = "改名后的部门".to_owned();
    renamed.parent_id = Some(HOUSING_BUREAU.into());
    expect("upsert_department", store.upsert_department(&renamed).await);
    let listed = match store.list_departments().await {
        Ok(listed) => listed,
        Err(error) => panic!("list_departments: {error}"),
    };
    assert_eq!(listed.len(), tree.len());
    assert_eq!(listed[0], renamed);

    // Settings.
    let get = async |key: &str| match store.get_setting(key).await {
        Ok(setting) => setting,
        Err(error) => panic!("get_setting {key}: {error}"),
    };
    let put =
        async |key: &str, value: &str, at: Timestamp| match store.put_setting(key, value, at).await
        {
            Ok(version) => version,
            Err(error) => panic!("put_setting {key}: {error}"),
        };
    assert_eq!(get("routing_rules").await, None);
    assert_eq!(put("routing_rules", r#"{"rules":[]}"#, now).await, 1);
    let setting = get("routing_rules").await;
    assert_eq!(
        setting
            .as_ref()
            .map(|s| (s.value.as_str(), s.version, s.updated_at)),
        Some((r#"{"rules":[]}"#, 1, now))
    );
    assert_eq!(
        put("routing_rules", r#"{"rules":[1]}"#, now + mins(1)).await,
        2
    );
    let setting = get("routing_rules").await;
    assert_eq!(
        setting
            .as_ref()
            .map(|s| (s.value.as_str(), s.version, s.updated_at)),
        Some((r#"{"rules":[1]}"#, 2, now + mins(1)))
    );
    assert_eq!(
        put("deadline_policy", "{}", now).await,
        1,
        "versions are per key"
    );

    // API keys.
    let key = |id: &str, role: Role, dept: Option<&str>, created_at: Timestamp| ApiKeyRecord {
        id: id.to_owned(),
        name: format!("{id} key"),
        role,
        department_id: dept.map(DepartmentId::from),
        secret_hash: format!("{:0>64}", id.len()) + id,
        created_at,
        expires_at: None,
        revoked_at: None,
    };
    let mut k2 = key("k2", Role::Department, Some(ENV_BUREAU), now + mins(1));
    k2.expires_at = Some(now + days(365));
    let k1 = key("k1", Role::Operator, None, now);
    let k3 = key("k3", Role::Admin, None, now + mins(2));
    for k in [&k2, &k1, &k3] {
        expect("insert_api_key", store.insert_api_key(k).await);
    }
    let keys = match store.list_api_keys().await {
        Ok(keys) => keys,
        Err(error) => panic!("list_api_keys: {error}"),
    };
    assert_eq!(keys, [k1.clone(), k2.clone(), k3.clone()], "oldest first");
    let by_hash = async |hash: &str| match store.api_key_by_hash(hash).await {
        Ok(found) => found,
        Err(error) => panic!("api_key_by_hash: {error}"),
    };
    assert_eq!(by_hash(&k2.secret_hash).await, Some(k2.clone()));
    assert_eq!(by_hash("no-such-hash").await, None);
    let by_id = async |id: &str| match store.api_key_by_id(id).await {
        Ok(found) => found,
        Err(error) => panic!("api_key_by_id: {error}"),
    };
    assert_eq!(by_id("k3").await, Some(k3.clone()));
    assert_eq!(by_id("no-such-key").await, None);

    let duplicate_id = ApiKeyRecord {
        secret_hash: "another".to_owned(),
        ..k1.clone()
    };
    assert!(matches!(
        store.insert_api_key(&duplicate_id).await,
        Err(StoreError::Internal(_))
    ));
    let duplicate_hash = ApiKeyRecord {
        id: "k9".to_owned(),
        ..k1.clone()
    };
    assert!(matches!(
        store.insert_api_key(&duplicate_hash).await,
        Err(StoreError::Internal(_))
    ));

    let revoke = async |id: &str, at: Timestamp| store.revoke_api_key(id, at).await;
    let revoked = match revoke("k1", now + hours(1)).await {
        Ok(revoked) => revoked,
        Err(error) => panic!("revoke_api_key: {error}"),
    };
    assert_eq!(
        revoked,
        ApiKeyRecord {
            revoked_at: Some(now + hours(1)),
            ..k1.clone()
        }
    );
    match revoke("k1", now + hours(2)).await {
        Ok(again) => assert_eq!(
            again.revoked_at,
            Some(now + hours(1)),
            "the first revocation holds"
        ),
        Err(error) => panic!("revoke_api_key again: {error}"),
    }
    assert_eq!(
        by_hash(&k1.secret_hash).await.and_then(|k| k.revoked_at),
        Some(now + hours(1))
    );
    let unknown = revoke("nope", now).await;
    assert!(
        matches!(
            unknown,
            Err(StoreError::NotFound {
                entity: "api key",
                ..
            })
        ),
        "{unknown:?}"
    );
    assert_projection_matches_events(store).await;
}

/// Everything written survives closing the store and opening the database again.
pub async fn reopened_store_keeps_everything<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let request = create_request(appeal("路灯不亮"), now, Some("req-durable"));
    let created = match fx.try_create(request, now).await {
        Ok(created) => created.ticket,
        Err(error) => panic!("create: {error}"),
    };
    fx.dispatch(created.id, now + mins(1), ENV_BUREAU, &[])
        .await;
    let signed = fx.sign(created.id, now + mins(2), ENV_BUREAU).await;
    let timeline = fx.timeline(created.id).await;
    let feed = match fx.store.events_after(0, 100).await {
        Ok(feed) => feed,
        Err(error) => panic!("events_after: {error}"),
    };
    let dept = &departments()[0];
    let key = ApiKeyRecord {
        id: "k1".to_owned(),
        name: "durable".to_owned(),
        role: Role::Supervisor,
        department_id: None,
        secret_hash: "ab".repeat(32),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    let writes = [
        fx.store.upsert_department(dept).await,
        fx.store.put_setting("calendar", "{}", now).await.map(drop),
        fx.store.insert_api_key(&key).await,
    ];
    for write in writes {
        if let Err(error) = write {
            panic!("write before reopening: {error}");
        }
    }
    fx.store.close().await;
    drop(fx);

    let fx = Fixture::open(backend).await;
    assert_eq!(fx.get(created.id).await, signed);
    assert_eq!(fx.timeline(created.id).await, timeline);
    assert_eq!(fx.store.events_after(0, 100).await.ok(), Some(feed));
    assert_eq!(
        fx.store.list_departments().await.ok(),
        Some(vec![dept.clone()])
    );
    assert_eq!(
        fx.store
            .get_setting("calendar")
            .await
            .ok()
            .flatten()
            .map(|s| s.version),
        Some(1)
    );
    assert_eq!(fx.store.list_api_keys().await.ok(), Some(vec![key]));
    let deadlines = fx.deadlines_all(&DeadlineQuery::default(), 10).await;
    assert_eq!(
        deadlines.iter().map(|d| d.ticket.id).collect::<Vec<_>>(),
        [created.id]
    );

    // The idempotency key and the day's counter survived too.
    let retry = create_request(appeal("路灯不亮"), now, Some("req-durable"));
    match fx.try_create(retry, now + mins(3)).await {
        Ok(again) => {
            assert!(!again.created);
            assert_eq!(again.ticket.id, created.id);
        }
        Err(error) => panic!("retry after reopening: {error}"),
    }
    let next = fx.create(appeal("井盖缺失"), now + mins(4)).await;
    assert_eq!(next.number, format!("{CENTER}-{}-000002", day_of(now)));
    let t = fx.reply(created.id, now + mins(5), ENV_BUREAU).await;
    assert_eq!(
        t.version,
        signed.version + 1,
        "versions continue after reopening"
    );
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Returns the (kind, level) of each warning change among a sweep's events.
pub fn lights(applied: &Applied) -> Vec<(DeadlineKind, WarningLevel)> {
    applied
        .events
        .iter()
        .filter_map(|e| match e.event.kind {
            EventKind::WarningChanged { kind, level } => Some((kind, level)),
            _ => None,
        })
        .collect()
}

/// Sweeper: only tickets whose next check has come are taken; each warning level is
/// recorded once and in order, all missed levels in one command after a pause; a
/// second sweep at the same instant finds nothing; the timer follows the ticket
/// (none while awaiting dispatch or suspended, moved on resume).
pub async fn sweeper_takes_due_tickets_and_lights_each_level_once<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let pending = fx.create(appeal("待派单"), now).await.id;
    // A normal request: 24 h to sign (yellow after 19 h 12 min), 120 h to reply.
    let a = fx.create(appeal("路灯不亮"), now).await.id;
    fx.dispatch(a, now, ENV_BUREAU, &[]).await;
    let b = fx.create(appeal("井盖缺失"), now).await.id;
    fx.dispatch(b, now + mins(1), WATER_BUREAU, &[]).await;

    assert!(fx.due(now + hours(19)).await.is_empty());
    assert_eq!(
        fx.due(now + hours(20)).await,
        [
            (a, now + hours(19) + mins(12)),
            (b, now + hours(19) + mins(13))
        ]
    );
    let batch = fx.sweep(now + hours(20), 100).await;
    assert_eq!(batch.swept, 2);
    let swept: Vec<_> = batch
        .applied
        .iter()
        .map(|x| (x.ticket.id, lights(x)))
        .collect();
    let yellow = vec![(DeadlineKind::Sign, WarningLevel::Warning)];
    assert_eq!(swept, [(a, yellow.clone()), (b, yellow)]);
    assert!(
        batch
            .applied
            .iter()
            .flat_map(|x| &x.events)
            .all(|e| e.event.actor.role == Role::System)
    );
    let again = fx.sweep(now + hours(20), 100).await;
    assert_eq!(
        (again.swept, again.applied.len()),
        (0, 0),
        "a second sweep at the same instant finds nothing"
    );

    // Signing puts the light out; the reply window's yellow comes at 96 h.
    let t = fx.sign(b, now + hours(21), WATER_BUREAU).await;
    assert_eq!(t.warning_level, WarningLevel::None);
    // A sweeper that was down three days records both missed levels of a at once.
    let batch = fx.sweep(now + days(3), 100).await;
    assert_eq!(batch.swept, 1);
    assert_eq!(batch.applied[0].ticket.id, a);
    assert_eq!(
        lights(&batch.applied[0]),
        [
            (DeadlineKind::Sign, WarningLevel::Overdue),
            (DeadlineKind::Sign, WarningLevel::SeriouslyOverdue)
        ]
    );
    let versions: BTreeSet<u64> = batch.applied[0]
        .events
        .iter()
        .map(|e| e.event.version)
        .collect();
    assert_eq!(versions.len(), 1, "one command");
    let light_changes = fx
        .timeline(a)
        .await
        .iter()
        .filter(|e| e.event.kind.action() == "WARNING_CHANGED")
        .count();
    assert_eq!(light_changes, 3);
    let far = now + days(365);
    assert_eq!(
        fx.due(far).await,
        [(b, now + mins(1) + hours(96))],
        "a has no light left to turn on; the pending ticket never had a timer"
    );
    assert!(fx.due(far).await.iter().all(|(id, _)| *id != pending));

    // Suspended: no timer. Resumed after a day: the threshold moved by that day.
    let suspend = Command::RequestSuspension {
        reason: "等待材料".to_owned(),
        resume_by: None,
    };
    fx.ok(b, &department(WATER_BUREAU), now + days(3), suspend)
        .await;
    let approve = Command::DecideSuspension {
        approve: true,
        note: String::new(),
    };
    fx.ok(b, &supervisor(), now + days(3), approve).await;
    assert!(fx.due(far).await.is_empty());
    assert_eq!(fx.sweep(now + days(30), 100).await.swept, 0);
    let resume = Command::Resume {
        note: String::new(),
    };
    fx.ok(b, &supervisor(), now + days(4), resume).await;
    assert_eq!(fx.due(far).await, [(b, now + mins(1) + hours(120))]);
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// A replied ticket closes by itself at once when its citizen wants no callback, and at
/// `callback_due` otherwise; a batch takes the earliest due tickets first.
pub async fn sweeper_closes_replied_tickets_nobody_calls_back<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let mut quiet = appeal("不需要回访");
    quiet.citizen.wants_callback = false;
    let c1 = fx.create(quiet, now).await.id;
    let c2 = fx.create(appeal("需要回访"), now).await.id;
    for (id, replied_at) in [(c1, now + hours(1)), (c2, now + hours(2))] {
        fx.dispatch(id, now, ENV_BUREAU, &[]).await;
        fx.sign(id, now + mins(5), ENV_BUREAU).await;
        fx.reply(id, replied_at, ENV_BUREAU).await;
    }
    assert_eq!(fx.due(now + hours(3)).await, [(c1, now + hours(1))]);
    let batch = fx.sweep(now + hours(3), 100).await;
    assert_eq!(batch.applied.len(), 1);
    let closed = &batch.applied[0];
    assert_eq!(closed.ticket.id, c1);
    assert_eq!(actions(&closed.events), ["CLOSED"]);
    assert_eq!(closed.ticket.close_reason, Some(CloseReason::NoCallback));

    // c2: yellow at 80 % of its 48 h callback window, closed at its end.
    let batch = fx.sweep(now + hours(2 + 39), 100).await;
    assert_eq!(
        lights(&batch.applied[0]),
        [(DeadlineKind::Callback, WarningLevel::Warning)]
    );
    assert_eq!(fx.due(now + days(30)).await, [(c2, now + hours(50))]);
    let batch = fx.sweep(now + hours(50), 100).await;
    assert_eq!(actions(&batch.applied[0].events), ["CLOSED"]);
    assert_eq!(fx.get(c2).await.status, TicketStatus::Closed);
    assert!(fx.due(now + days(30)).await.is_empty());

    // Five tickets due one minute apart: batches of two take the earliest first.
    let mut due = Vec::new();
    for i in 0..5 {
        let id = fx.create(appeal("批量"), now).await.id;
        fx.dispatch(id, now + mins(i), HOUSING_BUREAU, &[]).await;
        due.push(id);
    }
    let later = now + hours(20);
    let mut taken = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = fx.sweep(later, 2).await;
        assert_eq!(batch.swept, expected);
        taken.extend(batch.applied.iter().map(|x| x.ticket.id));
    }
    assert_eq!(taken, due);
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Overdue listings filter by warning level (as the sweeper set it), and by department
/// across delegation: the delegate sees the deadline passed down to it, a co-handler
/// does not, a department that gave its ticket back no longer does.
pub async fn deadline_listing_filters_by_level_and_follows_delegation<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let x = fx.create(appeal("占道经营"), now).await.id;
    fx.dispatch(x, now, CITY_BUREAU, &[ENV_BUREAU]).await;
    fx.sign(x, now + mins(10), CITY_BUREAU).await;
    let delegate = Command::Delegate {
        to_department_id: STREET_A.into(),
        note: String::new(),
    };
    fx.ok(x, &department(CITY_BUREAU), now + mins(20), delegate)
        .await;
    let y = fx.create(appeal("停水"), now).await.id;
    fx.dispatch(y, now, WATER_BUREAU, &[]).await;
    let z = fx.create(appeal("退回的件"), now).await.id;
    fx.dispatch(z, now, HOUSING_BUREAU, &[]).await;
    let give_back = Command::Return {
        reason: "不属于本部门".to_owned(),
    };
    fx.ok(z, &department(HOUSING_BUREAU), now + mins(5), give_back)
        .await;
    let approve = Command::DecideReturn {
        approve: true,
        note: String::new(),
    };
    fx.ok(z, &operator(), now + mins(6), approve).await;
    fx.dispatch(z, now + mins(7), STREET_B, &[]).await;

    // y and z: red after 24 h, seriously after 48 h; x: reply yellow at 96 h.
    fx.sweep(now + hours(30), 100).await;
    let listed = async |query: DeadlineQuery| -> Vec<TicketId> {
        fx.deadlines_all(&query, 2)
            .await
            .iter()
            .map(|i| i.ticket.id)
            .collect()
    };
    let at_least = |level| DeadlineQuery {
        min_level: Some(level),
        ..DeadlineQuery::default()
    };
    assert_eq!(listed(at_least(WarningLevel::Warning)).await, [y, z]);
    assert_eq!(listed(at_least(WarningLevel::Overdue)).await, [y, z]);
    assert!(
        listed(at_least(WarningLevel::SeriouslyOverdue))
            .await
            .is_empty()
    );
    assert_eq!(listed(at_least(WarningLevel::None)).await, [y, z, x]);
    fx.sweep(now + hours(100), 100).await;
    assert_eq!(listed(at_least(WarningLevel::Warning)).await, [y, z, x]);
    assert_eq!(
        listed(at_least(WarningLevel::SeriouslyOverdue)).await,
        [y, z]
    );

    let of = |ids: &[&str]| DeadlineQuery {
        departments: Some(ids.iter().map(|d| DepartmentId::from(*d)).collect()),
        ..DeadlineQuery::default()
    };
    assert_eq!(listed(of(&[STREET_A])).await, [x], "the delegate sees it");
    assert_eq!(listed(of(&[CITY_BUREAU])).await, [x], "so does its parent");
    assert!(
        listed(of(&[ENV_BUREAU])).await.is_empty(),
        "the co-handler does not"
    );
    assert!(
        listed(of(&[HOUSING_BUREAU])).await.is_empty(),
        "nor a department that gave its ticket back"
    );
    assert_eq!(listed(of(&[WATER_BUREAU, STREET_B])).await, [y, z]);
    let street_red = DeadlineQuery {
        min_level: Some(WarningLevel::Overdue),
        ..of(&[STREET_A])
    };
    assert!(listed(street_red).await.is_empty());
    assert_projection_matches_events(fx.store.as_ref()).await;
}

// ---------------------------------------------------------------------------------------
// Analysis: duplicate candidates and hotspots
// ---------------------------------------------------------------------------------------

/// A construction-noise complaint, as the first caller put it.
const NOISE_FIRST: (&str, &str) = (
    "平江路工地夜间施工噪声扰民",
    "平江路123号旁边的工地每天晚上十一点以后还在打桩施工，噪声很大，周边居民无法休息，请相关部门尽快处理。",
);
/// The same matter in a second caller's words.
const NOISE_AGAIN: (&str, &str) = (
    "平江路工地深夜施工噪声大",
    "平江路123号旁边的工地每天晚上十一点后还在打桩施工，噪声非常大，周边居民都无法休息，请尽快处理！",
);
/// Another noise complaint: same category, different matter.
const NOISE_OTHER: (&str, &str) = (
    "广场舞音响声音太大",
    "桐泾公园南门广场每天晚上七点到九点半跳广场舞，音响开得很响，家里孩子没法写作业，希望城管协调降低音量。",
);
/// The noise category of the analysis cases.
const NOISE: &str = "环境保护/噪声污染/施工噪声";
/// The property-management category of the analysis cases.
const PROPERTY: &str = "城乡建设/物业管理/物业服务";

/// Returns an appeal with this text, category and region, from its own caller.
fn appeal_text(text: (&str, &str), category_path: &str, region: &str, phone: &str) -> NewTicket {
    let mut new = appeal(text.0);
    new.body = text.1.to_owned();
    new.category = Some(category(category_path));
    new.region_code = region.to_owned();
    new.citizen.phone = phone.to_owned();
    new
}

/// Returns the recent tickets after `cursor`, failing the test on an error.
async fn recent_after<S: Store>(
    store: &S,
    cursor: i64,
    since: Timestamp,
    limit: u32,
) -> RecentTickets {
    match store.recent_after(cursor, since, limit).await {
        Ok(recent) => recent,
        Err(error) => panic!("recent tickets after {cursor}: {error}"),
    }
}

fn recent_ids(recent: &RecentTickets) -> Vec<TicketId> {
    recent.tickets.iter().map(|t| t.ticket_id).collect()
}

/// What a duplicate index is filled and kept current with: the tickets of the window
/// as they are now (with their text's band keys), then, from the cursor on, each
/// ticket of the window that an event touched, once, in the order of those events;
/// tickets created before the window never. The signatures that score text matches
/// are the signatures of the stored text.
pub async fn recent_tickets_follow_the_event_log_within_the_window<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let since = now - days(30);
    let old = fx
        .create(
            appeal_text(NOISE_FIRST, NOISE, "320508001", "13900000001"),
            now - days(40),
        )
        .await;
    let first = fx
        .create(
            appeal_text(NOISE_FIRST, NOISE, "320508001", "13900000002"),
            now - days(2),
        )
        .await;
    let first = fx
        .dispatch(first.id, now - days(2) + mins(1), STREET_A, &[])
        .await;
    let other = fx
        .create(
            appeal_text(NOISE_OTHER, PROPERTY, "320508002", ""),
            now - days(1),
        )
        .await;
    let mut blank = appeal_text(("", "？！"), NOISE, "320508001", "13900000004");
    blank.title = "？".to_owned();
    let blank = fx.create(blank, now - hours(2)).await;

    let window = match fx.store.recent_tickets(since).await {
        Ok(window) => window,
        Err(error) => panic!("recent tickets: {error}"),
    };
    assert_eq!(
        recent_ids(&window),
        [first.id, other.id, blank.id],
        "oldest first, none before the window"
    );
    assert!(window.cursor > 0, "the cursor is the newest event's id");
    let kept = &window.tickets[0];
    assert_eq!(kept.number, first.number);
    assert_eq!(kept.created_at, first.created_at);
    assert_eq!(kept.status, TicketStatus::Dispatched, "as it is now");
    assert_eq!(kept.phone, "13900000002");
    assert_eq!(kept.address, first.address);
    assert_eq!(kept.category.as_deref(), Some(NOISE));
    assert_eq!(kept.region_code, "320508001");
    let first_signature = Signature::of(&first.title, &first.body).expect("letters");
    assert_eq!(kept.signature.as_ref(), Some(&first_signature));
    assert_eq!(window.tickets[1].phone, "", "no phone stays empty");
    assert_eq!(
        window.tickets[2].signature, None,
        "a text without letters has none"
    );

    // Nothing happened since: nothing to follow, the cursor stays.
    let quiet = recent_after(fx.store.as_ref(), window.cursor, since, 100).await;
    assert!(quiet.tickets.is_empty());
    assert_eq!((quiet.cursor, quiet.events), (window.cursor, 0));

    // Changes after the snapshot: a merge, an event on a ticket older than the
    // window, a new ticket, and another change of the merged one.
    fx.ok(
        other.id,
        &operator(),
        now - hours(1),
        Command::Merge {
            master_id: first.id,
            master_status: first.status,
            note: "同一件事".to_owned(),
        },
    )
    .await;
    fx.dispatch(old.id, now - mins(50), STREET_B, &[]).await;
    let late = fx
        .create(
            appeal_text(NOISE_AGAIN, NOISE, "320508001", "13900000005"),
            now - mins(30),
        )
        .await;
    let changes = recent_after(fx.store.as_ref(), window.cursor, since, 100).await;
    assert_eq!(
        recent_ids(&changes),
        [other.id, late.id],
        "each once, the old ticket never"
    );
    assert!(
        changes.events >= 3 && changes.events < 100,
        "{} events read",
        changes.events
    );
    assert_eq!(changes.tickets[0].status, TicketStatus::Merged);
    let late_signature = Signature::of(&late.title, &late.body).expect("letters");
    assert_eq!(changes.tickets[1].signature.as_ref(), Some(&late_signature));
    assert!(changes.cursor > window.cursor);
    let after_all = recent_after(fx.store.as_ref(), changes.cursor, since, 100).await;
    assert!(after_all.tickets.is_empty());
    assert_eq!(after_all.cursor, changes.cursor);

    // A limit reads that many events; following the cursor reads the rest, and a
    // ticket touched again later comes again, as it is then.
    let mut cursor = window.cursor;
    let mut followed = Vec::new();
    for _ in 0..20 {
        let step = recent_after(fx.store.as_ref(), cursor, since, 1).await;
        assert!(step.tickets.len() <= 1 && step.events <= 1);
        if step.cursor == cursor {
            break;
        }
        cursor = step.cursor;
        followed.extend(recent_ids(&step));
    }
    followed.dedup();
    assert_eq!(followed, [other.id, late.id]);
    assert_eq!(cursor, changes.cursor);

    let signatures = match fx
        .store
        .signatures(&[first.id, late.id, blank.id, old.id])
        .await
    {
        Ok(found) => found.into_iter().collect::<BTreeMap<_, _>>(),
        Err(error) => panic!("signatures: {error}"),
    };
    assert_eq!(signatures.len(), 3, "the blank text has none");
    assert_eq!(signatures[&first.id], first_signature);
    assert_eq!(signatures[&late.id], late_signature);
    assert!(late_signature.similarity(&first_signature) >= SIMILAR_THRESHOLD);
    assert!(matches!(fx.store.signatures(&[]).await, Ok(found) if found.is_empty()));
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Hotspot counts: per category and region prefix over a window, with the previous
/// window's count for the trend; merged tickets, uncategorised ones and those outside
/// both windows are not counted; samples are the group's newest tickets.
pub async fn hotspot_counts_group_by_category_and_region_with_trend<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let start = t0();
    let end = start + days(7);
    let noise =
        |region: &str, n: u32| appeal_text(NOISE_OTHER, NOISE, region, &format!("1390000{n:04}"));
    let mut in_window = Vec::new();
    for (n, region) in ["320508001", "320508001", "320508001", "320508002"]
        .into_iter()
        .enumerate()
    {
        let at = start + hours(1 + 10 * i64::try_from(n).unwrap_or(0));
        in_window.push(fx.create(noise(region, 1), at).await);
    }
    // The previous window: two in the same district, one on its first instant.
    fx.create(noise("320508001", 2), start - days(7)).await;
    fx.create(noise("320508002", 3), start - hours(1)).await;
    // Before both windows, at the end of the window, without a category, merged,
    // and a region code too short for street-level grouping.
    fx.create(noise("320508001", 4), start - days(7) - mins(1))
        .await;
    fx.create(noise("320508001", 5), end).await;
    let mut uncategorised = noise("320508001", 6);
    uncategorised.category = None;
    fx.create(uncategorised, start + hours(2)).await;
    let master = in_window[0].clone();
    let merged = fx.create(noise("320508001", 7), start + hours(3)).await;
    fx.ok(
        merged.id,
        &operator(),
        start + hours(4),
        Command::Merge {
            master_id: master.id,
            master_status: master.status,
            note: String::new(),
        },
    )
    .await;
    fx.create(noise("320508", 8), start + hours(5)).await;
    // Another category in the window.
    fx.create(
        appeal_text(NOISE_FIRST, PROPERTY, "320508001", "13900000009"),
        start + hours(6),
    )
    .await;

    let counts = |region_digits: u32, min_count: u64| {
        let query = HotspotQuery {
            start,
            end,
            region_digits,
            min_count,
            limit: 0,
        };
        let store = Arc::clone(&fx.store);
        async move {
            match store.hotspot_counts(&query).await {
                Ok(rows) => rows,
                Err(error) => panic!("hotspot counts: {error}"),
            }
        }
    };
    let district = counts(6, 2).await;
    assert_eq!(
        district,
        [HotspotCount {
            category: NOISE.to_owned(),
            region_prefix: "320508".to_owned(),
            count: 5,
            previous_count: 2,
            first_at: start + hours(1),
            last_at: start + hours(31),
        }]
    );
    let streets = counts(9, 1).await;
    let summary: Vec<(&str, &str, u64, u64)> = streets
        .iter()
        .map(|r| {
            (
                r.category.as_str(),
                r.region_prefix.as_str(),
                r.count,
                r.previous_count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (NOISE, "320508001", 3, 1),
            (PROPERTY, "320508001", 1, 0),
            (NOISE, "320508002", 1, 1),
        ],
        "largest first, ties by category then region; short region codes left out"
    );
    assert!(counts(6, 6).await.is_empty());

    let samples = match fx
        .store
        .hotspot_tickets(NOISE, "320508", start, end, 2)
        .await
    {
        Ok(tickets) => tickets,
        Err(error) => panic!("hotspot tickets: {error}"),
    };
    assert_eq!(
        ids(&samples),
        [in_window[3].id, in_window[2].id],
        "newest first"
    );
    let all = match fx
        .store
        .hotspot_tickets(NOISE, "320508", start, end, 100)
        .await
    {
        Ok(tickets) => tickets,
        Err(error) => panic!("hotspot tickets: {error}"),
    };
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|t| t.status != TicketStatus::Merged));

    let zero_digits = fx
        .store
        .hotspot_counts(&HotspotQuery {
            start,
            end,
            region_digits: 0,
            min_count: 1,
            limit: 0,
        })
        .await;
    invalid_field(zero_digits, "region_digits");
    let backwards = fx
        .store
        .hotspot_counts(&HotspotQuery {
            start: end,
            end: start,
            region_digits: 6,
            min_count: 1,
            limit: 0,
        })
        .await;
    invalid_field(backwards, "end");
    assert_projection_matches_events(fx.store.as_ref()).await;
}

/// Every appended event chains to its predecessor; the audit reads the whole log in
/// (ticket, seq) order across pages, or one ticket's, and finds no break.
pub async fn event_log_forms_a_verifiable_hash_chain_per_ticket<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let mut expected = 0usize;
    let mut ids = Vec::new();
    for n in 0..3 {
        let t = fx.create(appeal(&format!("路灯{n}不亮")), now).await;
        fx.dispatch(t.id, now + mins(1), ENV_BUREAU, &[]).await;
        fx.sign(t.id, now + mins(2), ENV_BUREAU).await;
        expected += fx.timeline(t.id).await.len();
        ids.push(t.id);
    }
    let mut verifier = crate::chain::Verifier::default();
    let mut after = None;
    loop {
        let rows = fx
            .store
            .audit_events(after.clone(), None, 2)
            .await
            .expect("audit rows");
        let Some(last) = rows.last() else { break };
        after = Some((last.ticket_id.clone(), last.seq));
        for row in &rows {
            assert_eq!(row.hash.len(), 64, "every event is hashed: {row:?}");
            verifier.check(row);
        }
    }
    assert!(verifier.breaks.is_empty(), "{:?}", verifier.breaks);
    assert_eq!((verifier.tickets, verifier.events), (3, expected as u64));

    let one = fx
        .store
        .audit_events(None, Some(ids[1]), 100)
        .await
        .expect("one ticket");
    assert_eq!(one.len(), fx.timeline(ids[1]).await.len());
    assert!(one.iter().all(|r| r.ticket_id == ids[1].to_string()));
    assert_eq!(one[0].prev_hash, crate::chain::GENESIS);
    assert_eq!(one[1].prev_hash, one[0].hash);
}

/// Statistics rows follow each part through late signs and replies, returns approved,
/// rejected and pending, delegation, extensions, urges, supervision, a reopen and a
/// second reply, callbacks and a merge: summed per department they give what
/// [`StatsBuilder`] computes over the tickets, at each step, on any calendar.
pub async fn department_totals_follow_every_change_of_a_part<B: Backend>(backend: &B) {
    let fx = Fixture::open(backend).await;
    let now = t0();
    let (env, housing, city) = (
        department(ENV_BUREAU),
        department(HOUSING_BUREAU),
        department(CITY_BUREAU),
    );
    let op = operator();
    let snapshot = async |fx: &Fixture<B::Store>| {
        let tickets = fx.list_all(&TicketFilter::default(), 100).await;
        assert_totals_match_tickets(fx.store.as_ref(), &tickets).await;
    };

    // a: on time, satisfied; water co-handles (not counted).
    let a = fx.create(appeal("路灯不亮"), now).await.id;
    fx.dispatch(a, now + mins(1), ENV_BUREAU, &[WATER_BUREAU])
        .await;
    fx.sign(a, now + mins(30), ENV_BUREAU).await;
    fx.reply(a, now + hours(5), ENV_BUREAU).await;
    fx.ok(
        a,
        &op,
        now + hours(6),
        callback(Satisfaction::Satisfied, false),
    )
    .await;

    // b: signed late, extension granted, urged and supervised, reply rejected on
    // callback and reopened, replied again.
    let b = fx.create(appeal("噪声扰民"), now).await.id;
    let t = fx.dispatch(b, now + mins(2), ENV_BUREAU, &[]).await;
    let reply_due = t.reply_due.unwrap_or(now);
    fx.sign(b, now + days(3), ENV_BUREAU).await;
    let request = Command::RequestExtension {
        requested_reply_due: reply_due + days(3),
        reason: "需协调".to_owned(),
    };
    fx.ok(b, &env, now + days(3) + hours(1), request).await;
    let approve = Command::DecideExtension {
        approve: true,
        note: String::new(),
    };
    fx.ok(b, &supervisor(), now + days(3) + hours(2), approve)
        .await;
    let urge = Command::Urge {
        note: "请加快".to_owned(),
    };
    fx.ok(b, &supervisor(), now + days(4), urge).await;
    let supervise = Command::Supervise {
        level: hotline_core::SupervisionLevel::Supervise,
        note: "督办".to_owned(),
        feedback_due: None,
    };
    fx.ok(b, &supervisor(), now + days(4) + hours(1), supervise)
        .await;
    snapshot(&fx).await;
    fx.reply(b, now + days(5), ENV_BUREAU).await;
    fx.ok(
        b,
        &op,
        now + days(6),
        callback(Satisfaction::Unsatisfied, true),
    )
    .await;
    snapshot(&fx).await;
    fx.reply(b, now + days(20), ENV_BUREAU).await;

    // c: given back (approved) by housing, dispatched to the city bureau, which
    // delegates to a street office that replies.
    let give_back = || Command::Return {
        reason: "不属于本部门职责".to_owned(),
    };
    let c = fx.create(appeal("违章搭建"), now).await.id;
    fx.dispatch(c, now + mins(3), HOUSING_BUREAU, &[]).await;
    fx.ok(c, &housing, now + mins(10), give_back()).await;
    let decide = |approve| Command::DecideReturn {
        approve,
        note: String::new(),
    };
    fx.ok(c, &supervisor(), now + mins(20), decide(true)).await;
    fx.dispatch(c, now + hours(1), CITY_BUREAU, &[]).await;
    fx.sign(c, now + hours(2), CITY_BUREAU).await;
    let delegate = Command::Delegate {
        to_department_id: STREET_A.into(),
        note: String::new(),
    };
    fx.ok(c, &city, now + hours(3), delegate).await;
    fx.sign(c, now + hours(4), STREET_A).await;
    fx.reply(c, now + days(2), STREET_A).await;

    // d: a return rejected, then another pending; never signed elsewhere.
    let d = fx.create(appeal("楼道漏水"), now).await.id;
    fx.dispatch(d, now + mins(4), HOUSING_BUREAU, &[]).await;
    fx.ok(d, &housing, now + mins(5), give_back()).await;
    fx.ok(d, &supervisor(), now + mins(6), decide(false)).await;
    fx.ok(d, &housing, now + mins(7), give_back()).await;

    // e: dispatched and never signed (overdue once its sign deadline passes);
    // f: merged into a.
    let e = fx.create(appeal("井盖缺失"), now).await.id;
    fx.dispatch(e, now + days(1), HOUSING_BUREAU, &[]).await;
    let f = fx.create(appeal("路灯又不亮"), now).await.id;
    fx.dispatch(f, now + mins(8), ENV_BUREAU, &[]).await;
    let master = fx.get(a).await;
    let merge = Command::Merge {
        master_id: a,
        master_status: master.status,
        note: String::new(),
    };
    fx.ok(f, &op, now + mins(9), merge).await;
    snapshot(&fx).await;

    // The figures are the parts': housing's approved return counts for nobody.
    let calendar = AlwaysOpen;
    let stats = stats_from_totals(
        fx.store.as_ref(),
        (now, now + days(30)),
        now + days(30),
        &calendar,
    )
    .await;
    let row = |id: &str| {
        stats
            .iter()
            .find(|r| r.department_id.as_str() == id)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {id}"))
    };
    let housing_row = row(HOUSING_BUREAU);
    assert_eq!(
        (
            housing_row.dispatched,
            housing_row.returns_approved,
            housing_row.returns_rejected,
            housing_row.returns_pending,
            housing_row.overdue,
        ),
        (2, 1, 1, 1, 2)
    );
    let env_row = row(ENV_BUREAU);
    assert_eq!(
        (
            env_row.dispatched,
            env_row.signed,
            env_row.replied,
            env_row.callbacks,
            env_row.satisfied,
            env_row.extensions,
            env_row.urged,
            env_row.supervised,
        ),
        (3, 2, 2, 2, 1, 1, 1, 1)
    );
    assert_eq!(row(STREET_A).replied, 1);
    assert_eq!(row(WATER_BUREAU).dispatched, 0);
    assert_projection_matches_events(fx.store.as_ref()).await;
    // The day rows, changed with each part, sum what the parts sum afresh.
    match fx.store.check_rows(&AlwaysOpen).await {
        Ok(problems) => assert!(problems.is_empty(), "rows disagree: {problems:?}"),
        Err(error) => panic!("check_rows: {error}"),
    }
}
