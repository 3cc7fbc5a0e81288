//! Text views of tickets shared by the command groups: the one-screen detail
//! of `ticket show`, the short summary after a mutation, and ticket tables.

use hotline_proto::v1;

use crate::enums;
use crate::output::{Table, clip, print_fields};
use crate::time::local;

/// Width to which titles are clipped in tables.
const TITLE_WIDTH: usize = 30;

/// Returns the deadline a ticket is currently working against, by status.
pub fn current_due(t: &v1::Ticket) -> Option<&prost_types::Timestamp> {
    match v1::TicketStatus::try_from(t.status) {
        Ok(v1::TicketStatus::Dispatched) => t.sign_due.as_ref(),
        Ok(v1::TicketStatus::InProgress) => t.reply_due.as_ref(),
        Ok(v1::TicketStatus::Replied) => t.callback_due.as_ref(),
        _ => None,
    }
}

/// Returns the status with its qualifiers, e.g. `CLOSED (CALLBACK)` or `IN_PROGRESS, suspended`.
pub fn status_text(t: &v1::Ticket) -> String {
    let mut text = enums::name::<v1::TicketStatus>(t.status);
    let reason = enums::name::<v1::CloseReason>(t.close_reason);
    if !reason.is_empty() {
        text.push_str(&format!(" ({reason})"));
    }
    if t.suspended {
        text.push_str(", suspended");
    }
    text
}

/// Returns the category path, or the classifier's label when no path is set.
fn category_path(t: &v1::Ticket) -> String {
    t.category
        .as_ref()
        .map(|c| {
            if c.path.is_empty() {
                c.label.clone()
            } else {
                c.path.clone()
            }
        })
        .unwrap_or_default()
}

/// Prints a table of tickets with the columns lists need.
pub fn print_ticket_table(tickets: &[v1::Ticket]) {
    let mut table = Table::new([
        "ID", "NUMBER", "STATUS", "LIGHT", "CATEGORY", "LEAD", "DUE", "TITLE",
    ]);
    for t in tickets {
        table.row([
            t.id.clone(),
            t.number.clone(),
            status_text(t),
            enums::name::<v1::WarningLevel>(t.warning_level),
            category_path(t),
            t.lead_department_id.clone(),
            local(current_due(t)),
            clip(&t.title, TITLE_WIDTH),
        ]);
    }
    table.print_or("no tickets");
}

/// Prints where a ticket stands after a mutation: number, id, status, version, lead, due.
pub fn print_ticket_summary(t: &v1::Ticket) {
    print_fields(&[
        ("ticket", t.number.clone()),
        ("id", t.id.clone()),
        ("status", status_text(t)),
        ("version", t.version.to_string()),
        ("category", category_path(t)),
        ("lead", lead_text(t)),
        ("due", local(current_due(t))),
    ]);
}

/// Returns the lead department with co-handlers, e.g. `sz.housing (co: sz.gusu.pingjiang)`.
fn lead_text(t: &v1::Ticket) -> String {
    if t.co_department_ids.is_empty() {
        t.lead_department_id.clone()
    } else {
        format!(
            "{} (co: {})",
            t.lead_department_id,
            t.co_department_ids.join(", ")
        )
    }
}

/// Prints a ticket's full detail view for `ticket show`.
pub fn print_ticket_detail(t: &v1::Ticket) {
    let category = t
        .category
        .as_ref()
        .map(|c| {
            let source = if c.overridden {
                "chosen by operator".to_owned()
            } else if c.label.is_empty() {
                "unclassified".to_owned()
            } else {
                format!("classifier {} {:.2}", c.label, c.confidence)
            };
            format!("{} ({source})", c.path)
        })
        .unwrap_or_default();
    let citizen = t.citizen.as_ref().map(citizen_text).unwrap_or_default();
    let kind = [
        enums::name::<v1::AppealType>(t.appeal_type),
        enums::name::<v1::Priority>(t.priority),
        enums::name::<v1::Channel>(t.channel),
    ]
    .join(" / ");
    let supervision = match enums::name::<v1::SupervisionLevel>(t.supervision_level) {
        level if level.is_empty() => String::new(),
        level => match local(t.supervision_feedback_due.as_ref()) {
            due if due.is_empty() => level,
            due => format!("{level}, feedback due {due}"),
        },
    };
    let location = match (t.latitude, t.longitude) {
        (Some(lat), Some(lon)) => format!("{} ({lat:.5}, {lon:.5})", t.address),
        _ => t.address.clone(),
    };
    let counters = format!(
        "reopened {}, returned {}, extended {}{}",
        t.reopen_count,
        t.return_count,
        t.extension_count,
        if t.rating_exempt {
            ", rating exempt"
        } else {
            ""
        }
    );
    print_fields(&[
        ("ticket", t.number.clone()),
        ("id", t.id.clone()),
        ("status", status_text(t)),
        ("version", t.version.to_string()),
        ("merged into", t.merged_into.clone()),
        ("type", kind),
        ("category", category),
        (
            "routing",
            t.routing
                .as_ref()
                .map(|r| r.explanation.clone())
                .unwrap_or_default(),
        ),
        ("title", t.title.clone()),
        ("body", t.body.clone()),
        ("address", location),
        ("region", t.region_code.clone()),
        ("citizen", citizen),
        ("lead", lead_text(t)),
        ("sign due", local(t.sign_due.as_ref())),
        ("reply due", local(t.reply_due.as_ref())),
        ("callback due", local(t.callback_due.as_ref())),
        ("light", enums::name::<v1::WarningLevel>(t.warning_level)),
        ("supervision", supervision),
        ("counters", counters),
        ("created", local(t.created_at.as_ref())),
        ("updated", local(t.updated_at.as_ref())),
        ("closed", local(t.closed_at.as_ref())),
    ]);

    if !t.assignments.is_empty() {
        println!("\nassignments");
        let mut table = Table::new([
            "DEPARTMENT",
            "ROLE",
            "STATUS",
            "ASSIGNED",
            "SIGN DUE",
            "SIGNED",
            "REPLY DUE",
            "NOTE",
        ]);
        for a in &t.assignments {
            let note = if !a.opinion.is_empty() {
                format!("opinion: {}", a.opinion)
            } else if !a.return_reason.is_empty() {
                format!("return: {}", a.return_reason)
            } else if !a.delegated_from.is_empty() {
                format!("delegated by {}", a.delegated_from)
            } else {
                String::new()
            };
            table.row([
                a.department_id.clone(),
                enums::name::<v1::AssignmentRole>(a.role),
                enums::name::<v1::AssignmentStatus>(a.status),
                local(a.assigned_at.as_ref()),
                local(a.sign_due.as_ref()),
                local(a.signed_at.as_ref()),
                local(a.reply_due.as_ref()),
                clip(&note, 40),
            ]);
        }
        print!("{}", table.render());
    }

    if !t.pending_requests.is_empty() {
        println!("\npending requests");
        let mut table = Table::new(["KIND", "DEPARTMENT", "REQUESTED", "UNTIL", "REASON"]);
        for p in &t.pending_requests {
            let until = local(p.requested_reply_due.as_ref().or(p.resume_by.as_ref()));
            table.row([
                enums::name::<v1::RequestKind>(p.kind),
                p.department_id.clone(),
                local(p.requested_at.as_ref()),
                until,
                clip(&p.reason, 40),
            ]);
        }
        print!("{}", table.render());
    }

    if let Some(reply) = &t.reply {
        println!("\nreply");
        print_fields(&[
            ("result", enums::name::<v1::ReplyResult>(reply.result)),
            ("by", reply.department_id.clone()),
            ("at", local(reply.replied_at.as_ref())),
            ("content", reply.content.clone()),
        ]);
    }

    if let Some(callback) = &t.callback {
        println!("\ncallback");
        let outcome = if callback.contacted {
            format!(
                "contacted, {}",
                if callback.resolved {
                    "resolved"
                } else {
                    "not resolved"
                }
            )
        } else {
            "not contacted".to_owned()
        };
        print_fields(&[
            ("outcome", outcome),
            (
                "satisfaction",
                enums::name::<v1::Satisfaction>(callback.satisfaction),
            ),
            ("comment", callback.comment.clone()),
            ("at", local(callback.recorded_at.as_ref())),
        ]);
    }

    print_duplicates(&t.duplicates);
}

/// Prints possible duplicates, if any, under a heading.
pub fn print_duplicates(duplicates: &[v1::DuplicateCandidate]) {
    if duplicates.is_empty() {
        return;
    }
    println!("\npossible duplicates");
    print!("{}", duplicate_table(duplicates).render());
}

/// Builds the table of duplicate candidates.
pub fn duplicate_table(duplicates: &[v1::DuplicateCandidate]) -> Table {
    let mut table = Table::new(["ID", "NUMBER", "SCORE", "REASON"]);
    for d in duplicates {
        table.row([
            d.ticket_id.clone(),
            d.number.clone(),
            format!("{:.2}", d.score),
            d.reason.clone(),
        ]);
    }
    table
}

/// Describes the citizen in one line: name, phone and flags.
fn citizen_text(c: &v1::Citizen) -> String {
    let mut parts = Vec::new();
    if c.anonymous {
        parts.push("anonymous".to_owned());
    }
    if !c.name.is_empty() {
        parts.push(c.name.clone());
    }
    if !c.phone.is_empty() {
        parts.push(c.phone.clone());
    }
    if c.confidential {
        parts.push("confidential".to_owned());
    }
    parts.push(
        if c.wants_callback {
            "wants callback"
        } else {
            "no callback"
        }
        .to_owned(),
    );
    parts.join(", ")
}
