//! Times as people type and read them: RFC 3339 or local `YYYY-MM-DD HH:MM` in,
//! local `YYYY-MM-DD HH:MM` out, in the center's zone (Asia/Shanghai).

use std::sync::OnceLock;

use anyhow::{Context as _, bail};
use jiff::civil::{Date, DateTime};
use jiff::tz::{self, TimeZone};
use jiff::{Timestamp, Zoned};

/// The center's IANA time zone; the server's default `time_zone` too.
pub const CENTER_TIME_ZONE: &str = "Asia/Shanghai";

/// Returns the center's time zone.
///
/// Falls back to a fixed UTC+8, which is exact for Asia/Shanghai since 1991,
/// when the system has no time zone database.
pub fn center_tz() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    ZONE.get_or_init(|| {
        TimeZone::get(CENTER_TIME_ZONE).unwrap_or_else(|_| TimeZone::fixed(tz::offset(8)))
    })
}

/// Parses a time given on the command line.
///
/// Accepts RFC 3339 (`2026-05-12T14:00:00+08:00`, `...Z`) and, in the center's
/// zone, `YYYY-MM-DD HH:MM`, `YYYY-MM-DD HH:MM:SS`, the same with `T`, and a bare
/// `YYYY-MM-DD` (midnight).
pub fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    parse_time_in(text, center_tz())
}

/// Parses like [`parse_time`], with local forms read in `zone`.
pub fn parse_time_in(text: &str, zone: &TimeZone) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil = parse_local(text).with_context(|| {
        format!("invalid time {text:?}: use RFC 3339 or local \"YYYY-MM-DD HH:MM\"")
    })?;
    let zoned = civil
        .to_zoned(zone.clone())
        .with_context(|| format!("invalid local time {text:?}"))?;
    Ok(zoned.timestamp())
}

/// Parses the local (zone-less) forms accepted by [`parse_time`].
fn parse_local(text: &str) -> anyhow::Result<DateTime> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ];
    for format in FORMATS {
        if let Ok(civil) = DateTime::strptime(format, text) {
            return Ok(civil);
        }
    }
    let date = Date::strptime("%Y-%m-%d", text)?;
    Ok(date.to_datetime(jiff::civil::Time::midnight()))
}

/// Parses a span such as `30m`, `2h`, `3d` or `90s` into seconds.
pub fn parse_span_seconds(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: i64 = number
        .parse()
        .with_context(|| format!("invalid span {text:?}: use e.g. 30m, 2h or 3d"))?;
    let unit_seconds = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("invalid span {text:?}: the unit is one of s, m, h, d, w"),
    };
    amount
        .checked_mul(unit_seconds)
        .with_context(|| format!("span {text:?} is too large"))
}

/// Converts a jiff timestamp to the protobuf well-known type.
pub fn to_proto(ts: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ts.as_second(),
        nanos: ts.subsec_nanosecond(),
    }
}

/// Converts a protobuf timestamp to jiff; `None` when out of range.
pub fn from_proto(ts: &prost_types::Timestamp) -> Option<Timestamp> {
    Timestamp::new(ts.seconds, ts.nanos).ok()
}

/// Formats a protobuf timestamp as local `YYYY-MM-DD HH:MM`; empty when unset.
pub fn local(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(from_proto)
        .map(|t| local_in(t, center_tz()))
        .unwrap_or_default()
}

/// Formats a timestamp as `YYYY-MM-DD HH:MM` in `zone`.
pub fn local_in(ts: Timestamp, zone: &TimeZone) -> String {
    ts.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// Formats a protobuf timestamp as RFC 3339 in UTC, for JSON; `None` when unset.
pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.and_then(from_proto).map(|t| t.to_string())
}

/// Returns midnight at the start of the current month in the center's zone.
pub fn start_of_month() -> anyhow::Result<Timestamp> {
    let now = Zoned::now().with_time_zone(center_tz().clone());
    Ok(now.first_of_month()?.start_of_day()?.timestamp())
}

/// Formats a number of seconds as a short span: `45m`, `3h 20m`, `2d 4h`, `-1h 5m`.
pub fn span(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (days, hours, minutes) = (total / 86_400, total % 86_400 / 3_600, total % 3_600 / 60);
    let body = match (days, hours, minutes) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> TimeZone {
        TimeZone::fixed(tz::offset(8))
    }

    #[test]
    fn local_minutes_are_read_in_the_center_zone() {
        let ts = parse_time_in("2026-05-12 14:30", &shanghai()).expect("parses");
        assert_eq!(ts.to_string(), "2026-05-12T06:30:00Z");
    }

    #[test]
    fn local_forms_with_seconds_t_or_date_only_parse() {
        let zone = shanghai();
        let expect = |text: &str, utc: &str| {
            let ts = parse_time_in(text, &zone).expect(text);
            assert_eq!(ts.to_string(), utc, "{text}");
        };
        expect("2026-05-12 14:30:15", "2026-05-12T06:30:15Z");
        expect("2026-05-12T14:30", "2026-05-12T06:30:00Z");
        expect("2026-05-12", "2026-05-11T16:00:00Z");
        expect(" 2026-05-12 08:00 ", "2026-05-12T00:00:00Z");
    }

    #[test]
    fn rfc3339_keeps_its_own_offset() {
        let zone = shanghai();
        let utc = parse_time_in("2026-05-12T06:30:00Z", &zone).expect("utc");
        let offset = parse_time_in("2026-05-12T14:30:00+08:00", &zone).expect("offset");
        assert_eq!(utc, offset);
    }

    #[test]
    fn garbage_times_are_refused_with_the_accepted_forms() {
        for text in [
            "",
            "tomorrow",
            "2026-13-01 10:00",
            "2026-05-12 25:00",
            "12/05/2026",
        ] {
            let err = parse_time_in(text, &shanghai()).expect_err(text);
            assert!(err.to_string().contains("YYYY-MM-DD HH:MM"), "{err}");
        }
    }

    #[test]
    fn times_print_as_local_minutes() {
        let ts: Timestamp = "2026-05-12T06:30:59Z".parse().expect("ts");
        assert_eq!(local_in(ts, &shanghai()), "2026-05-12 14:30");
        let proto = to_proto(ts);
        assert_eq!(from_proto(&proto), Some(ts));
        assert_eq!(
            rfc3339(Some(&proto)).as_deref(),
            Some("2026-05-12T06:30:59Z")
        );
        assert_eq!(local(None), "");
    }

    #[test]
    fn the_center_zone_is_utc_plus_eight() {
        let ts: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        assert_eq!(local_in(ts, center_tz()), "2026-01-01 08:00");
    }

    #[test]
    fn spans_parse_with_a_unit() {
        assert_eq!(parse_span_seconds("90s").expect("s"), 90);
        assert_eq!(parse_span_seconds("30m").expect("m"), 1_800);
        assert_eq!(parse_span_seconds("2h").expect("h"), 7_200);
        assert_eq!(parse_span_seconds("3d").expect("d"), 259_200);
        assert!(parse_span_seconds("3").is_err());
        assert!(parse_span_seconds("h").is_err());
        assert!(parse_span_seconds("2y").is_err());
    }

    #[test]
    fn spans_print_in_the_two_largest_units() {
        assert_eq!(span(45 * 60), "45m");
        assert_eq!(span(3 * 3_600), "3h");
        assert_eq!(span(3 * 3_600 + 20 * 60), "3h 20m");
        assert_eq!(span(2 * 86_400 + 4 * 3_600 + 59), "2d 4h");
        assert_eq!(span(-(3_600 + 5 * 60)), "-1h 5m");
        assert_eq!(span(0), "0m");
    }
}
