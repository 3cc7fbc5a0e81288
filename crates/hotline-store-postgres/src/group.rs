//! Group commit of new tickets.
//!
//! With `synchronous_commit` on, a commit returns once its WAL is flushed, and every
//! create locks its day's number counter and the event log until then: creates filed one
//! transaction each run one after the other, at the disk's flush rate. Instead, callers
//! hand their creates to a writer task through a bounded queue, and the writer files
//! whatever has queued up in ONE transaction, one flush for all:
//!
//! - The caller decides the ticket with its own [`Context`](hotline_core::Context)
//!   ([`hotline_core::prepare_ticket`], the next check on its calendar, the text
//!   fingerprint) before queueing,
//!   so the writer needs nothing borrowed and the CPU work runs on the callers' tasks.
//!   Only the human number is left: it comes from the day's counter in the transaction.
//! - The writer takes the first queued create, starts a transaction, then takes whatever
//!   else has queued meanwhile, up to [`MAX_BATCH`]. It never waits for more: an idle
//!   system files a lone create at once; batches form from creates that arrived while
//!   the previous commit was being flushed.
//! - A batch costs a fixed number of statements, whatever its size: request ids are
//!   claimed in one statement, each day's numbers are taken with one counter update,
//!   tickets, fingerprints, assignments and events are inserted from arrays (`unnest`). Locks are taken
//!   in one order by every batch of every replica: request ids (sorted), number counters
//!   (sorted), then the event log last, just before the events are appended. So batches
//!   of different processes cannot deadlock, numbers stay unique and gap-free, and event
//!   ids become visible in commit order.
//! - A request id is one ticket within a batch as across transactions: its first accepted
//!   create files it, later ones get that ticket back. A request id another transaction
//!   holds makes the batch wait for it, then read its ticket.
//! - When a statement fails for something one create brought (bad data a constraint
//!   catches), the batch is rolled back and its creates are filed again one transaction
//!   each, so the refusal is that create's alone and takes no number. Savepoints would do
//!   the same in one transaction, but more than 64 subtransactions in one transaction
//!   slow every other session's snapshots; the common path needs none.
//! - Answers are sent only after the shared `COMMIT` returned, i.e. once the batch is
//!   durable. If the commit (or the transaction as a whole) fails, every create of the
//!   batch that would have succeeded gets that error instead: none is acknowledged, and
//!   the rollback leaves nothing of the batch behind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hotline_core::similar::Signature;
use hotline_core::{Decision, DomainError, Ticket, TicketId, Unnumbered};
use hotline_store::{Created, StoreError, StoreResult, StoredEvent};
use jiff::Timestamp;
use sqlx::Transaction;
use sqlx::postgres::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::codec::{TicketColumns, int, nanos, ticket_from_json};
use crate::error::{corrupt, db};
use crate::{error, rollback};

/// Most creates one transaction files. Bounds the time a batch holds the number counter
/// and the event log (so other writes interleave) and the memory a batch holds.
pub(crate) const MAX_BATCH: usize = 256;
/// Creates that may wait for the writer; beyond this, callers wait to queue.
const QUEUE: usize = 4 * MAX_BATCH;

/// A create decided by its caller, waiting to be filed.
pub(crate) struct Filing {
    /// The new ticket's id (recorded with the request id, refused or not).
    pub id: TicketId,
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

/// What a numbered create carries to its rows besides its decision.
struct Rows<'a> {
    next_check_at: Option<i64>,
    signature: Option<&'a Signature>,
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
    /// Transactions committed, batches and creates filed alone alike.
    pub commits: AtomicU64,
    /// Creates in them (filed, retried or refused).
    pub creates: AtomicU64,
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn spawn(pool: PgPool) -> Writer {
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

async fn run(pool: PgPool, mut jobs: mpsc::Receiver<Job>, counts: Arc<Counts>) {
    while let Some(first) = jobs.recv().await {
        file_batch(&pool, first, &mut jobs, &counts).await;
    }
}

async fn begin(pool: &PgPool) -> StoreResult<Transaction<'static, Postgres>> {
    pool.begin().await.map_err(db("starting a transaction"))
}

/// Files `first` and whatever queued behind it in one transaction, then answers them.
async fn file_batch(pool: &PgPool, first: Job, jobs: &mut mpsc::Receiver<Job>, counts: &Counts) {
    let mut tx = match begin(pool).await {
        Ok(tx) => tx,
        Err(error) => {
            // Only the create that asked is failed; the queued ones get their own try.
            let _ = first.reply.send(Err(error));
            return;
        }
    };
    let mut filings = vec![first.filing];
    let mut replies = vec![first.reply];
    while filings.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => {
                filings.push(job.filing);
                replies.push(job.reply);
            }
            Err(_) => break,
        }
    }
    let size = filings.len();
    match file_together(&mut tx, &filings).await {
        Ok(answers) => {
            let answers = commit(tx, answers, counts).await;
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(error) if size > 1 && !matches!(error, StoreError::Unavailable(_)) => {
            // Something one create brought: file each alone, so it fails alone.
            tracing::warn!(error = %error, batch = size, "a batch of tickets failed; filing them one by one");
            rollback(tx).await;
            for (filing, reply) in filings.into_iter().zip(replies) {
                let _ = reply.send(file_alone(pool, filing, counts).await);
            }
        }
        Err(broken) => {
            // The server or the connection failed: nothing of the batch is written, and
            // nobody is told otherwise.
            tracing::error!(error = %broken, batch = size, "filing a batch of tickets failed");
            rollback(tx).await;
            for reply in replies {
                let _ = reply.send(Err(for_each_caller(&broken)));
            }
        }
    }
}

/// Files one create in its own transaction.
async fn file_alone(pool: &PgPool, filing: Filing, counts: &Counts) -> StoreResult<Created> {
    let mut tx = begin(pool).await?;
    match file_together(&mut tx, std::slice::from_ref(&filing)).await {
        Ok(answers) => commit(tx, answers, counts).await.pop().unwrap_or_else(|| {
            Err(StoreError::Internal(anyhow::anyhow!(
                "a create went unanswered"
            )))
        }),
        Err(error) => {
            rollback(tx).await;
            Err(error)
        }
    }
}

/// Commits a batch and returns each create's answer: its own if the commit held, else
/// the commit's failure (a refusal stays the create's answer: it held regardless).
async fn commit(
    tx: Transaction<'static, Postgres>,
    answers: Vec<StoreResult<Created>>,
    counts: &Counts,
) -> Vec<StoreResult<Created>> {
    let size = answers.len();
    match tx.commit().await.map_err(db("committing")) {
        Ok(()) => {
            let commits = counts.commits.fetch_add(1, Ordering::Relaxed) + 1;
            let creates = counts.creates.fetch_add(size as u64, Ordering::Relaxed) + size as u64;
            tracing::debug!(batch = size, commits, creates, "filed a batch of tickets");
            answers
        }
        Err(error) => {
            tracing::error!(error = %error, batch = size, "committing a batch of tickets failed");
            answers
                .into_iter()
                .map(|answer| match answer {
                    Err(StoreError::Rejected(refusal)) => Err(StoreError::Rejected(refusal)),
                    _ => Err(for_each_caller(&error)),
                })
                .collect()
        }
    }
}

/// What becomes of one create of a batch.
enum Plan {
    /// Answered already (a refusal, or a request id filed by another transaction).
    Answered(Box<StoreResult<Created>>),
    /// Filed by this batch.
    File,
    /// Its request id is filed by create `n` of this batch: that ticket is its answer.
    Follow(usize),
}

/// Writes the creates of `filings` in `tx` and returns each one's answer (to send after
/// commit). An error is the batch's: nothing of it may be committed.
async fn file_together(
    tx: &mut Transaction<'static, Postgres>,
    filings: &[Filing],
) -> StoreResult<Vec<StoreResult<Created>>> {
    let mut plans = plan_request_ids(tx, filings).await?;
    for (plan, filing) in plans.iter_mut().zip(filings) {
        if filing.request_id.is_none() {
            *plan = match &filing.verdict {
                Ok(_) => Plan::File,
                Err(refusal) => {
                    Plan::Answered(Box::new(Err(StoreError::Rejected(refusal.clone()))))
                }
            };
        }
    }
    let to_file: Vec<usize> = (0..filings.len())
        .filter(|&i| matches!(plans[i], Plan::File))
        .collect();
    let decisions = number(tx, filings, &to_file).await?;
    let mut filed = write(tx, decisions).await?;
    // Followers first: they copy their owner's ticket, which the owner's answer takes.
    let mut answers: Vec<Option<StoreResult<Created>>> = plans
        .iter()
        .map(|plan| match plan {
            Plan::Follow(owner) => Some(match filed.get(owner) {
                Some(created) => Ok(Created {
                    ticket: created.ticket.clone(),
                    events: Vec::new(),
                    created: false,
                }),
                None => Err(StoreError::Internal(anyhow::anyhow!(
                    "create {owner} of a batch was not filed"
                ))),
            }),
            _ => None,
        })
        .collect();
    for (i, plan) in plans.into_iter().enumerate() {
        match plan {
            Plan::Answered(answer) => answers[i] = Some(*answer),
            Plan::File => {
                answers[i] = Some(filed.remove(&i).ok_or_else(|| {
                    StoreError::Internal(anyhow::anyhow!("create {i} of a batch was not filed"))
                }));
            }
            Plan::Follow(_) => {}
        }
    }
    let answers = answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(StoreError::Internal(anyhow::anyhow!(
                    "a create of a batch went unanswered"
                )))
            })
        })
        .collect();
    Ok(answers)
}

/// Claims the batch's request ids and decides what becomes of each create that has one
/// (the others are left to the caller, as `Plan::File`).
async fn plan_request_ids(
    tx: &mut Transaction<'static, Postgres>,
    filings: &[Filing],
) -> StoreResult<Vec<Plan>> {
    // The owner of a request id: its first accepted create, else its first create.
    let mut owners: HashMap<&str, usize> = HashMap::new();
    for (i, filing) in filings.iter().enumerate() {
        let Some(request_id) = filing.request_id.as_deref() else {
            continue;
        };
        match owners.get(request_id) {
            Some(&owner) if filings[owner].verdict.is_ok() || filing.verdict.is_err() => {}
            _ => {
                owners.insert(request_id, i);
            }
        }
    }
    let mut plans: Vec<Plan> = (0..filings.len()).map(|_| Plan::File).collect();
    if owners.is_empty() {
        return Ok(plans);
    }
    let mut request_ids = Vec::with_capacity(owners.len());
    let mut ticket_ids = Vec::with_capacity(owners.len());
    let mut times = Vec::with_capacity(owners.len());
    for (request_id, &owner) in &owners {
        request_ids.push(*request_id);
        ticket_ids.push(filings[owner].id.0);
        times.push(nanos(filings[owner].now));
    }
    // Sorted, so that two batches claiming overlapping ids take them in the same order.
    // A key another transaction holds makes this wait for it to commit or roll back.
    let claimed: Vec<String> = sqlx::query_scalar(
        "insert into idempotency (request_id, ticket_id, created_at) \
         select r, t, c from unnest($1::text[], $2::uuid[], $3::bigint[]) as u (r, t, c) \
         order by r on conflict (request_id) do nothing returning request_id",
    )
    .bind(&request_ids)
    .bind(&ticket_ids)
    .bind(&times)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("claiming request ids"))?;
    let claimed: HashSet<&str> = claimed.iter().map(String::as_str).collect();
    let seen: Vec<&str> = request_ids
        .iter()
        .copied()
        .filter(|id| !claimed.contains(id))
        .collect();
    let mut earlier: HashMap<String, String> = HashMap::new();
    if !seen.is_empty() {
        // Filed and committed before: this statement's fresh snapshot sees their tickets.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select i.request_id, t.projection from idempotency i \
             join tickets t on t.id = i.ticket_id where i.request_id = any($1)",
        )
        .bind(&seen)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("looking up request ids"))?;
        earlier.extend(rows);
    }
    // A claim whose creates are all refused is given back: nothing was filed under it.
    let refused: Vec<&str> = owners
        .iter()
        .filter(|(id, owner)| claimed.contains(**id) && filings[**owner].verdict.is_err())
        .map(|(id, _)| *id)
        .collect();
    if !refused.is_empty() {
        sqlx::query("delete from idempotency where request_id = any($1)")
            .bind(&refused)
            .execute(&mut **tx)
            .await
            .map_err(db("releasing refused request ids"))?;
    }
    for (i, filing) in filings.iter().enumerate() {
        let Some(request_id) = filing.request_id.as_deref() else {
            continue;
        };
        let owner = owners[request_id];
        plans[i] = if !claimed.contains(request_id) {
            Plan::Answered(Box::new(match earlier.get(request_id) {
                Some(json) => ticket_from_json(json).map(|ticket| Created {
                    ticket,
                    events: Vec::new(),
                    created: false,
                }),
                None => Err(corrupt(format_args!(
                    "request id {request_id:?} without its ticket"
                ))),
            }))
        } else if i > owner && filings[owner].verdict.is_ok() {
            Plan::Follow(owner)
        } else {
            match &filing.verdict {
                Ok(_) => Plan::File,
                Err(refusal) => {
                    Plan::Answered(Box::new(Err(StoreError::Rejected(refusal.clone()))))
                }
            }
        };
    }
    Ok(plans)
}

/// Takes numbers for the creates `to_file` (one counter update per center and day, in
/// key order) and numbers their decisions, in batch order.
async fn number<'a>(
    tx: &mut Transaction<'static, Postgres>,
    filings: &'a [Filing],
    to_file: &[usize],
) -> StoreResult<Vec<(usize, Decision, Rows<'a>)>> {
    if to_file.is_empty() {
        return Ok(Vec::new());
    }
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for &i in to_file {
        *counts
            .entry((filings[i].center.as_str(), filings[i].day.as_str()))
            .or_default() += 1;
    }
    let centers: Vec<&str> = counts.keys().map(|(center, _)| *center).collect();
    let days: Vec<&str> = counts.keys().map(|(_, day)| *day).collect();
    let taken: Vec<i64> = counts.values().copied().collect();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "insert into ticket_numbers (center, day, last_seq) \
         select c, d, n from unnest($1::text[], $2::text[], $3::bigint[]) as u (c, d, n) \
         order by c, d \
         on conflict (center, day) do update set last_seq = ticket_numbers.last_seq + excluded.last_seq \
         returning center, day, last_seq",
    )
    .bind(&centers)
    .bind(&days)
    .bind(&taken)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("allocating ticket numbers"))?;
    // The next number to hand out per key.
    let mut next: HashMap<(String, String), i64> = HashMap::with_capacity(rows.len());
    for (center, day, last_seq) in rows {
        let n = counts
            .get(&(center.as_str(), day.as_str()))
            .copied()
            .ok_or_else(|| corrupt(format_args!("numbers for {center}-{day} not asked for")))?;
        next.insert((center, day), last_seq - n + 1);
    }
    let mut decisions = Vec::with_capacity(to_file.len());
    for &i in to_file {
        let filing = &filings[i];
        let Ok(prepared) = &filing.verdict else {
            return Err(StoreError::Internal(anyhow::anyhow!(
                "a refused create was to be filed"
            )));
        };
        let seq = next
            .get_mut(&(filing.center.clone(), filing.day.clone()))
            .ok_or_else(|| {
                corrupt(format_args!(
                    "no numbers for {}-{}",
                    filing.center, filing.day
                ))
            })?;
        let number = format!("{}-{}-{:06}", filing.center, filing.day, *seq);
        *seq += 1;
        // A refusal here would leave a gap in this batch: it fails the batch instead,
        // and the create refused alone takes no number.
        let decision = prepared
            .unnumbered
            .clone()
            .number(&number)
            .map_err(StoreError::Rejected)?;
        decisions.push((
            i,
            decision,
            Rows {
                next_check_at: prepared.next_check_at,
                signature: prepared.signature.as_ref(),
            },
        ));
    }
    Ok(decisions)
}

/// Inserts the numbered tickets with their fingerprints, assignments and events, and
/// returns each one's answer by its place in the batch.
async fn write(
    tx: &mut Transaction<'static, Postgres>,
    decisions: Vec<(usize, Decision, Rows<'_>)>,
) -> StoreResult<HashMap<usize, Created>> {
    if decisions.is_empty() {
        return Ok(HashMap::new());
    }
    insert_tickets(tx, &decisions).await?;
    let fingerprints: Vec<(&Ticket, Option<&Signature>)> = decisions
        .iter()
        .map(|(_, decision, rows)| (&decision.ticket, rows.signature))
        .collect();
    crate::analysis::write_signatures(tx, &fingerprints).await?;
    let tickets: Vec<&Ticket> = decisions.iter().map(|(_, d, _)| &d.ticket).collect();
    crate::write_assignment_batch(tx, &tickets).await?;
    let ids = insert_events(tx, &decisions).await?;
    let mut filed = HashMap::with_capacity(decisions.len());
    for (i, decision, _) in decisions {
        let ticket = decision.ticket.id.0;
        let mut events = Vec::with_capacity(decision.events.len());
        for event in decision.events {
            let seq = int(event.seq, "event seq")?;
            let id = ids.get(&(ticket, seq)).copied().ok_or_else(|| {
                StoreError::Internal(anyhow::anyhow!(
                    "event {seq} of ticket {ticket} was not appended"
                ))
            })?;
            events.push(StoredEvent { id, event });
        }
        filed.insert(
            i,
            Created {
                ticket: decision.ticket,
                events,
                created: true,
            },
        );
    }
    Ok(filed)
}

/// Inserts the ticket rows, one statement for all.
async fn insert_tickets(
    tx: &mut Transaction<'static, Postgres>,
    decisions: &[(usize, Decision, Rows<'_>)],
) -> StoreResult<()> {
    let n = decisions.len();
    let mut rows = Vec::with_capacity(n);
    for (_, decision, extra) in decisions {
        rows.push(TicketColumns::with_next_check(
            &decision.ticket,
            extra.next_check_at,
        )?);
    }
    let outcome = sqlx::query(
        "insert into tickets (id, number, status, version, lead_department_id, region_code, \
         category_path, phone, address, title, body, created_at, updated_at, deadline_kind, \
         deadline_at, warning_level, next_check_at, projection) \
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
         $12::bigint[], $13::bigint[], $14::text[], $15::bigint[], $16::text[], $17::bigint[], \
         $18::text[])",
    )
    .bind(rows.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.number.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.status).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.version).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|c| c.lead_department_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|c| c.region_code.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|c| c.category_path.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|c| c.phone.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.address.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.title.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.body.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.created_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.updated_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.deadline_kind).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.deadline_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.warning_level).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.next_check_at).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|c| c.projection.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await;
    match outcome {
        Ok(_) => Ok(()),
        // The ids are fresh UUIDv7s chosen by the server, the numbers come from our own
        // counter: a collision is a bug upstream, not something a client can fix.
        Err(e) if error::is_unique_violation(&e) => Err(StoreError::Internal(match decisions {
            [(_, decision, _)] => anyhow::anyhow!(
                "ticket {} or number {} already exists",
                decision.ticket.id,
                decision.ticket.number
            ),
            _ => anyhow::anyhow!("a ticket or number of the batch already exists"),
        })),
        Err(e) => Err(db("inserting tickets")(e)),
    }
}

/// Appends the new tickets' events, one statement for all, and returns their global ids
/// by ticket and seq.
///
/// First locks the event log's one row until commit, as every transaction appending
/// events does (see `insert_events` at the crate root): it is the last lock the batch
/// takes, held only for this statement and the commit.
async fn insert_events(
    tx: &mut Transaction<'static, Postgres>,
    decisions: &[(usize, Decision, Rows<'_>)],
) -> StoreResult<HashMap<(Uuid, i64), i64>> {
    let mut events = Vec::new();
    for (_, decision, _) in decisions {
        // A new ticket's timeline starts here: each event chains to the one before it.
        for (expected, event) in (1_u64..).zip(&decision.events) {
            if event.seq != expected || event.ticket_id != decision.ticket.id {
                return Err(StoreError::Internal(anyhow::anyhow!(
                    "new ticket {} has event {} of ticket {} at place {expected}",
                    decision.ticket.id,
                    event.seq,
                    event.ticket_id
                )));
            }
            events.push(event);
        }
    }
    crate::append_chained(tx, &events, HashMap::new()).await
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
    use hotline_store::conformance::{
        World, appeal, create_request, day_of, operator, skipped, t0,
    };
    use hotline_store::{CreateTicket, Created, Store, StoreError, StoreResult};
    use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
    use tokio::task::JoinHandle;

    use crate::{PgStore, parse_url};

    const URL_ENV: &str = "TEST_DATABASE_URL";

    /// A store on a schema of its own, dropped at the end.
    struct Batch {
        store: Arc<PgStore>,
        world: Arc<World>,
        url: String,
        schema: String,
    }

    impl Batch {
        async fn open() -> Batch {
            let url = std::env::var(URL_ENV).expect("TEST_DATABASE_URL");
            let schema = format!("hotline_test_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            conn.execute(AssertSqlSafe(format!("create schema {schema}")))
                .await
                .expect("create schema");
            conn.close().await.expect("close");
            let options = parse_url(&url)
                .expect("url")
                .options([("search_path", schema.as_str())]);
            let store = PgStore::connect_with(options).await.expect("connect store");
            Batch {
                store: Arc::new(store),
                world: Arc::new(World::new()),
                url,
                schema,
            }
        }

        /// A connection of its own on the store's schema, to hold locks with.
        async fn connection(&self) -> PgConnection {
            let options = parse_url(&self.url)
                .expect("url")
                .options([("search_path", self.schema.as_str())]);
            PgConnection::connect_with(&options).await.expect("connect")
        }

        fn spawn(&self, request: CreateTicket) -> JoinHandle<StoreResult<Created>> {
            let store = Arc::clone(&self.store);
            let world = Arc::clone(&self.world);
            tokio::spawn(async move {
                let actor = operator();
                store.create_ticket(request, &world.ctx(&actor, t0())).await
            })
        }

        /// Queues creates in this order behind the batch the writer holds.
        async fn enqueue(
            &self,
            requests: Vec<CreateTicket>,
        ) -> Vec<JoinHandle<StoreResult<Created>>> {
            let mut tasks = Vec::with_capacity(requests.len());
            for request in requests {
                tasks.push(self.spawn(request));
                self.queued(tasks.len()).await;
            }
            tasks
        }

        /// Waits until `n` creates wait behind the batch the writer took.
        async fn queued(&self, n: usize) {
            for _ in 0..2000 {
                if self.store.writer.queued() == n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("{n} creates never queued");
        }

        /// Waits until a transaction waits for a lock `holder` holds.
        async fn blocked_on(&self, holder: &mut PgConnection) {
            let pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
                .fetch_one(&mut *holder)
                .await
                .expect("pid");
            for _ in 0..2000 {
                let waiting: i64 = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity where $1 = any(pg_blocking_pids(pid))",
                )
                .bind(pid)
                .fetch_one(self.store.pool())
                .await
                .expect("waiters");
                if waiting > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("nothing waited for the held lock");
        }

        /// Files one create and holds its batch at the event log with a lock taken on
        /// `holder`, so that the creates spawned next queue up as one batch.
        async fn hold_the_writer(
            &self,
            holder: &mut PgConnection,
        ) -> JoinHandle<StoreResult<Created>> {
            holder.execute("begin").await.expect("begin");
            holder
                .execute("select id from event_append_lock for update")
                .await
                .expect("lock the event log");
            let lead = self.spawn(request("路灯不亮", None));
            self.blocked_on(holder).await;
            lead
        }

        async fn count(&self, table: &str) -> i64 {
            sqlx::query_scalar(AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(self.store.pool())
                .await
                .expect("count")
        }

        async fn numbers(&self) -> Vec<String> {
            sqlx::query_scalar("select number from tickets order by number")
                .fetch_all(self.store.pool())
                .await
                .expect("numbers")
        }

        async fn drop_schema(self) {
            self.store.close().await;
            let mut conn = PgConnection::connect(&self.url).await.expect("connect");
            conn.execute(AssertSqlSafe(format!(
                "drop schema {} cascade",
                self.schema
            )))
            .await
            .expect("drop schema");
        }
    }

    fn request(title: &str, request_id: Option<&str>) -> CreateTicket {
        create_request(appeal(title), t0(), request_id)
    }

    fn blank(request_id: Option<&str>) -> CreateTicket {
        let blank = NewTicket {
            title: String::new(),
            ..appeal("x")
        };
        create_request(blank, t0(), request_id)
    }

    async fn outcomes(tasks: Vec<JoinHandle<StoreResult<Created>>>) -> Vec<StoreResult<Created>> {
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.expect("create task"));
        }
        results
    }

    fn numbered(n: usize) -> Vec<String> {
        let day = day_of(t0());
        (1..=n).map(|n| format!("SZ-{day}-{n:06}")).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_transaction_files_a_batch_and_refusals_take_no_number() {
        if skipped(Some(URL_ENV)) {
            return;
        }
        let b = Batch::open().await;
        let mut holder = b.connection().await;
        let lead = b.hold_the_writer(&mut holder).await;
        let tasks = b
            .enqueue(vec![
                request("路面塌陷", Some("req-dup")),
                request("路面塌陷", Some("req-dup")),
                blank(Some("req-bad")),
                // Refused first, then accepted under the same request id: the second files.
                blank(Some("req-late")),
                request("井盖缺失", Some("req-late")),
                request("路灯闪烁", None),
            ])
            .await;
        holder.execute("commit").await.expect("release");
        let lead = outcomes(vec![lead]).await.remove(0).expect("lead");
        let results = outcomes(tasks).await;
        assert_eq!(
            b.store.writer.committed(),
            (2, 7),
            "the lead alone, then one commit for the rest"
        );
        let (Ok(a), Ok(a_again)) = (&results[0], &results[1]) else {
            panic!("both retries succeed: {results:?}");
        };
        assert_eq!(a.ticket.id, a_again.ticket.id);
        assert!(
            a.created && !a_again.created,
            "the first of a request id files it"
        );
        assert!(a_again.events.is_empty());
        for n in [2, 3] {
            match &results[n] {
                Err(StoreError::Rejected(DomainError::InvalidField { field: "title", .. })) => {}
                other => panic!("blank title: {other:?}"),
            }
        }
        let (Ok(late), Ok(last)) = (&results[4], &results[5]) else {
            panic!("the accepted creates: {results:?}");
        };
        assert!(late.created && last.created);
        let mut numbers: Vec<String> = [&lead, a, late, last]
            .iter()
            .map(|c| c.ticket.number.clone())
            .collect();
        numbers.sort();
        assert_eq!(numbers, numbered(4), "refusals took no number");
        assert_eq!(b.numbers().await, numbered(4));
        assert_eq!(b.count("events").await, 4);
        assert_eq!(b.count("idempotency").await, 2, "req-bad was not recorded");
        for created in [&lead, a, late, last] {
            assert_eq!(created.events.len(), 1);
            assert_eq!(
                b.store.get_ticket(created.ticket.id).await.expect("stored"),
                created.ticket
            );
        }
        // Event ids follow the batch order, after the lead's.
        let ids: Vec<i64> = [&lead, a, late, last]
            .iter()
            .map(|c| c.events[0].id)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // A retry in a later batch finds the ticket.
        let retry = outcomes(vec![b.spawn(request("路面塌陷", Some("req-dup")))])
            .await
            .remove(0)
            .expect("retry");
        assert!(!retry.created);
        assert_eq!(retry.ticket.id, a.ticket.id);
        let problems = b
            .store
            .check_rows(b.world.ctx(&operator(), t0()).calendar)
            .await
            .expect("check");
        assert!(problems.is_empty(), "{problems:?}");
        b.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_data_in_a_batch_fails_its_create_alone() {
        if skipped(Some(URL_ENV)) {
            return;
        }
        let b = Batch::open().await;
        let mut holder = b.connection().await;
        let lead = b.hold_the_writer(&mut holder).await;
        let lead = outcomes(vec![lead]);
        let first = request("井盖缺失", Some("req-1"));
        // A ticket id already taken in the batch: the domain cannot see it, the table can.
        let same_id = CreateTicket {
            ticket: appeal("路面塌陷"),
            request_id: None,
            ..first.clone()
        };
        let tasks = b
            .enqueue(vec![first, same_id, request("路灯闪烁", None)])
            .await;
        holder.execute("commit").await.expect("release");
        let lead = lead.await.remove(0).expect("lead");
        let results = outcomes(tasks).await;
        let (won, lost) = match (&results[0], &results[1]) {
            (Ok(won), Err(lost)) => (won, lost),
            other => panic!("the second of one ticket id must fail: {other:?}"),
        };
        assert!(won.created);
        assert!(matches!(lost, StoreError::Internal(_)), "{lost:?}");
        let Ok(last) = &results[2] else {
            panic!("the last create: {results:?}");
        };
        // The batch was filed again one create per transaction.
        assert_eq!(b.store.writer.committed(), (3, 3));
        let mut numbers: Vec<String> = [&lead, won, last]
            .iter()
            .map(|c| c.ticket.number.clone())
            .collect();
        numbers.sort();
        assert_eq!(numbers, numbered(3));
        assert_eq!(b.numbers().await, numbered(3));
        assert_eq!(b.count("events").await, 3);
        b.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_create_of_the_batch_and_writes_nothing() {
        if skipped(Some(URL_ENV)) {
            return;
        }
        let b = Batch::open().await;
        let mut holder = b.connection().await;
        // A real commit-time failure: a deferred constraint trigger that one ticket's
        // insert trips. PostgreSQL only runs it at COMMIT.
        for sql in [
            "create function spring_trap() returns trigger language plpgsql as \
             $$ begin raise exception 'trap sprung'; end $$",
            "create constraint trigger trap after insert on tickets \
             deferrable initially deferred for each row when (new.title = '陷阱') \
             execute function spring_trap()",
        ] {
            holder.execute(sql).await.expect("set the trap");
        }
        let lead = b.hold_the_writer(&mut holder).await;
        let tasks = b
            .enqueue(vec![
                request("路灯不亮", Some("req-1")),
                request("井盖缺失", None),
                request("陷阱", None),
                request("路面塌陷", Some("req-2")),
                blank(Some("req-3")),
            ])
            .await;
        holder.execute("commit").await.expect("release");
        outcomes(vec![lead]).await.remove(0).expect("lead");
        let results = outcomes(tasks).await;
        for (n, result) in results.iter().enumerate() {
            match (n, result) {
                // The refusal keeps its own answer.
                (4, Err(StoreError::Rejected(_))) => {}
                (4, other) => panic!("blank title: {other:?}"),
                (_, Err(StoreError::Internal(error))) => {
                    assert!(format!("{error:#}").contains("trap sprung"), "{error:#}");
                }
                (_, other) => panic!("create {n} was acknowledged: {other:?}"),
            }
        }
        assert_eq!(b.store.writer.committed(), (1, 1), "only the lead");
        assert_eq!(b.count("tickets").await, 1);
        assert_eq!(b.count("events").await, 1);
        assert_eq!(b.count("idempotency").await, 0);

        // The store goes on: the next create gets the next number, a retried request id
        // files anew.
        holder
            .execute("drop trigger trap on tickets")
            .await
            .expect("disarm");
        let retry = outcomes(vec![b.spawn(request("路灯不亮", Some("req-1")))])
            .await
            .remove(0)
            .expect("retry");
        assert!(retry.created);
        assert_eq!(b.numbers().await, numbered(2));
        b.drop_schema().await;
    }
}
