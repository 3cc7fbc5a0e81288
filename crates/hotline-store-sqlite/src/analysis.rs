//! The analysis indexes: text fingerprints for duplicate look-ups and grouped counts
//! for hotspots (see `migrations/sqlite/0003_analysis_indexes.sql`).

use hotline_core::similar::{BANDS, Signature};
use hotline_core::{DomainError, Ticket, TicketStatus};
use hotline_store::{
    HotspotCount, HotspotQuery, MAX_PAGE_SIZE, SimilarCandidate, SimilarQuery, StoreError,
    StoreResult,
};
use jiff::Timestamp;
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Row, Transaction};

use crate::codec::{from_nanos, nanos, ticket_from_json};
use crate::error::{corrupt, db};
use crate::sql::Sql;

/// Most band keys one look-up takes: a few signatures' worth.
const MAX_BANDS: usize = 4 * BANDS;
/// Backlog tickets fingerprinted per transaction when the store opens.
const BACKFILL_BATCH: i64 = 500;

/// What each band-key row of a ticket carries besides its key: all fixed at creation,
/// so look-ups filter on the rows without reading the tickets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FingerprintKey<'a> {
    pub ticket_id: &'a str,
    pub created_at: i64,
    pub region_code: &'a str,
    pub category_path: Option<&'a str>,
}

impl<'a> FingerprintKey<'a> {
    /// The key of `ticket`, whose id is spelled `ticket_id`.
    pub(crate) fn of(ticket: &'a Ticket, ticket_id: &'a str) -> Self {
        FingerprintKey {
            ticket_id,
            created_at: nanos(ticket.created_at),
            region_code: &ticket.region_code,
            category_path: ticket.category.as_ref().map(|c| c.path.as_str()),
        }
    }
}

/// Writes a ticket's signature (`None`: too little text to fingerprint) and band keys;
/// idempotent, so the backfill may repeat it. The signature is computed by the caller,
/// outside the write transaction.
pub(crate) async fn write_fingerprint(
    tx: &mut Transaction<'static, Sqlite>,
    key: &FingerprintKey<'_>,
    signature: Option<&Signature>,
) -> StoreResult<()> {
    let FingerprintKey {
        ticket_id,
        created_at,
        region_code,
        category_path,
    } = *key;
    sqlx::query("insert or replace into ticket_signatures (ticket_id, signature) values (?, ?)")
        .bind(ticket_id.to_owned())
        .bind(signature.map(Signature::to_bytes))
        .execute(&mut **tx)
        .await
        .map_err(db("writing a text signature"))?;
    let Some(signature) = signature else {
        return Ok(());
    };
    let mut sql = Sql::new(
        "insert or ignore into ticket_fingerprints \
         (band_key, created_at, ticket_id, region_code, category_path) values ",
    );
    for (i, band) in signature.band_keys().into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind(band)
            .push(", ")
            .bind(created_at)
            .push(", ")
            .bind(ticket_id)
            .push(", ")
            .bind(region_code)
            .push(", ")
            .bind(category_path.unwrap_or(""))
            .push(")");
    }
    sql.build()
        .execute(&mut **tx)
        .await
        .map_err(db("writing band keys"))?;
    Ok(())
}

/// Fingerprints the tickets filed before the fingerprint tables existed, in batches of
/// one transaction each; returns how many. A no-op once the backlog is empty.
pub(crate) async fn backfill(write: &SqlitePool) -> StoreResult<u64> {
    let mut done = 0u64;
    loop {
        let mut tx = write
            .begin_with("begin immediate")
            .await
            .map_err(db("starting the fingerprint backfill"))?;
        let rows = sqlx::query(
            "select b.ticket_id, t.created_at, t.title, t.body, t.region_code, t.category_path \
             from fingerprint_backlog b join tickets t on t.id = b.ticket_id limit ?",
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
            let created_at: i64 = row
                .try_get("created_at")
                .map_err(db("reading the fingerprint backlog"))?;
            let title: String = row
                .try_get("title")
                .map_err(db("reading the fingerprint backlog"))?;
            let body: String = row
                .try_get("body")
                .map_err(db("reading the fingerprint backlog"))?;
            let region_code: String = row
                .try_get("region_code")
                .map_err(db("reading the fingerprint backlog"))?;
            let category_path: Option<String> = row
                .try_get("category_path")
                .map_err(db("reading the fingerprint backlog"))?;
            let signature = Signature::of(&title, &body);
            let key = FingerprintKey {
                ticket_id: &id,
                created_at,
                region_code: &region_code,
                category_path: category_path.as_deref(),
            };
            write_fingerprint(&mut tx, &key, signature.as_ref()).await?;
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

/// Appends the conditions a band-key row `f` must meet besides its key, tested on the
/// row itself; only a department scope reads another table.
fn push_candidate_filters(sql: &mut Sql, query: &SimilarQuery) {
    if let Some(exclude) = query.exclude {
        sql.push(" and f.ticket_id <> ").bind(exclude.to_string());
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

/// See [`hotline_store::Store::similar_candidates`].
pub(crate) async fn similar_candidates(
    read: &SqlitePool,
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
    // Per band key, the newest matching rows, walking (band_key, created_at) backwards,
    // or (band_key, category_path, created_at) when the category is fixed; then one row
    // per ticket with the number of keys it shares, joined to its ticket to leave merged
    // ones out, best first.
    let mut sql = Sql::new(
        "select t.id, t.number, s.signature, h.shared from (\
         select ticket_id, count(*) as shared, max(created_at) as created_at from (",
    );
    for (i, band) in bands.iter().enumerate() {
        if i > 0 {
            sql.push(" union all ");
        }
        sql.push(
            "select * from (select f.ticket_id, f.created_at from ticket_fingerprints f \
             where f.band_key = ",
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
        ") group by ticket_id) h join tickets t on t.id = h.ticket_id \
         join ticket_signatures s on s.ticket_id = t.id where t.status <> ",
    )
    .bind(TicketStatus::Merged.as_str())
    .push(" order by h.shared desc, h.created_at desc, h.ticket_id desc limit ")
    .bind(limit);
    let rows = sql
        .build()
        .fetch_all(read)
        .await
        .map_err(db("finding similar tickets"))?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id").map_err(db("finding similar tickets"))?;
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
                ticket_id: id
                    .parse()
                    .map_err(|_| corrupt(format_args!("ticket id {id:?}")))?,
                number,
                signature,
                shared_bands: u32::try_from(shared)
                    .map_err(|_| corrupt(format_args!("{shared} shared bands")))?,
            })
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
