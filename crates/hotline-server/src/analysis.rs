//! Analysis over stored tickets: duplicate candidates (same phone, same address
//! and category, similar text), hotspots (one category in one region, with the
//! trend against the previous window), and per-department statistics (三率,
//! computed by `hotline_core::StatsBuilder` from the store's per-part rows).
//!
//! Duplicates are looked up in the server's in-memory index of the window's tickets
//! ([`RecentIndex`]): by phone, by address, and by the LSH band keys of the probe's
//! fingerprint ([`hotline_core::similar`]). Hotspots read grouped counts over the
//! window from the store. Their cost follows the matches, not the number of tickets
//! stored.

use std::collections::HashMap;

use hotline_core::similar::index::{DISTRICT_DIGITS, Hit, TextFilter, TextHit};
use hotline_core::similar::{SIMILAR_THRESHOLD, Signature, cluster};
use hotline_core::{
    Calendar, Department, DepartmentId, DepartmentStats, StatsBuilder, Ticket, TicketId,
};
use hotline_store::{HotspotQuery, StatsQuery, Store, StoreError};
use jiff::Timestamp;

use crate::error::ApiError;
use crate::recent::{RecentIndex, window_start};
use crate::state::visible;

/// Score of a same-phone match.
const SAME_PHONE_SCORE: f64 = 0.9;
/// Score of a same-address-and-category match.
const SAME_ADDRESS_SCORE: f64 = 0.8;
/// Candidates of a duplicate look-up by phone, and by address.
const MATCH_PAGE: usize = 50;
/// Text candidates scored per look-up, per candidate asked for: also the newest
/// tickets taken per band key, so it sets the look-up's cost. A near-duplicate shares
/// most keys and ranks first, so twice the answer is plenty.
const TEXT_CANDIDATES_PER_ANSWER: usize = 2;
/// Text candidates scored at the least.
const MIN_TEXT_CANDIDATES: usize = 20;
/// Ticket ids listed per hotspot.
pub const HOTSPOT_IDS: u32 = 100;
/// Sample tickets shown per hotspot.
pub const HOTSPOT_SAMPLES: usize = 3;
/// Text clusters reported per hotspot.
pub const HOTSPOT_CLUSTERS: usize = 5;
/// Most hotspots one listing returns, largest first.
pub const MAX_HOTSPOTS: u32 = 100;

/// What to look for duplicates of.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The ticket itself, left out of its own candidates.
    pub exclude: Option<TicketId>,
    /// Citizen phone; empty skips the phone match.
    pub phone: String,
    /// Address; empty skips the address match.
    pub address: String,
    /// Category path; `None` skips the address match and lets a text match come
    /// from any category.
    pub category: Option<String>,
    /// Region code; a text match must share its district. Empty: any region.
    pub region_code: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

impl Probe {
    /// Returns the probe of an existing ticket: it is left out of its own candidates.
    pub fn of(ticket: &Ticket) -> Probe {
        Probe {
            exclude: Some(ticket.id),
            phone: ticket.citizen.phone.clone(),
            address: ticket.address.clone(),
            category: ticket.category.as_ref().map(|c| c.path.clone()),
            region_code: ticket.region_code.clone(),
            title: ticket.title.clone(),
            body: ticket.body.clone(),
        }
    }
}

/// A ticket that may be the same matter.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The candidate.
    pub ticket_id: TicketId,
    /// Its human number.
    pub number: String,
    /// Why it matched.
    pub reason: &'static str,
    /// Match strength, 0..=1.
    pub score: f64,
}

/// Finds duplicate candidates created within the duplicate window before `now`,
/// best first, at most `limit`; `scope` limits them to tickets a department sees.
///
/// The keys are looked up in the server's [`RecentIndex`], caught up first; the store
/// is read only for the signatures of text candidates too old for the index to hold
/// them and, for a department, for the candidates' parts.
///
/// # Errors
/// Store errors.
pub async fn find_duplicates(
    store: &dyn Store,
    recent: &RecentIndex,
    probe: &Probe,
    scope: Option<Vec<DepartmentId>>,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Candidate>, ApiError> {
    recent.catch_up(store, now).await?;
    let since = window_start(now);
    // A stored ticket's signature is in the index already; a free text's is computed.
    let kept = probe
        .exclude
        .and_then(|id| recent.read(|index| index.signature(id).cloned()));
    let signature = kept.or_else(|| Signature::of(&probe.title, &probe.body));
    // A department sees a share of the candidates: read more, before its scope thins them.
    let widen = if scope.is_some() { 4 } else { 1 };
    let (phone, address, text) = recent.read(|index| {
        let phone = index.same_phone(&probe.phone, since, MATCH_PAGE * widen);
        let address = match &probe.category {
            Some(category) => {
                index.same_address(&probe.address, category, since, MATCH_PAGE * widen)
            }
            None => Vec::new(),
        };
        let text = signature.as_ref().map_or_else(Vec::new, |signature| {
            let filter = TextFilter {
                category: probe.category.as_deref(),
                district: probe.region_code.get(..DISTRICT_DIGITS),
                exclude: probe.exclude,
            };
            let wanted = limit
                .saturating_mul(TEXT_CANDIDATES_PER_ANSWER)
                .max(MIN_TEXT_CANDIDATES);
            index.text_candidates(signature, &filter, since, wanted * widen)
        });
        (phone, address, text)
    });

    let mut best: HashMap<TicketId, Candidate> = HashMap::new();
    let mut offer = |hit: &Hit, reason: &'static str, score: f64| {
        if Some(hit.ticket_id) == probe.exclude {
            return;
        }
        match best.get(&hit.ticket_id) {
            Some(existing) if existing.score >= score => {}
            _ => {
                let candidate = Candidate {
                    ticket_id: hit.ticket_id,
                    number: hit.number.clone(),
                    reason,
                    score,
                };
                best.insert(hit.ticket_id, candidate);
            }
        }
    };
    for hit in &phone {
        offer(hit, "same phone", SAME_PHONE_SCORE);
    }
    for hit in &address {
        offer(hit, "same address and category", SAME_ADDRESS_SCORE);
    }
    // Candidates too old for the index to hold their signature are scored from the store.
    let unscored: Vec<TicketId> = text
        .iter()
        .filter(|t| t.similarity.is_none())
        .map(|t| t.hit.ticket_id)
        .collect();
    let stored: HashMap<TicketId, Signature> = match (&signature, unscored.is_empty()) {
        (Some(_), false) => store.signatures(&unscored).await?.into_iter().collect(),
        _ => HashMap::new(),
    };
    for TextHit {
        hit, similarity, ..
    } in &text
    {
        let score = similarity.or_else(|| {
            let theirs = stored.get(&hit.ticket_id)?;
            signature.as_ref().map(|s| s.similarity(theirs))
        });
        if let Some(score) = score.filter(|s| *s >= SIMILAR_THRESHOLD) {
            offer(hit, "similar text", score);
        }
    }
    let mut out: Vec<Candidate> = best.into_values().collect();
    if let Some(scope) = scope {
        let mut seen = Vec::with_capacity(out.len());
        for candidate in out {
            match store.get_ticket(candidate.ticket_id).await {
                Ok(ticket) if visible(&ticket, &scope) => seen.push(candidate),
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        out = seen;
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.number.cmp(&b.number))
    });
    out.truncate(limit);
    Ok(out)
}

/// Many tickets of one category in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct HotspotRow {
    /// Category path.
    pub category: String,
    /// Region code prefix.
    pub region_code: String,
    /// Tickets in the window.
    pub count: u64,
    /// Tickets of the group in the previous window of the same length.
    pub previous_count: u64,
    /// The newest tickets' ids, at most [`HOTSPOT_IDS`].
    pub ticket_ids: Vec<TicketId>,
    /// The newest tickets, at most [`HOTSPOT_SAMPLES`].
    pub samples: Vec<Ticket>,
    /// Among the newest [`HOTSPOT_IDS`] tickets, groups saying the same thing:
    /// (size, newest ticket of the group), largest first, at most [`HOTSPOT_CLUSTERS`].
    pub clusters: Vec<(u64, Ticket)>,
    /// Creation of the earliest.
    pub first_at: Timestamp,
    /// Creation of the latest.
    pub last_at: Timestamp,
}

impl HotspotRow {
    /// Returns the relative change from the previous window: `(count - previous) /
    /// previous`, dividing by 1 when the previous window had none.
    pub fn growth(&self) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "ticket counts are far below 2^52"
        )]
        let (count, previous) = (self.count as f64, self.previous_count as f64);
        (count - previous) / previous.max(1.0)
    }
}

/// Groups tickets created in `[start, end)` by (category, region prefix of
/// `region_level` digits) and keeps groups of at least `min_count`, largest first,
/// at most [`MAX_HOTSPOTS`], each with its previous-window count, its newest ids and
/// a few samples.
///
/// # Errors
/// Store errors.
pub async fn hotspots(
    store: &dyn Store,
    start: Timestamp,
    end: Timestamp,
    min_count: usize,
    region_level: usize,
) -> Result<Vec<HotspotRow>, ApiError> {
    let query = HotspotQuery {
        start,
        end,
        region_digits: u32::try_from(region_level).unwrap_or(u32::MAX),
        min_count: u64::try_from(min_count).unwrap_or(u64::MAX),
        limit: MAX_HOTSPOTS,
    };
    let mut rows = Vec::new();
    for group in store.hotspot_counts(&query).await? {
        let tickets = store
            .hotspot_tickets(
                &group.category,
                &group.region_prefix,
                start,
                end,
                HOTSPOT_IDS,
            )
            .await?;
        let signatures: Vec<Option<Signature>> = tickets
            .iter()
            .map(|t| Signature::of(&t.title, &t.body))
            .collect();
        let clusters = cluster(&signatures, SIMILAR_THRESHOLD)
            .into_iter()
            .take(HOTSPOT_CLUSTERS)
            .map(|group| (group.len() as u64, tickets[group[0]].clone()))
            .collect();
        rows.push(HotspotRow {
            clusters,
            ticket_ids: tickets.iter().map(|t| t.id).collect(),
            samples: tickets.into_iter().take(HOTSPOT_SAMPLES).collect(),
            category: group.category,
            region_code: group.region_prefix,
            count: group.count,
            previous_count: group.previous_count,
            first_at: group.first_at,
            last_at: group.last_at,
        });
    }
    Ok(rows)
}

/// Computes ranked statistics for `departments` over their parts handed over in
/// `[start, end)` (see `hotline_core::StatsBuilder` for every definition) from the
/// store's per-part statistics rows: sums per department computed by the store,
/// plus the working times of rows written on another calendar, computed here on
/// `calendar`. No ticket projection is read.
///
/// # Errors
/// Store errors.
pub async fn department_stats(
    store: &dyn Store,
    departments: &[Department],
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
    calendar: &dyn Calendar,
) -> Result<Vec<DepartmentStats>, ApiError> {
    let query = StatsQuery {
        departments: departments.iter().map(|d| d.id.clone()).collect(),
        start,
        end,
        now,
        calendar: calendar.identity(),
    };
    let totals = store.department_totals(&query).await?;
    let mut builder = StatsBuilder::new(departments, start, end, now, calendar);
    for sums in &totals.sums {
        builder.add_totals(sums);
    }
    for part in &totals.retime {
        builder.add_times(part);
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(count: u64, previous_count: u64) -> HotspotRow {
        HotspotRow {
            category: "环境保护/噪声污染/施工噪声".to_owned(),
            region_code: "320508".to_owned(),
            count,
            previous_count,
            ticket_ids: Vec::new(),
            samples: Vec::new(),
            clusters: Vec::new(),
            first_at: Timestamp::UNIX_EPOCH,
            last_at: Timestamp::UNIX_EPOCH,
        }
    }

    /// Two tickets of one caller, one with each of two streets: the operator sees
    /// both as duplicates of a third call, each street only its own, and a department
    /// without a part in either sees none.
    #[tokio::test]
    async fn a_department_sees_only_candidates_it_has_a_part_in() {
        use hotline_store::conformance::{
            STREET_A, STREET_B, World, appeal, create_request, dispatch, mins, operator, t0,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let store = hotline_store_sqlite::SqliteStore::open(&dir.path().join("hotline.db"))
            .await
            .expect("open");
        let world = World::new();
        let actor = operator();
        let text = (
            "平江路工地夜间施工噪声扰民",
            "平江路123号旁边的工地每天晚上十一点以后还在打桩施工，噪声很大，周边居民无法休息。",
        );
        let mut ids = Vec::new();
        for lead in [STREET_A, STREET_B] {
            let mut new = appeal(text.0);
            new.body = text.1.to_owned();
            new.citizen.phone = "13900000009".to_owned();
            let created = store
                .create_ticket(create_request(new, t0(), None), &world.ctx(&actor, t0()))
                .await
                .expect("created");
            store
                .apply(
                    created.ticket.id,
                    None,
                    dispatch(lead, &[]),
                    &world.ctx(&actor, t0() + mins(1)),
                )
                .await
                .expect("dispatched");
            ids.push(created.ticket.id);
        }
        let recent = RecentIndex::load(&store, t0()).await.expect("index");
        let probe = Probe {
            phone: "13900000009".to_owned(),
            title: text.0.to_owned(),
            body: text.1.to_owned(),
            ..Probe::default()
        };
        let now = t0() + mins(30);
        let found = |scope: Option<Vec<DepartmentId>>| {
            let (store, recent, probe) = (&store, &recent, &probe);
            async move {
                let mut ids: Vec<TicketId> = find_duplicates(store, recent, probe, scope, now, 10)
                    .await
                    .expect("look-up")
                    .iter()
                    .map(|c| c.ticket_id)
                    .collect();
                ids.sort();
                ids
            }
        };
        let mut both = ids.clone();
        both.sort();
        assert_eq!(found(None).await, both);
        assert_eq!(found(Some(vec![STREET_A.into()])).await, [ids[0]]);
        assert_eq!(found(Some(vec![STREET_B.into()])).await, [ids[1]]);
        assert!(found(Some(Vec::new())).await.is_empty());
        store.close().await;
    }

    #[test]
    fn growth_compares_with_the_previous_window_and_counts_new_groups_from_one() {
        assert!((row(10, 5).growth() - 1.0).abs() < f64::EPSILON);
        assert!((row(5, 10).growth() + 0.5).abs() < f64::EPSILON);
        assert!((row(5, 0).growth() - 5.0).abs() < f64::EPSILON);
        assert!(row(4, 4).growth().abs() < f64::EPSILON);
    }
}
