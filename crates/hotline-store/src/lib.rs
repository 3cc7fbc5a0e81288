//! The storage port of hotline. One [`Store`] trait speaks the domain's verbs;
//! each backend (SQLite, PostgreSQL) implements it and runs the same
//! [`conformance`] suite, so the closed loop behaves identically on both.
//!
//! The contract every backend keeps: a command's events and the ticket
//! projection they produce are written in one transaction, guarded by the
//! ticket's `version`; the projection always equals the replay of its events.
//!
//! Deadlines live in SQL only. Next to each projection a backend keeps its
//! running deadline, its warning light and its **next check**
//! ([`Ticket::next_check_at`], computed with the calendar of the command's
//! context): an indexed column that is the sweeper's durable timer. The
//! sweeper ([`Store::sweep_due`]) only ever reads tickets whose next check has
//! come, never the whole table.
//!
//! Analysis has its own indexes, so its cost follows the answer, not the table:
//! each ticket's text fingerprint ([`hotline_core::similar::Signature`]) is
//! written in the create transaction; duplicate look-ups run on a server's
//! in-memory index of recent tickets, filled by [`Store::recent_tickets`] and
//! kept current by [`Store::recent_after`]; an index on the creation time serves the
//! grouped counts of [`Store::hotspot_counts`]; one narrow statistics row per
//! lead or delegated part ([`stats`]), rewritten with the ticket, serves the
//! per-department sums of [`Store::department_totals`].

#![forbid(unsafe_code)]

pub mod bulk;
pub mod chain;
pub mod check;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod stats;

use async_trait::async_trait;
use hotline_core::similar::Signature;
use hotline_core::similar::index::RecentTicket;
use hotline_core::{
    Calendar, Command, Context, DeadlineKind, Department, DepartmentId, DepartmentStats,
    DomainError, Event, NewTicket, Role, StatsPart, Ticket, TicketId, TicketStatus, WarningLevel,
};
use jiff::{SignedDuration, Timestamp};

/// Why a store call failed. Callers act on the variant; the text is for logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The ticket, department or key does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked up (`ticket`, `department`, `api key`).
        entity: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The caller's `expected_version` is stale, or a concurrent writer got there first.
    #[error("version conflict: expected {expected}, found {actual}")]
    Conflict {
        /// The version the caller expected.
        expected: u64,
        /// The version stored.
        actual: u64,
    },
    /// The domain refused the command (illegal transition, bad field, limit): nothing written.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// The database cannot be reached or is read-only/full; retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data. Logged, never shown to clients.
    #[error("internal storage error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// An event as stored: its global position lets watchers resume where they stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Global, strictly increasing position across all tickets.
    pub id: i64,
    /// The event.
    pub event: Event,
}

/// A new appeal plus what the store needs to file it.
#[derive(Debug, Clone)]
pub struct CreateTicket {
    /// Idempotency key: a retry with the same key returns the first ticket.
    pub request_id: Option<String>,
    /// The id for the new ticket (UUIDv7).
    pub id: TicketId,
    /// Center code: first part of the human number.
    pub center: String,
    /// Local date `YYYYMMDD` of intake: second part of the human number.
    pub day: String,
    /// The appeal.
    pub ticket: NewTicket,
}

/// The outcome of [`Store::create_ticket`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The ticket (the existing one on an idempotent retry).
    pub ticket: Ticket,
    /// Events written by this call; empty on a retry.
    pub events: Vec<StoredEvent>,
    /// False when the request id was seen before.
    pub created: bool,
}

/// The outcome of [`Store::apply`].
#[derive(Debug, Clone)]
pub struct Applied {
    /// The ticket after the command.
    pub ticket: Ticket,
    /// The events the command appended.
    pub events: Vec<StoredEvent>,
}

/// A page request: at most `size` items after the opaque `token` of the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Items wanted (backends cap it at [`MAX_PAGE_SIZE`]; 0 means the default of 50).
    pub size: u32,
    /// The previous page's `next_token`, or `None` for the first page.
    pub token: Option<String>,
}

/// Largest page a backend returns.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Most tickets one [`Store::sweep_due`] or [`Store::due_for_sweep`] call takes.
pub const MAX_SWEEP_BATCH: u32 = 1000;

impl PageRequest {
    /// Returns the effective page size.
    pub fn effective_size(&self) -> u32 {
        match self.size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Token for the next page; `None` when this was the last.
    pub next_token: Option<String>,
}

/// Filters for [`Store::list_tickets`]; unset fields match everything. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    /// Only these statuses.
    pub statuses: Vec<TicketStatus>,
    /// Only tickets in which one of these departments holds or held a part (scoping).
    pub departments: Option<Vec<DepartmentId>>,
    /// Only tickets whose current lead is this department.
    pub lead_department_id: Option<DepartmentId>,
    /// Region code prefix.
    pub region_prefix: Option<String>,
    /// Category path prefix, on whole levels.
    pub category_prefix: Option<String>,
    /// Created at or after.
    pub created_after: Option<Timestamp>,
    /// Created before.
    pub created_before: Option<Timestamp>,
    /// Citizen phone, exactly (for duplicate detection).
    pub phone: Option<String>,
    /// Address, exactly (for duplicate detection).
    pub address: Option<String>,
    /// Substring of title or body.
    pub text: Option<String>,
}

/// Filters for [`Store::list_deadlines`]: tickets whose running deadline falls in a range.
/// Unset fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeadlineQuery {
    /// Only deadlines strictly before this instant (`now` for overdue).
    pub due_before: Option<Timestamp>,
    /// Only deadlines at or after this instant (`now` for due soon).
    pub due_after: Option<Timestamp>,
    /// Only this kind of deadline.
    pub kind: Option<DeadlineKind>,
    /// Only tickets in which one of these departments holds a live lead or
    /// delegated part: the deadline listed is the one those parts work against
    /// (a delegate inherits its parent's), so a street office sees the tickets
    /// passed down to it. Co-handlers' parts do not match: the ticket's sign and
    /// reply deadlines are not theirs. An empty list matches nothing.
    pub departments: Option<Vec<DepartmentId>>,
    /// Region code prefix.
    pub region_prefix: Option<String>,
    /// Category path prefix, on whole levels.
    pub category_prefix: Option<String>,
    /// Only tickets whose warning light, as the sweeper last set it, is at least this.
    pub min_level: Option<WarningLevel>,
}

/// A ticket and the deadline it runs against, for overdue and due-soon listings.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadlineItem {
    /// The ticket.
    pub ticket: Ticket,
    /// Which deadline.
    pub kind: DeadlineKind,
    /// When it falls.
    pub due: Timestamp,
}

/// A ticket whose next check has come, as [`Store::due_for_sweep`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepDue {
    /// The ticket.
    pub id: TicketId,
    /// When the sweeper should have looked at it.
    pub next_check_at: Timestamp,
}

/// Counts for the operations gauges, read in one go by [`Store::ticket_counts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketCounts {
    /// Tickets per status; statuses with no ticket are left out.
    pub by_status: Vec<(TicketStatus, u64)>,
    /// Per lead department, tickets whose running sign or reply deadline has passed
    /// (callback deadlines are the center's, not the department's); only departments
    /// with at least one, ordered by id.
    pub overdue_by_department: Vec<(DepartmentId, u64)>,
}

impl TicketCounts {
    /// Builds the counts from the two grouped queries every backend runs:
    /// `(status, count)` rows and `(lead department, overdue count)` rows.
    ///
    /// # Errors
    /// [`StoreError::Internal`] for a stored status the domain does not know.
    pub fn from_rows(
        statuses: Vec<(String, i64)>,
        overdue: Vec<(String, i64)>,
    ) -> StoreResult<TicketCounts> {
        let by_status = statuses
            .into_iter()
            .map(|(status, n)| {
                let parsed = status.parse::<TicketStatus>().map_err(|e| {
                    StoreError::Internal(anyhow::anyhow!(
                        "corrupt stored data: ticket status {status:?}: {e}"
                    ))
                })?;
                Ok((parsed, n.unsigned_abs()))
            })
            .collect::<StoreResult<_>>()?;
        let overdue_by_department = overdue
            .into_iter()
            .map(|(department, n)| (DepartmentId::from(department.as_str()), n.unsigned_abs()))
            .collect();
        Ok(TicketCounts {
            by_status,
            overdue_by_department,
        })
    }
}

/// What one [`Store::sweep_due`] batch did.
#[derive(Debug, Clone, Default)]
pub struct SweptBatch {
    /// Tickets taken from the timer: each either changed (in `applied`) or got a
    /// later next check.
    pub swept: usize,
    /// The tickets that changed, each with the events appended (warning changes
    /// or an automatic close), in the order they were swept.
    pub applied: Vec<Applied>,
}

/// An API credential as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id, shown in listings and logs.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The department a DEPARTMENT key is bound to.
    pub department_id: Option<DepartmentId>,
    /// Hex of the keyed hash of the secret.
    pub secret_hash: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A versioned setting document (routing rules, deadline policy, calendar), stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The JSON document.
    pub value: String,
    /// Bumped on every put, from 1.
    pub version: i64,
    /// When it was last put.
    pub updated_at: Timestamp,
}

/// Most groups one [`Store::hotspot_counts`] call returns.
pub const MAX_HOTSPOT_GROUPS: u32 = 500;
/// Most events one [`Store::recent_after`] call reads.
pub const MAX_RECENT_EVENTS: u32 = 5000;

/// The tickets of [`Store::recent_tickets`], both backends' SQL: `$1` the window's
/// start in nanoseconds. Columns as the backends read a [`RecentTicket`].
pub const RECENT_TICKETS_SQL: &str = "select t.id, t.number, t.created_at, t.status, t.phone, \
    t.address, t.category_path, t.region_code, s.signature from tickets t \
    left join ticket_signatures s on s.ticket_id = t.id \
    where t.created_at >= $1 order by t.created_at, t.id";

/// The events of [`Store::recent_after`], each joined to its ticket as it is now,
/// both backends' SQL: `$1` the window's start in nanoseconds, `$2` the cursor, `$3`
/// the limit. Events of tickets older than the window come back with `recent` false
/// and no signature, to move the cursor.
pub const RECENT_AFTER_SQL: &str = "select e.id as event_id, t.created_at >= $1 as recent, \
    t.id, t.number, t.created_at, t.status, t.phone, t.address, t.category_path, \
    t.region_code, s.signature from \
    (select id, ticket_id from events where id > $2 order by id limit $3) e \
    join tickets t on t.id = e.ticket_id \
    left join ticket_signatures s on s.ticket_id = t.id and t.created_at >= $1 \
    order by e.id";

/// Recent tickets as duplicate detection keeps them, and the position in the event
/// log they are current as of: [`Store::recent_after`] goes on from there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentTickets {
    /// The tickets, in the order their first event was appended.
    pub tickets: Vec<RecentTicket>,
    /// The id of the last event they reflect (0 before any).
    pub cursor: i64,
    /// Events read ([`Store::recent_after`]): fewer than asked means none is left.
    pub events: u32,
}

impl RecentTickets {
    /// Gathers the answer of [`Store::recent_after`] from the events read after
    /// `cursor`, in order: each event's id, and its ticket as it is now when that was
    /// created within the window. Each ticket comes once, where it first came; the
    /// cursor moves to the last event read, in the window or not.
    pub fn from_events(cursor: i64, events: Vec<(i64, Option<RecentTicket>)>) -> RecentTickets {
        let mut out = RecentTickets {
            tickets: Vec::new(),
            cursor,
            events: u32::try_from(events.len()).unwrap_or(u32::MAX),
        };
        let mut seen = std::collections::HashSet::new();
        for (event_id, ticket) in events {
            out.cursor = event_id;
            if let Some(ticket) = ticket.filter(|t| seen.insert(t.ticket_id)) {
                out.tickets.push(ticket);
            }
        }
        out
    }
}

/// Grouped ticket counts for hotspot detection: tickets created in `[start, end)`
/// per (category path, region code prefix of `region_digits` digits), and the
/// same groups' counts in the previous window of the same length (the trend).
/// MERGED tickets, tickets without a category and region codes shorter than
/// `region_digits` are not counted.
#[derive(Debug, Clone, PartialEq)]
pub struct HotspotQuery {
    /// Start of the window (inclusive).
    pub start: Timestamp,
    /// End of the window (exclusive).
    pub end: Timestamp,
    /// Digits of the region code to group by (6 district, 9 street, 12 community).
    pub region_digits: u32,
    /// Only groups with at least this many tickets in the window (0 counts as 1).
    pub min_count: u64,
    /// Groups wanted; 0 or more than [`MAX_HOTSPOT_GROUPS`] means that cap.
    pub limit: u32,
}

impl HotspotQuery {
    /// Returns the start of the previous window: `[previous_start, start)` is as long
    /// as `[start, end)`.
    pub fn previous_start(&self) -> Timestamp {
        let length = self
            .end
            .duration_since(self.start)
            .max(SignedDuration::ZERO);
        self.start.checked_sub(length).unwrap_or(Timestamp::MIN)
    }

    /// Returns the effective limit.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => MAX_HOTSPOT_GROUPS,
            n => n.min(MAX_HOTSPOT_GROUPS),
        }
    }
}

/// One group of [`Store::hotspot_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotCount {
    /// Category path.
    pub category: String,
    /// Region code prefix, `region_digits` long.
    pub region_prefix: String,
    /// Tickets in the window.
    pub count: u64,
    /// Tickets of the same group in the previous window of the same length.
    pub previous_count: u64,
    /// Creation of the earliest ticket in the window.
    pub first_at: Timestamp,
    /// Creation of the latest ticket in the window.
    pub last_at: Timestamp,
}

/// A look-up of the statistics rows ([`StatsPart`]) of some departments' parts
/// handed over in `[start, end)`, summed per department.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    /// The departments; an empty list matches nothing.
    pub departments: Vec<DepartmentId>,
    /// First instant of the period.
    pub start: Timestamp,
    /// First instant after the period.
    pub end: Timestamp,
    /// The instant overdue parts are judged at.
    pub now: Timestamp,
    /// [`Calendar::identity`] of the calendar the working times are wanted on:
    /// rows written on another calendar (or `None`) have their times left out of
    /// the sums and are returned to be timed again.
    pub calendar: Option<u64>,
}

/// What [`Store::department_totals`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsTotals {
    /// Per department with at least one part in the period, the sums of its rows
    /// (name empty, rank 0), working times only of rows written on the query's calendar.
    pub sums: Vec<DepartmentStats>,
    /// The rows written on another calendar, whose working times the caller
    /// computes afresh ([`hotline_core::StatsBuilder::add_times`]).
    pub retime: Vec<StatsPart>,
}

/// The storage port.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Files a new ticket: validates it through the domain, assigns its number,
    /// writes its events and projection in one transaction. A request id seen
    /// before returns that ticket unchanged with `created == false`.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for invalid input; [`StoreError::Unavailable`].
    async fn create_ticket(&self, request: CreateTicket, ctx: &Context<'_>)
    -> StoreResult<Created>;

    /// Loads a ticket's projection.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket>;

    /// Applies a command: loads the ticket, checks `expected_version`, decides,
    /// appends the events and updates the projection in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] on a stale version;
    /// [`StoreError::Rejected`] when the domain refuses (nothing is written).
    async fn apply(
        &self,
        id: TicketId,
        expected_version: Option<u64>,
        command: Command,
        ctx: &Context<'_>,
    ) -> StoreResult<Applied>;

    /// Lists tickets newest first, with cursor pagination.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for a malformed page token.
    async fn list_tickets(
        &self,
        filter: &TicketFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Ticket>>;

    /// Returns a ticket's events in order.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn timeline(&self, id: TicketId) -> StoreResult<Vec<StoredEvent>>;

    /// Lists tickets by running deadline, earliest (most overdue) first, with cursor pagination.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for a malformed page token.
    async fn list_deadlines(
        &self,
        query: &DeadlineQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DeadlineItem>>;

    /// Lists up to `limit` (at most [`MAX_SWEEP_BATCH`]) tickets whose next check is
    /// at or before `now`, earliest first (ties by id): the sweeper's due work.
    /// Reads only; see [`Store::sweep_due`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn due_for_sweep(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<SweepDue>>;

    /// Takes up to `limit` (at most [`MAX_SWEEP_BATCH`]) tickets whose next check is at or before `ctx.now`,
    /// earliest first, and sweeps each ([`Ticket::sweep`] as `ctx.actor`): the
    /// events (if any) are appended and the projection, its light and its next
    /// check rewritten, so every ticket taken leaves the due work, all in one
    /// transaction. Concurrent sweepers (replicas) never take the same ticket
    /// twice, and a ticket swept twice at one instant changes once: sweeping is
    /// idempotent. A row that cannot be read is logged and put off for an hour,
    /// so it cannot hold up the rest.
    ///
    /// Callers loop until a batch sweeps nothing.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; nothing of a failed batch is written.
    async fn sweep_due(&self, ctx: &Context<'_>, limit: u32) -> StoreResult<SweptBatch>;

    /// Lists the tickets created at or after `since` as they are now (oldest first),
    /// read in one snapshot with the id of the newest event in it. A server fills its
    /// duplicate index ([`hotline_core::similar::index`]) from this once, then follows
    /// [`Store::recent_after`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; [`StoreError::Internal`] for an unreadable row.
    async fn recent_tickets(&self, since: Timestamp) -> StoreResult<RecentTickets>;

    /// Lists the tickets created at or after `since` that the events after `cursor`
    /// touched (at most `limit` events read, [`MAX_RECENT_EVENTS`] at most), as they
    /// are now, each once, in the order of their first such event; and the id of the
    /// last event read (`cursor` when there is none).
    ///
    /// Event ids grow in commit order: every transaction appending events holds
    /// the event log until it commits, and takes its ids under that hold. So an
    /// event after the cursor cannot commit later than one already read, and
    /// following the cursor misses no change, whichever replica made it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; [`StoreError::Internal`] for an unreadable row.
    async fn recent_after(
        &self,
        cursor: i64,
        since: Timestamp,
        limit: u32,
    ) -> StoreResult<RecentTickets>;

    /// Returns the text signatures of those of `ids` that have one, in no order.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; [`StoreError::Internal`] for an unreadable row.
    async fn signatures(&self, ids: &[TicketId]) -> StoreResult<Vec<(TicketId, Signature)>>;

    /// Counts tickets per (category, region prefix) in the window and the previous
    /// window (see [`HotspotQuery`]), keeps groups with at least `min_count` in the
    /// window, largest first (ties by category, then region), at most
    /// [`HotspotQuery::effective_limit`]. Reads an index on the creation time, never
    /// tickets outside the two windows.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] when `region_digits` is 0 or `end` is not after
    /// `start`; [`StoreError::Unavailable`].
    async fn hotspot_counts(&self, query: &HotspotQuery) -> StoreResult<Vec<HotspotCount>>;

    /// Lists up to `limit` (at most [`MAX_PAGE_SIZE`]) tickets of one hotspot group:
    /// exactly `category`, region code starting with `region_prefix`, created in
    /// `[start, end)`, not MERGED; newest first. The samples a supervisor reads.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn hotspot_tickets(
        &self,
        category: &str,
        region_prefix: &str,
        start: Timestamp,
        end: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Ticket>>;

    /// Sums the statistics rows of `query.departments`' lead and delegated parts
    /// handed over in `[start, end)`: one row per part, written with the ticket in
    /// the transaction of every change ([`hotline_core::stats_parts`] of the
    /// projection on the command's calendar) and indexed by (department,
    /// hand-over), so the cost follows the parts of the period, not the tickets
    /// stored, and no projection is decoded. Adding the sums, then the times of
    /// the rows to retime, to a [`hotline_core::StatsBuilder`] gives what adding
    /// the tickets would.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn department_totals(&self, query: &StatsQuery) -> StoreResult<StatsTotals>;

    /// Returns up to `limit` events with ids greater than `after_id`, oldest first (for watchers resuming).
    async fn events_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<StoredEvent>>;

    /// Creates or replaces a department.
    async fn upsert_department(&self, department: &Department) -> StoreResult<()>;

    /// Lists every department, ordered by id.
    async fn list_departments(&self) -> StoreResult<Vec<Department>>;

    /// Returns a setting document, if it was ever put.
    async fn get_setting(&self, key: &str) -> StoreResult<Option<Setting>>;

    /// Replaces a setting document, bumping its version; returns the new version.
    async fn put_setting(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<i64>;

    /// Stores a new API key record.
    ///
    /// # Errors
    /// [`StoreError::Internal`] if the id or hash already exists.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;

    /// Finds a key by the hash of its secret.
    async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// Finds a key by its id (a client certificate names the key it acts as).
    async fn api_key_by_id(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// Lists every key, oldest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Marks a key revoked (idempotent: the first revocation time is kept).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn revoke_api_key(&self, id: &str, at: Timestamp) -> StoreResult<ApiKeyRecord>;

    /// Counts tickets by status and overdue sign or reply deadlines by lead
    /// department at `now`, for the operations gauges. Runs on indexed columns:
    /// it is polled every few seconds by every replica.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn ticket_counts(&self, now: Timestamp) -> StoreResult<TicketCounts>;

    /// Reads the event log for the audit, in (ticket, seq) order, after `after`
    /// (a ticket id as stored, and a seq), optionally for one ticket only: the rows
    /// exactly as stored, for [`chain::Verifier`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn audit_events(
        &self,
        after: Option<(String, i64)>,
        ticket: Option<TicketId>,
        limit: u32,
    ) -> StoreResult<Vec<chain::AuditRow>>;

    /// Checks that rows agree with each other: no orphan rows, every ticket with
    /// events and at its newest event's version, and every ticket row's indexed columns
    /// (status, deadline, warning level, next sweep) what its projection implies on
    /// `calendar`. Reads the whole store; for `hotline check`.
    async fn check_rows(&self, calendar: &dyn Calendar) -> StoreResult<Vec<check::RowProblem>>;

    /// Closes connections after in-flight calls finish.
    async fn close(&self);
}
