//! Analysis end to end: duplicate candidates at create and through FindSimilar
//! (a rewording by another caller is found, a different matter of the same
//! category is not, a department sees only its own), and hotspots with their
//! trend and sample tickets.

use std::time::{Duration, SystemTime};

use hotline_proto::v1 as pb;

use crate::world::*;

/// A construction-noise complaint, as the first caller put it.
const FIRST: (&str, &str) = (
    "平江路工地夜间施工噪声扰民",
    "平江路123号旁边的工地每天晚上十一点以后还在打桩施工，噪声很大，周边居民无法休息，请相关部门尽快处理。",
);
/// The same matter in a second caller's words.
const AGAIN: (&str, &str) = (
    "平江路工地深夜施工噪声大",
    "平江路123号旁边的工地每天晚上十一点后还在打桩施工，噪声非常大，周边居民都无法休息，请尽快处理！",
);
/// Another noise complaint in the same street: same category, different matter.
const OTHER: (&str, &str) = (
    "广场舞音响声音太大",
    "平江路口袋公园每天晚上七点到九点半跳广场舞，音响开得很响，家里孩子没法写作业，希望城管协调降低音量。",
);

/// A noise complaint with this text from its own caller at its own address.
fn noise(text: (&str, &str), phone: &str, address: &str) -> pb::CreateTicketRequest {
    let mut request = World::complaint(text.0, NOISE, "320508001");
    request.body = text.1.into();
    request.address = address.into();
    if let Some(citizen) = request.citizen.as_mut() {
        citizen.phone = phone.into();
    }
    request
}

async fn create(w: &World, request: pb::CreateTicketRequest) -> pb::CreateTicketResponse {
    w.server
        .tickets(&w.operator)
        .create_ticket(request)
        .await
        .unwrap()
        .into_inner()
}

fn reasons(candidates: &[pb::DuplicateCandidate]) -> Vec<(&str, &str)> {
    candidates
        .iter()
        .map(|c| (c.ticket_id.as_str(), c.reason.as_str()))
        .collect()
}

#[tokio::test]
async fn a_rewording_is_a_duplicate_and_a_different_matter_is_not() {
    let w = World::new().await;
    let first = create(&w, noise(FIRST, "13900000001", "平江路123号")).await;
    let first = first.ticket.unwrap();
    assert_eq!(
        first.lead_department_id, ENV_GUSU,
        "routed by the noise rule"
    );

    let again = create(&w, noise(AGAIN, "13900000002", "平江路125号")).await;
    let again_ticket = again.ticket.as_ref().unwrap();
    assert_eq!(
        reasons(&again.duplicates),
        [(first.id.as_str(), "similar text")]
    );
    let score = again.duplicates[0].score;
    assert!((0.3..1.0).contains(&score), "{score}");
    assert_eq!(again_ticket.duplicates, again.duplicates);

    let other = create(&w, noise(OTHER, "13900000003", "平江路口袋公园")).await;
    assert!(other.duplicates.is_empty(), "{:?}", other.duplicates);

    let similar = |key: &str, request: pb::FindSimilarRequest| {
        let mut client = w.server.tickets(key);
        async move {
            client
                .find_similar(request)
                .await
                .unwrap()
                .into_inner()
                .candidates
        }
    };
    let by_id = pb::FindSimilarRequest {
        ticket_id: first.id.clone(),
        ..Default::default()
    };
    assert_eq!(
        reasons(&similar(&w.operator, by_id.clone()).await),
        [(again_ticket.id.as_str(), "similar text")]
    );
    let by_text = pb::FindSimilarRequest {
        title: AGAIN.0.into(),
        body: AGAIN.1.into(),
        ..Default::default()
    };
    let found = similar(&w.operator, by_text.clone()).await;
    let mut ids: Vec<&str> = found.iter().map(|c| c.ticket_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [first.id.as_str(), again_ticket.id.as_str()];
    expected.sort_unstable();
    assert_eq!(
        ids, expected,
        "the probe text itself is stored as the second ticket"
    );

    // The district office sees the candidates dispatched to it; another sees none.
    let gusu = similar(&w.env_gusu, by_text.clone()).await;
    assert!(
        gusu.iter()
            .all(|c| c.ticket_id != other.ticket.as_ref().unwrap().id),
        "{gusu:?}"
    );
    assert!(gusu.iter().any(|c| c.ticket_id == first.id), "{gusu:?}");
    assert!(similar(&w.env_wuzhong, by_text).await.is_empty());
}

#[tokio::test]
async fn hotspots_report_the_trend_and_sample_tickets() {
    let w = World::new().await;
    let text = |n: usize| {
        (
            format!("平江路{n}号门前路灯不亮"),
            format!("平江路{n}号门前的路灯已经坏了一周，晚上行人看不清路。"),
        )
    };
    let lamp = |n: usize| {
        let (title, body) = text(n);
        let mut request = World::complaint(&title, "城乡建设/市政设施/路灯照明", "320508001");
        request.body = body;
        request.citizen.as_mut().unwrap().phone = format!("1390000{n:04}");
        request
    };
    for n in 0..3 {
        create(&w, lamp(n)).await;
    }
    let split = SystemTime::now();
    let mut recent = Vec::new();
    for n in 3..8 {
        recent.push(create(&w, lamp(n)).await.ticket.unwrap());
    }

    let listing = |start: SystemTime, end: SystemTime, min_count| pb::ListHotspotsRequest {
        window_start: Some(start.into()),
        window_end: Some(end.into()),
        min_count,
        region_level: 9,
    };
    let hour = Duration::from_secs(3600);
    let hotspots = w
        .server
        .supervision(&w.supervisor)
        .list_hotspots(listing(split, split + hour, 5))
        .await
        .unwrap()
        .into_inner()
        .hotspots;
    assert_eq!(hotspots.len(), 1, "{hotspots:?}");
    let h = &hotspots[0];
    assert_eq!(
        (
            h.category.as_str(),
            h.region_code.as_str(),
            h.count,
            h.previous_count
        ),
        ("城乡建设/市政设施/路灯照明", "320508001", 5, 3)
    );
    assert!((h.growth - 2.0 / 3.0).abs() < 1e-9, "{}", h.growth);
    let newest: Vec<&str> = recent.iter().rev().map(|t| t.id.as_str()).collect();
    assert_eq!(h.ticket_ids, newest);
    let samples: Vec<(&str, &str)> = h
        .samples
        .iter()
        .map(|s| (s.number.as_str(), s.title.as_str()))
        .collect();
    let expected: Vec<(&str, &str)> = recent
        .iter()
        .rev()
        .take(3)
        .map(|t| (t.number.as_str(), t.title.as_str()))
        .collect();
    assert_eq!(samples, expected);
    // The five say one thing (the same lamp, reworded): one matter of five.
    let clusters: Vec<(i32, &str)> = h
        .clusters
        .iter()
        .map(|c| (c.count, c.sample.as_ref().unwrap().number.as_str()))
        .collect();
    assert_eq!(clusters, [(5, expected[0].0)]);

    // A window holding all eight, after an empty one: a new hotspot.
    let all = w
        .server
        .supervision(&w.supervisor)
        .list_hotspots(listing(split - hour, split + hour, 8))
        .await
        .unwrap()
        .into_inner()
        .hotspots;
    assert_eq!(
        all.iter()
            .map(|h| (h.count, h.previous_count))
            .collect::<Vec<_>>(),
        [(8, 0)]
    );
    assert!((all[0].growth - 8.0).abs() < 1e-9);
}
