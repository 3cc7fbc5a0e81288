//! Tests of the classifier as a whole: training, classifying, rules, files.

use super::*;

/// A toy corpus: three categories told apart by a few words each, with
/// filler shared by all.
fn corpus() -> Vec<Example> {
    let topics = [
        ("城乡建设", ["小区物业", "停水停电", "违章建筑", "道路施工"]),
        ("交通运输", ["公交线路", "出租车", "高速收费", "地铁站口"]),
        ("教育文体", ["学校收费", "教师工资", "幼儿园", "招生入学"]),
    ];
    let fillers = ["尊敬的领导您好", "请尽快处理", "希望政府重视", "谢谢"];
    let mut examples = Vec::new();
    for (t, (label, words)) in topics.iter().enumerate() {
        for i in 0..12 {
            let text = format!(
                "{}，{}和{}的问题。{}",
                fillers[i % 4],
                words[i % 4],
                words[(i + t + 1) % 4],
                fillers[(i + 1) % 4]
            );
            examples.push(Example::new(text, *label));
        }
    }
    examples
}

/// A small, fast configuration.
fn config() -> TrainConfig {
    TrainConfig {
        features: FeatureConfig {
            min_n: 1,
            max_n: 2,
            hash_bits: 12,
            min_df: 1,
        },
        calibration_folds: 3,
        ..TrainConfig::default()
    }
}

fn trained(algorithm: Algorithm) -> Model {
    let config = TrainConfig {
        algorithm,
        ..config()
    };
    train(&corpus(), &config, &mut |_, _| {}).expect("trains").0
}

#[test]
fn each_algorithm_learns_the_toy_corpus() {
    for algorithm in [Algorithm::Svm, Algorithm::Logistic, Algorithm::ComplementNb] {
        let classifier = Classifier::new(trained(algorithm));
        let p = classifier.classify("", "小区物业乱收费，请尽快处理", 3);
        assert_eq!(p.label, "城乡建设", "{algorithm}: {p:?}");
        assert_eq!(p.top.len(), 3);
        assert_eq!(p.top[0].0, p.label);
        assert!((p.top.iter().map(|t| t.1).sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(p.top.windows(2).all(|w| w[0].1 >= w[1].1));
        let p = classifier.classify("公交线路", "", 1);
        assert_eq!(p.label, "交通运输", "{algorithm}: {p:?}");
        assert_eq!(p.top.len(), 1);
        assert_eq!(p.rule, None);
    }
}

#[test]
fn training_is_deterministic() {
    let a = trained(Algorithm::Svm).to_bytes();
    let b = trained(Algorithm::Svm).to_bytes();
    assert_eq!(a, b);
    let a = trained(Algorithm::Logistic).to_bytes();
    let b = trained(Algorithm::Logistic).to_bytes();
    assert_eq!(a, b);
}

#[test]
fn a_model_read_back_classifies_the_same() {
    let model = trained(Algorithm::Svm);
    let back = Model::from_bytes(&model.to_bytes()).expect("reads back");
    assert_eq!(back, model);
    let text = "学校收费太高，教师工资拖欠";
    assert_eq!(
        Classifier::new(model).classify("", text, 3),
        Classifier::new(back).classify("", text, 3)
    );
}

#[test]
fn title_and_body_are_read_together_and_empty_text_gets_an_answer() {
    let classifier = Classifier::new(trained(Algorithm::Svm));
    let split = classifier.classify("招生入学", "幼儿园", 2);
    let joined = classifier.classify("", "招生入学幼儿园", 2);
    assert_eq!(split, joined);
    let empty = classifier.classify("", "", 5);
    assert_eq!(empty.top.len(), 3);
    assert!(empty.confidence > 0.0 && empty.confidence <= 1.0);
    assert!(classifier.model().labels().contains(&empty.label));
}

#[test]
fn a_keyword_rule_forces_its_category_with_full_confidence() {
    let classifier = Classifier::new(trained(Algorithm::Svm))
        .with_rules(vec![
            KeywordRule {
                keywords: vec!["燃气".into(), "泄漏".into()],
                category: "城乡建设/燃气供应".into(),
            },
            KeywordRule {
                keywords: vec!["ＥＴＣ".into()],
                category: "交通运输".into(),
            },
        ])
        .expect("valid rules");
    let p = classifier.classify("燃气泄漏", "学校门口有燃气味，疑似泄漏！", 3);
    assert_eq!(p.label, "城乡建设/燃气供应");
    assert_eq!(p.confidence, 1.0);
    assert_eq!(p.rule, Some(0));
    assert_eq!(p.top.len(), 3);
    assert_eq!(p.top[0], ("城乡建设/燃气供应".to_owned(), 1.0));
    // Only one keyword: no match, the model decides.
    let p = classifier.classify("", "学校门口有燃气味", 3);
    assert_eq!(p.rule, None);
    // Full-width, case and spacing do not matter; the forced label is not repeated.
    let p = classifier.classify("", "高速 etc 扣费两次", 3);
    assert_eq!(p.rule, Some(1));
    assert_eq!(p.label, "交通运输");
    assert_eq!(p.top.iter().filter(|t| t.0 == "交通运输").count(), 1);
    assert_eq!(classifier.rules().len(), 2);
}

#[test]
fn rules_that_would_match_everything_are_refused() {
    let mut classifier = Classifier::new(trained(Algorithm::ComplementNb));
    let err = classifier
        .set_rules(vec![KeywordRule {
            keywords: vec!["，".into(), " ".into()],
            category: "交通运输".into(),
        }])
        .expect_err("no keyword");
    assert_eq!(err, RuleError::NoKeywords { index: 0 });
    let err = classifier
        .set_rules(vec![KeywordRule {
            keywords: vec!["公交".into()],
            category: " ".into(),
        }])
        .expect_err("no category");
    assert_eq!(err, RuleError::EmptyCategory { index: 0 });
    assert!(classifier.rules().is_empty());
}

#[test]
fn cross_validation_keeps_each_message_on_one_side() {
    // Every message also comes in a segmented form that would give the
    // answer away if it leaked into the training side.
    let examples: Vec<Example> = corpus()
        .into_iter()
        .map(|mut e| {
            let segmented = e.texts[0].chars().map(|c| format!("{c} ")).collect();
            e.texts.push(segmented);
            e
        })
        .collect();
    let mut last = (0, 0);
    let cv = cross_validate(&examples, 4, &config(), &mut |done, total| {
        assert!(done >= last.0 && done <= total);
        last = (done, total);
    })
    .expect("runs");
    assert_eq!(last.0, last.1);
    assert_eq!(cv.folds.len(), 4);
    assert_eq!(cv.pooled.total(), examples.len() as u64);
    assert_eq!(
        cv.folds.iter().map(Evaluation::total).sum::<u64>(),
        examples.len() as u64
    );
    assert!(cv.mean_macro_f1() > 0.8, "{}", cv.mean_macro_f1());
    assert_eq!(
        cross_validate(&examples, 1, &config(), &mut |_, _| {}).map(|_| ()),
        Err(TrainError::BadFolds {
            folds: 1,
            examples: 36
        })
    );
}

#[test]
fn the_classifier_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Classifier>();
    let classifier = std::sync::Arc::new(Classifier::new(trained(Algorithm::Svm)));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let c = classifier.clone();
            std::thread::spawn(move || c.classify("", "出租车拒载", 1).label)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("joins"), "交通运输");
    }
}

#[test]
fn progress_ends_at_its_total() {
    let mut seen = Vec::new();
    train(&corpus(), &config(), &mut |done, total| {
        seen.push((done, total))
    })
    .expect("trains");
    let (done, total) = *seen.last().expect("reported");
    assert_eq!(done, total);
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1)
    );
}

#[test]
fn keyword_rules_without_a_model_match_in_order_and_ignore_punctuation() {
    let rules = parse_keyword_rules(
        "# comment\n环境保护/噪声污染/施工噪声  夜间+施工\n\n环境保护/噪声污染  噪音\n",
    )
    .expect("parses");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].keywords, vec!["夜间", "施工"]);
    let rules = KeywordRules::new(rules).expect("compiles");
    assert_eq!(rules.find("工地夜间 施工", "吵得睡不着"), Some(0));
    assert_eq!(rules.find("楼上", "噪，音很大"), Some(1));
    assert_eq!(rules.find("路灯", "不亮"), None);
    assert_eq!(KeywordRules::default().find("噪音", ""), None);
}

#[test]
fn keyword_rule_files_with_bad_lines_are_refused_with_the_line() {
    assert_eq!(
        parse_keyword_rules("a/b  x\nlonely\n"),
        Err(RuleError::Syntax { line: 2 })
    );
    assert_eq!(
        parse_keyword_rules("a/b  +++\n"),
        Err(RuleError::Syntax { line: 1 })
    );
    assert_eq!(
        parse_keyword_rules("a/b  ，。\n"),
        Err(RuleError::NoKeywords { index: 0 })
    );
}

#[test]
fn shipped_keyword_rules_name_categories_of_the_shipped_taxonomy() {
    let taxonomy = crate::Taxonomy::builtin();
    let rules = builtin_keyword_rules();
    assert!(rules.len() >= 10);
    for rule in &rules {
        assert!(
            taxonomy.contains(&rule.category),
            "{} is not in the taxonomy",
            rule.category
        );
    }
    let rules = KeywordRules::new(rules).expect("compiles");
    let hit = rules
        .find("小区噪音扰民", "楼下KTV每天营业到凌晨两点")
        .map(|i| rules.rules()[i].category.clone());
    assert_eq!(hit.as_deref(), Some("环境保护/噪声污染/社会生活噪声"));
}
