//! Statistics rows (`ticket_stats`, see [`hotline_store::stats`]): written with
//! every ticket change, summed per department for a period.

use hotline_core::{AlwaysOpen, Calendar, Ticket, stats_parts};
use std::sync::LazyLock;

use hotline_store::stats::{
    COLUMNS, DAY_SUMS, DayKey, DayValues, PENDING_OVERDUE, RETIME, SUMS, StatsColumns,
    SumsByDepartment, day_changes, day_row, day_rows_stored, day_rows_summed, day_upsert,
    identity_column, split_period,
};
use hotline_store::{StatsQuery, StatsTotals, StoreResult};
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row, Transaction};

use crate::codec::{nanos, ticket_from_json};
use crate::error::db;

/// Rows per department and day in `stats_days` ([`DayKey`]): one: the database has one writer, no one waits on a row.
const DAY_STRIPES: i64 = 1;

/// Tickets given their rows per transaction of the backfill.
const BACKFILL_BATCH: i64 = 500;

/// The condition on the departments, a JSON array bound last.
const DEPARTMENTS: &str = "department_id in (select value from json_each(?{n}))";

/// Replaces a ticket's statistics rows with those of its projection, times
/// computed on `calendar`.
pub(crate) async fn write(
    tx: &mut Transaction<'static, Sqlite>,
    ticket: &Ticket,
    calendar: &dyn Calendar,
) -> StoreResult<()> {
    write_parts(tx, ticket, calendar, calendar.identity()).await
}

async fn write_parts(
    tx: &mut Transaction<'static, Sqlite>,
    ticket: &Ticket,
    calendar: &dyn Calendar,
    identity: Option<u64>,
) -> StoreResult<()> {
    let ticket_id = ticket.id.to_string();
    let text = format!("delete from ticket_stats where ticket_id = ? returning {COLUMNS}");
    let removed = sqlx::query(AssertSqlSafe(text))
        .bind(ticket_id.clone())
        .fetch_all(&mut **tx)
        .await
        .map_err(db("clearing statistics rows"))?
        .iter()
        .map(columns_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let mut added = Vec::new();
    for part in stats_parts(ticket, calendar) {
        let c = StatsColumns::of(&part, identity);
        sqlx::query(
            "insert into ticket_stats (ticket_id, position, department_id, assigned_at, lead, \
             returned, signed_at, signed_on_time, sign_secs, sign_nanos, replied_at, \
             replied_on_time, reply_secs, reply_nanos, overdue_after, returns_rejected, \
             extensions, urged, supervised, callback, resolved, satisfied, return_pending, \
             calendar) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
             ?, ?)",
        )
        .bind(ticket_id.clone())
        .bind(c.position)
        .bind(c.department_id.clone())
        .bind(c.assigned_at)
        .bind(c.lead)
        .bind(c.returned)
        .bind(c.signed_at)
        .bind(c.signed_on_time)
        .bind(c.sign_secs)
        .bind(c.sign_nanos)
        .bind(c.replied_at)
        .bind(c.replied_on_time)
        .bind(c.reply_secs)
        .bind(c.reply_nanos)
        .bind(c.overdue_after)
        .bind(c.returns_rejected)
        .bind(c.extensions)
        .bind(c.urged)
        .bind(c.supervised)
        .bind(c.callback)
        .bind(c.resolved)
        .bind(c.satisfied)
        .bind(c.return_pending)
        .bind(c.calendar)
        .execute(&mut **tx)
        .await
        .map_err(db("writing statistics rows"))?;
        added.push(c);
    }
    add_to_days(tx, &day_changes(&removed, &added, DAY_STRIPES)).await
}

/// The statement of [`add_to_days`].
static DAY_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let placeholders = (1..=26).map(|i| format!("?{i}")).collect::<Vec<_>>();
    day_upsert(&format!("values ({})", placeholders.join(", ")))
});

/// Adds changes to the day rows, one statement each (the writer holds the
/// database alone, so there is no one to wait on).
pub(crate) async fn add_to_days(
    tx: &mut Transaction<'static, Sqlite>,
    changes: &[(DayKey, DayValues)],
) -> StoreResult<()> {
    for (key, values) in changes {
        let (known, calendar) = key.calendar_columns();
        let mut query = sqlx::query(AssertSqlSafe(DAY_UPSERT.as_str()))
            .bind(key.department_id.clone())
            .bind(key.day)
            .bind(key.stripe)
            .bind(known)
            .bind(calendar);
        for value in values {
            query = query.bind(*value);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(db("adding to the statistics of a day"))?;
    }
    Ok(())
}

/// Gives the tickets filed before the statistics rows existed their rows, in
/// batches of one transaction each; returns how many. The calendar is not known
/// here, so their working times are marked unknown and computed when read.
pub(crate) async fn backfill(write: &SqlitePool) -> StoreResult<u64> {
    let mut done = 0u64;
    loop {
        let mut tx = write
            .begin_with("begin immediate")
            .await
            .map_err(db("starting the statistics backfill"))?;
        let rows = sqlx::query(
            "select b.ticket_id, t.projection from stats_backlog b \
             join tickets t on t.id = b.ticket_id limit ?",
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
            let id: String = row
                .try_get("ticket_id")
                .map_err(db("reading the statistics backlog"))?;
            let projection: String = row
                .try_get("projection")
                .map_err(db("reading the statistics backlog"))?;
            let ticket = ticket_from_json(&projection)?;
            write_parts(&mut tx, &ticket, &AlwaysOpen, None).await?;
            sqlx::query("delete from stats_backlog where ticket_id = ?")
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
pub(crate) fn columns_from_row(row: &SqliteRow) -> StoreResult<StatsColumns> {
    let read = db("reading a statistics row");
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
        department_id: row.try_get(1).map_err(read)?,
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
pub(crate) async fn totals(read: &SqlitePool, query: &StatsQuery) -> StoreResult<StatsTotals> {
    let mut out = StatsTotals::default();
    if query.departments.is_empty() || query.end <= query.start {
        return Ok(out);
    }
    let departments = serde_json::to_string(
        &query
            .departments
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| hotline_store::StoreError::Internal(e.into()))?;
    let identity = identity_column(query.calendar);
    let (start, end) = (nanos(query.start), nanos(query.end));
    let split = split_period(start, end);
    let mut sums = SumsByDepartment::default();
    // One snapshot for every part of the sums: a read transaction sees the database
    // as of its first read.
    let mut tx = read.begin().await.map_err(db("summing statistics rows"))?;
    let rows_text = format!(
        "{}{} group by department_id",
        SUMS.replace('$', "?"),
        DEPARTMENTS.replace("{n}", "5")
    );
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
        let text = format!(
            "{}{} group by department_id",
            DAY_SUMS.replace('$', "?"),
            DEPARTMENTS.replace("{n}", "4")
        );
        let rows = sqlx::query(AssertSqlSafe(text))
            .bind(identity)
            .bind(first)
            .bind(after)
            .bind(departments.clone())
            .fetch_all(&mut *tx)
            .await
            .map_err(db("summing statistics days"))?;
        add_sums(&mut sums, &rows)?;
        // The partial index on the overdue instant holds open parts only.
        let text = format!(
            "{}{} group by department_id",
            PENDING_OVERDUE.replace('$', "?").replace(
                "from ticket_stats",
                "from ticket_stats indexed by ticket_stats_overdue_after"
            ),
            DEPARTMENTS.replace("{n}", "4")
        );
        let rows = sqlx::query(AssertSqlSafe(text))
            .bind(nanos(query.now))
            .bind(first.saturating_mul(hotline_store::stats::DAY_NANOS))
            .bind(after.saturating_mul(hotline_store::stats::DAY_NANOS))
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
        let text = format!(
            "{}{}",
            RETIME.replace('$', "?"),
            DEPARTMENTS.replace("{n}", "4")
        );
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
fn add_sums(sums: &mut SumsByDepartment, rows: &[SqliteRow]) -> StoreResult<()> {
    for row in rows {
        let read = |e| db("reading statistics sums")(e);
        sums.add_row(row.try_get(0).map_err(read)?, |i| {
            row.try_get(i).map_err(read)
        })?;
    }
    Ok(())
}

/// Reads day rows of [`day_rows_summed`] or [`day_rows_stored`].
fn day_rows(rows: &[SqliteRow]) -> StoreResult<Vec<(DayKey, DayValues)>> {
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
    read: &SqlitePool,
) -> StoreResult<(Vec<(DayKey, DayValues)>, Vec<(DayKey, DayValues)>)> {
    let mut tx = read
        .begin()
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
pub(crate) async fn stored(read: &SqlitePool, ticket_id: &str) -> StoreResult<Vec<StatsColumns>> {
    let text = format!("select {COLUMNS} from ticket_stats where ticket_id = ? order by position");
    let rows = sqlx::query(AssertSqlSafe(text))
        .bind(ticket_id.to_owned())
        .fetch_all(read)
        .await
        .map_err(db("reading statistics rows"))?;
    rows.iter().map(columns_from_row).collect()
}
