//! Bulk loading (`hotline seed`): many tickets with their histories in one
//! write transaction, one fsync for the lot, each row through a prepared
//! statement that sqlx keeps cached on the write connection.

use hotline_core::Calendar;
use hotline_store::StoreResult;
use hotline_store::bulk::{History, number_counters};

use crate::codec::{int, nanos};
use crate::error::db;
use crate::{SqliteStore, analysis, commit, insert_tickets, write_assignments};

impl SqliteStore {
    /// Writes `tickets`, each with its whole history, in one transaction: the
    /// ticket rows (deadline, warning light and next check derived on
    /// `calendar`, as [`Store`](hotline_store::Store) writes them), their
    /// events with the hash chain, assignments, statistics rows (times on
    /// `calendar`) and text signatures, and raises
    /// the ticket-number counters past the numbers used. For seeding benchmark
    /// and demo databases; returns the number of events written.
    ///
    /// # Errors
    /// [`hotline_store::StoreError::Internal`] for a history that is not
    /// consistent or a ticket id or number that exists already (nothing is
    /// written); [`hotline_store::StoreError::Unavailable`].
    pub async fn bulk_load(
        &self,
        tickets: &[History],
        calendar: &dyn Calendar,
    ) -> StoreResult<u64> {
        let counters = number_counters(tickets)?;
        let mut events_written = 0_u64;
        let mut tx = self.begin_write().await?;
        for history in tickets {
            let ticket = &history.ticket;
            let chained = history.chained()?;
            let id = ticket.id.to_string();
            insert_tickets(
                &mut tx,
                &[(ticket, ticket.next_check_at(calendar).map(nanos))],
            )
            .await?;
            for event in chained {
                let e = event.event;
                sqlx::query(
                    "insert into events (ticket_id, seq, version, at, action, actor_id, \
                     actor_role, event, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(id.clone())
                .bind(int(e.seq, "event seq")?)
                .bind(int(e.version, "event version")?)
                .bind(nanos(e.at))
                .bind(e.kind.action())
                .bind(e.actor.id.clone())
                .bind(e.actor.role.as_str())
                .bind(event.json)
                .bind(event.prev_hash)
                .bind(event.hash)
                .execute(&mut *tx)
                .await
                .map_err(db("bulk-inserting an event"))?;
                events_written += 1;
            }
            write_assignments(&mut tx, ticket, calendar).await?;
            let signature = hotline_core::similar::Signature::of(&ticket.title, &ticket.body);
            analysis::write_signature(&mut tx, &id, signature.as_ref()).await?;
        }
        for (center, day, seq) in counters {
            sqlx::query(
                "insert into ticket_numbers (center, day, last_seq) values (?, ?, ?) \
                 on conflict (center, day) do update set last_seq = max(last_seq, excluded.last_seq)",
            )
            .bind(center)
            .bind(day)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db("raising the ticket-number counters"))?;
        }
        commit(tx).await?;
        Ok(events_written)
    }
}
