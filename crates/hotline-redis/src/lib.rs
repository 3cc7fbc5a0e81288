//! What replicas share through Redis: notification fan-out over pub/sub, and
//! per-credential rate limits ([`SharedLimiter`]).
//!
//! ## Fan-out
//!
//! Several server replicas share one PostgreSQL database, but each feeds its
//! department watchers from an in-process bus. After a commit, a replica
//! announces *which* events it committed ([`Committed`]: its own replica id, the
//! ticket id and the global event ids, never ticket content or citizen data) on
//! one Redis channel. Every replica subscribes, drops its own announcements, and
//! hands the others' to the server, which reads those events from the database
//! (the source of truth) and puts them on its local bus.
//!
//! Redis is an accelerator, not a store: losing it loses no data and no deadline.
//! [`Fanout::announce`] never waits for Redis (a bounded queue feeds one
//! publishing task; a full queue or a Redis that is away drops announcements,
//! logged at warn at most every [`LOG_EVERY`]), and both tasks reconnect by
//! themselves with capped exponential backoff. While Redis is away, watchers on
//! other replicas miss live pushes; a watcher that resumes from its last event id
//! reads everything from the database.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hotline_core::TicketId;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::StreamExt as _;

mod limiter;
pub use limiter::{Away, SharedLimiter, Verdict};

/// The channel every replica publishes on and subscribes to.
pub const CHANNEL: &str = "hotline:committed";
/// Announcements queued for the publishing task; past this, new ones are dropped
/// (watchers elsewhere then need their resume path) rather than slowing commands.
pub const QUEUE: usize = 4096;
/// Longest a connection attempt or a command may take before Redis counts as away.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Least time between two warnings about the same trouble.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// First wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the subscriber pings: a connection that died without closing
/// (a network partition) is noticed within this plus [`TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(10);
/// Wire format version, the first word of every message.
const VERSION: &str = "v1";
/// Most event ids one announcement carries (a sweep command writes a handful).
const MAX_IDS: usize = 1024;

/// Identifies one server process, so it can ignore its own announcements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplicaId(uuid::Uuid);

impl ReplicaId {
    /// A fresh id, unique per process start.
    pub fn random() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

/// What a replica committed: the events of one command on one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The replica that committed them.
    pub origin: ReplicaId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Their global event ids.
    pub event_ids: Vec<i64>,
}

/// A message on [`CHANNEL`] that is not an announcement of this version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Wrong number of words or an unknown version.
    #[error("message is not `{VERSION} ORIGIN TICKET_ID ID,ID,...`")]
    Shape,
    /// The origin is not a replica id.
    #[error("origin is not a replica id")]
    Origin,
    /// The ticket id is not a UUID.
    #[error("ticket_id is not a ticket id")]
    TicketId,
    /// An event id is not a positive integer, or there are none or too many.
    #[error("event_ids must be 1 to {MAX_IDS} positive integers separated by commas")]
    EventIds,
}

impl Committed {
    /// Encodes as `v1 ORIGIN TICKET_ID ID,ID,...`.
    pub fn encode(&self) -> String {
        let ids: Vec<String> = self.event_ids.iter().map(i64::to_string).collect();
        format!(
            "{VERSION} {} {} {}",
            self.origin,
            self.ticket_id,
            ids.join(",")
        )
    }

    /// Decodes [`Committed::encode`]'s output.
    ///
    /// # Errors
    /// Anything else, naming the field at fault.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let mut words = text.split(' ');
        let (Some(VERSION), Some(origin), Some(ticket), Some(ids), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            return Err(DecodeError::Shape);
        };
        let origin = uuid::Uuid::try_parse(origin)
            .map(ReplicaId)
            .map_err(|_| DecodeError::Origin)?;
        let ticket_id = ticket.parse().map_err(|_| DecodeError::TicketId)?;
        let event_ids = ids
            .split(',')
            .map(|id| id.parse::<i64>().ok().filter(|id| *id > 0))
            .collect::<Option<Vec<_>>>()
            .filter(|ids| !ids.is_empty() && ids.len() <= MAX_IDS)
            .ok_or(DecodeError::EventIds)?;
        Ok(Self {
            origin,
            ticket_id,
            event_ids,
        })
    }
}

/// A Redis URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("redis_url is not a usable Redis URL (redis://HOST:PORT/DB): {0}")]
pub struct UrlError(#[source] redis::RedisError);

/// Checks a Redis URL without connecting.
///
/// # Errors
/// A malformed URL or an unsupported scheme.
pub fn check_url(url: &str) -> Result<(), UrlError> {
    redis::Client::open(url).map(drop).map_err(UrlError)
}

/// Counts of what the fan-out did, for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Announcements published to Redis.
    pub published: AtomicU64,
    /// Announcements dropped: queue full or Redis away.
    pub dropped: AtomicU64,
    /// Announcements received from other replicas.
    pub received: AtomicU64,
    /// Successful subscriptions (the first, then one per reconnection).
    pub subscriptions: AtomicU64,
}

/// The sending half, held by the server: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Fanout {
    origin: ReplicaId,
    queue: mpsc::Sender<Committed>,
    stats: Arc<Stats>,
    full: Arc<std::sync::Mutex<Throttle>>,
}

impl Fanout {
    /// Starts the publishing and subscribing tasks on the current tokio runtime
    /// and returns the sending half with the stream of other replicas'
    /// announcements. Connecting happens in the tasks: a Redis that is away at
    /// start is retried like one lost later. Both tasks end when `shutdown`
    /// turns true (or the receiver is dropped).
    ///
    /// # Errors
    /// An unusable URL.
    pub fn start(
        url: &str,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Fanout, mpsc::Receiver<Committed>), UrlError> {
        let client = redis::Client::open(url).map_err(UrlError)?;
        let origin = ReplicaId::random();
        let stats = Arc::new(Stats::default());
        let (queue, outgoing) = mpsc::channel(QUEUE);
        let (incoming, received) = mpsc::channel(QUEUE);
        tokio::spawn(publish_loop(
            client.clone(),
            outgoing,
            shutdown.clone(),
            Arc::clone(&stats),
        ));
        tokio::spawn(subscribe_loop(
            client,
            origin,
            incoming,
            shutdown,
            Arc::clone(&stats),
        ));
        tracing::info!(replica = %origin, channel = CHANNEL, "redis fan-out started");
        let fanout = Fanout {
            origin,
            queue,
            stats,
            full: Arc::default(),
        };
        Ok((fanout, received))
    }

    /// This process's replica id.
    pub fn origin(&self) -> ReplicaId {
        self.origin
    }

    /// What the fan-out did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Queues an announcement of committed events; returns at once. Nothing is
    /// sent for an empty list.
    pub fn announce(&self, ticket_id: TicketId, event_ids: &[i64]) {
        for chunk in event_ids.chunks(MAX_IDS) {
            let committed = Committed {
                origin: self.origin,
                ticket_id,
                event_ids: chunk.to_vec(),
            };
            if self.queue.try_send(committed).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(suppressed) = full.due() {
                    tracing::warn!(
                        suppressed,
                        "redis announcement queue full, dropping; other replicas' watchers must resume"
                    );
                }
            }
        }
    }
}

/// Lets one warning through per [`LOG_EVERY`], counting the ones held back: an
/// outage must not flood the logs with one line per command.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// Returns how many were held back since the last one if this one may be
    /// logged, `None` if it must not.
    pub fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Capped exponential backoff.
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(MIN_BACKOFF)
    }

    pub(crate) fn reset(&mut self) {
        self.0 = MIN_BACKOFF;
    }

    /// Returns the wait before the next attempt and doubles the one after.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }
}

/// Resolves once the server shuts down (or the sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard returned must not live across an await: drop it here.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

pub(crate) fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
}

/// Publishes queued announcements, one connection at a time. While Redis is
/// away (until the backoff allows another attempt) announcements are dropped:
/// sending stale ones later would only make other replicas re-read the database.
async fn publish_loop(
    client: redis::Client,
    mut queue: mpsc::Receiver<Committed>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
) {
    let mut connection: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new();
    let mut retry_at = Instant::now();
    let mut away = Throttle::default();
    loop {
        let committed = tokio::select! {
            () = stopped(&mut shutdown) => break,
            next = queue.recv() => match next {
                Some(committed) => committed,
                None => break,
            },
        };
        if connection.is_none() && Instant::now() >= retry_at {
            let attempt = tokio::time::timeout(
                TIMEOUT,
                client.get_multiplexed_async_connection_with_config(&connection_config()),
            )
            .await;
            match attempt {
                Ok(Ok(fresh)) => {
                    tracing::info!("redis publisher connected");
                    connection = Some(fresh);
                    backoff.reset();
                }
                Ok(Err(error)) => {
                    retry_at = Instant::now() + backoff.next();
                    if let Some(suppressed) = away.due() {
                        tracing::warn!(%error, suppressed, "redis unreachable, announcements dropped until it returns");
                    }
                }
                Err(_) => {
                    retry_at = Instant::now() + backoff.next();
                    if let Some(suppressed) = away.due() {
                        tracing::warn!(
                            suppressed,
                            "redis connect timed out, announcements dropped until it returns"
                        );
                    }
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(committed.encode())
            .query_async(conn)
            .await;
        match sent {
            Ok(_) => {
                stats.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                connection = None;
                retry_at = Instant::now() + backoff.next();
                if let Some(suppressed) = away.due() {
                    tracing::warn!(%error, suppressed, "redis publish failed, reconnecting");
                }
            }
        }
    }
    tracing::debug!("redis publisher stopped");
}

/// Subscribes to [`CHANNEL`] and forwards other replicas' announcements,
/// resubscribing with backoff whenever the connection is lost.
async fn subscribe_loop(
    client: redis::Client,
    origin: ReplicaId,
    incoming: mpsc::Sender<Committed>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
) {
    let mut backoff = Backoff::new();
    let mut away = Throttle::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        match subscribe_once(
            &client,
            origin,
            &incoming,
            &mut shutdown,
            &stats,
            &mut backoff,
        )
        .await
        {
            Ok(Session::Stop) => break,
            Ok(Session::Lost) => {
                if let Some(suppressed) = away.due() {
                    tracing::warn!(
                        suppressed,
                        "redis subscription lost, resubscribing; watchers here miss other replicas' events meanwhile"
                    );
                }
            }
            Err(error) => {
                if let Some(suppressed) = away.due() {
                    tracing::warn!(%error, suppressed, "cannot subscribe to redis, retrying");
                }
            }
        }
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            () = tokio::time::sleep(backoff.next()) => {}
        }
    }
    tracing::debug!("redis subscriber stopped");
}

/// How a subscription ended.
enum Session {
    /// Shutdown, or nobody reads the announcements any more.
    Stop,
    /// The connection went away.
    Lost,
}

async fn subscribe_once(
    client: &redis::Client,
    origin: ReplicaId,
    incoming: &mpsc::Sender<Committed>,
    shutdown: &mut watch::Receiver<bool>,
    stats: &Stats,
    backoff: &mut Backoff,
) -> Result<Session, redis::RedisError> {
    let timed_out = || redis::RedisError::from((redis::ErrorKind::Io, "timed out"));
    let mut pubsub = tokio::time::timeout(TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(TIMEOUT, pubsub.subscribe(CHANNEL))
        .await
        .map_err(|_| timed_out())??;
    stats.subscriptions.fetch_add(1, Ordering::Relaxed);
    backoff.reset();
    tracing::info!(channel = CHANNEL, "redis subscriber connected");
    let (mut sink, mut messages) = pubsub.split();
    let mut pings = tokio::time::interval(PING_EVERY);
    pings.reset();
    let mut bad = Throttle::default();
    loop {
        tokio::select! {
            () = stopped(shutdown) => return Ok(Session::Stop),
            _ = pings.tick() => {
                let pong = tokio::time::timeout(TIMEOUT, sink.ping::<String>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    return Ok(Session::Lost);
                }
            }
            message = messages.next() => {
                let Some(message) = message else {
                    return Ok(Session::Lost);
                };
                let payload: String = match message.get_payload() {
                    Ok(payload) => payload,
                    Err(error) => {
                        if let Some(suppressed) = bad.due() {
                            tracing::warn!(%error, suppressed, "ignoring a non-text message on the redis channel");
                        }
                        continue;
                    }
                };
                match Committed::decode(&payload) {
                    Ok(committed) if committed.origin == origin => {}
                    Ok(committed) => {
                        stats.received.fetch_add(1, Ordering::Relaxed);
                        if incoming.send(committed).await.is_err() {
                            return Ok(Session::Stop);
                        }
                    }
                    Err(error) => {
                        if let Some(suppressed) = bad.due() {
                            tracing::warn!(%error, suppressed, "ignoring a malformed message on the redis channel");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Committed {
        Committed {
            origin: ReplicaId::random(),
            ticket_id: TicketId::from_uuid(uuid::Uuid::now_v7()),
            event_ids: vec![41, 43, 42],
        }
    }

    #[test]
    fn announcements_round_trip() {
        let committed = sample();
        let text = committed.encode();
        assert!(text.starts_with("v1 "), "{text}");
        assert_eq!(Committed::decode(&text), Ok(committed));
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let good = sample().encode();
        let words: Vec<&str> = good.split(' ').collect();
        let with = |index: usize, word: &str| {
            let mut words = words.clone();
            words[index] = word;
            words.join(" ")
        };
        assert_eq!(Committed::decode(""), Err(DecodeError::Shape));
        assert_eq!(Committed::decode(&with(0, "v2")), Err(DecodeError::Shape));
        assert_eq!(
            Committed::decode(&format!("{good} extra")),
            Err(DecodeError::Shape)
        );
        assert_eq!(
            Committed::decode(&with(1, "replica")),
            Err(DecodeError::Origin)
        );
        assert_eq!(
            Committed::decode(&with(2, "HL-20260101-000001")),
            Err(DecodeError::TicketId)
        );
        for ids in ["", "1,,2", "0", "-4", "1,x", "9223372036854775808"] {
            assert_eq!(
                Committed::decode(&with(3, ids)),
                Err(DecodeError::EventIds),
                "{ids:?}"
            );
        }
        let too_many = vec!["1"; MAX_IDS + 1].join(",");
        assert_eq!(
            Committed::decode(&with(3, &too_many)),
            Err(DecodeError::EventIds)
        );
        let error = DecodeError::EventIds.to_string();
        assert!(error.contains("event_ids"), "{error}");
    }

    #[test]
    fn urls_are_checked_without_connecting() {
        assert!(check_url("redis://127.0.0.1:6379/0").is_ok());
        let error = check_url("http://cache")
            .expect_err("wrong scheme")
            .to_string();
        assert!(error.starts_with("redis_url"), "{error}");
    }

    #[test]
    fn warnings_are_throttled_and_count_what_they_held_back() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.due(), Some(0));
        assert_eq!(throttle.due(), None);
        assert_eq!(throttle.due(), None);
        throttle.last = throttle.last.and_then(|t| t.checked_sub(LOG_EVERY));
        assert_eq!(throttle.due(), Some(2));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..8).map(|_| backoff.next()).collect();
        assert_eq!(waits[0], MIN_BACKOFF);
        assert_eq!(waits[1], MIN_BACKOFF * 2);
        assert_eq!(waits[7], MAX_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.next(), MIN_BACKOFF);
    }

    #[tokio::test]
    async fn announcing_never_waits_for_an_absent_redis() {
        let (stop, shutdown) = watch::channel(false);
        // Port 1 on loopback refuses connections at once.
        let (fanout, _incoming) = Fanout::start("redis://127.0.0.1:1/", shutdown).expect("url");
        let ticket = TicketId::from_uuid(uuid::Uuid::now_v7());
        for id in 1..=(QUEUE as i64 + 10) {
            fanout.announce(ticket, &[id]);
        }
        // The queue overflowed without blocking; the publisher drops what it cannot send.
        assert!(fanout.stats().dropped.load(Ordering::Relaxed) >= 10);
        assert_eq!(fanout.stats().published.load(Ordering::Relaxed), 0);
        stop.send_replace(true);
    }
}
