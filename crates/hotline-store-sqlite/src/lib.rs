//! The SQLite backend of hotline's [`Store`] port: the embedded default, one file on disk.
//!
//! Layout and discipline:
//! - The file runs in WAL mode with `synchronous = FULL`: a commit returns only after its
//!   WAL frames are fsynced, so an acknowledged write survives a kill -9 of the process
//!   (NORMAL would already give that) and also an OS crash or power loss (NORMAL would not).
//!   The price is one fsync per write transaction.
//! - New tickets are group-committed to spread that price: [`Store::create_ticket`]
//!   decides the ticket on the caller's task, then queues it for one writer task that
//!   files every create queued meanwhile (up to 256) in ONE transaction, each inside its
//!   own savepoint, and answers each caller only once that transaction has committed.
//!   A refused create rolls back alone (its number too, so numbers stay gap-free); a
//!   failed commit fails the whole batch, none acknowledged. Nothing waits for a batch
//!   to fill: an idle store files a lone create at once, and batches form only from
//!   creates that arrived while the previous commit was syncing. Other writes still
//!   commit one by one. Details in the `group` module.
//! - Every transaction that writes goes through a dedicated pool of exactly one connection
//!   and starts with `begin immediate`: writers queue in the pool instead of racing for the
//!   file lock, so our own writers never see `SQLITE_BUSY`. Reads use a separate pool of a
//!   few `query_only` connections; WAL lets them proceed while a write is in flight.
//! - A command's events, the ticket projection and its assignment rows are written in one
//!   transaction, guarded by the projection's `version`.
//! - The schema lives in `migrations/sqlite` at the workspace root, embedded at build time
//!   and applied on [`SqliteStore::open`], which then fingerprints any ticket filed before
//!   the signature table existed.
//! - Each ticket's text signature is written with the ticket. Duplicate look-ups run on
//!   the server's in-memory index of recent tickets, which follows the event log.

#![forbid(unsafe_code)]

mod analysis;
mod audit;
mod bulk;
mod codec;
mod error;
mod group;
mod sql;
mod stats;

use std::path::Path;
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
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Transaction};

use crate::codec::{
    Cursor, Listing, TicketColumns, decode_token, encode_token, event_from_json, from_nanos, int,
    nanos, ticket_from_json, to_json,
};
use crate::error::{corrupt, db};
use crate::sql::Sql;

/// The schema history, embedded from `migrations/sqlite` at the workspace root.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Connections in the read pool. Reads are short; a few cover a 2-core machine.
const READ_CONNECTIONS: u32 = 4;
/// How long a connection waits on a lock held by another process (e.g. `hotline migrate`,
/// or a checkpoint) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a pooled connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest idempotency key accepted, in bytes.
const MAX_REQUEST_ID_BYTES: usize = 128;
/// How long the sweeper leaves a due row it cannot read before trying again.
const PUT_OFF: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// The SQLite store. Cloning shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every transaction that writes, serialized.
    write: SqlitePool,
    /// A few `query_only` connections for reads.
    read: SqlitePool,
    /// The task that files new tickets in batches on `write`.
    writer: group::Writer,
}

/// Options shared by every connection to the file.
fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

/// Options of the writing connection: it creates the file and sets its journal mode.
fn write_options(path: &Path) -> SqliteConnectOptions {
    connect_options(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // The writer touches the same index pages batch after batch: 16 MiB of page
        // cache keeps them in memory instead of reading them back from the file.
        .pragma("cache_size", "-16384")
        // Savepoint journals (one per create in a batch) stay in memory, not temp files.
        .pragma("temp_store", "memory")
        // Checkpoints copy the log into the file and sync it, on the writer's commit:
        // every 8,000 pages (32 MiB of log) rather than 1,000, so intake pays for a
        // sync of the file an eighth as often.
        .pragma("wal_autocheckpoint", "8000")
}

/// Opens the one-connection write pool.
async fn open_write_pool(path: &Path) -> StoreResult<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(write_options(path))
        .await
        .map_err(db("opening the database for writing"))
}

/// Creates the database file if needed and applies every pending migration.
///
/// # Errors
/// [`StoreError::Unavailable`] when the file cannot be opened or written;
/// [`StoreError::Internal`] when the stored history does not match the embedded one.
pub async fn migrate(path: &Path) -> StoreResult<()> {
    let pool = open_write_pool(path).await?;
    let outcome = MIGRATOR.run(&pool).await.map_err(error::migrate);
    pool.close().await;
    outcome
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or written;
    /// [`StoreError::Internal`] when the stored history does not match the embedded one.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let write = open_write_pool(path).await?;
        if let Err(error) = MIGRATOR.run(&write).await {
            write.close().await;
            return Err(error::migrate(error));
        }
        if let Err(error) = analysis::backfill(&write).await {
            write.close().await;
            return Err(error);
        }
        if let Err(error) = audit::backfill(&write).await {
            write.close().await;
            return Err(error);
        }
        if let Err(error) = stats::backfill(&write).await {
            write.close().await;
            return Err(error);
        }
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect_options(path).pragma("query_only", "on"))
            .await;
        match read {
            Ok(read) => {
                let writer = group::Writer::spawn(write.clone());
                Ok(SqliteStore {
                    write,
                    read,
                    writer,
                })
            }
            Err(error) => {
                write.close().await;
                Err(db("opening the database for reading")(error))
            }
        }
    }

    /// Starts a write transaction on the single writing connection.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        begin_write(&self.write).await
    }
}

/// Starts a write transaction on the write pool's connection, taking the file's write
/// lock up front so a read inside it can never be invalidated by another writer.
///
/// A COMMIT that SQLite refuses (disk full, read-only file) may roll the transaction
/// back by itself; the driver's rollback on drop then fails and leaves the pooled
/// connection counted as inside a transaction, refusing every later `begin`. Such a
/// connection is closed and replaced, so writes resume once the disk does.
async fn begin_write(write: &SqlitePool) -> StoreResult<Transaction<'static, Sqlite>> {
    match write.begin_with("begin immediate").await {
        Err(sqlx::Error::InvalidSavePointStatement) => {
            tracing::warn!("replacing the write connection left inside a failed transaction");
            let stuck = write
                .acquire()
                .await
                .map_err(db("replacing the write connection"))?;
            if let Err(error) = stuck.close().await {
                tracing::warn!(%error, "closing the stuck write connection failed");
            }
            write
                .begin_with("begin immediate")
                .await
                .map_err(db("starting a write transaction"))
        }
        other => other.map_err(db("starting a write transaction")),
    }
}

/// Rolls back a transaction whose work is refused; a failure only means the connection
/// rolls back when it is next used, so it is logged, not returned.
async fn rollback(tx: Transaction<'static, Sqlite>) {
    if let Err(error) = tx.rollback().await {
        tracing::warn!(error = %error, "rollback failed");
    }
}

async fn commit(tx: Transaction<'static, Sqlite>) -> StoreResult<()> {
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

/// Inserts new ticket rows in one statement; each one's next check (nanoseconds) comes
/// from the caller.
async fn insert_tickets(
    tx: &mut Transaction<'static, Sqlite>,
    rows: &[(&Ticket, Option<i64>)],
) -> StoreResult<()> {
    let mut sql = Sql::new(
        "insert into tickets (id, number, status, version, lead_department_id, region_code, \
         category_path, phone, address, title, body, created_at, updated_at, deadline_kind, \
         deadline_at, warning_level, next_check_at, projection) values ",
    );
    for (i, (ticket, next_check_at)) in rows.iter().enumerate() {
        let c = TicketColumns::with_next_check(ticket, *next_check_at)?;
        sql.push(if i == 0 { "(" } else { ", (" })
            .bind(c.id)
            .push(", ")
            .bind(c.number)
            .push(", ")
            .bind(c.status)
            .push(", ")
            .bind(c.version)
            .push(", ")
            .bind(c.lead_department_id)
            .push(", ")
            .bind(c.region_code)
            .push(", ")
            .bind(c.category_path)
            .push(", ")
            .bind(c.phone)
            .push(", ")
            .bind(c.address)
            .push(", ")
            .bind(c.title)
            .push(", ")
            .bind(c.body)
            .push(", ")
            .bind(c.created_at)
            .push(", ")
            .bind(c.updated_at)
            .push(", ")
            .bind(c.deadline_kind)
            .push(", ")
            .bind(c.deadline_at)
            .push(", ")
            .bind(c.warning_level)
            .push(", ")
            .bind(c.next_check_at)
            .push(", ")
            .bind(c.projection)
            .push(")");
    }
    match sql.build().execute(&mut **tx).await {
        Ok(_) => Ok(()),
        // The id is a fresh UUIDv7 chosen by the server, the number comes from our own
        // counter: a collision is a bug upstream, not something a client can fix.
        Err(error) if error::is_unique_violation(&error) => Err(StoreError::Internal(match rows {
            [(ticket, _)] => anyhow::anyhow!(
                "ticket {} or number {} already exists",
                ticket.id,
                ticket.number
            ),
            _ => anyhow::anyhow!("a ticket id or number of {} already exists", rows.len()),
        })),
        Err(error) => Err(db("inserting tickets")(error)),
    }
}

/// Rewrites a ticket row from its new projection if it is still at `previous_version`;
/// returns whether it was.
async fn update_ticket(
    tx: &mut Transaction<'static, Sqlite>,
    ticket: &Ticket,
    previous_version: u64,
    calendar: &dyn Calendar,
) -> StoreResult<bool> {
    let c = TicketColumns::of(ticket, calendar)?;
    let done = sqlx::query(
        "update tickets set status = ?, version = ?, lead_department_id = ?, region_code = ?, \
         category_path = ?, phone = ?, address = ?, title = ?, body = ?, updated_at = ?, \
         deadline_kind = ?, deadline_at = ?, warning_level = ?, next_check_at = ?, \
         projection = ? \
         where id = ? and version = ?",
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

/// Sets a ticket's next check (`None`: no timer) without touching its projection.
async fn reschedule(
    tx: &mut Transaction<'static, Sqlite>,
    id: &str,
    next_check_at: Option<i64>,
) -> StoreResult<()> {
    sqlx::query("update tickets set next_check_at = ? where id = ?")
        .bind(next_check_at)
        .bind(id.to_owned())
        .execute(&mut **tx)
        .await
        .map_err(db("rescheduling a ticket"))?;
    Ok(())
}

/// Caps a sweep batch: at least one ticket, at most [`MAX_SWEEP_BATCH`].
fn sweep_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_SWEEP_BATCH)
}

/// Appends events and returns them with their global ids.
async fn insert_events(
    tx: &mut Transaction<'static, Sqlite>,
    events: Vec<Event>,
) -> StoreResult<Vec<StoredEvent>> {
    let mut stored = Vec::with_capacity(events.len());
    let mut prev: Option<String> = None;
    for event in events {
        let prev_hash = match prev.take() {
            Some(hash) => hash,
            None if event.seq <= 1 => chain::GENESIS.to_owned(),
            None => {
                let hash: Option<Option<String>> =
                    sqlx::query_scalar("select hash from events where ticket_id = ? and seq = ?")
                        .bind(event.ticket_id.to_string())
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
            "insert into events (ticket_id, seq, version, at, action, actor_id, actor_role, event, \
             prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
        )
        .bind(event.ticket_id.to_string())
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

/// Replaces a ticket's assignment rows and statistics rows with those of its
/// projection, working times on `calendar`.
async fn write_assignments(
    tx: &mut Transaction<'static, Sqlite>,
    ticket: &Ticket,
    calendar: &dyn Calendar,
) -> StoreResult<()> {
    stats::write(tx, ticket, calendar).await?;
    let ticket_id = ticket.id.to_string();
    sqlx::query("delete from assignments where ticket_id = ?")
        .bind(ticket_id.clone())
        .execute(&mut **tx)
        .await
        .map_err(db("clearing assignments"))?;
    for (position, assignment) in (0_i64..).zip(&ticket.assignments) {
        sqlx::query(
            "insert into assignments (ticket_id, position, department_id, role, status) \
             values (?, ?, ?, ?, ?)",
        )
        .bind(ticket_id.clone())
        .bind(position)
        .bind(assignment.department_id.0.clone())
        .bind(assignment.role.as_str())
        .bind(assignment.status.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db("writing assignments"))?;
    }
    Ok(())
}

fn department_from_row(row: &SqliteRow) -> StoreResult<Department> {
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

fn api_key_from_row(row: &SqliteRow) -> StoreResult<ApiKeyRecord> {
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

fn event_rows(rows: Vec<SqliteRow>) -> StoreResult<Vec<StoredEvent>> {
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id").map_err(db("reading an event"))?;
            let json: String = row.try_get("event").map_err(db("reading an event"))?;
            event_from_json(id, &json)
        })
        .collect()
}

#[async_trait]
impl Store for SqliteStore {
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
            sqlx::query_scalar("select projection from tickets where id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.read)
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
        let mut tx = self.begin_write().await?;
        let json: Option<String> =
            sqlx::query_scalar("select projection from tickets where id = ?")
                .bind(id.to_string())
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
        let events = insert_events(&mut tx, decision.events).await?;
        if !update_ticket(&mut tx, &decision.ticket, ticket.version, ctx.calendar).await? {
            // Unreachable while every writer goes through `begin immediate` on this pool;
            // kept so a future writer that does not cannot silently overwrite a newer version.
            rollback(tx).await;
            return Err(StoreError::Conflict {
                expected: expected_version.unwrap_or(ticket.version),
                actual: ticket.version,
            });
        }
        write_assignments(&mut tx, &decision.ticket, ctx.calendar).await?;
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
        let mut sql = Sql::new("select t.id, t.created_at, t.projection from tickets t where 1");
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
            sql.push(" and (instr(t.title, ").bind(text.as_str());
            sql.push(") > 0 or instr(t.body, ")
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
            .fetch_all(&self.read)
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
        let rows = sqlx::query("select id, event from events where ticket_id = ? order by seq")
            .bind(id.to_string())
            .fetch_all(&self.read)
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
            .fetch_all(&self.read)
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
        let rows = sqlx::query(
            "select id, next_check_at from tickets \
             where next_check_at is not null and next_check_at <= ? \
             order by next_check_at, id limit ?",
        )
        .bind(nanos(now))
        .bind(i64::from(sweep_limit(limit)))
        .fetch_all(&self.read)
        .await
        .map_err(db("listing due tickets"))?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id").map_err(db("listing due tickets"))?;
                let at: i64 = row
                    .try_get("next_check_at")
                    .map_err(db("listing due tickets"))?;
                Ok(SweepDue {
                    id: id
                        .parse()
                        .map_err(|e| corrupt(format_args!("ticket id {id:?}: {e}")))?,
                    next_check_at: from_nanos(at)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(limit = limit, swept = tracing::field::Empty))]
    async fn sweep_due(&self, ctx: &Context<'_>, limit: u32) -> StoreResult<SweptBatch> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "select id, projection from tickets \
             where next_check_at is not null and next_check_at <= ? \
             order by next_check_at, id limit ?",
        )
        .bind(nanos(ctx.now))
        .bind(i64::from(sweep_limit(limit)))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("taking due tickets"))?;
        let mut batch = SweptBatch::default();
        for row in &rows {
            let id: String = row.try_get("id").map_err(db("taking due tickets"))?;
            let json: String = row
                .try_get("projection")
                .map_err(db("taking due tickets"))?;
            batch.swept += 1;
            let ticket = match ticket_from_json(&json) {
                Ok(ticket) => ticket,
                Err(error) => {
                    tracing::error!(ticket_id = %id, error = %error, "due ticket unreadable, put off");
                    let later = ctx.now.saturating_add(PUT_OFF).unwrap_or(Timestamp::MAX);
                    reschedule(&mut tx, &id, Some(nanos(later))).await?;
                    continue;
                }
            };
            let Some(decision) = ticket.sweep(ctx) else {
                // Nothing changes yet: the timer moves to the next threshold (always
                // after now, so a batch loop ends even should a rule misjudge it).
                let next = ticket
                    .next_check_at(ctx.calendar)
                    .map(|at| nanos(at).max(nanos(ctx.now).saturating_add(1)));
                reschedule(&mut tx, &id, next).await?;
                continue;
            };
            let events = insert_events(&mut tx, decision.events).await?;
            if !update_ticket(&mut tx, &decision.ticket, ticket.version, ctx.calendar).await? {
                // Unreachable: the row was read in this write transaction.
                rollback(tx).await;
                return Err(StoreError::Internal(anyhow::anyhow!(
                    "ticket {id} changed under the sweeper"
                )));
            }
            write_assignments(&mut tx, &decision.ticket, ctx.calendar).await?;
            batch.applied.push(Applied {
                ticket: decision.ticket,
                events,
            });
        }
        commit(tx).await?;
        tracing::Span::current().record("swept", batch.swept);
        Ok(batch)
    }

    #[tracing::instrument(skip_all)]
    async fn recent_tickets(&self, since: Timestamp) -> StoreResult<RecentTickets> {
        analysis::recent_tickets(&self.read, since).await
    }

    async fn recent_after(
        &self,
        cursor: i64,
        since: Timestamp,
        limit: u32,
    ) -> StoreResult<RecentTickets> {
        analysis::recent_after(&self.read, cursor, since, limit).await
    }

    async fn signatures(&self, ids: &[TicketId]) -> StoreResult<Vec<(TicketId, Signature)>> {
        analysis::signatures(&self.read, ids).await
    }

    #[tracing::instrument(skip_all, fields(region_digits = query.region_digits))]
    async fn hotspot_counts(&self, query: &HotspotQuery) -> StoreResult<Vec<HotspotCount>> {
        analysis::hotspot_counts(&self.read, query).await
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
        analysis::hotspot_tickets(&self.read, category, region_prefix, (start, end), limit).await
    }

    #[tracing::instrument(skip_all, fields(departments = query.departments.len()))]
    async fn department_totals(&self, query: &StatsQuery) -> StoreResult<StatsTotals> {
        stats::totals(&self.read, query).await
    }

    #[tracing::instrument(skip_all, fields(after_id = after_id, limit = limit))]
    async fn events_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let limit = PageRequest {
            size: limit,
            token: None,
        }
        .effective_size();
        let rows = sqlx::query("select id, event from events where id > ? order by id limit ?")
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db("reading events"))?;
        event_rows(rows)
    }

    #[tracing::instrument(skip_all, fields(department_id = %department.id))]
    async fn upsert_department(&self, department: &Department) -> StoreResult<()> {
        sqlx::query(
            "insert into departments (id, name, parent_id, region_code, level) values (?, ?, ?, ?, ?) \
             on conflict (id) do update set name = excluded.name, parent_id = excluded.parent_id, \
             region_code = excluded.region_code, level = excluded.level",
        )
        .bind(department.id.0.clone())
        .bind(department.name.clone())
        .bind(department.parent_id.as_ref().map(|p| p.0.clone()))
        .bind(department.region_code.clone())
        .bind(i64::from(department.level))
        .execute(&self.write)
        .await
        .map_err(db("upserting a department"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_departments(&self) -> StoreResult<Vec<Department>> {
        let rows = sqlx::query(
            "select id, name, parent_id, region_code, level from departments order by id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db("listing departments"))?;
        rows.iter().map(department_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn get_setting(&self, key: &str) -> StoreResult<Option<Setting>> {
        let row = sqlx::query("select value, version, updated_at from settings where key = ?")
            .bind(key.to_owned())
            .fetch_optional(&self.read)
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
            "insert into settings (key, value, version, updated_at) values (?, ?, 1, ?) \
             on conflict (key) do update set value = excluded.value, \
             version = settings.version + 1, updated_at = excluded.updated_at \
             returning version",
        )
        .bind(key.to_owned())
        .bind(value.to_owned())
        .bind(nanos(now))
        .fetch_one(&self.write)
        .await
        .map_err(db("writing a setting"))
    }

    #[tracing::instrument(skip_all, fields(key_id = %key.id, role = %key.role))]
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let outcome = sqlx::query(
            "insert into api_keys (id, name, role, department_id, secret_hash, created_at, \
             expires_at, revoked_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.clone())
        .bind(key.name.clone())
        .bind(key.role.as_str())
        .bind(key.department_id.as_ref().map(|d| d.0.clone()))
        .bind(key.secret_hash.clone())
        .bind(nanos(key.created_at))
        .bind(key.expires_at.map(nanos))
        .bind(key.revoked_at.map(nanos))
        .execute(&self.write)
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
            " from api_keys where secret_hash = ?"
        ))
        .bind(secret_hash.to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(db("finding an api key"))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn api_key_by_id(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(concat!(
            "select ",
            api_key_columns!(),
            " from api_keys where id = ?"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.read)
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
        .fetch_all(&self.read)
        .await
        .map_err(db("listing api keys"))?;
        rows.iter().map(api_key_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(key_id = %id))]
    async fn revoke_api_key(&self, id: &str, at: Timestamp) -> StoreResult<ApiKeyRecord> {
        let row = sqlx::query(concat!(
            "update api_keys set revoked_at = coalesce(revoked_at, ?) where id = ? returning ",
            api_key_columns!()
        ))
        .bind(nanos(at))
        .bind(id.to_owned())
        .fetch_optional(&self.write)
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
    async fn ticket_counts(&self, now: Timestamp) -> StoreResult<TicketCounts> {
        let statuses: Vec<(String, i64)> =
            sqlx::query_as("select status, count(*) as n from tickets group by status")
                .fetch_all(&self.read)
                .await
                .map_err(db("counting tickets by status"))?;
        let overdue: Vec<(String, i64)> = sqlx::query_as(
            "select lead_department_id, count(*) as n from tickets \
             where deadline_at is not null and deadline_at < ? \
             and deadline_kind in (?, ?) and lead_department_id is not null \
             group by lead_department_id order by lead_department_id",
        )
        .bind(nanos(now))
        .bind(DeadlineKind::Sign.as_str())
        .bind(DeadlineKind::Reply.as_str())
        .fetch_all(&self.read)
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
        audit::audit_events(&self.read, after, ticket, limit).await
    }

    #[tracing::instrument(skip_all)]
    async fn check_rows(
        &self,
        calendar: &dyn Calendar,
    ) -> StoreResult<Vec<hotline_store::check::RowProblem>> {
        audit::check_rows(&self.read, calendar).await
    }

    #[tracing::instrument(skip_all)]
    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writer_syncs_fully_and_readers_cannot_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("hotline.db"))
            .await
            .expect("open");
        // 2 is FULL: https://www.sqlite.org/pragma.html#pragma_synchronous
        let synchronous: i64 = sqlx::query_scalar("pragma synchronous")
            .fetch_one(&store.write)
            .await
            .expect("pragma");
        assert_eq!(synchronous, 2);
        let write_to_reader = sqlx::query(
            "insert into settings (key, value, version, updated_at) \
                                           values ('k', 'v', 1, 0)",
        )
        .execute(&store.read)
        .await;
        assert!(write_to_reader.is_err(), "read connections are query_only");
        store.close().await;
    }
}
