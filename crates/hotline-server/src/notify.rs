//! WatchAssignments: a department's stream of notifications.
//!
//! Every committed command is published on an in-process bus (a
//! `tokio::sync::broadcast` of event + ticket). A watcher first replays what it
//! missed from the store (`Store::events_after`, when the client passes
//! `after_event_id`), then follows the bus, skipping ids it already sent. A
//! watcher that falls too far behind the bus (lagged) reads the gap from the
//! store. Streams end when the server shuts down or the client goes away.
//!
//! Cross-replica delivery (Redis) is a later issue; the bus is the seam.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use hotline_core::{DepartmentId, EventKind, Ticket, TicketId};
use hotline_proto::v1 as pb;
use hotline_store::{StoreError, StoredEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::convert::timestamp_to_proto;
use crate::error::ApiError;
use crate::state::{Principal, Shared};

/// Events read from the store per replay batch.
const REPLAY_BATCH: u32 = 256;
/// Notifications buffered per watcher before the sender waits for the client.
const STREAM_BUFFER: usize = 64;

/// The stream handed to tonic.
pub type NotificationStream = ReceiverStream<Result<pb::AssignmentNotification, Status>>;

/// Who watches what.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The caller, for the PII view of tickets.
    pub principal: Principal,
    /// The watched department and every department below it.
    pub departments: Vec<DepartmentId>,
    /// Replay events after this global id first; `None` starts with new events.
    pub after_event_id: Option<i64>,
}

/// Starts a watcher task and returns its stream.
pub fn watch(shared: Arc<Shared>, watch: Watch) -> NotificationStream {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    // Subscribe before replaying so nothing committed during the replay is missed.
    let live = shared.bus.subscribe();
    let shutdown = shared.shutdown.subscribe();
    tokio::spawn(async move {
        let mut watcher = Watcher {
            shared,
            watch,
            tx,
            last_sent: 0,
        };
        if let Err(error) = watcher.run(live, shutdown).await {
            // The client may already be gone; then there is nobody to tell.
            let _ = watcher.tx.send(Err(Status::from(error))).await;
        }
        tracing::debug!("watch stream ended");
    });
    ReceiverStream::new(rx)
}

struct Watcher {
    shared: Arc<Shared>,
    watch: Watch,
    tx: mpsc::Sender<Result<pb::AssignmentNotification, Status>>,
    /// Highest event id handled: replayed or live ids at or below it are skipped.
    last_sent: i64,
}

impl Watcher {
    async fn run(
        &mut self,
        mut live: tokio::sync::broadcast::Receiver<crate::state::Notice>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), ApiError> {
        if let Some(after) = self.watch.after_event_id {
            self.last_sent = after;
            if !self.replay().await? {
                return Ok(());
            }
        }
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                () = self.tx.closed() => return Ok(()),
                received = live.recv() => match received {
                    Ok(notice) => {
                        if notice.event.id <= self.last_sent {
                            continue;
                        }
                        self.last_sent = notice.event.id;
                        if !self.offer(&notice.event, &notice.ticket).await {
                            return Ok(());
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "watcher lagged behind the bus, reading from the store");
                        if !self.replay().await? {
                            return Ok(());
                        }
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    /// Sends every stored event after `last_sent`; false when the client went away.
    async fn replay(&mut self) -> Result<bool, ApiError> {
        loop {
            let batch = self
                .shared
                .store
                .events_after(self.last_sent, REPLAY_BATCH)
                .await?;
            let Some(last) = batch.last().map(|e| e.id) else {
                return Ok(true);
            };
            let mut tickets: HashMap<TicketId, Option<Ticket>> = HashMap::new();
            for stored in &batch {
                let id = stored.event.ticket_id;
                if let Entry::Vacant(slot) = tickets.entry(id) {
                    let ticket = match self.shared.store.get_ticket(id).await {
                        Ok(ticket) => Some(ticket),
                        Err(StoreError::NotFound { .. }) => None,
                        Err(other) => return Err(other.into()),
                    };
                    slot.insert(ticket);
                }
                if let Some(Some(ticket)) = tickets.get(&id)
                    && !self.offer(stored, ticket).await
                {
                    return Ok(false);
                }
            }
            self.last_sent = last;
        }
    }

    /// Sends the notification if the event concerns a watched department;
    /// false when the client went away.
    async fn offer(&self, stored: &StoredEvent, ticket: &Ticket) -> bool {
        match notification(&self.shared, &self.watch, stored, ticket) {
            Some(notification) => self.tx.send(Ok(notification)).await.is_ok(),
            None => true,
        }
    }
}

/// Builds the notification of an event for a watcher, if it concerns one of its departments.
fn notification(
    shared: &Shared,
    watch: &Watch,
    stored: &StoredEvent,
    ticket: &Ticket,
) -> Option<pb::AssignmentNotification> {
    let kind = &stored.event.kind;
    let notified = ticket.notified_departments(kind);
    let department = notified.iter().find(|d| watch.departments.contains(d))?;
    let kind_name = match kind {
        EventKind::WarningChanged { .. } => "WARNING",
        other => other.action(),
    };
    Some(pb::AssignmentNotification {
        event_id: stored.id.to_string(),
        ticket_id: ticket.id.to_string(),
        ticket_number: ticket.number.clone(),
        department_id: department.to_string(),
        kind: kind_name.to_owned(),
        at: Some(timestamp_to_proto(stored.event.at)),
        ticket: Some(shared.view(&watch.principal, ticket)),
    })
}
