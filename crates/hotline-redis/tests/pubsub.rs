//! The fan-out against a real Redis at `TEST_REDIS_URL` (see `.ci/services.sh`);
//! skipped without it unless `HOTLINE_REQUIRE_SERVERS=1`, which makes it fail.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::redis_url;
use hotline_core::TicketId;
use hotline_redis::Fanout;
use tokio::sync::watch;

#[tokio::test]
async fn other_replicas_hear_announcements_and_the_sender_does_not() {
    let Some(url) = redis_url() else { return };
    let (stop, shutdown) = watch::channel(false);
    let (a, mut heard_by_a) = Fanout::start(&url, shutdown.clone()).expect("url");
    let (b, mut heard_by_b) = Fanout::start(&url, shutdown).expect("url");
    // Wait until both subscriptions are live: announcements before that are lost by design.
    tokio::time::timeout(Duration::from_secs(10), async {
        while a.stats().subscriptions.load(Ordering::Relaxed) == 0
            || b.stats().subscriptions.load(Ordering::Relaxed) == 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both replicas subscribe");

    let ticket = TicketId::from_uuid(uuid::Uuid::now_v7());
    a.announce(ticket, &[7, 8]);
    let heard = tokio::time::timeout(Duration::from_secs(10), heard_by_b.recv())
        .await
        .expect("b hears a within 10 s")
        .expect("b's stream is open");
    assert_eq!(heard.origin, a.origin());
    assert_eq!(heard.ticket_id, ticket);
    assert_eq!(heard.event_ids, [7, 8]);
    // A's own announcement never comes back to it; B's does reach it.
    b.announce(ticket, &[9]);
    let heard = tokio::time::timeout(Duration::from_secs(10), heard_by_a.recv())
        .await
        .expect("a hears b within 10 s")
        .expect("a's stream is open");
    assert_eq!((heard.origin, heard.event_ids), (b.origin(), vec![9]));
    let more = tokio::time::timeout(Duration::from_millis(300), heard_by_a.recv()).await;
    assert!(more.is_err(), "a heard something else: {more:?}");
    assert_eq!(a.stats().published.load(Ordering::Relaxed), 1);
    stop.send_replace(true);
}
