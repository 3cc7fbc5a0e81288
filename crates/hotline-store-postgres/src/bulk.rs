//! Bulk loading (`hotline seed`): many tickets with their histories in one
//! transaction, each table streamed with `COPY ... FROM STDIN` in text format
//! instead of one `insert` per row.

use std::fmt::Write as _;

use hotline_core::Calendar;
use hotline_core::similar::Signature;
use hotline_store::StoreResult;
use hotline_store::bulk::{History, number_counters};
use sqlx::PgConnection;

use crate::codec::{TicketColumns, int, nanos};
use crate::error::db;
use crate::{PgStore, commit};

/// One COPY text-format row being written: fields separated by tabs, escaped.
#[derive(Debug, Default)]
pub(crate) struct CopyBuf {
    data: Vec<u8>,
    /// Whether the current row has a field yet (a tab goes before the next one).
    started: bool,
    rows: u64,
}

impl CopyBuf {
    pub(crate) fn sep(&mut self) {
        if self.started {
            self.data.push(b'\t');
        }
        self.started = true;
    }

    /// A text field; backslash, tab, newline and carriage return are escaped.
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.sep();
        for &byte in value.as_bytes() {
            match byte {
                b'\\' => self.data.extend_from_slice(b"\\\\"),
                b'\t' => self.data.extend_from_slice(b"\\t"),
                b'\n' => self.data.extend_from_slice(b"\\n"),
                b'\r' => self.data.extend_from_slice(b"\\r"),
                other => self.data.push(other),
            }
        }
        self
    }

    pub(crate) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        self.data.extend_from_slice(value.to_string().as_bytes());
        self
    }

    pub(crate) fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    /// A bytea field in hex form (`\x...`, its backslash escaped for COPY).
    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.sep();
        let mut hex = String::with_capacity(3 + 2 * value.len());
        hex.push_str("\\\\x");
        for byte in value {
            let _ = write!(hex, "{byte:02x}");
        }
        self.data.extend_from_slice(hex.as_bytes());
        self
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.sep();
        self.data.extend_from_slice(b"\\N");
        self
    }

    pub(crate) fn end_row(&mut self) {
        self.data.push(b'\n');
        self.started = false;
        self.rows += 1;
    }
}

/// Streams `buf` into `statement` (a `copy ... from stdin`).
async fn copy(conn: &mut PgConnection, statement: &str, buf: CopyBuf) -> StoreResult<()> {
    if buf.rows == 0 {
        return Ok(());
    }
    let mut copy = conn
        .copy_in_raw(statement)
        .await
        .map_err(db("starting a bulk copy"))?;
    copy.send(buf.data)
        .await
        .map_err(db("sending a bulk copy"))?;
    copy.finish().await.map_err(db("finishing a bulk copy"))?;
    Ok(())
}

impl PgStore {
    /// Refreshes the planner's statistics of every table, as a bulk load should end:
    /// until autovacuum gets to them, the planner guesses, and may read a month of
    /// statistics rows where the few open parts not yet overdue would do.
    ///
    /// # Errors
    /// [`hotline_store::StoreError::Unavailable`].
    pub async fn analyze(&self) -> StoreResult<()> {
        sqlx::query("analyze")
            .execute(&self.pool)
            .await
            .map_err(db("refreshing the planner's statistics"))?;
        Ok(())
    }

    /// Writes `tickets`, each with its whole history, in one transaction: the
    /// ticket rows (deadline, warning light and next check derived on
    /// `calendar`, as [`Store`](hotline_store::Store) writes them), their
    /// events with the hash chain, assignments, statistics rows (times on
    /// `calendar`) and text fingerprints, and raises
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
        let mut ticket_rows = CopyBuf::default();
        let mut event_rows = CopyBuf::default();
        let mut assignment_rows = CopyBuf::default();
        let mut signature_rows = CopyBuf::default();
        let mut stats_rows = CopyBuf::default();
        let mut stats_columns = Vec::new();
        for history in tickets {
            let ticket = &history.ticket;
            let c = TicketColumns::of(ticket, calendar)?;
            let id = c.id.to_string();
            ticket_rows
                .text(&id)
                .text(&c.number)
                .text(c.status)
                .int(c.version)
                .opt_text(c.lead_department_id.as_deref())
                .text(&c.region_code)
                .opt_text(c.category_path.as_deref())
                .text(&c.phone)
                .text(&c.address)
                .text(&c.title)
                .text(&c.body)
                .int(c.created_at)
                .int(c.updated_at)
                .opt_text(c.deadline_kind)
                .opt_int(c.deadline_at)
                .text(c.warning_level)
                .opt_int(c.next_check_at)
                .text(&c.projection)
                .end_row();
            for event in history.chained()? {
                let e = event.event;
                event_rows
                    .text(&id)
                    .int(int(e.seq, "event seq")?)
                    .int(int(e.version, "event version")?)
                    .int(nanos(e.at))
                    .text(e.kind.action())
                    .text(&e.actor.id)
                    .text(e.actor.role.as_str())
                    .text(&event.json)
                    .text(&event.prev_hash)
                    .text(&event.hash)
                    .end_row();
            }
            for (position, a) in (0_i64..).zip(&ticket.assignments) {
                assignment_rows
                    .text(&id)
                    .int(position)
                    .text(a.department_id.as_str())
                    .text(a.role.as_str())
                    .text(a.status.as_str())
                    .end_row();
            }
            crate::stats::copy_rows(&mut stats_rows, ticket, calendar, &mut stats_columns);
            let signature = Signature::of(&ticket.title, &ticket.body);
            match &signature {
                Some(s) => signature_rows.text(&id).bytes(&s.to_bytes()).end_row(),
                None => signature_rows.text(&id).null().end_row(),
            }
        }
        let counters = number_counters(tickets)?;
        let events = event_rows.rows;

        let mut tx = self.begin().await?;
        // The day rows before the event-log lock, as every writer takes them.
        let days = crate::stats::day_changes_of(&stats_columns);
        crate::stats::add_to_days(&mut tx, &days).await?;
        // Event ids are handed out in commit order, as for every append.
        sqlx::query("select id from event_append_lock for update")
            .execute(&mut *tx)
            .await
            .map_err(db("locking the event log"))?;
        let conn: &mut PgConnection = &mut tx;
        copy(
            conn,
            "copy tickets (id, number, status, version, lead_department_id, region_code, \
             category_path, phone, address, title, body, created_at, updated_at, deadline_kind, \
             deadline_at, warning_level, next_check_at, projection) from stdin",
            ticket_rows,
        )
        .await?;
        copy(
            conn,
            "copy events (ticket_id, seq, version, at, action, actor_id, actor_role, event, \
             prev_hash, hash) from stdin",
            event_rows,
        )
        .await?;
        copy(
            conn,
            "copy assignments (ticket_id, position, department_id, role, status) from stdin",
            assignment_rows,
        )
        .await?;
        copy(conn, crate::stats::COPY_STATEMENT, stats_rows).await?;
        copy(
            conn,
            "copy ticket_signatures (ticket_id, signature) from stdin",
            signature_rows,
        )
        .await?;
        let (centers, days, seqs): (Vec<String>, Vec<String>, Vec<i64>) =
            counters.into_iter().fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |(mut c, mut d, mut s), (center, day, seq)| {
                    c.push(center);
                    d.push(day);
                    s.push(seq);
                    (c, d, s)
                },
            );
        sqlx::query(
            "insert into ticket_numbers (center, day, last_seq) \
             select * from unnest($1::text[], $2::text[], $3::bigint[]) \
             on conflict (center, day) \
             do update set last_seq = greatest(ticket_numbers.last_seq, excluded.last_seq)",
        )
        .bind(centers)
        .bind(days)
        .bind(seqs)
        .execute(&mut *tx)
        .await
        .map_err(db("raising the ticket-number counters"))?;
        commit(tx).await?;
        Ok(events)
    }
}
