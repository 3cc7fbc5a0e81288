//! `hotline ticket`: the operator's side of the loop (TicketService).

use clap::{Args, Subcommand};
use hotline_proto::v1;
use jiff::Timestamp;

use super::Ctx;
use crate::args::{Page, Target, time_arg};
use crate::enums::{self, AppealTypeArg, ChannelArg, PriorityArg, SatisfactionArg, StatusArg};
use crate::json;
use crate::output::{Format, Table, clip, print_json, print_next_page};
use crate::render::{
    duplicate_table, print_duplicates, print_ticket_detail, print_ticket_summary,
    print_ticket_table,
};
use crate::time::{local, to_proto};

/// Operator commands (TicketService).
#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// Create a ticket from an appeal; auto-dispatched when a rule matches
    Create(CreateArgs),
    /// Show one ticket in full
    Show {
        /// Ticket id
        #[arg(value_name = "TICKET")]
        ticket: String,
    },
    /// List tickets, newest first
    List(ListArgs),
    /// Show a ticket's event history (全程留痕)
    Timeline {
        /// Ticket id
        #[arg(value_name = "TICKET")]
        ticket: String,
    },
    /// Dispatch a pending ticket to a lead department and co-handlers
    Dispatch(DispatchArgs),
    /// Answer at intake and close without dispatch (直接答复)
    Answer(AnswerArgs),
    /// Accept a department's reply or send it back (审核)
    Review(ReviewArgs),
    /// Record the callback to the citizen (回访); closes or reopens
    Callback(CallbackArgs),
    /// Close because the citizen withdrew the appeal (撤诉)
    Withdraw(ReasonArgs),
    /// Merge a duplicate ticket into a master ticket (并件)
    Merge(MergeArgs),
    /// Find tickets similar to a ticket or to free text
    Similar(SimilarArgs),
    /// Close a ticket as invalid (e.g. a prank call)
    Invalid(ReasonArgs),
}

/// `ticket create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Nature of the appeal
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    appeal_type: AppealTypeArg,

    /// How the appeal arrived
    #[arg(long, value_enum, default_value = "phone")]
    channel: ChannelArg,

    /// Deadline tier
    #[arg(long, value_enum, default_value = "normal")]
    priority: PriorityArg,

    /// Short summary of the appeal
    #[arg(long)]
    title: String,

    /// Full text of the appeal
    #[arg(long)]
    body: String,

    /// Address the appeal is about
    #[arg(long, default_value = "", hide_default_value = true)]
    address: String,

    /// Administrative region code (6, 9 or 12 digits), e.g. 320508001
    #[arg(
        long,
        value_name = "CODE",
        default_value = "",
        hide_default_value = true
    )]
    region: String,

    /// Taxonomy path chosen by the operator, e.g. 环境保护/噪声污染/施工噪声 (default: classifier)
    #[arg(
        long,
        value_name = "PATH",
        default_value = "",
        hide_default_value = true
    )]
    category: String,

    /// Citizen's name
    #[arg(long, default_value = "", hide_default_value = true)]
    name: String,

    /// Citizen's phone number
    #[arg(long, default_value = "", hide_default_value = true)]
    phone: String,

    /// The citizen gave no identity
    #[arg(long)]
    anonymous: bool,

    /// The citizen asked for confidentiality (保密): departments never see them
    #[arg(long)]
    confidential: bool,

    /// The citizen wants no callback after the reply
    #[arg(long)]
    no_callback: bool,

    /// Latitude in WGS-84 degrees
    #[arg(long, requires = "lon", allow_negative_numbers = true)]
    lat: Option<f64>,

    /// Longitude in WGS-84 degrees
    #[arg(long, requires = "lat", allow_negative_numbers = true)]
    lon: Option<f64>,

    /// Idempotency key; a retry with the same key returns the same ticket (default: a new UUID)
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
}

/// `ticket list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these statuses (repeat or comma-separate)
    #[arg(
        long = "status",
        value_enum,
        value_delimiter = ',',
        value_name = "STATUS"
    )]
    statuses: Vec<StatusArg>,

    /// Only tickets with an assignment for this department
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

    /// Only tickets created at or after this time
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    from: Option<Timestamp>,

    /// Only tickets created before this time
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    to: Option<Timestamp>,

    /// Only tickets whose title or body contains this text
    #[arg(long, default_value = "", hide_default_value = true)]
    text: String,

    #[command(flatten)]
    page: Page,
}

/// `ticket dispatch`.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    #[command(flatten)]
    target: Target,

    /// The lead department (主办)
    #[arg(long, value_name = "DEPT")]
    lead: String,

    /// Co-handling departments (协办; repeat or comma-separate)
    #[arg(long, value_name = "DEPT", value_delimiter = ',')]
    co: Vec<String>,

    /// Note for the departments and the timeline
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// `ticket answer`.
#[derive(Debug, Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    target: Target,

    /// The answer given to the citizen
    #[arg(long)]
    content: String,
}

/// `ticket review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    target: Target,

    #[command(flatten)]
    verdict: Verdict,

    /// Why the reply is sent back, or a remark on acceptance
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// Accept or send back a reply.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Verdict {
    /// Accept the reply
    #[arg(long)]
    accept: bool,

    /// Send the ticket back to the department (IN_PROGRESS)
    #[arg(long)]
    send_back: bool,
}

/// `ticket callback`.
#[derive(Debug, Args)]
pub struct CallbackArgs {
    #[command(flatten)]
    target: Target,

    /// The citizen's rating (required unless --not-contacted)
    #[arg(long, value_enum, required_unless_present = "not_contacted")]
    satisfaction: Option<SatisfactionArg>,

    /// Whether the citizen says the problem is resolved (default: yes unless unsatisfied)
    #[arg(
        long,
        value_name = "yes|no",
        hide_possible_values = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    resolved: Option<bool>,

    /// The citizen could not be reached
    #[arg(long, conflicts_with_all = ["satisfaction", "resolved", "reopen"])]
    not_contacted: bool,

    /// Reopen to the same department with a new deadline (重办; only when unsatisfied)
    #[arg(long)]
    reopen: bool,

    /// The operator's notes of the call
    #[arg(long, default_value = "", hide_default_value = true)]
    comment: String,
}

/// `ticket withdraw` and `ticket invalid`.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    #[command(flatten)]
    target: Target,

    /// Why
    #[arg(long)]
    reason: String,
}

/// `ticket merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The duplicate ticket, which becomes MERGED
    #[command(flatten)]
    target: Target,

    /// The master ticket, which stays open
    #[arg(long, value_name = "TICKET")]
    into: String,

    /// Note for the timeline
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// `ticket similar`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)
    .args(["ticket", "title", "body", "phone", "address"])))]
pub struct SimilarArgs {
    /// A ticket to match (the text flags are then ignored)
    #[arg(value_name = "TICKET")]
    ticket: Option<String>,

    /// Title to match
    #[arg(long, default_value = "", hide_default_value = true)]
    title: String,

    /// Body to match
    #[arg(long, default_value = "", hide_default_value = true)]
    body: String,

    /// Citizen phone to match
    #[arg(long, default_value = "", hide_default_value = true)]
    phone: String,

    /// Address to match
    #[arg(long, default_value = "", hide_default_value = true)]
    address: String,

    /// Taxonomy path to match with the address (default: classifier)
    #[arg(
        long,
        value_name = "PATH",
        default_value = "",
        hide_default_value = true
    )]
    category: String,

    /// Maximum candidates (0: the server's default)
    #[arg(long, value_name = "N", default_value_t = 0)]
    limit: i32,
}

/// Runs one `ticket` command.
pub async fn run(ctx: &Ctx, command: TicketCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.tickets();
    match command {
        TicketCommand::Create(args) => {
            let request = create_request(args);
            let response = client.create_ticket(request).await?.into_inner();
            match ctx.format {
                Format::Json => print_json(&json::create_response(&response)),
                Format::Text => {
                    if !response.created {
                        println!("(request id seen before: this is the ticket it created)");
                    }
                    if let Some(ticket) = &response.ticket {
                        print_ticket_summary(ticket);
                    }
                    print_duplicates(&response.duplicates);
                }
            }
        }
        TicketCommand::Show { ticket } => {
            let response = client
                .get_ticket(v1::GetTicketRequest { ticket_id: ticket })
                .await?
                .into_inner();
            match (ctx.format, &response.ticket) {
                (Format::Json, _) => print_json(&json::ticket_response(&response)),
                (Format::Text, Some(ticket)) => print_ticket_detail(ticket),
                (Format::Text, None) => println!("no ticket"),
            }
        }
        TicketCommand::List(args) => {
            let request = v1::ListTicketsRequest {
                page_size: args.page.limit,
                page_token: args.page.page_token,
                statuses: args
                    .statuses
                    .into_iter()
                    .map(|s| v1::TicketStatus::from(s).into())
                    .collect(),
                department_id: args.dept,
                region_prefix: args.region,
                category_prefix: args.category,
                created_after: args.from.map(to_proto),
                created_before: args.to.map(to_proto),
                text: args.text,
            };
            let response = client.list_tickets(request).await?.into_inner();
            match ctx.format {
                Format::Json => {
                    print_json(&json::ticket_page(
                        &response.tickets,
                        &response.next_page_token,
                    ));
                }
                Format::Text => {
                    print_ticket_table(&response.tickets);
                    print_next_page(&response.next_page_token);
                }
            }
        }
        TicketCommand::Timeline { ticket } => {
            let response = client
                .get_timeline(v1::GetTimelineRequest { ticket_id: ticket })
                .await?
                .into_inner();
            match ctx.format {
                Format::Json => print_json(&serde_json::json!({
                    "events": response.events.iter().map(json::timeline_event).collect::<Vec<_>>(),
                })),
                Format::Text => print_timeline(&response.events),
            }
        }
        TicketCommand::Dispatch(args) => {
            let request = v1::DispatchRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                lead_department_id: args.lead,
                co_department_ids: args.co,
                note: args.note,
            };
            ctx.print_ticket_response(&client.dispatch(request).await?.into_inner());
        }
        TicketCommand::Answer(args) => {
            let request = v1::AnswerDirectlyRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                content: args.content,
            };
            ctx.print_ticket_response(&client.answer_directly(request).await?.into_inner());
        }
        TicketCommand::Review(args) => {
            let request = v1::ReviewReplyRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                accept: args.verdict.accept,
                note: args.note,
            };
            ctx.print_ticket_response(&client.review_reply(request).await?.into_inner());
        }
        TicketCommand::Callback(args) => {
            let request = callback_request(args);
            ctx.print_ticket_response(&client.record_callback(request).await?.into_inner());
        }
        TicketCommand::Withdraw(args) => {
            let request = v1::WithdrawTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                reason: args.reason,
            };
            ctx.print_ticket_response(&client.withdraw_ticket(request).await?.into_inner());
        }
        TicketCommand::Merge(args) => {
            let request = v1::MergeTicketsRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                master_ticket_id: args.into,
                note: args.note,
            };
            ctx.print_ticket_response(&client.merge_tickets(request).await?.into_inner());
        }
        TicketCommand::Similar(args) => {
            let request = v1::FindSimilarRequest {
                ticket_id: args.ticket.unwrap_or_default(),
                title: args.title,
                body: args.body,
                phone: args.phone,
                address: args.address,
                limit: args.limit,
                category: args.category,
            };
            let response = client.find_similar(request).await?.into_inner();
            match ctx.format {
                Format::Json => print_json(&serde_json::json!({
                    "candidates": response.candidates.iter().map(json::duplicate).collect::<Vec<_>>(),
                })),
                Format::Text => {
                    duplicate_table(&response.candidates).print_or("no similar tickets")
                }
            }
        }
        TicketCommand::Invalid(args) => {
            let request = v1::MarkInvalidRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                reason: args.reason,
            };
            ctx.print_ticket_response(&client.mark_invalid(request).await?.into_inner());
        }
    }
    Ok(())
}

/// Builds the CreateTicket request, with a fresh UUIDv7 request id unless given.
fn create_request(args: CreateArgs) -> v1::CreateTicketRequest {
    v1::CreateTicketRequest {
        request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        channel: v1::Channel::from(args.channel).into(),
        appeal_type: v1::AppealType::from(args.appeal_type).into(),
        priority: v1::Priority::from(args.priority).into(),
        citizen: Some(v1::Citizen {
            name: args.name,
            phone: args.phone,
            anonymous: args.anonymous,
            confidential: args.confidential,
            wants_callback: !args.no_callback,
        }),
        title: args.title,
        body: args.body,
        address: args.address,
        region_code: args.region,
        category_hint: args.category,
        latitude: args.lat,
        longitude: args.lon,
    }
}

/// Builds the RecordCallback request; `resolved` defaults from the rating.
fn callback_request(args: CallbackArgs) -> v1::RecordCallbackRequest {
    let satisfaction = args.satisfaction.map(v1::Satisfaction::from);
    let resolved = args
        .resolved
        .unwrap_or(matches!(satisfaction, Some(s) if s != v1::Satisfaction::Unsatisfied));
    v1::RecordCallbackRequest {
        ticket_id: args.target.ticket,
        expected_version: args.target.expect_version,
        contacted: !args.not_contacted,
        resolved,
        satisfaction: satisfaction.map_or(0, Into::into),
        comment: args.comment,
        reopen: args.reopen,
    }
}

/// Prints a ticket's events as a table, oldest first.
fn print_timeline(events: &[v1::TimelineEvent]) {
    let mut table = Table::new(["SEQ", "AT", "ACTION", "ROLE", "ACTOR", "DEPARTMENT", "NOTE"]);
    for e in events {
        table.row([
            e.seq.to_string(),
            local(e.at.as_ref()),
            e.action.clone(),
            enums::name::<v1::Role>(e.actor_role),
            e.actor_id.clone(),
            e.department_id.clone(),
            clip(&e.note, 40),
        ]);
    }
    table.print_or("no events");
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::args::{Cli, Command};

    fn parse(args: &[&str]) -> TicketCommand {
        let mut argv = vec!["hotline", "ticket"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Ticket(command) => command,
            other => panic!("not a ticket command: {other:?}"),
        }
    }

    #[test]
    fn create_maps_words_and_defaults() {
        let TicketCommand::Create(args) = parse(&[
            "create",
            "--type",
            "complaint",
            "--priority",
            "urgent",
            "--title",
            "停水",
            "--body",
            "整栋楼停水",
            "--region",
            "320508001",
            "--no-callback",
        ]) else {
            panic!("not create");
        };
        let request = create_request(args);
        assert_eq!(request.appeal_type(), v1::AppealType::Complaint);
        assert_eq!(request.priority(), v1::Priority::Urgent);
        assert_eq!(request.channel(), v1::Channel::Phone);
        assert_eq!(request.region_code, "320508001");
        assert!(!request.citizen.expect("citizen").wants_callback);
        assert_eq!(request.request_id.len(), 36, "a UUID by default");
    }

    #[test]
    fn callback_resolved_follows_the_rating_unless_given() {
        let request = |args: &[&str]| {
            let mut argv = vec!["callback", "T1"];
            argv.extend_from_slice(args);
            let TicketCommand::Callback(args) = parse(&argv) else {
                panic!("not callback");
            };
            callback_request(args)
        };
        let satisfied = request(&["--satisfaction", "satisfied"]);
        assert!(satisfied.contacted && satisfied.resolved);
        assert_eq!(satisfied.satisfaction(), v1::Satisfaction::Satisfied);
        let unsatisfied = request(&["--satisfaction", "unsatisfied", "--reopen"]);
        assert!(!unsatisfied.resolved && unsatisfied.reopen);
        let overridden = request(&["--satisfaction", "basic", "--resolved", "no"]);
        assert!(!overridden.resolved);
        let unreachable = request(&["--not-contacted", "--expect-version", "7"]);
        assert!(!unreachable.contacted && !unreachable.resolved);
        assert_eq!(unreachable.satisfaction, 0);
        assert_eq!(unreachable.expected_version, Some(7));
    }

    #[test]
    fn callback_needs_a_rating_or_not_contacted() {
        assert!(Cli::try_parse_from(["hotline", "ticket", "callback", "T1"]).is_err());
        assert!(
            Cli::try_parse_from([
                "hotline",
                "ticket",
                "callback",
                "T1",
                "--not-contacted",
                "--satisfaction",
                "satisfied"
            ])
            .is_err()
        );
    }

    #[test]
    fn similar_needs_a_ticket_or_some_text() {
        assert!(Cli::try_parse_from(["hotline", "ticket", "similar"]).is_err());
        assert!(Cli::try_parse_from(["hotline", "ticket", "similar", "T1"]).is_ok());
        assert!(Cli::try_parse_from(["hotline", "ticket", "similar", "--phone", "1"]).is_ok());
    }
}
