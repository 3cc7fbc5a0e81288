//! The working calendar on real dates of the shipped mainland China schedule:
//! the 2026 Spring Festival and its make-up weekend days, the National Day
//! golden week, tickets created on a Friday evening, a Sunday, at lunch and
//! at 23:59; the shipped data against the State Council notices; and the
//! arithmetic's laws as property tests.

#![allow(clippy::unwrap_used)]

use hotline_core::{Calendar, DayKind, Window, WorkingCalendar};
use jiff::civil::{Date, DateTime, Weekday, date};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Returns the shipped calendar.
fn china() -> WorkingCalendar {
    WorkingCalendar::china_default()
}

/// Reads a local Asia/Shanghai time `YYYY-MM-DD HH:MM`.
fn at(local: &str) -> Timestamp {
    let civil: DateTime = local.parse().unwrap();
    civil
        .to_zoned(china().time_zone().clone())
        .unwrap()
        .timestamp()
}

/// Prints an instant as local `YYYY-MM-DD HH:MM`.
fn local(ts: Timestamp) -> String {
    china().local(ts).strftime("%Y-%m-%d %H:%M").to_string()
}

/// Adds `window` to a local time and prints the local result.
fn add(from: &str, window: Window) -> String {
    local(china().add(at(from), window))
}

/// Adds working hours.
fn hours(from: &str, hours: u32) -> String {
    add(from, Window::WorkingHours { hours })
}

/// Adds working days.
fn days(from: &str, days: u32) -> String {
    add(from, Window::WorkingDays { days })
}

/// Returns the working time between two local times, in minutes.
fn elapsed_minutes(from: &str, to: &str) -> i64 {
    china().elapsed(at(from), at(to)).as_secs() / 60
}

// ---------------------------------------------------------------- the data

#[test]
fn spring_festival_2026_is_a_holiday_between_two_make_up_saturdays() {
    let calendar = china();
    assert_eq!(
        calendar.day_kind(date(2026, 2, 14)),
        DayKind::MakeUpWorkday("春节调休".to_owned())
    );
    let mut day = date(2026, 2, 15);
    while day <= date(2026, 2, 23) {
        assert_eq!(
            calendar.day_kind(day),
            DayKind::Holiday("春节".to_owned()),
            "{day}"
        );
        day = day.tomorrow().unwrap();
    }
    assert_eq!(calendar.day_kind(date(2026, 2, 24)), DayKind::Working);
    assert_eq!(
        calendar.day_kind(date(2026, 2, 28)),
        DayKind::MakeUpWorkday("春节调休".to_owned())
    );
    assert_eq!(calendar.day_kind(date(2026, 3, 1)), DayKind::Weekend);
    assert_eq!(calendar.day_kind(date(2026, 11, 21)), DayKind::Weekend);
}

/// Each date of the notices with the weekday the notice gives for it, and
/// whether it is a day off (`false`) or a make-up working day (`true`).
const NOTICE_DATES: [(i16, i8, i8, Weekday, bool); 38] = [
    // 国务院办公厅关于2025年部分节假日安排的通知 (2024-11-12)
    (2025, 1, 1, Weekday::Wednesday, false),
    (2025, 1, 28, Weekday::Tuesday, false),
    (2025, 2, 4, Weekday::Tuesday, false),
    (2025, 1, 26, Weekday::Sunday, true),
    (2025, 2, 8, Weekday::Saturday, true),
    (2025, 4, 4, Weekday::Friday, false),
    (2025, 4, 6, Weekday::Sunday, false),
    (2025, 5, 1, Weekday::Thursday, false),
    (2025, 5, 5, Weekday::Monday, false),
    (2025, 4, 27, Weekday::Sunday, true),
    (2025, 5, 31, Weekday::Saturday, false),
    (2025, 6, 2, Weekday::Monday, false),
    (2025, 10, 1, Weekday::Wednesday, false),
    (2025, 10, 8, Weekday::Wednesday, false),
    (2025, 9, 28, Weekday::Sunday, true),
    (2025, 10, 11, Weekday::Saturday, true),
    // 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)
    (2026, 1, 1, Weekday::Thursday, false),
    (2026, 1, 3, Weekday::Saturday, false),
    (2026, 1, 4, Weekday::Sunday, true),
    (2026, 2, 15, Weekday::Sunday, false),
    (2026, 2, 23, Weekday::Monday, false),
    (2026, 2, 14, Weekday::Saturday, true),
    (2026, 2, 28, Weekday::Saturday, true),
    (2026, 4, 4, Weekday::Saturday, false),
    (2026, 4, 6, Weekday::Monday, false),
    (2026, 5, 1, Weekday::Friday, false),
    (2026, 5, 5, Weekday::Tuesday, false),
    (2026, 5, 9, Weekday::Saturday, true),
    (2026, 6, 19, Weekday::Friday, false),
    (2026, 6, 21, Weekday::Sunday, false),
    (2026, 9, 25, Weekday::Friday, false),
    (2026, 9, 27, Weekday::Sunday, false),
    (2026, 10, 1, Weekday::Thursday, false),
    (2026, 10, 7, Weekday::Wednesday, false),
    (2026, 9, 20, Weekday::Sunday, true),
    (2026, 10, 10, Weekday::Saturday, true),
    // Not in a notice: ordinary days either side of the golden week.
    (2026, 9, 30, Weekday::Wednesday, true),
    (2026, 10, 8, Weekday::Thursday, true),
];

#[test]
fn the_shipped_dates_match_the_notices_weekdays_and_kinds() {
    let calendar = china();
    for (year, month, day, weekday, working) in NOTICE_DATES {
        let date = date(year, month, day);
        assert_eq!(date.weekday(), weekday, "{date}: the notice's weekday");
        assert_eq!(calendar.is_working_day(date), working, "{date}");
    }
}

/// Counts the listed days off and make-up days of one name in a year.
fn count(calendar: &WorkingCalendar, year: i16, name: &str) -> (usize, usize) {
    let mut off = 0;
    let mut on = 0;
    let mut day = date(year, 1, 1);
    while day.year() == year {
        match calendar.day_kind(day) {
            DayKind::Holiday(n) if n == name => off += 1,
            DayKind::MakeUpWorkday(n) if n == format!("{name}调休") => on += 1,
            _ => {}
        }
        day = day.tomorrow().unwrap();
    }
    (off, on)
}

#[test]
fn each_holiday_has_the_length_and_make_up_days_of_its_notice() {
    let calendar = china();
    let expected_2025 = [
        ("元旦", (1, 0)),
        ("春节", (8, 2)),
        ("清明节", (3, 0)),
        ("劳动节", (5, 1)),
        ("端午节", (3, 0)),
        ("国庆节、中秋节", (8, 2)),
    ];
    for (name, expected) in expected_2025 {
        assert_eq!(count(&calendar, 2025, name), expected, "2025 {name}");
    }
    let expected_2026 = [
        ("元旦", (3, 1)),
        ("春节", (9, 2)),
        ("清明节", (3, 0)),
        ("劳动节", (5, 1)),
        ("端午节", (3, 0)),
        ("中秋节", (3, 0)),
        ("国庆节", (7, 2)),
    ];
    for (name, expected) in expected_2026 {
        assert_eq!(count(&calendar, 2026, name), expected, "2026 {name}");
    }
}

#[test]
fn both_years_have_248_working_days_of_seven_hours() {
    let calendar = china();
    for year in [2025, 2026] {
        let start = at(&format!("{year}-01-01 00:00"));
        let end = at(&format!("{}-01-01 00:00", year + 1));
        assert_eq!(
            calendar.elapsed(start, end),
            SignedDuration::from_mins(248 * 420),
            "{year}"
        );
    }
}

#[test]
fn years_without_data_are_plain_weeks() {
    let calendar = china();
    assert!(!calendar.lists_year(2027));
    // 2027-01-01 is a Friday; no holiday is known for it yet.
    assert_eq!(calendar.day_kind(date(2027, 1, 1)), DayKind::Working);
    assert_eq!(days("2026-12-31 10:00", 1), "2027-01-01 10:00");
    assert_eq!(days("2027-01-01 10:00", 1), "2027-01-04 10:00");
}

// ----------------------------------------------------- working hours, 2026

#[test]
fn friday_at_five_plus_one_working_hour_is_monday_half_past_nine() {
    assert_eq!(hours("2026-03-06 17:00", 1), "2026-03-09 09:30");
    // Exactly exhausting Friday ends on Friday, not on Monday morning.
    assert_eq!(hours("2026-03-06 16:30", 1), "2026-03-06 17:30");
}

#[test]
fn the_friday_before_spring_festival_runs_into_the_make_up_saturday() {
    assert_eq!(hours("2026-02-13 17:00", 1), "2026-02-14 09:30");
    // From the make-up Saturday's end, the next working time is after the holiday.
    assert_eq!(hours("2026-02-14 17:00", 1), "2026-02-24 09:30");
    assert_eq!(hours("2026-02-14 17:00", 8), "2026-02-25 09:30");
}

#[test]
fn a_ticket_created_on_a_sunday_starts_on_monday_morning() {
    assert_eq!(hours("2026-03-08 10:00", 2), "2026-03-09 11:00");
    assert_eq!(hours("2026-03-08 10:00", 4), "2026-03-09 14:30");
    assert_eq!(days("2026-03-08 10:00", 1), "2026-03-10 09:00");
    assert_eq!(elapsed_minutes("2026-03-08 10:00", "2026-03-09 14:30"), 240);
}

#[test]
fn a_ticket_created_in_the_lunch_break_starts_at_half_past_one() {
    assert_eq!(hours("2026-03-10 12:10", 1), "2026-03-10 14:30");
    assert_eq!(days("2026-03-10 12:10", 1), "2026-03-11 13:30");
    assert_eq!(elapsed_minutes("2026-03-10 12:10", "2026-03-10 13:30"), 0);
    assert!(!china().is_working_time(at("2026-03-10 12:00")));
    assert!(china().is_working_time(at("2026-03-10 13:30")));
}

#[test]
fn a_ticket_created_at_one_minute_to_midnight_starts_the_next_morning() {
    assert_eq!(hours("2026-03-10 23:59", 8), "2026-03-12 10:00");
    assert_eq!(days("2026-03-10 23:59", 1), "2026-03-12 09:00");
    // Before a holiday: the next working morning is the make-up Saturday.
    assert_eq!(days("2026-02-13 23:59", 1), "2026-02-24 09:00");
}

#[test]
fn the_golden_week_is_skipped_and_its_make_up_days_count() {
    assert_eq!(hours("2026-09-30 16:00", 3), "2026-10-08 10:30");
    assert_eq!(days("2026-09-30 15:00", 1), "2026-10-08 15:00");
    assert_eq!(days("2026-09-30 15:00", 3), "2026-10-10 15:00");
    assert_eq!(days("2026-09-30 15:00", 4), "2026-10-12 15:00");
    // Mid-Autumn Festival, a week earlier, with the make-up Sunday before it.
    assert_eq!(days("2026-09-24 14:00", 1), "2026-09-28 14:00");
    assert_eq!(hours("2026-09-19 10:00", 1), "2026-09-20 10:00");
}

// ------------------------------------------------------ working days, 2026

#[test]
fn working_days_across_spring_festival_use_both_make_up_saturdays() {
    assert_eq!(days("2026-02-13 10:00", 1), "2026-02-14 10:00");
    assert_eq!(days("2026-02-13 10:00", 2), "2026-02-24 10:00");
    assert_eq!(days("2026-02-13 10:00", 5), "2026-02-27 10:00");
    assert_eq!(days("2026-02-13 10:00", 6), "2026-02-28 10:00");
    assert_eq!(days("2026-02-13 10:00", 10), "2026-03-05 10:00");
    // Created on the make-up Saturday itself.
    assert_eq!(days("2026-02-28 10:00", 1), "2026-03-02 10:00");
    // Created during the holiday: counted from the first morning after it.
    assert_eq!(days("2026-02-18 10:00", 1), "2026-02-25 09:00");
}

#[test]
fn new_years_day_2026_holiday_and_its_make_up_sunday() {
    assert_eq!(days("2025-12-31 11:00", 1), "2026-01-04 11:00");
    assert_eq!(days("2025-12-31 11:00", 2), "2026-01-05 11:00");
}

#[test]
fn calendar_windows_ignore_the_calendar() {
    assert_eq!(
        add("2026-02-14 17:00", Window::Calendar { minutes: 120 }),
        "2026-02-14 19:00"
    );
}

// ------------------------------------------------------------- elapsed time

#[test]
fn elapsed_counts_only_working_time() {
    // Across lunch.
    assert_eq!(elapsed_minutes("2026-03-10 11:30", "2026-03-10 14:00"), 60);
    // Across a night.
    assert_eq!(elapsed_minutes("2026-03-10 17:00", "2026-03-11 09:30"), 60);
    // Across a weekend.
    assert_eq!(elapsed_minutes("2026-03-06 17:00", "2026-03-09 09:30"), 60);
    // Across Spring Festival: Friday, the make-up Saturday, Tuesday.
    assert_eq!(
        elapsed_minutes("2026-02-13 09:00", "2026-02-25 09:00"),
        3 * 420
    );
    // A make-up Saturday counts; an ordinary one does not.
    assert_eq!(elapsed_minutes("2026-02-14 00:00", "2026-02-15 00:00"), 420);
    assert_eq!(elapsed_minutes("2026-03-07 00:00", "2026-03-08 00:00"), 0);
    // The golden week.
    assert_eq!(
        elapsed_minutes("2026-09-30 09:00", "2026-10-09 09:00"),
        2 * 420
    );
    // Backwards is zero.
    assert_eq!(elapsed_minutes("2026-03-10 14:00", "2026-03-10 11:30"), 0);
}

#[test]
fn suspended_working_time_is_added_back_and_can_be_taken_away() {
    let calendar = china();
    let due = at("2026-02-13 16:00");
    let pushed = calendar.add_working_time(due, SignedDuration::from_hours(2));
    assert_eq!(local(pushed), "2026-02-14 09:30");
    let back = calendar.add_working_time(pushed, SignedDuration::from_hours(-2));
    assert_eq!(local(back), "2026-02-13 16:00");
    // Backwards over the holiday, ending exactly at a morning start.
    let start = calendar.add_working_time(at("2026-02-24 12:00"), SignedDuration::from_hours(-3));
    assert_eq!(local(start), "2026-02-24 09:00");
    let before = calendar.add_working_time(at("2026-02-24 09:30"), SignedDuration::from_hours(-1));
    assert_eq!(local(before), "2026-02-14 17:00");
}

// ----------------------------------------------------- daylight saving time

#[test]
fn zones_with_daylight_saving_count_real_time() {
    // 2026-03-08 is the day New York springs forward (02:00 → 03:00).
    let calendar = WorkingCalendar::parse(
        "time_zone America/New_York\nworking_hours 00:00-24:00\n2026-03-08 workday dst\n",
    )
    .unwrap();
    let zone = calendar.time_zone().clone();
    let midnight = |d: Date| d.to_zoned(zone.clone()).unwrap().timestamp();
    let sunday = midnight(date(2026, 3, 8));
    let monday = midnight(date(2026, 3, 9));
    assert_eq!(
        calendar.elapsed(sunday, monday),
        SignedDuration::from_hours(23)
    );
    let three_hours = calendar.add(sunday, Window::WorkingHours { hours: 3 });
    assert_eq!(
        calendar.local(three_hours).strftime("%H:%M").to_string(),
        "04:00"
    );
    assert_eq!(
        calendar.add(sunday, Window::WorkingDays { days: 1 }),
        monday
    );
}

// --------------------------------------------------------------- properties

/// Instants from 2024-12-01 to 2027-02-01 (both shipped years and their edges).
fn instant() -> impl Strategy<Value = Timestamp> {
    let first = at("2024-12-01 00:00").as_second();
    let last = at("2027-02-01 00:00").as_second();
    (first..last).prop_map(|s| Timestamp::from_second(s).unwrap())
}

/// Working time to add: up to 400 hours, in minutes.
fn amount() -> impl Strategy<Value = SignedDuration> {
    (0i64..=400 * 60).prop_map(SignedDuration::from_mins)
}

/// Keeps failing cases in `proptest-regressions/calendar.txt` (committed).
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/calendar.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn elapsed_undoes_add(t in instant(), d in amount()) {
        let calendar = china();
        let end = calendar.add_working_time(t, d);
        prop_assert!(end >= t);
        prop_assert_eq!(calendar.elapsed(t, end), d);
    }

    #[test]
    fn elapsed_undoes_add_of_whole_working_hours(t in instant(), h in 0u32..200) {
        let calendar = china();
        let end = calendar.add(t, Window::WorkingHours { hours: h });
        prop_assert_eq!(calendar.elapsed(t, end), SignedDuration::from_hours(h.into()));
    }

    #[test]
    fn a_working_day_is_a_day_of_working_time(t in instant(), n in 0u32..40) {
        let calendar = china();
        let end = calendar.add(t, Window::WorkingDays { days: n });
        let expected = SignedDuration::from_mins(420 * i64::from(n));
        prop_assert_eq!(calendar.elapsed(t, end), expected);
        if n > 0 {
            prop_assert!(calendar.is_working_time(end), "{} is not working time", end);
        }
    }

    #[test]
    fn adding_is_monotonic_in_the_amount(t in instant(), a in 0u32..300, b in 0u32..300) {
        let calendar = china();
        let (small, large) = (a.min(b), a.max(b));
        let windows: [fn(u32) -> Window; 3] = [
            |n| Window::WorkingHours { hours: n },
            |n| Window::WorkingDays { days: n / 5 },
            |n| Window::Calendar { minutes: n * 60 },
        ];
        for window in windows {
            prop_assert!(calendar.add(t, window(small)) <= calendar.add(t, window(large)));
        }
    }

    #[test]
    fn adding_is_monotonic_in_the_start(a in instant(), b in instant(), n in 0u32..100) {
        let calendar = china();
        let (early, late) = (a.min(b), a.max(b));
        for window in [
            Window::WorkingHours { hours: n },
            Window::WorkingDays { days: n / 5 },
            Window::Calendar { minutes: n * 60 },
        ] {
            prop_assert!(
                calendar.add(early, window) <= calendar.add(late, window),
                "{:?} from {} and {}", window, early, late
            );
        }
    }

    #[test]
    fn elapsed_adds_up_over_consecutive_spans(a in instant(), b in instant(), c in instant()) {
        let calendar = china();
        let mut points = [a, b, c];
        points.sort();
        let [first, middle, last] = points;
        prop_assert_eq!(
            calendar.elapsed(first, middle) + calendar.elapsed(middle, last),
            calendar.elapsed(first, last)
        );
    }

    #[test]
    fn subtracting_working_time_returns_to_the_working_start(t in instant(), d in amount()) {
        let calendar = china();
        prop_assume!(!d.is_zero());
        let end = calendar.add_working_time(t, d);
        let back = calendar.add_working_time(end, -d);
        prop_assert_eq!(back, calendar.next_working_instant(t));
    }
}
