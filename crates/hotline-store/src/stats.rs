//! The statistics rows both backends keep in `ticket_stats`: one per lead or
//! delegated part ([`StatsPart`]), rewritten with the ticket in the transaction of
//! every change, keyed by (department, hand-over). What the backends share: the
//! column values, the summing query, and reading rows back.
//!
//! Working times depend on the calendar, which an administrator may change: each
//! row keeps the [`hotline_core::Calendar::identity`] its times were computed on, and
//! the sums count only the times of rows written on the caller's calendar; the
//! others are returned to be timed afresh. Rows filled by a migration's backfill
//! have no identity: their times are always computed afresh.

use hotline_core::{Calendar, DepartmentId, DepartmentStats, StatsPart, Ticket, stats_parts};
use jiff::{SignedDuration, Timestamp};

use crate::check::RowProblem;
use crate::{StoreError, StoreResult};

/// The columns of `ticket_stats` after `ticket_id`, in the order of [`StatsColumns`].
pub const COLUMNS: &str = "position, department_id, assigned_at, lead, returned, signed_at, \
    signed_on_time, sign_secs, sign_nanos, replied_at, replied_on_time, reply_secs, reply_nanos, \
    overdue_after, returns_rejected, extensions, urged, supervised, callback, resolved, \
    satisfied, return_pending, calendar";

/// The per-department sums, with `$1` the caller's calendar identity, `$2` now in
/// nanoseconds, `$3`/`$4` the period's bounds; the backend appends its condition
/// on the departments (`$5`) and `group by department_id`. Columns as
/// [`sums_from_row`] reads them.
pub const SUMS: &str = "select department_id, \
    cast(count(*) - sum(returned) as bigint), \
    cast(count(signed_at) as bigint), \
    cast(sum(signed_on_time) as bigint), \
    cast(sum(case when calendar = $1 then sign_secs else 0 end) as bigint), \
    cast(sum(case when calendar = $1 then sign_nanos else 0 end) as bigint), \
    cast(count(replied_at) as bigint), \
    cast(sum(replied_on_time) as bigint), \
    cast(sum(case when calendar = $1 then reply_secs else 0 end) as bigint), \
    cast(sum(case when calendar = $1 then reply_nanos else 0 end) as bigint), \
    cast(sum(callback) as bigint), \
    cast(sum(resolved) as bigint), \
    cast(sum(satisfied) as bigint), \
    cast(sum(returned * lead) as bigint), \
    cast(sum(returns_rejected) as bigint), \
    cast(sum(return_pending) as bigint), \
    cast(sum(extensions) as bigint), \
    cast(sum(case when overdue_after < $2 then 1 else 0 end) as bigint), \
    cast(sum(urged) as bigint), \
    cast(sum(supervised) as bigint), \
    cast(sum(case when calendar = $1 or (signed_at is null and replied_at is null) \
        then 0 else 1 end) as bigint) \
    from ticket_stats where assigned_at >= $3 and assigned_at < $4 and ";

/// The rows to retime, with `$1` the caller's calendar identity, `$2`/`$3` the
/// period's bounds; the backend appends its condition on the departments (`$4`).
pub const RETIME: &str = "select position, department_id, assigned_at, lead, returned, \
    signed_at, signed_on_time, sign_secs, sign_nanos, replied_at, replied_on_time, reply_secs, \
    reply_nanos, overdue_after, returns_rejected, extensions, urged, supervised, callback, \
    resolved, satisfied, return_pending, calendar \
    from ticket_stats where assigned_at >= $2 and assigned_at < $3 \
    and (case when calendar = $1 or (signed_at is null and replied_at is null) \
        then 0 else 1 end) = 1 and ";

/// One `ticket_stats` row's values (after `ticket_id`), as both backends bind them:
/// instants as nanoseconds, flags as 0 or 1, durations as whole seconds plus
/// nanoseconds so that sums over a month of parts cannot overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsColumns {
    /// `position`.
    pub position: i64,
    /// `department_id`.
    pub department_id: String,
    /// `assigned_at`.
    pub assigned_at: i64,
    /// `lead`.
    pub lead: i64,
    /// `returned`.
    pub returned: i64,
    /// `signed_at`.
    pub signed_at: Option<i64>,
    /// `signed_on_time`.
    pub signed_on_time: i64,
    /// `sign_secs`.
    pub sign_secs: i64,
    /// `sign_nanos`.
    pub sign_nanos: i64,
    /// `replied_at`.
    pub replied_at: Option<i64>,
    /// `replied_on_time`.
    pub replied_on_time: i64,
    /// `reply_secs`.
    pub reply_secs: i64,
    /// `reply_nanos`.
    pub reply_nanos: i64,
    /// `overdue_after`.
    pub overdue_after: Option<i64>,
    /// `returns_rejected`.
    pub returns_rejected: i64,
    /// `extensions`.
    pub extensions: i64,
    /// `urged`.
    pub urged: i64,
    /// `supervised`.
    pub supervised: i64,
    /// `callback`.
    pub callback: i64,
    /// `resolved`.
    pub resolved: i64,
    /// `satisfied`.
    pub satisfied: i64,
    /// `return_pending`.
    pub return_pending: i64,
    /// The calendar identity the times were computed on (stored as its bits).
    pub calendar: Option<i64>,
}

/// Returns an instant as nanoseconds since the epoch, saturated to the `i64` range,
/// as every instant column of both backends.
fn nanos(at: Timestamp) -> i64 {
    let ns = at.as_nanosecond();
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

fn from_nanos(ns: i64) -> StoreResult<Timestamp> {
    Timestamp::from_nanosecond(i128::from(ns))
        .map_err(|e| corrupt(format_args!("instant {ns}: {e}")))
}

fn corrupt(what: std::fmt::Arguments<'_>) -> StoreError {
    StoreError::Internal(anyhow::anyhow!(
        "corrupt stored data: statistics row: {what}"
    ))
}

/// Stores a calendar identity in a signed column, bit for bit.
pub fn identity_column(identity: Option<u64>) -> Option<i64> {
    identity.map(|id| i64::from_ne_bytes(id.to_ne_bytes()))
}

fn count(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(format_args!("{what} {value}")))
}

fn flag(value: i64) -> bool {
    value != 0
}

impl StatsColumns {
    /// Returns a part's columns, its times computed on the calendar of `identity`.
    pub fn of(part: &StatsPart, identity: Option<u64>) -> Self {
        Self {
            position: i64::from(part.position),
            department_id: part.department_id.0.clone(),
            assigned_at: nanos(part.assigned_at),
            lead: i64::from(part.lead),
            returned: i64::from(part.returned),
            signed_at: part.signed_at.map(nanos),
            signed_on_time: i64::from(part.signed_on_time),
            sign_secs: part.sign_time.as_secs(),
            sign_nanos: i64::from(part.sign_time.subsec_nanos()),
            replied_at: part.replied_at.map(nanos),
            replied_on_time: i64::from(part.replied_on_time),
            reply_secs: part.reply_time.as_secs(),
            reply_nanos: i64::from(part.reply_time.subsec_nanos()),
            overdue_after: part.overdue_after.map(nanos),
            returns_rejected: i64::from(part.returns_rejected),
            extensions: i64::from(part.extensions),
            urged: i64::from(part.urged),
            supervised: i64::from(part.supervised),
            callback: i64::from(part.callback),
            resolved: i64::from(part.resolved),
            satisfied: i64::from(part.satisfied),
            return_pending: i64::from(part.return_pending),
            calendar: identity_column(identity),
        }
    }

    /// Reads the part back.
    ///
    /// # Errors
    /// [`StoreError::Internal`] for values no part could have written.
    pub fn to_part(&self) -> StoreResult<StatsPart> {
        Ok(StatsPart {
            position: u32::try_from(self.position)
                .map_err(|_| corrupt(format_args!("position {}", self.position)))?,
            department_id: DepartmentId::from(self.department_id.as_str()),
            assigned_at: from_nanos(self.assigned_at)?,
            lead: flag(self.lead),
            returned: flag(self.returned),
            signed_at: self.signed_at.map(from_nanos).transpose()?,
            signed_on_time: flag(self.signed_on_time),
            sign_time: duration(self.sign_secs, self.sign_nanos),
            replied_at: self.replied_at.map(from_nanos).transpose()?,
            replied_on_time: flag(self.replied_on_time),
            reply_time: duration(self.reply_secs, self.reply_nanos),
            overdue_after: self.overdue_after.map(from_nanos).transpose()?,
            returns_rejected: count(self.returns_rejected, "returns_rejected")?,
            extensions: count(self.extensions, "extensions")?,
            urged: count(self.urged, "urged")?,
            supervised: count(self.supervised, "supervised")?,
            callback: flag(self.callback),
            resolved: flag(self.resolved),
            satisfied: flag(self.satisfied),
            return_pending: flag(self.return_pending),
        })
    }
}

/// Returns a duration from summed whole seconds and nanoseconds (the nanoseconds
/// may exceed a second once summed).
fn duration(secs: i64, nanos: i64) -> SignedDuration {
    SignedDuration::from_secs(secs).saturating_add(SignedDuration::from_nanos(nanos))
}

/// The values of one row of [`SUMS`], in its column order after `department_id`.
pub type SumsRow = [i64; 20];

/// Reads one row of [`SUMS`] into a row of sums (name empty, rank 0); returns it
/// with the number of rows left to retime.
pub fn sums_from_row(department_id: String, v: &SumsRow) -> (DepartmentStats, u64) {
    let n = |i: usize| v[i].unsigned_abs();
    let stats = DepartmentStats {
        dispatched: n(0),
        signed: n(1),
        signed_on_time: n(2),
        sign_time: duration(v[3], v[4]),
        replied: n(5),
        replied_on_time: n(6),
        reply_time: duration(v[7], v[8]),
        callbacks: n(9),
        resolved: n(10),
        satisfied: n(11),
        returns_approved: n(12),
        returns_rejected: n(13),
        returns_pending: n(14),
        extensions: n(15),
        overdue: n(16),
        urged: n(17),
        supervised: n(18),
        ..DepartmentStats::new(DepartmentId(department_id), String::new())
    };
    (stats, n(19))
}

/// Compares a ticket's stored statistics rows with those its projection implies
/// (times only where both were computed on the same calendar); returns a sentence
/// per difference.
pub fn drift(stored: &[StatsColumns], expected: &[StatsColumns]) -> Vec<String> {
    let mut problems = Vec::new();
    if stored.len() != expected.len() {
        problems.push(format!(
            "{} statistics rows where the ticket implies {}",
            stored.len(),
            expected.len()
        ));
        return problems;
    }
    for (s, e) in stored.iter().zip(expected) {
        let mut s = s.clone();
        if s.calendar != e.calendar {
            (
                s.sign_secs,
                s.sign_nanos,
                s.reply_secs,
                s.reply_nanos,
                s.calendar,
            ) = (
                e.sign_secs,
                e.sign_nanos,
                e.reply_secs,
                e.reply_nanos,
                e.calendar,
            );
        }
        if &s != e {
            problems.push(format!(
                "statistics row of part {} is {s:?} but the ticket says {e:?}",
                e.position
            ));
        }
    }
    problems
}

/// Checks a ticket's stored statistics rows (in part order) against its
/// projection on `calendar`, for [`crate::Store::check_rows`].
pub fn check(ticket: &Ticket, calendar: &dyn Calendar, stored: &[StatsColumns]) -> Vec<RowProblem> {
    let identity = calendar.identity();
    let expected: Vec<StatsColumns> = stats_parts(ticket, calendar)
        .iter()
        .map(|part| StatsColumns::of(part, identity))
        .collect();
    drift(stored, &expected)
        .into_iter()
        .map(|problem| RowProblem {
            ticket_id: ticket.id.to_string(),
            problem,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Day rows: the sums of a day's parts, kept as they are written
// ---------------------------------------------------------------------------------------

/// The length of a `stats_days` row's day: UTC days, so that the rows do not depend
/// on any center's time zone. A period's whole days are summed from these rows, its
/// ragged ends from `ticket_stats`.
pub const DAY_NANOS: i64 = 86_400_000_000_000;

/// The day a part handed over at `assigned_at` (nanoseconds) is summed in.
pub fn day_of(assigned_at: i64) -> i64 {
    assigned_at.div_euclid(DAY_NANOS)
}

/// What keys a `stats_days` row: the department, the day of hand-over, the stripe,
/// and the calendar identity the working times were computed on (`None`: unknown).
///
/// A backend whose writers run at once may spread a department's day over a few
/// rows (stripes, chosen by the part's hand-over instant, so a part stays in its
/// stripe): writers then wait on each other's row less often, and a period's sums
/// read that many more rows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayKey {
    /// `department_id`.
    pub department_id: String,
    /// `day`: days since the epoch, UTC.
    pub day: i64,
    /// `stripe`: from 0 to the backend's stripes less one.
    pub stripe: i64,
    /// `calendar` where `calendar_known` is 1.
    pub calendar: Option<i64>,
}

impl DayKey {
    /// The `calendar_known` and `calendar` columns (0 and 0 for an unknown calendar:
    /// a primary key column cannot be null).
    pub fn calendar_columns(&self) -> (i64, i64) {
        match self.calendar {
            Some(identity) => (1, identity),
            None => (0, 0),
        }
    }
}

/// The value columns of `stats_days`, in the order of [`DayValues`].
pub const DAY_VALUE_COLUMNS: [&str; 21] = [
    "parts",
    "returned",
    "signed",
    "signed_on_time",
    "sign_secs",
    "sign_nanos",
    "replied",
    "replied_on_time",
    "reply_secs",
    "reply_nanos",
    "callback",
    "resolved",
    "satisfied",
    "returns_approved",
    "returns_rejected",
    "return_pending",
    "extensions",
    "overdue_marked",
    "urged",
    "supervised",
    "timed",
];

/// One row's contribution to its day, in the order of [`DAY_VALUE_COLUMNS`].
pub type DayValues = [i64; 21];

impl StatsColumns {
    /// The day row this row is summed in, of `stripes` per department and day.
    pub fn day_key(&self, stripes: i64) -> DayKey {
        DayKey {
            department_id: self.department_id.clone(),
            day: day_of(self.assigned_at),
            stripe: self.assigned_at.rem_euclid(stripes.max(1)),
            calendar: self.calendar,
        }
    }

    /// What this row adds to its day row. `overdue_marked` counts rows with an
    /// overdue instant at all: whether it has passed depends on when the sums are
    /// read, so the reader takes away the rows whose instant is still to come.
    pub fn day_values(&self) -> DayValues {
        [
            1,
            self.returned,
            i64::from(self.signed_at.is_some()),
            self.signed_on_time,
            self.sign_secs,
            self.sign_nanos,
            i64::from(self.replied_at.is_some()),
            self.replied_on_time,
            self.reply_secs,
            self.reply_nanos,
            self.callback,
            self.resolved,
            self.satisfied,
            self.returned * self.lead,
            self.returns_rejected,
            self.return_pending,
            self.extensions,
            i64::from(self.overdue_after.is_some()),
            self.urged,
            self.supervised,
            i64::from(self.signed_at.is_some() || self.replied_at.is_some()),
        ]
    }
}

/// The net change to the day rows of replacing a ticket's rows `removed` by
/// `added`: one entry per day row touched, sorted by key (the order the backends
/// lock rows in, so that two writers cannot wait on each other), changes that
/// cancel out left out.
pub fn day_changes(
    removed: &[StatsColumns],
    added: &[StatsColumns],
    stripes: i64,
) -> Vec<(DayKey, DayValues)> {
    let mut changes: std::collections::BTreeMap<DayKey, DayValues> =
        std::collections::BTreeMap::new();
    for (rows, sign) in [(removed, -1), (added, 1)] {
        for row in rows {
            let sums = changes.entry(row.day_key(stripes)).or_insert([0; 21]);
            for (sum, value) in sums.iter_mut().zip(row.day_values()) {
                *sum += sign * value;
            }
        }
    }
    changes
        .into_iter()
        .filter(|(_, values)| values.iter().any(|v| *v != 0))
        .collect()
}

/// Adds changes to the day rows: `source` yields rows of the key (department, day,
/// stripe, calendar_known, calendar) and the [`DAY_VALUE_COLUMNS`], in key order.
pub fn day_upsert(source: &str) -> String {
    let values = DAY_VALUE_COLUMNS.join(", ");
    let sets = DAY_VALUE_COLUMNS
        .iter()
        .map(|c| format!("{c} = stats_days.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "insert into stats_days (department_id, day, stripe, calendar_known, calendar, \
         {values}) {source} on conflict (department_id, day, stripe, calendar_known, calendar) \
         do update set {sets}"
    )
}

/// The day rows summed afresh from the statistics rows, in the columns of the
/// table, for the row check (and as the migration filled them), `stripes` per
/// department and day.
pub fn day_rows_summed(stripes: i64) -> String {
    let day = "(assigned_at - ((assigned_at % 86400000000000) + 86400000000000) % 86400000000000) \
        / 86400000000000";
    let n = stripes.max(1);
    format!(
        "select department_id, {day} as day, ((assigned_at % {n}) + {n}) % {n} as stripe, \
         cast(case when calendar is null then 0 else 1 end as bigint) as calendar_known, \
         coalesce(calendar, 0) as calendar, \
         cast(count(*) as bigint), cast(sum(returned) as bigint), \
         cast(count(signed_at) as bigint), cast(sum(signed_on_time) as bigint), \
         cast(sum(sign_secs) as bigint), cast(sum(sign_nanos) as bigint), \
         cast(count(replied_at) as bigint), cast(sum(replied_on_time) as bigint), \
         cast(sum(reply_secs) as bigint), cast(sum(reply_nanos) as bigint), \
         cast(sum(callback) as bigint), cast(sum(resolved) as bigint), \
         cast(sum(satisfied) as bigint), cast(sum(returned * lead) as bigint), \
         cast(sum(returns_rejected) as bigint), cast(sum(return_pending) as bigint), \
         cast(sum(extensions) as bigint), cast(count(overdue_after) as bigint), \
         cast(sum(urged) as bigint), cast(sum(supervised) as bigint), \
         cast(sum(case when signed_at is not null or replied_at is not null then 1 else 0 end) \
             as bigint) \
         from ticket_stats group by 1, 2, 3, 4, 5"
    )
}

/// The stored day rows, in the same columns as [`day_rows_summed`].
pub fn day_rows_stored() -> String {
    format!(
        "select department_id, day, stripe, calendar_known, calendar, {} from stats_days",
        DAY_VALUE_COLUMNS.join(", ")
    )
}

/// Reads a row of [`day_rows_summed`] or [`day_rows_stored`]: the department
/// (column 0), then `int(i)` reads the integer column `i`.
///
/// # Errors
/// Whatever `int` returns.
pub fn day_row(
    department_id: String,
    int: impl Fn(usize) -> StoreResult<i64>,
) -> StoreResult<(DayKey, DayValues)> {
    let key = DayKey {
        department_id,
        day: int(1)?,
        stripe: int(2)?,
        calendar: (int(3)? != 0).then(|| int(4)).transpose()?,
    };
    let mut values: DayValues = [0; 21];
    for (i, value) in values.iter_mut().enumerate() {
        *value = int(i + 5)?;
    }
    Ok((key, values))
}

/// The per-department sums of the day rows in the same columns as [`SUMS`], with
/// `$1` the caller's calendar identity, `$2`/`$3` the first day and the first day
/// after; the backend appends its condition on the departments (`$4`) and
/// `group by department_id`. The overdue column counts every row with an overdue
/// instant: take away [`PENDING_OVERDUE`].
pub const DAY_SUMS: &str = "select department_id, \
    cast(sum(parts) - sum(returned) as bigint), \
    cast(sum(signed) as bigint), \
    cast(sum(signed_on_time) as bigint), \
    cast(sum(case when calendar_known = 1 and calendar = $1 then sign_secs else 0 end) as bigint), \
    cast(sum(case when calendar_known = 1 and calendar = $1 then sign_nanos else 0 end) as bigint), \
    cast(sum(replied) as bigint), \
    cast(sum(replied_on_time) as bigint), \
    cast(sum(case when calendar_known = 1 and calendar = $1 then reply_secs else 0 end) as bigint), \
    cast(sum(case when calendar_known = 1 and calendar = $1 then reply_nanos else 0 end) as bigint), \
    cast(sum(callback) as bigint), \
    cast(sum(resolved) as bigint), \
    cast(sum(satisfied) as bigint), \
    cast(sum(returns_approved) as bigint), \
    cast(sum(returns_rejected) as bigint), \
    cast(sum(return_pending) as bigint), \
    cast(sum(extensions) as bigint), \
    cast(sum(overdue_marked) as bigint), \
    cast(sum(urged) as bigint), \
    cast(sum(supervised) as bigint), \
    cast(sum(case when calendar_known = 1 and calendar = $1 then 0 else timed end) as bigint) \
    from stats_days where day >= $2 and day < $3 and ";

/// Per department, the rows handed over in `[$2, $3)` whose overdue instant is
/// `$1` (now) or later: counted in the day rows' overdue column, not yet overdue.
/// Only open parts have an instant, so this reads few rows. The backend appends
/// its condition on the departments (`$4`) and `group by department_id`.
pub const PENDING_OVERDUE: &str = "select department_id, cast(count(*) as bigint) \
    from ticket_stats where overdue_after >= $1 and assigned_at >= $2 and assigned_at < $3 \
    and ";

/// The column of [`SumsRow`] holding the overdue count.
pub const OVERDUE_COLUMN: usize = 16;

/// How a period `[start, end)` (nanoseconds) is summed: the whole UTC days inside
/// it from the day rows, and the ragged ends before and after them from the rows
/// themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodSplit {
    /// Days `[first, after)` read from the day rows, if the period holds a whole day.
    pub days: Option<(i64, i64)>,
    /// Instants read from the rows themselves (one range, or the two ends).
    pub rows: [Option<(i64, i64)>; 2],
}

/// Splits `[start, end)` (nanoseconds, `start < end`) into whole days and ends.
pub fn split_period(start: i64, end: i64) -> PeriodSplit {
    // The first whole day begins at or after start; the last ends at or before end.
    let first = day_of(start) + i64::from(start.rem_euclid(DAY_NANOS) != 0);
    let after = day_of(end);
    if first >= after {
        return PeriodSplit {
            days: None,
            rows: [Some((start, end)), None],
        };
    }
    let (days_start, days_end) = (
        first.saturating_mul(DAY_NANOS),
        after.saturating_mul(DAY_NANOS),
    );
    let range = |a: i64, b: i64| (a < b).then_some((a, b));
    PeriodSplit {
        days: Some((first, after)),
        rows: [range(start, days_start), range(days_end, end)],
    }
}

/// Adds rows of sums from several queries per department.
#[derive(Debug, Default)]
pub struct SumsByDepartment {
    rows: std::collections::BTreeMap<String, SumsRow>,
}

impl SumsByDepartment {
    /// Adds a row of [`SUMS`] or [`DAY_SUMS`]: the department (column 0), then
    /// `int(i)` reads the integer column `i`.
    ///
    /// # Errors
    /// Whatever `int` returns.
    pub fn add_row(
        &mut self,
        department_id: String,
        int: impl Fn(usize) -> StoreResult<i64>,
    ) -> StoreResult<()> {
        let mut values: SumsRow = [0; 20];
        for (i, value) in values.iter_mut().enumerate() {
            *value = int(i + 1)?;
        }
        self.add(department_id, &values);
        Ok(())
    }

    /// Adds one department's sums.
    pub fn add(&mut self, department_id: String, values: &SumsRow) {
        let sums = self.rows.entry(department_id).or_insert([0; 20]);
        for (sum, value) in sums.iter_mut().zip(values) {
            *sum += value;
        }
    }

    /// Takes away rows counted overdue in [`DAY_SUMS`] that are not overdue yet.
    pub fn take_pending(&mut self, department_id: String, pending: i64) {
        self.rows.entry(department_id).or_insert([0; 20])[OVERDUE_COLUMN] -= pending;
    }

    /// The sums per department, and how many rows are to be retimed.
    pub fn finish(self) -> (Vec<DepartmentStats>, u64) {
        let mut retime = 0;
        let sums = self
            .rows
            .into_iter()
            .map(|(department_id, values)| {
                let (stats, stale) = sums_from_row(department_id, &values);
                retime += stale;
                stats
            })
            .collect();
        (sums, retime)
    }
}

/// Compares the stored day rows with the day rows the stored statistics rows sum
/// to; returns a sentence per difference (a missing row counts as zeros).
pub fn day_drift(stored: &[(DayKey, DayValues)], summed: &[(DayKey, DayValues)]) -> Vec<String> {
    let zero = [0; 21];
    let stored: std::collections::BTreeMap<&DayKey, &DayValues> =
        stored.iter().map(|(k, v)| (k, v)).collect();
    let summed: std::collections::BTreeMap<&DayKey, &DayValues> =
        summed.iter().map(|(k, v)| (k, v)).collect();
    let keys: std::collections::BTreeSet<&DayKey> =
        stored.keys().chain(summed.keys()).copied().collect();
    keys.into_iter()
        .filter_map(|key| {
            let s = stored.get(key).copied().unwrap_or(&zero);
            let e = summed.get(key).copied().unwrap_or(&zero);
            (s != e).then(|| {
                let columns: Vec<String> = DAY_VALUE_COLUMNS
                    .iter()
                    .zip(s.iter().zip(e.iter()))
                    .filter(|(_, (s, e))| s != e)
                    .map(|(name, (s, e))| format!("{name} is {s} but its parts sum to {e}"))
                    .collect();
                let day = Timestamp::from_second(key.day.saturating_mul(86_400)).map_or_else(
                    |_| format!("day {}", key.day),
                    |at| at.strftime("%Y-%m-%d").to_string(),
                );
                let calendar = match key.calendar {
                    Some(identity) => format!("calendar {:016x}", identity.cast_unsigned()),
                    None => "an unknown calendar".to_owned(),
                };
                let stripe = if key.stripe == 0 {
                    String::new()
                } else {
                    format!(", stripe {}", key.stripe)
                };
                format!(
                    "statistics of {day} (UTC) for department {}{stripe} on {calendar}: {}",
                    key.department_id,
                    columns.join(", ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(department: &str, assigned_at: i64, calendar: Option<i64>) -> StatsColumns {
        StatsColumns {
            position: 0,
            department_id: department.to_owned(),
            assigned_at,
            lead: 1,
            returned: 0,
            signed_at: Some(assigned_at + 10),
            signed_on_time: 1,
            sign_secs: 10,
            sign_nanos: 5,
            replied_at: None,
            replied_on_time: 0,
            reply_secs: 0,
            reply_nanos: 0,
            overdue_after: Some(assigned_at + 100),
            returns_rejected: 0,
            extensions: 0,
            urged: 1,
            supervised: 0,
            callback: 0,
            resolved: 0,
            satisfied: 0,
            return_pending: 0,
            calendar,
        }
    }

    #[test]
    fn a_day_is_the_utc_day_rounded_down_before_1970_too() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_NANOS - 1), 0);
        assert_eq!(day_of(DAY_NANOS), 1);
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(-DAY_NANOS), -1);
    }

    #[test]
    fn changes_net_out_per_day_row_in_key_order() {
        let day = 20_000 * DAY_NANOS;
        let before = [row("b", day + 1, Some(7)), row("a", day + 2, Some(7))];
        let mut signed = before.clone();
        signed[1].replied_at = Some(day + 50);
        signed[1].overdue_after = None;
        // The part of b is unchanged: no change for its row at all.
        let changes = day_changes(&before, &signed, 1);
        assert_eq!(changes.len(), 1);
        let (key, values) = &changes[0];
        assert_eq!(key.department_id, "a");
        assert_eq!(key.day, 20_000);
        // replied +1, overdue_marked -1; timed unchanged (it was signed already).
        let replied = DAY_VALUE_COLUMNS.iter().position(|c| *c == "replied");
        let marked = DAY_VALUE_COLUMNS
            .iter()
            .position(|c| *c == "overdue_marked");
        for (i, value) in values.iter().enumerate() {
            let expected = if Some(i) == replied {
                1
            } else if Some(i) == marked {
                -1
            } else {
                0
            };
            assert_eq!(*value, expected, "column {}", DAY_VALUE_COLUMNS[i]);
        }
        // A new ticket adds whole rows, keyed apart by calendar, sorted.
        let added = [
            row("z", day, None),
            row("a", day + DAY_NANOS, Some(7)),
            row("a", day, Some(7)),
            row("a", day, None),
        ];
        let keys: Vec<(String, i64, Option<i64>)> = day_changes(&[], &added, 1)
            .into_iter()
            .map(|(k, _)| (k.department_id, k.day, k.calendar))
            .collect();
        assert_eq!(
            keys,
            [
                ("a".to_owned(), 20_000, None),
                ("a".to_owned(), 20_000, Some(7)),
                ("a".to_owned(), 20_001, Some(7)),
                ("z".to_owned(), 20_000, None),
            ]
        );
    }

    #[test]
    fn stripes_spread_a_day_by_hand_over_and_keep_each_part_in_its_own() {
        let day = 20_000 * DAY_NANOS;
        let parts: Vec<StatsColumns> = (0..8).map(|i| row("a", day + i, Some(1))).collect();
        let striped = day_changes(&[], &parts, 4);
        assert_eq!(striped.len(), 4);
        assert!(
            striped
                .iter()
                .all(|(key, values)| key.day == 20_000 && values[0] == 2)
        );
        assert_eq!(
            striped
                .iter()
                .map(|(key, _)| key.stripe)
                .collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        // Rewriting the same parts changes nothing; one stripe alone is one row.
        assert!(day_changes(&parts, &parts, 4).is_empty());
        assert_eq!(day_changes(&[], &parts, 1).len(), 1);
    }

    #[test]
    fn a_period_splits_into_whole_days_and_ragged_ends() {
        let d = DAY_NANOS;
        // Within one day, or across midnight without a whole day: rows only.
        assert_eq!(
            split_period(5 * d + 1, 5 * d + 9),
            PeriodSplit {
                days: None,
                rows: [Some((5 * d + 1, 5 * d + 9)), None]
            }
        );
        assert_eq!(split_period(5 * d + 1, 7 * d - 1).days, None);
        // Aligned on both ends: days only.
        assert_eq!(
            split_period(5 * d, 8 * d),
            PeriodSplit {
                days: Some((5, 8)),
                rows: [None, None]
            }
        );
        // Ragged both ends.
        assert_eq!(
            split_period(5 * d - 3, 8 * d + 4),
            PeriodSplit {
                days: Some((5, 8)),
                rows: [Some((5 * d - 3, 5 * d)), Some((8 * d, 8 * d + 4))]
            }
        );
        // Exactly one whole day.
        assert_eq!(split_period(5 * d, 6 * d).days, Some((5, 6)));
    }

    #[test]
    fn sums_add_up_per_department_and_pending_parts_are_not_overdue() {
        let mut sums = SumsByDepartment::default();
        let mut values: SumsRow = [1; 20];
        values[OVERDUE_COLUMN] = 3;
        sums.add("a".to_owned(), &values);
        sums.add("a".to_owned(), &values);
        sums.add("b".to_owned(), &values);
        sums.take_pending("a".to_owned(), 2);
        let (stats, retime) = sums.finish();
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].department_id.as_str(), "a");
        assert_eq!((stats[0].dispatched, stats[0].overdue), (2, 4));
        assert_eq!(stats[1].overdue, 3);
        assert_eq!(retime, 3);
    }

    #[test]
    fn drift_names_each_day_row_that_differs() {
        let day = 20_000 * DAY_NANOS;
        let summed = day_changes(&[], &[row("a", day, Some(1)), row("b", day, Some(1))], 1);
        assert!(day_drift(&summed, &summed).is_empty());
        let mut stored = summed.clone();
        stored[0].1[0] += 1;
        // A stored row of zeros is as good as none.
        stored.push((
            DayKey {
                department_id: "c".to_owned(),
                day: 1,
                stripe: 0,
                calendar: None,
            },
            [0; 21],
        ));
        let problems = day_drift(&stored, &summed);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0],
            "statistics of 2024-10-04 (UTC) for department a on calendar 0000000000000001: \
             parts is 2 but its parts sum to 1",
        );
        assert_eq!(day_drift(&stored[1..], &summed).len(), 1);
    }
}
