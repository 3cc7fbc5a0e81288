//! The calendar's definition as data: what the server stores as a setting and
//! what the API's `Calendar { time_zone, working_hours, days }` carries.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{
    CalendarProblem, FirstListed, Listed, WorkingCalendar, check_name, check_order, format_clock,
    parse_date, parse_interval, resolve_zone,
};

/// The definition of a working calendar, field for field the API's `Calendar`.
///
/// Times and dates are text, as in the API, so that a definition always
/// deserializes and [`WorkingCalendar::from_spec`] can name every bad field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// IANA time zone of the center, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    /// Working hours of a working day, in order and not overlapping.
    pub working_hours: Vec<WorkingIntervalSpec>,
    /// Holidays and make-up working days; other dates follow the
    /// Monday-to-Friday week.
    #[serde(default)]
    pub days: Vec<CalendarDaySpec>,
}

/// One span of working hours, local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingIntervalSpec {
    /// Start, `HH:MM`, e.g. `09:00`.
    pub start: String,
    /// End, `HH:MM` after the start (`24:00` allowed), e.g. `12:00`.
    pub end: String,
}

/// One date that departs from the Monday-to-Friday week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDaySpec {
    /// The date, `YYYY-MM-DD`.
    pub date: String,
    /// True for a make-up working day (调休), false for a day off.
    #[serde(default)]
    pub working: bool,
    /// What the day is, e.g. `春节` or `春节调休`.
    #[serde(default)]
    pub name: String,
}

/// One bad field of a [`CalendarSpec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct CalendarViolation {
    /// The field's path in the spec: `time_zone`, `working_hours[1]`,
    /// `days[3].date`, `days[3].name`.
    pub field: String,
    /// What is wrong with it.
    pub problem: CalendarProblem,
}

/// A [`CalendarSpec`] that does not define a calendar: every bad field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CalendarSpecError {
    /// The bad fields, in field order; never empty.
    pub violations: Vec<CalendarViolation>,
}

impl fmt::Display for CalendarSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid calendar: ")?;
        for (index, violation) in self.violations.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

/// Builds a calendar from its definition; see [`WorkingCalendar::from_spec`].
pub(super) fn from_spec(spec: &CalendarSpec) -> Result<WorkingCalendar, CalendarSpecError> {
    let mut violations = Vec::new();
    let mut violation =
        |field: String, problem| violations.push(CalendarViolation { field, problem });

    let zone = match resolve_zone(&spec.time_zone) {
        Ok(found) => Some(found),
        Err(problem) => {
            violation("time_zone".to_owned(), problem);
            None
        }
    };

    let mut hours = Vec::new();
    let mut hours_valid = true;
    for (index, interval) in spec.working_hours.iter().enumerate() {
        match parse_interval(interval.start.trim(), interval.end.trim()) {
            Ok(parsed) => hours.push(parsed),
            Err(problem) => {
                hours_valid = false;
                violation(format!("working_hours[{index}]"), problem);
            }
        }
    }
    if hours_valid && let Err((index, problem)) = check_order(&hours) {
        let field = if spec.working_hours.is_empty() {
            "working_hours".to_owned()
        } else {
            format!("working_hours[{index}]")
        };
        violation(field, problem);
    }

    let mut days = BTreeMap::new();
    let mut first_index = BTreeMap::new();
    for (index, day) in spec.days.iter().enumerate() {
        let date = match parse_date(day.date.trim()) {
            Ok(date) => match first_index.get(&date) {
                Some(&first) => {
                    let first = FirstListed::Day(first);
                    let problem = CalendarProblem::DuplicateDate { date, first };
                    violation(format!("days[{index}].date"), problem);
                    None
                }
                None => {
                    first_index.insert(date, index);
                    Some(date)
                }
            },
            Err(problem) => {
                violation(format!("days[{index}].date"), problem);
                None
            }
        };
        let name = day.name.trim();
        if let Err(problem) = check_name(name) {
            violation(format!("days[{index}].name"), problem);
        }
        let Some(date) = date else {
            continue;
        };
        days.insert(
            date,
            Listed {
                working: day.working,
                name: name.to_owned(),
            },
        );
    }

    match zone {
        Some((zone_name, zone)) if violations.is_empty() => Ok(WorkingCalendar {
            zone_name,
            zone,
            hours,
            days,
        }),
        _ => Err(CalendarSpecError { violations }),
    }
}

/// Returns the definition of a calendar; see [`WorkingCalendar::to_spec`].
pub(super) fn to_spec(calendar: &WorkingCalendar) -> CalendarSpec {
    CalendarSpec {
        time_zone: calendar.zone_name.clone(),
        working_hours: calendar
            .hours
            .iter()
            .map(|interval| WorkingIntervalSpec {
                start: format_clock(interval.start),
                end: format_clock(interval.end),
            })
            .collect(),
        days: calendar
            .days
            .iter()
            .map(|(date, listed): (&Date, &Listed)| CalendarDaySpec {
                date: date.to_string(),
                working: listed.working,
                name: listed.name.clone(),
            })
            .collect(),
    }
}

impl TryFrom<CalendarSpec> for WorkingCalendar {
    type Error = CalendarSpecError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        from_spec(&spec)
    }
}

impl From<WorkingCalendar> for CalendarSpec {
    fn from(calendar: WorkingCalendar) -> Self {
        to_spec(&calendar)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Returns a valid spec to spoil.
    fn spec() -> CalendarSpec {
        serde_json::from_str(
            r#"{
                "time_zone": "Asia/Shanghai",
                "working_hours": [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "17:30"}],
                "days": [
                    {"date": "2026-10-01", "working": false, "name": "国庆节"},
                    {"date": "2026-10-10", "working": true, "name": "国庆节调休"},
                    {"date": "2026-10-02"}
                ]
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn the_shipped_calendar_round_trips_through_its_spec_and_json() {
        let calendar = WorkingCalendar::china_default();
        let spec = calendar.to_spec();
        assert_eq!(spec.working_hours[1].start, "13:30");
        assert!(
            spec.days
                .iter()
                .any(|d| d.date == "2026-02-14" && d.working)
        );
        assert_eq!(WorkingCalendar::from_spec(&spec).unwrap(), calendar);
        let json = serde_json::to_string(&calendar).unwrap();
        let back: WorkingCalendar = serde_json::from_str(&json).unwrap();
        assert_eq!(back, calendar);
        assert_eq!(serde_json::to_string(&spec).unwrap(), json);
    }

    #[test]
    fn missing_working_flags_and_names_default_to_an_unnamed_day_off() {
        let calendar = WorkingCalendar::from_spec(&spec()).unwrap();
        let day = &calendar.to_spec().days[1];
        assert_eq!(
            (day.date.as_str(), day.working, day.name.as_str()),
            ("2026-10-02", false, "")
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut bad = spec();
        bad.time_zone = "Mars/Olympus".to_owned();
        bad.working_hours[1].end = "25:00".to_owned();
        bad.days[1].date = "2026-10-01".to_owned();
        bad.days[2].date = "10/02/2026".to_owned();
        bad.days[2].name = "x".repeat(65);
        let error = WorkingCalendar::from_spec(&bad).expect_err("invalid");
        let fields: Vec<&str> = error.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "time_zone",
                "working_hours[1]",
                "days[1].date",
                "days[2].date",
                "days[2].name"
            ]
        );
        assert_eq!(
            error.violations[2].problem.to_string(),
            "2026-10-01 is listed twice (first on days[0])"
        );
        assert!(
            error
                .to_string()
                .starts_with("invalid calendar: time_zone: unknown time zone")
        );
    }

    #[test]
    fn working_hours_must_exist_and_not_overlap() {
        let mut none = spec();
        none.working_hours.clear();
        let error = WorkingCalendar::from_spec(&none).expect_err("no hours");
        assert_eq!(error.violations[0].field, "working_hours");
        assert_eq!(error.violations[0].problem, CalendarProblem::NoWorkingHours);

        let mut overlapping = spec();
        overlapping.working_hours[1].start = "11:00".to_owned();
        let error = WorkingCalendar::from_spec(&overlapping).expect_err("overlap");
        assert_eq!(error.violations[0].field, "working_hours[1]");
    }

    #[test]
    fn a_whole_day_of_working_hours_is_allowed() {
        let mut all_day = spec();
        all_day.working_hours = vec![WorkingIntervalSpec {
            start: "00:00".to_owned(),
            end: "24:00".to_owned(),
        }];
        let calendar = WorkingCalendar::from_spec(&all_day).unwrap();
        assert_eq!(calendar.daily_working_time().as_hours(), 24);
        assert_eq!(calendar.to_spec().working_hours[0].end, "24:00");
    }
}
