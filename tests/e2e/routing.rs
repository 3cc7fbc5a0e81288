//! Classification and routing at intake: keyword rules, a trained model loaded
//! and reloaded without a restart, routing rules changed on the fly, and the
//! explanation every ticket carries.

use hotline_core::classify::{Example, FeatureConfig, TrainConfig, train};
use hotline_e2e::TestServer;
use hotline_proto::v1 as pb;

use crate::world::{ENV, ENV_GUSU, HOUSING, World};

const GUSU: &str = "320508";

fn appeal(title: &str, body: &str, region: &str) -> pb::CreateTicketRequest {
    let mut request = World::complaint(title, "", region);
    request.body = body.into();
    request
}

fn routing(ticket: &pb::Ticket) -> &pb::RoutingDecision {
    ticket
        .routing
        .as_ref()
        .expect("every new ticket carries its routing decision")
}

#[tokio::test]
async fn noise_complaint_in_gusu_is_classified_and_dispatched_to_the_gusu_bureau() {
    let world = World::new().await;
    let ticket = world
        .create(appeal(
            "小区噪音扰民",
            "我住在姑苏区某小区，楼下商铺每天晚上音响声音很大，噪音扰民，影响老人孩子休息。",
            "320508001",
        ))
        .await;
    let category = ticket.category.as_ref().expect("classified");
    assert_eq!(category.path, "环境保护/噪声污染/社会生活噪声");
    assert!(!category.overridden);
    assert_eq!(ticket.status, pb::TicketStatus::Dispatched as i32);
    assert_eq!(ticket.lead_department_id, ENV_GUSU);
    let why = routing(&ticket);
    assert_eq!(why.outcome, pb::RoutingOutcome::AutoDispatched as i32);
    assert_eq!(why.rule_id, "noise-gusu");
    assert_eq!(why.lead_department_id, ENV_GUSU);
    assert!(
        why.classified_by.starts_with("keyword rule"),
        "{}",
        why.classified_by
    );
    assert!((why.threshold - 0.8).abs() < 1e-9);
    for part in [
        "noise-gusu",
        ENV_GUSU,
        "环境保护/噪声污染/社会生活噪声",
        "1.00",
    ] {
        assert!(
            why.explanation.contains(part),
            "{part}: {}",
            why.explanation
        );
    }

    // The same complaint from another district has no rule: it waits, and says why.
    let elsewhere = world
        .create(appeal(
            "小区噪音扰民",
            "楼下商铺噪音扰民，晚上睡不着。",
            "320506",
        ))
        .await;
    assert_eq!(elsewhere.status, pb::TicketStatus::PendingDispatch as i32);
    assert_eq!(
        routing(&elsewhere).outcome,
        pb::RoutingOutcome::NoRule as i32
    );

    // Read back later, the decision is still on the ticket.
    let read = world
        .server
        .tickets(&world.operator)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: ticket.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(read.routing, ticket.routing);
    world.server.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_model_unmatched_appeals_wait_and_an_operator_choice_routes() {
    let world = World::new().await;
    let plain = world
        .create(appeal(
            "社保咨询",
            "想了解一下灵活就业人员如何缴纳社保。",
            GUSU,
        ))
        .await;
    assert!(plain.category.is_none());
    assert_eq!(plain.status, pb::TicketStatus::PendingDispatch as i32);
    assert_eq!(
        routing(&plain).outcome,
        pb::RoutingOutcome::NoCategory as i32
    );

    let chosen = world
        .create(World::complaint(
            "工地夜里施工",
            "环境保护/噪声污染/施工噪声",
            GUSU,
        ))
        .await;
    let why = routing(&chosen);
    assert_eq!(why.classified_by, "operator");
    assert_eq!(why.outcome, pb::RoutingOutcome::AutoDispatched as i32);
    assert_eq!(chosen.lead_department_id, ENV_GUSU);
    world.server.stop().await.unwrap();
}

/// Three categories told apart by their words.
fn toy_examples() -> Vec<Example> {
    let topics = [
        ("环境保护", ["噪音", "油烟", "污水排放", "垃圾焚烧", "粉尘"]),
        (
            "城乡建设",
            ["物业费", "电梯维修", "违章搭建", "房屋漏水", "小区绿化"],
        ),
        (
            "交通运输",
            ["公交线路", "出租车拒载", "地铁站", "红绿灯", "停车收费"],
        ),
    ];
    let fillers = [
        "您好",
        "请相关部门尽快处理",
        "希望政府重视",
        "谢谢",
        "已经反映多次",
    ];
    let mut examples = Vec::new();
    for (label, words) in topics {
        for i in 0..20 {
            let text = format!(
                "{}，我们这里{}和{}的问题很严重。{}",
                fillers[i % 5],
                words[i % 5],
                words[(i + 2) % 5],
                fillers[(i + 3) % 5]
            );
            examples.push(Example::new(text, label));
        }
    }
    examples
}

fn write_toy_model(dir: &std::path::Path) -> std::path::PathBuf {
    let config = TrainConfig {
        features: FeatureConfig {
            min_n: 1,
            max_n: 2,
            hash_bits: 14,
            min_df: 1,
        },
        calibration_folds: 3,
        ..TrainConfig::default()
    };
    let (model, _) = train(&toy_examples(), &config, &mut |_, _| {}).expect("trains");
    let path = dir.join("toy.model");
    std::fs::write(&path, model.to_bytes()).expect("model written");
    path
}

#[tokio::test]
async fn a_model_loaded_by_reload_classifies_and_rule_changes_apply_without_restart() {
    let files = tempfile::tempdir().unwrap();
    // No keyword rules: the model alone decides once it is loaded.
    let no_rules = files.path().join("rules.txt");
    std::fs::write(&no_rules, "# none\n").unwrap();
    let server = TestServer::start_with(|config| {
        config.keyword_rules = Some(no_rules.clone());
        // With three categories the best has at least 1/3: above 0.34 the model decides.
        config.auto_dispatch_threshold = 0.34;
    })
    .await
    .unwrap();
    let world = World::on(server).await;
    let mut admin = world.server.admin();
    admin
        .put_routing_rules(pb::PutRoutingRulesRequest {
            rules: vec![pb::RoutingRule {
                id: "env-gusu".into(),
                category_prefix: "环境保护".into(),
                region_prefix: GUSU.into(),
                appeal_type: 0,
                lead_department_id: ENV_GUSU.into(),
                co_department_ids: vec![],
                direct_dispatch: true,
            }],
        })
        .await
        .unwrap();
    let noise = || {
        appeal(
            "楼下噪音",
            "您好，楼下饭店的噪音和油烟问题很严重，请相关部门尽快处理。",
            GUSU,
        )
    };

    let before = world.create(noise()).await;
    assert!(before.category.is_none(), "no model, no rule: no category");
    assert_eq!(before.status, pb::TicketStatus::PendingDispatch as i32);

    // A bad file is refused and changes nothing.
    let junk = files.path().join("junk.model");
    std::fs::write(&junk, b"HLCMjunk").unwrap();
    let refused = admin
        .reload_classifier(pb::ReloadClassifierRequest {
            model_path: junk.display().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!refused.loaded);
    assert!(
        refused.message.contains("junk.model"),
        "{}",
        refused.message
    );

    let model = write_toy_model(files.path());
    let reloaded = admin
        .reload_classifier(pb::ReloadClassifierRequest {
            model_path: model.display().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reloaded.loaded, "{}", reloaded.message);
    assert_eq!(reloaded.labels, 3);
    assert_ne!(reloaded.model_version, "none");

    let after = world.create(noise()).await;
    let category = after.category.as_ref().expect("the model classifies");
    assert_eq!(category.path, "环境保护");
    assert!(category.confidence > 0.34, "{category:?}");
    let why = routing(&after);
    assert_eq!(
        why.classified_by,
        format!("model {}", reloaded.model_version)
    );
    assert_eq!(why.candidates.len(), 3);
    assert_eq!(why.candidates[0].category, "环境保护");
    assert_eq!(why.outcome, pb::RoutingOutcome::AutoDispatched as i32);
    assert_eq!(after.lead_department_id, ENV_GUSU);

    // Reloading with no path keeps the model in force.
    let again = admin
        .reload_classifier(pb::ReloadClassifierRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(again.loaded);
    assert_eq!(again.model_version, reloaded.model_version);

    // A rule change takes effect on the next ticket, no restart.
    admin
        .put_routing_rules(pb::PutRoutingRulesRequest {
            rules: vec![pb::RoutingRule {
                id: "env-city".into(),
                category_prefix: "环境保护".into(),
                region_prefix: String::new(),
                appeal_type: 0,
                lead_department_id: ENV.into(),
                co_department_ids: vec![HOUSING.into()],
                direct_dispatch: true,
            }],
        })
        .await
        .unwrap();
    let rerouted = world.create(noise()).await;
    assert_eq!(rerouted.lead_department_id, ENV);
    assert_eq!(rerouted.co_department_ids, vec![HOUSING.to_owned()]);
    assert_eq!(routing(&rerouted).rule_id, "env-city");
    world.server.stop().await.unwrap();
}
