//! `hotline audit verify` and `hotline check`: walks every ticket's event hash
//! chain and, with `deep`, checks that each stored ticket is what its events
//! replay to and that rows agree with each other (no orphans, indexed deadline
//! columns as the tickets and the calendar in force imply).

use hotline_core::{Calendar, Ticket, TicketId};
use hotline_store::Store;
use hotline_store::chain::{ChainBreak, Verifier};

use crate::app::open_store;
use crate::config::ServerConfig;

/// Rows read per page of the log.
const PAGE: u32 = 1000;

/// What the audit found.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// Tickets whose chains were walked.
    pub tickets: u64,
    /// Events checked.
    pub events: u64,
    /// Every break, in log order.
    pub breaks: Vec<ChainBreak>,
    /// Tickets whose stored projection differs from the replay of their events (deep only).
    pub projection_mismatches: Vec<String>,
    /// Rows that disagree with each other (deep, whole database only).
    pub row_problems: Vec<hotline_store::check::RowProblem>,
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.breaks.is_empty()
            && self.projection_mismatches.is_empty()
            && self.row_problems.is_empty()
    }
}

/// Verifies the chains of the configured database (one ticket's with `ticket`).
///
/// # Errors
/// The database cannot be opened or read.
pub async fn audit(
    config: &ServerConfig,
    ticket: Option<TicketId>,
    deep: bool,
) -> anyhow::Result<AuditReport> {
    let store = open_store(config).await?;
    let report = async {
        let mut report = verify(store.as_ref(), ticket, deep).await?;
        if deep && ticket.is_none() {
            let loaded = crate::settings::load_all(store.as_ref())
                .await
                .map_err(|error| anyhow::anyhow!("cannot load the settings: {error}"))?;
            let calendar: Box<dyn Calendar> = match loaded.calendar {
                Some(calendar) => Box::new(calendar),
                None => Box::new(crate::app::default_calendar(&config.time_zone)),
            };
            report.row_problems = store.check_rows(calendar.as_ref()).await?;
        }
        Ok(report)
    }
    .await;
    store.close().await;
    report
}

/// Verifies the chains of `store`.
///
/// # Errors
/// Store errors.
pub async fn verify(
    store: &dyn Store,
    ticket: Option<TicketId>,
    deep: bool,
) -> anyhow::Result<AuditReport> {
    let mut verifier = Verifier::default();
    let mut mismatches = Vec::new();
    let mut after: Option<(String, i64)> = None;
    let mut current: Option<String> = None;
    loop {
        let rows = store.audit_events(after.clone(), ticket, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = Some((last.ticket_id.clone(), last.seq));
        for row in &rows {
            if deep && current.as_deref() != Some(row.ticket_id.as_str()) {
                if let Some(done) = current.take() {
                    check_projection(store, &done, &mut mismatches).await;
                }
                current = Some(row.ticket_id.clone());
            }
            verifier.check(row);
        }
    }
    if let Some(done) = current {
        check_projection(store, &done, &mut mismatches).await;
    }
    Ok(AuditReport {
        tickets: verifier.tickets,
        events: verifier.events,
        breaks: verifier.breaks,
        projection_mismatches: mismatches,
        row_problems: Vec::new(),
    })
}

/// Compares a ticket's stored projection with the replay of its events.
async fn check_projection(store: &dyn Store, ticket: &str, mismatches: &mut Vec<String>) {
    let Ok(id) = ticket.parse::<TicketId>() else {
        mismatches.push(format!("ticket {ticket}: not a ticket id"));
        return;
    };
    let stored = store.get_ticket(id).await;
    let events = store.timeline(id).await;
    match (stored, events) {
        (Ok(stored), Ok(events)) => {
            let events: Vec<_> = events.into_iter().map(|e| e.event).collect();
            match Ticket::replay(&events) {
                Ok(replayed) if replayed == stored => {}
                Ok(_) => mismatches.push(format!(
                    "ticket {ticket}: stored ticket differs from the replay of its events"
                )),
                Err(error) => {
                    mismatches.push(format!(
                        "ticket {ticket}: its events do not replay: {error}"
                    ));
                }
            }
        }
        (Err(error), _) | (_, Err(error)) => {
            mismatches.push(format!("ticket {ticket}: cannot be read: {error}"));
        }
    }
}
