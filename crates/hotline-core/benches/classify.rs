//! Classifier speed: classifying 300-character messages on one core with a
//! model of the default shape (character bigrams in 2^20 buckets, 7
//! categories).
//!
//! Three cases:
//! - `one message`: the same hand-written 300-character appeal again and
//!   again (the model's rows stay in the cache: the compute cost);
//! - `real appeals`: the first 300 characters of each message of
//!   `../shared/data/appeals_train.csv`, with a model trained on that file and
//!   its segmented companion (skipped when the data is absent);
//! - `random characters`: 2,100 messages of random characters, whose n-grams
//!   hit the model table all over (the worst case for the caches).
//!
//! Run with `cargo bench -p hotline-core --bench classify`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_core::classify::{Classifier, Example, ExampleSet, Form, TrainConfig, train};

/// Common characters of appeal texts, the alphabet of the synthetic corpus.
const ALPHABET: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质具传众";
/// The seven categories of the shared data.
const LABELS: [&str; 7] = [
    "城乡建设",
    "劳动和社会保障",
    "教育文体",
    "商贸旅游",
    "卫生计生",
    "环境保护",
    "交通运输",
];
/// A 300-character appeal, written for this benchmark.
const MESSAGE: &str = "尊敬的领导：您好！我是A市A3区某小区的业主，想反映一个困扰我们很久的问题。\
小区北门外的道路自去年十月开始施工，至今已有八个多月，工地每天晚上十点以后仍在施工，挖掘机和运输车的噪声非常大，严重影响了周边居民的休息，老人和孩子晚上都睡不好觉。\
我们多次拨打热线反映，也找过社区和物业，但施工单位只是口头答应，过几天又照旧。\
另外，施工车辆进出时带出大量泥土，道路上尘土飞扬，下雨天满地泥泞，行人和电动车通行都很困难。\
小区门口的公交站也因为施工被临时撤掉，居民只能步行一公里到下一站。\
恳请相关部门尽快核实情况，督促施工单位遵守夜间施工的规定，做好扬尘治理和道路清扫，早日恢复公交站点，还居民安静的生活。\
谢谢！";

/// Deterministic pseudo-random numbers for the corpus.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

/// 2,100 synthetic messages of 300 characters: each category draws a third
/// of its characters from its own slice of the alphabet.
fn random_corpus() -> Vec<Example> {
    let alphabet: Vec<char> = ALPHABET.chars().collect();
    let slice = alphabet.len() / LABELS.len();
    let mut state = 42u64;
    let mut examples = Vec::new();
    for (l, label) in LABELS.iter().enumerate() {
        for _ in 0..300 {
            let text: String = (0..300)
                .map(|_| {
                    let r = next(&mut state) as usize;
                    if r.is_multiple_of(3) {
                        alphabet[l * slice + (r / 3) % slice]
                    } else {
                        alphabet[(r / 3) % alphabet.len()]
                    }
                })
                .collect();
            examples.push(Example::new(text, *label));
        }
    }
    examples
}

/// The shared appeals as examples, and the original texts cut to 300
/// characters; `None` when the data is not beside the workspace.
fn real_corpus() -> Option<(Vec<Example>, Vec<String>)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let mut set = ExampleSet::new();
    let mut messages = Vec::new();
    for (file, form) in [
        ("appeals_train.csv", Form::Original),
        ("appeals_extra_segmented.csv", Form::Segmented),
    ] {
        let mut reader = csv::Reader::from_path(data.join(file)).ok()?;
        let headers = reader.headers().ok()?.clone();
        let column = |name: &str| headers.iter().position(|h| h == name);
        let (key, title, body, tokens, label) = (
            column("full_row"),
            column("title"),
            column("body"),
            column("tokens"),
            column("label"),
        );
        for record in reader.records() {
            let record = record.ok()?;
            let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
            let text = match form {
                Form::Original => format!("{}\n{}", cell(title), cell(body)),
                Form::Segmented => cell(tokens).to_owned(),
            };
            if form == Form::Original {
                messages.push(text.chars().filter(|c| *c != '\n').take(300).collect());
            }
            set.add(Some(cell(key)), form, &text, cell(label));
        }
    }
    Some((set.into_examples(), messages))
}

/// Trains a model with the default settings (no calibration: it does not
/// change the cost of classifying).
fn classifier(examples: &[Example]) -> Classifier {
    let config = TrainConfig {
        calibration_folds: 0,
        ..TrainConfig::default()
    };
    let (model, _) = train(examples, &config, &mut |_, _| {}).expect("trains");
    Classifier::new(model)
}

fn bench_classify(c: &mut Criterion) {
    assert_eq!(MESSAGE.chars().count(), 300);
    let mut group = c.benchmark_group("classify 300 chars");
    group.throughput(Throughput::Elements(1));

    let random = random_corpus();
    let synthetic = classifier(&random);
    group.bench_function("one message", |b| {
        b.iter(|| synthetic.classify(black_box(""), black_box(MESSAGE), 3))
    });

    match real_corpus() {
        Some((examples, messages)) => {
            let real = classifier(&examples);
            let mut stream = messages.iter().cycle();
            group.bench_function("real appeals", |b| {
                b.iter(|| {
                    let message = stream.next().map_or("", String::as_str);
                    real.classify(black_box(""), black_box(message), 3)
                })
            });
        }
        None => eprintln!("skipping `real appeals`: ../shared/data is absent"),
    }

    let messages: Vec<String> = random.into_iter().map(|e| e.texts[0].clone()).collect();
    let mut stream = messages.iter().cycle();
    group.bench_function("random characters", |b| {
        b.iter(|| {
            let message = stream.next().map_or("", String::as_str);
            synthetic.classify(black_box(""), black_box(message), 3)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_classify);
criterion_main!(benches);
