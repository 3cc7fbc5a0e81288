//! Per-credential rate limits: a token bucket per API key, checked after
//! authentication, so one misbehaving department system cannot starve the rest.
//!
//! With Redis configured the buckets live there ([`hotline_redis::SharedLimiter`])
//! and every replica draws from the same one. Without Redis, or while it is
//! away, each replica keeps its own buckets: limits then hold per replica (at
//! most N times the rate across N replicas) rather than failing requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hotline_redis::{SharedLimiter, Verdict};

use crate::error::ApiError;

/// Buckets kept locally before idle ones are dropped; bounds memory under many keys.
const MAX_LOCAL_BUCKETS: usize = 10_000;

/// A token bucket: `tokens` as counted at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Refills for the time since it was last counted, then takes one token, or
    /// returns the wait until one is there.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }

    /// Whether it has refilled completely, so forgetting it changes nothing.
    fn is_full(&self, now: Instant, rate: f64, burst: f64) -> bool {
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate >= burst
    }
}

/// The rate limits in force.
#[derive(Debug)]
pub struct RateLimits {
    /// Tokens per second; 0 turns limits off.
    rate: f64,
    /// Bucket size.
    burst: f64,
    shared: Option<SharedLimiter>,
    local: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    /// Limits of `rate` requests per second with bursts of `burst`, shared through
    /// `shared` when given.
    pub fn new(rate: f64, burst: u32, shared: Option<SharedLimiter>) -> Self {
        RateLimits {
            rate,
            burst: f64::from(burst.max(1)),
            shared,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key_id`'s allowance.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when the bucket is empty.
    pub async fn check(&self, key_id: &str) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            match shared.take(key_id, self.rate, self.burst).await {
                Ok(Verdict::Granted) => return Ok(()),
                Ok(Verdict::Limited(wait)) => return Err(self.limited(wait)),
                // Redis is away: this replica decides alone until it returns.
                Err(_) => {}
            }
        }
        self.check_local(key_id, Instant::now())
    }

    fn check_local(&self, key_id: &str, now: Instant) -> Result<(), ApiError> {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if local.len() >= MAX_LOCAL_BUCKETS && !local.contains_key(key_id) {
            let (rate, burst) = (self.rate, self.burst);
            local.retain(|_, bucket| !bucket.is_full(now, rate, burst));
        }
        let bucket = local.entry(key_id.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket
            .take(now, self.rate, self.burst)
            .map_err(|wait| self.limited(wait))
    }

    fn limited(&self, retry_after: Duration) -> ApiError {
        tracing::warn!(
            retry_after_ms = retry_after.as_millis(),
            "rate limit exceeded"
        );
        ApiError::RateLimited {
            rate: self.rate,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_grants_its_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 3.0,
            at: start,
        };
        for _ in 0..3 {
            assert!(bucket.take(start, 10.0, 3.0).is_ok());
        }
        let wait = bucket.take(start, 10.0, 3.0).expect_err("empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // 100 ms later exactly one token is back.
        let later = start + Duration::from_millis(100);
        assert!(bucket.take(later, 10.0, 3.0).is_ok());
        assert!(bucket.take(later, 10.0, 3.0).is_err());
        // A long pause refills to the burst, not beyond.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.take(much_later, 10.0, 3.0).is_ok());
        }
        assert!(bucket.take(much_later, 10.0, 3.0).is_err());
    }

    #[test]
    fn keys_have_buckets_of_their_own() {
        let limits = RateLimits::new(1.0, 2, None);
        let now = Instant::now();
        assert!(limits.check_local("key_a", now).is_ok());
        assert!(limits.check_local("key_a", now).is_ok());
        let refused = limits.check_local("key_a", now).expect_err("a is empty");
        assert!(
            matches!(refused, ApiError::RateLimited { .. }),
            "{refused:?}"
        );
        assert!(limits.check_local("key_b", now).is_ok());
    }

    #[tokio::test]
    async fn a_zero_rate_limits_nothing() {
        let limits = RateLimits::new(0.0, 1, None);
        for _ in 0..10_000 {
            assert!(limits.check("key_a").await.is_ok());
        }
    }

    #[test]
    fn full_buckets_are_forgotten_when_the_map_is_full() {
        let limits = RateLimits::new(1000.0, 1, None);
        let now = Instant::now();
        for n in 0..MAX_LOCAL_BUCKETS {
            assert!(limits.check_local(&format!("key_{n}"), now).is_ok());
        }
        // A second later every bucket is full again: a new key clears them out.
        let later = now + Duration::from_secs(1);
        assert!(limits.check_local("key_new", later).is_ok());
        let local = limits.local.lock().expect("lock");
        assert_eq!(local.len(), 1);
    }
}
