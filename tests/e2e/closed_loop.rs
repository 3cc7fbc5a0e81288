//! The closed loop from intake to closing, over the wire.

use hotline_proto::v1 as pb;

use crate::world::*;

#[tokio::test]
async fn full_loop_with_extension_reopen_and_timeline() {
    let w = World::new().await;
    // A confident category with a direct-dispatch rule: dispatched at create.
    let ticket = w
        .create(World::complaint("工地夜间施工噪声扰民", NOISE, "320508001"))
        .await;
    assert_eq!(status(&ticket), pb::TicketStatus::Dispatched);
    assert_eq!(ticket.lead_department_id, ENV_GUSU);
    assert!(ticket.number.starts_with("HL-"), "{}", ticket.number);
    assert!(ticket.sign_due.is_some() && ticket.reply_due.is_some());
    let id = ticket.id.clone();

    let signed = w.sign(&w.env_gusu, &id).await.unwrap();
    assert_eq!(status(&signed), pb::TicketStatus::InProgress);

    let old_due = signed.reply_due.unwrap();
    let wanted = prost_types::Timestamp {
        seconds: old_due.seconds + 3 * 86_400,
        nanos: 0,
    };
    let mut dept = w.server.departments(&w.env_gusu);
    let asked = dept
        .request_extension(pb::RequestExtensionRequest {
            ticket_id: id.clone(),
            expected_version: Some(signed.version),
            requested_reply_due: Some(wanted),
            reason: "需协调建设单位调整施工计划".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(asked.pending_requests.len(), 1);
    let approved = w
        .server
        .supervision(&w.supervisor)
        .decide_extension(pb::DecideExtensionRequest {
            ticket_id: id.clone(),
            expected_version: Some(asked.version),
            approve: true,
            note: "同意".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        approved.reply_due.unwrap().seconds,
        old_due.seconds + 3 * 86_400
    );
    assert!(approved.pending_requests.is_empty());

    let replied = w.reply(&w.env_gusu, &id).await.unwrap();
    assert_eq!(status(&replied), pb::TicketStatus::Replied);
    assert!(replied.callback_due.is_some());

    let reopened = w
        .callback(&id, pb::Satisfaction::Unsatisfied, true)
        .await
        .unwrap();
    assert_eq!(status(&reopened), pb::TicketStatus::InProgress);
    assert_eq!(reopened.reopen_count, 1);

    w.reply(&w.env_gusu, &id).await.unwrap();
    let closed = w
        .callback(&id, pb::Satisfaction::Satisfied, false)
        .await
        .unwrap();
    assert_eq!(status(&closed), pb::TicketStatus::Closed);
    assert_eq!(closed.close_reason, pb::CloseReason::Callback as i32);

    assert_eq!(
        w.actions(&id).await,
        [
            "CREATED",
            "DISPATCHED",
            "SIGNED",
            "EXTENSION_REQUESTED",
            "EXTENSION_APPROVED",
            "REPLIED",
            "CALLBACK_RECORDED",
            "REOPENED",
            "REPLIED",
            "CALLBACK_RECORDED",
            "CLOSED",
        ]
    );
    let timeline = w
        .server
        .tickets(&w.operator)
        .get_timeline(pb::GetTimelineRequest {
            ticket_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let seqs: Vec<i64> = timeline.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<i64>>());
    assert_eq!(timeline.last().unwrap().version, closed.version);
    w.server.stop().await.unwrap();
}

#[tokio::test]
async fn manual_dispatch_when_no_rule_matches() {
    let w = World::new().await;
    let ticket = w.pending("小区门口道路破损").await;
    assert_eq!(status(&ticket), pb::TicketStatus::PendingDispatch);
    assert!(ticket.lead_department_id.is_empty());
    let dispatched = w.dispatched("另一处道路破损", TRANSPORT, &[]).await;
    assert_eq!(status(&dispatched), pb::TicketStatus::Dispatched);
    assert_eq!(dispatched.lead_department_id, TRANSPORT);
}

#[tokio::test]
async fn reply_sent_back_on_review_returns_to_the_department() {
    let w = World::new().await;
    let t = w.dispatched("供水压力不足", WATER, &[]).await;
    w.sign(&w.water, &t.id).await.unwrap();
    w.reply(&w.water, &t.id).await.unwrap();
    let back = w
        .server
        .tickets(&w.operator)
        .review_reply(pb::ReviewReplyRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            accept: false,
            note: "答复未说明处理时限".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status(&back), pb::TicketStatus::InProgress);
    // Replying again and accepting it moves on to the callback.
    w.reply(&w.water, &t.id).await.unwrap();
    let accepted = w
        .server
        .tickets(&w.operator)
        .review_reply(pb::ReviewReplyRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            accept: true,
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status(&accepted), pb::TicketStatus::Replied);
    let actions = w.actions(&t.id).await;
    assert!(
        actions.contains(&"REPLY_SENT_BACK".to_owned()),
        "{actions:?}"
    );
    assert!(actions.ends_with(&["REPLIED".to_owned(), "REPLY_ACCEPTED".to_owned()]));
}

#[tokio::test]
async fn merge_folds_a_duplicate_into_its_master() {
    let w = World::new().await;
    let master = w.pending("夜间施工噪声").await;
    let duplicate = w.pending("夜间施工噪声").await;
    let mut ops = w.server.tickets(&w.operator);
    let merged = ops
        .merge_tickets(pb::MergeTicketsRequest {
            ticket_id: duplicate.id.clone(),
            expected_version: Some(duplicate.version),
            master_ticket_id: master.id.clone(),
            note: "同一工地".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status(&merged), pb::TicketStatus::Merged);
    assert_eq!(merged.merged_into, master.id);
    let into_itself = ops
        .merge_tickets(pb::MergeTicketsRequest {
            ticket_id: master.id.clone(),
            expected_version: None,
            master_ticket_id: master.id.clone(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(into_itself.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&into_itself), ["master_ticket_id"]);
}

#[tokio::test]
async fn duplicates_are_found_at_create() {
    let w = World::new().await;
    let first = w.pending("夜间施工噪声扰民").await;
    let response = w
        .server
        .tickets(&w.operator)
        .create_ticket(World::complaint("夜间施工噪声扰民", "", "320506"))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = response
        .duplicates
        .iter()
        .map(|d| d.ticket_id.as_str())
        .collect();
    assert!(
        ids.contains(&first.id.as_str()),
        "{:?}",
        response.duplicates
    );
}

#[tokio::test]
async fn withdraw_closes_with_that_outcome() {
    let w = World::new().await;
    let t = w.dispatched("咨询公积金提取", HOUSING, &[]).await;
    let withdrawn = w
        .server
        .tickets(&w.operator)
        .withdraw_ticket(pb::WithdrawTicketRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            reason: "市民表示已自行解决".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status(&withdrawn), pb::TicketStatus::Closed);
    assert_eq!(withdrawn.close_reason, pb::CloseReason::Withdrawn as i32);
    // The department can no longer act on it.
    let late = w.sign(&w.housing, &t.id).await.unwrap_err();
    assert_eq!(late.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn answer_directly_closes_a_consultation_without_dispatch() {
    let w = World::new().await;
    let mut request = World::complaint("居住证如何办理", "", "320506");
    request.appeal_type = pb::AppealType::Consultation as i32;
    let t = w.create(request).await;
    let answered = w
        .server
        .tickets(&w.operator)
        .answer_directly(pb::AnswerDirectlyRequest {
            ticket_id: t.id.clone(),
            expected_version: Some(t.version),
            content: "携带身份证和租房合同到社区服务中心办理。".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(status(&answered), pb::TicketStatus::Closed);
    assert_eq!(
        answered.close_reason,
        pb::CloseReason::AnsweredDirectly as i32
    );
    assert_eq!(
        w.actions(&t.id).await,
        ["CREATED", "ANSWERED_DIRECTLY", "CLOSED"]
    );
}

#[tokio::test]
async fn idempotent_create_returns_the_same_ticket() {
    let w = World::new().await;
    let mut request = World::complaint("路灯不亮", "", "320506");
    request.request_id = "gateway-42".into();
    let mut ops = w.server.tickets(&w.operator);
    let first = ops
        .create_ticket(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = ops.create_ticket(request).await.unwrap().into_inner();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.ticket.unwrap().id, again.ticket.unwrap().id);
}

#[tokio::test]
async fn deadlines_fall_in_the_centers_working_hours_by_default() {
    let w = World::new().await;
    let calendar = w
        .server
        .admin()
        .get_calendar(pb::GetCalendarRequest {})
        .await
        .unwrap()
        .into_inner()
        .calendar
        .unwrap();
    assert_eq!(calendar.time_zone, "Asia/Shanghai");
    assert!(
        calendar
            .days
            .iter()
            .any(|d| d.date == "2026-02-17" && !d.working),
        "the shipped schedule has the Spring Festival"
    );
    let t = w.dispatched("路面塌陷", TRANSPORT, &[]).await;
    // One working day after dispatch: the same time of day on the next working day,
    // after snapping into working hours, so always inside 09:00-12:00 or 13:30-17:30.
    let local = (t.sign_due.unwrap().seconds + 8 * 3600).rem_euclid(86_400);
    let in_hours = (9 * 3600..=12 * 3600).contains(&local)
        || (13 * 3600 + 1800..=17 * 3600 + 1800).contains(&local);
    assert!(in_hours, "sign_due at {local}s after local midnight");
}
