use proptest::prelude::*;

use super::*;

/// The same matter reported by two citizens, in their own words.
const NEAR_DUPLICATES: [[(&str, &str); 2]; 4] = [
    [
        (
            "平江路工地夜间施工噪声扰民",
            "平江路123号旁边的工地每天晚上十一点以后还在打桩施工，噪声很大，周边居民无法休息，请相关部门尽快处理。",
        ),
        (
            "平江路工地深夜施工噪声大",
            "平江路123号旁边的工地每天晚上十一点后还在打桩施工，噪声非常大，周边居民都无法休息，请尽快处理！",
        ),
    ],
    [
        (
            "金鸡湖花园小区电梯故障一个月无人维修",
            "金鸡湖花园小区8幢2单元电梯已经坏了一个多月，物业一直说在等配件，楼里老人上下楼非常困难，要求物业尽快修好电梯。",
        ),
        (
            "金鸡湖花园8幢电梯坏了一个多月",
            "金鸡湖花园小区8幢2单元的电梯坏了一个多月了，物业总说在等配件，楼上老人上下楼很困难，希望物业尽快把电梯修好。",
        ),
    ],
    [
        (
            "人民路餐馆油烟直排扰民",
            "人民路88号一楼的川菜馆油烟没有经过净化直接排放，楼上住户窗户都不敢开，衣服也没法晾，请环保部门查处。",
        ),
        (
            "人民路88号川菜馆油烟扰民",
            "人民路88号一楼川菜馆的油烟不经净化直接排放，楼上住户不敢开窗，衣服也不能晾，请环保部门来查处。",
        ),
    ],
    [
        (
            "东环路公交站台被拆除后未恢复",
            "东环路与干将路交叉口的公交站台因道路施工被拆除，施工已经结束两个月了站台还没恢复，附近居民乘车要多走一公里。",
        ),
        (
            "干将路口公交站台施工后没有恢复",
            "东环路与干将路交叉口公交站台因为道路施工拆掉了，施工结束两个月了还没恢复站台，附近居民坐车要多走一公里路。",
        ),
    ],
];

/// Different matters of one category: alike in vocabulary, not the same case.
const SAME_CATEGORY_DIFFERENT_MATTERS: [[(&str, &str); 2]; 3] = [
    // Two noise complaints (噪声污染).
    [
        (
            "平江路工地夜间施工噪声扰民",
            "平江路123号旁边的工地每天晚上十一点以后还在打桩施工，噪声很大，周边居民无法休息，请相关部门尽快处理。",
        ),
        (
            "广场舞音响声音太大",
            "桐泾公园南门广场每天晚上七点到九点半跳广场舞，音响开得很响，家里孩子没法写作业，希望城管协调降低音量。",
        ),
    ],
    // Two property-management complaints (物业管理).
    [
        (
            "金鸡湖花园小区电梯故障一个月无人维修",
            "金鸡湖花园小区8幢2单元电梯已经坏了一个多月，物业一直说在等配件，楼里老人上下楼非常困难，要求物业尽快修好电梯。",
        ),
        (
            "物业费上涨未经业主大会同意",
            "新城花园物业公司今年起把物业费从每平方1.2元涨到1.8元，没有召开业主大会，也没有公示收支情况，业主不认可，请住建部门核查。",
        ),
    ],
    // Two cooking-fume complaints in different places (餐饮油烟).
    [
        (
            "人民路餐馆油烟直排扰民",
            "人民路88号一楼的川菜馆油烟没有经过净化直接排放，楼上住户窗户都不敢开，衣服也没法晾，请环保部门查处。",
        ),
        (
            "小区底商烧烤店油烟噪声扰民",
            "幸福里小区3号楼底商烧烤店每晚营业到凌晨两点，油烟和客人喧哗声很大，影响楼上居民，请相关部门依法处理。",
        ),
    ],
];

fn signature(text: (&str, &str)) -> Signature {
    Signature::of(text.0, text.1).expect("the text has letters")
}

fn shared_bands(a: &Signature, b: &Signature) -> usize {
    let keys = a.band_keys();
    b.band_keys().iter().filter(|k| keys.contains(k)).count()
}

#[test]
fn the_same_matter_in_other_words_shares_a_band_and_passes_the_threshold() {
    for [a, b] in NEAR_DUPLICATES {
        let (a_sig, b_sig) = (signature(a), signature(b));
        let score = a_sig.similarity(&b_sig);
        assert!(
            score >= SIMILAR_THRESHOLD,
            "{score} for {:?} / {:?}",
            a.0,
            b.0
        );
        assert!(shared_bands(&a_sig, &b_sig) >= 1, "no band for {:?}", a.0);
    }
}

#[test]
fn different_matters_of_one_category_stay_below_the_threshold() {
    for [a, b] in SAME_CATEGORY_DIFFERENT_MATTERS {
        let score = signature(a).similarity(&signature(b));
        assert!(
            score < SIMILAR_THRESHOLD / 2.0,
            "{score} for {:?} / {:?}",
            a.0,
            b.0
        );
    }
}

#[test]
fn punctuation_spacing_and_width_do_not_change_the_signature() {
    let plain = Signature::of("小区停车位被占用", "B区12号车位长期被外来车辆占用");
    let noisy = Signature::of(
        "小区 停车位，被占用！",
        "Ｂ区１２号车位 长期被外来车辆占用。。。",
    );
    assert_eq!(plain, noisy);
}

#[test]
fn text_without_letters_has_no_signature_and_one_letter_has_one() {
    assert_eq!(Signature::of("", ""), None);
    assert_eq!(Signature::of("！？", "，。 "), None);
    let one = Signature::of("水", "");
    assert!(one.is_some());
    assert_ne!(one, Signature::of("电", ""));
}

#[test]
fn signatures_and_keys_are_pinned_across_releases() {
    // Stored band keys must match probes computed by later builds: these values may
    // only change together with FINGERPRINT_VERSION (and a re-fingerprinting migration).
    let sig = Signature::of("自来水水压低", "三楼以上自来水水压很低");
    let sig = sig.expect("the text has letters");
    let keys = sig.band_keys();
    assert_eq!(sig.to_bytes().len(), SIGNATURE_BYTES);
    assert_eq!(
        (keys[0], keys[BANDS - 1], sig.0[0], sig.0[HASHES - 1]),
        PINNED
    );
}

/// The values [`signatures_and_keys_are_pinned_across_releases`] expects.
const PINNED: (i64, i64, u32, u32) = (
    -1_527_915_895_363_626_505,
    5_440_371_901_647_380_931,
    53_568_373,
    202_514_073,
);

#[test]
fn stored_bytes_read_back_and_wrong_lengths_are_refused() {
    let sig = signature(NEAR_DUPLICATES[0][0]);
    assert_eq!(Signature::from_bytes(&sig.to_bytes()), Ok(sig.clone()));
    assert_eq!(
        Signature::from_bytes(&sig.to_bytes()[1..]),
        Err(SignatureError(SIGNATURE_BYTES - 1))
    );
    assert!(SignatureError(3).to_string().contains("512 bytes"));
}

proptest! {
    #[test]
    fn similarity_is_symmetric_bounded_and_one_with_itself(
        a in "[\\u{4e00}-\\u{4e80}a-z0-9，。 ]{0,60}",
        b in "[\\u{4e00}-\\u{4e80}a-z0-9，。 ]{0,60}",
    ) {
        if let (Some(sa), Some(sb)) = (Signature::of(&a, ""), Signature::of(&b, "")) {
            let ab = sa.similarity(&sb);
            prop_assert!((0.0..=1.0).contains(&ab));
            prop_assert!((ab - sb.similarity(&sa)).abs() < f64::EPSILON);
            prop_assert!((sa.similarity(&sa) - 1.0).abs() < f64::EPSILON);
            prop_assert_eq!(sa.band_keys(), Signature::of(&a, "").map(|s| s.band_keys()).unwrap_or_default());
        }
    }

    #[test]
    fn a_text_split_anywhere_between_title_and_body_has_one_signature(
        text in "[\\u{4e00}-\\u{4e80}0-9]{1,80}",
        cut in 0usize..80,
    ) {
        let chars: Vec<char> = text.chars().collect();
        let cut = cut.min(chars.len());
        let title: String = chars[..cut].iter().collect();
        let body: String = chars[cut..].iter().collect();
        prop_assert_eq!(Signature::of(&title, &body), Signature::of(&text, ""));
    }

    #[test]
    fn appending_a_short_remark_keeps_a_long_text_similar(
        remark in "[\\u{4e00}-\\u{9fa5}]{1,8}",
    ) {
        let (title, body) = NEAR_DUPLICATES[1][0];
        let base = Signature::of(title, body).expect("letters");
        let longer = Signature::of(title, &format!("{body}{remark}")).expect("letters");
        prop_assert!(base.similarity(&longer) >= SIMILAR_THRESHOLD);
        prop_assert!(shared_bands(&base, &longer) >= 1);
    }
}

#[test]
fn clusters_group_rewordings_and_keep_other_matters_apart() {
    let texts = [
        (
            "小区楼下烧烤店油烟扰民",
            "每天晚上烧烤店油烟很大，窗户都不敢开，请尽快处理",
        ),
        (
            "工地夜间施工噪音",
            "旁边工地每天夜里两点还在施工，噪音吵得睡不着",
        ),
        (
            "楼下烧烤店油烟扰民",
            "小区楼下的烧烤店每天晚上油烟很大，窗户都不能开，请处理",
        ),
        ("", ""),
        (
            "烧烤店油烟严重",
            "我们小区楼下烧烤店每晚油烟很大，窗户不敢开，希望尽快处理",
        ),
    ];
    let signatures: Vec<Option<Signature>> =
        texts.iter().map(|(t, b)| Signature::of(t, b)).collect();
    let groups = cluster(&signatures, SIMILAR_THRESHOLD);
    assert_eq!(groups[0], vec![0, 2, 4], "{groups:?}");
    assert!(groups.contains(&vec![1]));
    assert!(
        groups.contains(&vec![3]),
        "a text without a signature stays alone"
    );
    assert_eq!(groups.len(), 3);
    assert!(cluster(&[], SIMILAR_THRESHOLD).is_empty());
}
