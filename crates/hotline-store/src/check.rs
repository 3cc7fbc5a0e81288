//! Cross-row consistency of a store, for `hotline check`: what the hash chains
//! and the replay of events cannot see — rows that lost their ticket, tickets that
//! lost their events, and the indexed columns listings and the sweeper rely on
//! drifting from the ticket they index.

use hotline_core::Ticket;

/// A row that disagrees with the rows it belongs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The ticket concerned; empty for a row of no one ticket (a day's statistics).
    pub ticket_id: String,
    /// What is wrong, in a sentence.
    pub problem: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ticket_id.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "ticket {}: {}", self.ticket_id, self.problem)
        }
    }
}

/// Queries, in SQL both backends run, that return the ids of tickets with a
/// problem, and the problem. Each is an anti-join over indexed keys.
pub const ORPHAN_CHECKS: &[(&str, &str)] = &[
    (
        "select cast(t.id as text) from tickets t \
         where not exists (select 1 from events e where e.ticket_id = t.id)",
        "the ticket has no events",
    ),
    (
        "select distinct cast(e.ticket_id as text) from events e \
         where not exists (select 1 from tickets t where t.id = e.ticket_id)",
        "events of a ticket that does not exist",
    ),
    (
        "select distinct cast(a.ticket_id as text) from assignments a \
         where not exists (select 1 from tickets t where t.id = a.ticket_id)",
        "assignment rows of a ticket that does not exist",
    ),
    (
        "select cast(i.ticket_id as text) from idempotency i \
         where not exists (select 1 from tickets t where t.id = i.ticket_id)",
        "a request id pointing at a ticket that does not exist",
    ),
    (
        "select cast(s.ticket_id as text) from ticket_signatures s \
         where not exists (select 1 from tickets t where t.id = s.ticket_id)",
        "a text signature of a ticket that does not exist",
    ),
    (
        "select distinct cast(s.ticket_id as text) from ticket_stats s \
         where not exists (select 1 from tickets t where t.id = s.ticket_id)",
        "statistics rows of a ticket that does not exist",
    ),
    (
        "select cast(t.id as text) from tickets t \
         where t.version <> (select max(e.version) from events e where e.ticket_id = t.id)",
        "the ticket's version is not its newest event's",
    ),
];

/// The indexed columns of a ticket row that listings and the sweeper read
/// instead of the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedColumns {
    /// `status`.
    pub status: String,
    /// `version`.
    pub version: i64,
    /// `lead_department_id`.
    pub lead_department_id: Option<String>,
    /// `deadline_kind`: the running deadline's kind.
    pub deadline_kind: Option<String>,
    /// `deadline_at`, in the backend's integer nanoseconds.
    pub deadline_at: Option<i64>,
    /// `warning_level`.
    pub warning_level: String,
    /// `next_check_at`: when the sweeper must look at the ticket next.
    pub next_check_at: Option<i64>,
}

/// Compares the stored columns with those the ticket implies; returns one line per
/// column that differs.
pub fn column_drift(
    ticket: &Ticket,
    stored: &IndexedColumns,
    expected: &IndexedColumns,
) -> Vec<RowProblem> {
    let mut problems = Vec::new();
    let mut differs = |column: &str, stored: String, expected: String| {
        if stored != expected {
            problems.push(RowProblem {
                ticket_id: ticket.id.to_string(),
                problem: format!("column {column} is {stored} but the ticket says {expected}"),
            });
        }
    };
    differs("status", stored.status.clone(), expected.status.clone());
    differs(
        "version",
        stored.version.to_string(),
        expected.version.to_string(),
    );
    differs(
        "lead_department_id",
        format!("{:?}", stored.lead_department_id),
        format!("{:?}", expected.lead_department_id),
    );
    differs(
        "deadline_kind",
        format!("{:?}", stored.deadline_kind),
        format!("{:?}", expected.deadline_kind),
    );
    differs(
        "deadline_at",
        format!("{:?}", stored.deadline_at),
        format!("{:?}", expected.deadline_at),
    );
    differs(
        "warning_level",
        stored.warning_level.clone(),
        expected.warning_level.clone(),
    );
    differs(
        "next_check_at",
        format!("{:?}", stored.next_check_at),
        format!("{:?}", expected.next_check_at),
    );
    problems
}

/// The differences between the stored day rows and what the statistics rows sum
/// to, as problems of no one ticket.
pub fn day_problems(
    stored: &[(crate::stats::DayKey, crate::stats::DayValues)],
    summed: &[(crate::stats::DayKey, crate::stats::DayValues)],
) -> Vec<RowProblem> {
    crate::stats::day_drift(stored, summed)
        .into_iter()
        .map(|problem| RowProblem {
            ticket_id: String::new(),
            problem,
        })
        .collect()
}
