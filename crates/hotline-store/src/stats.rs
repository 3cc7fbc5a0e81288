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
