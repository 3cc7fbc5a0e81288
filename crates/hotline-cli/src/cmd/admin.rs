//! `hotline admin`: departments, routing rules, deadline policy, calendar, API
//! keys and the classifier (AdminService).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hotline_proto::v1;
use jiff::Timestamp;
use serde_json::json;

use super::Ctx;
use crate::args::time_arg;
use crate::enums::{self, RoleArg};
use crate::files;
use crate::json;
use crate::output::{Format, Table, print_fields, print_json};
use crate::time::{local, to_proto};

/// Administrator commands (AdminService).
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Departments: create or replace, list
    #[command(subcommand)]
    Dept(DeptCommand),
    /// Routing rules: replace the whole set from a file, list
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Deadline policy: show, replace from a file
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Working calendar: show, replace from a file
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Category taxonomy: show, replace from a file
    #[command(subcommand)]
    Taxonomy(TaxonomyCommand),
    /// API keys: create (the secret is shown once), list, revoke
    #[command(subcommand)]
    Key(KeyCommand),
    /// Load the classifier model again
    ReloadClassifier {
        /// Model file on the server (default: the configured path)
        #[arg(
            long,
            value_name = "PATH",
            default_value = "",
            hide_default_value = true
        )]
        model: String,
    },
}

/// `admin dept`.
#[derive(Debug, Subcommand)]
pub enum DeptCommand {
    /// Create a department or replace the one with the same id
    Upsert(UpsertArgs),
    /// List all departments
    List,
}

/// `admin dept upsert`.
#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// Department id you choose, e.g. sz.env.gusu
    #[arg(value_name = "ID")]
    id: String,

    /// Display name, e.g. 姑苏分局
    #[arg(long)]
    name: String,

    /// Parent department id (default: a root)
    #[arg(long, value_name = "ID", default_value = "", hide_default_value = true)]
    parent: String,

    /// Administrative region served, e.g. 320508
    #[arg(
        long,
        value_name = "CODE",
        default_value = "",
        hide_default_value = true
    )]
    region: String,

    /// Depth in the hierarchy: 1 city, 2 district, 3 street
    #[arg(long, value_name = "N", default_value_t = 1)]
    level: i32,
}

/// `admin rule`.
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Replace all routing rules with those in a JSON or TOML file (- for stdin)
    #[command(after_help = RULE_FILE_HELP)]
    Put {
        /// The rules file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the routing rules in force
    List,
}

/// The rules file format, shown by `admin rule put --help`.
const RULE_FILE_HELP: &str = "\
File format (TOML; JSON is {\"rules\": [...]} with the same fields, as `admin rule list --json` prints):
  [[rules]]
  id = \"gusu-noise\"                      # optional
  category_prefix = \"环境保护/噪声污染\"   # empty: any category
  region_prefix = \"320508\"               # empty: any region
  appeal_type = \"complaint\"              # optional: any type
  lead_department_id = \"sz.env.gusu\"
  co_department_ids = []
  direct_dispatch = true                  # dispatch at create without an operator";

/// `admin policy`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the deadline policy
    Get,
    /// Replace the deadline policy from a JSON or TOML file (- for stdin)
    #[command(after_help = "File format: what `hotline admin policy get --json` prints.")]
    Put {
        /// The policy file
        #[arg(value_name = "FILE")]
        file: PathBuf,

        /// Fail with ABORTED unless the stored policy is at this version
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
    },
}

/// `admin calendar`.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Show the working calendar
    Get,
    /// Replace the working calendar from a JSON or TOML file (- for stdin)
    #[command(after_help = "File format: what `hotline admin calendar get --json` prints.")]
    Put {
        /// The calendar file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `admin taxonomy`.
#[derive(Debug, Subcommand)]
pub enum TaxonomyCommand {
    /// Show the taxonomy in force, one `CODE<TAB>PATH` line per category
    Get,
    /// Replace the taxonomy from a file (- for stdin)
    #[command(
        after_help = "File format: what `hotline admin taxonomy get` prints: one \
                            category per line, its stable code, a space or tab, its path \
                            (levels joined by /); every level listed, parents first; \
                            # starts a comment."
    )]
    Put {
        /// The taxonomy file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `admin key`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the secret is printed (or written with --out) only now
    Create(KeyCreateArgs),
    /// List API keys (never their secrets)
    List,
    /// Revoke an API key; it stops working at once
    Revoke {
        /// The key's public id
        #[arg(value_name = "KEY_ID")]
        key_id: String,
    },
}

/// `admin key create`.
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// What the key may do
    #[arg(long, value_enum)]
    role: RoleArg,

    /// The department the key acts for (required with --role department)
    #[arg(
        long,
        value_name = "DEPT",
        default_value = "",
        hide_default_value = true,
        required_if_eq("role", "department")
    )]
    dept: String,

    /// A label for people: the system or person the key is for
    #[arg(long)]
    name: String,

    /// When the key stops working (default: never)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    expires: Option<Timestamp>,

    /// Write the secret to this file (mode 0600) instead of printing it
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs one `admin` command.
pub async fn run(ctx: &Ctx, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Dept(command) => dept(ctx, command).await,
        AdminCommand::Rule(command) => rule(ctx, command).await,
        AdminCommand::Policy(command) => policy(ctx, command).await,
        AdminCommand::Calendar(command) => calendar(ctx, command).await,
        AdminCommand::Taxonomy(command) => taxonomy(ctx, command).await,
        AdminCommand::Key(command) => key(ctx, command).await,
        AdminCommand::ReloadClassifier { model } => {
            let request = v1::ReloadClassifierRequest { model_path: model };
            let response = ctx
                .conn
                .admin()
                .reload_classifier(request)
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({
                    "model_version": response.model_version,
                    "labels": response.labels,
                    "loaded": response.loaded,
                    "message": response.message,
                })),
                Format::Text => print_fields(&[
                    (
                        "loaded",
                        if response.loaded { "yes" } else { "no" }.to_owned(),
                    ),
                    ("model version", response.model_version),
                    ("labels", response.labels.to_string()),
                    ("message", response.message),
                ]),
            }
            Ok(())
        }
    }
}

/// `admin dept ...`.
async fn dept(ctx: &Ctx, command: DeptCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.admin();
    let departments = match command {
        DeptCommand::Upsert(args) => {
            let request = v1::UpsertDepartmentRequest {
                department: Some(v1::Department {
                    id: args.id,
                    name: args.name,
                    parent_id: args.parent,
                    region_code: args.region,
                    level: args.level,
                }),
            };
            let response = client.upsert_department(request).await?.into_inner();
            if ctx.format == Format::Json {
                print_json(&json!({
                    "department": response.department.as_ref().map(json::department),
                }));
                return Ok(());
            }
            response.department.into_iter().collect::<Vec<_>>()
        }
        DeptCommand::List => {
            let response = client
                .list_departments(v1::ListDepartmentsRequest {})
                .await?
                .into_inner();
            if ctx.format == Format::Json {
                print_json(&json!({
                    "departments": response.departments.iter().map(json::department).collect::<Vec<_>>(),
                }));
                return Ok(());
            }
            response.departments
        }
    };
    print_departments(&departments);
    Ok(())
}

/// Prints departments as a table.
pub fn print_departments(departments: &[v1::Department]) {
    let mut table = Table::new(["ID", "NAME", "PARENT", "REGION", "LEVEL"]);
    for d in departments {
        table.row([
            d.id.clone(),
            d.name.clone(),
            d.parent_id.clone(),
            d.region_code.clone(),
            d.level.to_string(),
        ]);
    }
    table.print_or("no departments");
}

/// `admin rule ...`.
async fn rule(ctx: &Ctx, command: RuleCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.admin();
    match command {
        RuleCommand::Put { file } => {
            let rules = files::read_rules(&file)?;
            let response = client
                .put_routing_rules(v1::PutRoutingRulesRequest { rules })
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({ "count": response.count })),
                Format::Text => println!("{} routing rules in force", response.count),
            }
        }
        RuleCommand::List => {
            let response = client
                .get_routing_rules(v1::GetRoutingRulesRequest {})
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({
                    "rules": response.rules.iter().map(json::routing_rule).collect::<Vec<_>>(),
                })),
                Format::Text => print_rules(&response.rules),
            }
        }
    }
    Ok(())
}

/// Prints routing rules as a table.
pub fn print_rules(rules: &[v1::RoutingRule]) {
    let mut table = Table::new([
        "ID",
        "CATEGORY",
        "REGION",
        "TYPE",
        "LEAD",
        "CO-HANDLERS",
        "DIRECT",
    ]);
    for r in rules {
        table.row([
            r.id.clone(),
            or_any(&r.category_prefix),
            or_any(&r.region_prefix),
            or_any(&enums::name::<v1::AppealType>(r.appeal_type)),
            r.lead_department_id.clone(),
            r.co_department_ids.join(","),
            if r.direct_dispatch { "yes" } else { "no" }.to_owned(),
        ]);
    }
    table.print_or("no routing rules");
}

/// Shows an empty matcher as `*`.
fn or_any(text: &str) -> String {
    if text.is_empty() {
        "*".to_owned()
    } else {
        text.to_owned()
    }
}

/// `admin policy ...`.
async fn policy(ctx: &Ctx, command: PolicyCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.admin();
    let policy = match command {
        PolicyCommand::Get => {
            client
                .get_deadline_policy(v1::GetDeadlinePolicyRequest {})
                .await?
                .into_inner()
                .policy
        }
        PolicyCommand::Put {
            file,
            expect_version,
        } => {
            let request = v1::PutDeadlinePolicyRequest {
                policy: Some(files::read_policy(&file)?),
                expected_version: expect_version,
            };
            client
                .put_deadline_policy(request)
                .await?
                .into_inner()
                .policy
        }
    };
    let policy = policy.unwrap_or_default();
    match ctx.format {
        Format::Json => print_json(&json!({ "policy": json::policy(&policy) })),
        Format::Text => print_policy(&policy),
    }
    Ok(())
}

/// Describes a window, e.g. `2h calendar`, `5 working days`.
fn window_text(window: Option<&v1::Window>) -> String {
    let Some(w) = window else {
        return String::new();
    };
    match v1::TimeMode::try_from(w.mode) {
        Ok(v1::TimeMode::Calendar) => format!("{} calendar", minutes_text(w.amount)),
        Ok(v1::TimeMode::WorkingHours) => plural(w.amount, "working hour"),
        Ok(v1::TimeMode::WorkingDays) => plural(w.amount, "working day"),
        _ => format!("{} (mode {})", w.amount, w.mode),
    }
}

/// Writes `1 working day`, `5 working days`.
fn plural(amount: u32, unit: &str) -> String {
    if amount == 1 {
        format!("1 {unit}")
    } else {
        format!("{amount} {unit}s")
    }
}

/// Writes minutes in hours where whole: `30m`, `2h`, `24h`, `1h 30m`.
fn minutes_text(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// Prints the policy: its limits, then the matrix.
fn print_policy(policy: &v1::DeadlinePolicy) {
    print_fields(&[
        ("version", policy.version.to_string()),
        ("max returns", policy.max_returns.to_string()),
        ("max extensions", policy.max_extensions.to_string()),
        ("max reopens", policy.max_reopens.to_string()),
        (
            "warning at",
            format!("{}% of the window", policy.warning_percent),
        ),
        (
            "seriously overdue",
            format!("{} past due", minutes_text(policy.serious_overdue_minutes)),
        ),
        (
            "callback within",
            window_text(policy.callback_within.as_ref()),
        ),
    ]);
    println!();
    let mut table = Table::new([
        "TYPE",
        "PRIORITY",
        "CATEGORY",
        "SIGN WITHIN",
        "REPLY WITHIN",
    ]);
    for e in &policy.entries {
        table.row([
            or_any(&enums::name::<v1::AppealType>(e.appeal_type)),
            or_any(&enums::name::<v1::Priority>(e.priority)),
            or_any(&e.category_prefix),
            window_text(e.sign_within.as_ref()),
            window_text(e.reply_within.as_ref()),
        ]);
    }
    table.print_or("no policy entries");
}

/// `admin calendar ...`.
async fn taxonomy(ctx: &Ctx, command: TaxonomyCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.admin();
    match command {
        TaxonomyCommand::Get => {
            let response = client
                .get_taxonomy(v1::GetTaxonomyRequest {})
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({
                    "version": response.version,
                    "categories": response.categories.iter().map(|c| json!({
                        "code": c.code,
                        "path": c.path,
                    })).collect::<Vec<_>>(),
                })),
                Format::Text => {
                    let mut out = std::io::stdout().lock();
                    for c in &response.categories {
                        writeln!(out, "{}\t{}", c.code, c.path)?;
                    }
                }
            }
        }
        TaxonomyCommand::Put { file } => {
            let text = if file == Path::new("-") {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let parsed = hotline_core::Taxonomy::parse(&text)
                .with_context(|| format!("{}: invalid taxonomy", file.display()))?;
            let request = v1::PutTaxonomyRequest {
                categories: parsed
                    .entries()
                    .iter()
                    .map(|e| v1::TaxonomyCategory {
                        code: e.code.clone(),
                        path: e.path.clone(),
                    })
                    .collect(),
            };
            let response = client.put_taxonomy(request).await?.into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({
                    "categories": response.categories,
                    "version": response.version,
                })),
                Format::Text => print_fields(&[
                    ("categories", response.categories.to_string()),
                    ("version", response.version.to_string()),
                ]),
            }
        }
    }
    Ok(())
}

async fn calendar(ctx: &Ctx, command: CalendarCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.admin();
    let calendar = match command {
        CalendarCommand::Get => {
            client
                .get_calendar(v1::GetCalendarRequest {})
                .await?
                .into_inner()
                .calendar
        }
        CalendarCommand::Put { file } => {
            let request = v1::PutCalendarRequest {
                calendar: Some(files::read_calendar(&file)?),
            };
            client.put_calendar(request).await?.into_inner().calendar
        }
    };
    let calendar = calendar.unwrap_or_default();
    match ctx.format {
        Format::Json => print_json(&json!({ "calendar": json::calendar(&calendar) })),
        Format::Text => {
            let hours: Vec<String> = calendar
                .working_hours
                .iter()
                .map(|h| format!("{}-{}", h.start, h.end))
                .collect();
            print_fields(&[
                ("time zone", calendar.time_zone.clone()),
                ("working hours", hours.join(", ")),
                ("weekly pattern", "Monday to Friday".to_owned()),
            ]);
            println!();
            let mut table = Table::new(["DATE", "KIND", "NAME"]);
            for d in &calendar.days {
                let kind = if d.working {
                    "working (调休)"
                } else {
                    "holiday"
                };
                table.row([d.date.clone(), kind.to_owned(), d.name.clone()]);
            }
            table.print_or("no exceptions to the weekly pattern");
        }
    }
    Ok(())
}

/// `admin key ...`.
async fn key(ctx: &Ctx, command: KeyCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.admin();
    match command {
        KeyCommand::Create(args) => {
            let request = v1::CreateApiKeyRequest {
                role: v1::Role::from(args.role).into(),
                department_id: args.dept,
                name: args.name,
                expires_at: args.expires.map(to_proto),
            };
            let response = client.create_api_key(request).await?.into_inner();
            match (&args.out, ctx.format) {
                (Some(path), format) => {
                    write_secret_file(path, &response.key)?;
                    match format {
                        Format::Json => print_json(&json!({
                            "key_id": response.key_id,
                            "key_file": path.display().to_string(),
                        })),
                        Format::Text => {
                            println!("key {} written to {}", response.key_id, path.display())
                        }
                    }
                }
                (None, Format::Json) => print_json(&json!({
                    "key": response.key,
                    "key_id": response.key_id,
                })),
                (None, Format::Text) => {
                    print_fields(&[("key id", response.key_id), ("key", response.key)]);
                    eprintln!("the key is shown only now: store it safely");
                }
            }
        }
        KeyCommand::List => {
            let response = client
                .list_api_keys(v1::ListApiKeysRequest {})
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({
                    "keys": response.keys.iter().map(json::api_key).collect::<Vec<_>>(),
                })),
                Format::Text => {
                    let mut table = Table::new([
                        "KEY ID",
                        "NAME",
                        "ROLE",
                        "DEPARTMENT",
                        "CREATED",
                        "EXPIRES",
                        "REVOKED",
                    ]);
                    for k in &response.keys {
                        table.row([
                            k.key_id.clone(),
                            k.name.clone(),
                            enums::name::<v1::Role>(k.role),
                            k.department_id.clone(),
                            local(k.created_at.as_ref()),
                            local(k.expires_at.as_ref()),
                            local(k.revoked_at.as_ref()),
                        ]);
                    }
                    table.print_or("no keys");
                }
            }
        }
        KeyCommand::Revoke { key_id } => {
            let response = client
                .revoke_api_key(v1::RevokeApiKeyRequest { key_id })
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&json!({
                    "key_id": response.key_id,
                    "revoked_at": crate::time::rfc3339(response.revoked_at.as_ref()),
                })),
                Format::Text => println!(
                    "key {} revoked at {}",
                    response.key_id,
                    local(response.revoked_at.as_ref())
                ),
            }
        }
    }
    Ok(())
}

/// Writes a secret to a file readable only by its owner (mode 0600 on Unix),
/// replacing any previous content.
///
/// # Errors
/// Fails when the file cannot be created or written.
pub fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open; tighten it explicitly.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    write_line(file, path, secret)
}

/// Writes `secret` and a newline to `file`, flushing it to disk.
fn write_line(mut file: std::fs::File, path: &Path, secret: &str) -> anyhow::Result<()> {
    writeln!(file, "{secret}").with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_describe_their_mode() {
        let w = |mode: v1::TimeMode, amount| v1::Window {
            mode: mode.into(),
            amount,
        };
        assert_eq!(
            window_text(Some(&w(v1::TimeMode::Calendar, 30))),
            "30m calendar"
        );
        assert_eq!(
            window_text(Some(&w(v1::TimeMode::Calendar, 120))),
            "2h calendar"
        );
        assert_eq!(
            window_text(Some(&w(v1::TimeMode::WorkingDays, 5))),
            "5 working days"
        );
        assert_eq!(
            window_text(Some(&w(v1::TimeMode::WorkingHours, 4))),
            "4 working hours"
        );
        assert_eq!(window_text(None), "");
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_private_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_secret_file(&path, "hk_new").expect("writes");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "hk_new\n");
    }
}
