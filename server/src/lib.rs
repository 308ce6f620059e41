//! The fieldledger relay: the account registry (units, users, enrolled devices), who may do
//! what, and the axum application that phones sync with.
//!
//! [`app::app`] builds the router (tests drive it with `tower::ServiceExt::oneshot`);
//! [`app::serve`] runs it on a listener with graceful shutdown.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod client_addr;
pub mod connections;
pub mod database;
pub mod error;
pub mod protection;
pub mod rate_limit;
pub mod records;
pub mod replica;
pub mod reports;
pub mod state;
pub mod testing;
pub mod web;

pub use accounts::{AccountStore, Principal, Role};
pub use app::{app, serve};
pub use error::{RelayError, Result};
pub use state::{AppConfig, AppState};
