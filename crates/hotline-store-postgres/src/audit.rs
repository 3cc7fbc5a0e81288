//! The hash chain of the event log: hashing events written before it existed,
//! and reading rows for `hotline audit verify`.

use hotline_core::TicketId;
use hotline_store::StoreResult;
use hotline_store::chain::{self, AuditColumns, AuditRow};
use sqlx::Row;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use hotline_store::check::{IndexedColumns, ORPHAN_CHECKS, RowProblem, column_drift, day_problems};

use crate::codec::{TicketColumns, ticket_from_json};
use crate::error::{corrupt, db};

/// Events hashed per transaction while catching up.
const BATCH: i64 = 500;

/// Hashes every event that has no hash yet, ticket by ticket in sequence order.
pub(crate) async fn backfill(write: &PgPool) -> StoreResult<u64> {
    let mut done = 0u64;
    loop {
        let mut tx = write
            .begin()
            .await
            .map_err(db("starting the event hash backfill"))?;
        let rows = sqlx::query(
            "select id, ticket_id, seq, event from events where hash is null \
             order by ticket_id, seq limit $1 for update",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading unhashed events"))?;
        if rows.is_empty() {
            tx.rollback()
                .await
                .map_err(db("ending the event hash backfill"))?;
            if done > 0 {
                tracing::info!(events = done, "hashed existing events");
            }
            return Ok(done);
        }
        for row in &rows {
            let id: i64 = row.try_get("id").map_err(db("reading unhashed events"))?;
            let ticket: Uuid = row
                .try_get("ticket_id")
                .map_err(db("reading unhashed events"))?;
            let seq: i64 = row.try_get("seq").map_err(db("reading unhashed events"))?;
            let json: String = row
                .try_get("event")
                .map_err(db("reading unhashed events"))?;
            let prev = if seq <= 1 {
                chain::GENESIS.to_owned()
            } else {
                let hash: Option<Option<String>> =
                    sqlx::query_scalar("select hash from events where ticket_id = $1 and seq = $2")
                        .bind(ticket)
                        .bind(seq - 1)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db("reading the previous event's hash"))?;
                hash.flatten().ok_or_else(|| {
                    corrupt(format_args!(
                        "ticket {ticket} has no event {} to chain to",
                        seq - 1
                    ))
                })?
            };
            let hash = chain::link(&prev, &json);
            sqlx::query("update events set prev_hash = $1, hash = $2 where id = $3")
                .bind(prev)
                .bind(hash)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("hashing an event"))?;
            done += 1;
        }
        tx.commit()
            .await
            .map_err(db("committing the event hash backfill"))?;
    }
}

/// Reads stored event rows in (ticket, seq) order for the audit.
pub(crate) async fn audit_events(
    read: &PgPool,
    after: Option<(String, i64)>,
    ticket: Option<TicketId>,
    limit: u32,
) -> StoreResult<Vec<AuditRow>> {
    let (after_ticket, after_seq) = match after {
        Some((ticket, seq)) => (
            Uuid::parse_str(&ticket).map_err(|_| {
                corrupt(format_args!("audit position {ticket:?} is not a ticket id"))
            })?,
            seq,
        ),
        None => (Uuid::nil(), 0),
    };
    let rows: Vec<AuditColumns> = sqlx::query_as(
        "select id, ticket_id::text as ticket_id, seq, event, coalesce(prev_hash, '') as prev_hash, \
         coalesce(hash, '') as hash from events \
         where (ticket_id, seq) > ($1, $2) and ($3::uuid is null or ticket_id = $3) \
         order by ticket_id, seq limit $4",
    )
    .bind(after_ticket)
    .bind(after_seq)
    .bind(ticket.map(|t| t.0))
    .bind(i64::from(limit.max(1)))
    .fetch_all(read)
    .await
    .map_err(db("reading the event log"))?;
    Ok(rows.into_iter().map(AuditRow::from).collect())
}

/// Tickets read per page while checking rows.
const CHECK_PAGE: i64 = 500;

/// Runs the orphan checks, then compares every ticket row's indexed columns with
/// what its projection implies on `calendar`.
pub(crate) async fn check_rows(
    read: &PgPool,
    calendar: &dyn hotline_core::Calendar,
) -> StoreResult<Vec<RowProblem>> {
    let mut problems = Vec::new();
    for (sql, problem) in ORPHAN_CHECKS {
        let ids: Vec<String> = sqlx::query_scalar(*sql)
            .fetch_all(read)
            .await
            .map_err(db("checking for orphan rows"))?;
        problems.extend(ids.into_iter().map(|ticket_id| RowProblem {
            ticket_id,
            problem: (*problem).to_owned(),
        }));
    }
    let (stored, summed) = crate::stats::days_stored_and_summed(read).await?;
    problems.extend(day_problems(&stored, &summed));
    let mut after: Uuid = Uuid::nil();
    loop {
        let rows = sqlx::query(
            "select id, status, version, lead_department_id, deadline_kind, deadline_at, \
             warning_level, next_check_at, projection from tickets where id > $1 order by id \
             limit $2",
        )
        .bind(after)
        .bind(CHECK_PAGE)
        .fetch_all(read)
        .await
        .map_err(db("reading tickets to check"))?;
        let Some(last) = rows.last() else {
            return Ok(problems);
        };
        after = last.try_get("id").map_err(db("reading tickets to check"))?;
        for row in &rows {
            let id: Uuid = row.try_get("id").map_err(db("reading tickets to check"))?;
            let stored = IndexedColumns {
                status: row
                    .try_get("status")
                    .map_err(db("reading tickets to check"))?,
                version: row
                    .try_get("version")
                    .map_err(db("reading tickets to check"))?,
                lead_department_id: row
                    .try_get("lead_department_id")
                    .map_err(db("reading tickets to check"))?,
                deadline_kind: row
                    .try_get("deadline_kind")
                    .map_err(db("reading tickets to check"))?,
                deadline_at: row
                    .try_get("deadline_at")
                    .map_err(db("reading tickets to check"))?,
                warning_level: row
                    .try_get("warning_level")
                    .map_err(db("reading tickets to check"))?,
                next_check_at: row
                    .try_get("next_check_at")
                    .map_err(db("reading tickets to check"))?,
            };
            let json: String = row
                .try_get("projection")
                .map_err(db("reading tickets to check"))?;
            let expected = ticket_from_json(&json)
                .and_then(|ticket| Ok((TicketColumns::of(&ticket, calendar)?, ticket)));
            match expected {
                Ok((columns, ticket)) => {
                    problems.extend(column_drift(&ticket, &stored, &columns.indexed()));
                    let rows = crate::stats::stored(read, id).await?;
                    problems.extend(hotline_store::stats::check(&ticket, calendar, &rows));
                }
                Err(error) => problems.push(RowProblem {
                    ticket_id: id.to_string(),
                    problem: format!("the stored ticket does not decode: {error}"),
                }),
            }
        }
    }
}
