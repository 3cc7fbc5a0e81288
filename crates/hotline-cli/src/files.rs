//! Files the admin commands read: routing rules, the deadline policy and the
//! working calendar, as JSON or TOML. Their shape is what `--json` prints for
//! the matching `list`/`get` command, so `get --json > f; edit f; put f` works.
//! Enum values may be written `complaint`, `COMPLAINT` or `APPEAL_TYPE_COMPLAINT`;
//! `null` or a missing value means unspecified ("any").

use std::path::Path;

use anyhow::{Context as _, bail};
use hotline_proto::v1;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::enums::parse_word;

/// Routing rules: `{"rules": [...]}`, a bare JSON array, or TOML `[[rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    /// The whole rule set.
    rules: Vec<RuleSpec>,
}

/// One routing rule as written in a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    /// Rule id; empty lets the server assign one.
    #[serde(default)]
    id: String,
    /// Category path prefix; empty matches any.
    #[serde(default)]
    category_prefix: String,
    /// Region code prefix; empty matches any.
    #[serde(default)]
    region_prefix: String,
    /// Appeal type; missing matches any.
    #[serde(default)]
    appeal_type: Option<String>,
    /// The lead department.
    lead_department_id: String,
    /// Co-handling departments.
    #[serde(default)]
    co_department_ids: Vec<String>,
    /// Dispatch at create without an operator (直派).
    #[serde(default)]
    direct_dispatch: bool,
}

/// The deadline policy as written in a file; limits are required so that a
/// forgotten field never silently becomes 0.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    /// The policy matrix.
    entries: Vec<EntrySpec>,
    /// Maximum return requests per ticket.
    max_returns: u32,
    /// Maximum extension requests per ticket.
    max_extensions: u32,
    /// Maximum reopenings per ticket.
    max_reopens: u32,
    /// Share of the window after which the light turns yellow, in percent.
    warning_percent: u32,
    /// Minutes past due after which a deadline is seriously overdue.
    serious_overdue_minutes: u32,
    /// Time allowed for the callback after the reply.
    callback_within: Option<WindowSpec>,
    /// Printed by `policy get`; ignored here (use --expect-version).
    #[serde(default, rename = "version")]
    _version: Option<i64>,
}

/// One row of the policy matrix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    /// Appeal type; missing matches any.
    #[serde(default)]
    appeal_type: Option<String>,
    /// Priority; missing matches any.
    #[serde(default)]
    priority: Option<String>,
    /// Category path prefix; empty matches any.
    #[serde(default)]
    category_prefix: String,
    /// Time allowed to sign for the ticket.
    sign_within: Option<WindowSpec>,
    /// Time allowed to reply.
    reply_within: Option<WindowSpec>,
}

/// A deadline window: `{"mode": "WORKING_DAYS", "amount": 5}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowSpec {
    /// CALENDAR (minutes), WORKING_HOURS or WORKING_DAYS.
    mode: String,
    /// How many units of `mode`.
    amount: u32,
}

/// The working calendar as written in a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSpec {
    /// IANA time zone, e.g. Asia/Shanghai.
    time_zone: String,
    /// Working hours of a working day.
    working_hours: Vec<IntervalSpec>,
    /// Holidays and make-up working days.
    #[serde(default)]
    days: Vec<DaySpec>,
}

/// Working hours: `{"start": "09:00", "end": "12:00"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntervalSpec {
    /// Start, "HH:MM".
    start: String,
    /// End, "HH:MM".
    end: String,
}

/// One exception to the weekly pattern.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaySpec {
    /// "YYYY-MM-DD" (quote it in TOML).
    date: String,
    /// True for a make-up working day (调休), false for a holiday.
    #[serde(default)]
    working: bool,
    /// What the day is, e.g. 国庆节.
    #[serde(default)]
    name: String,
}

/// Whether a file is JSON or TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// JSON.
    Json,
    /// TOML.
    Toml,
}

/// Picks the syntax by extension, else by the first character (`{`/`[` is JSON).
fn syntax_of(path: &Path, text: &str) -> Syntax {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("toml") => Syntax::Toml,
        Some(ext) if ext.eq_ignore_ascii_case("json") => Syntax::Json,
        _ if text.trim_start().starts_with(['{', '[']) => Syntax::Json,
        _ => Syntax::Toml,
    }
}

/// Parses `text` as `T` in the given syntax, naming the file on error.
fn parse<T: DeserializeOwned>(path: &Path, text: &str, syntax: Syntax) -> anyhow::Result<T> {
    let shown = path.display();
    match syntax {
        Syntax::Json => {
            serde_json::from_str(text).with_context(|| format!("{shown}: invalid JSON"))
        }
        Syntax::Toml => toml::from_str(text).with_context(|| format!("{shown}: invalid TOML")),
    }
}

/// Reads a file, or stdin for `-`.
fn read(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("cannot read stdin");
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads routing rules from a JSON or TOML file (`-` for stdin).
pub fn read_rules(path: &Path) -> anyhow::Result<Vec<v1::RoutingRule>> {
    parse_rules(path, &read(path)?)
}

/// Parses routing rules; `path` picks the syntax and names errors.
pub fn parse_rules(path: &Path, text: &str) -> anyhow::Result<Vec<v1::RoutingRule>> {
    let syntax = syntax_of(path, text);
    let specs = if syntax == Syntax::Json && text.trim_start().starts_with('[') {
        parse::<Vec<RuleSpec>>(path, text, syntax)?
    } else {
        parse::<RuleFile>(path, text, syntax)?.rules
    };
    specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| rule(spec).with_context(|| format!("{}: rule {}", path.display(), i + 1)))
        .collect()
}

/// Converts one rule.
fn rule(spec: RuleSpec) -> anyhow::Result<v1::RoutingRule> {
    if spec.lead_department_id.trim().is_empty() {
        bail!("lead_department_id is empty");
    }
    Ok(v1::RoutingRule {
        id: spec.id,
        category_prefix: spec.category_prefix,
        region_prefix: spec.region_prefix,
        appeal_type: parse_word::<v1::AppealType>(spec.appeal_type.as_deref())?,
        lead_department_id: spec.lead_department_id,
        co_department_ids: spec.co_department_ids,
        direct_dispatch: spec.direct_dispatch,
    })
}

/// Reads the deadline policy from a JSON or TOML file (`-` for stdin).
pub fn read_policy(path: &Path) -> anyhow::Result<v1::DeadlinePolicy> {
    parse_policy(path, &read(path)?)
}

/// Parses the deadline policy; `path` picks the syntax and names errors.
pub fn parse_policy(path: &Path, text: &str) -> anyhow::Result<v1::DeadlinePolicy> {
    let spec: PolicySpec = parse(path, text, syntax_of(path, text))?;
    let mut entries = Vec::with_capacity(spec.entries.len());
    for (i, entry) in spec.entries.into_iter().enumerate() {
        let context = || format!("{}: entry {}", path.display(), i + 1);
        entries.push(v1::PolicyEntry {
            appeal_type: parse_word::<v1::AppealType>(entry.appeal_type.as_deref())
                .with_context(context)?,
            priority: parse_word::<v1::Priority>(entry.priority.as_deref())
                .with_context(context)?,
            category_prefix: entry.category_prefix,
            sign_within: entry
                .sign_within
                .map(window)
                .transpose()
                .with_context(context)?,
            reply_within: entry
                .reply_within
                .map(window)
                .transpose()
                .with_context(context)?,
        });
    }
    Ok(v1::DeadlinePolicy {
        entries,
        max_returns: spec.max_returns,
        max_extensions: spec.max_extensions,
        max_reopens: spec.max_reopens,
        warning_percent: spec.warning_percent,
        serious_overdue_minutes: spec.serious_overdue_minutes,
        callback_within: spec
            .callback_within
            .map(window)
            .transpose()
            .with_context(|| format!("{}: callback_within", path.display()))?,
        version: 0,
    })
}

/// Converts one window; the mode must be named.
fn window(spec: WindowSpec) -> anyhow::Result<v1::Window> {
    let mode = parse_word::<v1::TimeMode>(Some(&spec.mode))?;
    if mode == 0 {
        bail!("a window needs a mode: CALENDAR, WORKING_HOURS or WORKING_DAYS");
    }
    Ok(v1::Window {
        mode,
        amount: spec.amount,
    })
}

/// Reads the working calendar from a JSON or TOML file (`-` for stdin).
pub fn read_calendar(path: &Path) -> anyhow::Result<v1::Calendar> {
    parse_calendar(path, &read(path)?)
}

/// Parses the working calendar; `path` picks the syntax and names errors.
pub fn parse_calendar(path: &Path, text: &str) -> anyhow::Result<v1::Calendar> {
    let spec: CalendarSpec = parse(path, text, syntax_of(path, text))?;
    Ok(v1::Calendar {
        time_zone: spec.time_zone,
        working_hours: spec
            .working_hours
            .into_iter()
            .map(|h| v1::WorkingInterval {
                start: h.start,
                end: h.end,
            })
            .collect(),
        days: spec
            .days
            .into_iter()
            .map(|d| v1::CalendarDay {
                date: d.date,
                working: d.working,
                name: d.name,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_from_toml_with_enum_words() {
        let text = r#"
            [[rules]]
            id = "gusu-noise"
            category_prefix = "环境保护/噪声污染"
            region_prefix = "320508"
            lead_department_id = "sz.env.gusu"
            direct_dispatch = true

            [[rules]]
            category_prefix = "城乡建设/物业管理"
            appeal_type = "complaint"
            lead_department_id = "sz.housing"
            co_department_ids = ["sz.gusu.pingjiang"]
        "#;
        let rules = parse_rules(Path::new("rules.toml"), text).expect("parses");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].lead_department_id, "sz.env.gusu");
        assert!(rules[0].direct_dispatch);
        assert_eq!(rules[0].appeal_type(), v1::AppealType::Unspecified);
        assert_eq!(rules[1].appeal_type(), v1::AppealType::Complaint);
        assert_eq!(rules[1].co_department_ids, ["sz.gusu.pingjiang"]);
    }

    #[test]
    fn rules_round_trip_through_the_json_that_rule_list_prints() {
        let original = v1::RoutingRule {
            id: "r1".into(),
            category_prefix: "交通运输".into(),
            region_prefix: String::new(),
            appeal_type: v1::AppealType::Report.into(),
            lead_department_id: "sz.transport".into(),
            co_department_ids: vec![],
            direct_dispatch: true,
        };
        let printed = serde_json::json!({ "rules": [crate::json::routing_rule(&original)] });
        let path = Path::new("rules.json");
        let parsed = parse_rules(path, &printed.to_string()).expect("parses");
        assert_eq!(parsed, std::slice::from_ref(&original));
        let bare = serde_json::json!([crate::json::routing_rule(&original)]).to_string();
        assert_eq!(
            parse_rules(Path::new("-"), &bare).expect("bare array"),
            [original]
        );
    }

    #[test]
    fn rule_errors_name_the_file_and_rule() {
        let text = r#"{"rules": [{"lead_department_id": "a"}, {"lead_department_id": "b", "appeal_type": "rant"}]}"#;
        let err = parse_rules(Path::new("r.json"), text).expect_err("bad type");
        assert_eq!(
            format!("{err:#}"),
            "r.json: rule 2: unknown appeal type \"rant\""
        );
        let typo = r#"{"rules": [{"lead_department": "a"}]}"#;
        let err = parse_rules(Path::new("r.json"), typo).expect_err("unknown field");
        assert!(
            format!("{err:#}").contains("unknown field `lead_department`"),
            "{err:#}"
        );
    }

    #[test]
    fn policy_round_trips_through_policy_get_json() {
        let window = |mode: v1::TimeMode, amount| {
            Some(v1::Window {
                mode: mode.into(),
                amount,
            })
        };
        let original = v1::DeadlinePolicy {
            entries: vec![v1::PolicyEntry {
                appeal_type: v1::AppealType::Complaint.into(),
                priority: v1::Priority::Normal.into(),
                category_prefix: String::new(),
                sign_within: window(v1::TimeMode::WorkingDays, 1),
                reply_within: window(v1::TimeMode::WorkingDays, 10),
            }],
            max_returns: 2,
            max_extensions: 1,
            max_reopens: 1,
            warning_percent: 80,
            serious_overdue_minutes: 1_440,
            callback_within: window(v1::TimeMode::WorkingDays, 2),
            version: 7,
        };
        let printed = crate::json::policy(&original).to_string();
        let parsed = parse_policy(Path::new("policy.json"), &printed).expect("parses");
        assert_eq!(
            parsed,
            v1::DeadlinePolicy {
                version: 0,
                ..original
            }
        );
    }

    #[test]
    fn policy_limits_are_required() {
        let text = r#"{"entries": [], "max_returns": 2}"#;
        let err = parse_policy(Path::new("p.json"), text).expect_err("missing limits");
        assert!(format!("{err:#}").contains("missing field"), "{err:#}");
    }

    #[test]
    fn calendars_read_from_toml() {
        let text = r#"
            time_zone = "Asia/Shanghai"
            working_hours = [{ start = "09:00", end = "12:00" }, { start = "13:30", end = "17:30" }]
            [[days]]
            date = "2026-10-01"
            name = "国庆节"
            [[days]]
            date = "2026-10-10"
            working = true
            name = "国庆节调休"
        "#;
        let calendar = parse_calendar(Path::new("cal.toml"), text).expect("parses");
        assert_eq!(calendar.working_hours.len(), 2);
        assert_eq!(calendar.days[0].date, "2026-10-01");
        assert!(!calendar.days[0].working);
        assert!(calendar.days[1].working);
        let printed = crate::json::calendar(&calendar).to_string();
        assert_eq!(
            parse_calendar(Path::new("cal"), &printed).expect("json"),
            calendar
        );
    }
}
