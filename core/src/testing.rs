//! Helpers for tests and benchmarks: stores with an identity, fixed clocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::{Author, Role};
use crate::store::{Clock, Identity, Store};

/// An identity for a device of `user` in `unit` with `role`.
pub fn identity(user: &str, unit: &str, role: Role, device_code: &str) -> Identity {
    Identity {
        author: Author {
            user: user.to_owned(),
            name: user.to_owned(),
            device: format!("dev-{device_code}"),
            role,
            unit: unit.to_owned(),
        },
        device_code: device_code.to_owned(),
        relay_url: None,
        token: None,
    }
}

/// An in-memory store acting as `user` of `unit`.
pub fn memory_store(user: &str, unit: &str, role: Role, device_code: &str) -> Store {
    let mut s = Store::open_in_memory().expect("open in-memory store");
    s.set_identity(identity(user, unit, role, device_code))
        .expect("set identity");
    s
}

/// A clock that starts at `start_ms` and advances one second each time it is read.
pub fn ticking_clock(start_ms: i64) -> (Clock, Arc<AtomicI64>) {
    let t = Arc::new(AtomicI64::new(start_ms));
    let t2 = t.clone();
    (Arc::new(move || t2.fetch_add(1000, Ordering::SeqCst)), t)
}

/// Milliseconds since the epoch of a `YYYY-MM-DD` date at noon UTC.
pub fn day_ms(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    d.and_hms_opt(12, 0, 0)
        .expect("time")
        .and_utc()
        .timestamp_millis()
}
