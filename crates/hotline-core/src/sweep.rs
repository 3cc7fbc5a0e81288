//! What the sweeper does to one ticket: light the traffic light of its running
//! deadline as time passes, and close replied tickets nobody will call back.
//!
//! A running deadline due at `due`, whose window started at `start`, crosses
//! three thresholds, counted the way its window counts (wall-clock time for
//! calendar-time windows, working time through the calendar otherwise):
//!
//! - WARNING (黄灯) at `start` plus `warning_percent` % of the counted time from
//!   `start` to `due`;
//! - OVERDUE (红灯) once strictly past `due` (signing or replying at `due` is on
//!   time, as the `late` flag of a sign says);
//! - SERIOUSLY_OVERDUE once strictly past `due` plus `serious_overdue_minutes`
//!   of wall-clock time.
//!
//! `start` is the ticket's `window_start` (the dispatch or the latest reopen,
//! moved forward by time spent suspended) for SIGN and REPLY, and the reply for
//! CALLBACK. A callback deadline only turns yellow: at `callback_due` the ticket
//! closes (NO_CALLBACK) instead, and a replied ticket whose citizen wants no
//! callback closes at once. Every threshold comes from the ticket's own
//! [`TicketPolicy`](crate::TicketPolicy).
//!
//! [`Ticket::sweep`] emits every level not yet reached, in order, one event per
//! level, so a sweeper that was down catches up in one command; sweeping again
//! at the same instant emits nothing. [`Ticket::next_check_at`] says when the
//! sweep would next change something: the durable timer a store indexes.

use jiff::{SignedDuration, Timestamp};

use crate::calendar::Calendar;
use crate::command::Context;
use crate::event::EventKind;
use crate::machine::{Decision, counting};
use crate::model::{CloseReason, DeadlineKind, Ticket, TicketStatus, WarningLevel};

/// The instants at which a running deadline's light changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineThresholds {
    /// Which deadline runs.
    pub kind: DeadlineKind,
    /// When it falls due.
    pub due: Timestamp,
    /// First instant of the yellow light (never after `due`).
    pub warning_at: Timestamp,
    /// First instant of the red light: just after `due`.
    pub overdue_at: Timestamp,
    /// First instant of serious overdue: just after `due` plus the policy's span.
    pub seriously_overdue_at: Timestamp,
}

impl DeadlineThresholds {
    /// Returns the light at `now`.
    pub fn level_at(&self, now: Timestamp) -> WarningLevel {
        if now >= self.seriously_overdue_at {
            WarningLevel::SeriouslyOverdue
        } else if now >= self.overdue_at {
            WarningLevel::Overdue
        } else if now >= self.warning_at {
            WarningLevel::Warning
        } else {
            WarningLevel::None
        }
    }

    /// Returns the first instant of `level` (`None` for [`WarningLevel::None`]).
    pub fn reached_at(&self, level: WarningLevel) -> Option<Timestamp> {
        match level {
            WarningLevel::None => None,
            WarningLevel::Warning => Some(self.warning_at),
            WarningLevel::Overdue => Some(self.overdue_at),
            WarningLevel::SeriouslyOverdue => Some(self.seriously_overdue_at),
        }
    }
}

/// Returns `percent` % of a duration (saturating).
fn share(duration: SignedDuration, percent: u32) -> SignedDuration {
    let nanos = duration.as_nanos() * i128::from(percent.min(100)) / 100;
    SignedDuration::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

/// Returns the instant just after `at`.
fn just_after(at: Timestamp) -> Timestamp {
    at.checked_add(SignedDuration::from_nanos(1))
        .unwrap_or(Timestamp::MAX)
}

/// Returns the level after `level`, if any.
fn next_level(level: WarningLevel) -> Option<WarningLevel> {
    match level {
        WarningLevel::None => Some(WarningLevel::Warning),
        WarningLevel::Warning => Some(WarningLevel::Overdue),
        WarningLevel::Overdue => Some(WarningLevel::SeriouslyOverdue),
        WarningLevel::SeriouslyOverdue => None,
    }
}

impl Ticket {
    /// Returns the thresholds of the running deadline, if one runs (none while
    /// suspended, awaiting dispatch, closed or merged).
    pub fn deadline_thresholds(&self, calendar: &dyn Calendar) -> Option<DeadlineThresholds> {
        let (kind, due) = self.running_deadline()?;
        let (window, start) = match kind {
            DeadlineKind::Sign | DeadlineKind::Reply => {
                let window = if kind == DeadlineKind::Sign {
                    self.policy.sign_within
                } else {
                    self.policy.reply_within
                };
                let start = self
                    .window_start
                    .or_else(|| self.lead_assignment().map(|a| a.assigned_at));
                (window, start)
            }
            DeadlineKind::Callback => (
                self.policy.callback_within,
                self.reply.as_ref().map(|r| r.replied_at),
            ),
        };
        let start = start.unwrap_or(due);
        let clock = counting(calendar, window);
        let used = share(clock.elapsed(start, due), self.policy.warning_percent);
        let warning_at = clock.add_working_time(start, used).min(due);
        let serious = SignedDuration::from_mins(i64::from(self.policy.serious_overdue_minutes));
        Some(DeadlineThresholds {
            kind,
            due,
            warning_at,
            overdue_at: just_after(due),
            seriously_overdue_at: just_after(due.saturating_add(serious).unwrap_or(Timestamp::MAX)),
        })
    }

    /// Returns what the sweeper records at `now`, in order (empty when nothing
    /// changes): the close of a replied ticket whose citizen wants no callback or
    /// whose `callback_due` has come, or else one `WARNING_CHANGED` per level the
    /// running deadline reached since the last sweep.
    pub fn sweep_events(&self, now: Timestamp, calendar: &dyn Calendar) -> Vec<EventKind> {
        match self.status {
            TicketStatus::Replied => {
                let callback_due = self.callback_due.is_some_and(|due| now >= due);
                if !self.citizen.wants_callback || callback_due {
                    return vec![EventKind::Closed {
                        reason: CloseReason::NoCallback,
                    }];
                }
            }
            TicketStatus::Dispatched | TicketStatus::InProgress => {}
            TicketStatus::PendingDispatch | TicketStatus::Closed | TicketStatus::Merged => {
                return Vec::new();
            }
        }
        let Some(thresholds) = self.deadline_thresholds(calendar) else {
            return Vec::new();
        };
        let mut reached = thresholds.level_at(now);
        if thresholds.kind == DeadlineKind::Callback {
            reached = reached.min(WarningLevel::Warning);
        }
        WarningLevel::ALL
            .iter()
            .filter(|level| **level > self.warning_level && **level <= reached)
            .map(|level| EventKind::WarningChanged {
                kind: thresholds.kind,
                level: *level,
            })
            .collect()
    }

    /// Sweeps the ticket at `ctx.now` as `ctx.actor` (the system): the events of
    /// [`Ticket::sweep_events`] as one command, or `None` when nothing changes.
    pub fn sweep(&self, ctx: &Context<'_>) -> Option<Decision> {
        let kinds = self.sweep_events(ctx.now, ctx.calendar);
        (!kinds.is_empty()).then(|| self.commit(kinds, ctx))
    }

    /// Returns the first instant at which [`Ticket::sweep`] would change this
    /// ticket: the next threshold of its running deadline, `callback_due`, or
    /// (for a replied ticket whose citizen wants no callback) the reply itself,
    /// i.e. at once. `None` when nothing will happen by the clock alone: awaiting
    /// dispatch, suspended, closed, merged, or past every threshold.
    ///
    /// After a sweep at `now`, the result is always later than `now`.
    pub fn next_check_at(&self, calendar: &dyn Calendar) -> Option<Timestamp> {
        match self.status {
            TicketStatus::Replied => {
                if !self.citizen.wants_callback {
                    return Some(
                        self.reply
                            .as_ref()
                            .map_or(self.updated_at, |r| r.replied_at),
                    );
                }
                let due = self.callback_due?;
                match self.deadline_thresholds(calendar) {
                    Some(t) if self.warning_level < WarningLevel::Warning => {
                        Some(t.warning_at.min(due))
                    }
                    _ => Some(due),
                }
            }
            TicketStatus::Dispatched | TicketStatus::InProgress => {
                let thresholds = self.deadline_thresholds(calendar)?;
                thresholds.reached_at(next_level(self.warning_level)?)
            }
            TicketStatus::PendingDispatch | TicketStatus::Closed | TicketStatus::Merged => None,
        }
    }
}
