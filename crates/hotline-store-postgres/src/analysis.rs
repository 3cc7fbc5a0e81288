//! Analysis reads: the recent tickets a server's duplicate index keeps (and their text
//! signatures, written with each ticket), and the hotspot queries.

use hotline_core::similar::Signature;
use hotline_core::similar::index::RecentTicket;
use hotline_core::{DomainError, Ticket, TicketId, TicketStatus};
use hotline_store::{
    HotspotCount, HotspotQuery, MAX_PAGE_SIZE, MAX_RECENT_EVENTS, RECENT_AFTER_SQL,
    RECENT_TICKETS_SQL, RecentTickets, StoreError, StoreResult,
};
use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::{Row, Transaction};
use uuid::Uuid;

use crate::codec::{from_nanos, nanos, ticket_from_json};
use crate::error::{corrupt, db};
use crate::sql::Sql;

/// Writes new tickets' signatures, in their create transaction: one statement however
/// many tickets. `None` for a text without shingles stores a null signature.
pub(crate) async fn write_signatures(
    tx: &mut Transaction<'static, Postgres>,
    tickets: &[(&Ticket, Option<&Signature>)],
) -> StoreResult<()> {
    if tickets.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = tickets.iter().map(|(ticket, _)| ticket.id.0).collect();
    let signatures: Vec<Option<Vec<u8>>> = tickets
        .iter()
        .map(|(_, signature)| signature.map(Signature::to_bytes))
        .collect();
    sqlx::query(
        "insert into ticket_signatures (ticket_id, signature) \
         select * from unnest($1::uuid[], $2::bytea[]) \
         on conflict (ticket_id) do update set signature = excluded.signature",
    )
    .bind(ids)
    .bind(signatures)
    .execute(&mut **tx)
    .await
    .map_err(db("writing text signatures"))?;
    Ok(())
}

/// Reads a [`RecentTicket`] from `t.id, t.number, t.created_at, t.status, t.phone,
/// t.address, t.category_path, t.region_code, s.signature`.
fn recent_ticket(row: &PgRow) -> StoreResult<RecentTicket> {
    let read = || db("reading a recent ticket");
    let id: Uuid = row.try_get("id").map_err(read())?;
    let status: String = row.try_get("status").map_err(read())?;
    let created_at: i64 = row.try_get("created_at").map_err(read())?;
    let signature: Option<Vec<u8>> = row.try_get("signature").map_err(read())?;
    let signature = signature
        .as_deref()
        .map(|bytes| Signature::from_bytes(bytes).map_err(corrupt))
        .transpose()?;
    Ok(RecentTicket {
        ticket_id: TicketId(id),
        number: row.try_get("number").map_err(read())?,
        created_at: from_nanos(created_at)?,
        status: status
            .parse::<TicketStatus>()
            .map_err(|_| corrupt(format_args!("ticket {id} has status {status:?}")))?,
        phone: row.try_get("phone").map_err(read())?,
        address: row.try_get("address").map_err(read())?,
        category: row.try_get("category_path").map_err(read())?,
        region_code: row.try_get("region_code").map_err(read())?,
        signature,
    })
}

/// See [`hotline_store::Store::recent_tickets`].
pub(crate) async fn recent_tickets(pool: &PgPool, since: Timestamp) -> StoreResult<RecentTickets> {
    // One snapshot for the cursor and the tickets.
    let mut tx = pool.begin().await.map_err(db("reading recent tickets"))?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await
        .map_err(db("reading recent tickets"))?;
    let cursor: i64 = sqlx::query_scalar("select coalesce(max(id), 0)::bigint from events")
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading recent tickets"))?;
    let rows = sqlx::query(RECENT_TICKETS_SQL)
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

/// See [`hotline_store::Store::recent_after`].
pub(crate) async fn recent_after(
    pool: &PgPool,
    cursor: i64,
    since: Timestamp,
    limit: u32,
) -> StoreResult<RecentTickets> {
    let limit = limit.clamp(1, MAX_RECENT_EVENTS);
    let rows = sqlx::query(RECENT_AFTER_SQL)
        .bind(nanos(since))
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_all(pool)
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
    pool: &PgPool,
    ids: &[TicketId],
) -> StoreResult<Vec<(TicketId, Signature)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let rows = sqlx::query(
        "select ticket_id, signature from ticket_signatures \
         where ticket_id = any($1) and signature is not null",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .map_err(db("reading text signatures"))?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row
                .try_get("ticket_id")
                .map_err(db("reading text signatures"))?;
            let bytes: Vec<u8> = row
                .try_get("signature")
                .map_err(db("reading text signatures"))?;
            Ok((
                TicketId(id),
                Signature::from_bytes(&bytes).map_err(corrupt)?,
            ))
        })
        .collect()
}

/// Counts per (category, region prefix) in the window and the one before it.
pub(crate) async fn hotspot_counts(
    pool: &PgPool,
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
        .push("::int) as region, count(*) filter (where created_at >= ")
        .bind(start)
        .push(") as current, count(*) filter (where created_at < ")
        .bind(start)
        .push(") as previous, min(created_at) filter (where created_at >= ")
        .bind(start)
        .push(
            ") as first_at, max(created_at) as last_at from tickets \
               where created_at >= ",
        )
        .bind(previous)
        .push(" and created_at < ")
        .bind(end)
        .push(" and category_path is not null and status <> ")
        .bind(TicketStatus::Merged.as_str())
        .push(" and length(region_code) >= ")
        .bind(digits)
        .push(" group by category_path, region having count(*) filter (where created_at >= ")
        .bind(start)
        .push(") >= ")
        .bind(min_count)
        .push(" order by current desc, category_path, region limit ")
        .bind(i64::from(query.effective_limit()));
    let rows = sql
        .build()
        .fetch_all(pool)
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

/// The newest tickets of one hotspot group, for samples.
pub(crate) async fn hotspot_tickets(
    pool: &PgPool,
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
        .fetch_all(pool)
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
