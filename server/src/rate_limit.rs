//! In-memory token-bucket rate limits, keyed by client address or by device.
//!
//! Hand-written rather than `tower_governor` because the device key is only known after the
//! bearer token has been checked (keying by the raw header would let a client dodge the limit
//! by sending random tokens), so the device limit is applied in the `Principal` extractor.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rate and burst of one token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests allowed per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
}

impl Rate {
    /// A rate of `per_second` with bursts of `burst`.
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Rate { per_second, burst }
    }
}

/// Buckets idle this long may be forgotten, once they have refilled.
const IDLE_FORGET: Duration = Duration::from_secs(300);

/// Forget idle buckets once the map holds this many keys.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A set of token buckets, one per key, all with the same rate.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter whose buckets refill at `rate`.
    pub fn new(rate: Rate) -> Self {
        RateLimiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket; false when the bucket is empty.
    pub fn check(&self, key: &str) -> bool {
        self.check_at(key, Instant::now())
    }

    /// Whether `key`'s bucket holds a token, without taking it: for limits that count only
    /// some outcomes (failed enrollments) but refuse every request once the bucket is empty.
    pub fn available(&self, key: &str) -> bool {
        self.with_bucket(key, Instant::now(), |tokens| *tokens >= 1.0)
    }

    fn check_at(&self, key: &str, now: Instant) -> bool {
        self.with_bucket(key, now, |tokens| {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                true
            } else {
                false
            }
        })
    }

    /// Runs `f` on the refilled token count of `key`'s bucket.
    fn with_bucket(&self, key: &str, now: Instant, f: impl FnOnce(&mut f64) -> bool) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let burst = f64::from(self.rate.burst.max(1));
        if buckets.len() >= SWEEP_AT {
            // Forget only buckets that have refilled: forgetting a slow bucket (one report per
            // ten minutes) early would hand it a fresh burst.
            let rate = self.rate.per_second;
            buckets.retain(|_, b| {
                let idle = now.saturating_duration_since(b.last);
                idle < IDLE_FORGET || b.tokens + idle.as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate.per_second).min(burst);
        bucket.last = now;
        f(&mut bucket.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_per_key() {
        let limiter = RateLimiter::new(Rate::new(2.0, 3));
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.check_at("a", t0)));
        assert!(!limiter.check_at("a", t0), "burst exhausted");
        assert!(
            limiter.check_at("b", t0),
            "other keys have their own bucket"
        );
        let later = t0 + Duration::from_millis(500);
        assert!(
            limiter.check_at("a", later),
            "one token back after 0.5 s at 2/s"
        );
        assert!(!limiter.check_at("a", later));
        let much_later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.check_at("a", much_later)));
        assert!(
            !limiter.check_at("a", much_later),
            "refill is capped at the burst"
        );
    }
}
