//! An in-memory index of the recent tickets duplicate detection compares a new
//! one with: same phone, same address, and the LSH band keys of the text.
//!
//! Every create asks for duplicates, and asking a database costs more than
//! filing the ticket: each band key is a random row in a large index, both to
//! write and to read. The tickets worth comparing are few (those of the last
//! weeks) and their keys are small, so a server keeps them here and asks its
//! store only for what changed since (see `hotline_store::Store::recent_after`).
//!
//! Each key heads a chain through the tickets filed under it, newest first: a
//! look-up walks a few links per key, whatever the number of tickets kept. A
//! ticket costs about 0.5 KB (its keys, chain links, number, region and
//! category), and 0.5 KB more for its signature, which scores it as a text
//! candidate: signatures are kept for the newest tickets only, up to a cap, and
//! older candidates are scored from the store.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use jiff::Timestamp;

use super::{BANDS, Signature};
use crate::{TicketId, TicketStatus};

/// Keys per ticket: its phone, its address, and its text's band keys.
const KEYS: usize = 2 + BANDS;
/// Chain position of the phone key.
const PHONE: usize = 0;
/// Chain position of the address key.
const ADDRESS: usize = 1;
/// The end of a chain.
const NONE: u32 = u32::MAX;
/// Leading region digits that name a district: a text match must share the probe's,
/// so text keys are kept per district and a look-up never walks another's tickets.
pub const DISTRICT_DIGITS: usize = 6;
/// Signatures an index keeps unless told otherwise: 100,000 tickets' worth, 51 MB.
pub const DEFAULT_SIGNATURE_CAP: usize = 100_000;
/// Most links walked per key in one look-up: bounds a look-up when thousands of
/// tickets share a key (a hot template, a hotline's own switchboard number).
pub const MAX_WALK: usize = 500;

/// What the index keeps of a ticket: what duplicate detection filters on.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentTicket {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Its human number, shown with a candidate.
    pub number: String,
    /// When it was created: the window is on this.
    pub created_at: Timestamp,
    /// Its status now: MERGED tickets are never candidates.
    pub status: TicketStatus,
    /// Citizen phone, exactly as given; empty for none.
    pub phone: String,
    /// Address, exactly as given; empty for none.
    pub address: String,
    /// Category path now.
    pub category: Option<String>,
    /// Region code.
    pub region_code: String,
    /// Its text's fingerprint; `None` when the text has none.
    pub signature: Option<Signature>,
}

/// A ticket found under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Its human number.
    pub number: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A ticket found under one or more of a probe's band keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TextHit {
    /// The ticket.
    pub hit: Hit,
    /// How many of the probe's band keys it shares, from 1.
    pub shared_bands: u32,
    /// Its similarity to the probe ([`Signature::similarity`]); `None` when the index
    /// no longer holds its signature (see [`DuplicateIndex::with_signature_cap`]).
    pub similarity: Option<f64>,
}

/// What a text look-up leaves out, besides tickets created before `since`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextFilter<'a> {
    /// Only tickets of exactly this category; `None`: any.
    pub category: Option<&'a str>,
    /// Only tickets of this district (the first [`DISTRICT_DIGITS`] of their region
    /// code); `None`: any region.
    pub district: Option<&'a str>,
    /// Leaves this ticket out (the probe itself).
    pub exclude: Option<TicketId>,
}

#[derive(Debug)]
struct Entry {
    ticket_id: TicketId,
    number: Box<str>,
    created_at: Timestamp,
    merged: bool,
    /// Interned category path: see [`DuplicateIndex::categories`]; 0 for none.
    category: u32,
    /// Kept for the newest tickets only: see [`DuplicateIndex::with_signature_cap`].
    signature: Option<Box<Signature>>,
    /// Per key, the slot of the next older ticket filed under it.
    next: [u32; KEYS],
}

impl Entry {
    fn hit(&self) -> Hit {
        Hit {
            ticket_id: self.ticket_id,
            number: self.number.to_string(),
            created_at: self.created_at,
        }
    }
}

/// The recent tickets, in the order they were added (oldest first), with a chain
/// per key. Slots number the entries from the first ever kept; popping the oldest
/// advances `first_slot`, so links to popped entries end their chain.
#[derive(Debug)]
pub struct DuplicateIndex {
    entries: VecDeque<Entry>,
    /// Signatures kept, newest tickets first.
    signature_cap: usize,
    /// Category paths by number, from 1: a look-up compares numbers, not paths. The
    /// taxonomy is small and never shrinks much, so numbers are never reused.
    categories: HashMap<Box<str>, u32>,
    /// Districts by number, from 0, likewise: a text key is a band key in a district.
    districts: HashMap<Box<str>, u32>,
    first_slot: u32,
    by_id: HashMap<TicketId, u32>,
    /// The newest slot filed under each key.
    heads: HashMap<u64, u32>,
    /// Entries popped since the heads were last cleaned of links to them.
    popped_since_clean: usize,
}

impl Default for DuplicateIndex {
    fn default() -> Self {
        DuplicateIndex::with_signature_cap(DEFAULT_SIGNATURE_CAP)
    }
}

impl DuplicateIndex {
    /// Returns an empty index that keeps the signatures of the newest
    /// [`DEFAULT_SIGNATURE_CAP`] tickets.
    pub fn new() -> DuplicateIndex {
        DuplicateIndex::default()
    }

    /// Returns an empty index that keeps the signatures of the newest `cap` tickets.
    /// A signature is 512 bytes, most of a ticket's cost here: past the cap, a text
    /// match comes without its similarity, and the caller reads the signature from
    /// its store.
    pub fn with_signature_cap(cap: usize) -> DuplicateIndex {
        DuplicateIndex {
            entries: VecDeque::new(),
            signature_cap: cap,
            categories: HashMap::new(),
            districts: HashMap::new(),
            first_slot: 0,
            by_id: HashMap::new(),
            heads: HashMap::new(),
            popped_since_clean: 0,
        }
    }

    /// Returns the number of tickets kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether no ticket is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a ticket, or brings a kept one up to date (status and category: its
    /// phone, address and text do not change after creation).
    pub fn upsert(&mut self, ticket: RecentTicket) {
        let category = self.intern(ticket.category.as_deref());
        if let Some(&slot) = self.by_id.get(&ticket.ticket_id)
            && let Some(entry) = self.entry_mut(slot)
        {
            entry.merged = ticket.status == TicketStatus::Merged;
            entry.category = category;
            return;
        }
        if self.next_slot() == NONE {
            self.renumber();
        }
        let slot = self.next_slot();
        let district = self.district_number(&ticket.region_code);
        let mut next = [NONE; KEYS];
        for (position, key) in keys(&ticket, district) {
            if let Some(head) = self.heads.insert(key, slot) {
                next[position] = head;
            }
        }
        self.by_id.insert(ticket.ticket_id, slot);
        self.entries.push_back(Entry {
            ticket_id: ticket.ticket_id,
            number: ticket.number.into_boxed_str(),
            created_at: ticket.created_at,
            merged: ticket.status == TicketStatus::Merged,
            category,
            signature: ticket.signature.map(Box::new),
            next,
        });
        if let Some(old) = self
            .entries
            .len()
            .checked_sub(self.signature_cap + 1)
            .and_then(|i| self.entries.get_mut(i))
        {
            old.signature = None;
        }
    }

    /// Forgets the tickets created before `before`, oldest first. Entries are kept
    /// in the order they were added, which is the order of creation but for clock
    /// skew between servers: an entry is kept while an older-added one is, and look-ups
    /// leave out whatever is older than they ask for anyway.
    pub fn expire(&mut self, before: Timestamp) {
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.created_at < before)
        {
            if let Some(entry) = self.entries.pop_front() {
                self.by_id.remove(&entry.ticket_id);
            }
            self.first_slot += 1;
            self.popped_since_clean += 1;
        }
        // Heads of keys whose every ticket is gone would pile up: clean them once
        // as many entries have gone as are kept, so the cost per entry stays constant.
        if self.popped_since_clean > self.entries.len().max(1024) {
            let first = self.first_slot;
            self.heads.retain(|_, slot| *slot >= first);
            self.popped_since_clean = 0;
        }
    }

    /// Returns the signature of a kept ticket, while the index holds it.
    pub fn signature(&self, ticket_id: TicketId) -> Option<&Signature> {
        let slot = *self.by_id.get(&ticket_id)?;
        self.slot(slot)?.signature.as_deref()
    }

    /// Tickets of this phone created at or after `since`, not MERGED, newest first,
    /// at most `limit`.
    pub fn same_phone(&self, phone: &str, since: Timestamp, limit: usize) -> Vec<Hit> {
        if phone.is_empty() {
            return Vec::new();
        }
        self.walk(PHONE, key(PHONE, phone), since)
            .filter(|entry| !entry.merged)
            .take(limit)
            .map(Entry::hit)
            .collect()
    }

    /// Tickets of this address and exactly this category created at or after `since`,
    /// not MERGED, newest first, at most `limit`.
    pub fn same_address(
        &self,
        address: &str,
        category: &str,
        since: Timestamp,
        limit: usize,
    ) -> Vec<Hit> {
        let Some(category) = self.categories.get(category).copied() else {
            return Vec::new();
        };
        if address.is_empty() {
            return Vec::new();
        }
        self.walk(ADDRESS, key(ADDRESS, address), since)
            .filter(|entry| !entry.merged && entry.category == category)
            .take(limit)
            .map(Entry::hit)
            .collect()
    }

    /// Tickets filed under at least one of the band keys of `probe`, created at or
    /// after `since`, not MERGED and passing `filter`: per key its newest `limit`, then
    /// most shared keys first, then newest; at most `limit`; each with its similarity
    /// to `probe` while the index holds its signature.
    pub fn text_candidates(
        &self,
        probe: &Signature,
        filter: &TextFilter<'_>,
        since: Timestamp,
        limit: usize,
    ) -> Vec<TextHit> {
        let bands = probe.band_keys();
        let category = match filter.category {
            None => None,
            Some(path) => match self.categories.get(path) {
                Some(number) => Some(*number),
                None => return Vec::new(),
            },
        };
        let districts: Vec<u32> = match filter.district {
            Some(district) => match self.districts.get(district) {
                Some(number) => vec![*number],
                None => return Vec::new(),
            },
            None => self.districts.values().copied().collect(),
        };
        let mut shared: HashMap<u32, u32> = HashMap::new();
        let mut taken: Vec<u32> = Vec::new();
        for (band, band_key) in bands.iter().enumerate() {
            let position = 2 + band;
            taken.clear();
            for district in &districts {
                taken.extend(
                    self.walk_slots(position, text_key(*band_key, *district), since)
                        .filter(|(_, entry)| {
                            !entry.merged
                                && category.is_none_or(|c| entry.category == c)
                                && Some(entry.ticket_id) != filter.exclude
                        })
                        .take(limit)
                        .map(|(slot, _)| slot),
                );
            }
            if districts.len() > 1 {
                // The key's newest across districts: newer slots are newer tickets.
                taken.sort_unstable_by(|a, b| b.cmp(a));
                taken.truncate(limit);
            }
            for slot in &taken {
                *shared.entry(*slot).or_insert(0) += 1;
            }
        }
        let mut hits: Vec<(u32, u32)> = shared.into_iter().collect();
        // Newer slots are newer tickets; the id breaks ties as the stores did.
        hits.sort_by(|(slot_a, shared_a), (slot_b, shared_b)| {
            shared_b.cmp(shared_a).then_with(|| {
                let (a, b) = (self.slot(*slot_a), self.slot(*slot_b));
                b.map(|e| (e.created_at, e.ticket_id))
                    .cmp(&a.map(|e| (e.created_at, e.ticket_id)))
            })
        });
        hits.into_iter()
            .take(limit)
            .filter_map(|(slot, shared_bands)| {
                self.slot(slot).map(|entry| TextHit {
                    hit: entry.hit(),
                    shared_bands,
                    similarity: entry.signature.as_ref().map(|s| probe.similarity(s)),
                })
            })
            .collect()
    }

    /// The number of the district of `region_code`, numbering it if new. A code shorter
    /// than a district is a district of its own: only look-ups in any region find it.
    fn district_number(&mut self, region_code: &str) -> u32 {
        let district = region_code.get(..DISTRICT_DIGITS).unwrap_or(region_code);
        if let Some(number) = self.districts.get(district) {
            return *number;
        }
        let number = u32::try_from(self.districts.len()).unwrap_or(u32::MAX);
        self.districts.insert(district.into(), number);
        number
    }

    /// The number of a category path, numbering it if new; 0 for none.
    fn intern(&mut self, category: Option<&str>) -> u32 {
        let Some(path) = category else {
            return 0;
        };
        if let Some(number) = self.categories.get(path) {
            return *number;
        }
        let number = u32::try_from(self.categories.len() + 1).unwrap_or(u32::MAX);
        self.categories.insert(path.into(), number);
        number
    }

    fn next_slot(&self) -> u32 {
        // Cannot overflow: `renumber` runs before the last slot is handed out.
        self.first_slot
            .saturating_add(u32::try_from(self.entries.len()).unwrap_or(NONE))
    }

    fn slot(&self, slot: u32) -> Option<&Entry> {
        let offset = slot.checked_sub(self.first_slot)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        let offset = slot.checked_sub(self.first_slot)?;
        self.entries.get_mut(usize::try_from(offset).ok()?)
    }

    /// The entries under `key` at chain `position`, newest first, created at or after
    /// `since`, at most [`MAX_WALK`].
    fn walk(&self, position: usize, key: u64, since: Timestamp) -> impl Iterator<Item = &Entry> {
        self.walk_slots(position, key, since)
            .map(|(_, entry)| entry)
    }

    fn walk_slots(
        &self,
        position: usize,
        key: u64,
        since: Timestamp,
    ) -> impl Iterator<Item = (u32, &Entry)> {
        let mut slot = self.heads.get(&key).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            let entry = self.slot(slot)?;
            let here = slot;
            slot = entry.next[position];
            Some((here, entry))
        })
        .take(MAX_WALK)
        .filter(move |(_, entry)| entry.created_at >= since)
    }

    /// Numbers the entries from 0 again, so slots never run out.
    fn renumber(&mut self) {
        let first = self.first_slot;
        let shift = |slot: &mut u32| {
            *slot = if *slot == NONE || *slot < first {
                NONE
            } else {
                *slot - first
            };
        };
        for entry in &mut self.entries {
            entry.next.iter_mut().for_each(shift);
        }
        self.heads.retain(|_, slot| *slot >= first);
        self.heads.values_mut().for_each(shift);
        self.by_id.values_mut().for_each(shift);
        self.first_slot = 0;
        self.popped_since_clean = 0;
    }
}

/// The keys a ticket is filed under, with their chain positions.
fn keys(ticket: &RecentTicket, district: u32) -> Vec<(usize, u64)> {
    let mut out = Vec::with_capacity(KEYS);
    if !ticket.phone.is_empty() {
        out.push((PHONE, key(PHONE, &ticket.phone)));
    }
    if !ticket.address.is_empty() {
        out.push((ADDRESS, key(ADDRESS, &ticket.address)));
    }
    if let Some(signature) = &ticket.signature {
        out.extend(
            signature
                .band_keys()
                .iter()
                .enumerate()
                .map(|(band, k)| (2 + band, text_key(*k, district))),
        );
    }
    out
}

/// The key of a phone or an address: the kind is mixed in so a phone never meets an
/// address (or a band key) of equal hash.
fn key(kind: usize, value: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    kind.hash(&mut hasher);
    value.hash(&mut hasher);
    hasher.finish()
}

/// The key of a band key in a district. Band keys are hashes with the band mixed in
/// already; the district number is spread over the bits before it is mixed in.
fn text_key(band_key: i64, district: u32) -> u64 {
    u64::from_ne_bytes(band_key.to_ne_bytes())
        ^ u64::from(district)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
}

#[cfg(test)]
mod tests;
