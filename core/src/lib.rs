//! fieldledger-core: the records of a district health bureau's field campaigns as Automerge
//! documents in a local SQLite store, with history, conflicts, sync and reports.
//!
//! The core is pure: it does no network I/O and runs no async runtime. Phones link it through
//! `fieldledger-ffi`; the relay (`fieldledger-server`) runs the same store.

pub mod access;
pub mod doc;
pub mod error;
pub mod model;
pub mod report;
pub mod store;
pub mod sync;
pub mod testing;
pub mod wire;

/// The hash of one Automerge change; a record's heads are the hashes of its newest changes.
pub use automerge::ChangeHash;
pub use error::{Error, Result};
pub use model::{Edit, FieldValue, Record, RecordKind, Role};
pub use store::{Identity, Store};
