//! `hotline supervise`: deadlines, supervision, decisions and analysis
//! (SupervisionService).

use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand};
use hotline_proto::v1;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::Ctx;
use crate::args::{Decision, Page, Target, span_arg, time_arg};
use crate::enums::{self, DeadlineKindArg, SupervisionLevelArg, WarningLevelArg};
use crate::json;
use crate::output::{Format, Table, clip, print_json, print_next_page};
use crate::time::{local, span, start_of_month, to_proto};

/// Supervisor commands (SupervisionService).
#[derive(Debug, Subcommand)]
pub enum SuperviseCommand {
    /// List overdue deadlines, most overdue first
    Overdue(OverdueArgs),
    /// List deadlines falling due soon, soonest first
    DueSoon(DueSoonArgs),
    /// Send a reminder notice to the handling departments (催办)
    Urge(NoteArgs),
    /// Put a ticket under formal or leader supervision (督办)
    Supervise(SuperviseArgs),
    /// Approve or reject a pending extension request
    DecideExtension(DecideArgs),
    /// Approve (back to dispatch) or reject a pending return request
    DecideReturn(DecideArgs),
    /// Approve (clock stops) or reject a pending suspension request
    DecideSuspension(DecideArgs),
    /// Approve (exempt from satisfaction statistics) or reject a rating dispute
    DecideDispute(DecideArgs),
    /// Per-department statistics (三率) for a period, ranked
    Stats(StatsArgs),
    /// Clusters of same-category tickets in one region (热点)
    Hotspots(HotspotArgs),
}

/// `supervise overdue`.
#[derive(Debug, Args)]
pub struct OverdueArgs {
    /// Only this kind of deadline
    #[arg(long, value_enum)]
    kind: Option<DeadlineKindArg>,

    /// Only deadlines of this department
    #[arg(
        long,
        value_name = "DEPT",
        default_value = "",
        hide_default_value = true
    )]
    dept: String,

    /// Only tickets whose region code starts with this prefix
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true
    )]
    region: String,

    /// Only tickets whose category path starts with this prefix
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true
    )]
    category: String,

    /// Only items at or above this warning light (default: overdue)
    #[arg(long, value_enum, value_name = "LEVEL")]
    min_level: Option<WarningLevelArg>,

    #[command(flatten)]
    page: Page,
}

/// `supervise due-soon`.
#[derive(Debug, Args)]
pub struct DueSoonArgs {
    /// Deadlines due within this span from now, e.g. 2h, 24h, 3d
    #[arg(long, value_name = "SPAN", default_value = "24h", value_parser = span_arg)]
    within: i64,

    /// Only this kind of deadline
    #[arg(long, value_enum)]
    kind: Option<DeadlineKindArg>,

    /// Only deadlines of this department
    #[arg(
        long,
        value_name = "DEPT",
        default_value = "",
        hide_default_value = true
    )]
    dept: String,

    /// Only tickets whose region code starts with this prefix
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true
    )]
    region: String,

    /// Only tickets whose category path starts with this prefix
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true
    )]
    category: String,

    /// Only items whose warning light is at least this (e.g. warning: yellow already)
    #[arg(long, value_enum, value_name = "LEVEL")]
    min_level: Option<WarningLevelArg>,

    #[command(flatten)]
    page: Page,
}

/// `supervise urge`.
#[derive(Debug, Args)]
pub struct NoteArgs {
    #[command(flatten)]
    target: Target,

    /// The notice sent to the departments
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// `supervise supervise`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    #[command(flatten)]
    target: Target,

    /// Formal supervision or supervision by a leader
    #[arg(long, value_enum, default_value = "supervise")]
    level: SupervisionLevelArg,

    /// When the departments must report back
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    feedback_due: Option<Timestamp>,

    /// The supervision notice sent to the departments
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// `supervise decide-*`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    target: Target,

    #[command(flatten)]
    decision: Decision,

    /// Reason for the decision
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// `supervise stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// One department (default: all, ranked)
    #[arg(
        long,
        value_name = "DEPT",
        default_value = "",
        hide_default_value = true
    )]
    dept: String,

    /// Start of the period (default: the first of this month)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    from: Option<Timestamp>,

    /// End of the period, exclusive (default: now)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    to: Option<Timestamp>,

    /// Print CSV (a header, then one row per department) instead of a table
    #[arg(long)]
    csv: bool,
}

/// `supervise hotspots`.
#[derive(Debug, Args)]
pub struct HotspotArgs {
    /// Start of the window (default: 7 days ago)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    from: Option<Timestamp>,

    /// End of the window, exclusive (default: now)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    to: Option<Timestamp>,

    /// Minimum tickets for a hotspot (0: the configured threshold)
    #[arg(long, value_name = "N", default_value_t = 0)]
    min_count: i32,

    /// Region digits to group by: 6 district, 9 street, 12 community
    #[arg(long, value_name = "DIGITS", default_value_t = 9,
          value_parser = clap::builder::PossibleValuesParser::new(["6", "9", "12"])
              .map(|s| s.parse::<i32>().unwrap_or(9)))]
    region_level: i32,
}

/// Runs one `supervise` command.
pub async fn run(ctx: &Ctx, command: SuperviseCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.supervision();
    let response = match command {
        SuperviseCommand::Overdue(args) => {
            let request = v1::ListOverdueRequest {
                kind: args.kind.map_or(0, |k| v1::DeadlineKind::from(k).into()),
                department_id: args.dept,
                region_prefix: args.region,
                category_prefix: args.category,
                min_level: args.min_level.map(|l| v1::WarningLevel::from(l).into()),
                page_size: args.page.limit,
                page_token: args.page.page_token,
            };
            let response = client.list_overdue(request).await?.into_inner();
            print_items(
                ctx,
                &response.items,
                &response.next_page_token,
                "OVERDUE",
                1,
            );
            return Ok(());
        }
        SuperviseCommand::DueSoon(args) => {
            let request = v1::ListDueSoonRequest {
                within_seconds: args.within,
                kind: args.kind.map_or(0, |k| v1::DeadlineKind::from(k).into()),
                department_id: args.dept,
                page_size: args.page.limit,
                page_token: args.page.page_token,
                region_prefix: args.region,
                category_prefix: args.category,
                min_level: args.min_level.map(|l| v1::WarningLevel::from(l).into()),
            };
            let response = client.list_due_soon(request).await?.into_inner();
            print_items(ctx, &response.items, &response.next_page_token, "LEFT", -1);
            return Ok(());
        }
        SuperviseCommand::Stats(args) => {
            let request = v1::GetDepartmentStatsRequest {
                department_id: args.dept,
                period_start: Some(to_proto(match args.from {
                    Some(from) => from,
                    None => start_of_month()?,
                })),
                period_end: Some(to_proto(args.to.unwrap_or_else(Timestamp::now))),
            };
            let response = client.get_department_stats(request).await?.into_inner();
            if args.csv {
                print!("{}", stats_csv(&response.stats));
            } else {
                print_stats(ctx, &response.stats);
            }
            return Ok(());
        }
        SuperviseCommand::Hotspots(args) => {
            let now = Timestamp::now();
            let from = match args.from {
                Some(from) => from,
                None => now
                    .checked_sub(SignedDuration::from_hours(7 * 24))
                    .unwrap_or(now),
            };
            let request = v1::ListHotspotsRequest {
                window_start: Some(to_proto(from)),
                window_end: Some(to_proto(args.to.unwrap_or(now))),
                min_count: args.min_count,
                region_level: args.region_level,
            };
            let response = client.list_hotspots(request).await?.into_inner();
            print_hotspots(ctx, &response.hotspots);
            return Ok(());
        }
        SuperviseCommand::Urge(args) => {
            let request = v1::UrgeTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                note: args.note,
            };
            client.urge_ticket(request).await?
        }
        SuperviseCommand::Supervise(args) => {
            let request = v1::SuperviseTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                level: v1::SupervisionLevel::from(args.level).into(),
                note: args.note,
                feedback_due: args.feedback_due.map(to_proto),
            };
            client.supervise_ticket(request).await?
        }
        SuperviseCommand::DecideExtension(args) => {
            let request = v1::DecideExtensionRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                approve: args.decision.approve,
                note: args.note,
            };
            client.decide_extension(request).await?
        }
        SuperviseCommand::DecideReturn(args) => {
            let request = v1::DecideReturnRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                approve: args.decision.approve,
                note: args.note,
            };
            client.decide_return(request).await?
        }
        SuperviseCommand::DecideSuspension(args) => {
            let request = v1::DecideSuspensionRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                approve: args.decision.approve,
                note: args.note,
            };
            client.decide_suspension(request).await?
        }
        SuperviseCommand::DecideDispute(args) => {
            let request = v1::DecideDisputeRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                approve: args.decision.approve,
                note: args.note,
            };
            client.decide_dispute(request).await?
        }
    };
    ctx.print_ticket_response(&response.into_inner());
    Ok(())
}

/// Prints overdue or due-soon items; `sign` turns overdue seconds into the
/// column shown (1: time past due, -1: time left).
fn print_items(ctx: &Ctx, items: &[v1::OverdueItem], next: &str, column: &str, sign: i64) {
    if ctx.format == Format::Json {
        print_json(&json::overdue_page(items, next));
        return;
    }
    let mut table = Table::new([
        "ID",
        "NUMBER",
        "KIND",
        "DEPARTMENT",
        "DUE",
        column,
        "LIGHT",
        "TITLE",
    ]);
    for item in items {
        let ticket = item.ticket.as_ref();
        table.row([
            ticket.map(|t| t.id.clone()).unwrap_or_default(),
            ticket.map(|t| t.number.clone()).unwrap_or_default(),
            enums::name::<v1::DeadlineKind>(item.kind),
            item.department_id.clone(),
            local(item.due.as_ref()),
            span(item.overdue_seconds.saturating_mul(sign)),
            ticket
                .map(|t| enums::name::<v1::WarningLevel>(t.warning_level))
                .unwrap_or_default(),
            ticket.map(|t| clip(&t.title, 30)).unwrap_or_default(),
        ]);
    }
    table.print_or("nothing found");
    print_next_page(next);
}

/// Formats a 0..1 rate as a percentage, or `-` when its denominator is 0
/// (the server sends 0 then, which would read as a failure).
fn percent(rate: f64, denominator: i64) -> String {
    if denominator == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", rate * 100.0)
    }
}

/// Prints department statistics, ranked.
fn print_stats(ctx: &Ctx, stats: &[v1::DepartmentStats]) {
    if ctx.format == Format::Json {
        print_json(&json!({
            "stats": stats.iter().map(json::department_stats).collect::<Vec<_>>(),
        }));
        return;
    }
    let mut table = Table::new([
        "RANK",
        "DEPARTMENT",
        "NAME",
        "DISPATCHED",
        "RESPONSE",
        "RESOLUTION",
        "SATISFACTION",
        "ON-TIME",
        "RETURNS",
        "REJECTED",
        "EXTENSIONS",
        "OVERDUE",
        "URGED",
        "SUPERVISED",
        "MEAN SIGN",
        "MEAN REPLY",
    ]);
    for s in stats {
        table.row([
            s.rank.to_string(),
            s.department_id.clone(),
            s.department_name.clone(),
            s.dispatched.to_string(),
            percent(s.response_rate, s.dispatched),
            percent(s.resolution_rate, s.callbacks),
            percent(s.satisfaction_rate, s.callbacks),
            percent(s.on_time_reply_rate, s.replied),
            s.returns.to_string(),
            s.returns_rejected.to_string(),
            s.extensions.to_string(),
            s.overdue.to_string(),
            s.urged.to_string(),
            s.supervised.to_string(),
            mean(s.mean_sign_seconds, s.signed),
            mean(s.mean_reply_seconds, s.replied),
        ]);
    }
    table.print_or("no statistics for the period");
}

/// Formats a mean time, or `-` when nothing was measured.
fn mean(seconds: i64, measured: i64) -> String {
    if measured == 0 {
        "-".to_owned()
    } else {
        span(seconds)
    }
}

/// The columns of `supervise stats --csv`, in order.
const STATS_CSV_HEADER: &[&str] = &[
    "rank",
    "department_id",
    "department_name",
    "dispatched",
    "signed",
    "signed_on_time",
    "response_rate",
    "callbacks",
    "resolved",
    "resolution_rate",
    "satisfied",
    "satisfaction_rate",
    "replied",
    "replied_on_time",
    "on_time_reply_rate",
    "returns",
    "returns_approved",
    "returns_rejected",
    "extensions",
    "overdue",
    "urged",
    "supervised",
    "mean_sign_seconds",
    "mean_reply_seconds",
];

/// Renders department statistics as CSV (RFC 4180): a header line, then one line
/// per department in rank order; rates are fractions with four decimals.
fn stats_csv(stats: &[v1::DepartmentStats]) -> String {
    let rate = |r: f64| format!("{r:.4}");
    let mut out = STATS_CSV_HEADER.join(",");
    out.push_str("\r\n");
    for s in stats {
        let cells = [
            s.rank.to_string(),
            csv_field(&s.department_id),
            csv_field(&s.department_name),
            s.dispatched.to_string(),
            s.signed.to_string(),
            s.signed_on_time.to_string(),
            rate(s.response_rate),
            s.callbacks.to_string(),
            s.resolved.to_string(),
            rate(s.resolution_rate),
            s.satisfied.to_string(),
            rate(s.satisfaction_rate),
            s.replied.to_string(),
            s.replied_on_time.to_string(),
            rate(s.on_time_reply_rate),
            s.returns.to_string(),
            s.returns_approved.to_string(),
            s.returns_rejected.to_string(),
            s.extensions.to_string(),
            s.overdue.to_string(),
            s.urged.to_string(),
            s.supervised.to_string(),
            s.mean_sign_seconds.to_string(),
            s.mean_reply_seconds.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Quotes a CSV field when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Prints hotspots, largest first.
fn print_hotspots(ctx: &Ctx, hotspots: &[v1::Hotspot]) {
    if ctx.format == Format::Json {
        print_json(&json!({
            "hotspots": hotspots.iter().map(json::hotspot).collect::<Vec<_>>(),
        }));
        return;
    }
    let mut table = Table::new([
        "CATEGORY", "REGION", "COUNT", "PREVIOUS", "TREND", "FIRST", "LAST",
    ]);
    for h in hotspots {
        table.row([
            h.category.clone(),
            h.region_code.clone(),
            h.count.to_string(),
            h.previous_count.to_string(),
            trend(h),
            local(h.first_at.as_ref()),
            local(h.last_at.as_ref()),
        ]);
    }
    table.print_or("no hotspots in the window");
    for h in hotspots.iter().filter(|h| !h.samples.is_empty()) {
        println!("\n{} {}", h.category, h.region_code);
        let mut samples = Table::new(["TICKET", "CREATED", "TITLE"]);
        for sample in &h.samples {
            samples.row([
                sample.number.clone(),
                local(sample.created_at.as_ref()),
                sample.title.clone(),
            ]);
        }
        print!("{}", samples.render());
        if h.clusters.iter().any(|c| c.count > 1) {
            let mut clusters = Table::new(["SAME MATTER", "NEWEST", "TITLE"]);
            for c in h.clusters.iter().filter(|c| c.count > 1) {
                let sample = c.sample.clone().unwrap_or_default();
                clusters.row([c.count.to_string(), sample.number, sample.title]);
            }
            print!("{}", clusters.render());
        }
    }
}

/// Returns a hotspot's change from the previous window: `new` when that had none,
/// else a signed percentage.
fn trend(h: &v1::Hotspot) -> String {
    if h.previous_count == 0 {
        "new".to_owned()
    } else {
        format!("{:+.0}%", h.growth * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_is_new_without_a_previous_count_and_a_signed_percentage_otherwise() {
        let hotspot = |count, previous_count, growth| v1::Hotspot {
            count,
            previous_count,
            growth,
            ..v1::Hotspot::default()
        };
        assert_eq!(trend(&hotspot(5, 0, 5.0)), "new");
        assert_eq!(trend(&hotspot(6, 4, 0.5)), "+50%");
        assert_eq!(trend(&hotspot(2, 4, -0.5)), "-50%");
        assert_eq!(trend(&hotspot(4, 4, 0.0)), "+0%");
    }

    #[test]
    fn stats_csv_has_a_header_and_one_quoted_row_per_department() {
        let row = |id: &str, name: &str, rank| v1::DepartmentStats {
            department_id: id.to_owned(),
            department_name: name.to_owned(),
            rank,
            dispatched: 5,
            signed: 4,
            signed_on_time: 3,
            response_rate: 0.6,
            callbacks: 3,
            resolved: 2,
            resolution_rate: 2.0 / 3.0,
            satisfied: 2,
            satisfaction_rate: 2.0 / 3.0,
            returns_rejected: 1,
            returns: 1,
            mean_sign_seconds: 32_400,
            ..Default::default()
        };
        let csv = stats_csv(&[row("sz.water", "市水务局", 1), row("sz.x", "甲,\"乙\"", 2)]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines.len(), 4, "header, two rows, and the final line break");
        assert_eq!(lines[0].split(',').count(), STATS_CSV_HEADER.len());
        assert!(lines[0].starts_with("rank,department_id,department_name,dispatched"));
        assert_eq!(
            lines[1],
            "1,sz.water,市水务局,5,4,3,0.6000,3,2,0.6667,2,0.6667,0,0,0.0000,1,0,1,0,0,0,0,32400,0"
        );
        assert!(lines[2].starts_with("2,sz.x,\"甲,\"\"乙\"\"\",5,"));
        assert_eq!(lines[3], "");
    }

    #[test]
    fn rates_print_as_percentages() {
        assert_eq!(percent(0.0, 3), "0.0%");
        assert_eq!(percent(0.9333, 15), "93.3%");
        assert_eq!(percent(1.0, 1), "100.0%");
        assert_eq!(percent(0.0, 0), "-");
    }
}
