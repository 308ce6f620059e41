//! fieldledger-client: the device side of fieldledger, the one client that phones (through
//! `fieldledger-ffi`), the `fieldledger device` command line and the end-to-end tests run.
//!
//! - [`http`]: the relay address check, the HTTP agent (optionally trusting only the bureau's
//!   own certificate authority) and [`HttpTransport`], the sync transport over HTTP;
//! - [`enroll()`]: redeeming a one-time code, keeping identity, token and relay CA;
//! - [`sync()`]: the core's sync loop with the revoked-device flow ([`erase_revoked`]);
//! - [`input`]: text typed into forms or on a command line turned into checked edits.
//!
//! Blocking (ureq); no async runtime, no FFI. The wire contract is
//! [`fieldledger_core::wire`]; the sync protocol is [`fieldledger_core::sync`].

pub mod enroll;
pub mod error;
pub mod http;
pub mod sync;

pub use enroll::enroll;
pub use error::{ClientError, Result};
pub use fieldledger_core::model::input;
pub use fieldledger_core::sync::{
    LossReport, MAX_ROUNDS, StoreAccess, SyncProgress, SyncReport, Transport, TransportError,
    sync_with,
};
pub use fieldledger_core::wire;
pub use http::{HttpTransport, agent, relay_base};
pub use sync::{erase_revoked, sync, sync_enrolled};
