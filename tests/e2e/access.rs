//! Authentication, roles and department scoping.

use hotline_proto::v1::department_service_client::DepartmentServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::v1::{self as pb, Role};

use crate::world::*;

#[tokio::test]
async fn missing_or_invalid_key_is_unauthenticated() {
    let w = World::new().await;
    let mut anonymous = TicketServiceClient::new(w.server.authed(None));
    let err = anonymous
        .get_ticket(pb::GetTicketRequest {
            ticket_id: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut forged = w
        .server
        .tickets("hl_0000000000000000000000000000000000000000000000000000000000000000");
    let err = forged
        .create_ticket(World::complaint("噪声", "", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(
        !err.message().contains("hl_0000"),
        "the secret must not be echoed"
    );
}

#[tokio::test]
async fn revoked_key_stops_working() {
    let w = World::new().await;
    let mut admin = w.server.admin();
    let created = admin
        .create_api_key(pb::CreateApiKeyRequest {
            role: Role::Operator as i32,
            department_id: String::new(),
            name: "temp".into(),
            expires_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    w.server
        .tickets(&created.key)
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();
    admin
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: created.key_id,
        })
        .await
        .unwrap();
    // Revocation takes effect within seconds on every replica; poll briefly.
    let mut last = None;
    for _ in 0..50 {
        match w
            .server
            .tickets(&created.key)
            .list_tickets(pb::ListTicketsRequest::default())
            .await
        {
            Err(status) => {
                last = Some(status.code());
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(last, Some(tonic::Code::Unauthenticated));
}

#[tokio::test]
async fn operator_cannot_decide_an_extension() {
    let w = World::new().await;
    let t = w.dispatched("噪声扰民", HOUSING, &[]).await;
    let err = w
        .server
        .supervision(&w.operator)
        .decide_extension(pb::DecideExtensionRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            approve: true,
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    // A department cannot create tickets or use the admin service either.
    let err = w
        .server
        .tickets(&w.water)
        .create_ticket(World::complaint("x", "", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let mut as_operator = hotline_proto::v1::admin_service_client::AdminServiceClient::new(
        w.server.authed(Some(&w.operator)),
    );
    let err = as_operator
        .list_api_keys(pb::ListApiKeysRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn a_department_learns_nothing_of_another_departments_ticket() {
    let w = World::new().await;
    let theirs = w.dispatched("供水管道漏水", WATER, &[]).await;
    let unknown = "0190e7a0-0000-7000-8000-000000000000";
    let mut housing = TicketServiceClient::new(w.server.authed(Some(&w.housing)));
    let hidden = housing
        .get_ticket(pb::GetTicketRequest {
            ticket_id: theirs.id.clone(),
        })
        .await
        .unwrap_err();
    let missing = housing
        .get_ticket(pb::GetTicketRequest {
            ticket_id: unknown.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert_eq!(
        hidden.message().replace(&theirs.id, "ID"),
        missing.message().replace(unknown, "ID"),
        "a hidden ticket must look exactly like a missing one"
    );
    let timeline = housing
        .get_timeline(pb::GetTimelineRequest {
            ticket_id: theirs.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(timeline.code(), tonic::Code::NotFound);
    let sign = w.sign(&w.housing, &theirs.id).await.unwrap_err();
    assert!(
        matches!(
            sign.code(),
            tonic::Code::NotFound | tonic::Code::PermissionDenied
        ),
        "{sign:?}"
    );
    let listed = housing
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tickets.iter().all(|t| t.id != theirs.id));
    let mut dept = DepartmentServiceClient::new(w.server.authed(Some(&w.housing)));
    let assignments = dept
        .list_assignments(pb::ListAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(assignments.tickets.is_empty());
    // The owner still sees it, with the citizen's phone; a supervisor sees it masked.
    let own = w
        .server
        .tickets(&w.water)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: theirs.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(own.id, theirs.id);
    let supervised = w
        .server
        .tickets(&w.supervisor)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: theirs.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(supervised.citizen.unwrap().phone, "139****5678");
}

#[tokio::test]
async fn a_parent_department_sees_its_childrens_tickets() {
    let w = World::new().await;
    let t = w
        .create(World::complaint("工地噪声", NOISE, "320508001"))
        .await;
    assert_eq!(t.lead_department_id, ENV_GUSU);
    let seen = w
        .server
        .tickets(&w.env)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: t.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(seen.id, t.id);
}

#[tokio::test]
async fn confidential_citizens_are_hidden_from_departments() {
    let w = World::new().await;
    let mut request = World::complaint("举报工地偷排污水", "", "320506");
    request.appeal_type = pb::AppealType::Report as i32;
    if let Some(c) = request.citizen.as_mut() {
        c.confidential = true;
    }
    let t = w.create(request).await;
    w.server
        .tickets(&w.operator)
        .dispatch(pb::DispatchRequest {
            ticket_id: t.id.clone(),
            expected_version: None,
            lead_department_id: ENV.into(),
            co_department_ids: vec![],
            note: String::new(),
        })
        .await
        .unwrap();
    let seen = w
        .server
        .tickets(&w.env)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: t.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let citizen = seen.citizen.unwrap_or_default();
    assert!(
        citizen.name.is_empty() && citizen.phone.is_empty(),
        "{citizen:?}"
    );
    assert_eq!(
        w.get(&t.id).await.citizen.unwrap().phone,
        PHONE,
        "operators see it"
    );
}

#[tokio::test]
async fn a_department_learns_nothing_from_lists_stats_watches_or_similar_search() {
    let w = World::new().await;
    let mut housing_watch = w
        .server
        .departments(&w.housing)
        .watch_assignments(pb::WatchAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    const LEAK: (&str, &str) = (
        "金鸡湖路供水管道爆裂",
        "金鸡湖路与星海街交叉口供水管道爆裂，路面积水严重，附近小区停水。",
    );
    let mut request = World::complaint("供水", "", "");
    request.title = LEAK.0.into();
    request.body = LEAK.1.into();
    let theirs = w.create(request).await;
    w.server
        .tickets(&w.operator)
        .dispatch(pb::DispatchRequest {
            ticket_id: theirs.id.clone(),
            expected_version: None,
            lead_department_id: WATER.into(),
            co_department_ids: vec![],
            note: String::new(),
        })
        .await
        .unwrap();
    let mut supervision = w.server.supervision(&w.housing);
    let period = |hours: u64| {
        let now = std::time::SystemTime::now();
        (
            Some((now - std::time::Duration::from_secs(hours * 3600)).into()),
            Some((now + std::time::Duration::from_secs(60)).into()),
        )
    };

    // Lists without a filter hold only the caller's own tickets: none.
    let due_soon = supervision
        .list_due_soon(pb::ListDueSoonRequest {
            within_seconds: 365 * 86_400,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(due_soon.items.is_empty(), "{due_soon:?}");
    let overdue = supervision
        .list_overdue(pb::ListOverdueRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(overdue.items.is_empty());
    // The same list for a supervisor has the water bureau's ticket: the filter is real.
    let seen_by_supervisor = w
        .server
        .supervision(&w.supervisor)
        .list_due_soon(pb::ListDueSoonRequest {
            within_seconds: 365 * 86_400,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        seen_by_supervisor
            .items
            .iter()
            .any(|i| i.ticket.as_ref().is_some_and(|t| t.id == theirs.id))
    );

    // Naming another department, real or not, is refused in the same words.
    let (start, end) = period(1);
    let ask_stats = |department: &str| pb::GetDepartmentStatsRequest {
        department_id: department.into(),
        period_start: start,
        period_end: end,
    };
    let mut refusals = Vec::new();
    for department in [WATER, "no.such.department"] {
        let stats = supervision
            .get_department_stats(ask_stats(department))
            .await
            .unwrap_err();
        let overdue = supervision
            .list_overdue(pb::ListOverdueRequest {
                department_id: department.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        let watch = w
            .server
            .departments(&w.housing)
            .watch_assignments(pb::WatchAssignmentsRequest {
                department_id: department.into(),
                after_event_id: String::new(),
            })
            .await
            .unwrap_err();
        for status in [&stats, &overdue, &watch] {
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
        }
        refusals.push([stats, overdue, watch].map(|s| s.message().to_owned()));
    }
    assert_eq!(
        refusals[0], refusals[1],
        "a real department is refused exactly like a made-up one"
    );
    // Statistics without a filter cover the caller's own subtree only.
    let own_stats = supervision
        .get_department_stats(ask_stats(""))
        .await
        .unwrap()
        .into_inner()
        .stats;
    assert!(
        own_stats.iter().all(|row| row.department_id == HOUSING),
        "{own_stats:?}"
    );
    assert!(own_stats.iter().all(|row| row.dispatched == 0));

    // Similar-ticket search: the same words find nothing of another department's,
    // and asking by its id looks exactly like asking for an unknown one.
    let mut tickets = TicketServiceClient::new(w.server.authed(Some(&w.housing)));
    let by_text = tickets
        .find_similar(pb::FindSimilarRequest {
            title: LEAK.0.into(),
            body: LEAK.1.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(by_text.candidates.is_empty(), "{by_text:?}");
    let operator_finds = w
        .server
        .tickets(&w.operator)
        .find_similar(pb::FindSimilarRequest {
            title: LEAK.0.into(),
            body: LEAK.1.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        operator_finds
            .candidates
            .iter()
            .any(|c| c.ticket_id == theirs.id),
        "the operator finds it: the search is real"
    );
    let unknown = "0190e7a0-0000-7000-8000-000000000000";
    let by_id = |id: &str| pb::FindSimilarRequest {
        ticket_id: id.into(),
        ..Default::default()
    };
    let hidden = tickets.find_similar(by_id(&theirs.id)).await.unwrap_err();
    let missing = tickets.find_similar(by_id(unknown)).await.unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);
    assert_eq!(
        hidden.message().replace(&theirs.id, "ID"),
        missing.message().replace(unknown, "ID")
    );

    // The housing bureau's watch heard nothing of it; its own dispatch arrives.
    let own = w.dispatched("楼道灯坏了", HOUSING, &[]).await;
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), housing_watch.message())
        .await
        .expect("the own dispatch arrives")
        .unwrap()
        .unwrap();
    assert_eq!(heard.ticket_id, own.id, "the first thing heard is its own");
}

#[tokio::test]
async fn a_key_revoked_on_one_replica_stops_working_on_another_within_seconds() {
    let a = hotline_e2e::TestServer::start().await.unwrap();
    let b = hotline_e2e::TestServer::replica_of(&a, |_| {})
        .await
        .unwrap();
    let key = a.key(Role::Operator, "", "desk 7").await.unwrap();
    let key_id = a
        .admin()
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .unwrap()
        .into_inner()
        .keys
        .into_iter()
        .find(|k| k.name == "desk 7")
        .unwrap()
        .key_id;
    // Used on B first, so B holds it in its look-up cache.
    b.tickets(&key)
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .expect("the key works on the other replica");
    a.admin()
        .revoke_api_key(pb::RevokeApiKeyRequest { key_id })
        .await
        .unwrap();
    let revoked_at = std::time::Instant::now();
    let refused = loop {
        match b
            .tickets(&key)
            .list_tickets(pb::ListTicketsRequest::default())
            .await
        {
            Err(status) => break status,
            Ok(_) => {
                assert!(
                    revoked_at.elapsed() < std::time::Duration::from_secs(10),
                    "still accepted 10 s after revocation elsewhere"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    println!(
        "revoked on A, refused on B after {:?}",
        revoked_at.elapsed()
    );
}
