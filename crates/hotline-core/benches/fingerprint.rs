//! Fingerprint speed: the MinHash signature and band keys of one appeal, the
//! work a store does per created ticket, and the similarity of two signatures,
//! the work a duplicate look-up does per candidate; and the in-memory duplicate
//! index: a text, phone and address look-up among 1,000 and 100,000 recent tickets,
//! as every CreateTicket runs one.
//!
//! Run with `cargo bench -p hotline-core --bench fingerprint`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hotline_core::similar::Signature;
use hotline_core::similar::index::{DuplicateIndex, RecentTicket, TextFilter};
use hotline_core::{TicketId, TicketStatus};
use jiff::Timestamp;

const TITLE: &str = "小区北门外道路施工噪声扬尘扰民";
/// A 300-character appeal body, written for this benchmark.
const BODY: &str = "尊敬的领导：您好！我是A市A3区某小区的业主，想反映一个困扰我们很久的问题。\
小区北门外的道路自去年十月开始施工，至今已有八个多月，工地每天晚上十点以后仍在施工，挖掘机和运输车的噪声非常大，严重影响了周边居民的休息，老人和孩子晚上都睡不好觉。\
我们多次拨打热线反映，也找过社区和物业，但施工单位只是口头答应，过几天又照旧。\
另外，施工车辆进出时带出大量泥土，道路上尘土飞扬，下雨天满地泥泞，行人和电动车通行都很困难。\
小区门口的公交站也因为施工被临时撤掉，居民只能步行一公里到下一站。\
恳请相关部门尽快核实情况，督促施工单位遵守夜间施工的规定，做好扬尘治理和道路清扫，早日恢复公交站点，还居民安静的生活。\
谢谢！";
/// A short appeal, as most phone intakes are.
const SHORT: &str = "平江路123号旁边的工地每天晚上十一点以后还在打桩施工，噪声很大，请尽快处理。";

fn bench_fingerprint(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Elements(1));
    group.bench_function("signature and bands, 300 chars", |b| {
        b.iter(|| {
            let signature = Signature::of(black_box(TITLE), black_box(BODY)).expect("letters");
            signature.band_keys()
        })
    });
    group.bench_function("signature and bands, 40 chars", |b| {
        b.iter(|| {
            let signature = Signature::of(black_box(""), black_box(SHORT)).expect("letters");
            signature.band_keys()
        })
    });
    let a = Signature::of(TITLE, BODY).expect("letters");
    let other = Signature::of("", SHORT).expect("letters");
    group.bench_function("similarity of two signatures", |b| {
        b.iter(|| black_box(&a).similarity(black_box(&other)))
    });
    group.finish();
}

/// A deterministic stream of pseudo-random numbers.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1);
    *state >> 33
}

/// A text of `n` characters drawn from 500 common ones: unrelated texts rarely share
/// a band key, as unrelated appeals rarely do.
fn random_text(state: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            char::from_u32(0x4E00 + u32::try_from(next(state) % 500).unwrap_or(0)).unwrap_or('一')
        })
        .collect()
}

fn bench_index(c: &mut Criterion) {
    let mut group = c.benchmark_group("duplicate index look-up");
    let now = Timestamp::from_second(1_780_000_000).expect("in range");
    for size in [1_000u64, 100_000] {
        let mut state = 7;
        let mut index = DuplicateIndex::new();
        let mut probe_text = String::new();
        for n in 0..size {
            let body = random_text(&mut state, 120);
            if n == size / 2 {
                probe_text = body.clone();
            }
            index.upsert(RecentTicket {
                ticket_id: TicketId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
                number: format!("SZ-20260601-{n:06}"),
                created_at: now
                    - jiff::SignedDuration::from_secs(i64::try_from(size - n).unwrap_or(0)),
                status: TicketStatus::PendingDispatch,
                phone: format!("138{:08}", next(&mut state) % 100_000_000),
                address: format!("姑苏区人民路{}号", next(&mut state) % 5000),
                category: Some("环境保护/噪声污染".to_owned()),
                region_code: format!("32050{}001", n % 8),
                signature: Signature::of("", &body),
            });
        }
        // The stored text reworded: every tenth character replaced.
        let reworded: String = probe_text
            .chars()
            .enumerate()
            .map(|(i, ch)| if i % 10 == 0 { '改' } else { ch })
            .collect();
        let probe = Signature::of("市民来电", &reworded).expect("letters");
        let district = format!("32050{}", (size / 2) % 8);
        let filter = TextFilter {
            category: Some("环境保护/噪声污染"),
            district: Some(&district),
            exclude: None,
        };
        let since = now - jiff::SignedDuration::from_hours(24 * 30);
        let found = index.text_candidates(&probe, &filter, since, 20);
        assert!(
            found.iter().any(|t| t
                .similarity
                .is_some_and(|s| s >= hotline_core::similar::SIMILAR_THRESHOLD)),
            "the rewording is found"
        );
        group.bench_with_input(
            BenchmarkId::new("text, phone and address", size),
            &size,
            |b, _| {
                b.iter(|| {
                    let text = index.text_candidates(black_box(&probe), &filter, since, 20);
                    let phone = index.same_phone(black_box("13800000000"), since, 50);
                    let address = index.same_address(
                        black_box("姑苏区人民路1号"),
                        "环境保护/噪声污染",
                        since,
                        50,
                    );
                    (text, phone, address)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_fingerprint, bench_index);
criterion_main!(benches);
