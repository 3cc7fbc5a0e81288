//! The shared token buckets against a real Redis at `TEST_REDIS_URL` (see
//! `.ci/services.sh`); skipped without it unless `HOTLINE_REQUIRE_SERVERS=1`.

mod common;

use std::time::Duration;

use common::redis_url;
use hotline_redis::{Away, SharedLimiter, Verdict};

/// Takes tokens until the limiter answers (it connects in the background first).
async fn take(limiter: &SharedLimiter, credential: &str, rate: f64, burst: f64) -> Verdict {
    for _ in 0..200 {
        match limiter.take(credential, rate, burst).await {
            Ok(verdict) => return verdict,
            Err(Away) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    panic!("the limiter never reached Redis");
}

#[tokio::test]
async fn two_replicas_share_one_bucket_per_credential() {
    let Some(url) = redis_url() else { return };
    let a = SharedLimiter::new(&url).expect("url");
    let b = SharedLimiter::new(&url).expect("url");
    let credential = format!("key_{}", uuid::Uuid::now_v7().simple());
    // A slow refill (one token per 100 s) so the test measures the burst alone.
    let (rate, burst) = (0.01, 10.0);
    let mut granted = 0;
    let mut limited = Vec::new();
    for n in 0..30 {
        let replica = if n % 2 == 0 { &a } else { &b };
        match take(replica, &credential, rate, burst).await {
            Verdict::Granted => granted += 1,
            Verdict::Limited(wait) => limited.push(wait),
        }
    }
    assert_eq!(
        granted, 10,
        "the burst is granted once across both replicas"
    );
    assert_eq!(limited.len(), 20);
    assert!(
        limited
            .iter()
            .all(|wait| *wait > Duration::from_secs(1) && *wait <= Duration::from_secs(100)),
        "waits until the next token: {limited:?}"
    );
    // Another credential has a bucket of its own.
    let other = format!("key_{}", uuid::Uuid::now_v7().simple());
    assert_eq!(take(&b, &other, rate, burst).await, Verdict::Granted);
}

#[tokio::test]
async fn an_empty_bucket_refills_at_the_rate() {
    let Some(url) = redis_url() else { return };
    let limiter = SharedLimiter::new(&url).expect("url");
    let credential = format!("key_{}", uuid::Uuid::now_v7().simple());
    // Twenty tokens a second, a burst of one: empty after one call, one more 50 ms later.
    let (rate, burst) = (20.0, 1.0);
    assert_eq!(
        take(&limiter, &credential, rate, burst).await,
        Verdict::Granted
    );
    let Verdict::Limited(wait) = take(&limiter, &credential, rate, burst).await else {
        panic!("the second call within a token's time must be limited");
    };
    assert!(wait <= Duration::from_millis(50), "{wait:?}");
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(
        take(&limiter, &credential, rate, burst).await,
        Verdict::Granted
    );
}

#[tokio::test]
async fn an_unreachable_redis_answers_away_at_once() {
    // Nothing listens on port 1: every attempt fails, and no call waits for it.
    let limiter = SharedLimiter::new("redis://127.0.0.1:1/").expect("url");
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(limiter.take("key_x", 1.0, 1.0).await, Err(Away));
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
