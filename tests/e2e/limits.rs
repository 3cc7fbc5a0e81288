//! Abuse limits: per-key rate limits (local, and shared by replicas through
//! Redis), the request size limit and the page size cap.

use std::time::Duration;

use hotline_e2e::TestServer;
use hotline_proto::v1::{self as pb, Role};
use tonic_types::StatusExt as _;

use crate::world::World;

/// A cheap call any operator key may make.
async fn taxonomy(server: &TestServer, key: &str) -> Result<(), tonic::Status> {
    server
        .admin_as(key)
        .get_taxonomy(pb::GetTaxonomyRequest::default())
        .await
        .map(drop)
}

/// The wait a RESOURCE_EXHAUSTED answer asks for, from its RetryInfo detail.
fn retry_after(status: &tonic::Status) -> Duration {
    status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("a rate-limited answer says when to retry")
}

#[tokio::test]
async fn a_key_over_its_rate_gets_resource_exhausted_and_others_do_not() {
    let server = TestServer::start_with(|config| {
        config.rate_limit = 4.0;
        config.rate_burst = 3;
    })
    .await
    .unwrap();
    let busy = server.key(Role::Operator, "", "busy desk").await.unwrap();
    let quiet = server.key(Role::Operator, "", "quiet desk").await.unwrap();
    for _ in 0..3 {
        taxonomy(&server, &busy).await.expect("within the burst");
    }
    let refused = taxonomy(&server, &busy).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused
            .message()
            .contains("rate limit of 4 requests per second"),
        "{}",
        refused.message()
    );
    let wait = retry_after(&refused);
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(250),
        "{wait:?}"
    );
    // Another key has its own allowance.
    taxonomy(&server, &quiet).await.expect("another key");
    // After the wait the busy key may call again.
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    taxonomy(&server, &busy).await.expect("after the wait");
}

#[tokio::test]
async fn replicas_sharing_redis_share_each_keys_bucket() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        assert!(
            !std::env::var("HOTLINE_REQUIRE_SERVERS").is_ok_and(|v| v == "1"),
            "TEST_REDIS_URL is not set, but HOTLINE_REQUIRE_SERVERS=1 requires this test to run"
        );
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    // One request per 100 s: after the burst of 6, nothing more during the test.
    let limits = |config: &mut hotline_server::ServerConfig| {
        config.rate_limit = 0.01;
        config.rate_burst = 6;
        config.redis_url = Some(redis_url.clone());
    };
    let a = TestServer::start_with(limits).await.unwrap();
    let b = TestServer::replica_of(&a, limits).await.unwrap();
    let key = a.key(Role::Operator, "", "shared desk").await.unwrap();
    // Each limiter connects to Redis in the background on first use and counts alone
    // until then: warm both up with the admin key, whose bucket is its own.
    taxonomy(&a, &a.admin_key).await.unwrap();
    taxonomy(&b, &b.admin_key).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut granted = 0;
    let mut refused = 0;
    for n in 0..12 {
        let replica = if n % 2 == 0 { &a } else { &b };
        match taxonomy(replica, &key).await {
            Ok(()) => granted += 1,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(
        (granted, refused),
        (6, 6),
        "six requests across both replicas, then the shared bucket is empty"
    );
}

#[tokio::test]
async fn oversized_requests_are_resource_exhausted_and_pages_are_capped() {
    let w = World::new().await;
    let mut huge = World::complaint("噪声", "", "");
    huge.body = "吵".repeat(400_000); // 1.2 MB of UTF-8, over the 1 MiB request limit
    let err = w
        .server
        .tickets(&w.operator)
        .create_ticket(huge)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("1 MiB"), "{}", err.message());

    let negative = w
        .server
        .tickets(&w.operator)
        .list_tickets(pb::ListTicketsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(negative.code(), tonic::Code::InvalidArgument);
    assert!(negative.message().contains("page_size"), "{negative:?}");
}
