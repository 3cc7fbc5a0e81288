//! Group commit of new tickets.
//!
//! A commit under `synchronous = FULL` costs an fsync, and one connection writes, so
//! filing each ticket in its own transaction caps intake at the disk's fsync rate (a
//! few hundred per second). Instead, callers hand their creates to one writer task
//! through a bounded queue, and the writer files whatever has queued up in ONE
//! transaction, one fsync for all:
//!
//! - The caller decides the ticket with its own [`Context`](hotline_core::Context)
//!   ([`hotline_core::prepare_ticket`], the next check on its calendar, the text
//!   fingerprint) before queueing, so the writer needs nothing borrowed and the CPU
//!   work runs on the callers' threads, outside the write lock. Only the human number
//!   is left: it comes from the day's counter inside the transaction.
//! - The writer takes the first queued create, starts the transaction (waiting for
//!   the write connection and the file lock if another write holds them), then takes
//!   whatever else has queued meanwhile, up to [`MAX_BATCH`]. It never waits for more:
//!   an idle system files a lone create at once, and batches only form from creates
//!   that arrived while the previous commit was being synced.
//! - Each create runs inside its own `SAVEPOINT`: a refusal (domain, bad data caught
//!   by a constraint) rolls back that create alone, its number included, so numbers
//!   stay gap-free; the others go on. A repeated request id within a batch finds the
//!   first one's row, as it would across transactions: one ticket.
//! - Answers are sent only after the shared `COMMIT` returned, i.e. once the batch is
//!   durable. If the commit (or the transaction as a whole) fails, every create of the
//!   batch that would have succeeded gets that error instead: none is acknowledged, and
//!   the rollback leaves nothing of the batch behind.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hotline_core::similar::Signature;
use hotline_core::{DomainError, Ticket, Unnumbered};
use hotline_store::{Created, StoreError, StoreResult, StoredEvent, chain};
use jiff::Timestamp;
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{int, nanos, ticket_from_json, to_json};
use crate::error::{corrupt, db};
use crate::sql::Sql;
use crate::{begin_write, insert_events, insert_tickets, write_assignments};

/// Most creates one transaction files. Bounds the time a batch holds the write lock
/// (so other writes interleave) and the memory a batch holds.
pub(crate) const MAX_BATCH: usize = 256;
/// Creates that may wait for the writer; beyond this, callers wait to queue.
const QUEUE: usize = 4 * MAX_BATCH;

/// A create decided by its caller, waiting to be filed.
pub(crate) struct Filing {
    /// Idempotency key, already checked.
    pub request_id: Option<String>,
    /// First part of the human number.
    pub center: String,
    /// Second part of the human number.
    pub day: String,
    /// When the create takes effect (recorded with the request id).
    pub now: Timestamp,
    /// The domain's answer. A refusal still travels when there is a request id, so that
    /// a retry of a request filed before gets its ticket back, as it would unbatched.
    pub verdict: Result<Prepared, DomainError>,
}

/// What the caller computed for an accepted create.
pub(crate) struct Prepared {
    /// The decision, but for its number.
    pub unnumbered: Unnumbered,
    /// The ticket's next check (nanoseconds), from the caller's calendar.
    pub next_check_at: Option<i64>,
    /// The text fingerprint, if the text has any.
    pub signature: Option<Signature>,
}

struct Job {
    filing: Filing,
    reply: oneshot::Sender<StoreResult<Created>>,
}

/// The handle to the writer task; cloning shares it. The task ends when every handle is
/// dropped.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    /// Shared with the task; tests read it to see the batching.
    #[cfg(test)]
    counts: Arc<Counts>,
}

/// What the writer has committed so far: creates per commit is the batching achieved.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Creates in them (filed, retried or refused).
    pub creates: AtomicU64,
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn spawn(pool: SqlitePool) -> Writer {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run(pool, jobs, Arc::clone(&counts)));
        Writer {
            queue,
            #[cfg(test)]
            counts,
        }
    }

    /// Queues a create and waits until the transaction holding it has committed.
    pub(crate) async fn file(&self, filing: Filing) -> StoreResult<Created> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { filing, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the ticket writer has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the ticket writer stopped before answering".to_owned())
        })?
    }

    /// Creates queued and not yet taken by the writer.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Transactions and creates committed so far.
    #[cfg(test)]
    pub(crate) fn committed(&self) -> (u64, u64) {
        (
            self.counts.commits.load(Ordering::Relaxed),
            self.counts.creates.load(Ordering::Relaxed),
        )
    }
}

async fn run(pool: SqlitePool, mut jobs: mpsc::Receiver<Job>, counts: Arc<Counts>) {
    while let Some(first) = jobs.recv().await {
        file_batch(&pool, first, &mut jobs, &counts).await;
    }
}

/// Files `first` and whatever queued behind it in one transaction, then answers them.
async fn file_batch(
    pool: &SqlitePool,
    first: Job,
    jobs: &mut mpsc::Receiver<Job>,
    counts: &Counts,
) {
    let mut tx = match begin_write(pool).await {
        Ok(tx) => tx,
        Err(error) => {
            // Only the create that asked is failed; the queued ones get their own try.
            let _ = first.reply.send(Err(error));
            return;
        }
    };
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    let size = batch.len();
    let filings: Vec<&Filing> = batch.iter().map(|job| &job.filing).collect();
    let together = file_together(&mut tx, &filings).await;
    let answers = match together {
        Ok(outcomes) => batch
            .into_iter()
            .map(|job| job.reply)
            .zip(outcomes)
            .collect::<Vec<_>>(),
        Err(error) => {
            // A statement of the batch failed: file each create on its own, so that only
            // the one at fault fails.
            tracing::debug!(error = %error, batch = size, "filing the batch one create at a time");
            if let Err(error) = tx.rollback().await {
                tracing::warn!(error = %error, "rolling back a failed batch");
            }
            tx = match begin_write(pool).await {
                Ok(tx) => tx,
                Err(error) => {
                    for job in batch {
                        let _ = job.reply.send(Err(for_each_caller(&error)));
                    }
                    return;
                }
            };
            match file_one_by_one(&mut tx, batch).await {
                Some(answers) => answers,
                None => return,
            }
        }
    };
    match tx.commit().await.map_err(db("committing")) {
        Ok(()) => {
            let commits = counts.commits.fetch_add(1, Ordering::Relaxed) + 1;
            let creates = counts.creates.fetch_add(size as u64, Ordering::Relaxed) + size as u64;
            tracing::debug!(batch = size, commits, creates, "filed a batch of tickets");
            for (reply, outcome) in answers {
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            // The transaction is rolled back when `tx` is dropped by the failed commit.
            tracing::error!(error = %error, batch = size, "committing a batch of tickets failed");
            for (reply, outcome) in answers {
                let answer = match outcome {
                    // A refusal stays the create's own answer: it held regardless.
                    Err(refusal) => Err(refusal),
                    Ok(_) => Err(for_each_caller(&error)),
                };
                let _ = reply.send(answer);
            }
        }
    }
}

/// Files each create in its own savepoint; `None` when the transaction as a whole failed,
/// after telling every caller.
async fn file_one_by_one(
    tx: &mut Transaction<'static, Sqlite>,
    batch: Vec<Job>,
) -> Option<Vec<(oneshot::Sender<StoreResult<Created>>, StoreResult<Created>)>> {
    let size = batch.len();
    let mut answers = Vec::with_capacity(size);
    let mut pending = batch.into_iter();
    while let Some(Job { filing, reply }) = pending.next() {
        match file_in_savepoint(tx, filing).await {
            Ok(outcome) => answers.push((reply, outcome)),
            Err(broken) => {
                // The transaction itself failed (e.g. disk full or I/O error: SQLite
                // rolled it back). Nothing of the batch is written; nobody is told
                // otherwise.
                tracing::error!(error = %broken, batch = size, "filing a batch of tickets failed");
                let replies = answers
                    .into_iter()
                    .map(|(reply, _)| reply)
                    .chain(std::iter::once(reply))
                    .chain(pending.map(|job| job.reply));
                for reply in replies {
                    let _ = reply.send(Err(for_each_caller(&broken)));
                }
                return None;
            }
        }
    }
    Some(answers)
}

/// How one create of a batch is answered.
enum Plan {
    /// Decided without writing: a request id seen before, or a refusal.
    Answered(Box<StoreResult<Created>>),
    /// The `n`th ticket filed by this batch.
    Filed(usize),
    /// A repeat, within the batch, of the request id of the `n`th ticket filed.
    Repeat(usize),
}

/// A ticket this batch files.
struct Filed<'a> {
    decision: hotline_core::Decision,
    prepared: &'a Prepared,
    filing: &'a Filing,
}

/// Files a whole batch in a fixed number of statements (request ids, numbers, tickets,
/// signatures, events, request ids again), however many creates it holds. An error
/// means a statement failed and the transaction must be rolled back: the caller then
/// files the creates one at a time, so that only the one at fault fails.
async fn file_together(
    tx: &mut Transaction<'static, Sqlite>,
    filings: &[&Filing],
) -> StoreResult<Vec<StoreResult<Created>>> {
    let seen = seen_request_ids(tx, filings).await?;
    let mut counters: HashMap<(&str, &str), i64> = HashMap::new();
    let mut first_filed: HashMap<&str, usize> = HashMap::new();
    let mut filed: Vec<Filed<'_>> = Vec::new();
    let mut plans = Vec::with_capacity(filings.len());
    for filing in filings {
        let request_id = filing.request_id.as_deref();
        if let Some(ticket) = request_id.and_then(|id| seen.get(id)) {
            plans.push(Plan::Answered(Box::new(Ok(Created {
                ticket: ticket.clone(),
                events: Vec::new(),
                created: false,
            }))));
            continue;
        }
        if let Some(&n) = request_id.and_then(|id| first_filed.get(id)) {
            plans.push(Plan::Repeat(n));
            continue;
        }
        let prepared = match &filing.verdict {
            Ok(prepared) => prepared,
            Err(refusal) => {
                plans.push(Plan::Answered(Box::new(Err(StoreError::Rejected(
                    refusal.clone(),
                )))));
                continue;
            }
        };
        let key = (filing.center.as_str(), filing.day.as_str());
        let last = match counters.get(&key) {
            Some(last) => *last,
            None => last_number(tx, key).await?,
        };
        let seq = last + 1;
        let number = format!("{}-{}-{seq:06}", filing.center, filing.day);
        match prepared.unnumbered.clone().number(&number) {
            Ok(decision) => {
                counters.insert(key, seq);
                if let Some(id) = request_id {
                    first_filed.insert(id, filed.len());
                }
                plans.push(Plan::Filed(filed.len()));
                filed.push(Filed {
                    decision,
                    prepared,
                    filing,
                });
            }
            Err(refusal) => {
                counters.insert(key, last);
                plans.push(Plan::Answered(Box::new(Err(StoreError::Rejected(refusal)))));
            }
        }
    }
    let mut events = if filed.is_empty() {
        Vec::new()
    } else {
        let rows: Vec<(&Ticket, Option<i64>)> = filed
            .iter()
            .map(|f| (&f.decision.ticket, f.prepared.next_check_at))
            .collect();
        insert_tickets(tx, &rows).await?;
        insert_signatures(tx, &filed).await?;
        let events = insert_new_events(tx, &filed).await?;
        for ticket in filed.iter().map(|f| &f.decision.ticket) {
            if !ticket.assignments.is_empty() {
                // A new ticket has no parts yet: no working time to measure.
                write_assignments(tx, ticket, &hotline_core::AlwaysOpen).await?;
            }
        }
        insert_request_ids(tx, &filed).await?;
        write_counters(tx, &counters).await?;
        events
    };
    let answers = plans
        .into_iter()
        .map(|plan| match plan {
            Plan::Answered(answer) => *answer,
            Plan::Filed(n) => Ok(Created {
                ticket: filed[n].decision.ticket.clone(),
                events: std::mem::take(&mut events[n]),
                created: true,
            }),
            Plan::Repeat(n) => Ok(Created {
                ticket: filed[n].decision.ticket.clone(),
                events: Vec::new(),
                created: false,
            }),
        })
        .collect();
    Ok(answers)
}

/// The tickets of the batch's request ids filed by earlier transactions.
async fn seen_request_ids(
    tx: &mut Transaction<'static, Sqlite>,
    filings: &[&Filing],
) -> StoreResult<HashMap<String, Ticket>> {
    let ids: Vec<&str> = filings
        .iter()
        .filter_map(|f| f.request_id.as_deref())
        .collect();
    let mut seen = HashMap::new();
    if ids.is_empty() {
        return Ok(seen);
    }
    let mut sql = Sql::new(
        "select i.request_id, t.projection from idempotency i \
         join tickets t on t.id = i.ticket_id where 1",
    );
    sql.and_in("i.request_id", ids);
    let rows = sql
        .build()
        .fetch_all(&mut **tx)
        .await
        .map_err(db("looking up request ids"))?;
    for row in rows {
        let id: String = row
            .try_get("request_id")
            .map_err(db("looking up request ids"))?;
        let json: String = row
            .try_get("projection")
            .map_err(db("looking up request ids"))?;
        seen.insert(id, ticket_from_json(&json)?);
    }
    Ok(seen)
}

/// The last number handed out on `(center, day)`, 0 before the first.
async fn last_number(
    tx: &mut Transaction<'static, Sqlite>,
    (center, day): (&str, &str),
) -> StoreResult<i64> {
    let last: Option<i64> =
        sqlx::query_scalar("select last_seq from ticket_numbers where center = ? and day = ?")
            .bind(center.to_owned())
            .bind(day.to_owned())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db("reading a ticket number counter"))?;
    Ok(last.unwrap_or(0))
}

async fn write_counters(
    tx: &mut Transaction<'static, Sqlite>,
    counters: &HashMap<(&str, &str), i64>,
) -> StoreResult<()> {
    for ((center, day), last) in counters {
        sqlx::query(
            "insert into ticket_numbers (center, day, last_seq) values (?, ?, ?) \
             on conflict (center, day) do update set last_seq = excluded.last_seq",
        )
        .bind((*center).to_owned())
        .bind((*day).to_owned())
        .bind(*last)
        .execute(&mut **tx)
        .await
        .map_err(db("advancing a ticket number counter"))?;
    }
    Ok(())
}

async fn insert_signatures(
    tx: &mut Transaction<'static, Sqlite>,
    filed: &[Filed<'_>],
) -> StoreResult<()> {
    let mut sql = Sql::new("insert into ticket_signatures (ticket_id, signature) values ");
    for (i, f) in filed.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" })
            .bind(f.decision.ticket.id.to_string())
            .push(", ")
            .bind(f.prepared.signature.as_ref().map(Signature::to_bytes))
            .push(")");
    }
    sql.build()
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(db("writing text signatures"))
}

/// Appends the new tickets' events, each ticket's chain starting at the genesis hash;
/// returns them per ticket with their ids.
async fn insert_new_events(
    tx: &mut Transaction<'static, Sqlite>,
    filed: &[Filed<'_>],
) -> StoreResult<Vec<Vec<StoredEvent>>> {
    let mut sql = Sql::new(
        "insert into events (ticket_id, seq, version, at, action, actor_id, actor_role, event, \
         prev_hash, hash) values ",
    );
    let mut first = true;
    for f in filed {
        let mut prev = chain::GENESIS.to_owned();
        for (expected, event) in (1..).zip(&f.decision.events) {
            if event.seq != expected {
                return Err(corrupt(format_args!(
                    "a new ticket's event {} is not number {expected}",
                    event.seq
                )));
            }
            let json = to_json(event, "event")?;
            let hash = chain::link(&prev, &json);
            sql.push(if first { "(" } else { ", (" })
                .bind(event.ticket_id.to_string())
                .push(", ")
                .bind(int(event.seq, "event seq")?)
                .push(", ")
                .bind(int(event.version, "event version")?)
                .push(", ")
                .bind(nanos(event.at))
                .push(", ")
                .bind(event.kind.action())
                .push(", ")
                .bind(event.actor.id.clone())
                .push(", ")
                .bind(event.actor.role.as_str())
                .push(", ")
                .bind(json)
                .push(", ")
                .bind(std::mem::replace(&mut prev, hash.clone()))
                .push(", ")
                .bind(hash)
                .push(")");
            first = false;
        }
    }
    sql.push(" returning id, ticket_id, seq");
    let rows = sql
        .build()
        .fetch_all(&mut **tx)
        .await
        .map_err(db("appending events"))?;
    let mut ids: HashMap<(String, i64), i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id").map_err(db("appending events"))?;
        let ticket: String = row.try_get("ticket_id").map_err(db("appending events"))?;
        let seq: i64 = row.try_get("seq").map_err(db("appending events"))?;
        ids.insert((ticket, seq), id);
    }
    filed
        .iter()
        .map(|f| {
            let ticket = f.decision.ticket.id.to_string();
            f.decision
                .events
                .iter()
                .map(|event| {
                    let seq = int(event.seq, "event seq")?;
                    let id = ids.remove(&(ticket.clone(), seq)).ok_or_else(|| {
                        corrupt(format_args!("no id came back for event {seq} of {ticket}"))
                    })?;
                    Ok(StoredEvent {
                        id,
                        event: event.clone(),
                    })
                })
                .collect()
        })
        .collect()
}

async fn insert_request_ids(
    tx: &mut Transaction<'static, Sqlite>,
    filed: &[Filed<'_>],
) -> StoreResult<()> {
    let mut sql = Sql::new("insert into idempotency (request_id, ticket_id, created_at) values ");
    let mut any = false;
    for f in filed {
        if let Some(request_id) = &f.filing.request_id {
            sql.push(if any { ", (" } else { "(" })
                .bind(request_id.as_str())
                .push(", ")
                .bind(f.decision.ticket.id.to_string())
                .push(", ")
                .bind(nanos(f.filing.now))
                .push(")");
            any = true;
        }
    }
    if !any {
        return Ok(());
    }
    sql.build()
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(db("recording request ids"))
}

/// Files one create inside its own savepoint. The outer error means the transaction as a
/// whole is lost; the inner result is the create's own answer (to send after commit).
async fn file_in_savepoint(
    tx: &mut Transaction<'static, Sqlite>,
    filing: Filing,
) -> Result<StoreResult<Created>, StoreError> {
    execute(tx, "savepoint filing", "starting a savepoint").await?;
    let outcome = file_one(tx, filing).await;
    if outcome.is_err() {
        execute(tx, "rollback to filing", "rolling back a refused create").await?;
    }
    execute(tx, "release filing", "releasing a savepoint").await?;
    Ok(outcome)
}

async fn execute(
    tx: &mut Transaction<'static, Sqlite>,
    sql: &'static str,
    context: &'static str,
) -> StoreResult<()> {
    sqlx::query(sql)
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(db(context))
}

/// Files one create: the request id look-up, the number, the ticket, its signature,
/// events, assignments and request id.
async fn file_one(tx: &mut Transaction<'static, Sqlite>, filing: Filing) -> StoreResult<Created> {
    if let Some(request_id) = &filing.request_id {
        let seen: Option<String> = sqlx::query_scalar(
            "select t.projection from idempotency i join tickets t on t.id = i.ticket_id \
             where i.request_id = ?",
        )
        .bind(request_id.clone())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("looking up a request id"))?;
        if let Some(json) = seen {
            return Ok(Created {
                ticket: ticket_from_json(&json)?,
                events: Vec::new(),
                created: false,
            });
        }
    }
    let prepared = filing.verdict.map_err(StoreError::Rejected)?;
    let seq: i64 = sqlx::query_scalar(
        "insert into ticket_numbers (center, day, last_seq) values (?, ?, 1) \
         on conflict (center, day) do update set last_seq = last_seq + 1 \
         returning last_seq",
    )
    .bind(filing.center.clone())
    .bind(filing.day.clone())
    .fetch_one(&mut **tx)
    .await
    .map_err(db("allocating a ticket number"))?;
    let number = format!("{}-{}-{seq:06}", filing.center, filing.day);
    let decision = prepared
        .unnumbered
        .number(&number)
        .map_err(StoreError::Rejected)?;
    let ticket = decision.ticket;
    insert_tickets(tx, &[(&ticket, prepared.next_check_at)]).await?;
    let id = ticket.id.to_string();
    crate::analysis::write_signature(tx, &id, prepared.signature.as_ref()).await?;
    let events = insert_events(tx, decision.events).await?;
    // A new ticket has no parts yet: no working time to measure.
    write_assignments(tx, &ticket, &hotline_core::AlwaysOpen).await?;
    if let Some(request_id) = filing.request_id {
        sqlx::query("insert into idempotency (request_id, ticket_id, created_at) values (?, ?, ?)")
            .bind(request_id)
            .bind(ticket.id.to_string())
            .bind(nanos(filing.now))
            .execute(&mut **tx)
            .await
            .map_err(db("recording a request id"))?;
    }
    Ok(Created {
        ticket,
        events,
        created: true,
    })
}

/// A batch-wide failure, once per create of the batch (store errors are not `Clone`).
fn for_each_caller(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        other => StoreError::Internal(anyhow::anyhow!("{other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use hotline_core::{DomainError, NewTicket};
    use hotline_store::conformance::{World, appeal, create_request, operator, t0};
    use hotline_store::{CreateTicket, Created, Store, StoreError, StoreResult};
    use sqlx::pool::PoolConnection;
    use sqlx::sqlite::Sqlite;
    use tokio::task::JoinHandle;

    use crate::SqliteStore;

    struct Batch {
        store: Arc<SqliteStore>,
        world: Arc<World>,
        _dir: tempfile::TempDir,
    }

    impl Batch {
        async fn open() -> Batch {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("hotline.db"))
                .await
                .expect("open");
            Batch {
                store: Arc::new(store),
                world: Arc::new(World::new()),
                _dir: dir,
            }
        }

        /// Takes the one write connection: the writer waits for it with what has queued.
        async fn hold(&self) -> PoolConnection<Sqlite> {
            self.store
                .write
                .acquire()
                .await
                .expect("the write connection")
        }

        fn spawn(&self, request: CreateTicket) -> JoinHandle<StoreResult<Created>> {
            let store = Arc::clone(&self.store);
            let world = Arc::clone(&self.world);
            tokio::spawn(async move {
                let actor = operator();
                store.create_ticket(request, &world.ctx(&actor, t0())).await
            })
        }

        /// Waits until `n` creates wait behind the one the writer took.
        async fn queued(&self, n: usize) {
            for _ in 0..2000 {
                if self.store.writer.queued() == n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("{n} creates never queued");
        }

        async fn count(&self, table: &str) -> i64 {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(&self.store.read)
                .await
                .expect("count")
        }
    }

    fn request(title: &str, request_id: Option<&str>) -> CreateTicket {
        create_request(appeal(title), t0(), request_id)
    }

    async fn outcome(task: JoinHandle<StoreResult<Created>>) -> StoreResult<Created> {
        task.await.expect("create task")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_transaction_files_a_batch_and_refusals_roll_back_alone() {
        let b = Batch::open().await;
        let held = b.hold().await;
        let first = request("路灯不亮", None);
        let same_id = CreateTicket {
            ticket: appeal("井盖缺失"),
            ..first.clone()
        };
        let blank: NewTicket = NewTicket {
            title: String::new(),
            ..appeal("x")
        };
        let tasks = vec![
            b.spawn(first),
            b.spawn(request("路面塌陷", Some("req-dup"))),
            b.spawn(request("路面塌陷", Some("req-dup"))),
            b.spawn(create_request(blank, t0(), Some("req-bad"))),
            // Bad data the domain cannot see: a ticket id already taken in the batch.
            b.spawn(same_id),
            b.spawn(request("路灯闪烁", None)),
        ];
        b.queued(tasks.len() - 1).await;
        drop(held);
        let mut results = Vec::new();
        for task in tasks {
            results.push(outcome(task).await);
        }
        assert_eq!(
            b.store.writer.committed(),
            (1, 6),
            "one commit for the whole batch"
        );

        // The same ticket id twice: whichever was filed first won, the other rolled back.
        let (first, same_id) = (&results[0], &results[4]);
        let (won, lost) = match (first, same_id) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            other => panic!("one of the same ticket id must fail: {other:?}"),
        };
        assert!(won.created);
        assert!(matches!(lost, StoreError::Internal(_)), "{lost:?}");
        // One request id twice in the batch: one ticket.
        let (Ok(a), Ok(b_)) = (&results[1], &results[2]) else {
            panic!("both retries succeed: {results:?}");
        };
        assert_eq!(a.ticket.id, b_.ticket.id);
        assert_eq!(u8::from(a.created) + u8::from(b_.created), 1);
        match &results[3] {
            Err(StoreError::Rejected(DomainError::InvalidField { field: "title", .. })) => {}
            other => panic!("blank title: {other:?}"),
        }
        let Ok(last) = &results[5] else {
            panic!("the last create: {results:?}");
        };

        // Three tickets, numbered 1 to 3 whatever the order: the refusals took no number.
        let mut numbers: Vec<String> = [won, a, last]
            .iter()
            .map(|c| c.ticket.number.clone())
            .collect();
        numbers.sort();
        let day = hotline_store::conformance::day_of(t0());
        assert_eq!(
            numbers,
            (1..=3)
                .map(|n| format!("SZ-{day}-{n:06}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(b.count("tickets").await, 3);
        assert_eq!(b.count("events").await, 3);
        assert_eq!(b.count("idempotency").await, 1, "req-bad was not recorded");
        for created in [won, a, last] {
            assert_eq!(
                b.store.get_ticket(created.ticket.id).await.expect("stored"),
                created.ticket
            );
        }
        // A lone create on an idle writer is its own batch.
        let alone = b.spawn(request("路灯不亮", None));
        assert!(outcome(alone).await.expect("alone").created);
        assert_eq!(b.store.writer.committed(), (2, 7));
        b.store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_create_of_the_batch_and_writes_nothing() {
        let b = Batch::open().await;
        let mut held = b.hold().await;
        // A real commit-time failure: a deferred foreign key that one ticket's insert
        // breaks. SQLite only checks it at COMMIT.
        for sql in [
            "create table trap (ticket_id text references tickets (id) \
             deferrable initially deferred)",
            "create trigger spring_trap after insert on tickets when new.title = '陷阱' \
             begin insert into trap values ('no such ticket'); end",
        ] {
            sqlx::query(sql)
                .execute(&mut *held)
                .await
                .expect("set the trap");
        }
        let tasks = vec![
            b.spawn(request("路灯不亮", Some("req-1"))),
            b.spawn(request("井盖缺失", None)),
            b.spawn(request("陷阱", None)),
            b.spawn(request("路面塌陷", Some("req-2"))),
            b.spawn(create_request(
                NewTicket {
                    title: String::new(),
                    ..appeal("x")
                },
                t0(),
                Some("req-3"),
            )),
        ];
        b.queued(tasks.len() - 1).await;
        drop(held);
        let mut results = Vec::new();
        for task in tasks {
            results.push(outcome(task).await);
        }
        for (n, result) in results.iter().enumerate() {
            match (n, result) {
                // The refusal keeps its own answer.
                (4, Err(StoreError::Rejected(_))) => {}
                (4, other) => panic!("blank title: {other:?}"),
                (_, Err(StoreError::Internal(error))) => {
                    assert!(format!("{error:#}").contains("FOREIGN KEY"), "{error:#}");
                }
                (_, other) => panic!("create {n} was acknowledged: {other:?}"),
            }
        }
        assert_eq!(b.store.writer.committed(), (0, 0));
        for table in ["tickets", "events", "ticket_numbers", "idempotency", "trap"] {
            assert_eq!(
                b.count(table).await,
                0,
                "{table} holds nothing of the batch"
            );
        }

        // The store goes on: the next create gets the first number, a retried request
        // id files anew.
        sqlx::query("drop trigger spring_trap")
            .execute(&b.store.write)
            .await
            .expect("disarm");
        let retry = outcome(b.spawn(request("路灯不亮", Some("req-1"))))
            .await
            .expect("retry");
        assert!(retry.created);
        let day = hotline_store::conformance::day_of(t0());
        assert_eq!(retry.ticket.number, format!("SZ-{day}-000001"));
        b.store.close().await;
    }
}
