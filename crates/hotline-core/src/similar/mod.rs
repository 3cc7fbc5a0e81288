//! Text fingerprints for duplicate detection: MinHash signatures of character
//! shingles and the LSH band keys that index them.
//!
//! Two citizens reporting the same matter write different words around the
//! same facts (the place, the hours, the nuisance), so their texts share many
//! short character sequences. A ticket's text (title and body, normalised like
//! the classifier's input: letters and digits only, full-width folded, lower
//! case) is cut into overlapping character [`SHINGLE`]-grams; the estimated
//! Jaccard similarity of two shingle sets is the share of equal positions in
//! their [`Signature`]s of [`HASHES`] minimum hashes.
//!
//! A store indexes each signature under [`BANDS`] band keys, each the hash of
//! [`ROWS`] consecutive minimums: two texts of similarity `s` share at least one
//! key with probability `1 - (1 - s^ROWS)^BANDS` (about 0.78 at `s = 0.3`, 0.93
//! at `s = 0.4`, 0.99 at `s = 0.5`, 0.06 at `s = 0.06`), so a look-up reads
//! only the tickets under the probe's keys, never the whole table, and then
//! ranks them by [`Signature::similarity`].
//!
//! Everything is fixed and versioned by [`FINGERPRINT_VERSION`]: the hash
//! seeds are constants derived from a fixed start, and no hash depends on the
//! process, the platform or the Rust version, so keys stored by one release
//! match probes computed by the next. Changing any constant here means a new
//! version and re-fingerprinting the stored tickets.

use crate::classify::fold;

pub mod index;

/// Version of the fingerprint scheme (shingle size, seeds, band layout).
pub const FINGERPRINT_VERSION: u32 = 1;
/// Characters per shingle: character bigrams.
pub const SHINGLE: usize = 2;
/// Minimum hashes per signature: the estimate's standard error is at most
/// `0.5 / sqrt(HASHES)`, about 0.04.
pub const HASHES: usize = 128;
/// Band keys per signature.
pub const BANDS: usize = 16;
/// Minimum hashes per band; the bands cover the first `BANDS * ROWS` hashes.
pub const ROWS: usize = 2;
/// Estimated Jaccard similarity from which two texts count as the same matter.
///
/// Two citizens describing one matter in their own words score about 0.35 to
/// 0.6 on character bigrams; different matters of one category (two noise
/// complaints in different streets) score below 0.1. A false candidate costs an
/// operator a glance, a missed one a second department working the same case,
/// so the threshold sits low in that gap.
pub const SIMILAR_THRESHOLD: f64 = 0.3;
/// Bytes of [`Signature::to_bytes`].
pub const SIGNATURE_BYTES: usize = HASHES * 4;

/// The start of the seed sequence; any fixed value works, this one must never change.
const SEED_START: u64 = 0x1234_5678_9abc_def0 ^ FINGERPRINT_VERSION as u64;

/// One step of SplitMix64: the next state and its output.
const fn splitmix64(state: u64) -> (u64, u64) {
    let state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (state, z ^ (z >> 31))
}

/// The multipliers (odd) and offsets of the [`HASHES`] hash functions, derived
/// at compile time from [`SEED_START`].
const SEEDS: [(u64, u64); HASHES] = {
    let mut seeds = [(0u64, 0u64); HASHES];
    let mut state = SEED_START;
    let mut i = 0;
    while i < HASHES {
        let (next, multiplier) = splitmix64(state);
        let (next, offset) = splitmix64(next);
        state = next;
        seeds[i] = (multiplier | 1, offset);
        i += 1;
    }
    seeds
};

/// MurmurHash3's 64-bit finaliser: every output bit depends on every input bit.
const fn fmix64(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The MinHash signature of a text: per hash function, the least hash of its shingles.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signature([u32; HASHES]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({:08x}..)", self.0[0])
    }
}

/// Why stored signature bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a signature is {SIGNATURE_BYTES} bytes, got {0}")]
pub struct SignatureError(pub usize);

impl Signature {
    /// Returns the signature of a ticket's title and body, or `None` when the
    /// text has no letter or digit (nothing to compare).
    pub fn of(title: &str, body: &str) -> Option<Signature> {
        let mut minimums = [u32::MAX; HASHES];
        let mut window = [0u32; SHINGLE];
        let mut seen = 0usize;
        let mut add = |shingle: u64| {
            let base = fmix64(shingle);
            for (min, (multiplier, offset)) in minimums.iter_mut().zip(SEEDS) {
                // Multiply-add hashing of a well-mixed base: the high half is the hash.
                let hash = (base.wrapping_mul(multiplier).wrapping_add(offset) >> 32) as u32;
                *min = (*min).min(hash);
            }
        };
        for c in title.chars().chain(body.chars()).filter_map(fold) {
            window.rotate_left(1);
            window[SHINGLE - 1] = u32::from(c);
            seen += 1;
            if seen >= SHINGLE {
                add(pack(&window));
            }
        }
        match seen {
            0 => None,
            // Shorter than one shingle: the whole text is its only shingle.
            n if n < SHINGLE => {
                add(pack(&window[SHINGLE - n..]));
                Some(Signature(minimums))
            }
            _ => Some(Signature(minimums)),
        }
    }

    /// Returns the estimated Jaccard similarity of the two texts' shingle sets, in `[0, 1]`.
    pub fn similarity(&self, other: &Signature) -> f64 {
        let equal = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        #[expect(clippy::cast_precision_loss, reason = "at most HASHES, far below 2^52")]
        let share = equal as f64 / HASHES as f64;
        share
    }

    /// Returns the [`BANDS`] band keys under which a store indexes this signature.
    ///
    /// Keys are signed so they fit a SQL `bigint`/`integer` column as they are.
    pub fn band_keys(&self) -> [i64; BANDS] {
        let mut keys = [0i64; BANDS];
        for (band, (key, rows)) in keys
            .iter_mut()
            .zip(self.0[..BANDS * ROWS].chunks_exact(ROWS))
            .enumerate()
        {
            // The band number and the version are mixed in, so equal minimums in
            // different bands (or schemes) never share a key.
            let mut hash = fmix64(((band as u64) << 32) ^ u64::from(FINGERPRINT_VERSION));
            for row in rows {
                hash = fmix64(hash ^ u64::from(*row));
            }
            *key = i64::from_ne_bytes(hash.to_ne_bytes());
        }
        keys
    }

    /// Returns the signature as [`SIGNATURE_BYTES`] little-endian bytes, for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Reads a signature written by [`Signature::to_bytes`].
    ///
    /// # Errors
    /// [`SignatureError`] when `bytes` is not [`SIGNATURE_BYTES`] long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature, SignatureError> {
        if bytes.len() != SIGNATURE_BYTES {
            return Err(SignatureError(bytes.len()));
        }
        let mut minimums = [0u32; HASHES];
        for (min, chunk) in minimums.iter_mut().zip(bytes.chunks_exact(4)) {
            *min = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Ok(Signature(minimums))
    }
}

/// Packs up to three code points (21 bits each) into one exact integer.
fn pack(chars: &[u32]) -> u64 {
    chars
        .iter()
        .fold(0u64, |packed, c| (packed << 21) | u64::from(*c))
}

/// Groups texts that say the same thing: each text joins the first group whose
/// first text it resembles (similarity at least `threshold`), or starts a new
/// one. Texts without a signature stay alone. Returns the groups as indices,
/// largest first (ties: earliest first), each in input order.
pub fn cluster(signatures: &[Option<Signature>], threshold: f64) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, signature) in signatures.iter().enumerate() {
        let home = signature.as_ref().and_then(|signature| {
            groups.iter().position(|group| {
                signatures[group[0]]
                    .as_ref()
                    .is_some_and(|leader| leader.similarity(signature) >= threshold)
            })
        });
        match home {
            Some(g) => groups[g].push(index),
            None => groups.push(vec![index]),
        }
    }
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    groups
}

#[cfg(test)]
mod tests;

// The bands must fit in the signature.
const _: () = assert!(BANDS * ROWS <= HASHES);
