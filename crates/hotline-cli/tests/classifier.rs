//! Tests of `hotline classify`: a train → predict → eval round trip on a
//! small made-up corpus, the refusal of damaged model files, and the accuracy
//! bar on the real appeals in `../shared/data` (5-fold cross-validated
//! macro-F1 ≥ 0.88).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
const HOTLINE: &str = env!("CARGO_BIN_EXE_hotline");

/// The bar the cross-validated macro-F1 on the shared data must clear.
const MIN_MACRO_F1: f64 = 0.88;

/// Runs `hotline` with `args`.
fn hotline(args: &[&str]) -> Output {
    Command::new(HOTLINE)
        .args(args)
        .env_remove("HOTLINE_ADDR")
        .output()
        .expect("hotline runs")
}

/// Runs `hotline` and returns its stdout, failing the test on a non-zero exit.
fn ok(args: &[&str]) -> String {
    let out = hotline(args);
    assert!(
        out.status.success(),
        "hotline {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A made-up corpus of three categories, as `id,title,body,label` CSV.
fn toy_csv() -> String {
    let topics = [
        ("城乡建设", ["小区物业", "停水停电", "违章建筑", "道路施工"]),
        ("交通运输", ["公交线路", "出租车", "高速收费", "地铁站口"]),
        ("教育文体", ["学校收费", "教师工资", "幼儿园", "招生入学"]),
    ];
    let mut csv = String::from("id,title,body,label\n");
    let mut id = 100;
    for (t, (label, words)) in topics.iter().enumerate() {
        for i in 0..12 {
            id += 1;
            let title = if i % 3 == 0 { "" } else { words[i % 4] };
            // Each message is distinct (training merges messages with the same text).
            let from = [
                "东门", "西街", "南苑", "北岸", "中山", "新村", "老城", "湖滨", "江畔", "山前",
                "桥头", "园区",
            ][i];
            csv.push_str(&format!(
                "{id},{title},\"尊敬的领导，{from}{}和{}的问题，请尽快处理。\",{label}\n",
                words[i % 4],
                words[(i + t + 1) % 4]
            ));
        }
    }
    csv
}

/// Paths of the toy files in a fresh temporary directory.
struct Toy {
    _dir: tempfile::TempDir,
    data: PathBuf,
    model: PathBuf,
    pred: PathBuf,
}

fn toy() -> Toy {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("toy.csv");
    std::fs::write(&data, toy_csv()).expect("write csv");
    Toy {
        model: dir.path().join("toy.model"),
        pred: dir.path().join("pred.csv"),
        data,
        _dir: dir,
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Small and fast settings for the toy corpus.
const TOY_FLAGS: [&str; 6] = ["--hash-bits", "14", "--min-df", "1", "--ngrams", "1-2"];

#[test]
fn train_predict_and_eval_round_trip() {
    let toy = toy();
    let mut args = vec![
        "classify",
        "train",
        "--data",
        s(&toy.data),
        "--out",
        s(&toy.model),
    ];
    args.extend(TOY_FLAGS);
    let summary = ok(&args);
    assert!(summary.contains("messages"), "{summary}");
    assert!(summary.contains("教育文体"), "{summary}");

    ok(&[
        "classify",
        "predict",
        "--model",
        s(&toy.model),
        "--data",
        s(&toy.data),
        "--out",
        s(&toy.pred),
    ]);
    let predictions = std::fs::read_to_string(&toy.pred).expect("predictions");
    let lines: Vec<&str> = predictions.lines().collect();
    assert_eq!(lines[0], "id,label,confidence");
    assert_eq!(lines.len(), 37);
    let truth: Vec<String> = toy_csv()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next_back().expect("label").to_owned())
        .collect();
    let mut right = 0;
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], (101 + i).to_string(), "ids in input order");
        let confidence: f64 = cells[2].parse().expect("confidence");
        assert!((0.0..=1.0).contains(&confidence));
        if cells[1] == truth[i] {
            right += 1;
        }
    }
    assert!(right >= 33, "{right} of 36 right on the training data");

    let eval = ok(&[
        "--json",
        "classify",
        "eval",
        "--model",
        s(&toy.model),
        "--data",
        s(&toy.data),
    ]);
    let eval: Value = serde_json::from_str(&eval).expect("json");
    assert_eq!(eval["messages"], 36);
    assert!(eval["macro_f1"].as_f64().expect("f1") > 0.9, "{eval}");
    assert_eq!(eval["per_class"].as_array().expect("classes").len(), 3);
    assert_eq!(eval["confusion"].as_array().expect("matrix").len(), 3);
}

#[test]
fn cross_validation_prints_folds_and_a_confusion_matrix() {
    let toy = toy();
    let mut args = vec!["classify", "eval", "--folds", "3", "--data", s(&toy.data)];
    args.extend(TOY_FLAGS);
    let text = ok(&args);
    for needle in [
        "FOLD",
        "mean",
        "macro-F1",
        "PRECISION",
        "confusion matrix",
        "1 交通运输",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
}

#[test]
fn damaged_model_files_are_refused_with_a_clear_error() {
    let toy = toy();
    let mut args = vec![
        "classify",
        "train",
        "--data",
        s(&toy.data),
        "--out",
        s(&toy.model),
    ];
    args.extend(TOY_FLAGS);
    ok(&args);
    let bytes = std::fs::read(&toy.model).expect("model");
    let predict = |bytes: &[u8]| {
        std::fs::write(&toy.model, bytes).expect("write");
        let out = hotline(&[
            "classify",
            "predict",
            "--model",
            s(&toy.model),
            "--data",
            s(&toy.data),
            "--out",
            "-",
        ]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = predict(&bytes[..bytes.len() / 2]);
    assert!(err.contains("truncated"), "{err}");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    let err = predict(&flipped);
    assert!(err.contains("checksum"), "{err}");
    let err = predict(b"id,label\n");
    assert!(err.contains("not a hotline classifier model"), "{err}");
}

/// The shared data directory beside the workspace.
fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

#[test]
fn cross_validated_macro_f1_on_real_appeals_clears_the_bar() {
    let data = shared_data();
    let train = data.join("appeals_train.csv");
    let extra = data.join("appeals_extra_segmented.csv");
    if !train.exists() || !extra.exists() {
        let reason = format!("skipped: the shared data is not at {}", data.display());
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{reason} (CI=true)"
        );
        println!("{reason}");
        return;
    }
    let out = ok(&[
        "--json",
        "classify",
        "eval",
        "--folds",
        "5",
        "--data",
        s(&train),
        "--data",
        s(&extra),
    ]);
    let report: Value = serde_json::from_str(&out).expect("json");
    let mean = report["mean_macro_f1"].as_f64().expect("mean macro-F1");
    let folds: Vec<f64> = report["folds"]
        .as_array()
        .expect("folds")
        .iter()
        .map(|f| f["macro_f1"].as_f64().expect("fold macro-F1"))
        .collect();
    let original = report["original_text"]["mean_macro_f1"]
        .as_f64()
        .map_or_else(|| "n/a".to_owned(), |f| format!("{f:.4}"));
    println!(
        "5-fold macro-F1 on the shared appeals: mean {mean:.4}, folds {folds:.4?}, original text only {original}"
    );
    assert_eq!(folds.len(), 5);
    assert!(
        mean >= MIN_MACRO_F1,
        "cross-validated macro-F1 {mean:.4} is below {MIN_MACRO_F1}"
    );
}
