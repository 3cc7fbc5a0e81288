//! The sweeper: the background task that turns deadlines into warning lights
//! and closes replied tickets nobody will call back.
//!
//! It never scans tickets. The store keeps each ticket's next check in an
//! indexed column (the durable timer, rewritten with every command), and
//! [`Sweeper::run_once`] takes only the tickets whose check has come, in
//! batches, until none is left: each gets its missed warning levels in order
//! (one event per level, one command per ticket) or its automatic close, or
//! just a later next check. Every change is published to the notification bus,
//! so department watchers hear WARNING, OVERDUE and SERIOUSLY_OVERDUE as they
//! happen. Sweeping is idempotent: a ticket swept twice at one instant changes
//! once, so a sweep after a crash, or by a second replica, escalates nothing twice.
//!
//! The task started by `App::serve` runs [`Sweeper::run_once`] every
//! `ServerConfig::sweep_interval` with the wall clock, and stops with the server.
//! Tests call `run_once` with the instants they choose.

use std::sync::Arc;
use std::time::Duration;

use hotline_core::{Actor, CloseReason, EventKind};
use hotline_store::{Store, StoreError};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::state::Shared;

/// Tickets taken per store transaction: big enough to drain a burst quickly,
/// small enough that commands are not held up behind a batch for long.
const BATCH: u32 = 256;

/// What one [`Sweeper::run_once`] did. Counts only: no ticket data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Tickets whose next check had come, each swept once.
    pub processed: usize,
    /// Events recorded (warning changes and closes).
    pub events: usize,
    /// Warning changes among them.
    pub warnings: usize,
    /// Tickets closed because no callback was wanted or its deadline passed.
    pub closed: usize,
}

/// Sweeps due tickets through the store and publishes what changed.
#[derive(Debug, Clone)]
pub struct Sweeper {
    shared: Arc<Shared>,
}

impl Sweeper {
    /// Builds the sweeper of a running server.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Builds a sweeper over a store on its own, with the store's departments,
    /// policy and calendar (24/7 when none was put): for tests and tools that
    /// drive it with their own clock. (Nobody watches its notifications.)
    ///
    /// # Errors
    /// Store errors, or stored settings that do not parse.
    pub async fn open(store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let shared = Shared::load(
            store,
            "HL".to_owned(),
            TimeZone::UTC,
            "UTC".to_owned(),
            1.0,
            Arc::new(hotline_core::AlwaysOpen),
            // Nobody calls in through this state: a throwaway secret will do.
            crate::auth::KeyHasher::random()?,
        )
        .await?;
        Ok(Self::new(Arc::new(shared)))
    }

    /// Sweeps every ticket whose next check is at or before `now`, as the system
    /// actor at `now`, batch after batch until none is left (or the server shuts
    /// down).
    ///
    /// # Errors
    /// The first store error; batches committed before it stay committed, and the
    /// next run picks up the rest.
    pub async fn run_once(&self, now: Timestamp) -> Result<SweepReport, StoreError> {
        let snapshot = self.shared.snapshot();
        let actor = Actor::system();
        let ctx = self.shared.context(now, &actor, &snapshot);
        let mut report = SweepReport::default();
        // Most ticks find nothing due: a read on the timer index says so without
        // taking the store's write lock.
        if self.shared.store.due_for_sweep(now, 1).await?.is_empty() {
            return Ok(report);
        }
        loop {
            let batch = self.shared.store.sweep_due(&ctx, BATCH).await?;
            report.processed += batch.swept;
            for applied in &batch.applied {
                for stored in &applied.events {
                    report.events += 1;
                    match stored.event.kind {
                        EventKind::WarningChanged { .. } => report.warnings += 1,
                        EventKind::Closed {
                            reason: CloseReason::NoCallback,
                        } => report.closed += 1,
                        _ => {}
                    }
                }
                self.shared.publish(&applied.events, &applied.ticket);
            }
            // A short batch took everything due: every ticket taken left the due work.
            // A server shutting down stops between batches; the rest stays due.
            if batch.swept < BATCH as usize || *self.shared.shutdown.borrow() {
                return Ok(report);
            }
        }
    }

    /// Sweeps with the wall clock every `interval` until the server shuts down.
    pub(crate) async fn run(self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(interval_ms = interval.as_millis(), "sweeper started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = ticks.tick() => {}
            }
            match self.run_once(Timestamp::now()).await {
                Ok(report) if report.processed > 0 => tracing::info!(
                    processed = report.processed,
                    events = report.events,
                    warnings = report.warnings,
                    closed = report.closed,
                    "sweep done"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "sweep failed, retrying next tick"),
            }
        }
        tracing::info!("sweeper stopped");
    }
}
