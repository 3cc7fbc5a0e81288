//! The PostgreSQL backend of hotline's [`Store`] port: production mode, where several
//! stateless server replicas share one database.
//!
//! Layout and discipline:
//! - Every state change is one transaction at PostgreSQL's default `read committed`
//!   isolation, with `synchronous_commit` left on: a commit returns once its WAL is
//!   flushed, so an acknowledged write survives a crash of the database server.
//! - A command locks its ticket row (`select ... for update`) before deciding, so
//!   concurrent commands on one ticket queue up and each sees the previous one's result;
//!   the projection update is still guarded by `version`, and a stale `expected_version`
//!   is a [`StoreError::Conflict`].
//! - New tickets are group-committed: [`Store::create_ticket`] decides the ticket on the
//!   caller's task, then queues it for a writer task that files whatever has queued in
//!   one transaction, one WAL flush for all (see the `group` module).
//! - Idempotent creates claim their request id first (`on conflict do nothing` on its
//!   primary key): a concurrent create with the same id, from any process, waits for the
//!   first to commit, then reads its ticket back. Ticket numbers come from a counter row
//!   per center and day, incremented in the creating transaction.
//! - Transactions that append events lock one shared row just before they do, so global
//!   event ids become visible in id order and a watcher resuming after an id misses nothing.
//! - The sweeper takes due tickets with `for update skip locked`: replicas sweeping at the
//!   same time split the due work and never escalate a ticket twice.
//! - A connection that cannot be had within [`ACQUIRE_TIMEOUT`] is
//!   [`StoreError::Unavailable`], as is a server that is down, restarting or read-only.
//! - The schema lives in `migrations/postgres` at the workspace root, embedded at build
//!   time and applied by [`PgStore::connect`] and [`migrate`].

#![forbid(unsafe_code)]

mod analysis;
mod audit;
mod bulk;
mod codec;
mod error;
mod group;
mod sql;
mod stats;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use hotline_core::similar::Signature;
use hotline_core::{
    Calendar, Command, Context, DeadlineKind, Department, DepartmentId, DomainError, Event, Role,
    Ticket, TicketId, WarningLevel,
};
use hotline_store::chain;
use hotline_store::{
    ApiKeyRecord, Applied, CreateTicket, Created, DeadlineItem, DeadlineQuery, HotspotCount,
    HotspotQuery, MAX_SWEEP_BATCH, Page, PageRequest, RecentTickets, Setting, StatsQuery,
    StatsTotals, Store, StoreError, StoreResult, StoredEvent, SweepDue, SweptBatch, TicketCounts,
    TicketFilter,
};
use jiff::Timestamp;
use sqlx::migrate::Migrator;
pub use sqlx::postgres::PgConnectOptions;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Row, Transaction};
use uuid::Uuid;

use crate::codec::{
    Cursor, Listing, TicketColumns, decode_token, encode_token, event_from_json, from_nanos, int,
    nanos, ticket_from_json, to_json,
};
use crate::error::{corrupt, db};
use crate::sql::Sql;

/// The schema history, embedded from `migrations/postgres` at the workspace root.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Oldest server accepted (`server_version_num`): PostgreSQL 13, the oldest still
/// supported upstream when this backend was written.
pub const MIN_SERVER_VERSION: i32 = 130_000;
/// Connections per store (per server replica). Transactions are short; a replica rarely
/// needs more, and N replicas together must stay under the server's `max_connections`.
pub const MAX_CONNECTIONS: u32 = 16;
/// How long a call waits for a pooled connection (or for a new one to be established)
/// before the store reports itself unavailable, instead of hanging while the server is down.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest idempotency key accepted, in bytes.
const MAX_REQUEST_ID_BYTES: usize = 128;
/// How long the sweeper leaves a due row it cannot read before trying again.
const PUT_OFF: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The task that files new tickets in batches (see the `group` module).
    writer: group::Writer,
}

/// Parses a `postgres://` URL into connection options.
///
/// # Errors
/// [`StoreError::Rejected`] naming `database_url` when it does not parse (the message
/// never repeats the URL, which may carry a password).
pub fn parse_url(url: &str) -> StoreResult<PgConnectOptions> {
    url.parse::<PgConnectOptions>().map_err(|error| {
        let reason = match error {
            sqlx::Error::Configuration(cause) => format!("is not a PostgreSQL URL: {cause}"),
            _ => "is not a PostgreSQL URL".to_owned(),
        };
        StoreError::Rejected(DomainError::InvalidField {
            field: "database_url",
            reason,
        })
    })
}

/// Opens a pool on `options` and checks the server's version.
async fn open_pool(options: PgConnectOptions) -> StoreResult<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.application_name("hotline"))
        .await
        .map_err(db("connecting to the database"))?;
    let version: StoreResult<i32> =
        sqlx::query_scalar("select current_setting('server_version_num')::integer")
            .fetch_one(&pool)
            .await
            .map_err(db("reading the server version"));
    match version {
        Ok(version) if version >= MIN_SERVER_VERSION => Ok(pool),
        Ok(version) => {
            pool.close().await;
            Err(StoreError::Internal(anyhow::anyhow!(
                "PostgreSQL server version {version} is older than the oldest supported, \
                 {MIN_SERVER_VERSION}"
            )))
        }
        Err(error) => {
            pool.close().await;
            Err(error)
        }
    }
}

/// Applies every pending migration to the database at `url`. Safe to run from several
/// processes at once: the migrator holds an advisory lock while it works.
///
/// # Errors
/// [`StoreError::Rejected`] for a malformed URL; [`StoreError::Unavailable`] when the
/// server cannot be reached; [`StoreError::Internal`] when the stored history does not
/// match the embedded one.
pub async fn migrate(url: &str) -> StoreResult<()> {
    migrate_with(parse_url(url)?).await
}

/// Like [`migrate`], with connection options built by the caller (e.g. another
/// `search_path`).
///
/// # Errors
/// As [`migrate`].
pub async fn migrate_with(options: PgConnectOptions) -> StoreResult<()> {
    let pool = open_pool(options).await?;
    let outcome = MIGRATOR.run(&pool).await.map_err(error::migrate);
    pool.close().await;
    outcome
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations.
    ///
    /// # Errors
    /// As [`migrate`].
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        PgStore::connect_with(parse_url(url)?).await
    }

    /// Like [`PgStore::connect`], with connection options built by the caller (e.g. a
    /// `search_path` option to keep hotline's tables in their own schema).
    ///
    /// # Errors
    /// As [`migrate`].
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<PgStore> {
        let pool = open_pool(options).await?;
        if let Err(error) = MIGRATOR.run(&pool).await {
            pool.close().await;
            return Err(error::migrate(error));
        }
        if let Err(error) = audit::backfill(&pool).await {
            pool.close().await;
            return Err(error);
        }
        if let Err(error) = stats::backfill(&pool).await {
            pool.close().await;
            return Err(error);
        }
        let writer = group::Writer::spawn(pool.clone());
        Ok(PgStore { pool, writer })
    }

    /// The connection pool, for maintenance and tests that need raw SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin()
            .await
            .map_err(db("starting a transaction"))
    }
}

/// Rolls back a transaction whose work is refused; a failure only means the connection
/// is discarded or rolls back when it is next used, so it is logged, not returned.
async fn rollback(tx: Transaction<'static, Postgres>) {
    if let Err(error) = tx.rollback().await {
        tracing::warn!(error = %error, "rollback failed");
    }
}

async fn commit(tx: Transaction<'static, Postgres>) -> StoreResult<()> {
    tx.commit().await.map_err(db("committing"))
}

/// Checks an idempotency key before it is stored.
fn check_request_id(request_id: &str) -> StoreResult<()> {
    let reason = if request_id.trim().is_empty() {
        "must not be blank when given".to_owned()
    } else if request_id.len() > MAX_REQUEST_ID_BYTES {
        format!("must be at most {MAX_REQUEST_ID_BYTES} bytes")
    } else if request_id.chars().any(char::is_control) {
        "contains control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(StoreError::Rejected(DomainError::InvalidField {
        field: "request_id",
        reason,
    }))
}

fn ticket_not_found(id: TicketId) -> StoreError {
    StoreError::NotFound {
        entity: "ticket",
        id: id.to_string(),
    }
}

/// Rewrites a ticket row from its new projection if it is still at `previous_version`;
/// returns whether it was.
async fn update_ticket(
    tx: &mut Transaction<'static, Postgres>,
    ticket: &Ticket,
    previous_version: u64,
    calendar: &dyn Calendar,
) -> StoreResult<bool> {
    let c = TicketColumns::of(ticket, calendar)?;
    let done = sqlx::query(
        "update tickets set status = $1, version = $2, lead_department_id = $3, \
         region_code = $4, category_path = $5, phone = $6, address = $7, title = $8, \
         body = $9, updated_at = $10, deadline_kind = $11, deadline_at = $12, \
         warning_level = $13, next_check_at = $14, projection = $15 \
         where id = $16 and version = $17",
    )
    .bind(c.status)
    .bind(c.version)
    .bind(c.lead_department_id)
    .bind(c.region_code)
    .bind(c.category_path)
    .bind(c.phone)
    .bind(c.address)
    .bind(c.title)
    .bind(c.body)
    .bind(c.updated_at)
    .bind(c.deadline_kind)
    .bind(c.deadline_at)
    .bind(c.warning_level)
    .bind(c.next_check_at)
    .bind(c.projection)
    .bind(c.id)
    .bind(int(previous_version, "ticket version")?)
    .execute(&mut **tx)
    .await
    .map_err(db("updating a ticket"))?;
    Ok(done.rows_affected() == 1)
}

/// Caps a sweep batch: at least one ticket, at most [`MAX_SWEEP_BATCH`].
fn sweep_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_SWEEP_BATCH)
}

/// Appends events and returns them with their global ids.
///
/// First locks the event log's one row until commit: transactions that append events
/// commit one after the other, so ids become visible in increasing order and
/// [`Store::events_after`] never skips an id that commits late. Callers take every ticket
/// row lock they need before this, so the lock is always the last one taken.
async fn insert_events(
    tx: &mut Transaction<'static, Postgres>,
    events: Vec<Event>,
) -> StoreResult<Vec<StoredEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query("select id from event_append_lock for update")
        .execute(&mut **tx)
        .await
        .map_err(db("locking the event log"))?;
    let mut stored = Vec::with_capacity(events.len());
    let mut prev: Option<String> = None;
    for event in events {
        let prev_hash = match prev.take() {
            Some(hash) => hash,
            None if event.seq <= 1 => chain::GENESIS.to_owned(),
            None => {
                let hash: Option<Option<String>> =
                    sqlx::query_scalar("select hash from events where ticket_id = $1 and seq = $2")
                        .bind(event.ticket_id.0)
                        .bind(int(event.seq - 1, "event seq")?)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db("reading the previous event's hash"))?;
                hash.flatten().ok_or_else(|| {
                    corrupt(format_args!(
                        "ticket {} has no hashed event {} to chain to",
                        event.ticket_id,
                        event.seq - 1
                    ))
                })?
            }
        };
        let json = to_json(&event, "event")?;
        let hash = chain::link(&prev_hash, &json);
        let id: i64 = sqlx::query_scalar(
            "insert into events (ticket_id, seq, version, at, action, actor_id, actor_role, \
             event, prev_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
        )
        .bind(event.ticket_id.0)
        .bind(int(event.seq, "event seq")?)
        .bind(int(event.version, "event version")?)
        .bind(nanos(event.at))
        .bind(event.kind.action())
        .bind(event.actor.id.clone())
        .bind(event.actor.role.as_str())
        .bind(json)
        .bind(prev_hash)
        .bind(hash.clone())
        .fetch_one(&mut **tx)
        .await
        .map_err(db("appending an event"))?;
        prev = Some(hash);
        stored.push(StoredEvent { id, event });
    }
    Ok(stored)
}

/// Rewrites the rows of tickets the sweeper changed, each if still at its previous
/// version, in one statement; returns how many were.
async fn update_swept_tickets(
    tx: &mut Transaction<'static, Postgres>,
    changes: &[(&Ticket, u64)],
    calendar: &dyn Calendar,
) -> StoreResult<u64> {
    let n = changes.len();
    let mut ids = Vec::with_capacity(n);
    let mut previous = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut leads = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut deadlines = Vec::with_capacity(n);
    let mut levels = Vec::with_capacity(n);
    let mut checks = Vec::with_capacity(n);
    let mut projections = Vec::with_capacity(n);
    for (ticket, before) in changes {
        let c = TicketColumns::of(ticket, calendar)?;
        ids.push(c.id);
        previous.push(int(*before, "ticket version")?);
        statuses.push(c.status);
        versions.push(c.version);
        leads.push(c.lead_department_id);
        updated.push(c.updated_at);
        kinds.push(c.deadline_kind);
        deadlines.push(c.deadline_at);
        levels.push(c.warning_level);
        checks.push(c.next_check_at);
        projections.push(c.projection);
    }
    let done = sqlx::query(
        "update tickets t set status = v.status, version = v.version, \
         lead_department_id = v.lead, updated_at = v.updated_at, deadline_kind = v.kind, \
         deadline_at = v.deadline_at, warning_level = v.level, next_check_at = v.next_check_at, \
         projection = v.projection \
         from unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], \
         $6::bigint[], $7::text[], $8::bigint[], $9::text[], $10::bigint[], $11::text[]) \
         as v(id, previous, status, version, lead, updated_at, kind, deadline_at, level, \
         next_check_at, projection) \
         where t.id = v.id and t.version = v.previous",
    )
    .bind(ids)
    .bind(previous)
    .bind(statuses)
    .bind(versions)
    .bind(leads)
    .bind(updated)
    .bind(kinds)
    .bind(deadlines)
    .bind(levels)
    .bind(checks)
    .bind(projections)
    .execute(&mut **tx)
    .await
    .map_err(db("updating swept tickets"))?;
    Ok(done.rows_affected())
}

/// Appends the events of many tickets (each ticket's in order, chained to its stored
/// history) in one statement, taking the event-log lock just before; returns them
/// stored, in the order given.
async fn insert_event_batch(
    tx: &mut Transaction<'static, Postgres>,
    events: Vec<Event>,
) -> StoreResult<Vec<StoredEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // The stored hash each ticket's first new event chains to, in one round trip.
    let mut heads: HashMap<Uuid, i64> = HashMap::new();
    for event in &events {
        heads
            .entry(event.ticket_id.0)
            .or_insert(int(event.seq, "event seq")? - 1);
    }
    let (head_ids, head_seqs): (Vec<Uuid>, Vec<i64>) = heads
        .iter()
        .filter(|(_, seq)| **seq >= 1)
        .map(|(id, seq)| (*id, *seq))
        .unzip();
    let mut stored_heads: HashMap<Uuid, String> = HashMap::with_capacity(head_ids.len());
    if !head_ids.is_empty() {
        let rows = sqlx::query(
            "select e.ticket_id, e.hash from events e \
             join unnest($1::uuid[], $2::bigint[]) as k(ticket_id, seq) \
             on e.ticket_id = k.ticket_id and e.seq = k.seq",
        )
        .bind(head_ids)
        .bind(head_seqs)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("reading the previous events' hashes"))?;
        for row in &rows {
            let id: Uuid = row
                .try_get("ticket_id")
                .map_err(db("reading an event hash"))?;
            let hash: Option<String> = row.try_get("hash").map_err(db("reading an event hash"))?;
            if let Some(hash) = hash {
                stored_heads.insert(id, hash);
            }
        }
    }
    let ids = append_chained(tx, &events.iter().collect::<Vec<_>>(), stored_heads).await?;
    events
        .into_iter()
        .map(|event| {
            let key = (event.ticket_id.0, int(event.seq, "event seq")?);
            let id = ids.get(&key).copied().ok_or_else(|| {
                corrupt(format_args!(
                    "event {} of ticket {} not appended",
                    key.1, key.0
                ))
            })?;
            Ok(StoredEvent { id, event })
        })
        .collect()
}

/// Appends events in one statement, each chained to the one before it of its ticket:
/// the first of a ticket to its hash in `heads`, or to the genesis hash when it is the
/// ticket's first event. Takes the event-log lock just before, as every append does,
/// and returns the global ids by (ticket, seq).
pub(crate) async fn append_chained(
    tx: &mut Transaction<'static, Postgres>,
    events: &[&Event],
    mut heads: HashMap<Uuid, String>,
) -> StoreResult<HashMap<(Uuid, i64), i64>> {
    if events.is_empty() {
        return Ok(HashMap::new());
    }
    let n = events.len();
    let mut ticket_ids = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut actor_ids = Vec::with_capacity(n);
    let mut actor_roles = Vec::with_capacity(n);
    let mut jsons = Vec::with_capacity(n);
    let mut prev_hashes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for event in events {
        let prev_hash = match heads.get(&event.ticket_id.0) {
            Some(hash) => hash.clone(),
            None if event.seq <= 1 => chain::GENESIS.to_owned(),
            None => {
                return Err(corrupt(format_args!(
                    "ticket {} has no hashed event {} to chain to",
                    event.ticket_id,
                    event.seq - 1
                )));
            }
        };
        let json = to_json(*event, "event")?;
        let hash = chain::link(&prev_hash, &json);
        heads.insert(event.ticket_id.0, hash.clone());
        ticket_ids.push(event.ticket_id.0);
        seqs.push(int(event.seq, "event seq")?);
        versions.push(int(event.version, "event version")?);
        ats.push(nanos(event.at));
        actions.push(event.kind.action());
        actor_ids.push(event.actor.id.as_str());
        actor_roles.push(event.actor.role.as_str());
        jsons.push(json);
        prev_hashes.push(prev_hash);
        hashes.push(hash);
    }
    sqlx::query("select id from event_append_lock for update")
        .execute(&mut **tx)
        .await
        .map_err(db("locking the event log"))?;
    // In the order given, so ids follow it.
    let rows: Vec<(i64, Uuid, i64)> = sqlx::query_as(
        "insert into events (ticket_id, seq, version, at, action, actor_id, actor_role, \
         event, prev_hash, hash) \
         select ticket_id, seq, version, at, action, actor_id, actor_role, event, prev_hash, hash \
         from unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) with ordinality \
         as v(ticket_id, seq, version, at, action, actor_id, actor_role, event, prev_hash, \
         hash, n) order by n \
         returning id, ticket_id, seq",
    )
    .bind(ticket_ids)
    .bind(seqs)
    .bind(versions)
    .bind(ats)
    .bind(actions)
    .bind(actor_ids)
    .bind(actor_roles)
    .bind(jsons)
    .bind(prev_hashes)
    .bind(hashes)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("appending events"))?;
    Ok(rows
        .into_iter()
        .map(|(id, ticket, seq)| ((ticket, seq), id))
        .collect())
}

/// Replaces the assignment rows of many tickets with those of their projections, in two
/// statements.
pub(crate) async fn write_assignment_batch(
    tx: &mut Transaction<'static, Postgres>,
    tickets: &[&Ticket],
) -> StoreResult<()> {
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id.0).collect();
    sqlx::query("delete from assignments where ticket_id = any($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await
        .map_err(db("clearing assignments"))?;
    let mut ticket_ids = Vec::new();
    let mut positions = Vec::new();
    let mut departments = Vec::new();
    let mut roles = Vec::new();
    let mut statuses = Vec::new();
    for ticket in tickets {
        for (position, assignment) in (0_i64..).zip(&ticket.assignments) {
            ticket_ids.push(ticket.id.0);
            positions.push(position);
            departments.push(assignment.department_id.0.clone());
            roles.push(assignment.role.as_str());
            statuses.push(assignment.status.as_str());
        }
    }
    if ticket_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into assignments (ticket_id, position, department_id, role, status) \
         select * from unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[])",
    )
    .bind(ticket_ids)
    .bind(positions)
    .bind(departments)
    .bind(roles)
    .bind(statuses)
    .execute(&mut **tx)
    .await
    .map_err(db("writing assignments"))?;
    Ok(())
}

/// Sets many tickets' next checks (`None`: no timer) in one statement, without touching
/// their projections.
async fn reschedule_batch(
    tx: &mut Transaction<'static, Postgres>,
    next_checks: Vec<(Uuid, Option<i64>)>,
) -> StoreResult<()> {
    if next_checks.is_empty() {
        return Ok(());
    }
    let (ids, at): (Vec<Uuid>, Vec<Option<i64>>) = next_checks.into_iter().unzip();
    sqlx::query(
        "update tickets t set next_check_at = v.at \
         from unnest($1::uuid[], $2::bigint[]) as v(id, at) where t.id = v.id",
    )
    .bind(ids)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(db("rescheduling due tickets"))?;
    Ok(())
}

/// Replaces a ticket's assignment rows and statistics rows with those of its
/// projection, working times on `calendar`.
async fn write_assignments(
    tx: &mut Transaction<'static, Postgres>,
    ticket: &Ticket,
    calendar: &dyn Calendar,
) -> StoreResult<()> {
    stats::write(tx, ticket, calendar).await?;
    write_assignment_batch(tx, &[ticket]).await
}

fn department_from_row(row: &PgRow) -> StoreResult<Department> {
    let level: i64 = row.try_get("level").map_err(db("reading a department"))?;
    Ok(Department {
        id: DepartmentId(row.try_get("id").map_err(db("reading a department"))?),
        name: row.try_get("name").map_err(db("reading a department"))?,
        parent_id: row
            .try_get::<Option<String>, _>("parent_id")
            .map_err(db("reading a department"))?
            .map(DepartmentId),
        region_code: row
            .try_get("region_code")
            .map_err(db("reading a department"))?,
        level: u32::try_from(level)
            .map_err(|_| corrupt(format_args!("department level {level}")))?,
    })
}

/// The columns [`api_key_from_row`] reads, as a literal for `concat!`.
macro_rules! api_key_columns {
    () => {
        "id, name, role, department_id, secret_hash, created_at, expires_at, revoked_at"
    };
}

fn api_key_from_row(row: &PgRow) -> StoreResult<ApiKeyRecord> {
    let get_text = |column: &str| row.try_get::<String, _>(column);
    let get_time = |column: &str| -> StoreResult<Option<Timestamp>> {
        row.try_get::<Option<i64>, _>(column)
            .map_err(db("reading an api key"))?
            .map(from_nanos)
            .transpose()
    };
    let role: String = get_text("role").map_err(db("reading an api key"))?;
    let created_at =
        get_time("created_at")?.ok_or_else(|| corrupt("api key without created_at"))?;
    Ok(ApiKeyRecord {
        id: get_text("id").map_err(db("reading an api key"))?,
        name: get_text("name").map_err(db("reading an api key"))?,
        role: role.parse::<Role>().map_err(corrupt)?,
        department_id: row
            .try_get::<Option<String>, _>("department_id")
            .map_err(db("reading an api key"))?
            .map(DepartmentId),
        secret_hash: get_text("secret_hash").map_err(db("reading an api key"))?,
        created_at,
        expires_at: get_time("expires_at")?,
        revoked_at: get_time("revoked_at")?,
    })
}

/// Builds a page from up to `size + 1` rows: the extra row only says another page exists.
fn into_page<T>(mut items: Vec<(T, Cursor)>, size: usize, listing: Listing) -> Page<T> {
    let more = items.len() > size;
    items.truncate(size);
    let next_token = if more {
        items
            .last()
            .map(|(_, cursor)| encode_token(listing, cursor))
    } else {
        None
    };
    Page {
        items: items.into_iter().map(|(item, _)| item).collect(),
        next_token,
    }
}

fn event_rows(rows: Vec<PgRow>) -> StoreResult<Vec<StoredEvent>> {
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id").map_err(db("reading an event"))?;
            let json: String = row.try_get("event").map_err(db("reading an event"))?;
            event_from_json(id, &json)
        })
        .collect()
}

#[async_trait]
impl Store for PgStore {
    #[tracing::instrument(
        skip_all,
        fields(ticket_id = %request.id, idempotent = request.request_id.is_some())
    )]
    async fn create_ticket(
        &self,
        request: CreateTicket,
        ctx: &Context<'_>,
    ) -> StoreResult<Created> {
        if let Some(request_id) = &request.request_id {
            check_request_id(request_id)?;
        }
        // Everything that needs the context is decided here, on the caller's task; the
        // writer only numbers and files (see the `group` module).
        let verdict =
            hotline_core::prepare_ticket(request.id, request.ticket, ctx).map(|unnumbered| {
                let ticket = unnumbered.ticket();
                group::Prepared {
                    next_check_at: ticket.next_check_at(ctx.calendar).map(nanos),
                    signature: Signature::of(&ticket.title, &ticket.body),
                    unnumbered,
                }
            });
        if request.request_id.is_none()
            && let Err(refusal) = verdict
        {
            // Without a request id there is no earlier ticket to return: refused at once.
            return Err(StoreError::Rejected(refusal));
        }
        self.writer
            .file(group::Filing {
                id: request.id,
                request_id: request.request_id,
                center: request.center,
                day: request.day,
                now: ctx.now,
                verdict,
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %id))]
    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket> {
        let json: Option<String> =
            sqlx::query_scalar("select projection from tickets where id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("reading a ticket"))?;
        ticket_from_json(&json.ok_or_else(|| ticket_not_found(id))?)
    }

    #[tracing::instrument(
        skip_all,
        fields(ticket_id = %id, action = %command.action(), expected_version = ?expected_version)
    )]
    async fn apply(
        &self,
        id: TicketId,
        expected_version: Option<u64>,
        command: Command,
        ctx: &Context<'_>,
    ) -> StoreResult<Applied> {
        let mut tx = self.begin().await?;
        // The row lock queues concurrent commands on this ticket; each reads the
        // projection its predecessor committed.
        let json: Option<String> =
            sqlx::query_scalar("select projection from tickets where id = $1 for update")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading a ticket"))?;
        let Some(json) = json else {
            rollback(tx).await;
            return Err(ticket_not_found(id));
        };
        let ticket = ticket_from_json(&json)?;
        if let Some(expected) = expected_version
            && expected != ticket.version
        {
            rollback(tx).await;
            return Err(StoreError::Conflict {
                expected,
                actual: ticket.version,
            });
        }
        let decision = match ticket.execute(&command, ctx) {
            Ok(decision) => decision,
            Err(refusal) => {
                rollback(tx).await;
                return Err(StoreError::Rejected(refusal));
            }
        };
        if !update_ticket(&mut tx, &decision.ticket, ticket.version, ctx.calendar).await? {
            // Unreachable while every writer locks the row first; kept so a writer that
            // does not cannot silently overwrite a newer version.
            rollback(tx).await;
            return Err(StoreError::Conflict {
                expected: expected_version.unwrap_or(ticket.version),
                actual: ticket.version,
            });
        }
        write_assignments(&mut tx, &decision.ticket, ctx.calendar).await?;
        let events = insert_events(&mut tx, decision.events).await?;
        commit(tx).await?;
        Ok(Applied {
            ticket: decision.ticket,
            events,
        })
    }

    #[tracing::instrument(skip_all, fields(page_size = page.effective_size()))]
    async fn list_tickets(
        &self,
        filter: &TicketFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Ticket>> {
        let size = page.effective_size();
        let cursor = page
            .token
            .as_deref()
            .map(|t| decode_token(Listing::Tickets, t))
            .transpose()?;
        let mut sql = Sql::new("select t.id, t.created_at, t.projection from tickets t where true");
        if !filter.statuses.is_empty() {
            sql.and_in("t.status", filter.statuses.iter().map(|s| s.as_str()));
        }
        if let Some(departments) = &filter.departments {
            sql.push(" and exists (select 1 from assignments a where a.ticket_id = t.id");
            sql.and_in("a.department_id", departments.iter().map(|d| d.as_str()));
            sql.push(")");
        }
        if let Some(lead) = &filter.lead_department_id {
            sql.push(" and t.lead_department_id = ").bind(lead.as_str());
        }
        if let Some(prefix) = filter.region_prefix.as_deref().filter(|p| !p.is_empty()) {
            sql.and_prefix("t.region_code", prefix);
        }
        if let Some(prefix) = filter.category_prefix.as_deref().filter(|p| !p.is_empty()) {
            sql.and_category_prefix("t.category_path", prefix);
        }
        if let Some(after) = filter.created_after {
            sql.push(" and t.created_at >= ").bind(nanos(after));
        }
        if let Some(before) = filter.created_before {
            sql.push(" and t.created_at < ").bind(nanos(before));
        }
        if let Some(phone) = &filter.phone {
            sql.push(" and t.phone = ").bind(phone.as_str());
        }
        if let Some(address) = &filter.address {
            sql.push(" and t.address = ").bind(address.as_str());
        }
        if let Some(text) = &filter.text {
            sql.push(" and (strpos(t.title, ").bind(text.as_str());
            sql.push(") > 0 or strpos(t.body, ")
                .bind(text.as_str())
                .push(") > 0)");
        }
        if let Some(cursor) = cursor {
            sql.push(" and (t.created_at, t.id) < (")
                .bind(cursor.at)
                .push(", ")
                .bind(cursor.id)
                .push(")");
        }
        sql.push(" order by t.created_at desc, t.id desc limit ")
            .bind(i64::from(size) + 1);
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing tickets"))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let cursor = Cursor {
                at: row.try_get("created_at").map_err(db("listing tickets"))?,
                id: row.try_get("id").map_err(db("listing tickets"))?,
            };
            let json: String = row.try_get("projection").map_err(db("listing tickets"))?;
            items.push((ticket_from_json(&json)?, cursor));
        }
        Ok(into_page(items, size as usize, Listing::Tickets))
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %id))]
    async fn timeline(&self, id: TicketId) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query("select id, event from events where ticket_id = $1 order by seq")
            .bind(id.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading a timeline"))?;
        // Every ticket is created with at least one event.
        if rows.is_empty() {
            return Err(ticket_not_found(id));
        }
        event_rows(rows)
    }

    #[tracing::instrument(skip_all, fields(page_size = page.effective_size(), kind = ?query.kind))]
    async fn list_deadlines(
        &self,
        query: &DeadlineQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DeadlineItem>> {
        let size = page.effective_size();
        let cursor = page
            .token
            .as_deref()
            .map(|t| decode_token(Listing::Deadlines, t))
            .transpose()?;
        let mut sql = Sql::new(
            "select t.id, t.deadline_at, t.projection from tickets t where t.deadline_at is not null",
        );
        if let Some(before) = query.due_before {
            sql.push(" and t.deadline_at < ").bind(nanos(before));
        }
        if let Some(after) = query.due_after {
            sql.push(" and t.deadline_at >= ").bind(nanos(after));
        }
        if let Some(kind) = query.kind {
            sql.push(" and t.deadline_kind = ").bind(kind.as_str());
        }
        if let Some(departments) = &query.departments {
            sql.push(
                " and exists (select 1 from assignments a where a.ticket_id = t.id \
                 and a.role in ('LEAD', 'DELEGATE') and a.status not in ('RETURNED', 'CANCELLED')",
            );
            sql.and_in("a.department_id", departments.iter().map(|d| d.as_str()));
            sql.push(")");
        }
        if let Some(min_level) = query.min_level {
            sql.and_in(
                "t.warning_level",
                WarningLevel::ALL
                    .iter()
                    .filter(|level| **level >= min_level)
                    .map(|level| level.as_str()),
            );
        }
        if let Some(prefix) = query.region_prefix.as_deref().filter(|p| !p.is_empty()) {
            sql.and_prefix("t.region_code", prefix);
        }
        if let Some(prefix) = query.category_prefix.as_deref().filter(|p| !p.is_empty()) {
            sql.and_category_prefix("t.category_path", prefix);
        }
        if let Some(cursor) = cursor {
            sql.push(" and (t.deadline_at, t.id) > (")
                .bind(cursor.at)
                .push(", ")
                .bind(cursor.id)
                .push(")");
        }
        sql.push(" order by t.deadline_at, t.id limit ")
            .bind(i64::from(size) + 1);
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing deadlines"))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let cursor = Cursor {
                at: row
                    .try_get("deadline_at")
                    .map_err(db("listing deadlines"))?,
                id: row.try_get("id").map_err(db("listing deadlines"))?,
            };
            let json: String = row.try_get("projection").map_err(db("listing deadlines"))?;
            let ticket = ticket_from_json(&json)?;
            let (kind, due): (DeadlineKind, Timestamp) =
                ticket.running_deadline().ok_or_else(|| {
                    corrupt(format_args!(
                        "ticket {} has a deadline row but none running",
                        ticket.id
                    ))
                })?;
            items.push((DeadlineItem { ticket, kind, due }, cursor));
        }
        Ok(into_page(items, size as usize, Listing::Deadlines))
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn due_for_sweep(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<SweepDue>> {
        // A plain read: it lists due work, including tickets another replica is sweeping
        // right now; `sweep_due` is what takes them.
        let rows = sqlx::query(
            "select id, next_check_at from tickets \
             where next_check_at is not null and next_check_at <= $1 \
             order by next_check_at, id limit $2",
        )
        .bind(nanos(now))
        .bind(i64::from(sweep_limit(limit)))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing due tickets"))?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("id").map_err(db("listing due tickets"))?;
                let at: i64 = row
                    .try_get("next_check_at")
                    .map_err(db("listing due tickets"))?;
                Ok(SweepDue {
                    id: TicketId(id),
                    next_check_at: from_nanos(at)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(limit = limit, swept = tracing::field::Empty))]
    async fn sweep_due(&self, ctx: &Context<'_>, limit: u32) -> StoreResult<SweptBatch> {
        let mut tx = self.begin().await?;
        // `skip locked`: rows another replica's sweep (or a command) holds are left to it;
        // a row it committed meanwhile is re-checked against the condition, and its new
        // next check is later than now, so it is not taken twice.
        let rows = sqlx::query(
            "select id, projection from tickets \
             where next_check_at is not null and next_check_at <= $1 \
             order by next_check_at, id limit $2 \
             for update skip locked",
        )
        .bind(nanos(ctx.now))
        .bind(i64::from(sweep_limit(limit)))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("taking due tickets"))?;
        // Decide every ticket first, then write the batch in a few multi-row statements:
        // a statement per ticket made a burst of due deadlines cost thousands of round
        // trips per batch, with the event-log lock held through most of them.
        let mut later: Vec<(Uuid, Option<i64>)> = Vec::new();
        let mut changes: Vec<(Ticket, hotline_core::Decision)> = Vec::new();
        for row in &rows {
            let id: Uuid = row.try_get("id").map_err(db("taking due tickets"))?;
            let json: String = row
                .try_get("projection")
                .map_err(db("taking due tickets"))?;
            let ticket = match ticket_from_json(&json) {
                Ok(ticket) => ticket,
                Err(error) => {
                    tracing::error!(ticket_id = %id, error = %error, "due ticket unreadable, put off");
                    let put_off = ctx.now.saturating_add(PUT_OFF).unwrap_or(Timestamp::MAX);
                    later.push((id, Some(nanos(put_off))));
                    continue;
                }
            };
            match ticket.sweep(ctx) {
                // Nothing changes yet: the timer moves to the next threshold (always
                // after now, so a batch loop ends even should a rule misjudge it).
                None => later.push((
                    id,
                    ticket
                        .next_check_at(ctx.calendar)
                        .map(|at| nanos(at).max(nanos(ctx.now).saturating_add(1))),
                )),
                Some(decision) => changes.push((ticket, decision)),
            }
        }
        reschedule_batch(&mut tx, later).await?;
        let mut batch = SweptBatch {
            swept: rows.len(),
            applied: Vec::with_capacity(changes.len()),
        };
        if !changes.is_empty() {
            let updates: Vec<(&Ticket, u64)> = changes
                .iter()
                .map(|(before, decision)| (&decision.ticket, before.version))
                .collect();
            let updated = update_swept_tickets(&mut tx, &updates, ctx.calendar).await?;
            if updated != changes.len() as u64 {
                // Unreachable: the rows are locked by this transaction.
                rollback(tx).await;
                return Err(StoreError::Internal(anyhow::anyhow!(
                    "{} of {} swept tickets changed under the sweeper",
                    changes.len() as u64 - updated,
                    changes.len()
                )));
            }
            let changed: Vec<&Ticket> = changes.iter().map(|(_, d)| &d.ticket).collect();
            // Every change may move a part's overdue instant: all statistics rows are
            // rewritten, assignment rows only where they changed.
            stats::write_many(&mut tx, &changed, ctx.calendar).await?;
            let reassigned: Vec<&Ticket> = changes
                .iter()
                .filter(|(before, decision)| before.assignments != decision.ticket.assignments)
                .map(|(_, decision)| &decision.ticket)
                .collect();
            if !reassigned.is_empty() {
                write_assignment_batch(&mut tx, &reassigned).await?;
            }
            let counts: Vec<usize> = changes.iter().map(|(_, d)| d.events.len()).collect();
            let mut tickets = Vec::with_capacity(changes.len());
            let mut events = Vec::new();
            for (_, decision) in changes {
                tickets.push(decision.ticket);
                events.extend(decision.events);
            }
            let mut stored = insert_event_batch(&mut tx, events).await?.into_iter();
            for (ticket, count) in tickets.into_iter().zip(counts) {
                batch.applied.push(Applied {
                    ticket,
                    events: stored.by_ref().take(count).collect(),
                });
            }
        }
        commit(tx).await?;
        tracing::Span::current().record("swept", batch.swept);
        Ok(batch)
    }

    #[tracing::instrument(skip_all, fields(departments = query.departments.len()))]
    async fn department_totals(&self, query: &StatsQuery) -> StoreResult<StatsTotals> {
        stats::totals(&self.pool, query).await
    }

    #[tracing::instrument(skip_all, fields(after_id = after_id, limit = limit))]
    async fn events_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let limit = PageRequest {
            size: limit,
            token: None,
        }
        .effective_size();
        let rows = sqlx::query("select id, event from events where id > $1 order by id limit $2")
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading events"))?;
        event_rows(rows)
    }

    #[tracing::instrument(skip_all, fields(department_id = %department.id))]
    async fn upsert_department(&self, department: &Department) -> StoreResult<()> {
        sqlx::query(
            "insert into departments (id, name, parent_id, region_code, level) \
             values ($1, $2, $3, $4, $5) \
             on conflict (id) do update set name = excluded.name, parent_id = excluded.parent_id, \
             region_code = excluded.region_code, level = excluded.level",
        )
        .bind(department.id.0.clone())
        .bind(department.name.clone())
        .bind(department.parent_id.as_ref().map(|p| p.0.clone()))
        .bind(department.region_code.clone())
        .bind(i64::from(department.level))
        .execute(&self.pool)
        .await
        .map_err(db("upserting a department"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_departments(&self) -> StoreResult<Vec<Department>> {
        let rows = sqlx::query(
            "select id, name, parent_id, region_code, level from departments order by id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing departments"))?;
        rows.iter().map(department_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn get_setting(&self, key: &str) -> StoreResult<Option<Setting>> {
        let row = sqlx::query("select value, version, updated_at from settings where key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a setting"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Setting {
            value: row.try_get("value").map_err(db("reading a setting"))?,
            version: row.try_get("version").map_err(db("reading a setting"))?,
            updated_at: from_nanos(row.try_get("updated_at").map_err(db("reading a setting"))?)?,
        }))
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn put_setting(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<i64> {
        sqlx::query_scalar(
            "insert into settings (key, value, version, updated_at) values ($1, $2, 1, $3) \
             on conflict (key) do update set value = excluded.value, \
             version = settings.version + 1, updated_at = excluded.updated_at \
             returning version",
        )
        .bind(key.to_owned())
        .bind(value.to_owned())
        .bind(nanos(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db("writing a setting"))
    }

    #[tracing::instrument(skip_all, fields(key_id = %key.id, role = %key.role))]
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let outcome = sqlx::query(
            "insert into api_keys (id, name, role, department_id, secret_hash, created_at, \
             expires_at, revoked_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.id.clone())
        .bind(key.name.clone())
        .bind(key.role.as_str())
        .bind(key.department_id.as_ref().map(|d| d.0.clone()))
        .bind(key.secret_hash.clone())
        .bind(nanos(key.created_at))
        .bind(key.expires_at.map(nanos))
        .bind(key.revoked_at.map(nanos))
        .execute(&self.pool)
        .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(error) if error::is_unique_violation(&error) => {
                Err(StoreError::Internal(anyhow::anyhow!(
                    "an api key with id {} or the same secret hash already exists",
                    key.id
                )))
            }
            Err(error) => Err(db("inserting an api key")(error)),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!(
            "select ",
            api_key_columns!(),
            " from api_keys where secret_hash = $1"
        ))
        .bind(secret_hash.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("finding an api key"))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn api_key_by_id(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!(
            "select ",
            api_key_columns!(),
            " from api_keys where id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("finding an api key"))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(concat!(
            "select ",
            api_key_columns!(),
            " from api_keys order by created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing api keys"))?;
        rows.iter().map(api_key_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(key_id = %id))]
    async fn revoke_api_key(&self, id: &str, at: Timestamp) -> StoreResult<ApiKeyRecord> {
        let row = sqlx::query(concat!(
            "update api_keys set revoked_at = coalesce(revoked_at, $1) where id = $2 returning ",
            api_key_columns!()
        ))
        .bind(nanos(at))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("revoking an api key"))?;
        match row {
            Some(row) => api_key_from_row(&row),
            None => Err(StoreError::NotFound {
                entity: "api key",
                id: id.to_owned(),
            }),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn recent_tickets(&self, since: Timestamp) -> StoreResult<RecentTickets> {
        analysis::recent_tickets(&self.pool, since).await
    }

    async fn recent_after(
        &self,
        cursor: i64,
        since: Timestamp,
        limit: u32,
    ) -> StoreResult<RecentTickets> {
        analysis::recent_after(&self.pool, cursor, since, limit).await
    }

    async fn signatures(&self, ids: &[TicketId]) -> StoreResult<Vec<(TicketId, Signature)>> {
        analysis::signatures(&self.pool, ids).await
    }

    #[tracing::instrument(skip_all, fields(region_digits = query.region_digits))]
    async fn hotspot_counts(&self, query: &HotspotQuery) -> StoreResult<Vec<HotspotCount>> {
        analysis::hotspot_counts(&self.pool, query).await
    }

    #[tracing::instrument(skip_all, fields(region_prefix = %region_prefix, limit = limit))]
    async fn hotspot_tickets(
        &self,
        category: &str,
        region_prefix: &str,
        start: Timestamp,
        end: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Ticket>> {
        analysis::hotspot_tickets(&self.pool, category, region_prefix, (start, end), limit).await
    }

    #[tracing::instrument(skip_all)]
    async fn ticket_counts(&self, now: Timestamp) -> StoreResult<TicketCounts> {
        let statuses: Vec<(String, i64)> =
            sqlx::query_as("select status, count(*) as n from tickets group by status")
                .fetch_all(&self.pool)
                .await
                .map_err(db("counting tickets by status"))?;
        let overdue: Vec<(String, i64)> = sqlx::query_as(
            "select lead_department_id, count(*) as n from tickets \
             where deadline_at is not null and deadline_at < $1 \
             and deadline_kind in ($2, $3) and lead_department_id is not null \
             group by lead_department_id order by lead_department_id",
        )
        .bind(nanos(now))
        .bind(DeadlineKind::Sign.as_str())
        .bind(DeadlineKind::Reply.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db("counting overdue tickets"))?;
        TicketCounts::from_rows(statuses, overdue)
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn audit_events(
        &self,
        after: Option<(String, i64)>,
        ticket: Option<TicketId>,
        limit: u32,
    ) -> StoreResult<Vec<chain::AuditRow>> {
        audit::audit_events(&self.pool, after, ticket, limit).await
    }

    #[tracing::instrument(skip_all)]
    async fn check_rows(
        &self,
        calendar: &dyn Calendar,
    ) -> StoreResult<Vec<hotline_store::check::RowProblem>> {
        audit::check_rows(&self.pool, calendar).await
    }

    #[tracing::instrument(skip_all)]
    async fn close(&self) {
        self.pool.close().await;
    }
}
