//! The tamper-evident event log: each ticket's events form a hash chain.
//!
//! An event's hash is SHA-256 over its predecessor's hash and the event's
//! stored JSON (which names the ticket and the sequence number), so editing,
//! removing or reordering any stored event breaks the chain from that event
//! on. Backends compute [`link`] when they append and keep both hashes on the
//! row; [`Verifier`] walks the rows of any backend and names each break.

use std::fmt;

use sha2::{Digest, Sha256};

/// The predecessor hash of a ticket's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Returns the hash of an event: hex SHA-256 of `prev_hash`, a newline, and the event's JSON.
pub fn link(prev_hash: &str, event_json: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(event_json.as_bytes());
    hex::encode(hasher.finalize())
}

/// One stored event as the audit reads it: the row exactly as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Global event id.
    pub id: i64,
    /// The ticket column.
    pub ticket_id: String,
    /// The sequence-number column.
    pub seq: i64,
    /// The stored JSON of the event.
    pub event_json: String,
    /// The stored predecessor hash.
    pub prev_hash: String,
    /// The stored hash.
    pub hash: String,
}

/// The columns of an [`AuditRow`], in the order every backend selects them:
/// id, ticket id, seq, event JSON, predecessor hash, hash.
pub type AuditColumns = (i64, String, i64, String, String, String);

impl From<AuditColumns> for AuditRow {
    fn from((id, ticket_id, seq, event_json, prev_hash, hash): AuditColumns) -> Self {
        AuditRow {
            id,
            ticket_id,
            seq,
            event_json,
            prev_hash,
            hash,
        }
    }
}

/// What is wrong with one event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The ticket.
    pub ticket_id: String,
    /// The event's sequence number.
    pub seq: i64,
    /// The event's global id.
    pub event_id: i64,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ticket {} event {} (id {}): {}",
            self.ticket_id, self.seq, self.event_id, self.problem
        )
    }
}

/// Walks rows in (ticket, seq) order and collects every break.
#[derive(Debug, Default)]
pub struct Verifier {
    /// The ticket being walked, its last seq and hash.
    current: Option<(String, i64, String)>,
    /// Tickets seen.
    pub tickets: u64,
    /// Events seen.
    pub events: u64,
    /// Breaks found, in order.
    pub breaks: Vec<ChainBreak>,
}

impl Verifier {
    /// Checks the next row; rows must come ordered by ticket, then seq.
    pub fn check(&mut self, row: &AuditRow) {
        self.events += 1;
        let (expected_seq, expected_prev) = match &self.current {
            Some((ticket, seq, hash)) if *ticket == row.ticket_id => (seq + 1, hash.clone()),
            _ => {
                self.tickets += 1;
                (1, GENESIS.to_owned())
            }
        };
        let mut problems = Vec::new();
        if row.seq != expected_seq {
            problems.push(format!(
                "sequence {} where {expected_seq} was due (an event is missing)",
                row.seq
            ));
        }
        if row.prev_hash != expected_prev {
            problems.push("predecessor hash does not match the previous event".to_owned());
        }
        if link(&row.prev_hash, &row.event_json) != row.hash {
            problems.push("content does not match its hash (the event was edited)".to_owned());
        }
        match serde_json::from_str::<serde_json::Value>(&row.event_json) {
            Ok(value) => {
                let names_ticket =
                    value.get("ticket_id").and_then(|v| v.as_str()) == Some(row.ticket_id.as_str());
                let names_seq =
                    value.get("seq").and_then(serde_json::Value::as_i64) == Some(row.seq);
                if !names_ticket || !names_seq {
                    problems.push(
                        "row columns disagree with the event's own ticket and sequence".to_owned(),
                    );
                }
            }
            Err(_) => problems.push("content is not valid JSON".to_owned()),
        }
        for problem in problems {
            self.breaks.push(ChainBreak {
                ticket_id: row.ticket_id.clone(),
                seq: row.seq,
                event_id: row.id,
                problem,
            });
        }
        self.current = Some((row.ticket_id.clone(), row.seq, row.hash.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(ticket: &str, texts: &[&str]) -> Vec<AuditRow> {
        let mut prev = GENESIS.to_owned();
        texts
            .iter()
            .zip(1..)
            .map(|(text, seq)| {
                let json = format!(r#"{{"ticket_id":"{ticket}","seq":{seq},"kind":"{text}"}}"#);
                let hash = link(&prev, &json);
                let row = AuditRow {
                    id: seq,
                    ticket_id: ticket.to_owned(),
                    seq,
                    event_json: json,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[AuditRow]) -> Verifier {
        let mut verifier = Verifier::default();
        rows.iter().for_each(|r| verifier.check(r));
        verifier
    }

    #[test]
    fn an_intact_log_passes_and_is_counted() {
        let mut rows = chain("a", &["x", "y", "z"]);
        rows.extend(chain("b", &["x"]));
        let v = verify(&rows);
        assert!(v.breaks.is_empty(), "{:?}", v.breaks);
        assert_eq!((v.tickets, v.events), (2, 4));
    }

    #[test]
    fn an_edit_a_removal_and_a_forged_rehash_are_each_named() {
        let mut edited = chain("a", &["x", "y", "z"]);
        edited[1].event_json = edited[1].event_json.replace('y', "Y");
        let v = verify(&edited);
        assert_eq!(v.breaks.len(), 1, "{:?}", v.breaks);
        assert_eq!((v.breaks[0].ticket_id.as_str(), v.breaks[0].seq), ("a", 2));

        let mut removed = chain("a", &["x", "y", "z"]);
        removed.remove(1);
        let v = verify(&removed);
        assert!(v.breaks.iter().all(|b| b.seq == 3));
        assert!(v.breaks.iter().any(|b| b.problem.contains("missing")));

        // Re-hashing the edited event is caught by its successor.
        let mut forged = chain("a", &["x", "y", "z"]);
        forged[1].event_json = forged[1].event_json.replace('y', "Y");
        forged[1].hash = link(&forged[1].prev_hash, &forged[1].event_json);
        let v = verify(&forged);
        assert_eq!(v.breaks.len(), 1);
        assert_eq!(v.breaks[0].seq, 3);
    }
}
