//! Setting documents kept in the store as JSON (routing rules, deadline policy,
//! working calendar): their keys, their shapes and their validation.

use std::collections::BTreeSet;

use hotline_core::{
    CalendarSpec, DeadlinePolicy, RoutingRule, Taxonomy, TaxonomyEntry, WorkingCalendar,
};
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
/// Setting key of the taxonomy (a JSON array of core `TaxonomyEntry`).
pub const TAXONOMY: &str = "taxonomy";

/// The working calendar as administrators put it: the same JSON shape as the
/// core `CalendarSpec`, from which the server builds its `WorkingCalendar`.
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
    /// Returns the document of a working calendar.
    pub fn of(calendar: &WorkingCalendar) -> Self {
        let spec = calendar.to_spec();
        CalendarDoc {
            time_zone: spec.time_zone,
            working_hours: spec
                .working_hours
                .into_iter()
                .map(|w| WorkingInterval {
                    start: w.start,
                    end: w.end,
                })
                .collect(),
            days: spec
                .days
                .into_iter()
                .map(|d| CalendarDay {
                    date: d.date,
                    working: d.working,
                    name: d.name,
                })
                .collect(),
        }
    }

    /// Builds the working calendar this document defines.
    ///
    /// # Errors
    /// `InvalidArgument` naming each bad field (`calendar.days[3].date`).
    pub fn to_calendar(&self) -> Result<WorkingCalendar, ApiError> {
        let spec = CalendarSpec {
            time_zone: self.time_zone.clone(),
            working_hours: self
                .working_hours
                .iter()
                .map(|w| hotline_core::WorkingIntervalSpec {
                    start: w.start.clone(),
                    end: w.end.clone(),
                })
                .collect(),
            days: self
                .days
                .iter()
                .map(|d| hotline_core::CalendarDaySpec {
                    date: d.date.clone(),
                    working: d.working,
                    name: d.name.clone(),
                })
                .collect(),
        };
        WorkingCalendar::from_spec(&spec).map_err(|e| {
            ApiError::InvalidArgument(
                e.violations
                    .into_iter()
                    .map(|v| {
                        FieldViolation::new(format!("calendar.{}", v.field), v.problem.to_string())
                    })
                    .collect(),
            )
        })
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
    /// The stored taxonomy and its version, if one was put.
    pub taxonomy: Option<(Taxonomy, i64)>,
    /// Routing rules in force.
    pub rules: Vec<RoutingRule>,
    /// Deadline policy in force.
    pub policy: DeadlinePolicy,
    /// Version of the stored policy; 0 while the default is in force.
    pub policy_version: i64,
    /// The stored working calendar, if one was put.
    pub calendar: Option<WorkingCalendar>,
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
    let (mut policy, policy_version) = policy.unwrap_or_else(|| (DeadlinePolicy::default(), 0));
    // The setting's version is the policy's: every ticket taken in records it.
    policy.version = policy_version;
    let calendar = match load::<CalendarSpec>(store, CALENDAR).await? {
        Some((spec, _)) => Some(
            WorkingCalendar::from_spec(&spec)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored calendar: {e}")))?,
        ),
        None => None,
    };
    let taxonomy = match load::<Vec<TaxonomyEntry>>(store, TAXONOMY).await? {
        Some((entries, version)) => Some((
            Taxonomy::new(entries)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored taxonomy: {e}")))?,
            version,
        )),
        None => None,
    };
    Ok(Loaded {
        taxonomy,
        rules: rules.unwrap_or_default(),
        policy,
        policy_version,
        calendar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_calendar_round_trips_through_its_document() {
        let china = WorkingCalendar::china_default();
        let doc = CalendarDoc::of(&china);
        assert!(doc.violations().is_empty());
        assert!(
            doc.days.len() > 20,
            "the shipped holidays travel with the document"
        );
        let rebuilt = doc.to_calendar().expect("the shipped calendar is valid");
        assert_eq!(rebuilt.to_spec(), china.to_spec());
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
