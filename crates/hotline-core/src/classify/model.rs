//! A trained linear model and its file format.
//!
//! The model is a table with one row per hash bucket that occurred in
//! training: the bucket's IDF, then one weight per label. A message's score for a label is its bias plus the
//! dot product of the message's unit-length TF-IDF vector with that label's
//! weights; confidences are `softmax(confidence_scale · scores)`.
//!
//! # File format (version 1)
//!
//! Little-endian throughout.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `HLCLSMDL` |
//! | 8 | 4 | format version, `u32` (= [`FORMAT_VERSION`]) |
//! | 12 | 8 | total file length in bytes, `u64`, checksum included |
//! | 20 | 4 | header length `h`, `u32` |
//! | 24 | h | header: UTF-8 JSON [`ModelHeader`] (labels, feature settings, algorithm, confidence scale, row count) |
//! | 24+h | 4·L | bias per label, `f32` |
//! | … | R·(8+4·L) | R rows: bucket `u32`, IDF `f32`, L weights `f32`; buckets strictly increasing |
//! | end−8 | 8 | FNV-1a 64 checksum of every byte before it, `u64` |
//!
//! Only buckets with a non-zero IDF are stored. [`Model::from_bytes`]
//! checks the magic, the version, the length, the checksum (which catches any
//! single changed byte), then every field, and returns a [`ModelError`] rather
//! than panicking on any input. Every IDF, weight and bias lies within
//! ±[`MAX_WEIGHT`], so no text can overflow a score.

use serde::{Deserialize, Serialize};

use super::features::{Counter, FeatureConfig, fold, hash_ngrams, sublinear_tf};

/// The first eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"HLCLSMDL";

/// The model file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes before the JSON header: magic, version, total length, header length.
const PREFIX_LEN: usize = 24;

/// Bytes of the trailing checksum.
const CHECKSUM_LEN: usize = 8;

/// The most labels a model may have.
pub const MAX_LABELS: usize = 1024;

/// The largest IDF, weight or bias a model file may hold, in magnitude.
///
/// Trained models stay below 20 (IDF at most `1 + ln(messages)`, weights of
/// regularised or smoothed fits). A file within it scores any text with
/// finite sums in `f32`, so confidences are never NaN; a file past it (damaged
/// and re-checksummed, or hand-made) would turn scores into infinities.
pub const MAX_WEIGHT: f32 = 1.0e6;

/// How a model's weights were learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// One-vs-rest linear SVM (L2-regularised squared hinge loss), trained by
    /// dual coordinate descent.
    Svm,
    /// Multinomial logistic regression trained by stochastic gradient descent.
    Logistic,
    /// Complement naive Bayes.
    ComplementNb,
}

impl Algorithm {
    /// Returns the name used on the command line and in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Svm => "svm",
            Algorithm::Logistic => "logistic",
            Algorithm::ComplementNb => "complement_nb",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = crate::UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "svm" => Ok(Algorithm::Svm),
            "logistic" => Ok(Algorithm::Logistic),
            "complement_nb" | "cnb" => Ok(Algorithm::ComplementNb),
            _ => Err(crate::UnknownValue {
                kind: "Algorithm",
                value: s.to_owned(),
            }),
        }
    }
}

/// The JSON header of a model file: everything but the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelHeader {
    /// The categories, in score order.
    pub labels: Vec<String>,
    /// How text becomes features.
    pub features: FeatureConfig,
    /// How the weights were learned.
    pub algorithm: Algorithm,
    /// The factor applied to scores before the softmax that gives confidences.
    pub confidence_scale: f64,
    /// How many messages the model was trained on.
    pub examples: u64,
    /// How many bucket rows the body holds.
    pub rows: u64,
}

/// Why a model file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a hotline classifier model (bad magic bytes)")]
    NotAModel,
    /// The file ends before its own length says it should.
    #[error("model file is truncated: {found} of {expected} bytes")]
    Truncated {
        /// The length the file should have (or the least it could have).
        expected: u64,
        /// The length it has.
        found: u64,
    },
    /// The file was written by a build with another format version.
    #[error(
        "model file format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// There are bytes after the end the file declares.
    #[error("model file has {extra} unexpected bytes after its end")]
    TrailingBytes {
        /// How many.
        extra: u64,
    },
    /// The checksum does not match the content: the file was damaged.
    #[error("model file is corrupt: checksum mismatch")]
    ChecksumMismatch,
    /// The checksum matches but a field is invalid (a bug in the writer).
    #[error("model file is malformed: {0}")]
    Malformed(String),
}

/// A trained classifier model: labels, feature settings and weights.
///
/// Build one with [`super::train`] or [`Model::from_bytes`]; classify with
/// [`super::Classifier`].
#[derive(Clone, PartialEq)]
pub struct Model {
    /// The categories, in score order.
    labels: Vec<String>,
    /// How text becomes features.
    features: FeatureConfig,
    /// How the weights were learned.
    algorithm: Algorithm,
    /// The softmax temperature's inverse, fitted so confidences match accuracy.
    confidence_scale: f64,
    /// How many messages the model was trained on.
    examples: u64,
    /// The IDF and weights of the buckets that have an IDF.
    rows: Rows,
    /// One bias per label.
    bias: Vec<f32>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("labels", &self.labels)
            .field("features", &self.features)
            .field("algorithm", &self.algorithm)
            .field("confidence_scale", &self.confidence_scale)
            .field("examples", &self.examples)
            .field("active_buckets", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// Scratch buffers for scoring one message.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The normalised text, when keyword rules need it.
    pub text: String,
    /// The count of each n-gram bucket.
    pub counter: Counter,
    /// One score per label.
    pub scores: Vec<f32>,
}

impl Model {
    /// Assembles a model from a dense table (`buckets × (1 + labels)`: per
    /// bucket, the IDF then one weight per label; buckets without an IDF are
    /// dropped) and one bias per label.
    pub(crate) fn new(
        labels: Vec<String>,
        features: FeatureConfig,
        algorithm: Algorithm,
        examples: u64,
        table: Vec<f32>,
        bias: Vec<f32>,
    ) -> Self {
        debug_assert_eq!(table.len(), features.buckets() * (labels.len() + 1));
        debug_assert_eq!(bias.len(), labels.len());
        let stride = labels.len() + 1;
        let mut rows = Rows::new(features.buckets(), stride);
        // A fit past ±MAX_WEIGHT (only an extreme `c` gets near it) is clamped,
        // so every trained model writes a file that loads.
        let clamped = |v: &f32| v.clamp(-MAX_WEIGHT, MAX_WEIGHT);
        let mut clamped_row = Vec::with_capacity(stride);
        for (bucket, row) in table.chunks_exact(stride).enumerate() {
            if row[0] != 0.0 {
                clamped_row.clear();
                clamped_row.extend(row.iter().map(clamped));
                rows.push(bucket, &clamped_row);
            }
        }
        rows.finish();
        let bias = bias.iter().map(clamped).collect();
        Self {
            rows,
            labels,
            features,
            algorithm,
            confidence_scale: 1.0,
            examples,
            bias,
        }
    }

    /// Returns the categories the model chooses from, in score order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Returns how the model turns text into features.
    pub fn features(&self) -> &FeatureConfig {
        &self.features
    }

    /// Returns how the weights were learned.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Returns the factor applied to scores before the softmax.
    pub fn confidence_scale(&self) -> f64 {
        self.confidence_scale
    }

    /// Sets the factor applied to scores before the softmax.
    pub(crate) fn set_confidence_scale(&mut self, scale: f64) {
        self.confidence_scale = scale;
    }

    /// Returns how many messages the model was trained on.
    pub fn examples(&self) -> u64 {
        self.examples
    }

    /// Returns how many hash buckets carry an IDF and weights.
    pub fn active_buckets(&self) -> usize {
        self.rows.len()
    }

    /// Scores already-normalised characters into `scratch.scores` (one per label).
    pub(crate) fn score_chars(&self, chars: impl IntoIterator<Item = char>, scratch: &mut Scratch) {
        let Scratch {
            counter, scores, ..
        } = scratch;
        counter.clear();
        hash_ngrams(chars, &self.features, |bucket| counter.add(bucket));
        scores.clear();
        scores.resize(self.labels.len(), 0.0);
        let mut norm = 0.0f32;
        for (bucket, count) in counter.counts() {
            let Some(row) = self.rows.get(bucket as usize) else {
                continue;
            };
            let idf = row[0];
            let value = sublinear_tf(count) * idf;
            norm += value * value;
            for (score, weight) in scores.iter_mut().zip(&row[1..]) {
                *score += value * weight;
            }
        }
        let scale = if norm > 0.0 { norm.sqrt().recip() } else { 0.0 };
        for (score, bias) in scores.iter_mut().zip(&self.bias) {
            *score = *score * scale + bias;
        }
    }

    /// Scores raw text (normalising it on the fly) into `scratch.scores`.
    pub(crate) fn score_text(&self, text: &str, scratch: &mut Scratch) {
        self.score_chars(text.chars().filter_map(fold), scratch);
    }

    /// Encodes the model in the file format described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let stride = self.labels.len() + 1;
        let rows = self.rows.len();
        let header = ModelHeader {
            labels: self.labels.clone(),
            features: self.features,
            algorithm: self.algorithm,
            confidence_scale: self.confidence_scale,
            examples: self.examples,
            rows: rows as u64,
        };
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let total = PREFIX_LEN + header.len() + 4 * self.bias.len() + rows * 4 * (stride + 1) + 8;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(total as u64).to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for bias in &self.bias {
            out.extend_from_slice(&bias.to_le_bytes());
        }
        for (bucket, row) in self.rows.iter() {
            out.extend_from_slice(&(bucket as u32).to_le_bytes());
            for value in row {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        let checksum = fnv1a64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(out.len(), total);
        out
    }

    /// Decodes a model file.
    ///
    /// # Errors
    ///
    /// [`ModelError::NotAModel`] without the magic bytes,
    /// [`ModelError::UnsupportedVersion`] for another format version,
    /// [`ModelError::Truncated`] or [`ModelError::TrailingBytes`] when the
    /// length is wrong, [`ModelError::ChecksumMismatch`] when the content was
    /// damaged, and [`ModelError::Malformed`] when a field is invalid.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let found = bytes.len() as u64;
        let truncated = |expected: usize| ModelError::Truncated {
            expected: expected as u64,
            found,
        };
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(ModelError::NotAModel);
        }
        let mut reader = Reader { bytes, at: 0 };
        reader
            .take(MAGIC.len())
            .ok_or_else(|| truncated(PREFIX_LEN))?;
        let version = reader.u32().ok_or_else(|| truncated(PREFIX_LEN))?;
        if version != FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let total = reader.u64().ok_or_else(|| truncated(PREFIX_LEN))?;
        let header_len = reader.u32().ok_or_else(|| truncated(PREFIX_LEN))?;
        if found < total {
            return Err(ModelError::Truncated {
                expected: total,
                found,
            });
        }
        if found > total {
            return Err(ModelError::TrailingBytes {
                extra: found - total,
            });
        }
        let malformed = |what: &str| ModelError::Malformed(what.to_owned());
        let body_end = bytes
            .len()
            .checked_sub(CHECKSUM_LEN)
            .filter(|&end| end >= PREFIX_LEN)
            .ok_or_else(|| malformed("declared length is shorter than the fixed fields"))?;
        let (content, checksum) = bytes.split_at(body_end);
        let checksum = u64::from_le_bytes(checksum.try_into().map_err(|_| malformed("checksum"))?);
        if fnv1a64(content) != checksum {
            return Err(ModelError::ChecksumMismatch);
        }
        let mut reader = Reader {
            bytes: content,
            at: PREFIX_LEN,
        };
        let header = reader
            .take(header_len as usize)
            .ok_or_else(|| malformed("header runs past the end"))?;
        let header: ModelHeader = serde_json::from_slice(header)
            .map_err(|e| ModelError::Malformed(format!("header: {e}")))?;
        let labels = header.labels;
        if labels.is_empty() || labels.len() > MAX_LABELS {
            return Err(ModelError::Malformed(format!(
                "{} labels; a model has 1 to {MAX_LABELS}",
                labels.len()
            )));
        }
        if labels.iter().any(String::is_empty) {
            return Err(malformed("empty label"));
        }
        let mut sorted: Vec<&String> = labels.iter().collect();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(malformed("duplicate label"));
        }
        if let Some(problem) = header.features.problem() {
            return Err(ModelError::Malformed(format!("features: {problem}")));
        }
        if !(header.confidence_scale.is_finite() && header.confidence_scale > 0.0) {
            return Err(malformed("confidence_scale must be positive"));
        }
        let stride = labels.len() + 1;
        let buckets = header.features.buckets();
        let row_len = 4 * (stride + 1);
        let expected_body =
            ((4 * labels.len()) as u64).saturating_add(header.rows.saturating_mul(row_len as u64));
        if expected_body != reader.remaining() as u64 || header.rows > buckets as u64 {
            return Err(ModelError::Malformed(format!(
                "body holds {} bytes, the header implies {expected_body}",
                reader.remaining()
            )));
        }
        let mut bias = Vec::with_capacity(labels.len());
        let out_of_range = |what: &str| {
            ModelError::Malformed(format!("{what} is not a number within ±{MAX_WEIGHT:e}"))
        };
        for _ in 0..labels.len() {
            bias.push(reader.weight().ok_or_else(|| out_of_range("bias"))?);
        }
        let mut rows = Rows::new(buckets, stride);
        let mut row = vec![0.0f32; stride];
        let mut next_free = 0usize;
        for _ in 0..header.rows {
            let bucket = reader.u32().ok_or_else(|| malformed("row"))? as usize;
            if bucket < next_free || bucket >= buckets {
                return Err(ModelError::Malformed(format!(
                    "bucket {bucket} out of order or out of range"
                )));
            }
            next_free = bucket + 1;
            for slot in &mut row {
                *slot = reader.weight().ok_or_else(|| out_of_range("weight"))?;
            }
            // A bucket without an IDF never scores: keep no row for it.
            if row[0] != 0.0 {
                rows.push(bucket, &row);
            }
        }
        rows.finish();
        Ok(Self {
            rows,
            labels,
            features: header.features,
            algorithm: header.algorithm,
            confidence_scale: header.confidence_scale,
            examples: header.examples,
            bias,
        })
    }
}

/// The rows of the buckets that have one, packed in bucket order, with a
/// bitmap and rank index to find them. A model keeps a few hundred thousand
/// of its million buckets, so the packed rows (a few MiB) mostly stay in the
/// cache where a dense table (32 MiB) would miss on almost every n-gram.
#[derive(Debug, Clone, PartialEq, Default)]
struct Rows {
    /// Values per row: the IDF, then one weight per label.
    stride: usize,
    /// One bit per bucket, set when the bucket has a row.
    present: Vec<u64>,
    /// `rank[w]`: the rows of buckets below `64 · w`.
    rank: Vec<u32>,
    /// The rows, by increasing bucket.
    values: Vec<f32>,
}

impl Rows {
    /// Starts an empty set of rows over `buckets` buckets.
    fn new(buckets: usize, stride: usize) -> Self {
        Self {
            stride,
            present: vec![0; buckets.div_ceil(64)],
            rank: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Appends the row of `bucket`, which must be above every bucket before.
    fn push(&mut self, bucket: usize, row: &[f32]) {
        self.present[bucket / 64] |= 1 << (bucket % 64);
        self.values.extend_from_slice(row);
    }

    /// Builds the rank index; call once after the last push.
    fn finish(&mut self) {
        let mut total = 0u32;
        self.rank = self
            .present
            .iter()
            .map(|word| {
                let before = total;
                total += word.count_ones();
                before
            })
            .collect();
    }

    /// Returns the number of rows.
    fn len(&self) -> usize {
        self.values.len() / self.stride.max(1)
    }

    /// Returns the row of `bucket`, if it has one.
    #[inline]
    fn get(&self, bucket: usize) -> Option<&[f32]> {
        let word = *self.present.get(bucket / 64)?;
        let bit = 1u64 << (bucket % 64);
        if word & bit == 0 {
            return None;
        }
        let index =
            *self.rank.get(bucket / 64)? as usize + (word & (bit - 1)).count_ones() as usize;
        self.values
            .get(index * self.stride..(index + 1) * self.stride)
    }

    /// Returns every `(bucket, row)`, by increasing bucket.
    fn iter(&self) -> impl Iterator<Item = (usize, &[f32])> {
        let buckets = self.present.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        });
        buckets.zip(self.values.chunks_exact(self.stride.max(1)))
    }
}

/// A cursor over bytes that never reads past the end.
struct Reader<'a> {
    /// What is read.
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
}

impl<'a> Reader<'a> {
    /// Returns the next `n` bytes, or `None` past the end.
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    /// Returns how many bytes are left.
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// Reads an IDF, weight or bias: an `f32` within ±[`MAX_WEIGHT`] (so never
    /// NaN or infinite).
    fn weight(&mut self) -> Option<f32> {
        let value = f32::from_le_bytes(self.take(4)?.try_into().ok()?);
        (value.abs() <= MAX_WEIGHT).then_some(value)
    }
}

/// FNV-1a, 64-bit. A change to any single byte always changes the result:
/// each step is a bijection of the running hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-label model over 2^4 buckets with a few non-zero rows.
    fn small_model() -> Model {
        let features = FeatureConfig {
            min_n: 1,
            max_n: 2,
            hash_bits: 4,
            min_df: 1,
        };
        let labels = vec!["城乡建设".to_owned(), "交通运输".to_owned()];
        let mut table = vec![0.0f32; 16 * 3];
        table[3..6].copy_from_slice(&[1.5, 0.25, -0.25]);
        table[30..33].copy_from_slice(&[2.0, -1.0, 1.0]);
        let mut model = Model::new(labels, features, Algorithm::Svm, 12, table, vec![0.1, -0.1]);
        model.set_confidence_scale(3.5);
        model
    }

    #[test]
    fn a_model_survives_the_round_trip() {
        let model = small_model();
        let bytes = model.to_bytes();
        assert_eq!(&bytes[..8], b"HLCLSMDL");
        let back = Model::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, model);
        assert_eq!(back.active_buckets(), 2);
    }

    #[test]
    fn packed_rows_are_found_by_bucket() {
        let stride = 3;
        let buckets = 200;
        let mut dense = vec![0.0f32; buckets * stride];
        for bucket in [0, 1, 63, 64, 65, 127, 128, 150, 199] {
            dense[bucket * stride] = bucket as f32 + 1.0;
            dense[bucket * stride + 2] = -(bucket as f32);
        }
        let mut rows = Rows::new(buckets, stride);
        for (bucket, row) in dense.chunks_exact(stride).enumerate() {
            if row[0] != 0.0 {
                rows.push(bucket, row);
            }
        }
        rows.finish();
        assert_eq!(rows.len(), 9);
        for (bucket, row) in dense.chunks_exact(stride).enumerate() {
            let expected = (row[0] != 0.0).then_some(row);
            assert_eq!(rows.get(bucket), expected, "bucket {bucket}");
        }
        assert_eq!(rows.get(buckets + 64), None);
        let listed: Vec<usize> = rows.iter().map(|(bucket, _)| bucket).collect();
        assert_eq!(listed, [0, 1, 63, 64, 65, 127, 128, 150, 199]);
        assert!(
            rows.iter()
                .all(|(bucket, row)| row[0] == bucket as f32 + 1.0)
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = small_model().to_bytes();
        for len in 0..bytes.len() {
            let err = Model::from_bytes(&bytes[..len]).expect_err("truncated");
            assert!(
                matches!(err, ModelError::Truncated { .. }),
                "prefix of {len} bytes: {err}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = small_model().to_bytes();
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] ^= flip;
                assert!(
                    Model::from_bytes(&damaged).is_err(),
                    "byte {at} ^ {flip:#x} went unnoticed"
                );
            }
        }
    }

    /// Where the biases start in a file of `small_model` (two labels): after the
    /// prefix and the JSON header. The rows follow them, 16 bytes each (bucket,
    /// IDF, two weights).
    fn body_start(bytes: &[u8]) -> usize {
        let header_len = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        PREFIX_LEN + header_len as usize
    }

    /// Overwrites the `f32` at `at` and makes the checksum right again, as a file
    /// damaged and re-sealed (or written by hand) would be.
    fn reseal_with(bytes: &[u8], values: &[(usize, f32)]) -> Vec<u8> {
        let mut bytes = bytes.to_vec();
        for &(at, value) in values {
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        let end = bytes.len() - CHECKSUM_LEN;
        let checksum = fnv1a64(&bytes[..end]);
        bytes[end..].copy_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// A file whose checksum is right but whose weights are huge though finite
    /// used to load, and then scored text to infinities: every confidence came
    /// out NaN (found by the `model_bytes` fuzz target).
    #[test]
    fn huge_finite_weights_are_refused_even_with_a_good_checksum() {
        let bytes = small_model().to_bytes();
        let rows = body_start(&bytes) + 8;
        let huge = 3.0e38f32;
        let damaged = reseal_with(&bytes, &[(rows + 4, huge), (rows + 8, huge)]);
        let err = Model::from_bytes(&damaged).expect_err("huge weights");
        assert!(
            matches!(&err, ModelError::Malformed(m) if m.contains("weight")),
            "{err}"
        );
        let damaged = reseal_with(&bytes, &[(body_start(&bytes), -2.0 * MAX_WEIGHT)]);
        let err = Model::from_bytes(&damaged).expect_err("a huge bias");
        assert!(
            matches!(&err, ModelError::Malformed(m) if m.contains("bias")),
            "{err}"
        );
    }

    /// At the bound itself, on every IDF, weight and bias, a long text with every
    /// bucket hit many times still scores finitely: the bound is low enough.
    #[test]
    fn weights_at_the_bound_keep_confidences_finite() {
        let bytes = small_model().to_bytes();
        let (biases, rows) = (body_start(&bytes), body_start(&bytes) + 8);
        let mut values = vec![(biases, MAX_WEIGHT), (biases + 4, -MAX_WEIGHT)];
        for row in [rows, rows + 16] {
            values.extend([
                (row + 4, MAX_WEIGHT),
                (row + 8, MAX_WEIGHT),
                (row + 12, -MAX_WEIGHT),
            ]);
        }
        let model = Model::from_bytes(&reseal_with(&bytes, &values)).expect("within the bound");
        let text = "噪声ab12交通".repeat(20_000);
        let p = super::super::Classifier::new(model).classify(&text, &text, 2);
        assert!(
            p.top
                .iter()
                .all(|(_, c)| c.is_finite() && (0.0..=1.0).contains(c)),
            "{p:?}"
        );
    }

    /// Training clamps a fit past the bound, so its file loads.
    #[test]
    fn a_model_built_past_the_bound_is_clamped_to_it() {
        let features = FeatureConfig {
            min_n: 1,
            max_n: 1,
            hash_bits: 4,
            min_df: 1,
        };
        let mut table = vec![0.0f32; 16 * 3];
        table[3..6].copy_from_slice(&[1.0, 1.0e30, -1.0e30]);
        let labels = vec!["a".to_owned(), "b".to_owned()];
        let model = Model::new(labels, features, Algorithm::Svm, 1, table, vec![1.0e9, 0.0]);
        let back = Model::from_bytes(&model.to_bytes()).expect("loads");
        assert_eq!(back, model);
        assert_eq!(back.rows.get(1), Some(&[1.0, MAX_WEIGHT, -MAX_WEIGHT][..]));
        assert_eq!(back.bias, [MAX_WEIGHT, 0.0]);
    }

    #[test]
    fn a_flipped_byte_in_the_body_is_a_checksum_mismatch() {
        let mut bytes = small_model().to_bytes();
        let at = bytes.len() - 12;
        bytes[at] ^= 0x10;
        assert_eq!(Model::from_bytes(&bytes), Err(ModelError::ChecksumMismatch));
    }

    #[test]
    fn another_version_is_named_in_the_error() {
        let mut bytes = small_model().to_bytes();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let err = Model::from_bytes(&bytes).expect_err("version 2");
        assert_eq!(
            err,
            ModelError::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "model file format version 2 is not supported (this build reads version 1)"
        );
    }

    #[test]
    fn other_files_and_extra_bytes_are_refused() {
        assert_eq!(
            Model::from_bytes(b"id,title,body,label\n"),
            Err(ModelError::NotAModel)
        );
        assert_eq!(Model::from_bytes(b"{"), Err(ModelError::NotAModel));
        let mut bytes = small_model().to_bytes();
        bytes.extend_from_slice(b"xx");
        assert_eq!(
            Model::from_bytes(&bytes),
            Err(ModelError::TrailingBytes { extra: 2 })
        );
    }

    /// Rewrites the header of `bytes` and fixes up lengths and checksum.
    fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let header_len = u32::from_le_bytes(bytes[20..24].try_into().expect("4")) as usize;
        let mut header: serde_json::Value =
            serde_json::from_slice(&bytes[24..24 + header_len]).expect("json");
        edit(&mut header);
        let header = serde_json::to_vec(&header).expect("json");
        let mut out = bytes[..24].to_vec();
        out[20..24].copy_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&bytes[24 + header_len..bytes.len() - 8]);
        let total = (out.len() + 8) as u64;
        out[12..20].copy_from_slice(&total.to_le_bytes());
        let checksum = fnv1a64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    #[test]
    fn a_consistent_file_with_bad_fields_is_malformed_not_a_panic() {
        let bytes = small_model().to_bytes();
        assert!(Model::from_bytes(&with_header(&bytes, |_| {})).is_ok());
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<Edit> = vec![
            Box::new(|h| h["labels"] = serde_json::json!([])),
            Box::new(|h| h["labels"] = serde_json::json!(["a", "a"])),
            Box::new(|h| h["labels"] = serde_json::json!(["a", "b", "c"])),
            Box::new(|h| h["features"]["hash_bits"] = 40.into()),
            Box::new(|h| h["features"]["max_n"] = 0.into()),
            Box::new(|h| h["rows"] = 3.into()),
            Box::new(|h| h["rows"] = u64::MAX.into()),
            Box::new(|h| h["confidence_scale"] = (-1.0).into()),
            Box::new(|h| h["algorithm"] = "magic".into()),
            Box::new(|h| h["extra"] = 1.into()),
        ];
        for (i, edit) in cases.iter().enumerate() {
            let err = Model::from_bytes(&with_header(&bytes, edit)).expect_err("bad field");
            assert!(matches!(err, ModelError::Malformed(_)), "case {i}: {err}");
        }
    }
}
