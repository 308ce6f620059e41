//! Helpers for tests and benchmarks: stores with an identity, fixed clocks, and a transport
//! to a relay store in the same process.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::{Author, Role};
use crate::store::{Clock, Identity, Store};
use crate::sync::{
    Peer, Scope, StoreAccess, SyncRequest, Transport, TransportError, handle_request,
};

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
        relay_ca_pem: None,
    }
}

/// An in-memory store acting as `user` of `unit`.
pub fn memory_store(user: &str, unit: &str, role: Role, device_code: &str) -> Store {
    let mut s = Store::open_in_memory().expect("open in-memory store");
    s.set_identity(identity(user, unit, role, device_code))
        .expect("set identity");
    s
}

/// Creates, on `store`, a petition case led by `leader1` that its unit has resolved and
/// that waits for the leader's sign-off; returns its id.
pub fn resolved_case(store: &mut Store) -> String {
    store
        .create(
            crate::model::RecordKind::Petition,
            None,
            &[
                crate::Edit::text("title", "案"),
                crate::Edit::text("leader", "leader1"),
                crate::Edit::text("disposition", "solved"),
                crate::Edit::text("status", "resolved"),
            ],
        )
        .expect("create a resolved petition case")
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

/// The relay's view of a device store: its author, scope and actor id, as enrollment binds
/// them.
pub fn peer_of(device: &Store) -> Peer {
    let author = device
        .identity()
        .expect("the device store has an identity")
        .author
        .clone();
    Peer {
        scope: Scope::for_author(&author),
        author,
        actor_hex: device.actor_hex(),
    }
}

/// A [`Transport`] that answers in the same process through the core's relay side
/// ([`handle_request`]) on a relay store, for tests and benchmarks without a network. Requests
/// are kept in `requests`; with `fail_after`, every exchange after that many fails as if the
/// network were down.
pub struct InProcessRelay<R: StoreAccess> {
    /// The relay's store (owned, shared or borrowed; see [`StoreAccess`]).
    pub relay: R,
    /// The device as the relay knows it.
    pub peer: Peer,
    /// Exchanges that succeed before the network goes down (`None`: it never does).
    pub fail_after: Option<usize>,
    /// Every request that reached the relay, encoded.
    pub requests: Vec<Vec<u8>>,
    exchanges: usize,
}

impl<R: StoreAccess> InProcessRelay<R> {
    /// A transport from `device` to `relay`.
    pub fn new(relay: R, device: &Store) -> Self {
        Self::for_peer(relay, peer_of(device))
    }

    /// A transport for the device `peer` to `relay`.
    pub fn for_peer(relay: R, peer: Peer) -> Self {
        InProcessRelay {
            relay,
            peer,
            fail_after: None,
            requests: Vec::new(),
            exchanges: 0,
        }
    }
}

impl<R: StoreAccess> Transport for InProcessRelay<R> {
    fn exchange(&mut self, request: Vec<u8>) -> std::result::Result<Vec<u8>, TransportError> {
        self.exchanges += 1;
        if self.fail_after.is_some_and(|n| self.exchanges > n) {
            return Err(TransportError::unreachable("network down"));
        }
        self.requests.push(request.clone());
        let req = SyncRequest::decode(&request).map_err(|e| TransportError {
            message: e.to_string(),
            status: Some(400),
            code: None,
        })?;
        let peer = &self.peer;
        let resp = self
            .relay
            .with_store(|relay| handle_request(relay, peer, &req))
            .map_err(|e| TransportError {
                message: e.to_string(),
                status: Some(500),
                code: None,
            })?;
        Ok(resp.encode())
    }
}
