//! Bulk loading of a history built in memory (`hotline seed`): what every
//! backend's `bulk_load` shares.
//!
//! A bulk load skips the per-command path of [`Store`](crate::Store) (one
//! transaction per command, one round trip per row) and writes many tickets at
//! once, but the rows it writes are the ones that path would have written: the
//! projection with its derived columns, the events with their hash chain
//! ([`crate::chain::link`]), the assignment and statistics rows, the text fingerprint, and the
//! ticket-number counters, so `hotline audit verify` and every query see an
//! ordinary history.

use hotline_core::{Event, Ticket};

use crate::{StoreError, StoreResult, chain};

/// A ticket and every event that made it, oldest first: the projection must be
/// the replay of the events.
#[derive(Debug, Clone)]
pub struct History {
    /// The ticket after its last event.
    pub ticket: Ticket,
    /// Its whole timeline, from seq 1.
    pub events: Vec<Event>,
}

/// One event ready for its row: the stored JSON and both hashes of the chain.
#[derive(Debug, Clone)]
pub struct ChainedEvent<'a> {
    /// The event.
    pub event: &'a Event,
    /// Its stored JSON (what the hash covers).
    pub json: String,
    /// The predecessor's hash ([`chain::GENESIS`] for the first event).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl History {
    /// Checks that the events belong to the ticket, run from seq 1 without gaps
    /// and end at the ticket's version, then serializes and chains them.
    ///
    /// # Errors
    /// [`StoreError::Internal`] for a history that breaks one of those rules (a bug
    /// in whoever built it), or an event that cannot be serialized.
    pub fn chained(&self) -> StoreResult<Vec<ChainedEvent<'_>>> {
        let broken = |what: String| {
            StoreError::Internal(anyhow::anyhow!(
                "bulk history of ticket {}: {what}",
                self.ticket.id
            ))
        };
        let last = self
            .events
            .last()
            .ok_or_else(|| broken("no events".to_owned()))?;
        if last.version != self.ticket.version {
            return Err(broken(format!(
                "last event is version {}, the ticket {}",
                last.version, self.ticket.version
            )));
        }
        let mut prev_hash = chain::GENESIS.to_owned();
        let mut chained = Vec::with_capacity(self.events.len());
        for (expected_seq, event) in (1_u64..).zip(&self.events) {
            if event.ticket_id != self.ticket.id || event.seq != expected_seq {
                return Err(broken(format!(
                    "event {} of ticket {} where seq {expected_seq} was due",
                    event.seq, event.ticket_id
                )));
            }
            let json = serde_json::to_string(event).map_err(|e| {
                StoreError::Internal(anyhow::Error::new(e).context("encoding an event"))
            })?;
            let hash = chain::link(&prev_hash, &json);
            chained.push(ChainedEvent {
                event,
                json,
                prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                hash,
            });
        }
        Ok(chained)
    }
}

/// The highest sequence number per (center, local day) among the tickets'
/// numbers (`{center}-{yyyymmdd}-{seq}`), so that a bulk load can raise the
/// counters creates draw from past the numbers it used.
///
/// # Errors
/// [`StoreError::Internal`] for a number not of that form.
pub fn number_counters(tickets: &[History]) -> StoreResult<Vec<(String, String, i64)>> {
    let mut counters: std::collections::BTreeMap<(String, String), i64> =
        std::collections::BTreeMap::new();
    for history in tickets {
        let number = &history.ticket.number;
        let mut parts = number.rsplitn(3, '-');
        let parsed = match (parts.next(), parts.next(), parts.next()) {
            (Some(seq), Some(day), Some(center)) => seq
                .parse::<i64>()
                .ok()
                .map(|seq| (center.to_owned(), day.to_owned(), seq)),
            _ => None,
        };
        let (center, day, seq) = parsed.ok_or_else(|| {
            StoreError::Internal(anyhow::anyhow!(
                "ticket number {number:?} is not CENTER-YYYYMMDD-SEQ"
            ))
        })?;
        let slot = counters.entry((center, day)).or_insert(seq);
        *slot = (*slot).max(seq);
    }
    Ok(counters
        .into_iter()
        .map(|((center, day), seq)| (center, day, seq))
        .collect())
}
