//! Fingerprint speed: the MinHash signature and band keys of one appeal, the
//! work a store does per created ticket, and the similarity of two signatures,
//! the work a duplicate look-up does per candidate.
//!
//! Run with `cargo bench -p hotline-core --bench fingerprint`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_core::similar::Signature;

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

criterion_group!(benches, bench_fingerprint);
criterion_main!(benches);
