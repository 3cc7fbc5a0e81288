//! Supervision end to end: a supervisor tightens the deadline policy, the
//! server's own sweeper lights the deadlines up, the supervisor lists one
//! district's overdue items (most overdue first) and urges one, and the
//! department's watch stream hears every light and then the urge.

use std::collections::BTreeMap;
use std::time::Duration;

use hotline_e2e::TestServer;
use hotline_proto::v1 as pb;

use crate::world::*;

/// How long a test waits for the sweeper before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// A policy whose sign deadline falls at once (0 calendar minutes): every
/// dispatched ticket is overdue on the sweeper's next pass.
fn sign_at_once() -> pb::DeadlinePolicy {
    let window = |mode: pb::TimeMode, amount| {
        Some(pb::Window {
            mode: mode.into(),
            amount,
        })
    };
    pb::DeadlinePolicy {
        entries: vec![pb::PolicyEntry {
            appeal_type: 0,
            priority: 0,
            category_prefix: String::new(),
            sign_within: window(pb::TimeMode::Calendar, 0),
            reply_within: window(pb::TimeMode::Calendar, 600),
        }],
        max_returns: 2,
        max_extensions: 1,
        max_reopens: 2,
        warning_percent: 80,
        serious_overdue_minutes: 60,
        callback_within: window(pb::TimeMode::WorkingDays, 2),
        version: 0,
    }
}

/// Waits for the next notification, failing the test after [`PATIENCE`].
async fn next(
    stream: &mut tonic::Streaming<pb::AssignmentNotification>,
) -> pb::AssignmentNotification {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("a notification in time")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

fn level(ticket: &pb::Ticket) -> pb::WarningLevel {
    pb::WarningLevel::try_from(ticket.warning_level).unwrap()
}

#[tokio::test]
async fn a_supervisor_lists_a_districts_overdue_items_urges_one_and_the_department_hears_it() {
    let server = TestServer::start_with(|config| {
        config.sweep_interval = Duration::from_millis(50);
    })
    .await
    .unwrap();
    let w = World::on(server).await;
    let put = w
        .server
        .admin()
        .put_deadline_policy(pb::PutDeadlinePolicyRequest {
            policy: Some(sign_at_once()),
            expected_version: None,
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    let policy_version = put.version;
    assert!(policy_version >= 1);

    let mut watch = w
        .server
        .departments(&w.water)
        .watch_assignments(pb::WatchAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner();

    // Two tickets in Gusu (320508), one in Wuzhong (320506), all with the water bureau.
    let mut ids = Vec::new();
    for (title, region) in [
        ("停水三天", "320508001"),
        ("水压不足", "320508002"),
        ("水管爆裂", "320506001"),
    ] {
        let ticket = w.create(World::complaint(title, "", region)).await;
        assert_eq!(ticket.policy_version, policy_version);
        let dispatched = w
            .server
            .tickets(&w.operator)
            .dispatch(pb::DispatchRequest {
                ticket_id: ticket.id.clone(),
                expected_version: None,
                lead_department_id: WATER.into(),
                co_department_ids: vec![],
                note: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap();
        ids.push(dispatched.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (gusu_first, gusu_second, wuzhong) = (ids[0].clone(), ids[1].clone(), ids[2].clone());

    // The supervisor's view of Gusu: overdue at once, turned red by the sweeper.
    let mut supervision = w.server.supervision(&w.supervisor);
    let listing = pb::ListOverdueRequest {
        region_prefix: "320508".into(),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let items = loop {
        let items = supervision
            .list_overdue(listing.clone())
            .await
            .unwrap()
            .into_inner()
            .items;
        let red = items.len() == 2
            && items
                .iter()
                .all(|i| level(i.ticket.as_ref().unwrap()) == pb::WarningLevel::Overdue);
        if red {
            break items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper did not turn the deadlines red: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let listed: Vec<&str> = items
        .iter()
        .map(|i| i.ticket.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(
        listed,
        [gusu_first.as_str(), gusu_second.as_str()],
        "most overdue first, Wuzhong left out"
    );
    assert!(items[0].overdue_seconds >= items[1].overdue_seconds);
    assert!(
        items
            .iter()
            .all(|i| i.kind == pb::DeadlineKind::Sign as i32 && i.department_id == WATER)
    );

    // Filtering by level and kind: every one is red, none seriously yet.
    let serious = supervision
        .list_overdue(pb::ListOverdueRequest {
            min_level: Some(pb::WarningLevel::SeriouslyOverdue.into()),
            ..listing.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(serious.items.is_empty());
    let replies = supervision
        .list_overdue(pb::ListOverdueRequest {
            kind: pb::DeadlineKind::Reply.into(),
            ..listing.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(replies.items.is_empty());
    // Pages of one chain through the same two items.
    let first = supervision
        .list_overdue(pb::ListOverdueRequest {
            page_size: 1,
            ..listing.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.items[0].ticket.as_ref().unwrap().id, gusu_first);
    let second = supervision
        .list_overdue(pb::ListOverdueRequest {
            page_size: 1,
            page_token: first.next_page_token,
            ..listing.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.items[0].ticket.as_ref().unwrap().id, gusu_second);
    assert!(second.next_page_token.is_empty());

    // Urge the most overdue one.
    let urged = supervision
        .urge_ticket(pb::UrgeTicketRequest {
            ticket_id: gusu_first.clone(),
            expected_version: None,
            note: "请立即签收".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(urged.id, gusu_first);

    // The water bureau heard, for each ticket in order: the dispatch, the yellow
    // and the red light; then the urge. (Commands publish concurrently, so the
    // stream may interleave them; event ids give the order they happened in.)
    let mut heard: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let done = |heard: &BTreeMap<String, Vec<(i64, String)>>| {
        heard.get(&gusu_first).is_some_and(|kinds| {
            ["OVERDUE", "URGED"]
                .iter()
                .all(|k| kinds.iter().any(|(_, kind)| kind == k))
        })
    };
    while !done(&heard) {
        let n = next(&mut watch).await;
        assert_eq!(n.department_id, WATER);
        let id: i64 = n.event_id.parse().unwrap();
        heard.entry(n.ticket_id).or_default().push((id, n.kind));
    }
    let in_order = |id: &String| -> Vec<String> {
        let mut kinds = heard.get(id).cloned().unwrap_or_default();
        kinds.sort();
        kinds.into_iter().map(|(_, kind)| kind).collect()
    };
    let lights = ["DISPATCHED", "WARNING", "OVERDUE"];
    assert_eq!(in_order(&gusu_first), [&lights[..], &["URGED"]].concat());
    for id in [&gusu_second, &wuzhong] {
        let kinds = in_order(id);
        assert!(
            lights.starts_with(&kinds.iter().map(String::as_str).collect::<Vec<_>>()),
            "{kinds:?}"
        );
    }

    // The month so far for the water bureau: three dispatched, none signed in time,
    // all three overdue now, one urge.
    let now = std::time::SystemTime::now();
    let stats = supervision
        .get_department_stats(pb::GetDepartmentStatsRequest {
            department_id: WATER.into(),
            period_start: Some((now - Duration::from_secs(3600)).into()),
            period_end: Some((now + Duration::from_secs(60)).into()),
        })
        .await
        .unwrap()
        .into_inner()
        .stats;
    let [water] = stats.as_slice() else {
        panic!("one row for one department: {stats:?}");
    };
    assert_eq!(
        (
            water.dispatched,
            water.signed_on_time,
            water.overdue,
            water.urged
        ),
        (3, 0, 3, 1)
    );
    assert!(water.response_rate.abs() < f64::EPSILON);
    assert_eq!(water.rank, 1);
}

#[tokio::test]
async fn due_soon_lists_filter_by_region_category_and_kind() {
    let w = World::new().await;
    let dispatch = async |request: pb::CreateTicketRequest, lead: &str| -> pb::Ticket {
        let ticket = w.create(request).await;
        w.server
            .tickets(&w.operator)
            .dispatch(pb::DispatchRequest {
                ticket_id: ticket.id,
                expected_version: None,
                lead_department_id: lead.into(),
                co_department_ids: vec![],
                note: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    };
    // Default policy: a normal complaint must be signed within a working day. No
    // category for the first (so no rule dispatches it), noise for the second.
    let gusu = dispatch(World::complaint("楼下太吵", "", "320508"), ENV_GUSU).await;
    let wuzhong = dispatch(World::complaint("施工噪声", NOISE, "320506"), ENV_WUZHONG).await;
    let mut supervision = w.server.supervision(&w.supervisor);
    let due_soon = |region: &str, category: &str, kind: pb::DeadlineKind| pb::ListDueSoonRequest {
        within_seconds: 3 * 24 * 3600,
        kind: kind.into(),
        region_prefix: region.into(),
        category_prefix: category.into(),
        ..Default::default()
    };
    let ids = |items: Vec<pb::OverdueItem>| -> Vec<String> {
        items.into_iter().map(|i| i.ticket.unwrap().id).collect()
    };
    let all = supervision
        .list_due_soon(due_soon("", "", pb::DeadlineKind::Unspecified))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(ids(all), [gusu.id.as_str(), wuzhong.id.as_str()]);
    let wuzhong_only = supervision
        .list_due_soon(due_soon("320506", "", pb::DeadlineKind::Sign))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(ids(wuzhong_only), [wuzhong.id.as_str()]);
    let noise = supervision
        .list_due_soon(due_soon("", "环境保护", pb::DeadlineKind::Unspecified))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(ids(noise), [wuzhong.id.as_str()]);
    let replies = supervision
        .list_due_soon(due_soon("", "", pb::DeadlineKind::Reply))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert!(
        replies.is_empty(),
        "nobody signed, so no reply deadline runs"
    );
    let yellow = supervision
        .list_due_soon(pb::ListDueSoonRequest {
            min_level: Some(pb::WarningLevel::Warning.into()),
            ..due_soon("", "", pb::DeadlineKind::Unspecified)
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert!(yellow.is_empty(), "fresh deadlines are not yellow");
}
