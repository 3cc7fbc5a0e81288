//! Text to features: normalisation, hashed character n-grams, and TF-IDF
//! weighting.
//!
//! The same message may reach the classifier as original text (`标题 正文，
//! 带标点`) or as jieba tokens with stop words stripped (`标题 正文 标点`).
//! Normalisation makes both forms look alike: it keeps letters and digits
//! only (every CJK ideograph is a letter), folds full-width ASCII to
//! half-width and upper case to lower case, and drops whitespace and
//! punctuation, so n-grams never depend on how (or whether) the text was
//! segmented. Features are the character n-grams of the normalised text,
//! hashed into `2^hash_bits` buckets; a bucket's value is
//! `(1 + ln tf) · idf`, and the vector is scaled to unit length.

use serde::{Deserialize, Serialize};

/// How text becomes a feature vector; stored in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Shortest n-gram, in characters (at least 1).
    pub min_n: u8,
    /// Longest n-gram, in characters (at most [`MAX_NGRAM`]).
    pub max_n: u8,
    /// The feature space has `2^hash_bits` buckets ([`MIN_HASH_BITS`] to
    /// [`MAX_HASH_BITS`]); collisions get rarer, and the model larger, with
    /// more bits.
    pub hash_bits: u8,
    /// Buckets seen in fewer training texts than this get no weight: rare
    /// n-grams are mostly names, numbers and typos.
    pub min_df: u32,
}

/// The longest n-gram a model may use.
pub const MAX_NGRAM: u8 = 6;
/// The fewest hash bits a model may use.
pub const MIN_HASH_BITS: u8 = 4;
/// The most hash bits a model may use: 2^22 buckets of 8 classes is 128 MiB.
pub const MAX_HASH_BITS: u8 = 22;

impl Default for FeatureConfig {
    /// Character bigrams in 2^20 buckets, seen in at least 3 texts: the best
    /// of the settings cross-validated in `docs/classifier.md`.
    fn default() -> Self {
        Self {
            min_n: 2,
            max_n: 2,
            hash_bits: 20,
            min_df: 3,
        }
    }
}

impl FeatureConfig {
    /// Returns why this configuration is unusable, if it is.
    pub fn problem(&self) -> Option<String> {
        if self.min_n == 0 || self.min_n > self.max_n || self.max_n > MAX_NGRAM {
            return Some(format!(
                "n-gram range {}..={} must lie within 1..={MAX_NGRAM}",
                self.min_n, self.max_n
            ));
        }
        if !(MIN_HASH_BITS..=MAX_HASH_BITS).contains(&self.hash_bits) {
            return Some(format!(
                "hash_bits {} must lie within {MIN_HASH_BITS}..={MAX_HASH_BITS}",
                self.hash_bits
            ));
        }
        None
    }

    /// Returns the number of hash buckets.
    pub fn buckets(&self) -> usize {
        1 << self.hash_bits
    }
}

/// Maps one character to its normalised form, or `None` to drop it.
#[inline]
pub fn fold(c: char) -> Option<char> {
    match c {
        // The common case first: CJK Unified Ideographs.
        '\u{4E00}'..='\u{9FFF}' => Some(c),
        _ if c.is_ascii() => c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase()),
        // Full-width ASCII.
        '\u{FF01}'..='\u{FF5E}' => {
            let c = char::from_u32(u32::from(c) - 0xFEE0)?;
            c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase())
        }
        // General punctuation and CJK punctuation, spaces and brackets: no
        // letter or digit among them, so skip the Unicode tables.
        '\u{2000}'..='\u{206F}' | '\u{3000}'..='\u{3004}' | '\u{3008}'..='\u{3020}' => None,
        _ => c.is_alphanumeric().then_some(c),
    }
}

/// Appends the normalised form of `text` to `out` (see the module docs).
pub fn normalize_into(text: &str, out: &mut String) {
    out.extend(text.chars().filter_map(fold));
}

/// Returns the normalised form of `text`: letters and digits only, lower case,
/// full-width ASCII folded to half-width.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// One step of the n-gram hash (FNV-1a style over code points).
#[inline]
fn step(hash: u64, c: char) -> u64 {
    (hash ^ u64::from(u32::from(c))).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The final avalanche (MurmurHash3's fmix64), so every bit of the bucket
/// index depends on every character.
#[inline]
fn finish(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// Calls `emit` with the bucket of every n-gram of already-normalised
/// characters, once per occurrence.
#[inline]
pub fn hash_ngrams(
    chars: impl IntoIterator<Item = char>,
    config: &FeatureConfig,
    mut emit: impl FnMut(u32),
) {
    /// A power of two at least [`MAX_NGRAM`], so the ring index is a mask.
    const RING: usize = 8;
    let max_n = usize::from(config.max_n).min(RING);
    let min_n = usize::from(config.min_n);
    let shift = 64 - u32::from(config.hash_bits);
    // The last characters, the newest at `(seen - 1) % RING`.
    let mut window = ['\0'; RING];
    let mut seen = 0usize;
    for c in chars {
        window[seen % RING] = c;
        seen += 1;
        let longest = seen.min(max_n);
        // Hash the n-grams ending at `c`, growing leftwards: c, bc, abc, ...
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        for n in 1..=longest {
            hash = step(hash, window[(seen - n) % RING]);
            if n >= min_n {
                emit((finish(hash ^ ((n as u64) << 56)) >> shift) as u32);
            }
        }
    }
}

/// Counts n-gram buckets in a small open-addressing table, in time linear in
/// the number of n-grams; reused across messages.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    /// `(bucket, count)`; [`Counter::EMPTY`] marks a free slot. The length is
    /// a power of two, at least twice the number of buckets held.
    slots: Vec<(u32, u32)>,
    /// The slots in use, in first-seen order.
    used: Vec<u32>,
}

impl Counter {
    /// The bucket value of a free slot (buckets are below 2^22).
    const EMPTY: u32 = u32::MAX;

    /// Forgets every count.
    pub fn clear(&mut self) {
        for &i in &self.used {
            self.slots[i as usize] = (Self::EMPTY, 0);
        }
        self.used.clear();
    }

    /// Counts one occurrence of `bucket`.
    #[inline]
    pub fn add(&mut self, bucket: u32) {
        if (self.used.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = bucket as usize & mask;
        loop {
            let slot = &mut self.slots[i];
            if slot.0 == bucket {
                slot.1 += 1;
                return;
            }
            if slot.0 == Self::EMPTY {
                *slot = (bucket, 1);
                self.used.push(i as u32);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (at least 1024 slots), keeping the counts.
    fn grow(&mut self) {
        let held: Vec<(u32, u32)> = self.counts().collect();
        self.slots = vec![(Self::EMPTY, 0); (self.slots.len() * 2).max(1024)];
        self.used.clear();
        let mask = self.slots.len() - 1;
        for (bucket, count) in held {
            let mut i = bucket as usize & mask;
            while self.slots[i].0 != Self::EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = (bucket, count);
            self.used.push(i as u32);
        }
    }

    /// Returns `(bucket, count)` pairs in first-seen order.
    pub fn counts(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.used.iter().map(|&i| self.slots[i as usize])
    }
}

/// Sorts `buckets` and turns it into `(bucket, count)` pairs in `counts`.
pub fn count_sorted(buckets: &mut [u32], counts: &mut Vec<(u32, u32)>) {
    buckets.sort_unstable();
    counts.clear();
    for &bucket in buckets.iter() {
        match counts.last_mut() {
            Some((last, n)) if *last == bucket => *n += 1,
            _ => counts.push((bucket, 1)),
        }
    }
}

/// The sublinear term frequency `1 + ln tf`.
#[inline]
pub fn sublinear_tf(count: u32) -> f32 {
    1.0 + (count as f32).ln()
}

/// Inverse document frequency, smoothed as if one extra message held every
/// n-gram: `ln((1 + n) / (1 + df)) + 1`; zero below `min_df`.
pub fn idf(docs: usize, df: u32, min_df: u32) -> f32 {
    if df == 0 || df < min_df {
        0.0
    } else {
        (((1 + docs) as f64 / f64::from(1 + df)).ln() + 1.0) as f32
    }
}

/// Sparse rows of features, one per text (compressed sparse row layout).
#[derive(Debug, Clone, Default)]
pub struct SparseRows {
    /// Row `i` is `indices[starts[i]..starts[i + 1]]` (with `values`).
    starts: Vec<usize>,
    /// Bucket of each stored value, increasing within a row.
    indices: Vec<u32>,
    /// The values.
    values: Vec<f32>,
}

impl SparseRows {
    /// Starts an empty matrix.
    pub fn new() -> Self {
        Self {
            starts: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Appends a row of `(bucket, value)` pairs with increasing buckets.
    pub fn push(&mut self, row: impl IntoIterator<Item = (u32, f32)>) {
        for (index, value) in row {
            self.indices.push(index);
            self.values.push(value);
        }
        self.starts.push(self.indices.len());
    }

    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Returns row `i` as parallel slices of buckets and values.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.starts[i]..self.starts[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// Returns every row's buckets and values, in row order.
    pub fn rows(&self) -> impl Iterator<Item = (&[u32], &[f32])> {
        (0..self.len()).map(|i| self.row(i))
    }

    /// Replaces every index through `f`, then sorts each row by index.
    pub fn map_indices(&mut self, f: impl Fn(u32) -> u32) {
        let mut pairs = Vec::new();
        for i in 0..self.len() {
            let range = self.starts[i]..self.starts[i + 1];
            pairs.clear();
            pairs.extend(
                self.indices[range.clone()]
                    .iter()
                    .zip(&self.values[range.clone()])
                    .map(|(&j, &v)| (f(j), v)),
            );
            pairs.sort_unstable_by_key(|&(j, _)| j);
            for (k, (j, v)) in range.zip(&pairs) {
                self.indices[k] = *j;
                self.values[k] = *v;
            }
        }
    }

    /// Replaces every value through `f(bucket, value)`, drops the values
    /// that became zero, then scales each row to unit length (rows of all
    /// zeros stay empty).
    pub fn reweight_and_normalize(&mut self, mut f: impl FnMut(u32, f32) -> f32) {
        let mut write = 0;
        let mut start = 0;
        for i in 0..self.len() {
            let end = self.starts[i + 1];
            let row_start = write;
            let mut norm = 0.0f32;
            for k in start..end {
                let v = f(self.indices[k], self.values[k]);
                if v != 0.0 {
                    self.indices[write] = self.indices[k];
                    self.values[write] = v;
                    write += 1;
                    norm += v * v;
                }
            }
            if norm > 0.0 {
                let scale = norm.sqrt().recip();
                for v in &mut self.values[row_start..write] {
                    *v *= scale;
                }
            }
            start = end;
            self.starts[i + 1] = write;
        }
        self.indices.truncate(write);
        self.values.truncate(write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_drops_spaces_and_punctuation_and_folds_width_and_case() {
        assert_eq!(
            normalize("小区 停水，ＡＢＣ１２３ Ab！\n"),
            "小区停水abc123ab"
        );
        assert_eq!(normalize("  \u{3000}。、"), "");
    }

    #[test]
    fn original_and_segmented_forms_give_the_same_ngrams() {
        let config = FeatureConfig::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        hash_ngrams(
            normalize("小区停水，物业不管！").chars(),
            &config,
            |b| a.push(b),
        );
        hash_ngrams(
            normalize("小区 停水 物业 不管").chars(),
            &config,
            |x| b.push(x),
        );
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    #[test]
    fn each_character_yields_one_ngram_per_length_that_fits() {
        let config = FeatureConfig {
            min_n: 1,
            max_n: 3,
            hash_bits: 20,
            min_df: 1,
        };
        let mut out = Vec::new();
        hash_ngrams("abcd".chars(), &config, |b| out.push(b));
        // 4 unigrams, 3 bigrams, 2 trigrams.
        assert_eq!(out.len(), 9);
        let two_three = FeatureConfig { min_n: 2, ..config };
        out.clear();
        hash_ngrams("abcd".chars(), &two_three, |b| out.push(b));
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|&b| (b as usize) < config.buckets()));
    }

    #[test]
    fn the_same_ngram_hashes_to_the_same_bucket_wherever_it_occurs() {
        let config = FeatureConfig {
            min_n: 2,
            max_n: 2,
            hash_bits: 16,
            min_df: 1,
        };
        let mut out = Vec::new();
        hash_ngrams("停水停水".chars(), &config, |b| out.push(b));
        // 停水, 水停, 停水
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], out[2]);
        assert_ne!(out[0], out[1]);
        let mut counts = Vec::new();
        count_sorted(&mut out, &mut counts);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts.iter().map(|c| c.1).sum::<u32>(), 3);
    }

    #[test]
    fn the_punctuation_shortcut_agrees_with_the_unicode_tables() {
        for c in ('\u{2000}'..='\u{206F}').chain('\u{3000}'..='\u{303F}') {
            let expected = c.is_alphanumeric().then_some(c);
            assert_eq!(fold(c), expected, "{c:?} U+{:04X}", u32::from(c));
        }
        assert_eq!(fold('〇'), Some('〇'));
        assert_eq!(fold('Ａ'), Some('a'));
        assert_eq!(fold('＠'), None);
    }

    #[test]
    fn the_counter_counts_like_sorting_does_and_grows() {
        let mut counter = Counter::default();
        let mut buckets: Vec<u32> = (0..5000u32).map(|i| (i * 7919) % 1500).collect();
        for &b in &buckets {
            counter.add(b);
        }
        let mut counted: Vec<(u32, u32)> = counter.counts().collect();
        counted.sort_unstable();
        let mut sorted = Vec::new();
        count_sorted(&mut buckets, &mut sorted);
        assert_eq!(counted, sorted);
        counter.clear();
        assert_eq!(counter.counts().count(), 0);
        counter.add(3);
        counter.add(3);
        assert_eq!(counter.counts().collect::<Vec<_>>(), [(3, 2)]);
    }

    #[test]
    fn rare_ngrams_get_no_weight_and_common_ones_less() {
        assert_eq!(idf(100, 1, 2), 0.0);
        assert_eq!(idf(100, 0, 0), 0.0);
        assert!(idf(100, 2, 2) > idf(100, 50, 2));
        assert!((idf(100, 100, 1) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_configurations_are_named() {
        let ok = FeatureConfig::default();
        assert!(ok.problem().is_none());
        for bad in [
            FeatureConfig { min_n: 0, ..ok },
            FeatureConfig { min_n: 4, ..ok },
            FeatureConfig { max_n: 7, ..ok },
            FeatureConfig { hash_bits: 3, ..ok },
            FeatureConfig {
                hash_bits: 23,
                ..ok
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }

    #[test]
    fn rows_lose_zeros_and_are_scaled_to_unit_length() {
        let mut rows = SparseRows::new();
        rows.push([(1, 3.0), (5, 4.0)]);
        rows.push([]);
        rows.push([(2, 1.0), (7, 2.0), (9, 1.0)]);
        rows.reweight_and_normalize(|bucket, v| if bucket == 7 { 0.0 } else { v });
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.row(0), (&[1, 5][..], &[0.6, 0.8][..]));
        assert!(rows.row(1).0.is_empty());
        assert_eq!(rows.row(2).0, &[2, 9]);
        let half = 0.5f32.sqrt();
        assert!(rows.row(2).1.iter().all(|v| (v - half).abs() < 1e-6));
    }
}
