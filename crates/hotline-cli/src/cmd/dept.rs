//! `hotline dept`: a department's side of the loop (DepartmentService).

use clap::{Args, Subcommand};
use hotline_proto::v1;
use jiff::Timestamp;

use super::Ctx;
use crate::args::{Page, Target, time_arg};
use crate::enums::{ResultArg, StatusArg};
use crate::json;
use crate::output::{Format, print_json, print_json_line, print_next_page};
use crate::render::{current_due, print_ticket_table, status_text};
use crate::time::{local, to_proto};

/// Department commands (DepartmentService).
#[derive(Debug, Subcommand)]
pub enum DeptCommand {
    /// List the department's tickets, most urgent deadline first
    List(ListArgs),
    /// Stream notifications (dispatch, urge, supervise, warning, reopen) until stopped
    Watch(WatchArgs),
    /// Sign for (claim) a dispatched ticket (签收)
    Sign(NoteArgs),
    /// Ask to give a misrouted ticket back (退单); a supervisor decides
    Return(ReasonArgs),
    /// Ask for a later reply deadline (延期); a supervisor decides
    Extend(ExtendArgs),
    /// Ask to stop the clock (挂起); a supervisor decides
    Suspend(SuspendArgs),
    /// Restart the clock of a suspended ticket
    Resume(NoteArgs),
    /// Record a progress note on the timeline
    Progress(ContentArgs),
    /// Pass the ticket down to a child department (二级派单)
    Delegate(DelegateArgs),
    /// Submit a co-handler's opinion (会办意见)
    Opinion(ContentArgs),
    /// Reply to the citizen as the lead department (答复)
    Reply(ReplyArgs),
    /// Contest an unsatisfied rating with evidence (申诉)
    Dispute(DisputeArgs),
}

/// `dept list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these statuses (repeat or comma-separate; default: any open status)
    #[arg(
        long = "status",
        value_enum,
        value_delimiter = ',',
        value_name = "STATUS"
    )]
    statuses: Vec<StatusArg>,

    /// The department (supervisor and admin keys; a department key gets its own)
    #[arg(
        long,
        value_name = "DEPT",
        default_value = "",
        hide_default_value = true
    )]
    dept: String,

    #[command(flatten)]
    page: Page,
}

/// `dept watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The department (supervisor and admin keys; a department key gets its own)
    #[arg(
        long,
        value_name = "DEPT",
        default_value = "",
        hide_default_value = true
    )]
    dept: String,

    /// Resume after this notification's event id (default: new events only)
    #[arg(
        long,
        value_name = "EVENT_ID",
        default_value = "",
        hide_default_value = true
    )]
    after: String,
}

/// A mutation with an optional note.
#[derive(Debug, Args)]
pub struct NoteArgs {
    #[command(flatten)]
    target: Target,

    /// Note for the timeline
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// A mutation that needs a reason.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    #[command(flatten)]
    target: Target,

    /// Why the ticket is not this department's to handle
    #[arg(long)]
    reason: String,
}

/// A mutation that carries text content.
#[derive(Debug, Args)]
pub struct ContentArgs {
    #[command(flatten)]
    target: Target,

    /// The text
    #[arg(long)]
    content: String,
}

/// `dept extend`.
#[derive(Debug, Args)]
pub struct ExtendArgs {
    #[command(flatten)]
    target: Target,

    /// The reply deadline asked for; after the current one
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    until: Timestamp,

    /// Why more time is needed
    #[arg(long)]
    reason: String,
}

/// `dept suspend`.
#[derive(Debug, Args)]
pub struct SuspendArgs {
    #[command(flatten)]
    target: Target,

    /// What the handling waits for (documents, a court ruling, ...)
    #[arg(long)]
    reason: String,

    /// When handling should resume (default: open-ended)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    resume_by: Option<Timestamp>,
}

/// `dept delegate`.
#[derive(Debug, Args)]
pub struct DelegateArgs {
    #[command(flatten)]
    target: Target,

    /// The child department that will handle the ticket
    #[arg(long, value_name = "DEPT")]
    to: String,

    /// Instructions for the child department
    #[arg(long, default_value = "", hide_default_value = true)]
    note: String,
}

/// `dept reply`.
#[derive(Debug, Args)]
pub struct ReplyArgs {
    #[command(flatten)]
    target: Target,

    /// The outcome
    #[arg(long, value_enum)]
    result: ResultArg,

    /// The reply text for the citizen
    #[arg(long)]
    content: String,
}

/// `dept dispute`.
#[derive(Debug, Args)]
pub struct DisputeArgs {
    #[command(flatten)]
    target: Target,

    /// Why the rating should not count against the department
    #[arg(long)]
    evidence: String,
}

/// Runs one `dept` command.
pub async fn run(ctx: &Ctx, command: DeptCommand) -> anyhow::Result<()> {
    let mut client = ctx.conn.departments();
    let response = match command {
        DeptCommand::List(args) => {
            let request = v1::ListAssignmentsRequest {
                page_size: args.page.limit,
                page_token: args.page.page_token,
                statuses: args
                    .statuses
                    .into_iter()
                    .map(|s| v1::TicketStatus::from(s).into())
                    .collect(),
                department_id: args.dept,
            };
            let response = client.list_assignments(request).await?.into_inner();
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
            return Ok(());
        }
        DeptCommand::Watch(args) => return watch(ctx, args).await,
        DeptCommand::Sign(args) => {
            let request = v1::SignTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                note: args.note,
            };
            client.sign_ticket(request).await?
        }
        DeptCommand::Return(args) => {
            let request = v1::ReturnTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                reason: args.reason,
            };
            client.return_ticket(request).await?
        }
        DeptCommand::Extend(args) => {
            let request = v1::RequestExtensionRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                requested_reply_due: Some(to_proto(args.until)),
                reason: args.reason,
            };
            client.request_extension(request).await?
        }
        DeptCommand::Suspend(args) => {
            let request = v1::RequestSuspensionRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                reason: args.reason,
                resume_by: args.resume_by.map(to_proto),
            };
            client.request_suspension(request).await?
        }
        DeptCommand::Resume(args) => {
            let request = v1::ResumeTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                note: args.note,
            };
            client.resume_ticket(request).await?
        }
        DeptCommand::Progress(args) => {
            let request = v1::AddProgressRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                content: args.content,
            };
            client.add_progress(request).await?
        }
        DeptCommand::Delegate(args) => {
            let request = v1::DelegateTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                to_department_id: args.to,
                note: args.note,
            };
            client.delegate_ticket(request).await?
        }
        DeptCommand::Opinion(args) => {
            let request = v1::SubmitOpinionRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                content: args.content,
            };
            client.submit_opinion(request).await?
        }
        DeptCommand::Reply(args) => {
            let request = v1::ReplyTicketRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                result: v1::ReplyResult::from(args.result).into(),
                content: args.content,
            };
            client.reply_ticket(request).await?
        }
        DeptCommand::Dispute(args) => {
            let request = v1::DisputeRatingRequest {
                ticket_id: args.target.ticket,
                expected_version: args.target.expect_version,
                evidence: args.evidence,
            };
            client.dispute_rating(request).await?
        }
    };
    ctx.print_ticket_response(&response.into_inner());
    Ok(())
}

/// Streams notifications until the server ends the stream or the user stops it.
async fn watch(ctx: &Ctx, args: WatchArgs) -> anyhow::Result<()> {
    let mut client = ctx.conn.departments();
    let request = v1::WatchAssignmentsRequest {
        department_id: args.dept,
        after_event_id: args.after,
    };
    let mut stream = client.watch_assignments(request).await?.into_inner();
    if ctx.format == Format::Text {
        eprintln!("watching for notifications (Ctrl-C to stop)");
    }
    while let Some(notification) = stream.message().await? {
        match ctx.format {
            Format::Json => print_json_line(&json::notification(&notification)),
            Format::Text => println!("{}", notification_line(&notification)),
        }
    }
    Ok(())
}

/// One notification as a line: time, kind, ticket, department, status, due, event id.
fn notification_line(n: &v1::AssignmentNotification) -> String {
    let (status, due, title) = n.ticket.as_ref().map_or_else(Default::default, |t| {
        (status_text(t), local(current_due(t)), t.title.clone())
    });
    let mut fields = vec![
        local(n.at.as_ref()),
        n.kind.clone(),
        n.ticket_number.clone(),
        n.ticket_id.clone(),
        n.department_id.clone(),
        status,
    ];
    if !due.is_empty() {
        fields.push(format!("due {due}"));
    }
    fields.push(crate::output::clip(&title, 30));
    fields.push(format!("event {}", n.event_id));
    fields.retain(|f| !f.is_empty());
    fields.join("  ")
}
