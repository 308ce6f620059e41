//! Sync between devices and the relay, as sans-I/O state machines: messages in, messages out.
//!
//! One round is one HTTP `POST` of a [`SyncRequest`] answered by a [`SyncResponse`]. A device
//! pushes the changes the relay has not acknowledged yet, reads the relay's change feed for
//! its scope from a cursor, and fetches the changes it lacks for the documents in the feed.
//! Every step is idempotent: applying an Automerge change twice changes nothing, a device
//! moves its cursor only after applying a page, and the relay acknowledges a push only after
//! its SQLite transaction has committed. The cost of a round grows with what changed since
//! the cursor, not with the number of records the relay holds.

mod device;
mod message;
mod relay;
mod revoke;
mod store_access;

pub use crate::access::Scope;
pub use device::{
    DeviceSync, MAX_ROUNDS, SyncProgress, SyncReport, Transport, TransportError, sync_with,
};
pub use message::{
    Ack, DocData, FeedItem, PROTOCOL_VERSION, PushDoc, Rejection, SyncRequest, SyncResponse,
    WantDoc,
};
pub use relay::{
    CheckedPushes, MAX_ANSWER_BYTES, MAX_ANSWER_DOCS, MAX_DOCUMENT_BYTES, MISSING_CHANGES, Peer,
    PushOutcome, RelayEvent, STALE_GENERATION, answer_reads, apply_pushes, check_pushes,
    commit_checked, handle_request, handle_request_with_events,
};
pub use revoke::{LossReport, LostRecord, loss_report};
pub use store_access::{StoreAccess, lock_store};
