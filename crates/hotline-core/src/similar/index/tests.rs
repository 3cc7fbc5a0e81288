use std::collections::HashMap;

use jiff::Timestamp;
use proptest::prelude::*;

use super::{DuplicateIndex, Hit, RecentTicket, TextFilter, TextHit};
use crate::similar::{HASHES, Signature};
use crate::{TicketId, TicketStatus};

/// A signature of these minimum hashes.
fn signature(minimums: impl Fn(usize) -> u32) -> Signature {
    let bytes: Vec<u8> = (0..HASHES)
        .flat_map(|i| minimums(i).to_le_bytes())
        .collect();
    Signature::from_bytes(&bytes).expect("the size of a signature")
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_780_000_000 + second).expect("in range")
}

fn id(n: u128) -> TicketId {
    TicketId::from_uuid(uuid::Uuid::from_u128(n + 1))
}

fn ticket(n: u128, second: i64, phone: &str, signature: Option<Signature>) -> RecentTicket {
    RecentTicket {
        ticket_id: id(n),
        number: format!("SZ-20260601-{n:06}"),
        created_at: at(second),
        status: TicketStatus::PendingDispatch,
        phone: phone.to_owned(),
        address: "姑苏区人民路1号".to_owned(),
        category: Some("环境保护/噪声污染".to_owned()),
        region_code: "320508001".to_owned(),
        signature,
    }
}

fn ids(hits: &[Hit]) -> Vec<TicketId> {
    hits.iter().map(|h| h.ticket_id).collect()
}

#[test]
fn same_phone_is_newest_first_within_the_window_and_skips_merged() {
    let mut index = DuplicateIndex::new();
    for n in 0..5 {
        index.upsert(ticket(
            n,
            i64::try_from(n).expect("small") * 10,
            "13800000000",
            None,
        ));
    }
    index.upsert(ticket(9, 45, "13900000000", None));
    let mut merged = ticket(3, 30, "13800000000", None);
    merged.status = TicketStatus::Merged;
    index.upsert(merged);

    let found = index.same_phone("13800000000", at(10), 10);
    assert_eq!(ids(&found), vec![id(4), id(2), id(1)]);
    assert_eq!(found[0].number, "SZ-20260601-000004");
    assert_eq!(
        ids(&index.same_phone("13800000000", at(0), 2)),
        vec![id(4), id(2)]
    );
    assert!(index.same_phone("", at(0), 10).is_empty());
    assert_eq!(index.len(), 6, "an update does not add a ticket");
}

#[test]
fn same_address_needs_the_same_category_now() {
    let mut index = DuplicateIndex::new();
    index.upsert(ticket(1, 0, "1", None));
    let mut other = ticket(2, 1, "2", None);
    other.category = Some("城乡建设/物业管理".to_owned());
    index.upsert(other.clone());
    let noise = "环境保护/噪声污染";
    assert_eq!(
        ids(&index.same_address("姑苏区人民路1号", noise, at(0), 10)),
        vec![id(1)]
    );
    // Reclassified: found under its new category only.
    other.category = Some(noise.to_owned());
    index.upsert(other);
    assert_eq!(
        ids(&index.same_address("姑苏区人民路1号", noise, at(0), 10)),
        vec![id(2), id(1)]
    );
    assert!(index.same_address("别处", noise, at(0), 10).is_empty());
}

#[test]
fn text_candidates_rank_by_shared_bands_then_newest() {
    // Bands cover the first 32 minimums, two each.
    let probe = signature(|i| u32::try_from(i).expect("small"));
    let half = signature(|i| u32::try_from(if i < 16 { i } else { i + 1000 }).expect("small"));
    let one = signature(|i| u32::try_from(if i < 2 { i } else { i + 5000 }).expect("small"));
    let mut index = DuplicateIndex::new();
    index.upsert(ticket(1, 0, "1", Some(half.clone())));
    index.upsert(ticket(2, 1, "2", Some(one)));
    index.upsert(ticket(3, 2, "3", Some(probe.clone())));
    let mut elsewhere = ticket(4, 3, "4", Some(probe.clone()));
    elsewhere.region_code = "320509001".to_owned();
    index.upsert(elsewhere);

    let filter = TextFilter {
        category: Some("环境保护/噪声污染"),
        district: Some("320508"),
        exclude: None,
    };
    let found = index.text_candidates(&probe, &filter, at(0), 10);
    let got: Vec<(TicketId, u32)> = found
        .iter()
        .map(|t| (t.hit.ticket_id, t.shared_bands))
        .collect();
    assert_eq!(got, vec![(id(3), 16), (id(1), 8), (id(2), 1)]);
    assert_eq!(found[0].similarity, Some(1.0));
    assert_eq!(found[1].similarity, Some(probe.similarity(&half)));

    let exclude = TextFilter {
        exclude: Some(id(3)),
        ..filter.clone()
    };
    assert_eq!(
        index.text_candidates(&probe, &exclude, at(0), 1)[0]
            .hit
            .ticket_id,
        id(1)
    );
    let other_category = TextFilter {
        category: Some("交通"),
        ..filter
    };
    assert!(
        index
            .text_candidates(&probe, &other_category, at(0), 10)
            .is_empty()
    );
    assert_eq!(
        index
            .text_candidates(&probe, &TextFilter::default(), at(3), 10)
            .len(),
        1
    );
}

#[test]
fn signatures_past_the_cap_are_dropped_oldest_first() {
    let probe = signature(|i| u32::try_from(i).expect("small"));
    let mut index = DuplicateIndex::with_signature_cap(2);
    for n in 0..4u128 {
        let second = i64::try_from(n).expect("small");
        index.upsert(ticket(n, second, "1", Some(probe.clone())));
    }
    let found = index.text_candidates(&probe, &TextFilter::default(), at(0), 10);
    let scored: Vec<(TicketId, Option<f64>)> = found
        .iter()
        .map(|t| (t.hit.ticket_id, t.similarity))
        .collect();
    assert_eq!(
        scored,
        vec![
            (id(3), Some(1.0)),
            (id(2), Some(1.0)),
            (id(1), None),
            (id(0), None)
        ],
        "still found by their keys; the caller scores the oldest from its store"
    );
    assert_eq!(index.signature(id(3)), Some(&probe));
    assert_eq!(index.signature(id(0)), None);
    assert_eq!(index.signature(id(9)), None);
}

#[test]
fn expiry_forgets_the_oldest_and_their_keys() {
    let mut index = DuplicateIndex::new();
    for n in 0..3000u128 {
        let second = i64::try_from(n).expect("small");
        index.upsert(ticket(n, second, &format!("phone-{}", n % 7), None));
    }
    index.expire(at(2900));
    assert_eq!(index.len(), 100);
    assert!(
        index.heads.len() <= 7 + 1,
        "dead heads were cleaned: {}",
        index.heads.len()
    );
    let found = index.same_phone("phone-3", Timestamp::MIN, 100);
    assert!(found.iter().all(|h| h.created_at >= at(2900)));
    assert_eq!(found.len(), 15);
    // A ticket forgotten and seen again (a late update) is kept, but stays out of
    // look-ups of the window.
    index.upsert(ticket(5, 5, "phone-5", None));
    assert!(
        index
            .same_phone("phone-5", at(2900), 100)
            .iter()
            .all(|h| h.ticket_id != id(5))
    );
}

#[test]
fn renumbering_keeps_every_chain() {
    let mut index = DuplicateIndex::new();
    for n in 0..50u128 {
        index.upsert(ticket(
            n,
            i64::try_from(n).expect("small"),
            &format!("p{}", n % 3),
            None,
        ));
    }
    index.expire(at(20));
    let before = index.same_phone("p1", Timestamp::MIN, 100);
    index.renumber();
    assert_eq!(index.first_slot, 0);
    assert_eq!(index.same_phone("p1", Timestamp::MIN, 100), before);
    index.upsert(ticket(100, 100, "p1", None));
    assert_eq!(
        index.same_phone("p1", Timestamp::MIN, 1)[0].ticket_id,
        id(100)
    );
}

/// The index's answers, computed by scanning every ticket kept.
#[derive(Default)]
struct Model {
    tickets: Vec<RecentTicket>,
}

impl Model {
    fn upsert(&mut self, ticket: RecentTicket) {
        match self
            .tickets
            .iter_mut()
            .find(|t| t.ticket_id == ticket.ticket_id)
        {
            Some(kept) => {
                kept.status = ticket.status;
                kept.category = ticket.category;
            }
            None => self.tickets.push(ticket),
        }
    }

    fn expire(&mut self, before: Timestamp) {
        let gone = self
            .tickets
            .iter()
            .take_while(|t| t.created_at < before)
            .count();
        self.tickets.drain(..gone);
    }

    fn newest_first(&self, since: Timestamp) -> impl Iterator<Item = &RecentTicket> {
        self.tickets
            .iter()
            .rev()
            .filter(move |t| t.created_at >= since && t.status != TicketStatus::Merged)
    }

    fn same_phone(&self, phone: &str, since: Timestamp, limit: usize) -> Vec<TicketId> {
        if phone.is_empty() {
            return Vec::new();
        }
        self.newest_first(since)
            .filter(|t| t.phone == phone)
            .take(limit)
            .map(|t| t.ticket_id)
            .collect()
    }

    fn text(
        &self,
        probe: &Signature,
        category: Option<&str>,
        district: Option<&str>,
        since: Timestamp,
        limit: usize,
    ) -> Vec<(TicketId, u32)> {
        let mut shared: HashMap<TicketId, (u32, Timestamp)> = HashMap::new();
        for key in &probe.band_keys() {
            for t in self
                .newest_first(since)
                .filter(|t| {
                    t.signature
                        .as_ref()
                        .is_some_and(|s| s.band_keys().contains(key))
                })
                .filter(|t| category.is_none_or(|c| t.category.as_deref() == Some(c)))
                .filter(|t| {
                    district.is_none_or(|d| t.region_code.get(..6).unwrap_or(&t.region_code) == d)
                })
                .take(limit)
            {
                shared.entry(t.ticket_id).or_insert((0, t.created_at)).0 += 1;
            }
        }
        let mut out: Vec<(TicketId, u32, Timestamp)> = shared
            .into_iter()
            .map(|(id, (n, at))| (id, n, at))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then((b.2, b.0).cmp(&(a.2, a.0))));
        out.into_iter()
            .take(limit)
            .map(|(id, n, _)| (id, n))
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        phone: u8,
        band: u8,
        category: bool,
        region: u8,
        gap: u8,
    },
    Merge(u8),
    Recategorise(u8),
    Expire(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, 0u8..6, any::<bool>(), 0u8..3, 0u8..3)
            .prop_map(|(phone, band, category, region, gap)| Op::Add { phone, band, category, region, gap }),
        1 => any::<u8>().prop_map(Op::Merge),
        1 => any::<u8>().prop_map(Op::Recategorise),
        1 => (0u8..20).prop_map(Op::Expire),
    ]
}

/// Regions of three districts, one a code shorter than a district.
const REGIONS: [&str; 3] = ["320508001", "320509002", "3205"];

/// A signature per `band`: tickets of one `band` share all keys, others none.
fn bands_of(band: u8) -> Signature {
    signature(|i| u32::from(band) * 7 + u32::try_from(i).expect("small") * 1000)
}

proptest! {
    #[test]
    fn the_index_answers_as_a_scan_of_its_tickets(ops in proptest::collection::vec(op(), 1..120)) {
        let mut index = DuplicateIndex::new();
        let mut model = Model::default();
        let mut clock = 0i64;
        let mut added: Vec<RecentTicket> = Vec::new();
        for op in ops {
            match op {
                Op::Add { phone, band, category, region, gap } => {
                    clock += i64::from(gap);
                    let mut t = ticket(added.len() as u128, clock, &format!("p{phone}"), Some(bands_of(band)));
                    if !category {
                        t.category = Some("交通".to_owned());
                    }
                    t.region_code = REGIONS[usize::from(region)].to_owned();
                    added.push(t.clone());
                    index.upsert(t.clone());
                    model.upsert(t);
                }
                Op::Merge(n) | Op::Recategorise(n) if !added.is_empty() => {
                    let mut t = added[usize::from(n) % added.len()].clone();
                    if matches!(op, Op::Merge(_)) {
                        t.status = TicketStatus::Merged;
                    } else {
                        t.category = Some("城乡建设".to_owned());
                    }
                    // Only tickets still kept get updates, as a store's changes come
                    // for tickets in the window.
                    if model.tickets.iter().any(|k| k.ticket_id == t.ticket_id) {
                        index.upsert(t.clone());
                        model.upsert(t);
                    }
                }
                Op::Expire(back) => {
                    let before = at(clock - i64::from(back));
                    index.expire(before);
                    model.expire(before);
                }
                _ => {}
            }
            prop_assert_eq!(index.len(), model.tickets.len());
            let since = at(clock - 10);
            for phone in 0..4 {
                let phone = format!("p{phone}");
                prop_assert_eq!(ids(&index.same_phone(&phone, since, 3)), model.same_phone(&phone, since, 3));
            }
            for band in 0..6 {
                for (category, district) in [
                    (None, None),
                    (Some("环境保护/噪声污染"), None),
                    (None, Some("320508")),
                    (Some("环境保护/噪声污染"), Some("320509")),
                    (None, Some("3205")),
                ] {
                    let filter = TextFilter { category, district, exclude: None };
                    let got: Vec<(TicketId, u32)> = index
                        .text_candidates(&bands_of(band), &filter, since, 4)
                        .into_iter()
                        .map(|TextHit { hit, shared_bands, .. }| (hit.ticket_id, shared_bands))
                        .collect();
                    prop_assert_eq!(got, model.text(&bands_of(band), category, district, since, 4));
                }
            }
        }
    }
}
