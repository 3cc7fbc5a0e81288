//! The ticket gauges: open work by status, overdue sign and reply deadlines by
//! lead department, and the sweeper's lag (now minus the oldest check that is
//! due and not yet swept; near zero while the sweeper keeps up). A background
//! task recounts them from the store every `metrics_interval`, so every replica
//! reports the same figures; the exporter reads the last count.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hotline_core::TicketStatus;
use hotline_store::Store;
use jiff::Timestamp;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableGauge};
use tokio::sync::watch;

/// The last count. Every status and every department is reported, at zero
/// when it has no ticket, so a department that clears its backlog drops to 0
/// instead of vanishing with its last value frozen in the collector.
#[derive(Debug, Default)]
struct Snapshot {
    by_status: BTreeMap<String, u64>,
    overdue_by_department: BTreeMap<String, u64>,
    sweeper_lag_seconds: f64,
}

/// What the gauges report, as last counted.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeReading {
    /// Tickets per status, every status, by name.
    pub by_status: Vec<(String, u64)>,
    /// Overdue tickets per department, every department, by id.
    pub overdue_by_department: Vec<(String, u64)>,
    /// Now minus the oldest due check not yet swept, in seconds.
    pub sweeper_lag_seconds: f64,
}

/// The registered gauges; they report while this lives.
#[derive(Debug)]
pub struct Gauges {
    snapshot: Arc<Mutex<Snapshot>>,
    _tickets: ObservableGauge<u64>,
    _overdue: ObservableGauge<u64>,
    _lag: ObservableGauge<f64>,
}

impl Gauges {
    /// Registers the gauges on `meter`; they report nothing until [`Gauges::refresh`].
    pub fn new(meter: &Meter) -> Self {
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let read = Arc::clone(&snapshot);
        let tickets = meter
            .u64_observable_gauge("hotline.tickets")
            .with_description("Tickets by status")
            .with_callback(move |gauge| {
                let snapshot = read.lock().unwrap_or_else(PoisonError::into_inner);
                for (status, n) in &snapshot.by_status {
                    gauge.observe(*n, &[KeyValue::new("status", status.clone())]);
                }
            })
            .build();
        let read = Arc::clone(&snapshot);
        let overdue = meter
            .u64_observable_gauge("hotline.tickets.overdue")
            .with_description("Tickets past their sign or reply deadline, by lead department")
            .with_callback(move |gauge| {
                let snapshot = read.lock().unwrap_or_else(PoisonError::into_inner);
                for (department, n) in &snapshot.overdue_by_department {
                    gauge.observe(*n, &[KeyValue::new("department", department.clone())]);
                }
            })
            .build();
        let read = Arc::clone(&snapshot);
        let lag = meter
            .f64_observable_gauge("hotline.sweeper.lag")
            .with_unit("s")
            .with_description("Now minus the oldest due deadline check not yet swept")
            .with_callback(move |gauge| {
                let snapshot = read.lock().unwrap_or_else(PoisonError::into_inner);
                gauge.observe(snapshot.sweeper_lag_seconds, &[]);
            })
            .build();
        Self {
            snapshot,
            _tickets: tickets,
            _overdue: overdue,
            _lag: lag,
        }
    }

    /// Recounts from the store at `now`.
    ///
    /// # Errors
    /// The store's; the previous count stays reported.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> hotline_store::StoreResult<()> {
        let counts = store.ticket_counts(now).await?;
        let oldest = store.due_for_sweep(now, 1).await?;
        let departments = store.list_departments().await?;
        let lag = oldest
            .first()
            .map(|due| now.duration_since(due.next_check_at).as_secs_f64().max(0.0))
            .unwrap_or(0.0);
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        for status in TicketStatus::ALL {
            snapshot.by_status.insert(status.as_str().to_owned(), 0);
        }
        for (status, n) in counts.by_status {
            snapshot.by_status.insert(status.as_str().to_owned(), n);
        }
        for n in snapshot.overdue_by_department.values_mut() {
            *n = 0;
        }
        for department in departments {
            snapshot
                .overdue_by_department
                .insert(department.id.as_str().to_owned(), 0);
        }
        for (department, n) in counts.overdue_by_department {
            snapshot
                .overdue_by_department
                .insert(department.as_str().to_owned(), n);
        }
        snapshot.sweeper_lag_seconds = lag;
        Ok(())
    }

    /// Recounts every `interval` until `shutdown` turns true.
    pub async fn run(
        self,
        store: Arc<dyn Store>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            if let Err(error) = self.refresh(store.as_ref(), Timestamp::now()).await {
                tracing::warn!(error = %error, "cannot recount the ticket gauges");
            }
        }
    }

    /// Returns the last count.
    pub fn last(&self) -> GaugeReading {
        let snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        GaugeReading {
            by_status: snapshot.by_status.clone().into_iter().collect(),
            overdue_by_department: snapshot.overdue_by_department.clone().into_iter().collect(),
            sweeper_lag_seconds: snapshot.sweeper_lag_seconds,
        }
    }
}
