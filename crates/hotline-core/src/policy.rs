//! The deadline policy matrix (appeal type × priority, with category overrides)
//! and the per-ticket limits. Every city sets its own numbers; the defaults are
//! those of the product spec.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::model::{AppealType, Priority};

/// A span of time a deadline allows, in calendar or working time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Window {
    /// Wall-clock minutes, nights and holidays included.
    Calendar { minutes: u32 },
    /// Hours of working time.
    WorkingHours { hours: u32 },
    /// Working days: same time of day on the Nth following working day.
    WorkingDays { days: u32 },
}

impl Window {
    /// Returns the window as if every hour were a working hour (the 24/7 reading).
    pub fn nominal(self) -> SignedDuration {
        match self {
            Window::Calendar { minutes } => SignedDuration::from_mins(i64::from(minutes)),
            Window::WorkingHours { hours } => SignedDuration::from_hours(i64::from(hours)),
            Window::WorkingDays { days } => SignedDuration::from_hours(24 * i64::from(days)),
        }
    }
}

/// One row of the matrix; `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEntry {
    /// Appeal type this row applies to.
    pub appeal_type: Option<AppealType>,
    /// Priority this row applies to.
    pub priority: Option<Priority>,
    /// Category path prefix (e.g. `城乡建设/供水`); overrides type rows.
    pub category_prefix: Option<String>,
    /// Time to sign for.
    pub sign_within: Window,
    /// Time to reply.
    pub reply_within: Window,
}

impl PolicyEntry {
    fn matches(&self, appeal_type: AppealType, priority: Priority, category: Option<&str>) -> bool {
        self.appeal_type.is_none_or(|t| t == appeal_type)
            && self.priority.is_none_or(|p| p == priority)
            && match &self.category_prefix {
                None => true,
                Some(prefix) => category.is_some_and(|c| category_has_prefix(c, prefix)),
            }
    }

    /// Orders matching rows: a longer category prefix wins, then a named priority,
    /// then a named appeal type. Priority outranks type so that an emergency
    /// complaint gets the emergency window, not the complaint one.
    fn specificity(&self) -> (usize, bool, bool) {
        (
            self.category_prefix
                .as_deref()
                .map_or(0, |p| p.chars().count()),
            self.priority.is_some(),
            self.appeal_type.is_some(),
        )
    }
}

/// Returns whether `path` lies under `prefix` in the taxonomy (whole levels only).
pub(crate) fn category_has_prefix(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'))
        || prefix.is_empty()
}

/// How many times a ticket may go round each loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Return requests per ticket.
    pub max_returns: u32,
    /// Extension requests per ticket.
    pub max_extensions: u32,
    /// Reopens after unsatisfied callbacks per ticket.
    pub max_reopens: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_returns: 2,
            max_extensions: 1,
            max_reopens: 2,
        }
    }
}

/// The whole deadline policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePolicy {
    /// The matrix; the most specific matching row wins.
    pub entries: Vec<PolicyEntry>,
    /// Time to call the citizen back after the reply.
    pub callback_within: Window,
    /// Share of a window used before the yellow light, in percent.
    pub warning_percent: u32,
    /// How long past due a deadline becomes seriously overdue.
    pub serious_overdue_minutes: u32,
    /// Per-ticket limits.
    pub limits: Limits,
}

impl DeadlinePolicy {
    /// Returns the (sign, reply) windows for a ticket, falling back to
    /// one working day / five working days when no row matches.
    pub fn windows_for(
        &self,
        appeal_type: AppealType,
        priority: Priority,
        category: Option<&str>,
    ) -> (Window, Window) {
        self.entries
            .iter()
            .filter(|e| e.matches(appeal_type, priority, category))
            .max_by_key(|e| e.specificity())
            .map_or(
                (
                    Window::WorkingDays { days: 1 },
                    Window::WorkingDays { days: 5 },
                ),
                |e| (e.sign_within, e.reply_within),
            )
    }
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        let row = |appeal_type, priority, sign_within, reply_within| PolicyEntry {
            appeal_type,
            priority,
            category_prefix: None,
            sign_within,
            reply_within,
        };
        let one_day = Window::WorkingDays { days: 1 };
        Self {
            entries: vec![
                row(
                    None,
                    Some(Priority::Emergency),
                    Window::Calendar { minutes: 30 },
                    Window::Calendar { minutes: 120 },
                ),
                row(
                    None,
                    Some(Priority::Urgent),
                    Window::Calendar { minutes: 120 },
                    Window::Calendar { minutes: 24 * 60 },
                ),
                row(
                    None,
                    Some(Priority::Normal),
                    one_day,
                    Window::WorkingDays { days: 5 },
                ),
                row(
                    Some(AppealType::Complaint),
                    Some(Priority::Normal),
                    one_day,
                    Window::WorkingDays { days: 10 },
                ),
                row(
                    Some(AppealType::Report),
                    Some(Priority::Normal),
                    one_day,
                    Window::WorkingDays { days: 10 },
                ),
                row(
                    Some(AppealType::Consultation),
                    Some(Priority::Normal),
                    one_day,
                    Window::WorkingDays { days: 2 },
                ),
            ],
            callback_within: Window::WorkingDays { days: 2 },
            warning_percent: 80,
            serious_overdue_minutes: 24 * 60,
            limits: Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergency_outranks_appeal_type() {
        let policy = DeadlinePolicy::default();
        let (sign, reply) = policy.windows_for(AppealType::Complaint, Priority::Emergency, None);
        assert_eq!(sign, Window::Calendar { minutes: 30 });
        assert_eq!(reply, Window::Calendar { minutes: 120 });
    }

    #[test]
    fn normal_complaint_gets_ten_working_days() {
        let policy = DeadlinePolicy::default();
        let (_, reply) = policy.windows_for(AppealType::Complaint, Priority::Normal, None);
        assert_eq!(reply, Window::WorkingDays { days: 10 });
        let (_, reply) = policy.windows_for(AppealType::Consultation, Priority::Normal, None);
        assert_eq!(reply, Window::WorkingDays { days: 2 });
        let (_, reply) = policy.windows_for(AppealType::Request, Priority::Normal, None);
        assert_eq!(reply, Window::WorkingDays { days: 5 });
    }

    #[test]
    fn category_override_beats_type_rows_on_whole_levels_only() {
        let mut policy = DeadlinePolicy::default();
        policy.entries.push(PolicyEntry {
            appeal_type: None,
            priority: None,
            category_prefix: Some("城乡建设/供水".to_owned()),
            sign_within: Window::Calendar { minutes: 60 },
            reply_within: Window::Calendar { minutes: 600 },
        });
        let water = Some("城乡建设/供水/停水");
        let (_, reply) = policy.windows_for(AppealType::Complaint, Priority::Normal, water);
        assert_eq!(reply, Window::Calendar { minutes: 600 });
        let lookalike = Some("城乡建设/供水管网");
        let (_, reply) = policy.windows_for(AppealType::Complaint, Priority::Normal, lookalike);
        assert_eq!(reply, Window::WorkingDays { days: 10 });
    }
}
