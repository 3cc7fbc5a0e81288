//! Per-department statistics for a period (三率 and what surrounds them), computed
//! from ticket projections. Pure: the caller feeds the tickets (at least every
//! ticket with a part dispatched in the period) and the calendar — or, since a
//! ticket's contribution is the sum of its parts' ([`stats_parts`]), the narrow
//! per-part rows a store keeps, or their sums.
//!
//! What a department's row counts: its **parts** — lead (主办) and delegated
//! (二级派单) assignments — handed to it in `[start, end)`. Co-handlers (协办) are
//! not counted: they give an opinion, not the answer, and the deadlines they
//! appear under are the lead's. A part given back through an approved return is
//! counted against nobody: it only adds to `returns_approved`.
//!
//! For each counted part:
//! - `dispatched` + 1; `signed_on_time` + 1 when it was signed at or before its
//!   `sign_due` (a sign deadline moves only while unsigned, with suspended time);
//!   the working time from hand-over to sign adds to the mean time to sign;
//! - `replied` + 1 when its status is REPLIED (the answer the ticket now stands
//!   on: a reply sent back on review or followed by a reopen no longer counts),
//!   `replied_on_time` + 1 when that reply came at or before its `reply_due`
//!   (approved extensions and a reopen's new deadline included); the working time
//!   from hand-over to that reply adds to the mean time to reply;
//! - `overdue` + 1 when, now, the part is unsigned past its `sign_due`, or signed
//!   and unreplied past its `reply_due`, on a ticket whose clock runs;
//! - the part's rejected returns, granted extensions, urges and supervisions.
//!
//! And for a lead part (accountable for the outcome): the ticket's callback when
//! the citizen was reached and the rating is not exempt after a dispute —
//! `callbacks` + 1, `resolved` + 1 when resolved, `satisfied` + 1 when SATISFIED
//! or BASICALLY_SATISFIED — and a pending return request.
//!
//! The rates: response = signed on time / dispatched; resolution = resolved /
//! callbacks; satisfaction = satisfied / callbacks; on-time reply = replied on
//! time / replied — each 0 when its denominator is 0.
//!
//! **Ranking**: by satisfaction rate, then resolution rate, then response rate
//! (all descending), then department id; ranks run from 1 without ties.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::calendar::Calendar;
use crate::directory::Department;
use crate::ids::DepartmentId;
use crate::model::{AssignmentRole, AssignmentStatus, Satisfaction, Ticket, TicketStatus};

/// One department's statistics for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentStats {
    /// The department.
    pub department_id: DepartmentId,
    /// Its display name.
    pub department_name: String,
    /// Lead and delegated parts handed to it in the period (approved returns excluded).
    pub dispatched: u64,
    /// Of those, signed for.
    pub signed: u64,
    /// Of those, signed for by their `sign_due`.
    pub signed_on_time: u64,
    /// Working time from hand-over to sign, summed over the signed parts.
    pub sign_time: SignedDuration,
    /// Parts whose reply the ticket stands on.
    pub replied: u64,
    /// Of those, replied by their `reply_due`.
    pub replied_on_time: u64,
    /// Working time from hand-over to reply, summed over the replied parts.
    pub reply_time: SignedDuration,
    /// Callbacks that reached the citizen on tickets it leads, rating-exempt excluded.
    pub callbacks: u64,
    /// Of those, resolved.
    pub resolved: u64,
    /// Of those, satisfied or basically satisfied.
    pub satisfied: u64,
    /// Its return requests a dispatcher approved (counted against nobody).
    pub returns_approved: u64,
    /// Its return requests a dispatcher rejected (counted against it).
    pub returns_rejected: u64,
    /// Its return requests awaiting a decision.
    pub returns_pending: u64,
    /// Extensions of its reply deadlines granted.
    pub extensions: u64,
    /// Its parts past a running deadline now.
    pub overdue: u64,
    /// 催办 its parts received.
    pub urged: u64,
    /// 督办 and 领导督办 its parts received.
    pub supervised: u64,
    /// Position in the ranking, from 1 (best).
    pub rank: u32,
}

/// Returns `n / d`, or 0 when `d` is 0.
pub fn rate(n: u64, d: u64) -> f64 {
    if d == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let ratio = n as f64 / d as f64;
    ratio
}

/// Returns the mean of a sum over `n` items, `None` when there are none.
fn mean(sum: SignedDuration, n: u64) -> Option<SignedDuration> {
    let n = i32::try_from(n).ok().filter(|n| *n > 0)?;
    sum.checked_div(n)
}

impl DepartmentStats {
    /// Returns a row of zeros for a department.
    pub fn new(department_id: DepartmentId, department_name: String) -> Self {
        Self {
            department_id,
            department_name,
            dispatched: 0,
            signed: 0,
            signed_on_time: 0,
            sign_time: SignedDuration::ZERO,
            replied: 0,
            replied_on_time: 0,
            reply_time: SignedDuration::ZERO,
            callbacks: 0,
            resolved: 0,
            satisfied: 0,
            returns_approved: 0,
            returns_rejected: 0,
            returns_pending: 0,
            extensions: 0,
            overdue: 0,
            urged: 0,
            supervised: 0,
            rank: 0,
        }
    }

    /// Response rate (响应率): signed on time / dispatched.
    pub fn response_rate(&self) -> f64 {
        rate(self.signed_on_time, self.dispatched)
    }

    /// Resolution rate (解决率): resolved / callbacks.
    pub fn resolution_rate(&self) -> f64 {
        rate(self.resolved, self.callbacks)
    }

    /// Satisfaction rate (满意率): (satisfied + basically satisfied) / callbacks.
    pub fn satisfaction_rate(&self) -> f64 {
        rate(self.satisfied, self.callbacks)
    }

    /// On-time reply rate: replied on time / replied.
    pub fn on_time_reply_rate(&self) -> f64 {
        rate(self.replied_on_time, self.replied)
    }

    /// Every return request it made: approved, rejected or pending.
    pub fn returns(&self) -> u64 {
        self.returns_approved + self.returns_rejected + self.returns_pending
    }

    /// Mean working time from hand-over to sign; `None` when nothing was signed.
    pub fn mean_sign_time(&self) -> Option<SignedDuration> {
        mean(self.sign_time, self.signed)
    }

    /// Mean working time from hand-over to reply; `None` when nothing was replied.
    pub fn mean_reply_time(&self) -> Option<SignedDuration> {
        mean(self.reply_time, self.replied)
    }
}

/// Accumulates statistics ticket by ticket, so a caller can stream pages.
#[derive(Debug)]
pub struct StatsBuilder<'a> {
    /// First instant of the period.
    start: Timestamp,
    /// First instant after the period.
    end: Timestamp,
    /// The instant `overdue` is judged at.
    now: Timestamp,
    /// Working-time arithmetic for the mean times.
    calendar: &'a dyn Calendar,
    /// One row per department asked for, in the order given.
    rows: Vec<DepartmentStats>,
    /// Row index by department.
    index: HashMap<DepartmentId, usize>,
}

impl<'a> StatsBuilder<'a> {
    /// Starts rows of zeros for `departments` over `[start, end)`, judging
    /// overdue parts at `now`.
    pub fn new<'d>(
        departments: impl IntoIterator<Item = &'d Department>,
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
        calendar: &'a dyn Calendar,
    ) -> Self {
        let mut rows = Vec::new();
        let mut index = HashMap::new();
        for department in departments {
            if index.contains_key(&department.id) {
                continue;
            }
            index.insert(department.id.clone(), rows.len());
            rows.push(DepartmentStats::new(
                department.id.clone(),
                department.name.clone(),
            ));
        }
        Self {
            start,
            end,
            now,
            calendar,
            rows,
            index,
        }
    }

    /// Adds one ticket's contribution to every department it concerns. A ticket
    /// with no part handed over in the period adds nothing, so callers may feed
    /// more tickets than needed.
    pub fn add(&mut self, ticket: &Ticket) {
        for part in stats_parts(ticket, self.calendar) {
            self.add_part(&part);
        }
    }

    /// Returns the row of a part's department when the part was handed over in
    /// the period and its department is asked for.
    fn row_of(&mut self, part: &StatsPart) -> Option<&mut DepartmentStats> {
        if part.assigned_at < self.start || part.assigned_at >= self.end {
            return None;
        }
        let &i = self.index.get(&part.department_id)?;
        Some(&mut self.rows[i])
    }

    /// Adds one part's contribution (see [`stats_parts`]), its working times as
    /// stored in it.
    pub fn add_part(&mut self, part: &StatsPart) {
        let now = self.now;
        let Some(row) = self.row_of(part) else {
            return;
        };
        if part.returned {
            row.returns_approved += u64::from(part.lead);
            return;
        }
        row.dispatched += 1;
        if part.signed_at.is_some() {
            row.signed += 1;
            row.signed_on_time += u64::from(part.signed_on_time);
            row.sign_time = row.sign_time.saturating_add(part.sign_time);
        }
        if part.replied_at.is_some() {
            row.replied += 1;
            row.replied_on_time += u64::from(part.replied_on_time);
            row.reply_time = row.reply_time.saturating_add(part.reply_time);
        }
        row.overdue += u64::from(part.overdue_after.is_some_and(|due| now > due));
        row.returns_rejected += u64::from(part.returns_rejected);
        row.extensions += u64::from(part.extensions);
        row.urged += u64::from(part.urged);
        row.supervised += u64::from(part.supervised);
        row.callbacks += u64::from(part.callback);
        row.resolved += u64::from(part.resolved);
        row.satisfied += u64::from(part.satisfied);
        row.returns_pending += u64::from(part.return_pending);
    }

    /// Adds sums a store computed over the parts of one department handed over in
    /// the period (every counter and working time of `totals`; its name and rank
    /// are ignored). A department not asked for is ignored.
    pub fn add_totals(&mut self, totals: &DepartmentStats) {
        let Some(&i) = self.index.get(&totals.department_id) else {
            return;
        };
        let row = &mut self.rows[i];
        row.dispatched += totals.dispatched;
        row.signed += totals.signed;
        row.signed_on_time += totals.signed_on_time;
        row.sign_time = row.sign_time.saturating_add(totals.sign_time);
        row.replied += totals.replied;
        row.replied_on_time += totals.replied_on_time;
        row.reply_time = row.reply_time.saturating_add(totals.reply_time);
        row.callbacks += totals.callbacks;
        row.resolved += totals.resolved;
        row.satisfied += totals.satisfied;
        row.returns_approved += totals.returns_approved;
        row.returns_rejected += totals.returns_rejected;
        row.returns_pending += totals.returns_pending;
        row.extensions += totals.extensions;
        row.overdue += totals.overdue;
        row.urged += totals.urged;
        row.supervised += totals.supervised;
    }

    /// Adds only a part's working times to sign and to reply, computed afresh on
    /// this builder's calendar: for a part whose stored times were computed on
    /// another calendar, its counts having come through [`StatsBuilder::add_totals`].
    pub fn add_times(&mut self, part: &StatsPart) {
        let calendar = self.calendar;
        let Some(row) = self.row_of(part) else {
            return;
        };
        if part.returned {
            return;
        }
        if let Some(signed_at) = part.signed_at {
            row.sign_time = row
                .sign_time
                .saturating_add(calendar.elapsed(part.assigned_at, signed_at));
        }
        if let Some(replied_at) = part.replied_at {
            row.reply_time = row
                .reply_time
                .saturating_add(calendar.elapsed(part.assigned_at, replied_at));
        }
    }

    /// Ranks the rows and returns them, best first.
    pub fn finish(mut self) -> Vec<DepartmentStats> {
        rank(&mut self.rows);
        self.rows
    }
}

/// One lead or delegated part of a ticket reduced to what the statistics read:
/// stores keep one such row per part next to the ticket, rewritten with it,
/// indexed by (department, hand-over), so a period's figures are sums over rows
/// instead of a scan of projections. See [`stats_parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsPart {
    /// Its index in [`Ticket::assignments`].
    pub position: u32,
    /// The department doing it.
    pub department_id: DepartmentId,
    /// When it was handed over: the period it counts in.
    pub assigned_at: Timestamp,
    /// A lead part (accountable for the outcome), not a delegated one.
    pub lead: bool,
    /// Given back through an approved return: counted against nobody, and every
    /// field below is empty.
    pub returned: bool,
    /// When it was signed for.
    pub signed_at: Option<Timestamp>,
    /// Signed at or before its `sign_due`.
    pub signed_on_time: bool,
    /// The working time from hand-over to sign, on the calendar the row was written with.
    pub sign_time: SignedDuration,
    /// When the reply the ticket stands on came, if it is this part's.
    pub replied_at: Option<Timestamp>,
    /// That reply came at or before its `reply_due`.
    pub replied_on_time: bool,
    /// The working time from hand-over to that reply, on the calendar the row was
    /// written with.
    pub reply_time: SignedDuration,
    /// The deadline after which the part is overdue while the ticket stays as it
    /// is: `sign_due` unsigned, `reply_due` signed and in progress; `None` when
    /// no running deadline binds it (replied, cancelled, or the clock stopped).
    pub overdue_after: Option<Timestamp>,
    /// Its rejected return requests.
    pub returns_rejected: u32,
    /// Extensions of its reply deadline granted.
    pub extensions: u32,
    /// 催办 it received.
    pub urged: u32,
    /// 督办 and 领导督办 it received.
    pub supervised: u32,
    /// A lead part of a ticket whose callback reached the citizen, rating not exempt.
    pub callback: bool,
    /// That callback says resolved.
    pub resolved: bool,
    /// That callback says satisfied or basically satisfied.
    pub satisfied: bool,
    /// A live lead part whose return request awaits a decision.
    pub return_pending: bool,
}

/// Returns the statistics rows of a ticket: one per lead or delegated part,
/// whatever its hand-over time, working times computed on `calendar`. The module
/// docs define every field; [`StatsBuilder::add`] is these rows added up.
pub fn stats_parts(ticket: &Ticket, calendar: &dyn Calendar) -> Vec<StatsPart> {
    let clock_runs = !ticket.suspended && ticket.status.is_open();
    let mut parts = Vec::new();
    for (position, part) in (0_u32..).zip(&ticket.assignments) {
        if !matches!(part.role, AssignmentRole::Lead | AssignmentRole::Delegate) {
            continue;
        }
        let lead = part.role == AssignmentRole::Lead;
        let mut row = StatsPart {
            position,
            department_id: part.department_id.clone(),
            assigned_at: part.assigned_at,
            lead,
            returned: part.status == AssignmentStatus::Returned,
            signed_at: None,
            signed_on_time: false,
            sign_time: SignedDuration::ZERO,
            replied_at: None,
            replied_on_time: false,
            reply_time: SignedDuration::ZERO,
            overdue_after: None,
            returns_rejected: 0,
            extensions: 0,
            urged: 0,
            supervised: 0,
            callback: false,
            resolved: false,
            satisfied: false,
            return_pending: false,
        };
        if row.returned {
            parts.push(row);
            continue;
        }
        if let Some(signed_at) = part.signed_at {
            row.signed_at = Some(signed_at);
            row.signed_on_time = signed_at <= part.sign_due;
            row.sign_time = calendar.elapsed(part.assigned_at, signed_at);
        }
        if let (AssignmentStatus::Replied, Some(reply)) = (part.status, &ticket.reply) {
            row.replied_at = Some(reply.replied_at);
            row.replied_on_time = reply.replied_at <= part.reply_due;
            row.reply_time = calendar.elapsed(part.assigned_at, reply.replied_at);
        }
        row.overdue_after = match part.status {
            AssignmentStatus::Dispatched if clock_runs => Some(part.sign_due),
            AssignmentStatus::Signed if clock_runs && ticket.status == TicketStatus::InProgress => {
                Some(part.reply_due)
            }
            _ => None,
        };
        row.returns_rejected = part.returns_rejected;
        row.extensions = part.extensions_granted;
        row.urged = part.urged;
        row.supervised = part.supervised;
        if lead {
            if let Some(callback) = ticket
                .callback
                .as_ref()
                .filter(|c| c.contacted && !ticket.rating_exempt)
            {
                row.callback = true;
                row.resolved = callback.resolved;
                row.satisfied = matches!(
                    callback.satisfaction,
                    Some(Satisfaction::Satisfied | Satisfaction::BasicallySatisfied)
                );
            }
            row.return_pending = part.status.is_active()
                && ticket
                    .pending_return
                    .as_ref()
                    .is_some_and(|p| p.department_id == part.department_id);
        }
        parts.push(row);
    }
    parts
}

/// Computes ranked statistics for `departments` from `tickets`; see the module docs.
pub fn department_stats<'t>(
    departments: &[Department],
    tickets: impl IntoIterator<Item = &'t Ticket>,
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
    calendar: &dyn Calendar,
) -> Vec<DepartmentStats> {
    let mut builder = StatsBuilder::new(departments, start, end, now, calendar);
    for ticket in tickets {
        builder.add(ticket);
    }
    builder.finish()
}

/// Sorts rows best first and numbers them from 1.
fn rank(rows: &mut [DepartmentStats]) {
    rows.sort_by(|a, b| {
        b.satisfaction_rate()
            .total_cmp(&a.satisfaction_rate())
            .then(b.resolution_rate().total_cmp(&a.resolution_rate()))
            .then(b.response_rate().total_cmp(&a.response_rate()))
            .then_with(|| a.department_id.cmp(&b.department_id))
    });
    for (i, row) in rows.iter_mut().enumerate() {
        row.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_prefers_satisfaction_then_resolution_then_response() {
        let row = |id: &str, satisfied, resolved, callbacks, signed_on_time, dispatched| {
            DepartmentStats {
                satisfied,
                resolved,
                callbacks,
                signed_on_time,
                dispatched,
                ..DepartmentStats::new(DepartmentId::new(id), String::new())
            }
        };
        let mut rows = vec![
            row("a", 1, 1, 2, 1, 1),
            row("b", 2, 0, 2, 0, 1),
            row("c", 1, 2, 2, 0, 1),
            row("d", 1, 1, 2, 0, 1),
            row("e", 1, 1, 2, 0, 1),
        ];
        rank(&mut rows);
        let order: Vec<_> = rows
            .iter()
            .map(|r| (r.department_id.as_str(), r.rank))
            .collect();
        assert_eq!(order, [("b", 1), ("c", 2), ("a", 3), ("d", 4), ("e", 5)]);
    }

    #[test]
    fn empty_denominators_give_zero_rates_and_no_means() {
        let row = DepartmentStats::new(DepartmentId::new("x"), String::new());
        assert!(row.response_rate().abs() < f64::EPSILON);
        assert!(row.satisfaction_rate().abs() < f64::EPSILON);
        assert_eq!(row.mean_sign_time(), None);
        assert_eq!(row.mean_reply_time(), None);
        assert!((rate(1, 3) - 1.0 / 3.0).abs() < f64::EPSILON);
    }
}
