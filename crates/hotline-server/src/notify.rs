//! WatchAssignments: a department's stream of notifications.
//!
//! Every committed command is published on an in-process bus (a
//! `tokio::sync::broadcast` of event + ticket). A watcher first replays what it
//! missed from the store (`Store::events_after`, when the client passes
//! `after_event_id`), then follows the bus, skipping ids it already sent. A
//! watcher that falls too far behind the bus (lagged) reads the gap from the
//! store. Streams end when the server shuts down or the client goes away.
//!
//! Commands commit and publish concurrently (RPC handlers and the sweeper), so
//! the bus may deliver a lower event id after a higher one. A watcher therefore
//! remembers which ids it sent rather than only the highest: a late event is
//! still delivered, slightly out of id order, never dropped.
//!
//! Replicas sharing one database (production) each have their own bus. With
//! Redis configured, every replica announces the ids of what it committed
//! (`hotline-redis`), and [`relay`] reads the events other replicas announced
//! from the store and puts them on this replica's bus. A watcher therefore
//! hears a dispatch made anywhere, once: its sent-ids set drops duplicates like
//! any other. While Redis is away those live pushes stop; a client that resumes
//! from its last event id reads what it missed from the store.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use hotline_core::{DepartmentId, EventKind, Ticket, TicketId};
use hotline_proto::v1 as pb;
use hotline_redis::{Committed, Throttle};
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
/// Live ids a watcher remembers above its floor; past this, the oldest fold into
/// the floor (an event later than that many others is then taken as sent).
const REMEMBERED_IDS: usize = 4096;

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
            floor: None,
            lowest_seen: None,
            sent: BTreeSet::new(),
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
    /// Every event id at or below this was handled (sent, read from the store, or
    /// older than the stream); `None` until the stream's start is known.
    floor: Option<i64>,
    /// Ids above `floor` already sent from the bus.
    sent: BTreeSet<i64>,
    /// The lowest id a stream without a resume point received: where a replay
    /// after lagging starts.
    lowest_seen: Option<i64>,
}

impl Watcher {
    async fn run(
        &mut self,
        mut live: tokio::sync::broadcast::Receiver<crate::state::Notice>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), ApiError> {
        if let Some(after) = self.watch.after_event_id {
            self.floor = Some(after);
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
                        let id = notice.event.id;
                        // Without a resume point every live event counts: events
                        // relayed from other replicas arrive out of id order, so
                        // the first one received is no lower bound for the rest.
                        let floor = self.floor.unwrap_or(i64::MIN);
                        if id <= floor || !self.sent.insert(id) {
                            continue;
                        }
                        self.lowest_seen = Some(self.lowest_seen.map_or(id, |l| l.min(id)));
                        while self.sent.len() > REMEMBERED_IDS {
                            if let Some(oldest) = self.sent.pop_first() {
                                self.floor = Some(oldest.max(floor));
                            }
                        }
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

    /// Sends every stored event after the floor not sent yet, and raises the floor
    /// to the last stored event; false when the client went away.
    async fn replay(&mut self) -> Result<bool, ApiError> {
        let Some(mut from) = self.floor.or(self.lowest_seen.map(|id| id - 1)) else {
            // Lagged before the first event arrived: where the stream began is unknown.
            tracing::warn!("watcher lagged before its first event, some notifications were lost");
            return Ok(true);
        };
        loop {
            let batch = self.shared.store.events_after(from, REPLAY_BATCH).await?;
            let Some(last) = batch.last().map(|e| e.id) else {
                self.floor = Some(from);
                self.sent.retain(|id| *id > from);
                return Ok(true);
            };
            let mut tickets: HashMap<TicketId, Option<Ticket>> = HashMap::new();
            for stored in batch.iter().filter(|e| !self.sent.contains(&e.id)) {
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
            from = last;
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

/// Puts the events other replicas announce on this replica's bus, read from
/// the store (announcements carry ids only), until the announcements end.
pub async fn relay(shared: Arc<Shared>, mut incoming: mpsc::Receiver<Committed>) {
    let mut failing = Throttle::default();
    while let Some(committed) = incoming.recv().await {
        // Nobody watching here: nothing to read.
        if shared.bus.receiver_count() == 0 {
            continue;
        }
        if let Err(error) = relay_one(&shared, &committed).await
            && let Some(suppressed) = failing.due()
        {
            tracing::warn!(
                %error,
                suppressed,
                ticket_id = %committed.ticket_id,
                "cannot read events another replica announced; watchers here must resume"
            );
        }
    }
    tracing::debug!("replica relay stopped");
}

async fn relay_one(shared: &Shared, committed: &Committed) -> Result<(), StoreError> {
    let events: Vec<StoredEvent> = shared
        .store
        .timeline(committed.ticket_id)
        .await?
        .into_iter()
        .filter(|stored| committed.event_ids.contains(&stored.id))
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let ticket = shared.store.get_ticket(committed.ticket_id).await?;
    shared.deliver_local(&events, &ticket);
    Ok(())
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
    // A light change is named by the level reached, so a client need not read the ticket
    // (which shows only the last of several levels recorded by one sweep).
    let kind_name = match kind {
        EventKind::WarningChanged { level, .. } => level.as_str(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use hotline_core::{
        Actor, AlwaysOpen, AppealType, Channel, Citizen, Context, DeadlinePolicy, Department,
        Directory, DispatchTarget, Event, NewTicket, Priority, Role, Taxonomy, create_ticket,
    };
    use hotline_store_sqlite::SqliteStore;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;
    use tokio_stream::StreamExt as _;

    use super::*;

    /// A ticket dispatched to department `d`, built in memory: the bus carries it as is.
    fn dispatched_ticket() -> Ticket {
        let directory = Directory::new(
            [Department {
                id: "d".into(),
                name: "d".to_owned(),
                parent_id: None,
                region_code: String::new(),
                level: 1,
            }],
            Taxonomy::default(),
        );
        let actor = Actor::system();
        let ctx = Context {
            now: Timestamp::UNIX_EPOCH,
            actor: &actor,
            policy: &DeadlinePolicy::default(),
            calendar: &AlwaysOpen,
            directory: &directory,
        };
        let new = NewTicket {
            routing: None,
            channel: Channel::Phone,
            appeal_type: AppealType::Request,
            priority: Priority::Normal,
            citizen: Citizen::default(),
            title: "路灯不亮".to_owned(),
            body: "路灯不亮".to_owned(),
            address: String::new(),
            region_code: String::new(),
            location: None,
            category: None,
            auto_dispatch: Some(DispatchTarget {
                lead_department_id: "d".into(),
                co_department_ids: vec![],
            }),
        };
        let id = TicketId::from_uuid(uuid::Uuid::now_v7());
        create_ticket(id, "HL-19700101-000001", new, &ctx)
            .unwrap()
            .ticket
    }

    /// A watcher without a resume point for department `d`, and a way to make
    /// urge events of one dispatched ticket.
    async fn watching() -> (
        tempfile::TempDir,
        Arc<Shared>,
        impl tokio_stream::Stream<Item = Result<pb::AssignmentNotification, Status>>,
        Ticket,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hotline.db"))
            .await
            .unwrap();
        let shared = Shared::load(
            Arc::new(store),
            "HL".to_owned(),
            TimeZone::UTC,
            "UTC".to_owned(),
            1.0,
            Arc::new(AlwaysOpen),
            crate::auth::KeyHasher::new(&[3; 32]).unwrap(),
        )
        .await
        .unwrap();
        let shared = Arc::new(shared);
        let principal = Principal {
            actor: Actor {
                id: "key-d".to_owned(),
                role: Role::Department,
                department_id: Some("d".into()),
            },
        };
        let stream = watch(
            Arc::clone(&shared),
            Watch {
                principal,
                departments: vec!["d".into()],
                after_event_id: None,
            },
        );
        (dir, shared, stream, dispatched_ticket())
    }

    fn urge(ticket: &Ticket, id: i64) -> StoredEvent {
        StoredEvent {
            id,
            event: Event {
                ticket_id: ticket.id,
                seq: u64::try_from(id).unwrap(),
                version: 2,
                at: Timestamp::UNIX_EPOCH,
                actor: Actor::system(),
                kind: EventKind::Urged {
                    department_ids: vec!["d".into()],
                    note: String::new(),
                },
            },
        }
    }

    async fn received(
        stream: &mut (
                 impl tokio_stream::Stream<Item = Result<pb::AssignmentNotification, Status>> + Unpin
             ),
        n: usize,
    ) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            ids.push(next.event_id);
        }
        let more = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        assert!(more.is_err(), "nothing else: {more:?}");
        ids
    }

    #[tokio::test]
    async fn events_published_out_of_order_are_each_delivered_once() {
        let (_dir, shared, stream, ticket) = watching().await;
        let mut stream = std::pin::pin!(stream);
        // The stream starts at 5. Two commands committed as 6 and 7 publish in the
        // other order; 7 again (a duplicate) must not be sent twice.
        for id in [5, 7, 6, 7, 8] {
            shared.publish(&[urge(&ticket, id)], &ticket);
        }
        assert_eq!(received(&mut stream, 4).await, ["5", "7", "6", "8"]);
        shared.shutdown.send_replace(true);
    }

    #[tokio::test]
    async fn a_lower_id_relayed_after_the_first_event_is_still_delivered() {
        let (_dir, shared, stream, ticket) = watching().await;
        let mut stream = std::pin::pin!(stream);
        // Another replica's events 5 and 6 are relayed after this replica's 7.
        for id in [7, 5, 6, 5] {
            shared.publish(&[urge(&ticket, id)], &ticket);
        }
        assert_eq!(received(&mut stream, 3).await, ["7", "5", "6"]);
        shared.shutdown.send_replace(true);
    }
}
