//! Department-side handling: return, joint handling, delegation, suspension.

use hotline_proto::v1 as pb;

use crate::world::*;

async fn request_return(w: &World, key: &str, ticket_id: &str) -> pb::Ticket {
    w.server
        .departments(key)
        .return_ticket(pb::ReturnTicketRequest {
            ticket_id: ticket_id.into(),
            expected_version: None,
            reason: "不属于本单位职责".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap()
}

async fn decide_return(w: &World, ticket_id: &str, approve: bool) -> pb::Ticket {
    w.server
        .supervision(&w.supervisor)
        .decide_return(pb::DecideReturnRequest {
            ticket_id: ticket_id.into(),
            expected_version: None,
            approve,
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap()
}

#[tokio::test]
async fn return_approved_goes_back_to_dispatch_and_rejected_stays() {
    let w = World::new().await;
    let t = w.dispatched("河道漂浮垃圾", TRANSPORT, &[]).await;
    let asked = request_return(&w, &w.transport, &t.id).await;
    assert_eq!(asked.pending_requests.len(), 1);
    let back = decide_return(&w, &t.id, true).await;
    assert_eq!(status(&back), pb::TicketStatus::PendingDispatch);
    assert!(back.lead_department_id.is_empty());
    // Re-dispatched to the right department, which cannot give it back for free.
    let redispatched = w
        .server
        .tickets(&w.operator)
        .dispatch(pb::DispatchRequest {
            ticket_id: t.id.clone(),
            expected_version: Some(back.version),
            lead_department_id: ENV.into(),
            co_department_ids: vec![],
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(redispatched.lead_department_id, ENV);
    request_return(&w, &w.env, &t.id).await;
    let kept = decide_return(&w, &t.id, false).await;
    assert_eq!(status(&kept), pb::TicketStatus::Dispatched);
    assert_eq!(kept.lead_department_id, ENV);
    assert_eq!(kept.sign_due, redispatched.sign_due);
    // The old department no longer sees it in its assignments.
    let listed = w
        .server
        .departments(&w.transport)
        .list_assignments(pb::ListAssignmentsRequest {
            statuses: vec![pb::TicketStatus::Dispatched as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn joint_handling_co_handlers_sign_and_give_opinions_only_lead_replies() {
    let w = World::new().await;
    let t = w
        .dispatched("小区供水管道破裂", HOUSING, &[WATER, TRANSPORT])
        .await;
    assert_eq!(t.assignments.len(), 3);
    for key in [&w.housing, &w.water, &w.transport] {
        w.sign(key, &t.id).await.unwrap();
    }
    for key in [&w.water, &w.transport] {
        w.server
            .departments(key)
            .submit_opinion(pb::SubmitOpinionRequest {
                ticket_id: t.id.clone(),
                expected_version: None,
                content: "已配合现场处置".into(),
            })
            .await
            .unwrap();
    }
    let refused = w.reply(&w.water, &t.id).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    let replied = w.reply(&w.housing, &t.id).await.unwrap();
    assert_eq!(status(&replied), pb::TicketStatus::Replied);
    let opinions = replied
        .assignments
        .iter()
        .filter(|a| a.status == pb::AssignmentStatus::OpinionSubmitted as i32)
        .count();
    assert_eq!(opinions, 2);
}

#[tokio::test]
async fn delegation_to_a_child_department() {
    let w = World::new().await;
    let t = w.dispatched("餐饮油烟扰民", ENV, &[]).await;
    w.sign(&w.env, &t.id).await.unwrap();
    let mut env = w.server.departments(&w.env);
    let not_child = env
        .delegate_ticket(pb::DelegateTicketRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            to_department_id: WATER.into(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_child.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&not_child), ["to_department_id"]);
    let delegated = env
        .delegate_ticket(pb::DelegateTicketRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            to_department_id: ENV_WUZHONG.into(),
            note: "请吴中分局现场核查".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let child = delegated
        .assignments
        .iter()
        .find(|a| a.department_id == ENV_WUZHONG)
        .unwrap();
    assert_eq!(child.delegated_from, ENV);
    assert_eq!(
        child.reply_due, delegated.reply_due,
        "the delegate inherits the deadline"
    );
    // The child sees it, signs and replies; the parent stays the lead.
    w.sign(&w.env_wuzhong, &t.id).await.unwrap();
    let replied = w.reply(&w.env_wuzhong, &t.id).await.unwrap();
    assert_eq!(status(&replied), pb::TicketStatus::Replied);
    assert_eq!(replied.lead_department_id, ENV);
    // A sibling office sees nothing of it.
    let sibling = w
        .server
        .tickets(&w.env_gusu)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: t.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(sibling.code(), tonic::Code::NotFound);
}

/// A policy counted in wall-clock minutes, so the test does not depend on
/// whether it runs inside the center's working hours.
fn wall_clock_policy() -> pb::DeadlinePolicy {
    let minutes = |amount| {
        Some(pb::Window {
            mode: pb::TimeMode::Calendar.into(),
            amount,
        })
    };
    pb::DeadlinePolicy {
        entries: vec![pb::PolicyEntry {
            appeal_type: 0,
            priority: 0,
            category_prefix: String::new(),
            sign_within: minutes(24 * 60),
            reply_within: minutes(5 * 24 * 60),
        }],
        max_returns: 2,
        max_extensions: 1,
        max_reopens: 2,
        warning_percent: 80,
        serious_overdue_minutes: 24 * 60,
        callback_within: minutes(2 * 24 * 60),
        version: 0,
    }
}

#[tokio::test]
async fn suspension_stops_the_clock_until_resumed() {
    let w = World::new().await;
    w.server
        .admin()
        .put_deadline_policy(pb::PutDeadlinePolicyRequest {
            policy: Some(wall_clock_policy()),
            expected_version: None,
        })
        .await
        .unwrap();
    let t = w.dispatched("违章搭建", HOUSING, &[]).await;
    w.sign(&w.housing, &t.id).await.unwrap();
    let mut dept = w.server.departments(&w.housing);
    dept.request_suspension(pb::RequestSuspensionRequest {
        ticket_id: t.id.clone(),
        expected_version: None,
        reason: "等待法院裁定".into(),
        resume_by: None,
    })
    .await
    .unwrap();
    let suspended = w
        .server
        .supervision(&w.supervisor)
        .decide_suspension(pb::DecideSuspensionRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            approve: true,
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert!(suspended.suspended);
    let before = suspended.reply_due.unwrap();
    // While suspended the department cannot reply.
    let refused = w.reply(&w.housing, &t.id).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let resumed = dept
        .resume_ticket(pb::ResumeTicketRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            note: "裁定已下达".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert!(!resumed.suspended);
    let after = resumed.reply_due.unwrap();
    let shifted =
        (after.seconds - before.seconds) as f64 + f64::from(after.nanos - before.nanos) / 1e9;
    assert!(
        shifted >= 1.0,
        "reply_due moved by the time suspended, got {shifted}s"
    );
    w.reply(&w.housing, &t.id).await.unwrap();
}
