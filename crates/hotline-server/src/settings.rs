//! Setting documents kept in the store as JSON (routing rules, deadline policy,
//! working calendar): their keys, their shapes and their validation.

use std::collections::BTreeSet;

use hotline_core::{DeadlinePolicy, RoutingRule};
use hotline_store::Store;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldViolation};

/// Setting key of the routing rules (a JSON array of core `RoutingRule`).
pub const ROUTING_RULES: &str = "routing_rules";
/// Setting key of the deadline policy (core `DeadlinePolicy` JSON).
pub const DEADLINE_POLICY: &str = "deadline_policy";
/// Setting key of the working calendar ([`CalendarDoc`] JSON).
pub const CALENDAR: &str = "calendar";

/// The working calendar as administrators put it. Stored and returned; the
/// working-time arithmetic that will read it is a later issue (the server
/// computes deadlines with `AlwaysOpen` until then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDoc {
    /// IANA time zone of the center.
    pub time_zone: String,
    /// Working hours of a working day, in order.
    pub working_hours: Vec<WorkingInterval>,
    /// Holidays and make-up working days.
    pub days: Vec<CalendarDay>,
}

/// One span of working hours, local time `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingInterval {
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`, after start.
    pub end: String,
}

/// One date departing from the weekly pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// A make-up working day (调休) when true, a holiday when false.
    pub working: bool,
    /// What the day is.
    pub name: String,
}

/// Parses `HH:MM` into minutes after midnight (`24:00` allowed as an end).
fn minutes_of(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl CalendarDoc {
    /// Returns the calendar used until one is put: Monday to Friday, 9–12 and 13–17.
    pub fn default_for(time_zone: &str) -> Self {
        let interval = |start: &str, end: &str| WorkingInterval {
            start: start.to_owned(),
            end: end.to_owned(),
        };
        CalendarDoc {
            time_zone: time_zone.to_owned(),
            working_hours: vec![interval("09:00", "12:00"), interval("13:00", "17:00")],
            days: Vec::new(),
        }
    }

    /// Returns every problem with the document (empty when valid).
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut out = Vec::new();
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            out.push(FieldViolation::new(
                "calendar.time_zone",
                "is not a known IANA time zone",
            ));
        }
        if self.working_hours.is_empty() {
            out.push(FieldViolation::new(
                "calendar.working_hours",
                "must not be empty",
            ));
        }
        let mut previous_end = 0;
        for (i, interval) in self.working_hours.iter().enumerate() {
            let field = format!("calendar.working_hours[{i}]");
            match (minutes_of(&interval.start), minutes_of(&interval.end)) {
                (Some(start), Some(end)) if start >= end => {
                    out.push(FieldViolation::new(field, "end must be after start"));
                }
                (Some(start), Some(end)) => {
                    if i > 0 && start < previous_end {
                        out.push(FieldViolation::new(
                            field,
                            "overlaps or precedes the interval before it",
                        ));
                    }
                    previous_end = end;
                }
                _ => out.push(FieldViolation::new(field, "start and end must be HH:MM")),
            }
        }
        let mut seen = BTreeSet::new();
        for (i, day) in self.days.iter().enumerate() {
            let field = format!("calendar.days[{i}].date");
            match day.date.parse::<Date>() {
                Ok(date) if day.date.len() == 10 => {
                    if !seen.insert(date) {
                        out.push(FieldViolation::new(field, "date listed twice"));
                    }
                }
                _ => out.push(FieldViolation::new(field, "must be YYYY-MM-DD")),
            }
            if day.name.chars().count() > 64 {
                out.push(FieldViolation::new(
                    format!("calendar.days[{i}].name"),
                    "is longer than 64 characters",
                ));
            }
        }
        out
    }
}

/// Reads a JSON setting, `None` when it was never put.
///
/// # Errors
/// Store errors, and `Internal` when the stored document does not parse.
pub async fn load<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<(T, i64)>, ApiError> {
    let Some(setting) = store.get_setting(key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_str(&setting.value)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting {key} does not parse: {e}")))?;
    Ok(Some((value, setting.version)))
}

/// The settings the hot path needs, as loaded from the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Routing rules in force.
    pub rules: Vec<RoutingRule>,
    /// Deadline policy in force.
    pub policy: DeadlinePolicy,
    /// Version of the stored policy; 0 while the default is in force.
    pub policy_version: i64,
}

/// Loads routing rules and deadline policy, with defaults for what was never put.
///
/// # Errors
/// Store errors, and a stored document that does not parse.
pub async fn load_all(store: &dyn Store) -> Result<Loaded, ApiError> {
    let rules = load::<Vec<RoutingRule>>(store, ROUTING_RULES)
        .await?
        .map(|(r, _)| r);
    let policy = load::<DeadlinePolicy>(store, DEADLINE_POLICY).await?;
    let (policy, policy_version) = policy.unwrap_or_else(|| (DeadlinePolicy::default(), 0));
    Ok(Loaded {
        rules: rules.unwrap_or_default(),
        policy,
        policy_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_calendar_is_valid() {
        assert!(
            CalendarDoc::default_for("Asia/Shanghai")
                .violations()
                .is_empty()
        );
    }

    #[test]
    fn bad_calendars_name_every_bad_field() {
        let doc = CalendarDoc {
            time_zone: "Mars/Olympus".to_owned(),
            working_hours: vec![
                WorkingInterval {
                    start: "09:00".to_owned(),
                    end: "12:00".to_owned(),
                },
                WorkingInterval {
                    start: "11:00".to_owned(),
                    end: "13:00".to_owned(),
                },
                WorkingInterval {
                    start: "9:00".to_owned(),
                    end: "25:00".to_owned(),
                },
            ],
            days: vec![
                CalendarDay {
                    date: "2026-10-01".to_owned(),
                    working: false,
                    name: "国庆".to_owned(),
                },
                CalendarDay {
                    date: "2026-10-01".to_owned(),
                    working: false,
                    name: String::new(),
                },
                CalendarDay {
                    date: "2026-13-01".to_owned(),
                    working: true,
                    name: String::new(),
                },
            ],
        };
        let fields: Vec<_> = doc.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "calendar.time_zone",
                "calendar.working_hours[1]",
                "calendar.working_hours[2]",
                "calendar.days[1].date",
                "calendar.days[2].date",
            ]
        );
    }

    #[test]
    fn hh_mm_parses_strictly() {
        assert_eq!(minutes_of("09:30"), Some(570));
        assert_eq!(minutes_of("24:00"), Some(1440));
        assert_eq!(minutes_of("24:01"), None);
        assert_eq!(minutes_of("9:30"), None);
        assert_eq!(minutes_of("09:60"), None);
    }
}
