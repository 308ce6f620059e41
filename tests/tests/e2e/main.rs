//! End-to-end tests of fieldledger against a real relay process on a loopback port.
//!
//! Run: `cargo test -p fieldledger-e2e` (builds the `fieldledger` binary if needed).
//! The randomized scenario prints its seed; replay one with `FIELDLEDGER_SEED=<n>`.

mod basics;
mod bureau;
mod campaign;
mod cli;
mod decode;
mod exhaustion;
mod fuzz;
mod hostile;
mod merge;
mod phone;
mod postgres;
mod protection;
mod scenario;
mod security;
