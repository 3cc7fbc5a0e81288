//! The calendar file: a line format an administrator edits by hand, one entry
//! a line, with comments (see [`WorkingCalendar::parse`]).

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::{
    CalendarProblem, DEFAULT_HOURS, DEFAULT_TIME_ZONE, FirstListed, Interval, Listed,
    WorkingCalendar, check_name, check_order, parse_date, parse_interval, resolve_zone,
};

/// Longest date range one line may list, in days.
const MAX_RANGE_DAYS: i64 = 366;

/// A calendar file that does not parse: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct CalendarParseError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: CalendarProblem,
}

/// What the parser has read so far.
#[derive(Debug, Default)]
struct Reading {
    /// The zone's canonical name and the zone, once set.
    zone: Option<(String, jiff::tz::TimeZone)>,
    /// The working hours, once set.
    hours: Option<Vec<Interval>>,
    /// Listed dates, each with the line that listed it.
    days: BTreeMap<Date, (Listed, usize)>,
}

/// Parses a calendar file; see [`WorkingCalendar::parse`].
pub(super) fn parse(text: &str) -> Result<WorkingCalendar, CalendarParseError> {
    let mut reading = Reading::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = strip_comment(raw).trim();
        if content.is_empty() {
            continue;
        }
        reading
            .line(content, line)
            .map_err(|problem| CalendarParseError { line, problem })?;
    }
    let (zone_name, zone) = match reading.zone {
        Some(found) => found,
        None => resolve_zone(DEFAULT_TIME_ZONE)
            .map_err(|problem| CalendarParseError { line: 1, problem })?,
    };
    Ok(WorkingCalendar {
        zone_name,
        zone,
        hours: reading.hours.unwrap_or_else(|| DEFAULT_HOURS.to_vec()),
        days: reading
            .days
            .into_iter()
            .map(|(date, (listed, _))| (date, listed))
            .collect(),
    })
}

impl Reading {
    /// Reads one non-empty line with its comment removed.
    fn line(&mut self, content: &str, line: usize) -> Result<(), CalendarProblem> {
        let (head, rest) = split_word(content);
        match head {
            "time_zone" => {
                if self.zone.is_some() {
                    return Err(CalendarProblem::DuplicateSetting("time_zone"));
                }
                if rest.is_empty() {
                    return Err(CalendarProblem::MissingValue("time_zone"));
                }
                self.zone = Some(resolve_zone(rest)?);
            }
            "working_hours" => {
                if self.hours.is_some() {
                    return Err(CalendarProblem::DuplicateSetting("working_hours"));
                }
                self.hours = Some(working_hours(rest)?);
            }
            _ if head.starts_with(|c: char| c.is_ascii_digit()) => self.day(head, rest, line)?,
            _ => return Err(CalendarProblem::UnknownLine(content.to_owned())),
        }
        Ok(())
    }

    /// Reads `DATE[..DATE] holiday|workday NAME`, `dates` being the first word.
    fn day(&mut self, dates: &str, rest: &str, line: usize) -> Result<(), CalendarProblem> {
        let (first, last) = match dates.split_once("..") {
            Some((first, last)) => (parse_date(first)?, parse_date(last)?),
            None => {
                let date = parse_date(dates)?;
                (date, date)
            }
        };
        let span = first.duration_until(last).as_hours() / 24;
        if !(0..MAX_RANGE_DAYS).contains(&span) {
            return Err(CalendarProblem::BadRange(dates.to_owned()));
        }
        let (kind, name) = split_word(rest);
        let working = match kind {
            "holiday" => false,
            "workday" => true,
            "" => {
                return Err(CalendarProblem::MissingValue(
                    "a day line's holiday|workday",
                ));
            }
            other => return Err(CalendarProblem::BadDayKind(other.to_owned())),
        };
        check_name(name)?;
        let mut date = first;
        loop {
            if let Some((_, first_line)) = self.days.get(&date) {
                return Err(CalendarProblem::DuplicateDate {
                    date,
                    first: FirstListed::Line(*first_line),
                });
            }
            let listed = Listed {
                working,
                name: name.to_owned(),
            };
            self.days.insert(date, (listed, line));
            if date >= last {
                return Ok(());
            }
            date = date
                .tomorrow()
                .map_err(|_| CalendarProblem::BadRange(dates.to_owned()))?;
        }
    }
}

/// Reads `HH:MM-HH:MM ...` (separated by spaces or commas).
fn working_hours(text: &str) -> Result<Vec<Interval>, CalendarProblem> {
    let mut hours = Vec::new();
    for word in text.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
        let Some((start, end)) = word.split_once('-') else {
            return Err(CalendarProblem::BadWorkingHours(word.to_owned()));
        };
        hours.push(parse_interval(start, end)?);
    }
    check_order(&hours).map_err(|(_, problem)| problem)?;
    Ok(hours)
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((head, rest)) => (head, rest.trim()),
        None => (text, ""),
    }
}

/// Removes a comment: `#` at the start of the line or after whitespace.
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (at, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return &line[..at];
        }
        previous_is_space = c.is_whitespace();
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::calendar::DayKind;

    /// Returns the error of a file that must not parse.
    fn error_of(text: &str) -> CalendarParseError {
        WorkingCalendar::parse(text).expect_err("must not parse")
    }

    #[test]
    fn a_file_of_settings_ranges_and_comments_parses() {
        let text = "\u{feff}# heading\n\
                    time_zone Europe/Berlin   # trailing comment\n\
                    working_hours 08:00-12:00, 13:00-16:00\r\n\
                    \n\
                    2026-12-24..2026-12-26 holiday Weihnachten #2\n\
                    2026-12-19 workday Brückentag ausgleich\n";
        let calendar = WorkingCalendar::parse(text).unwrap();
        assert_eq!(calendar.time_zone_name(), "Europe/Berlin");
        assert_eq!(calendar.daily_working_time().as_hours(), 7);
        assert_eq!(
            calendar.day_kind(date(2026, 12, 25)),
            DayKind::Holiday("Weihnachten".to_owned())
        );
        assert_eq!(
            calendar.day_kind(date(2026, 12, 19)),
            DayKind::MakeUpWorkday("Brückentag ausgleich".to_owned())
        );
        assert_eq!(calendar.day_kind(date(2026, 12, 27)), DayKind::Weekend);
    }

    #[test]
    fn an_empty_file_is_plain_weeks_in_shanghai_with_default_hours() {
        let calendar = WorkingCalendar::parse("").unwrap();
        assert_eq!(calendar, WorkingCalendar::weekdays("Asia/Shanghai"));
        assert!(!calendar.lists_any_day());
    }

    #[test]
    fn names_may_be_empty_and_hold_hashes_without_a_space() {
        let calendar =
            WorkingCalendar::parse("2026-10-01 holiday\n2026-10-02 holiday 国庆#2\n").unwrap();
        assert_eq!(
            calendar.day_kind(date(2026, 10, 1)),
            DayKind::Holiday(String::new())
        );
        assert_eq!(
            calendar.day_kind(date(2026, 10, 2)),
            DayKind::Holiday("国庆#2".to_owned())
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: [(&str, usize, &str); 14] = [
            (
                "time_zone Mars/Olympus",
                1,
                "unknown time zone \"Mars/Olympus\"",
            ),
            ("time_zone", 1, "time_zone needs a value"),
            (
                "time_zone Asia/Shanghai\ntime_zone UTC",
                2,
                "time_zone is set twice",
            ),
            ("\nworking_hours 9:00-12:00", 2, "are not HH:MM-HH:MM"),
            (
                "working_hours 12:00-09:00",
                1,
                "do not end after they start",
            ),
            ("working_hours 09:00-12:00 11:00-13:00", 1, "overlap"),
            ("working_hours", 1, "no working hours"),
            ("# x\n\n2026-02-30 holiday 春节", 3, "not a date"),
            ("2026-2-3 holiday x", 1, "not a date"),
            (
                "2026-02-23..2026-02-15 holiday 春节",
                1,
                "ends before it starts",
            ),
            ("2026-01-01..2027-06-01 holiday x", 1, "more than 366 days"),
            (
                "2026-02-14 work 春节调休",
                1,
                "\"work\" is neither holiday nor workday",
            ),
            (
                "2026-02-15..2026-02-23 holiday 春节\n2026-02-17 workday x",
                2,
                "2026-02-17 is listed twice (first on line 1)",
            ),
            ("holidays 2026-02-15", 1, "unrecognised line"),
        ];
        for (text, line, needle) in cases {
            let error = error_of(text);
            assert_eq!(error.line, line, "{text}: {error}");
            let shown = error.to_string();
            assert!(shown.starts_with(&format!("line {line}: ")), "{shown}");
            assert!(shown.contains(needle), "{text}: {shown}");
        }
    }

    #[test]
    fn overlong_names_are_refused() {
        let text = format!("2026-10-01 holiday {}", "节".repeat(65));
        assert_eq!(error_of(&text).problem, CalendarProblem::NameTooLong);
    }

    #[test]
    fn comments_start_only_at_a_word() {
        assert_eq!(strip_comment("a #b"), "a ");
        assert_eq!(strip_comment("#a"), "");
        assert_eq!(strip_comment("a#b"), "a#b");
        assert_eq!(strip_comment("节日\t# 注"), "节日\t");
    }
}
