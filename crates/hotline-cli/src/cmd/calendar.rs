//! `hotline calendar`: working-calendar arithmetic on this machine, no server
//! needed. `add` says when a deadline window ends, `elapsed` how much working
//! time lies between two times, `day` whether a date is a working day and why,
//! and `default-file` prints the shipped calendar for an administrator to extend.
//! They use the shipped mainland China calendar unless `--calendar FILE` (or
//! `HOTLINE_CALENDAR`) names another.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use hotline_core::{CHINA_CALENDAR, Calendar as _, CalendarSpec, DayKind, Window, WorkingCalendar};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use serde_json::{Value, json};

use crate::output::{Format, print_json};

/// Text shown after `hotline calendar --help`.
const AFTER_HELP: &str = "\
Times are RFC 3339 or local \"YYYY-MM-DD HH:MM\" in the calendar's time zone.
Calendar files: the line format of the shipped calendar (`hotline calendar
default-file` prints it, to copy and extend), or JSON/TOML (.json, .toml) shaped
like the \"calendar\" that `hotline admin calendar get --json` prints.";

/// `hotline calendar ...`.
#[derive(Debug, Subcommand)]
#[command(after_help = AFTER_HELP)]
pub enum CalendarCommand {
    /// Print when a window started at --from ends, as local YYYY-MM-DD HH:MM
    Add(AddArgs),
    /// Print the working hours between two times, as a decimal (e.g. 3.25)
    Elapsed(ElapsedArgs),
    /// Say whether a date is a working day, and why
    Day(DayArgs),
    /// Print the shipped calendar file (mainland China), to copy and extend
    DefaultFile,
}

/// The calendar to compute with.
#[derive(Debug, Args)]
pub struct CalendarFile {
    /// Calendar file (- for stdin) [default: the shipped mainland China calendar]
    #[arg(
        long = "calendar",
        value_name = "FILE",
        env = "HOTLINE_CALENDAR",
        hide_env_values = true
    )]
    pub path: Option<PathBuf>,
}

/// `calendar add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Start of the window
    #[arg(long, value_name = "TIME", value_parser = parse_time_input)]
    pub from: TimeInput,

    /// How long the window is
    #[command(flatten)]
    pub amount: Amount,

    /// The calendar to count in
    #[command(flatten)]
    pub calendar: CalendarFile,
}

/// Exactly one window length.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Amount {
    /// Working hours: walks the working intervals
    #[arg(long, value_name = "H")]
    pub working_hours: Option<u32>,

    /// Working days: the same time of day on the Dth following working day
    #[arg(long, value_name = "D")]
    pub working_days: Option<u32>,

    /// Wall-clock hours, nights and holidays included
    #[arg(long, value_name = "H")]
    pub hours: Option<u32>,
}

impl Amount {
    /// Returns the deadline window these flags describe.
    fn window(&self) -> anyhow::Result<Window> {
        match (self.working_hours, self.working_days, self.hours) {
            (Some(hours), _, _) => Ok(Window::WorkingHours { hours }),
            (_, Some(days), _) => Ok(Window::WorkingDays { days }),
            (_, _, Some(hours)) => {
                let minutes = hours
                    .checked_mul(60)
                    .with_context(|| format!("--hours {hours} is too large"))?;
                Ok(Window::Calendar { minutes })
            }
            (None, None, None) => bail!("give --working-hours, --working-days or --hours"),
        }
    }
}

/// `calendar elapsed`.
#[derive(Debug, Args)]
pub struct ElapsedArgs {
    /// Start
    #[arg(long, value_name = "TIME", value_parser = parse_time_input)]
    pub from: TimeInput,

    /// End
    #[arg(long, value_name = "TIME", value_parser = parse_time_input)]
    pub to: TimeInput,

    /// The calendar to count in
    #[command(flatten)]
    pub calendar: CalendarFile,
}

/// `calendar day`.
#[derive(Debug, Args)]
pub struct DayArgs {
    /// The date, YYYY-MM-DD
    #[arg(value_name = "DATE", value_parser = parse_date)]
    pub date: Date,

    /// The calendar to look in
    #[command(flatten)]
    pub calendar: CalendarFile,
}

/// A time as typed: an instant, or a local time read in the calendar's zone
/// once the calendar is known.
#[derive(Debug, Clone, Copy)]
pub enum TimeInput {
    /// RFC 3339 with an offset or `Z`.
    Instant(Timestamp),
    /// `YYYY-MM-DD HH:MM[:SS]`, with a space or `T`, or a bare date (midnight).
    Local(DateTime),
}

impl TimeInput {
    /// Returns the instant, reading a local time in `calendar`'s zone (a time
    /// skipped by a clock change resolves to the later instant).
    fn resolve(self, calendar: &WorkingCalendar) -> anyhow::Result<Timestamp> {
        match self {
            TimeInput::Instant(ts) => Ok(ts),
            TimeInput::Local(civil) => calendar
                .time_zone()
                .to_timestamp(civil)
                .with_context(|| format!("{civil} is out of range")),
        }
    }
}

/// Parses a time for clap.
fn parse_time_input(text: &str) -> anyhow::Result<TimeInput> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(TimeInput::Instant(ts));
    }
    text.parse::<DateTime>()
        .map(TimeInput::Local)
        .map_err(|_| anyhow::anyhow!("use RFC 3339 or local \"YYYY-MM-DD HH:MM\""))
}

/// Parses a date `YYYY-MM-DD` for clap.
fn parse_date(text: &str) -> anyhow::Result<Date> {
    let text = text.trim();
    match text.parse::<Date>() {
        Ok(date) if text.len() == 10 => Ok(date),
        _ => bail!("use YYYY-MM-DD"),
    }
}

/// Runs a `calendar` command, printing text or JSON.
pub fn run(command: CalendarCommand, format: Format) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Add(args) => add(&args, format),
        CalendarCommand::Elapsed(args) => elapsed(&args, format),
        CalendarCommand::Day(args) => day(&args, format),
        CalendarCommand::DefaultFile => {
            print!("{CHINA_CALENDAR}");
            Ok(())
        }
    }
}

/// `calendar add`.
fn add(args: &AddArgs, format: Format) -> anyhow::Result<()> {
    let calendar = load(&args.calendar)?;
    let window = args.amount.window()?;
    let from = args.from.resolve(&calendar)?;
    let end = calendar.add(from, window);
    if end == Timestamp::MAX {
        bail!(
            "the window does not end within a century of {}",
            local(&calendar, from)
        );
    }
    warn_unlisted_years(&calendar, from, end);
    match format {
        Format::Text => println!("{}", local(&calendar, end)),
        Format::Json => print_json(&json!({
            "time_zone": calendar.time_zone_name(),
            "from": local(&calendar, from),
            "window": window,
            "result": local(&calendar, end),
            "result_utc": end.to_string(),
        })),
    }
    Ok(())
}

/// `calendar elapsed`.
fn elapsed(args: &ElapsedArgs, format: Format) -> anyhow::Result<()> {
    let calendar = load(&args.calendar)?;
    let from = args.from.resolve(&calendar)?;
    let to = args.to.resolve(&calendar)?;
    warn_unlisted_years(&calendar, from, to);
    let seconds = calendar.elapsed(from, to).as_secs();
    let hours = seconds as f64 / 3_600.0;
    match format {
        Format::Text => println!("{hours:.2}"),
        Format::Json => print_json(&json!({
            "time_zone": calendar.time_zone_name(),
            "from": local(&calendar, from),
            "to": local(&calendar, to),
            "working_hours": hours,
            "working_seconds": seconds,
        })),
    }
    Ok(())
}

/// `calendar day`.
fn day(args: &DayArgs, format: Format) -> anyhow::Result<()> {
    let calendar = load(&args.calendar)?;
    let date = args.date;
    if calendar.lists_any_day() && !calendar.lists_year(date.year()) {
        warn_years(&[date.year()]);
    }
    let kind = calendar.day_kind(date);
    match format {
        Format::Text => {
            let verdict = if kind.is_working() {
                "working"
            } else {
                "not working"
            };
            println!("{date} {verdict}: {kind}");
        }
        Format::Json => {
            let (word, name) = match &kind {
                DayKind::Working => ("weekday", Value::Null),
                DayKind::Weekend => ("weekend", Value::Null),
                DayKind::Holiday(name) => ("holiday", json!(name)),
                DayKind::MakeUpWorkday(name) => ("make_up_workday", json!(name)),
            };
            print_json(&json!({
                "date": date.to_string(),
                "working": kind.is_working(),
                "kind": word,
                "name": name,
            }));
        }
    }
    Ok(())
}

/// Reads the calendar named by `--calendar`, or returns the shipped one.
fn load(file: &CalendarFile) -> anyhow::Result<WorkingCalendar> {
    let Some(path) = &file.path else {
        return Ok(WorkingCalendar::china_default());
    };
    let shown = path.display();
    let text = read(path).with_context(|| format!("cannot read calendar file {shown}"))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let spec = match extension.as_deref() {
        Some("json") => serde_json::from_str::<CalendarSpec>(&text)
            .with_context(|| format!("{shown}: invalid JSON calendar"))?,
        Some("toml") => toml::from_str::<CalendarSpec>(&text)
            .with_context(|| format!("{shown}: invalid TOML calendar"))?,
        _ => return WorkingCalendar::parse(&text).with_context(|| format!("{shown}")),
    };
    WorkingCalendar::from_spec(&spec).with_context(|| format!("{shown}"))
}

/// Reads a file, or stdin for `-`.
fn read(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// Formats an instant as `YYYY-MM-DD HH:MM` in the calendar's zone.
fn local(calendar: &WorkingCalendar, at: Timestamp) -> String {
    calendar.local(at).strftime("%Y-%m-%d %H:%M").to_string()
}

/// Warns on stderr about the years between two instants for which a calendar
/// that does list holidays lists none.
fn warn_unlisted_years(calendar: &WorkingCalendar, from: Timestamp, to: Timestamp) {
    if !calendar.lists_any_day() {
        return;
    }
    let (first, last) = (calendar.local(from.min(to)), calendar.local(from.max(to)));
    let years: BTreeSet<i16> = (first.year()..=last.year())
        .filter(|&year| !calendar.lists_year(year))
        .collect();
    if !years.is_empty() {
        warn_years(&years.into_iter().collect::<Vec<_>>());
    }
}

/// Prints the warning for years without holiday data.
fn warn_years(years: &[i16]) {
    eprintln!(
        "warning: the calendar lists no holidays for {}; counted as plain Monday-to-Friday weeks",
        years_text(years)
    );
}

/// Shows a sorted list of years: `2027`, `2027, 2028`, or `2027-2040` when long.
fn years_text(years: &[i16]) -> String {
    match years {
        [first, .., last] if years.len() > 3 => format!("{first}-{last}"),
        _ => years
            .iter()
            .map(i16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_instants_or_local() {
        assert!(matches!(
            parse_time_input("2026-02-13T09:00:00Z"),
            Ok(TimeInput::Instant(_))
        ));
        assert!(matches!(
            parse_time_input("2026-02-13T17:00+08:00"),
            Ok(TimeInput::Instant(_))
        ));
        for local in ["2026-02-13 17:00", "2026-02-13T17:00", "2026-02-13"] {
            assert!(
                matches!(parse_time_input(local), Ok(TimeInput::Local(_))),
                "{local}"
            );
        }
        assert!(parse_time_input("13/02/2026").is_err());
        assert!(parse_date("2026-2-3").is_err());
        assert!(parse_date("2026-02-30").is_err());
    }

    #[test]
    fn unlisted_years_print_as_a_list_or_a_range() {
        assert_eq!(years_text(&[2027]), "2027");
        assert_eq!(years_text(&[2027, 2028, 2029]), "2027, 2028, 2029");
        let many: Vec<i16> = (2027..=2040).collect();
        assert_eq!(years_text(&many), "2027-2040");
    }
}
