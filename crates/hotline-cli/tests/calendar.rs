//! Tests of the offline `hotline calendar` commands: the built binary, run
//! with the shipped calendar and with calendar files of each syntax.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
const HOTLINE: &str = env!("CARGO_BIN_EXE_hotline");

/// Runs `hotline calendar ARGS...` with no calendar configured in the environment.
fn calendar(args: &[&str]) -> Output {
    Command::new(HOTLINE)
        .arg("calendar")
        .args(args)
        .env_remove("HOTLINE_CALENDAR")
        .output()
        .expect("hotline runs")
}

/// Runs a command that must succeed and returns its stdout.
fn stdout_of(args: &[&str]) -> String {
    let output = calendar(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Runs a command that must fail and returns its exit code and stderr.
fn failure_of(args: &[&str]) -> (i32, String) {
    let output = calendar(args);
    assert!(!output.status.success(), "{args:?} succeeded");
    let code = output.status.code().expect("exit code");
    (code, String::from_utf8(output.stderr).expect("utf-8"))
}

/// Writes a file in `dir` and returns its path as text.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write calendar file");
    path.display().to_string()
}

#[test]
fn add_prints_the_local_end_of_each_kind_of_window() {
    let add = |amount: &[&str]| {
        let mut args = vec!["add", "--from", "2026-03-06 17:00"];
        args.extend_from_slice(amount);
        stdout_of(&args)
    };
    assert_eq!(add(&["--working-hours", "1"]), "2026-03-09 09:30\n");
    assert_eq!(add(&["--working-days", "1"]), "2026-03-09 17:00\n");
    assert_eq!(add(&["--hours", "1"]), "2026-03-06 18:00\n");
}

#[test]
fn add_skips_the_spring_festival_holiday() {
    let out = stdout_of(&["add", "--from", "2026-02-14 17:00", "--working-hours", "1"]);
    assert_eq!(out, "2026-02-24 09:30\n");
    let out = stdout_of(&["add", "--from", "2026-02-13 10:00", "--working-days", "5"]);
    assert_eq!(out, "2026-02-27 10:00\n");
    // RFC 3339 input is read as the instant it names.
    let out = stdout_of(&[
        "add",
        "--from",
        "2026-02-13T02:00:00Z",
        "--working-days",
        "1",
    ]);
    assert_eq!(out, "2026-02-14 10:00\n");
}

#[test]
fn add_needs_exactly_one_amount_and_a_valid_time() {
    let (code, err) = failure_of(&["add", "--from", "2026-03-06 17:00"]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = failure_of(&[
        "add",
        "--from",
        "2026-03-06 17:00",
        "--hours",
        "1",
        "--working-days",
        "1",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = failure_of(&["add", "--from", "tomorrow", "--hours", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("YYYY-MM-DD HH:MM"), "{err}");
}

#[test]
fn add_prints_json_with_the_window_and_both_forms_of_the_result() {
    let out = stdout_of(&[
        "add",
        "--json",
        "--from",
        "2026-03-10 12:10",
        "--working-hours",
        "1",
    ]);
    let json: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["result"], "2026-03-10 14:30");
    assert_eq!(json["result_utc"], "2026-03-10T06:30:00Z");
    assert_eq!(json["window"]["mode"], "WORKING_HOURS");
    assert_eq!(json["time_zone"], "Asia/Shanghai");
}

#[test]
fn elapsed_prints_working_hours_with_two_decimals() {
    let elapsed = |from: &str, to: &str| stdout_of(&["elapsed", "--from", from, "--to", to]);
    assert_eq!(elapsed("2026-03-10 11:30", "2026-03-10 14:00"), "1.00\n");
    assert_eq!(elapsed("2026-03-09 09:00", "2026-03-10 09:00"), "7.00\n");
    assert_eq!(elapsed("2026-03-09 09:00", "2026-03-09 13:45"), "3.25\n");
    // Friday, the make-up Saturday and the Tuesday after Spring Festival.
    assert_eq!(elapsed("2026-02-13 09:00", "2026-02-25 09:00"), "21.00\n");
    assert_eq!(elapsed("2026-02-25 09:00", "2026-02-13 09:00"), "0.00\n");
    let json: Value = serde_json::from_str(&stdout_of(&[
        "elapsed",
        "--from",
        "2026-03-09 09:00",
        "--to",
        "2026-03-09 13:45",
        "--json",
    ]))
    .expect("json");
    assert_eq!(json["working_hours"], 3.25);
    assert_eq!(json["working_seconds"], 3 * 3_600 + 15 * 60);
}

#[test]
fn day_says_whether_a_date_is_worked_and_why() {
    assert_eq!(
        stdout_of(&["day", "2026-02-14"]),
        "2026-02-14 working: make-up workday (春节调休)\n"
    );
    assert_eq!(
        stdout_of(&["day", "2026-02-17"]),
        "2026-02-17 not working: holiday (春节)\n"
    );
    assert_eq!(
        stdout_of(&["day", "2026-11-21"]),
        "2026-11-21 not working: weekend\n"
    );
    assert_eq!(
        stdout_of(&["day", "2026-11-20"]),
        "2026-11-20 working: weekday\n"
    );
    let json: Value =
        serde_json::from_str(&stdout_of(&["day", "2026-10-01", "--json"])).expect("json");
    assert_eq!(json["working"], false);
    assert_eq!(json["kind"], "holiday");
    assert_eq!(json["name"], "国庆节");
    let (code, err) = failure_of(&["day", "2026-02-30"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_year_without_data_is_counted_as_plain_weeks_with_a_warning() {
    let output = calendar(&["day", "2027-01-01"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "2027-01-01 working: weekday\n"
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no holidays for 2027"), "{err}");
    let quiet = calendar(&["day", "2026-01-01"]);
    assert!(quiet.stderr.is_empty());
}

#[test]
fn another_calendar_file_replaces_the_shipped_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lines = write(
        dir.path(),
        "city.txt",
        "time_zone Asia/Shanghai\n\
         working_hours 08:30-12:00 14:00-17:30\n\
         2026-03-09 holiday 城市纪念日\n",
    );
    assert_eq!(
        stdout_of(&["day", "2026-03-09", "--calendar", &lines]),
        "2026-03-09 not working: holiday (城市纪念日)\n"
    );
    // The shipped holidays are gone with the shipped file.
    assert_eq!(
        stdout_of(&["day", "2026-02-17", "--calendar", &lines]),
        "2026-02-17 working: weekday\n"
    );
    assert_eq!(
        stdout_of(&[
            "add",
            "--from",
            "2026-03-06 17:00",
            "--working-hours",
            "1",
            "--calendar",
            &lines,
        ]),
        "2026-03-10 09:00\n"
    );

    let toml = write(
        dir.path(),
        "city.toml",
        "time_zone = \"Asia/Shanghai\"\n\
         working_hours = [{ start = \"09:00\", end = \"17:00\" }]\n\
         [[days]]\n\
         date = \"2026-03-07\"\n\
         working = true\n\
         name = \"补班\"\n",
    );
    assert_eq!(
        stdout_of(&["day", "2026-03-07", "--calendar", &toml]),
        "2026-03-07 working: make-up workday (补班)\n"
    );
    let json = write(
        dir.path(),
        "city.json",
        r#"{"time_zone": "Asia/Shanghai", "working_hours": [{"start": "09:00", "end": "17:00"}]}"#,
    );
    assert_eq!(
        stdout_of(&[
            "elapsed",
            "--from",
            "2026-03-06 09:00",
            "--to",
            "2026-03-09 09:00",
            "--calendar",
            &json,
        ]),
        "8.00\n"
    );

    // The environment names a calendar when the flag does not.
    let output = Command::new(HOTLINE)
        .args(["calendar", "day", "2026-03-09"])
        .env("HOTLINE_CALENDAR", &lines)
        .output()
        .expect("hotline runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "2026-03-09 not working: holiday (城市纪念日)\n"
    );
}

#[test]
fn a_bad_calendar_file_is_reported_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = write(
        dir.path(),
        "bad.txt",
        "# header\ntime_zone Asia/Shanghai\n2026-02-30 holiday 春节\n",
    );
    let (code, err) = failure_of(&["day", "2026-02-17", "--calendar", &bad]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.txt: line 3: \"2026-02-30\" is not a date"),
        "{err}"
    );

    let bad_json = write(
        dir.path(),
        "bad.json",
        r#"{"time_zone": "Mars/Olympus", "working_hours": []}"#,
    );
    let (code, err) = failure_of(&["day", "2026-02-17", "--calendar", &bad_json]);
    assert_eq!(code, 1);
    assert!(err.contains("time_zone: unknown time zone"), "{err}");
    assert!(err.contains("working_hours: no working hours"), "{err}");

    let missing = dir.path().join("missing.txt").display().to_string();
    let (code, err) = failure_of(&["day", "2026-02-17", "--calendar", &missing]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read calendar file"), "{err}");
}

#[test]
fn calendar_commands_need_no_server() {
    // A server address that nothing listens on changes nothing.
    let output = Command::new(HOTLINE)
        .args(["--addr", "127.0.0.1:1", "calendar", "day", "2026-10-08"])
        .env_remove("HOTLINE_CALENDAR")
        .output()
        .expect("hotline runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "2026-10-08 working: weekday\n"
    );
}

#[test]
fn the_shipped_file_prints_and_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = stdout_of(&["default-file"]);
    assert!(
        text.contains("2026-02-15..2026-02-23 holiday 春节"),
        "{text}"
    );
    let copy = write(
        dir.path(),
        "cn.txt",
        &format!("{text}2027-01-01 holiday 元旦\n"),
    );
    let output = calendar(&["day", "2027-01-01", "--calendar", &copy]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "2027-01-01 not working: holiday (元旦)\n"
    );
    assert!(output.stderr.is_empty());
}
