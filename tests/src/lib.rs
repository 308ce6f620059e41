//! Test helpers for end-to-end tests of fieldledger: a real `fieldledger serve` process on a
//! loopback port ([`Relay`]), enrolled devices each with their own store file ([`Device`]),
//! transports that fail, drop or replay requests ([`transport`]), raw HTTP calls ([`http`]),
//! hand-forged changes and requests ([`forge`]), raw TCP from chosen loopback addresses ([`net`])
//! and seeds that can be replayed ([`seed`]).
//!
//! The relay runs as a child process so that tests can kill it with SIGKILL and restart it on
//! the same database and port. The binary is found next to the test executable
//! (`target/<profile>/fieldledger`) and rebuilt with `cargo build -p fieldledger-server` when it is
//! missing or older than its sources, so `cargo test -p fieldledger-e2e` needs no build step. Set
//! `FIELDLEDGER_BIN` to use another binary.

pub mod cli;
pub mod dashboard;
pub mod device;
pub mod forge;
pub mod http;
pub mod net;
pub mod postgres;
pub mod relay;
pub mod seed;
pub mod snapshot;
pub mod transport;

pub use cli::CliDevice;
pub use dashboard::DashboardSession;
pub use device::Device;
pub use relay::{Relay, RelayOptions, relay_binary};
pub use seed::Seed;
pub use snapshot::{DocState, Snapshot, snapshot};
pub use transport::{DuplicatingTransport, Fault, FlakyTransport, RecordingTransport};
