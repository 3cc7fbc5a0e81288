//! Per-credential rate limits shared by every replica: one token bucket per
//! credential, kept in Redis and updated by one Lua script, so N replicas behind
//! a load balancer grant a key its rate once, not N times.
//!
//! The bucket lives in a Redis hash (`hotline:rate:<credential>`: tokens and the
//! time they were counted, in microseconds of Redis's own clock, so replicas'
//! clocks do not matter) that expires once it would be full again. When Redis
//! cannot answer within [`CALL_TIMEOUT`], [`SharedLimiter::take`] says so at once
//! ([`Away`]) and the caller falls back to a bucket of its own; reconnection runs
//! in the background with capped backoff, never on a request's path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::{Backoff, Throttle, UrlError, connection_config};

/// Prefix of the bucket keys.
pub const KEY_PREFIX: &str = "hotline:rate:";
/// Longest a bucket update may take before Redis counts as away for this request.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// Takes one token from the bucket `KEYS[1]` refilling at `ARGV[1]` tokens per second
/// up to `ARGV[2]`; returns `{1, 0}` when granted, `{0, µs until a token}` otherwise.
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000000)
  at = now
end
local granted = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  granted = 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {granted, wait}
";

/// What the shared bucket answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A token was taken: go ahead.
    Granted,
    /// The bucket is empty: the next token comes after this wait.
    Limited(Duration),
}

/// Redis could not answer now; the caller decides alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("redis is away; rate limits are per replica until it returns")]
pub struct Away;

/// Token buckets in Redis, one per credential. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: redis::Client,
    script: redis::Script,
    link: Mutex<Link>,
    away: Mutex<Throttle>,
}

/// The connection, or when to try for one again.
#[derive(Debug)]
struct Link {
    connection: Option<MultiplexedConnection>,
    connecting: bool,
    retry_at: Instant,
    backoff: Backoff,
}

impl SharedLimiter {
    /// A limiter on the Redis at `url`; it connects on first use, in the background.
    ///
    /// # Errors
    /// An unusable URL.
    pub fn new(url: &str) -> Result<Self, UrlError> {
        let client = redis::Client::open(url).map_err(UrlError)?;
        Ok(SharedLimiter {
            inner: Arc::new(Inner {
                client,
                script: redis::Script::new(TAKE),
                link: Mutex::new(Link {
                    connection: None,
                    connecting: false,
                    retry_at: Instant::now(),
                    backoff: Backoff::new(),
                }),
                away: Mutex::new(Throttle::default()),
            }),
        })
    }

    /// Takes one token from `credential`'s bucket, which refills at `rate` per second
    /// up to `burst`.
    ///
    /// # Errors
    /// [`Away`] at once while there is no connection, or when Redis does not answer
    /// within [`CALL_TIMEOUT`].
    pub async fn take(&self, credential: &str, rate: f64, burst: f64) -> Result<Verdict, Away> {
        let Some(mut connection) = self.connection() else {
            return Err(Away);
        };
        let mut invocation = self.inner.script.key(format!("{KEY_PREFIX}{credential}"));
        invocation.arg(rate).arg(burst);
        let call = invocation.invoke_async::<(i64, i64)>(&mut connection);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok((1, _))) => Ok(Verdict::Granted),
            Ok(Ok((_, wait_us))) => Ok(Verdict::Limited(Duration::from_micros(
                u64::try_from(wait_us).unwrap_or(0),
            ))),
            Ok(Err(error)) => {
                self.lost(&error.to_string());
                Err(Away)
            }
            Err(_) => {
                self.lost("timed out");
                Err(Away)
            }
        }
    }

    /// The current connection; starts a background attempt when there is none and
    /// the backoff allows one.
    fn connection(&self) -> Option<MultiplexedConnection> {
        let mut link = self.inner.link.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(connection) = &link.connection {
            return Some(connection.clone());
        }
        if !link.connecting && Instant::now() >= link.retry_at {
            link.connecting = true;
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                let attempt = tokio::time::timeout(
                    crate::TIMEOUT,
                    inner
                        .client
                        .get_multiplexed_async_connection_with_config(&connection_config()),
                )
                .await;
                let mut link = inner.link.lock().unwrap_or_else(|e| e.into_inner());
                link.connecting = false;
                match attempt {
                    Ok(Ok(connection)) => {
                        tracing::info!("redis rate limiter connected");
                        link.connection = Some(connection);
                        link.backoff.reset();
                    }
                    _ => link.retry_at = Instant::now() + link.backoff.next(),
                }
            });
        }
        None
    }

    /// Drops a connection that failed, so the next call reconnects after the backoff.
    fn lost(&self, why: &str) {
        {
            let mut link = self.inner.link.lock().unwrap_or_else(|e| e.into_inner());
            link.connection = None;
            link.retry_at = Instant::now() + link.backoff.next();
        }
        let due = self
            .inner
            .away
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .due();
        if let Some(suppressed) = due {
            tracing::warn!(
                error = why,
                suppressed,
                "redis rate limiter away, limits are per replica until it returns"
            );
        }
    }
}
