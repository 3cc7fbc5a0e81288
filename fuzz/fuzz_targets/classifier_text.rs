//! Any text, valid UTF-8 or not (read lossily, as the server never sees
//! invalid UTF-8 but import files may carry it), through the classifier's
//! text path with and without keyword rules, the keyword rules' own parser
//! and matcher, and the duplicate fingerprint: never a panic, confidences
//! finite and in `[0, 1]`, and the documented equivalences hold.

#![no_main]

use std::sync::OnceLock;

use hotline_core::classify::{
    Classifier, KeywordRules, builtin_keyword_rules, normalize, parse_keyword_rules,
};
use hotline_core::similar::{SIMILAR_THRESHOLD, Signature, cluster};
use hotline_fuzz::{check_prediction, tiny_model};
use libfuzzer_sys::fuzz_target;

struct Fixtures {
    plain: Classifier,
    ruled: Classifier,
    rules: KeywordRules,
    reference: Signature,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let plain = Classifier::new(tiny_model().clone());
        let ruled = match plain.clone().with_rules(builtin_keyword_rules()) {
            Ok(ruled) => ruled,
            Err(error) => panic!("the shipped rules compile: {error}"),
        };
        let rules = match KeywordRules::new(builtin_keyword_rules()) {
            Ok(rules) => rules,
            Err(error) => panic!("the shipped rules compile: {error}"),
        };
        let reference = Signature::of("工地夜间施工噪声", "小区旁工地每晚十一点后仍在施工")
            .unwrap_or_else(|| panic!("a reference text has a signature"));
        Fixtures {
            plain,
            ruled,
            rules,
            reference,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    // Split at a character boundary chosen by the input: title, then body.
    let chars = text.chars().count();
    let split = text
        .char_indices()
        .nth(usize::from(control >> 3) % (chars + 1))
        .map_or(text.len(), |(i, _)| i);
    let (title, body) = text.split_at(split);
    let k = usize::from(control & 7);
    let f = fixtures();

    let plain = f.plain.classify(title, body, k);
    check_prediction(&plain, k);
    assert_eq!(plain.rule, None);
    let ruled = f.ruled.classify(title, body, k);
    check_prediction(&ruled, k);
    assert_eq!(
        ruled.rule,
        f.rules.find(title, body),
        "the classifier and the rules disagree"
    );
    match ruled.rule {
        Some(i) => assert_eq!(ruled.label, f.rules.rules()[i].category),
        None => assert_eq!(ruled, plain, "rules that match nothing changed the answer"),
    }

    let whole = format!("{title}{body}");
    let normal = normalize(&whole);
    assert_eq!(
        normalize(&normal),
        normal,
        "normalising twice changes the text"
    );
    assert_eq!(normal, normalize(title) + &normalize(body));

    let signature = Signature::of(title, body);
    assert_eq!(
        signature,
        Signature::of(&whole, ""),
        "the split changed the signature"
    );
    assert_eq!(
        signature.is_none(),
        normal.is_empty(),
        "a signature exactly for text with letters"
    );
    if let Some(s) = &signature {
        assert!((s.similarity(s) - 1.0).abs() < f64::EPSILON);
        let to_reference = s.similarity(&f.reference);
        assert!((0.0..=1.0).contains(&to_reference));
        assert!((to_reference - f.reference.similarity(s)).abs() < f64::EPSILON);
        assert_eq!(Signature::from_bytes(&s.to_bytes()).as_ref(), Ok(s));
        assert_eq!(s.band_keys(), s.band_keys());
        let groups = cluster(
            &[
                signature.clone(),
                Some(f.reference.clone()),
                signature.clone(),
                None,
            ],
            SIMILAR_THRESHOLD,
        );
        assert_eq!(
            groups.iter().map(Vec::len).sum::<usize>(),
            4,
            "cluster lost a text"
        );
        assert!(
            groups.iter().any(|g| g.contains(&0) && g.contains(&2)),
            "a text unlike itself"
        );
    }

    // The same text as a keyword rules file: parsed or refused with a line, and
    // rules that parse compile and classify.
    if let Ok(rules) = parse_keyword_rules(&text) {
        let compiled = KeywordRules::new(rules.clone())
            .unwrap_or_else(|error| panic!("parsed rules do not compile: {error}"));
        let found = compiled.find(title, body);
        if !rules.is_empty() {
            let classifier = f
                .plain
                .clone()
                .with_rules(rules)
                .unwrap_or_else(|error| panic!("parsed rules do not attach: {error}"));
            let p = classifier.classify(title, body, k);
            check_prediction(&p, k);
            assert_eq!(p.rule, found);
        }
    }
});
