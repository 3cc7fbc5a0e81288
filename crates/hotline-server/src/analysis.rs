//! Analysis over stored tickets, at the basic level the first server needs:
//! duplicate candidates (same phone, same address and category, near-identical
//! text), hotspots (one category in one region), and per-department statistics
//! (三率, computed by `hotline_core::StatsBuilder` from the tickets read here).
//! All of them scan tickets through `Store::list_tickets` pages; the dedicated
//! queries and indexes come with the analysis issues.

use std::collections::{BTreeMap, HashMap, HashSet};

use hotline_core::{
    Calendar, Department, DepartmentId, DepartmentStats, StatsBuilder, Ticket, TicketId,
    TicketStatus,
};
use hotline_store::{MAX_PAGE_SIZE, PageRequest, Store, TicketFilter};
use jiff::{SignedDuration, Timestamp};

use crate::error::ApiError;

/// How far back duplicates are looked for.
pub const DUPLICATE_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 30);
/// How many recent tickets the text comparison reads.
const RECENT_FOR_TEXT: u32 = 200;
/// Jaccard similarity of character bigrams from which texts count as near-identical.
pub const TEXT_SIMILARITY_THRESHOLD: f64 = 0.6;
/// Score of a same-phone match.
const SAME_PHONE_SCORE: f64 = 0.9;
/// Score of a same-address-and-category match.
const SAME_ADDRESS_SCORE: f64 = 0.8;
/// Most tickets a statistics or hotspot scan reads, to bound one call's cost.
const MAX_SCAN: usize = 200_000;
/// Candidates per page of a duplicate look-up by phone or address.
const MATCH_PAGE: u32 = 50;

/// What to look for duplicates of.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The ticket itself, left out of its own candidates.
    pub exclude: Option<TicketId>,
    /// Citizen phone; empty skips the phone match.
    pub phone: String,
    /// Address; empty skips the address match.
    pub address: String,
    /// Category path; `None` skips the address match.
    pub category: Option<String>,
    /// Title and body.
    pub text: String,
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

/// Returns the distinct character bigrams of a text, ignoring whitespace and punctuation.
pub fn shingles(text: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match chars.as_slice() {
        [] => HashSet::new(),
        [only] => HashSet::from([(*only, *only)]),
        _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
    }
}

/// Returns the Jaccard similarity of two shingle sets (0 when both are empty).
pub fn jaccard(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "set sizes are far below 2^52")]
    let ratio = a.intersection(b).count() as f64 / union as f64;
    ratio
}

/// Returns the text a ticket is compared by.
pub fn ticket_text(ticket: &Ticket) -> String {
    format!("{}\n{}", ticket.title, ticket.body)
}

/// Finds duplicate candidates, best first, at most `limit`.
///
/// # Errors
/// Store errors.
pub async fn find_duplicates(
    store: &dyn Store,
    probe: &Probe,
    scope: Option<Vec<DepartmentId>>,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Candidate>, ApiError> {
    let since = now.checked_sub(DUPLICATE_WINDOW).unwrap_or(Timestamp::MIN);
    let base = TicketFilter {
        created_after: Some(since),
        departments: scope,
        ..TicketFilter::default()
    };
    let mut best: HashMap<TicketId, Candidate> = HashMap::new();
    let mut offer = |ticket: &Ticket, reason: &'static str, score: f64| {
        if Some(ticket.id) == probe.exclude || ticket.status == TicketStatus::Merged {
            return;
        }
        let candidate = Candidate {
            ticket_id: ticket.id,
            number: ticket.number.clone(),
            reason,
            score,
        };
        match best.get(&ticket.id) {
            Some(existing) if existing.score >= score => {}
            _ => {
                best.insert(ticket.id, candidate);
            }
        }
    };

    if !probe.phone.is_empty() {
        let filter = TicketFilter {
            phone: Some(probe.phone.clone()),
            ..base.clone()
        };
        let page = store
            .list_tickets(
                &filter,
                &PageRequest {
                    size: MATCH_PAGE,
                    token: None,
                },
            )
            .await?;
        for ticket in &page.items {
            offer(ticket, "same phone", SAME_PHONE_SCORE);
        }
    }
    if let (false, Some(category)) = (probe.address.is_empty(), &probe.category) {
        let filter = TicketFilter {
            address: Some(probe.address.clone()),
            category_prefix: Some(category.clone()),
            ..base.clone()
        };
        let page = store
            .list_tickets(
                &filter,
                &PageRequest {
                    size: MATCH_PAGE,
                    token: None,
                },
            )
            .await?;
        for ticket in page
            .items
            .iter()
            .filter(|t| t.category.as_ref().is_some_and(|c| &c.path == category))
        {
            offer(ticket, "same address and category", SAME_ADDRESS_SCORE);
        }
    }
    let probe_shingles = shingles(&probe.text);
    if !probe_shingles.is_empty() {
        let page = store
            .list_tickets(
                &base,
                &PageRequest {
                    size: RECENT_FOR_TEXT,
                    token: None,
                },
            )
            .await?;
        for ticket in &page.items {
            let score = jaccard(&probe_shingles, &shingles(&ticket_text(ticket)));
            if score >= TEXT_SIMILARITY_THRESHOLD {
                offer(ticket, "similar text", score);
            }
        }
    }
    let mut out: Vec<Candidate> = best.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.number.cmp(&b.number))
    });
    out.truncate(limit);
    Ok(out)
}

/// Reads every ticket matching `filter`, page by page, up to [`MAX_SCAN`].
async fn scan(
    store: &dyn Store,
    filter: &TicketFilter,
    mut visit: impl FnMut(&Ticket),
) -> Result<(), ApiError> {
    let mut page = PageRequest {
        size: MAX_PAGE_SIZE,
        token: None,
    };
    let mut seen = 0usize;
    loop {
        let result = store.list_tickets(filter, &page).await?;
        seen += result.items.len();
        result.items.iter().for_each(&mut visit);
        match result.next_token {
            Some(token) if seen < MAX_SCAN => page.token = Some(token),
            Some(_) => {
                tracing::warn!(limit = MAX_SCAN, "scan stopped at its limit");
                return Ok(());
            }
            None => return Ok(()),
        }
    }
}

/// Many tickets of one category in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct HotspotRow {
    /// Category path.
    pub category: String,
    /// Region code prefix.
    pub region_code: String,
    /// The tickets, oldest first.
    pub ticket_ids: Vec<TicketId>,
    /// Creation of the earliest.
    pub first_at: Timestamp,
    /// Creation of the latest.
    pub last_at: Timestamp,
}

/// Groups tickets created in `[start, end)` by (category, region prefix of
/// `region_level` digits) and keeps groups of at least `min_count`, largest first.
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
    let filter = TicketFilter {
        created_after: Some(start),
        created_before: Some(end),
        ..TicketFilter::default()
    };
    let mut groups: BTreeMap<(String, String), Vec<(Timestamp, TicketId)>> = BTreeMap::new();
    scan(store, &filter, |ticket| {
        let (Some(category), Some(region)) =
            (&ticket.category, ticket.region_code.get(..region_level))
        else {
            return;
        };
        if ticket.status == TicketStatus::Merged {
            return;
        }
        groups
            .entry((category.path.clone(), region.to_owned()))
            .or_default()
            .push((ticket.created_at, ticket.id));
    })
    .await?;
    Ok(group_hotspots(groups, min_count))
}

fn group_hotspots(
    groups: BTreeMap<(String, String), Vec<(Timestamp, TicketId)>>,
    min_count: usize,
) -> Vec<HotspotRow> {
    let mut rows: Vec<HotspotRow> = groups
        .into_iter()
        .filter(|(_, tickets)| tickets.len() >= min_count.max(1))
        .filter_map(|((category, region_code), mut tickets)| {
            tickets.sort();
            let first_at = tickets.first()?.0;
            let last_at = tickets.last()?.0;
            Some(HotspotRow {
                category,
                region_code,
                ticket_ids: tickets.into_iter().map(|(_, id)| id).collect(),
                first_at,
                last_at,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b.ticket_ids
            .len()
            .cmp(&a.ticket_ids.len())
            .then(a.category.cmp(&b.category))
    });
    rows
}

/// How far before a statistics period tickets are read: one taken in earlier may
/// be dispatched, or re-dispatched after a return, within the period.
pub const STATS_LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 31);

/// Computes ranked statistics for `departments` over their parts handed over in
/// `[start, end)` (see `hotline_core::StatsBuilder` for every definition), reading
/// the tickets they took part in, taken in from [`STATS_LOOKBACK`] before `start`.
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
    let filter = TicketFilter {
        created_after: Some(start.checked_sub(STATS_LOOKBACK).unwrap_or(Timestamp::MIN)),
        created_before: Some(end),
        departments: Some(departments.iter().map(|d| d.id.clone()).collect()),
        ..TicketFilter::default()
    };
    let mut builder = StatsBuilder::new(departments, start, end, now, calendar);
    scan(store, &filter, |ticket| builder.add(ticket)).await?;
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_identical_chinese_texts_pass_the_threshold_and_others_do_not() {
        let a = shingles("小区楼下餐馆油烟扰民，晚上十点以后还在营业");
        let b = shingles("小区楼下餐馆油烟扰民晚上十点以后还在营业！");
        let c = shingles("公交线路调整后老人出行不便");
        assert!(jaccard(&a, &b) >= TEXT_SIMILARITY_THRESHOLD);
        assert!(jaccard(&a, &c) < 0.1);
        assert!((jaccard(&HashSet::new(), &HashSet::new())).abs() < f64::EPSILON);
    }

    #[test]
    fn hotspots_keep_groups_at_the_threshold_largest_first() {
        let t = |s: i64| Timestamp::from_second(s).expect("valid");
        let id = || TicketId::from_uuid(uuid::Uuid::now_v7());
        let mut groups = BTreeMap::new();
        groups.insert(
            ("a".to_owned(), "320506".to_owned()),
            vec![(t(3), id()), (t(1), id())],
        );
        groups.insert(
            ("b".to_owned(), "320506".to_owned()),
            vec![(t(1), id()), (t(2), id()), (t(5), id())],
        );
        groups.insert(("c".to_owned(), "320508".to_owned()), vec![(t(1), id())]);
        let rows = group_hotspots(groups, 2);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].category, "b");
        assert_eq!(rows[0].first_at, t(1));
        assert_eq!(rows[0].last_at, t(5));
        assert_eq!(rows[1].ticket_ids.len(), 2);
    }
}
