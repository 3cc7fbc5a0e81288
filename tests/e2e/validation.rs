//! Malformed requests get the right code and name the field.

use hotline_proto::v1 as pb;

use crate::world::*;

async fn create_error(w: &World, request: pb::CreateTicketRequest) -> tonic::Status {
    w.server
        .tickets(&w.operator)
        .create_ticket(request)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn bad_intake_names_the_field() {
    let w = World::new().await;
    let mut missing_title = World::complaint("", "", "");
    missing_title.title.clear();
    let err = create_error(&w, missing_title).await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["title"]);

    let mut long_body = World::complaint("噪声", "", "");
    long_body.body = "吵".repeat(10_001);
    let err = create_error(&w, long_body).await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["body"]);

    let mut bad_enum = World::complaint("噪声", "", "");
    bad_enum.channel = 99;
    let err = create_error(&w, bad_enum).await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["channel"]);

    let mut unspecified = World::complaint("噪声", "", "");
    unspecified.appeal_type = 0;
    let err = create_error(&w, unspecified).await;
    assert_eq!(violated_fields(&err), ["appeal_type"]);

    let err = create_error(&w, World::complaint("噪声", "不存在/的分类", "")).await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["category_hint"]);

    let mut bad_phone = World::complaint("噪声", "", "");
    bad_phone.citizen.as_mut().unwrap().phone = "call me".into();
    let err = create_error(&w, bad_phone).await;
    assert_eq!(violated_fields(&err), ["citizen.phone"]);

    // Nothing was half-written.
    let listed = w
        .server
        .tickets(&w.operator)
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tickets.is_empty());
}

#[tokio::test]
async fn unknown_ids_and_stale_versions() {
    let w = World::new().await;
    let mut ops = w.server.tickets(&w.operator);
    let err = ops
        .get_ticket(pb::GetTicketRequest {
            ticket_id: "0190e7a0-0000-7000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = ops
        .get_ticket(pb::GetTicketRequest {
            ticket_id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["ticket_id"]);

    let t = w.pending("噪声").await;
    let stale = ops
        .dispatch(pb::DispatchRequest {
            ticket_id: t.id.clone(),
            expected_version: Some(t.version + 5),
            lead_department_id: WATER.into(),
            co_department_ids: vec![],
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::Aborted);
    assert_eq!(w.get(&t.id).await.version, t.version, "nothing changed");

    let unknown_department = ops
        .dispatch(pb::DispatchRequest {
            ticket_id: t.id.clone(),
            expected_version: Some(t.version),
            lead_department_id: "sz.nowhere".into(),
            co_department_ids: vec![],
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_department.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&unknown_department), ["lead_department_id"]);
}

#[tokio::test]
async fn illegal_transitions_name_the_state() {
    let w = World::new().await;
    let t = w.pending("噪声").await;
    let err = w
        .callback(&t.id, pb::Satisfaction::Satisfied, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("PENDING_DISPATCH"),
        "{}",
        err.message()
    );
    let t = w.dispatched("噪声2", WATER, &[]).await;
    w.sign(&w.water, &t.id).await.unwrap();
    let again = w.sign(&w.water, &t.id).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    assert!(
        again.message().contains("IN_PROGRESS"),
        "{}",
        again.message()
    );
}
