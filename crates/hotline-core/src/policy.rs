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
    /// Which stored version this is: bumped by every put, 0 for the built-in
    /// default. Copied into each ticket's [`TicketPolicy`] at intake, so a
    /// ticket's timeline says which policy its deadlines came from.
    #[serde(default)]
    pub version: i64,
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

    /// Resolves the policy for one ticket: its matrix row, the callback window,
    /// the warning thresholds and the limits, with this policy's version.
    pub fn resolve(
        &self,
        appeal_type: AppealType,
        priority: Priority,
        category: Option<&str>,
    ) -> TicketPolicy {
        let (sign_within, reply_within) = self.windows_for(appeal_type, priority, category);
        TicketPolicy {
            version: self.version,
            sign_within,
            reply_within,
            callback_within: self.callback_within,
            warning_percent: self.warning_percent,
            serious_overdue_minutes: self.serious_overdue_minutes,
            limits: self.limits,
        }
    }
}

/// The policy one ticket runs under, resolved from the [`DeadlinePolicy`] in
/// force when it was taken in and recorded in its `CREATED` event. Later policy
/// changes do not touch it: every deadline the ticket gets (dispatch, delegation,
/// reopen, callback), its warning thresholds and its limits come from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPolicy {
    /// Version of the [`DeadlinePolicy`] this was resolved from (0: the built-in default).
    pub version: i64,
    /// Time to sign for, from dispatch (and for delegates, from delegation).
    pub sign_within: Window,
    /// Time to reply, from dispatch or reopen.
    pub reply_within: Window,
    /// Time to call the citizen back, from the reply.
    pub callback_within: Window,
    /// Share of a window used before the yellow light, in percent.
    pub warning_percent: u32,
    /// Wall-clock minutes past due after which a deadline is seriously overdue.
    pub serious_overdue_minutes: u32,
    /// Per-ticket limits.
    pub limits: Limits,
}

impl Default for TicketPolicy {
    /// The built-in default policy for a normal request: what tickets stored before
    /// policies were recorded per ticket are read with.
    fn default() -> Self {
        DeadlinePolicy::default().resolve(AppealType::Request, Priority::Normal, None)
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
            version: 0,
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

    #[test]
    fn a_resolved_policy_carries_the_row_the_thresholds_and_the_version() {
        let policy = DeadlinePolicy {
            version: 7,
            warning_percent: 75,
            ..DeadlinePolicy::default()
        };
        let resolved = policy.resolve(AppealType::Consultation, Priority::Normal, None);
        assert_eq!(resolved.version, 7);
        assert_eq!(resolved.sign_within, Window::WorkingDays { days: 1 });
        assert_eq!(resolved.reply_within, Window::WorkingDays { days: 2 });
        assert_eq!(resolved.callback_within, Window::WorkingDays { days: 2 });
        assert_eq!(resolved.warning_percent, 75);
        assert_eq!(resolved.serious_overdue_minutes, 24 * 60);
        assert_eq!(resolved.limits, Limits::default());
    }

    #[test]
    fn a_stored_policy_without_a_version_reads_as_version_zero() {
        let mut json = serde_json::to_value(DeadlinePolicy::default()).expect("json");
        json.as_object_mut().expect("object").remove("version");
        let policy: DeadlinePolicy = serde_json::from_value(json).expect("parses");
        assert_eq!(policy, DeadlinePolicy::default());
    }
}
