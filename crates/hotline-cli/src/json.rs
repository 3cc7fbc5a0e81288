//! Proto messages as JSON for `--json`: the proto field names, enums as short
//! names (`"DISPATCHED"`, `null` when unspecified), timestamps as RFC 3339 in UTC
//! (`null` when unset), and a timeline event's `detail_json` embedded as JSON.
//!
//! Every command prints the RPC's response message in this form, so
//! `hotline ticket show T --json | jq .ticket.status` reads like the proto.

use hotline_proto::v1;
use serde_json::{Value, json};

use crate::enums;
use crate::time::rfc3339;

/// A timestamp field: RFC 3339 or `null`.
fn ts(value: Option<&prost_types::Timestamp>) -> Value {
    rfc3339(value).map_or(Value::Null, Value::from)
}

/// A message field that may be absent.
fn opt<T>(value: Option<&T>, f: impl Fn(&T) -> Value) -> Value {
    value.map_or(Value::Null, f)
}

/// The citizen, as much of it as the caller may see.
pub fn citizen(c: &v1::Citizen) -> Value {
    json!({
        "name": c.name,
        "phone": c.phone,
        "anonymous": c.anonymous,
        "confidential": c.confidential,
        "wants_callback": c.wants_callback,
    })
}

/// The taxonomy category and classifier output.
pub fn category(c: &v1::Category) -> Value {
    json!({
        "path": c.path,
        "label": c.label,
        "confidence": c.confidence,
        "overridden": c.overridden,
    })
}

/// One department's part in a ticket.
pub fn assignment(a: &v1::Assignment) -> Value {
    json!({
        "department_id": a.department_id,
        "role": enums::json::<v1::AssignmentRole>(a.role),
        "status": enums::json::<v1::AssignmentStatus>(a.status),
        "sign_due": ts(a.sign_due.as_ref()),
        "reply_due": ts(a.reply_due.as_ref()),
        "signed_at": ts(a.signed_at.as_ref()),
        "delegated_from": a.delegated_from,
        "opinion": a.opinion,
        "extension_count": a.extension_count,
        "return_reason": a.return_reason,
        "assigned_at": ts(a.assigned_at.as_ref()),
    })
}

/// The lead department's reply.
pub fn reply(r: &v1::Reply) -> Value {
    json!({
        "result": enums::json::<v1::ReplyResult>(r.result),
        "content": r.content,
        "department_id": r.department_id,
        "replied_at": ts(r.replied_at.as_ref()),
    })
}

/// The callback record.
pub fn callback(c: &v1::CallbackRecord) -> Value {
    json!({
        "contacted": c.contacted,
        "resolved": c.resolved,
        "satisfaction": enums::json::<v1::Satisfaction>(c.satisfaction),
        "comment": c.comment,
        "recorded_at": ts(c.recorded_at.as_ref()),
    })
}

/// A possible duplicate.
pub fn duplicate(d: &v1::DuplicateCandidate) -> Value {
    json!({
        "ticket_id": d.ticket_id,
        "number": d.number,
        "reason": d.reason,
        "score": d.score,
    })
}

/// A department request awaiting a decision.
pub fn pending_request(p: &v1::PendingRequest) -> Value {
    json!({
        "kind": enums::json::<v1::RequestKind>(p.kind),
        "department_id": p.department_id,
        "reason": p.reason,
        "requested_reply_due": ts(p.requested_reply_due.as_ref()),
        "resume_by": ts(p.resume_by.as_ref()),
        "requested_at": ts(p.requested_at.as_ref()),
    })
}

/// A whole ticket.
pub fn ticket(t: &v1::Ticket) -> Value {
    json!({
        "id": t.id,
        "number": t.number,
        "status": enums::json::<v1::TicketStatus>(t.status),
        "version": t.version,
        "channel": enums::json::<v1::Channel>(t.channel),
        "appeal_type": enums::json::<v1::AppealType>(t.appeal_type),
        "priority": enums::json::<v1::Priority>(t.priority),
        "category": opt(t.category.as_ref(), category),
        "title": t.title,
        "body": t.body,
        "address": t.address,
        "region_code": t.region_code,
        "latitude": t.latitude,
        "longitude": t.longitude,
        "citizen": opt(t.citizen.as_ref(), citizen),
        "lead_department_id": t.lead_department_id,
        "co_department_ids": t.co_department_ids,
        "assignments": t.assignments.iter().map(assignment).collect::<Vec<_>>(),
        "sign_due": ts(t.sign_due.as_ref()),
        "reply_due": ts(t.reply_due.as_ref()),
        "callback_due": ts(t.callback_due.as_ref()),
        "warning_level": enums::json::<v1::WarningLevel>(t.warning_level),
        "duplicates": t.duplicates.iter().map(duplicate).collect::<Vec<_>>(),
        "suspended": t.suspended,
        "reopen_count": t.reopen_count,
        "return_count": t.return_count,
        "extension_count": t.extension_count,
        "close_reason": enums::json::<v1::CloseReason>(t.close_reason),
        "merged_into": t.merged_into,
        "reply": opt(t.reply.as_ref(), reply),
        "callback": opt(t.callback.as_ref(), callback),
        "rating_exempt": t.rating_exempt,
        "supervision_level": enums::json::<v1::SupervisionLevel>(t.supervision_level),
        "supervision_feedback_due": ts(t.supervision_feedback_due.as_ref()),
        "pending_requests": t.pending_requests.iter().map(pending_request).collect::<Vec<_>>(),
        "created_at": ts(t.created_at.as_ref()),
        "updated_at": ts(t.updated_at.as_ref()),
        "closed_at": ts(t.closed_at.as_ref()),
        "routing": opt(t.routing.as_ref(), routing),
    })
}

/// Intake routing's decision.
pub fn routing(r: &v1::RoutingDecision) -> Value {
    json!({
        "outcome": enums::json::<v1::RoutingOutcome>(r.outcome),
        "rule_id": r.rule_id,
        "lead_department_id": r.lead_department_id,
        "co_department_ids": r.co_department_ids,
        "classified_by": r.classified_by,
        "confidence": r.confidence,
        "threshold": r.threshold,
        "candidates": r.candidates.iter().map(|c| json!({
            "category": c.category,
            "confidence": c.confidence,
        })).collect::<Vec<_>>(),
        "explanation": r.explanation,
    })
}

/// `{"ticket": ...}`, the TicketResponse of GetTicket and every mutation.
pub fn ticket_response(r: &v1::TicketResponse) -> Value {
    json!({ "ticket": opt(r.ticket.as_ref(), ticket) })
}

/// The CreateTicket response.
pub fn create_response(r: &v1::CreateTicketResponse) -> Value {
    json!({
        "ticket": opt(r.ticket.as_ref(), ticket),
        "created": r.created,
        "duplicates": r.duplicates.iter().map(duplicate).collect::<Vec<_>>(),
    })
}

/// A page of tickets (ListTickets, ListAssignments).
pub fn ticket_page(tickets: &[v1::Ticket], next_page_token: &str) -> Value {
    json!({
        "tickets": tickets.iter().map(ticket).collect::<Vec<_>>(),
        "next_page_token": next_page_token,
    })
}

/// One timeline event; `detail` is the parsed `detail_json` (or the raw text).
pub fn timeline_event(e: &v1::TimelineEvent) -> Value {
    let detail = if e.detail_json.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&e.detail_json).unwrap_or_else(|_| Value::from(e.detail_json.clone()))
    };
    json!({
        "seq": e.seq,
        "version": e.version,
        "at": ts(e.at.as_ref()),
        "action": e.action,
        "actor_id": e.actor_id,
        "actor_role": enums::json::<v1::Role>(e.actor_role),
        "department_id": e.department_id,
        "note": e.note,
        "detail": detail,
        "hash": e.hash,
    })
}

/// One dept-watch notification.
pub fn notification(n: &v1::AssignmentNotification) -> Value {
    json!({
        "event_id": n.event_id,
        "ticket_id": n.ticket_id,
        "ticket_number": n.ticket_number,
        "department_id": n.department_id,
        "kind": n.kind,
        "at": ts(n.at.as_ref()),
        "ticket": opt(n.ticket.as_ref(), ticket),
    })
}

/// One overdue or due-soon deadline.
pub fn overdue_item(i: &v1::OverdueItem) -> Value {
    json!({
        "ticket": opt(i.ticket.as_ref(), ticket),
        "kind": enums::json::<v1::DeadlineKind>(i.kind),
        "due": ts(i.due.as_ref()),
        "overdue_seconds": i.overdue_seconds,
        "department_id": i.department_id,
    })
}

/// A page of overdue or due-soon deadlines.
pub fn overdue_page(items: &[v1::OverdueItem], next_page_token: &str) -> Value {
    json!({
        "items": items.iter().map(overdue_item).collect::<Vec<_>>(),
        "next_page_token": next_page_token,
    })
}

/// One department's statistics.
pub fn department_stats(s: &v1::DepartmentStats) -> Value {
    json!({
        "department_id": s.department_id,
        "department_name": s.department_name,
        "rank": s.rank,
        "dispatched": s.dispatched,
        "signed_on_time": s.signed_on_time,
        "response_rate": s.response_rate,
        "callbacks": s.callbacks,
        "resolved": s.resolved,
        "resolution_rate": s.resolution_rate,
        "satisfied": s.satisfied,
        "satisfaction_rate": s.satisfaction_rate,
        "replied": s.replied,
        "replied_on_time": s.replied_on_time,
        "on_time_reply_rate": s.on_time_reply_rate,
        "returns": s.returns,
        "extensions": s.extensions,
        "overdue": s.overdue,
        "urged": s.urged,
        "supervised": s.supervised,
        "mean_handling_seconds": s.mean_handling_seconds,
        "returns_approved": s.returns_approved,
        "returns_rejected": s.returns_rejected,
        "signed": s.signed,
        "mean_sign_seconds": s.mean_sign_seconds,
        "mean_reply_seconds": s.mean_reply_seconds,
    })
}

/// One hotspot.
pub fn hotspot(h: &v1::Hotspot) -> Value {
    json!({
        "category": h.category,
        "region_code": h.region_code,
        "count": h.count,
        "ticket_ids": h.ticket_ids,
        "first_at": ts(h.first_at.as_ref()),
        "last_at": ts(h.last_at.as_ref()),
        "previous_count": h.previous_count,
        "growth": h.growth,
        "samples": h.samples.iter().map(|s| json!({
            "ticket_id": s.ticket_id,
            "number": s.number,
            "title": s.title,
            "created_at": ts(s.created_at.as_ref()),
        })).collect::<Vec<_>>(),
        "clusters": h.clusters.iter().map(|c| json!({
            "count": c.count,
            "ticket_id": c.sample.as_ref().map(|s| s.ticket_id.clone()),
            "number": c.sample.as_ref().map(|s| s.number.clone()),
            "title": c.sample.as_ref().map(|s| s.title.clone()),
        })).collect::<Vec<_>>(),
    })
}

/// One department.
pub fn department(d: &v1::Department) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "parent_id": d.parent_id,
        "region_code": d.region_code,
        "level": d.level,
    })
}

/// One routing rule, in the form `admin rule put` reads back.
pub fn routing_rule(r: &v1::RoutingRule) -> Value {
    json!({
        "id": r.id,
        "category_prefix": r.category_prefix,
        "region_prefix": r.region_prefix,
        "appeal_type": enums::json::<v1::AppealType>(r.appeal_type),
        "lead_department_id": r.lead_department_id,
        "co_department_ids": r.co_department_ids,
        "direct_dispatch": r.direct_dispatch,
    })
}

/// A deadline window.
pub fn window(w: &v1::Window) -> Value {
    json!({ "mode": enums::json::<v1::TimeMode>(w.mode), "amount": w.amount })
}

/// The deadline policy, in the form `admin policy put` reads back.
pub fn policy(p: &v1::DeadlinePolicy) -> Value {
    let entries: Vec<Value> = p
        .entries
        .iter()
        .map(|e| {
            json!({
                "appeal_type": enums::json::<v1::AppealType>(e.appeal_type),
                "priority": enums::json::<v1::Priority>(e.priority),
                "category_prefix": e.category_prefix,
                "sign_within": opt(e.sign_within.as_ref(), window),
                "reply_within": opt(e.reply_within.as_ref(), window),
            })
        })
        .collect();
    json!({
        "entries": entries,
        "max_returns": p.max_returns,
        "max_extensions": p.max_extensions,
        "max_reopens": p.max_reopens,
        "warning_percent": p.warning_percent,
        "serious_overdue_minutes": p.serious_overdue_minutes,
        "callback_within": opt(p.callback_within.as_ref(), window),
        "version": p.version,
    })
}

/// The working calendar, in the form `admin calendar put` reads back.
pub fn calendar(c: &v1::Calendar) -> Value {
    json!({
        "time_zone": c.time_zone,
        "working_hours": c
            .working_hours
            .iter()
            .map(|h| json!({ "start": h.start, "end": h.end }))
            .collect::<Vec<_>>(),
        "days": c
            .days
            .iter()
            .map(|d| json!({ "date": d.date, "working": d.working, "name": d.name }))
            .collect::<Vec<_>>(),
    })
}

/// API key metadata (never the secret).
pub fn api_key(k: &v1::ApiKeyInfo) -> Value {
    json!({
        "key_id": k.key_id,
        "name": k.name,
        "role": enums::json::<v1::Role>(k.role),
        "department_id": k.department_id,
        "created_at": ts(k.created_at.as_ref()),
        "revoked_at": ts(k.revoked_at.as_ref()),
        "expires_at": ts(k.expires_at.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_use_short_enum_names_rfc3339_times_and_null_for_unset() {
        let t = v1::Ticket {
            id: "t1".into(),
            number: "HL-20260512-000001".into(),
            status: v1::TicketStatus::Dispatched.into(),
            version: 2,
            channel: v1::Channel::Phone.into(),
            sign_due: Some(prost_types::Timestamp {
                seconds: 1_778_565_600,
                nanos: 0,
            }),
            ..Default::default()
        };
        let value = ticket(&t);
        assert_eq!(value["status"], "DISPATCHED");
        assert_eq!(value["channel"], "PHONE");
        assert_eq!(value["priority"], Value::Null);
        assert_eq!(value["close_reason"], Value::Null);
        assert_eq!(value["sign_due"], "2026-05-12T06:00:00Z");
        assert_eq!(value["reply_due"], Value::Null);
        assert_eq!(value["citizen"], Value::Null);
        assert_eq!(value["version"], 2);
    }

    #[test]
    fn timeline_details_are_embedded_as_json() {
        let event = v1::TimelineEvent {
            action: "SIGNED".into(),
            detail_json: r#"{"department_id":"sz.env.gusu"}"#.into(),
            actor_role: v1::Role::Department.into(),
            ..Default::default()
        };
        let value = timeline_event(&event);
        assert_eq!(value["detail"]["department_id"], "sz.env.gusu");
        assert_eq!(value["actor_role"], "DEPARTMENT");
        let raw = v1::TimelineEvent {
            detail_json: "not json".into(),
            ..Default::default()
        };
        assert_eq!(timeline_event(&raw)["detail"], "not json");
    }
}
