//! Analysis reads: the recent tickets a server's duplicate index keeps (and their text
//! signatures), and grouped counts for hotspots (see
//! `migrations/sqlite/0003_analysis_indexes.sql`).

use hotline_core::similar::Signature;
use hotline_core::similar::index::RecentTicket;
use hotline_core::{DomainError, Ticket, TicketId, TicketStatus};
use hotline_store::{
    HotspotCount, HotspotQuery, MAX_PAGE_SIZE, MAX_RECENT_EVENTS, RECENT_AFTER_SQL,
    RECENT_TICKETS_SQL, RecentTickets, StoreError, StoreResult,
};
use jiff::Timestamp;
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row, Transaction};

use crate::codec::{from_nanos, nanos, ticket_from_json};
use crate::error::{corrupt, db};
use crate::sql::Sql;

/// Backlog tickets fingerprinted per transaction when the store opens.
const BACKFILL_BATCH: i64 = 500;

/// Writes a ticket's signature (`None`: too little text to fingerprint); idempotent,
/// so the backfill may repeat it. The signature is computed by the caller, outside the
/// write transaction.
pub(crate) async fn write_signature(
    tx: &mut Transaction<'static, Sqlite>,
    ticket_id: &str,
    signature: Option<&Signature>,
) -> StoreResult<()> {
    sqlx::query("insert or replace into ticket_signatures (ticket_id, signature) values (?, ?)")
        .bind(ticket_id.to_owned())
        .bind(signature.map(Signature::to_bytes))
        .execute(&mut **tx)
        .await
        .map_err(db("writing a text signature"))?;
    Ok(())
}

/// Fingerprints the tickets filed before the signature table existed, in batches of
/// one transaction each; returns how many. A no-op once the backlog is empty.
pub(crate) async fn backfill(write: &SqlitePool) -> StoreResult<u64> {
    let mut done = 0u64;
    loop {
        let mut tx = write
            .begin_with("begin immediate")
            .await
            .map_err(db("starting the fingerprint backfill"))?;
        let rows = sqlx::query(
            "select b.ticket_id, t.title, t.body from fingerprint_backlog b join tickets t on t.id = b.ticket_id limit ?",
        )
        .bind(BACKFILL_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading the fingerprint backlog"))?;
        if rows.is_empty() {
            tx.rollback()
                .await
                .map_err(db("ending the fingerprint backfill"))?;
            if done > 0 {
                tracing::info!(tickets = done, "fingerprinted existing tickets");
            }
            return Ok(done);
        }
        for row in &rows {
            let id: String = row
                .try_get("ticket_id")
                .map_err(db("reading the fingerprint backlog"))?;
            let title: String = row
                .try_get("title")
                .map_err(db("reading the fingerprint backlog"))?;
            let body: String = row
                .try_get("body")
                .map_err(db("reading the fingerprint backlog"))?;
            write_signature(&mut tx, &id, Signature::of(&title, &body).as_ref()).await?;
            sqlx::query("delete from fingerprint_backlog where ticket_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("clearing the fingerprint backlog"))?;
            done += 1;
        }
        tx.commit()
            .await
            .map_err(db("committing the fingerprint backfill"))?;
    }
}

/// Reads a [`RecentTicket`] from `t.id, t.number, t.created_at, t.status, t.phone,
/// t.address, t.category_path, t.region_code, s.signature`.
fn recent_ticket(row: &SqliteRow) -> StoreResult<RecentTicket> {
    let read = db("reading a recent ticket");
    let id: String = row.try_get("id").map_err(read)?;
    let status: String = row
        .try_get("status")
        .map_err(db("reading a recent ticket"))?;
    let created_at: i64 = row
        .try_get("created_at")
        .map_err(db("reading a recent ticket"))?;
    let signature: Option<Vec<u8>> = row
        .try_get("signature")
        .map_err(db("reading a recent ticket"))?;
    let signature = signature
        .as_deref()
        .map(|bytes| Signature::from_bytes(bytes).map_err(corrupt))
        .transpose()?;
    Ok(RecentTicket {
        ticket_id: id
            .parse()
            .map_err(|_| corrupt(format_args!("ticket id {id:?}")))?,
        number: row
            .try_get("number")
            .map_err(db("reading a recent ticket"))?,
        created_at: from_nanos(created_at)?,
        status: status
            .parse::<TicketStatus>()
            .map_err(|_| corrupt(format_args!("ticket {id} has status {status:?}")))?,
        phone: row
            .try_get("phone")
            .map_err(db("reading a recent ticket"))?,
        address: row
            .try_get("address")
            .map_err(db("reading a recent ticket"))?,
        category: row
            .try_get("category_path")
            .map_err(db("reading a recent ticket"))?,
        region_code: row
            .try_get("region_code")
            .map_err(db("reading a recent ticket"))?,
        signature,
    })
}

/// See [`hotline_store::Store::recent_tickets`].
pub(crate) async fn recent_tickets(
    read: &SqlitePool,
    since: Timestamp,
) -> StoreResult<RecentTickets> {
    // One read transaction: the cursor and the tickets come from one snapshot.
    let mut tx = read.begin().await.map_err(db("reading recent tickets"))?;
    let cursor: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from events")
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading recent tickets"))?;
    let rows = sqlx::query(AssertSqlSafe(RECENT_TICKETS_SQL.replace('$', "?")))
        .bind(nanos(since))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading recent tickets"))?;
    tx.rollback().await.map_err(db("reading recent tickets"))?;
    Ok(RecentTickets {
        tickets: rows.iter().map(recent_ticket).collect::<StoreResult<_>>()?,
        cursor,
        events: 0,
    })
}

/// [`RECENT_AFTER_SQL`] in SQLite's numbered parameters, made once: every duplicate
/// look-up runs it.
static RECENT_AFTER: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| RECENT_AFTER_SQL.replace('$', "?"));

/// See [`hotline_store::Store::recent_after`].
pub(crate) async fn recent_after(
    read: &SqlitePool,
    cursor: i64,
    since: Timestamp,
    limit: u32,
) -> StoreResult<RecentTickets> {
    let limit = limit.clamp(1, MAX_RECENT_EVENTS);
    let rows = sqlx::query(AssertSqlSafe(RECENT_AFTER.as_str()))
        .bind(nanos(since))
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_all(read)
        .await
        .map_err(db("reading recent changes"))?;
    let events = rows
        .iter()
        .map(|row| {
            let event_id: i64 = row
                .try_get("event_id")
                .map_err(db("reading recent changes"))?;
            let recent: bool = row
                .try_get("recent")
                .map_err(db("reading recent changes"))?;
            Ok((event_id, recent.then(|| recent_ticket(row)).transpose()?))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(RecentTickets::from_events(cursor, events))
}

/// See [`hotline_store::Store::signatures`].
pub(crate) async fn signatures(
    read: &SqlitePool,
    ids: &[TicketId],
) -> StoreResult<Vec<(TicketId, Signature)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql =
        Sql::new("select ticket_id, signature from ticket_signatures where signature is not null");
    sql.and_in("ticket_id", ids.iter().map(ToString::to_string));
    let rows = sql
        .build()
        .fetch_all(read)
        .await
        .map_err(db("reading text signatures"))?;
    rows.iter()
        .map(|row| {
            let id: String = row
                .try_get("ticket_id")
                .map_err(db("reading text signatures"))?;
            let bytes: Vec<u8> = row
                .try_get("signature")
                .map_err(db("reading text signatures"))?;
            Ok((
                id.parse()
                    .map_err(|_| corrupt(format_args!("ticket id {id:?}")))?,
                Signature::from_bytes(&bytes).map_err(corrupt)?,
            ))
        })
        .collect()
}

/// See [`hotline_store::Store::hotspot_counts`].
pub(crate) async fn hotspot_counts(
    read: &SqlitePool,
    query: &HotspotQuery,
) -> StoreResult<Vec<HotspotCount>> {
    if query.region_digits == 0 {
        return Err(StoreError::Rejected(DomainError::InvalidField {
            field: "region_digits",
            reason: "must be at least 1".to_owned(),
        }));
    }
    if query.end <= query.start {
        return Err(StoreError::Rejected(DomainError::InvalidField {
            field: "end",
            reason: "must be after start".to_owned(),
        }));
    }
    let (start, end, previous) = (
        nanos(query.start),
        nanos(query.end),
        nanos(query.previous_start()),
    );
    let digits = i64::from(query.region_digits);
    let min_count = i64::try_from(query.min_count.max(1)).unwrap_or(i64::MAX);
    let mut sql = Sql::new("select category_path, substr(region_code, 1, ");
    sql.bind(digits)
        .push(") as region, sum(created_at >= ")
        .bind(start)
        .push(") as current, sum(created_at < ")
        .bind(start)
        .push(") as previous, min(case when created_at >= ")
        .bind(start)
        .push(
            " then created_at end) as first_at, max(created_at) as last_at from tickets \
               where created_at >= ",
        )
        .bind(previous)
        .push(" and created_at < ")
        .bind(end)
        .push(" and category_path is not null and status <> ")
        .bind(TicketStatus::Merged.as_str())
        .push(" and length(region_code) >= ")
        .bind(digits)
        .push(" group by category_path, region having current >= ")
        .bind(min_count)
        .push(" order by current desc, category_path, region limit ")
        .bind(i64::from(query.effective_limit()));
    let rows = sql
        .build()
        .fetch_all(read)
        .await
        .map_err(db("counting hotspots"))?;
    rows.iter()
        .map(|row| {
            let get_int = |column: &str| -> StoreResult<i64> {
                row.try_get(column).map_err(db("counting hotspots"))
            };
            let count = |column: &str| -> StoreResult<u64> {
                let n = get_int(column)?;
                u64::try_from(n).map_err(|_| corrupt(format_args!("hotspot count {n}")))
            };
            Ok(HotspotCount {
                category: row
                    .try_get("category_path")
                    .map_err(db("counting hotspots"))?,
                region_prefix: row.try_get("region").map_err(db("counting hotspots"))?,
                count: count("current")?,
                previous_count: count("previous")?,
                first_at: from_nanos(get_int("first_at")?)?,
                last_at: from_nanos(get_int("last_at")?)?,
            })
        })
        .collect()
}

/// See [`hotline_store::Store::hotspot_tickets`].
pub(crate) async fn hotspot_tickets(
    read: &SqlitePool,
    category: &str,
    region_prefix: &str,
    window: (Timestamp, Timestamp),
    limit: u32,
) -> StoreResult<Vec<Ticket>> {
    let mut sql = Sql::new("select t.projection from tickets t where t.category_path = ");
    sql.bind(category)
        .push(" and t.created_at >= ")
        .bind(nanos(window.0))
        .push(" and t.created_at < ")
        .bind(nanos(window.1))
        .push(" and t.status <> ")
        .bind(TicketStatus::Merged.as_str());
    sql.and_prefix("t.region_code", region_prefix);
    sql.push(" order by t.created_at desc, t.id desc limit ")
        .bind(i64::from(limit.clamp(1, MAX_PAGE_SIZE)));
    let rows = sql
        .build()
        .fetch_all(read)
        .await
        .map_err(db("listing hotspot tickets"))?;
    rows.iter()
        .map(|row| {
            let json: String = row
                .try_get("projection")
                .map_err(db("listing hotspot tickets"))?;
            ticket_from_json(&json)
        })
        .collect()
}
