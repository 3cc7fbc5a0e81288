//! Duplicate detection and hotspot queries: each ticket's text fingerprint is
//! written with the ticket, and look-ups walk the band-key index, so their cost
//! follows the matching rows, not the number of tickets.

use hotline_core::similar::{BANDS, Signature};
use hotline_core::{DomainError, Ticket, TicketId, TicketStatus};
use hotline_store::{
    HotspotCount, HotspotQuery, MAX_PAGE_SIZE, SimilarCandidate, SimilarQuery, StoreError,
    StoreResult,
};
use jiff::Timestamp;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::{Row, Transaction};
use uuid::Uuid;

use crate::codec::{from_nanos, nanos, ticket_from_json};
use crate::error::{corrupt, db};
use crate::sql::Sql;

/// Most band keys one look-up may name: a few texts' worth.
const MAX_BANDS: usize = 4 * BANDS;

/// Writes new tickets' signatures and band keys, in their create transaction: two
/// statements however many tickets. `None` for a text without shingles stores a null
/// signature and no band keys. Each band row carries the ticket's region and category
/// (fixed at creation) for look-ups to filter on without reading the tickets.
pub(crate) async fn write_fingerprints(
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
    let mut keys = Vec::with_capacity(tickets.len() * BANDS);
    let mut created = Vec::with_capacity(tickets.len() * BANDS);
    let mut owners = Vec::with_capacity(tickets.len() * BANDS);
    let mut regions = Vec::with_capacity(tickets.len() * BANDS);
    let mut categories = Vec::with_capacity(tickets.len() * BANDS);
    for (ticket, signature) in tickets {
        for key in signature.map(Signature::band_keys).into_iter().flatten() {
            keys.push(key);
            created.push(nanos(ticket.created_at));
            owners.push(ticket.id.0);
            regions.push(ticket.region_code.as_str());
            categories.push(ticket.category.as_ref().map_or("", |c| c.path.as_str()));
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into ticket_fingerprints (band_key, created_at, ticket_id, region_code, \
         category_path) \
         select * from unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[]) \
         on conflict do nothing",
    )
    .bind(keys)
    .bind(created)
    .bind(owners)
    .bind(regions)
    .bind(categories)
    .execute(&mut **tx)
    .await
    .map_err(db("writing band keys"))?;
    Ok(())
}

/// Appends the conditions a band-key row `f` must meet besides its key, tested on the
/// row itself; only a department scope reads another table.
fn push_candidate_filters(sql: &mut Sql, query: &SimilarQuery) {
    if let Some(exclude) = query.exclude {
        sql.push(" and f.ticket_id <> ").bind(exclude.0);
    }
    if let Some(departments) = &query.departments {
        sql.push(" and exists (select 1 from assignments a where a.ticket_id = f.ticket_id");
        sql.and_in("a.department_id", departments.iter().map(|d| d.as_str()));
        sql.push(")");
    }
    if let Some(prefix) = query.region_prefix.as_deref().filter(|p| !p.is_empty()) {
        sql.and_prefix("f.region_code", prefix);
    }
}

/// Tickets sharing band keys with the probe, most shared first.
pub(crate) async fn similar_candidates(
    pool: &PgPool,
    query: &SimilarQuery,
) -> StoreResult<Vec<SimilarCandidate>> {
    let mut bands = query.bands.clone();
    bands.sort_unstable();
    bands.dedup();
    if bands.is_empty() {
        return Ok(Vec::new());
    }
    if bands.len() > MAX_BANDS {
        return Err(StoreError::Rejected(DomainError::InvalidField {
            field: "bands",
            reason: format!("at most {MAX_BANDS} band keys per look-up"),
        }));
    }
    let since = query.since.map_or(i64::MIN, nanos);
    let limit = i64::from(query.effective_limit());
    // Per band key, the newest matching rows (through the category index when the
    // category is fixed); then one row per ticket with the number of keys it shares,
    // joined to its ticket to leave merged ones out, best first.
    let mut sql = Sql::new(
        "select t.id, t.number, s.signature, h.shared from (\
         select ticket_id, count(*) as shared, max(created_at) as created_at from (",
    );
    for (i, band) in bands.iter().enumerate() {
        if i > 0 {
            sql.push(" union all ");
        }
        sql.push(
            "(select f.ticket_id, f.created_at from ticket_fingerprints f where f.band_key = ",
        )
        .bind(*band);
        if let Some(category) = &query.category {
            sql.push(" and f.category_path = ").bind(category.as_str());
        }
        sql.push(" and f.created_at >= ").bind(since);
        push_candidate_filters(&mut sql, query);
        sql.push(" order by f.created_at desc limit ")
            .bind(limit)
            .push(")");
    }
    sql.push(
        ") u group by ticket_id) h join tickets t on t.id = h.ticket_id \
         join ticket_signatures s on s.ticket_id = t.id where t.status <> ",
    )
    .bind(TicketStatus::Merged.as_str())
    .push(" order by h.shared desc, h.created_at desc, h.ticket_id desc limit ")
    .bind(limit);
    let rows = sql
        .build()
        .fetch_all(pool)
        .await
        .map_err(db("finding similar tickets"))?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("id").map_err(db("finding similar tickets"))?;
            let number: String = row
                .try_get("number")
                .map_err(db("finding similar tickets"))?;
            let bytes: Option<Vec<u8>> = row
                .try_get("signature")
                .map_err(db("finding similar tickets"))?;
            let shared: i64 = row
                .try_get("shared")
                .map_err(db("finding similar tickets"))?;
            let signature = bytes
                .as_deref()
                .ok_or_else(|| corrupt(format_args!("ticket {id} has bands but no signature")))
                .and_then(|b| Signature::from_bytes(b).map_err(corrupt))?;
            Ok(SimilarCandidate {
                ticket_id: TicketId(id),
                number,
                signature,
                shared_bands: u32::try_from(shared)
                    .map_err(|_| corrupt(format_args!("{shared} shared bands")))?,
            })
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
