//! Time arithmetic for deadlines. Deadlines may run in working time, so the
//! arithmetic goes through a [`Calendar`]: [`AlwaysOpen`] counts every hour,
//! [`WorkingCalendar`] counts only working hours on working days, with public
//! holidays and the make-up working days (调休) of an official schedule.
//!
//! A working calendar is defined by a time zone, the working hours of a working
//! day, and the dates that depart from the Monday-to-Friday week. It is read
//! from a line-oriented data file ([`WorkingCalendar::parse`], the shipped
//! mainland China schedule being [`WorkingCalendar::china_default`]) or from a
//! [`CalendarSpec`], the shape the server stores and the API carries.
//!
//! All arithmetic works on instants: each working interval of a day (say
//! 09:00–12:00 local) is turned into a pair of [`Timestamp`]s through the time
//! zone, so lunch breaks, nights, weekends and holidays are skipped exactly and
//! a daylight-saving change only shortens or lengthens the interval it falls in.
//! Walks over days are capped at [`MAX_WALK_DAYS`], so no input loops forever.

mod spec;
mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{self, TimeZone};
use jiff::{SignedDuration, Timestamp};

pub use self::spec::{
    CalendarDaySpec, CalendarSpec, CalendarSpecError, CalendarViolation, WorkingIntervalSpec,
};
pub use self::text::CalendarParseError;
use crate::policy::Window;

/// Answers "when does a window that starts now end" and "how much of it has run".
pub trait Calendar: Send + Sync + std::fmt::Debug {
    /// Returns the instant at which `window`, started at `from`, ends.
    fn add(&self, from: Timestamp, window: Window) -> Timestamp;

    /// Returns the counted time between two instants (zero when `to <= from`).
    fn elapsed(&self, from: Timestamp, to: Timestamp) -> SignedDuration;

    /// Returns the instant `amount` of counted time after `from` (before it when
    /// `amount` is negative), e.g. to push a deadline back by the working time a
    /// ticket spent suspended.
    fn add_working_time(&self, from: Timestamp, amount: SignedDuration) -> Timestamp;

    /// Returns a value that differs between two calendars whose [`Calendar::elapsed`]
    /// may differ, so a working time computed once can be stored with it and reused
    /// while the calendar is unchanged; `None` when the calendar cannot tell (such
    /// stored times are always computed again).
    fn identity(&self) -> Option<u64> {
        None
    }
}

/// Returns the 64-bit FNV-1a hash of `bytes`: stable across builds and platforms,
/// unlike the standard library's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A calendar that never closes: working hours and days are plain hours and days.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl Calendar for AlwaysOpen {
    fn add(&self, from: Timestamp, window: Window) -> Timestamp {
        from.saturating_add(window.nominal())
            .unwrap_or(Timestamp::MAX)
    }

    fn elapsed(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            SignedDuration::ZERO
        } else {
            to.duration_since(from)
        }
    }

    fn identity(&self) -> Option<u64> {
        Some(fnv1a(b"always open"))
    }

    fn add_working_time(&self, from: Timestamp, amount: SignedDuration) -> Timestamp {
        let bound = if amount.is_negative() {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        };
        from.saturating_add(amount).unwrap_or(bound)
    }
}

/// How many days a walk over the calendar may visit (about a century).
///
/// A window that does not end within this many days of its start ends at
/// [`Timestamp::MAX`] (or [`Timestamp::MIN`] walking backwards), and
/// [`WorkingCalendar::working_time_between`] counts no further than this.
pub const MAX_WALK_DAYS: u32 = 36_600;

/// Longest name of a holiday or make-up day, in characters.
pub const MAX_DAY_NAME_CHARS: usize = 64;

/// The time zone of the shipped calendar and of files that name none.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// The shipped calendar file: mainland China, 2025 and 2026.
pub const CHINA_CALENDAR: &str = include_str!("../data/calendar-cn.txt");

/// Why a date is, or is not, a working day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// A Monday to Friday that no line lists.
    Working,
    /// A Saturday or Sunday that no line lists.
    Weekend,
    /// A listed day off (a public holiday, or a weekday given off in exchange
    /// for a make-up day), with its name, e.g. `春节`.
    Holiday(String),
    /// A listed working day, usually a weekend day worked in exchange (调休),
    /// with its name, e.g. `春节调休`.
    MakeUpWorkday(String),
}

impl DayKind {
    /// Returns whether working time runs on such a day.
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Working | DayKind::MakeUpWorkday(_))
    }
}

/// One span of working hours, in minutes after local midnight (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    /// First working minute.
    start: u16,
    /// First minute after the span; greater than `start`.
    end: u16,
}

impl Interval {
    /// Returns the length of the span on a day without a clock change.
    fn nominal(self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.end - self.start))
    }
}

/// A date that departs from the Monday-to-Friday week.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    /// A make-up working day when true, a day off when false.
    working: bool,
    /// What the day is, e.g. `春节` or `春节调休`; may be empty.
    name: String,
}

/// The default working hours: 09:00–12:00 and 13:30–17:30.
const DEFAULT_HOURS: [Interval; 2] = [
    Interval {
        start: 9 * 60,
        end: 12 * 60,
    },
    Interval {
        start: 13 * 60 + 30,
        end: 17 * 60 + 30,
    },
];

/// A working calendar: working hours on working days, in one time zone.
///
/// Monday to Friday are working days and Saturday and Sunday are not, unless
/// the calendar lists the date as a holiday or a make-up working day. Every
/// working day has the same working hours. Years for which nothing is listed
/// are plain Monday-to-Friday weeks.
///
/// Serializes as its [`CalendarSpec`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct WorkingCalendar {
    /// IANA name of the zone, as the definition gave it (canonical when known).
    zone_name: String,
    /// The zone local times are read in.
    zone: TimeZone,
    /// Working hours of a working day, sorted and disjoint; never empty when
    /// built by a constructor (the arithmetic copes with empty anyway).
    hours: Vec<Interval>,
    /// Holidays and make-up working days.
    days: BTreeMap<Date, Listed>,
}

impl PartialEq for WorkingCalendar {
    fn eq(&self, other: &Self) -> bool {
        self.zone_name == other.zone_name && self.hours == other.hours && self.days == other.days
    }
}

impl Eq for WorkingCalendar {}

impl WorkingCalendar {
    /// Returns the shipped mainland China calendar ([`CHINA_CALENDAR`]):
    /// Asia/Shanghai, 09:00–12:00 and 13:30–17:30, the State Council holiday
    /// schedules for 2025 and 2026.
    pub fn china_default() -> Self {
        static CHINA: LazyLock<WorkingCalendar> = LazyLock::new(|| {
            // The shipped file is checked by a test; should it ever fail to
            // parse, plain weeks are a safer answer than a panic.
            WorkingCalendar::parse(CHINA_CALENDAR)
                .unwrap_or_else(|_| WorkingCalendar::weekdays(DEFAULT_TIME_ZONE))
        });
        CHINA.clone()
    }

    /// Returns a calendar of plain Monday-to-Friday weeks with the default
    /// working hours in `time_zone` (UTC+8 when the name is unknown).
    pub fn weekdays(time_zone: &str) -> Self {
        let (zone_name, zone) = match resolve_zone(time_zone) {
            Ok(found) => found,
            Err(_) => (time_zone.to_owned(), TimeZone::fixed(tz::offset(8))),
        };
        Self {
            zone_name,
            zone,
            hours: DEFAULT_HOURS.to_vec(),
            days: BTreeMap::new(),
        }
    }

    /// Parses a calendar file (the format of `data/calendar-cn.txt`).
    ///
    /// One entry a line; `#` starts a comment at the start of a line or after
    /// whitespace:
    ///
    /// ```text
    /// time_zone Asia/Shanghai                  (default Asia/Shanghai)
    /// working_hours 09:00-12:00 13:30-17:30    (the default)
    /// 2026-02-15..2026-02-23 holiday 春节       (an inclusive range of days off)
    /// 2026-02-14 workday 春节调休               (a make-up working day)
    /// ```
    ///
    /// # Errors
    /// The first problem found, with its 1-based line number: an unknown time
    /// zone, malformed or overlapping working hours, a bad date or range, a
    /// word other than `holiday`/`workday`, a date listed twice.
    pub fn parse(text: &str) -> Result<Self, CalendarParseError> {
        text::parse(text)
    }

    /// Builds a calendar from its stored or transmitted definition.
    ///
    /// # Errors
    /// Every problem found, each naming its field (`time_zone`,
    /// `working_hours[1]`, `days[3].date`, ...).
    pub fn from_spec(spec: &CalendarSpec) -> Result<Self, CalendarSpecError> {
        spec::from_spec(spec)
    }

    /// Returns the definition of this calendar, one entry per listed date, in
    /// date order; [`WorkingCalendar::from_spec`] gives it back unchanged.
    pub fn to_spec(&self) -> CalendarSpec {
        spec::to_spec(self)
    }

    /// Returns the time zone local times are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Returns the IANA name of the time zone.
    pub fn time_zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Returns the local civil date and time of `at` in this calendar's zone.
    pub fn local(&self, at: Timestamp) -> DateTime {
        self.zone.to_datetime(at)
    }

    /// Returns the working time of a working day without a clock change
    /// (7 h with the default hours).
    pub fn daily_working_time(&self) -> SignedDuration {
        self.hours.iter().fold(SignedDuration::ZERO, |sum, i| {
            sum.saturating_add(i.nominal())
        })
    }

    /// Returns whether the calendar lists any holiday or make-up day in `year`;
    /// a year it does not is read as plain Monday-to-Friday weeks.
    pub fn lists_year(&self, year: i16) -> bool {
        let (Ok(first), Ok(last)) = (Date::new(year, 1, 1), Date::new(year, 12, 31)) else {
            return false;
        };
        self.days.range(first..=last).next().is_some()
    }

    /// Returns whether any date at all is listed.
    pub fn lists_any_day(&self) -> bool {
        !self.days.is_empty()
    }

    /// Says whether `date` is a working day, and why.
    pub fn day_kind(&self, date: Date) -> DayKind {
        match self.days.get(&date) {
            Some(Listed {
                working: true,
                name,
            }) => DayKind::MakeUpWorkday(name.clone()),
            Some(Listed {
                working: false,
                name,
            }) => DayKind::Holiday(name.clone()),
            None if is_weekend(date) => DayKind::Weekend,
            None => DayKind::Working,
        }
    }

    /// Returns whether working time runs on `date`.
    pub fn is_working_day(&self, date: Date) -> bool {
        match self.days.get(&date) {
            Some(listed) => listed.working,
            None => !is_weekend(date),
        }
    }

    /// Returns whether `at` lies in working time (intervals are half-open:
    /// 09:00 is working time, 12:00 is not).
    pub fn is_working_time(&self, at: Timestamp) -> bool {
        self.walk_forward(at, |start, _| ControlFlow::Break(start)) == Some(at)
    }

    /// Returns the first instant at or after `from` that lies in working time:
    /// `from` itself during working hours, else the start of the next working
    /// interval ([`Timestamp::MAX`] when none starts within [`MAX_WALK_DAYS`]).
    pub fn next_working_instant(&self, from: Timestamp) -> Timestamp {
        self.walk_forward(from, |start, _| ControlFlow::Break(start))
            .unwrap_or(Timestamp::MAX)
    }

    /// Returns the instant `amount` of working time after `from`, walking the
    /// working intervals; a negative amount walks backwards.
    ///
    /// A zero amount returns `from` unchanged. Otherwise the walk starts at
    /// `from` (or at the next working interval when `from` is outside working
    /// time) and an amount that exactly exhausts an interval ends at the end of
    /// that interval: Friday 16:30 + 1 h is Friday 17:30, not Monday 09:00.
    /// Walking backwards, an exact fit ends at the interval's start. Saturates
    /// at [`Timestamp::MAX`] / [`Timestamp::MIN`] beyond [`MAX_WALK_DAYS`].
    pub fn add_working_time(&self, from: Timestamp, amount: SignedDuration) -> Timestamp {
        if amount.is_zero() {
            return from;
        }
        if amount.is_positive() {
            let mut left = amount;
            self.walk_forward(from, |start, end| {
                let length = start.duration_until(end);
                if left <= length {
                    ControlFlow::Break(start.checked_add(left).unwrap_or(end))
                } else {
                    left = left.saturating_sub(length);
                    ControlFlow::Continue(())
                }
            })
            .unwrap_or(Timestamp::MAX)
        } else {
            let mut left = amount.checked_neg().unwrap_or(SignedDuration::MAX);
            self.walk_backward(from, |start, end| {
                let length = start.duration_until(end);
                if left <= length {
                    ControlFlow::Break(end.checked_sub(left).unwrap_or(start))
                } else {
                    left = left.saturating_sub(length);
                    ControlFlow::Continue(())
                }
            })
            .unwrap_or(Timestamp::MIN)
        }
    }

    /// Returns the instant `days` working days after `from`.
    ///
    /// When `from` is outside working time it first moves to the start of the
    /// next working interval; the result is then the same local time of day on
    /// the `days`-th following working day. Because every working day has the
    /// same working hours, that time of day is always within working hours:
    /// a ticket created on Sunday counts from Monday 09:00 and one working day
    /// later is Tuesday 09:00; one created at 12:10 counts from 13:30. (Only a
    /// daylight-saving gap can move the result, forwards, by the gap.) Zero
    /// days return `from` unchanged; the result saturates at
    /// [`Timestamp::MAX`] beyond [`MAX_WALK_DAYS`].
    pub fn add_working_days(&self, from: Timestamp, days: u32) -> Timestamp {
        if days == 0 {
            return from;
        }
        let Some(start) = self.walk_forward(from, |start, _| ControlFlow::Break(start)) else {
            return Timestamp::MAX;
        };
        let local = self.zone.to_datetime(start);
        let mut date = local.date();
        let mut left = days;
        for _ in 0..MAX_WALK_DAYS {
            let Ok(next) = date.tomorrow() else {
                return Timestamp::MAX;
            };
            date = next;
            if self.is_working_day(date) {
                left -= 1;
                if left == 0 {
                    return self
                        .zone
                        .to_timestamp(date.to_datetime(local.time()))
                        .unwrap_or(Timestamp::MAX);
                }
            }
        }
        Timestamp::MAX
    }

    /// Returns the working time between `from` and `to`: zero when
    /// `to <= from`, and counting at most [`MAX_WALK_DAYS`] days from `from`.
    pub fn working_time_between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            return SignedDuration::ZERO;
        }
        let mut total = SignedDuration::ZERO;
        self.walk_forward(from, |start, end| {
            if start >= to {
                return ControlFlow::Break(());
            }
            total = total.saturating_add(start.duration_until(end.min(to)));
            if end >= to {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        total
    }

    /// Returns the working intervals of `date` as instants, in order; none on
    /// a day off. An interval a clock change empties is left out.
    fn intervals_on(
        &self,
        date: Date,
    ) -> impl DoubleEndedIterator<Item = (Timestamp, Timestamp)> + '_ {
        let working = self.is_working_day(date);
        self.hours
            .iter()
            .filter(move |_| working)
            .filter_map(move |interval| {
                let start = self.instant(date, interval.start)?;
                let end = self.instant(date, interval.end)?;
                (start < end).then_some((start, end))
            })
    }

    /// Returns the instant of `minute` minutes after local midnight of `date`
    /// (a time skipped by a clock change resolves to the later instant).
    fn instant(&self, date: Date, minute: u16) -> Option<Timestamp> {
        let civil = date
            .to_datetime(Time::midnight())
            .checked_add(SignedDuration::from_mins(i64::from(minute)))
            .ok()?;
        self.zone.to_timestamp(civil).ok()
    }

    /// Calls `visit` with each stretch of working time after `from`, in order,
    /// the first clipped to start at `from`, until it breaks; `None` when no
    /// stretch breaks within [`MAX_WALK_DAYS`] or the dates run out.
    fn walk_forward<B>(
        &self,
        from: Timestamp,
        mut visit: impl FnMut(Timestamp, Timestamp) -> ControlFlow<B>,
    ) -> Option<B> {
        let first = self.local_date(from);
        let mut date = first.yesterday().unwrap_or(first);
        for _ in 0..MAX_WALK_DAYS {
            for (start, end) in self.intervals_on(date) {
                if end <= from {
                    continue;
                }
                if let ControlFlow::Break(found) = visit(start.max(from), end) {
                    return Some(found);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Calls `visit` with each stretch of working time before `from`, latest
    /// first, the first clipped to end at `from`, until it breaks; `None` when
    /// no stretch breaks within [`MAX_WALK_DAYS`] or the dates run out.
    fn walk_backward<B>(
        &self,
        from: Timestamp,
        mut visit: impl FnMut(Timestamp, Timestamp) -> ControlFlow<B>,
    ) -> Option<B> {
        let last = self.local_date(from);
        let mut date = last.tomorrow().unwrap_or(last);
        for _ in 0..MAX_WALK_DAYS {
            for (start, end) in self.intervals_on(date).rev() {
                if start >= from {
                    continue;
                }
                if let ControlFlow::Break(found) = visit(start, end.min(from)) {
                    return Some(found);
                }
            }
            date = date.yesterday().ok()?;
        }
        None
    }

    /// Returns the local date of an instant.
    fn local_date(&self, at: Timestamp) -> Date {
        self.zone.to_datetime(at).date()
    }
}

impl Calendar for WorkingCalendar {
    fn add(&self, from: Timestamp, window: Window) -> Timestamp {
        match window {
            Window::Calendar { .. } => from
                .saturating_add(window.nominal())
                .unwrap_or(Timestamp::MAX),
            Window::WorkingHours { hours } => WorkingCalendar::add_working_time(
                self,
                from,
                SignedDuration::from_hours(hours.into()),
            ),
            Window::WorkingDays { days } => self.add_working_days(from, days),
        }
    }

    fn elapsed(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        self.working_time_between(from, to)
    }

    fn add_working_time(&self, from: Timestamp, amount: SignedDuration) -> Timestamp {
        WorkingCalendar::add_working_time(self, from, amount)
    }

    /// The hash of its spec: zone, hours and listed days are all `elapsed` reads.
    fn identity(&self) -> Option<u64> {
        serde_json::to_vec(&self.to_spec())
            .ok()
            .map(|spec| fnv1a(&spec))
    }
}

impl fmt::Display for DayKind {
    /// Writes `weekday`, `weekend`, `holiday (春节)` or `make-up workday (春节调休)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (label, name) = match self {
            DayKind::Working => ("weekday", ""),
            DayKind::Weekend => ("weekend", ""),
            DayKind::Holiday(name) => ("holiday", name.as_str()),
            DayKind::MakeUpWorkday(name) => ("make-up workday", name.as_str()),
        };
        if name.is_empty() {
            f.write_str(label)
        } else {
            write!(f, "{label} ({name})")
        }
    }
}

/// Returns whether `date` is a Saturday or a Sunday.
fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Looks up an IANA zone, returning its canonical name when it has one.
fn resolve_zone(name: &str) -> Result<(String, TimeZone), CalendarProblem> {
    let name = name.trim();
    let zone =
        TimeZone::get(name).map_err(|_| CalendarProblem::UnknownTimeZone(name.to_owned()))?;
    let canonical = zone.iana_name().unwrap_or(name).to_owned();
    Ok((canonical, zone))
}

/// Parses `HH:MM` into minutes after midnight; `24:00` only when `end`.
fn parse_clock(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let valid = m < 60 && (h < 24 || (end && h == 24 && m == 0));
    valid.then_some(h * 60 + m)
}

/// Formats minutes after midnight as `HH:MM` (`24:00` for 1440).
fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Parses one working interval from its two ends.
fn parse_interval(start: &str, end: &str) -> Result<Interval, CalendarProblem> {
    let shown = || format!("{start}-{end}");
    let (Some(from), Some(to)) = (parse_clock(start, false), parse_clock(end, true)) else {
        return Err(CalendarProblem::BadWorkingHours(shown()));
    };
    if from >= to {
        return Err(CalendarProblem::EmptyWorkingHours(shown()));
    }
    Ok(Interval {
        start: from,
        end: to,
    })
}

/// Parses a date written exactly `YYYY-MM-DD`.
fn parse_date(text: &str) -> Result<Date, CalendarProblem> {
    let bad = || CalendarProblem::BadDate(text.to_owned());
    if text.len() != 10 {
        return Err(bad());
    }
    text.parse::<Date>().map_err(|_| bad())
}

/// Checks a day's name.
fn check_name(name: &str) -> Result<(), CalendarProblem> {
    if name.chars().count() > MAX_DAY_NAME_CHARS {
        return Err(CalendarProblem::NameTooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(CalendarProblem::ControlCharacter);
    }
    Ok(())
}

/// Where a date was listed first, for duplicate reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstListed {
    /// On this 1-based line of a calendar file.
    Line(usize),
    /// At this index of [`CalendarSpec::days`].
    Day(usize),
}

impl fmt::Display for FirstListed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirstListed::Line(line) => write!(f, "line {line}"),
            FirstListed::Day(index) => write!(f, "days[{index}]"),
        }
    }
}

/// What is wrong with one part of a calendar definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarProblem {
    /// The time zone is not in the time zone database.
    #[error("unknown time zone {0:?}: use an IANA name such as Asia/Shanghai")]
    UnknownTimeZone(String),
    /// Working hours are not `HH:MM-HH:MM`.
    #[error("working hours {0:?} are not HH:MM-HH:MM (00:00 to 24:00)")]
    BadWorkingHours(String),
    /// Working hours end at or before their start.
    #[error("working hours {0:?} do not end after they start")]
    EmptyWorkingHours(String),
    /// Working hours overlap or are out of order.
    #[error("working hours {0:?} overlap or precede the interval before them")]
    OverlappingWorkingHours(String),
    /// No working hours at all.
    #[error("no working hours: a working day needs at least one interval")]
    NoWorkingHours,
    /// A date is not `YYYY-MM-DD`.
    #[error("{0:?} is not a date YYYY-MM-DD")]
    BadDate(String),
    /// A date range ends before it starts or is implausibly long.
    #[error("date range {0:?} ends before it starts or spans more than 366 days")]
    BadRange(String),
    /// A day line's second word is neither `holiday` nor `workday`.
    #[error("{0:?} is neither holiday nor workday")]
    BadDayKind(String),
    /// A date is listed twice.
    #[error("{date} is listed twice (first on {first})")]
    DuplicateDate {
        /// The date.
        date: Date,
        /// Where it was listed first.
        first: FirstListed,
    },
    /// A day's name is too long.
    #[error("the day's name is longer than {MAX_DAY_NAME_CHARS} characters")]
    NameTooLong,
    /// A day's name holds a control character.
    #[error("the day's name holds a control character")]
    ControlCharacter,
    /// A setting line appears twice.
    #[error("{0} is set twice")]
    DuplicateSetting(&'static str),
    /// A setting line has no value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A line that is no setting and starts with no date.
    #[error(
        "unrecognised line {0:?}: expected `time_zone NAME`, `working_hours HH:MM-HH:MM ...` \
         or `YYYY-MM-DD[..YYYY-MM-DD] holiday|workday NAME`"
    )]
    UnknownLine(String),
}

/// Checks that working hours are present, sorted and disjoint; on failure,
/// returns the index of the culprit with the problem.
fn check_order(hours: &[Interval]) -> Result<(), (usize, CalendarProblem)> {
    if hours.is_empty() {
        return Err((0, CalendarProblem::NoWorkingHours));
    }
    for (index, pair) in hours.windows(2).enumerate() {
        if pair[1].start < pair[0].end {
            let shown = format!(
                "{}-{}",
                format_clock(pair[1].start),
                format_clock(pair[1].end)
            );
            return Err((index + 1, CalendarProblem::OverlappingWorkingHours(shown)));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn always_open_counts_working_days_as_whole_days() {
        let start: Timestamp = "2026-01-05T01:00:00Z".parse().unwrap();
        let end = AlwaysOpen.add(start, Window::WorkingDays { days: 5 });
        assert_eq!(end, "2026-01-10T01:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(
            AlwaysOpen.elapsed(start, end),
            SignedDuration::from_hours(120)
        );
        assert_eq!(AlwaysOpen.elapsed(end, start), SignedDuration::ZERO);
        assert_eq!(
            AlwaysOpen.add_working_time(end, SignedDuration::from_hours(-120)),
            start
        );
    }

    #[test]
    fn the_shipped_file_parses() {
        let calendar = WorkingCalendar::parse(CHINA_CALENDAR).unwrap();
        assert_eq!(calendar, WorkingCalendar::china_default());
        assert_eq!(calendar.time_zone_name(), "Asia/Shanghai");
        assert_eq!(calendar.hours, DEFAULT_HOURS.to_vec());
        assert!(calendar.lists_year(2025) && calendar.lists_year(2026));
        assert!(!calendar.lists_year(2027));
    }

    #[test]
    fn clocks_parse_strictly() {
        assert_eq!(parse_clock("09:00", false), Some(540));
        assert_eq!(parse_clock("24:00", true), Some(1440));
        assert_eq!(parse_clock("24:00", false), None);
        for bad in [
            "9:00", "09:60", "25:00", "24:01", "0900", "+9:00", "09:0a", "",
        ] {
            assert_eq!(parse_clock(bad, true), None, "{bad}");
        }
        assert_eq!(format_clock(1440), "24:00");
        assert_eq!(format_clock(13 * 60 + 30), "13:30");
    }

    #[test]
    fn a_calendar_without_working_hours_saturates_instead_of_looping() {
        let mut calendar = WorkingCalendar::weekdays("Asia/Shanghai");
        calendar.hours.clear();
        let t: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
        assert_eq!(
            calendar.add(t, Window::WorkingHours { hours: 1 }),
            Timestamp::MAX
        );
        assert_eq!(
            calendar.add(t, Window::WorkingDays { days: 1 }),
            Timestamp::MAX
        );
        assert_eq!(
            calendar.add_working_time(t, SignedDuration::from_hours(-1)),
            Timestamp::MIN
        );
        assert_eq!(calendar.elapsed(t, Timestamp::MAX), SignedDuration::ZERO);
        assert!(!calendar.is_working_time(t));
    }

    #[test]
    fn walks_at_the_ends_of_time_saturate() {
        let calendar = WorkingCalendar::china_default();
        let late: Timestamp = "9999-12-30T00:00:00Z".parse().unwrap();
        assert_eq!(
            calendar.add(late, Window::WorkingDays { days: 5 }),
            Timestamp::MAX
        );
        assert_eq!(
            calendar.add(late, Window::WorkingHours { hours: 100 }),
            Timestamp::MAX
        );
        assert_eq!(
            calendar.add(Timestamp::MAX, Window::Calendar { minutes: 10 }),
            Timestamp::MAX
        );
        let early: Timestamp = "-009999-01-03T00:00:00Z".parse().unwrap();
        assert_eq!(
            calendar.add_working_time(early, SignedDuration::from_hours(-100)),
            Timestamp::MIN
        );
        let huge = calendar.add(
            "2026-01-05T01:00:00Z".parse().unwrap(),
            Window::WorkingHours { hours: u32::MAX },
        );
        assert_eq!(huge, Timestamp::MAX);
        let days = calendar.add(
            "2026-01-05T01:00:00Z".parse().unwrap(),
            Window::WorkingDays { days: u32::MAX },
        );
        assert_eq!(days, Timestamp::MAX);
    }

    #[test]
    fn day_kinds_print_their_reason() {
        assert_eq!(DayKind::Working.to_string(), "weekday");
        assert_eq!(DayKind::Weekend.to_string(), "weekend");
        assert_eq!(
            DayKind::Holiday("春节".to_owned()).to_string(),
            "holiday (春节)"
        );
        assert_eq!(
            DayKind::MakeUpWorkday("春节调休".to_owned()).to_string(),
            "make-up workday (春节调休)"
        );
        assert_eq!(DayKind::Holiday(String::new()).to_string(), "holiday");
    }

    #[test]
    fn unknown_zones_fall_back_to_utc_plus_eight_for_plain_weeks() {
        let calendar = WorkingCalendar::weekdays("Mars/Olympus");
        let t: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
        assert_eq!(calendar.local(t).date(), date(2026, 3, 2));
        assert_eq!(calendar.local(t).time(), Time::constant(9, 0, 0, 0));
    }
}
