//! Statistics rows (`ticket_stats`, see [`hotline_store::stats`]): written with
//! every ticket change, summed per department for a period.

use hotline_core::{AlwaysOpen, Calendar, Ticket, stats_parts};
use std::sync::LazyLock;

use hotline_store::stats::{
    COLUMNS, DAY_NANOS, DAY_SUMS, DAY_VALUE_COLUMNS, DayKey, DayValues, PENDING_OVERDUE, RETIME,
    SUMS, StatsColumns, SumsByDepartment, day_changes, day_row, day_rows_stored, day_rows_summed,
    day_upsert, identity_column, split_period,
};
use hotline_store::{StatsQuery, StatsTotals, StoreResult};
use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::{AssertSqlSafe, Row, Transaction};
use uuid::Uuid;

use crate::codec::{nanos, ticket_from_json};
use crate::error::db;

/// Rows per department and day in `stats_days` ([`DayKey`]): four: concurrent writers seldom wait on one another's row, and a month's sums read four rows per department and day.
const DAY_STRIPES: i64 = 4;

/// Tickets given their rows per transaction of the backfill.
const BACKFILL_BATCH: i64 = 500;

/// The columns of one row, as the parallel arrays `unnest` inserts.
#[derive(Default)]
struct Arrays {
    position: Vec<i64>,
    department_id: Vec<String>,
    assigned_at: Vec<i64>,
    lead: Vec<i64>,
    returned: Vec<i64>,
    signed_at: Vec<Option<i64>>,
    signed_on_time: Vec<i64>,
    sign_secs: Vec<i64>,
    sign_nanos: Vec<i64>,
    replied_at: Vec<Option<i64>>,
    replied_on_time: Vec<i64>,
    reply_secs: Vec<i64>,
    reply_nanos: Vec<i64>,
    overdue_after: Vec<Option<i64>>,
    returns_rejected: Vec<i64>,
    extensions: Vec<i64>,
    urged: Vec<i64>,
    supervised: Vec<i64>,
    callback: Vec<i64>,
    resolved: Vec<i64>,
    satisfied: Vec<i64>,
    return_pending: Vec<i64>,
    calendar: Vec<Option<i64>>,
}

impl Arrays {
    fn push(&mut self, c: StatsColumns) {
        self.position.push(c.position);
        self.department_id.push(c.department_id);
        self.assigned_at.push(c.assigned_at);
        self.lead.push(c.lead);
        self.returned.push(c.returned);
        self.signed_at.push(c.signed_at);
        self.signed_on_time.push(c.signed_on_time);
        self.sign_secs.push(c.sign_secs);
        self.sign_nanos.push(c.sign_nanos);
        self.replied_at.push(c.replied_at);
        self.replied_on_time.push(c.replied_on_time);
        self.reply_secs.push(c.reply_secs);
        self.reply_nanos.push(c.reply_nanos);
        self.overdue_after.push(c.overdue_after);
        self.returns_rejected.push(c.returns_rejected);
        self.extensions.push(c.extensions);
        self.urged.push(c.urged);
        self.supervised.push(c.supervised);
        self.callback.push(c.callback);
        self.resolved.push(c.resolved);
        self.satisfied.push(c.satisfied);
        self.return_pending.push(c.return_pending);
        self.calendar.push(c.calendar);
    }
}

/// Replaces a ticket's statistics rows with those of its projection, times
/// computed on `calendar`.
pub(crate) async fn write(
    tx: &mut Transaction<'static, Postgres>,
    ticket: &Ticket,
    calendar: &dyn Calendar,
) -> StoreResult<()> {
    write_parts(tx, &[ticket], calendar, calendar.identity()).await
}

/// [`write`] for many tickets in two statements (the sweeper's batches).
pub(crate) async fn write_many(
    tx: &mut Transaction<'static, Postgres>,
    tickets: &[&Ticket],
    calendar: &dyn Calendar,
) -> StoreResult<()> {
    write_parts(tx, tickets, calendar, calendar.identity()).await
}

async fn write_parts(
    tx: &mut Transaction<'static, Postgres>,
    tickets: &[&Ticket],
    calendar: &dyn Calendar,
    identity: Option<u64>,
) -> StoreResult<()> {
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id.0).collect();
    let text = format!("delete from ticket_stats where ticket_id = any($1) returning {COLUMNS}");
    let removed = sqlx::query(AssertSqlSafe(text))
        .bind(ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("clearing statistics rows"))?
        .iter()
        .map(columns_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let mut owners = Vec::new();
    let mut added = Vec::new();
    for ticket in tickets {
        for part in &stats_parts(ticket, calendar) {
            owners.push(ticket.id.0);
            added.push(StatsColumns::of(part, identity));
        }
    }
    // Every caller has locked its tickets by now and takes the event-log lock only
    // after this: the day rows are locked between the two, in key order.
    add_to_days(tx, &day_changes(&removed, &added, DAY_STRIPES)).await?;
    if owners.is_empty() {
        return Ok(());
    }
    let mut a = Arrays::default();
    for c in added {
        a.push(c);
    }
    // One round trip for all of them.
    sqlx::query(
        "insert into ticket_stats (ticket_id, position, department_id, assigned_at, lead, \
         returned, signed_at, signed_on_time, sign_secs, sign_nanos, replied_at, \
         replied_on_time, reply_secs, reply_nanos, overdue_after, returns_rejected, \
         extensions, urged, supervised, callback, resolved, satisfied, return_pending, \
         calendar) select * from unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], \
         $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
         $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], \
         $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], \
         $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[])",
    )
    .bind(owners)
    .bind(a.position)
    .bind(a.department_id)
    .bind(a.assigned_at)
    .bind(a.lead)
    .bind(a.returned)
    .bind(a.signed_at)
    .bind(a.signed_on_time)
    .bind(a.sign_secs)
    .bind(a.sign_nanos)
    .bind(a.replied_at)
    .bind(a.replied_on_time)
    .bind(a.reply_secs)
    .bind(a.reply_nanos)
    .bind(a.overdue_after)
    .bind(a.returns_rejected)
    .bind(a.extensions)
    .bind(a.urged)
    .bind(a.supervised)
    .bind(a.callback)
    .bind(a.resolved)
    .bind(a.satisfied)
    .bind(a.return_pending)
    .bind(a.calendar)
    .execute(&mut **tx)
    .await
    .map_err(db("writing statistics rows"))?;
    Ok(())
}

/// The changes to the day rows of adding `added`, for the bulk load.
pub(crate) fn day_changes_of(added: &[StatsColumns]) -> Vec<(DayKey, DayValues)> {
    day_changes(&[], added, DAY_STRIPES)
}

/// The statement of [`add_to_days`].
static DAY_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let arrays = (1..=26)
        .map(|i| format!("${i}::{}[]", if i == 1 { "text" } else { "bigint" }))
        .collect::<Vec<_>>();
    // unnest keeps the order of the arrays: the rows are locked in key order.
    day_upsert(&format!("select * from unnest({})", arrays.join(", ")))
});

/// Adds changes (in key order) to the day rows in one statement. Rows are locked
/// in key order so that two writers touching the same days cannot deadlock.
pub(crate) async fn add_to_days(
    tx: &mut Transaction<'static, Postgres>,
    changes: &[(DayKey, DayValues)],
) -> StoreResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut departments = Vec::with_capacity(changes.len());
    let mut keys: [Vec<i64>; 4] = Default::default();
    let mut columns: Vec<Vec<i64>> =
        vec![Vec::with_capacity(changes.len()); DAY_VALUE_COLUMNS.len()];
    for (key, values) in changes {
        let (known, calendar) = key.calendar_columns();
        departments.push(key.department_id.clone());
        keys[0].push(key.day);
        keys[1].push(key.stripe);
        keys[2].push(known);
        keys[3].push(calendar);
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(*value);
        }
    }
    let mut query = sqlx::query(AssertSqlSafe(DAY_UPSERT.as_str())).bind(departments);
    for key in keys {
        query = query.bind(key);
    }
    for column in columns {
        query = query.bind(column);
    }
    query
        .execute(&mut **tx)
        .await
        .map_err(db("adding to the statistics of each day"))?;
    Ok(())
}

/// Gives the tickets filed before the statistics rows existed their rows, in
/// batches of one transaction each; returns how many. The calendar is not known
/// here, so their working times are marked unknown and computed when read.
pub(crate) async fn backfill(write: &PgPool) -> StoreResult<u64> {
    let mut done = 0u64;
    loop {
        let mut tx = write
            .begin()
            .await
            .map_err(db("starting the statistics backfill"))?;
        let rows = sqlx::query(
            "select b.ticket_id, t.projection from stats_backlog b \
             join tickets t on t.id = b.ticket_id limit $1 for update of b skip locked",
        )
        .bind(BACKFILL_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading the statistics backlog"))?;
        if rows.is_empty() {
            tx.rollback()
                .await
                .map_err(db("ending the statistics backfill"))?;
            if done > 0 {
                tracing::info!(tickets = done, "wrote statistics rows of existing tickets");
            }
            return Ok(done);
        }
        for row in &rows {
            let id: Uuid = row
                .try_get("ticket_id")
                .map_err(db("reading the statistics backlog"))?;
            let projection: String = row
                .try_get("projection")
                .map_err(db("reading the statistics backlog"))?;
            let ticket = ticket_from_json(&projection)?;
            write_parts(&mut tx, &[&ticket], &AlwaysOpen, None).await?;
            sqlx::query("delete from stats_backlog where ticket_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("clearing the statistics backlog"))?;
            done += 1;
        }
        tx.commit()
            .await
            .map_err(db("committing the statistics backfill"))?;
    }
}

/// Reads a row of [`StatsColumns`] selected in the order of [`COLUMNS`].
pub(crate) fn columns_from_row(row: &PgRow) -> StoreResult<StatsColumns> {
    let int = |i: usize| {
        row.try_get::<i64, _>(i)
            .map_err(db("reading a statistics row"))
    };
    let opt = |i: usize| {
        row.try_get::<Option<i64>, _>(i)
            .map_err(db("reading a statistics row"))
    };
    Ok(StatsColumns {
        position: int(0)?,
        department_id: row.try_get(1).map_err(db("reading a statistics row"))?,
        assigned_at: int(2)?,
        lead: int(3)?,
        returned: int(4)?,
        signed_at: opt(5)?,
        signed_on_time: int(6)?,
        sign_secs: int(7)?,
        sign_nanos: int(8)?,
        replied_at: opt(9)?,
        replied_on_time: int(10)?,
        reply_secs: int(11)?,
        reply_nanos: int(12)?,
        overdue_after: opt(13)?,
        returns_rejected: int(14)?,
        extensions: int(15)?,
        urged: int(16)?,
        supervised: int(17)?,
        callback: int(18)?,
        resolved: int(19)?,
        satisfied: int(20)?,
        return_pending: int(21)?,
        calendar: opt(22)?,
    })
}

/// Sums the rows of a period per department; see
/// [`hotline_store::Store::department_totals`]. Whole days come from the day rows,
/// the ends of the period from the rows themselves.
pub(crate) async fn totals(pool: &PgPool, query: &StatsQuery) -> StoreResult<StatsTotals> {
    let mut out = StatsTotals::default();
    if query.departments.is_empty() || query.end <= query.start {
        return Ok(out);
    }
    let departments: Vec<String> = query
        .departments
        .iter()
        .map(|d| d.as_str().to_owned())
        .collect();
    let identity = identity_column(query.calendar);
    let (start, end) = (nanos(query.start), nanos(query.end));
    let split = split_period(start, end);
    let mut sums = SumsByDepartment::default();
    // One snapshot for every part of the sums.
    let mut tx = pool
        .begin_with("begin isolation level repeatable read read only")
        .await
        .map_err(db("summing statistics rows"))?;
    let rows_text = format!("{SUMS}department_id = any($5) group by department_id");
    for (from, to) in split.rows.into_iter().flatten() {
        let rows = sqlx::query(AssertSqlSafe(rows_text.as_str()))
            .bind(identity)
            .bind(nanos(query.now))
            .bind(from)
            .bind(to)
            .bind(departments.clone())
            .fetch_all(&mut *tx)
            .await
            .map_err(db("summing statistics rows"))?;
        add_sums(&mut sums, &rows)?;
    }
    if let Some((first, after)) = split.days {
        let text = format!("{DAY_SUMS}department_id = any($4) group by department_id");
        let rows = sqlx::query(AssertSqlSafe(text))
            .bind(identity)
            .bind(first)
            .bind(after)
            .bind(departments.clone())
            .fetch_all(&mut *tx)
            .await
            .map_err(db("summing statistics days"))?;
        add_sums(&mut sums, &rows)?;
        let text = format!("{PENDING_OVERDUE}department_id = any($4) group by department_id");
        let rows = sqlx::query(AssertSqlSafe(text))
            .bind(nanos(query.now))
            .bind(first.saturating_mul(DAY_NANOS))
            .bind(after.saturating_mul(DAY_NANOS))
            .bind(departments.clone())
            .fetch_all(&mut *tx)
            .await
            .map_err(db("counting parts not yet overdue"))?;
        for row in &rows {
            let department: String = row.try_get(0).map_err(db("reading statistics sums"))?;
            let pending: i64 = row.try_get(1).map_err(db("reading statistics sums"))?;
            sums.take_pending(department, pending);
        }
    }
    let (summed, retime) = sums.finish();
    out.sums = summed;
    if retime > 0 {
        let text = format!("{RETIME}department_id = any($4)");
        let rows = sqlx::query(AssertSqlSafe(text))
            .bind(identity)
            .bind(start)
            .bind(end)
            .bind(departments)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("reading statistics rows to retime"))?;
        for row in &rows {
            out.retime.push(columns_from_row(row)?.to_part()?);
        }
    }
    tx.rollback().await.map_err(db("summing statistics rows"))?;
    Ok(out)
}

/// Adds rows of [`SUMS`] or [`DAY_SUMS`] to `sums`.
fn add_sums(sums: &mut SumsByDepartment, rows: &[PgRow]) -> StoreResult<()> {
    for row in rows {
        let read = |e| db("reading statistics sums")(e);
        sums.add_row(row.try_get(0).map_err(read)?, |i| {
            row.try_get(i).map_err(read)
        })?;
    }
    Ok(())
}

/// Reads day rows of [`day_rows_summed`] or [`day_rows_stored`].
fn day_rows(rows: &[PgRow]) -> StoreResult<Vec<(DayKey, DayValues)>> {
    let read = |e| db("reading the statistics of a day")(e);
    rows.iter()
        .map(|row| {
            day_row(row.try_get(0).map_err(read)?, |i| {
                row.try_get(i).map_err(read)
            })
        })
        .collect()
}

/// The stored day rows and the day rows the statistics rows sum to, read from one
/// snapshot, for the row check.
pub(crate) async fn days_stored_and_summed(
    pool: &PgPool,
) -> StoreResult<(Vec<(DayKey, DayValues)>, Vec<(DayKey, DayValues)>)> {
    let mut tx = pool
        .begin_with("begin isolation level repeatable read read only")
        .await
        .map_err(db("reading the statistics of each day"))?;
    let stored = sqlx::query(AssertSqlSafe(day_rows_stored()))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading the statistics of each day"))?;
    let summed = sqlx::query(AssertSqlSafe(day_rows_summed(DAY_STRIPES)))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("summing the statistics of each day"))?;
    tx.rollback()
        .await
        .map_err(db("reading the statistics of each day"))?;
    Ok((day_rows(&stored)?, day_rows(&summed)?))
}

/// Reads a ticket's statistics rows, in part order, for the row check.
pub(crate) async fn stored(pool: &PgPool, ticket_id: Uuid) -> StoreResult<Vec<StatsColumns>> {
    let text = format!("select {COLUMNS} from ticket_stats where ticket_id = $1 order by position");
    let rows = sqlx::query(AssertSqlSafe(text))
        .bind(ticket_id)
        .fetch_all(pool)
        .await
        .map_err(db("reading statistics rows"))?;
    rows.iter().map(columns_from_row).collect()
}

/// Appends a ticket's statistics rows in `COPY` text form (the columns of
/// [`COPY_STATEMENT`]) for the bulk load, and to `added`.
pub(crate) fn copy_rows(
    buf: &mut crate::bulk::CopyBuf,
    ticket: &Ticket,
    calendar: &dyn Calendar,
    added: &mut Vec<StatsColumns>,
) {
    let id = ticket.id.to_string();
    let identity = calendar.identity();
    for part in stats_parts(ticket, calendar) {
        let c = StatsColumns::of(&part, identity);
        buf.text(&id)
            .int(c.position)
            .text(&c.department_id)
            .int(c.assigned_at)
            .int(c.lead)
            .int(c.returned)
            .opt_int(c.signed_at)
            .int(c.signed_on_time)
            .int(c.sign_secs)
            .int(c.sign_nanos)
            .opt_int(c.replied_at)
            .int(c.replied_on_time)
            .int(c.reply_secs)
            .int(c.reply_nanos)
            .opt_int(c.overdue_after)
            .int(c.returns_rejected)
            .int(c.extensions)
            .int(c.urged)
            .int(c.supervised)
            .int(c.callback)
            .int(c.resolved)
            .int(c.satisfied)
            .int(c.return_pending)
            .opt_int(c.calendar)
            .end_row();
        added.push(c);
    }
}

/// The `COPY` statement of [`copy_rows`].
pub(crate) const COPY_STATEMENT: &str = "copy ticket_stats (ticket_id, position, department_id, \
    assigned_at, lead, returned, signed_at, signed_on_time, sign_secs, sign_nanos, replied_at, \
    replied_on_time, reply_secs, reply_nanos, overdue_after, returns_rejected, extensions, \
    urged, supervised, callback, resolved, satisfied, return_pending, calendar) from stdin";
