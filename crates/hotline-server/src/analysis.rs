//! Analysis over stored tickets, at the basic level the first server needs:
//! duplicate candidates (same phone, same address and category, near-identical
//! text), hotspots (one category in one region), and per-department statistics
//! (三率). All of them scan tickets through `Store::list_tickets` pages; the
//! dedicated queries and indexes come with the analysis issues.

use std::collections::{BTreeMap, HashMap, HashSet};

use hotline_core::{
    AssignmentRole, AssignmentStatus, DeadlineKind, Department, DepartmentId, Satisfaction,
    SupervisionLevel, Ticket, TicketId, TicketStatus,
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

/// One department's counts for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    /// The department.
    pub department_id: DepartmentId,
    /// Its name.
    pub department_name: String,
    /// Lead and delegate assignments handed to it.
    pub dispatched: i64,
    /// Of those, signed by their sign_due.
    pub signed_on_time: i64,
    /// Callbacks reaching the citizen on its tickets as lead, rating-exempt excluded.
    pub callbacks: i64,
    /// Of those, resolved.
    pub resolved: i64,
    /// Of those, satisfied or basically satisfied.
    pub satisfied: i64,
    /// Replies it gave.
    pub replied: i64,
    /// Of those, by the reply_due of its assignment.
    pub replied_on_time: i64,
    /// Return requests: approved, rejected or pending.
    pub returns: i64,
    /// Extension requests on its tickets as lead.
    pub extensions: i64,
    /// Its running sign or reply deadlines past due now.
    pub overdue: i64,
    /// Sum of dispatch-to-reply seconds over replied tickets it leads.
    pub handling_seconds: i64,
    /// How many tickets that sum covers.
    pub handled: i64,
    /// 催办 received.
    pub urged: i64,
    /// 督办 and 领导督办 received.
    pub supervised: i64,
    /// Position by satisfaction rate, then response rate, from 1.
    pub rank: i32,
}

/// Returns `n / d`, or 0 when `d` is 0.
pub fn rate(n: i64, d: i64) -> f64 {
    if d == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let ratio = n as f64 / d as f64;
    ratio
}

impl StatsRow {
    /// Returns a row of zeros for a department.
    pub fn new(department_id: DepartmentId, department_name: String) -> Self {
        StatsRow {
            department_id,
            department_name,
            dispatched: 0,
            signed_on_time: 0,
            callbacks: 0,
            resolved: 0,
            satisfied: 0,
            replied: 0,
            replied_on_time: 0,
            returns: 0,
            extensions: 0,
            overdue: 0,
            handling_seconds: 0,
            handled: 0,
            urged: 0,
            supervised: 0,
            rank: 0,
        }
    }

    /// Response rate: signed on time / dispatched.
    pub fn response_rate(&self) -> f64 {
        rate(self.signed_on_time, self.dispatched)
    }

    /// Satisfaction rate: satisfied / callbacks.
    pub fn satisfaction_rate(&self) -> f64 {
        rate(self.satisfied, self.callbacks)
    }

    /// Mean dispatch-to-reply time in seconds.
    pub fn mean_handling_seconds(&self) -> i64 {
        if self.handled == 0 {
            0
        } else {
            self.handling_seconds / self.handled
        }
    }

    /// Adds one ticket's contribution to this department.
    fn count(&mut self, ticket: &Ticket, now: Timestamp) {
        let me = &self.department_id;
        for a in ticket.assignments.iter().filter(|a| &a.department_id == me) {
            if matches!(a.role, AssignmentRole::Lead | AssignmentRole::Delegate) {
                self.dispatched += 1;
                if a.signed_at.is_some_and(|at| at <= a.sign_due) {
                    self.signed_on_time += 1;
                }
                if a.status == AssignmentStatus::Returned {
                    self.returns += 1;
                }
            }
        }
        if let Some(reply) = ticket.reply.as_ref().filter(|r| &r.department_id == me) {
            self.replied += 1;
            let due = ticket
                .active_assignment(me)
                .map(|a| a.reply_due)
                .or(ticket.reply_due);
            if due.is_some_and(|due| reply.replied_at <= due) {
                self.replied_on_time += 1;
            }
        }
        if ticket
            .pending_return
            .as_ref()
            .is_some_and(|p| &p.department_id == me)
        {
            self.returns += 1;
        }
        if ticket.lead_department_id.as_ref() != Some(me) {
            return;
        }
        self.returns += i64::from(ticket.rejected_return_count);
        self.extensions += i64::from(ticket.extension_count);
        self.urged += i64::from(ticket.urge_count);
        if ticket.supervision_level >= Some(SupervisionLevel::Supervise) {
            self.supervised += 1;
        }
        if let Some(callback) = ticket
            .callback
            .as_ref()
            .filter(|c| c.contacted && !ticket.rating_exempt)
        {
            self.callbacks += 1;
            self.resolved += i64::from(callback.resolved);
            self.satisfied += i64::from(matches!(
                callback.satisfaction,
                Some(Satisfaction::Satisfied | Satisfaction::BasicallySatisfied)
            ));
        }
        if let Some((kind, due)) = ticket.running_deadline()
            && matches!(kind, DeadlineKind::Sign | DeadlineKind::Reply)
            && due < now
        {
            self.overdue += 1;
        }
        if let (Some(reply), Some(lead)) = (&ticket.reply, ticket.lead_assignment()) {
            self.handling_seconds += reply
                .replied_at
                .duration_since(lead.assigned_at)
                .as_secs()
                .max(0);
            self.handled += 1;
        }
    }
}

/// Computes statistics for `departments` over tickets created in `[start, end)`, ranked.
///
/// # Errors
/// Store errors.
pub async fn department_stats(
    store: &dyn Store,
    departments: &[Department],
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
) -> Result<Vec<StatsRow>, ApiError> {
    let mut rows: Vec<StatsRow> = departments
        .iter()
        .map(|d| StatsRow::new(d.id.clone(), d.name.clone()))
        .collect();
    let filter = TicketFilter {
        created_after: Some(start),
        created_before: Some(end),
        departments: Some(departments.iter().map(|d| d.id.clone()).collect()),
        ..TicketFilter::default()
    };
    scan(store, &filter, |ticket| {
        for row in &mut rows {
            row.count(ticket, now);
        }
    })
    .await?;
    rank(&mut rows);
    Ok(rows)
}

fn rank(rows: &mut [StatsRow]) {
    rows.sort_by(|a, b| {
        b.satisfaction_rate()
            .total_cmp(&a.satisfaction_rate())
            .then(b.response_rate().total_cmp(&a.response_rate()))
            .then(a.department_id.cmp(&b.department_id))
    });
    for (i, row) in rows.iter_mut().enumerate() {
        row.rank = i32::try_from(i + 1).unwrap_or(i32::MAX);
    }
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

    #[test]
    fn ranking_prefers_satisfaction_then_response() {
        let row = |id: &str, satisfied, callbacks, signed, dispatched| StatsRow {
            satisfied,
            callbacks,
            signed_on_time: signed,
            dispatched,
            ..StatsRow::new(DepartmentId::new(id), String::new())
        };
        let mut rows = vec![
            row("a", 1, 2, 1, 1),
            row("b", 2, 2, 0, 1),
            row("c", 1, 2, 0, 1),
        ];
        rank(&mut rows);
        let order: Vec<_> = rows
            .iter()
            .map(|r| (r.department_id.as_str(), r.rank))
            .collect();
        assert_eq!(order, [("b", 1), ("a", 2), ("c", 3)]);
        assert!((rate(1, 0)).abs() < f64::EPSILON);
    }
}
