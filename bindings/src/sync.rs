//! Sync with the relay: the uniffi face of `fieldledger-client`'s sync, which locks the store
//! only while a step reads or writes it, so the app keeps working during a sync.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fieldledger_client::Transport;
use fieldledger_core::Store;

use crate::error::Result;

/// Progress of a running sync, reported after each round.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// Rounds (requests) done.
    pub rounds: u32,
    /// Records pushed and acknowledged so far.
    pub pushed: u64,
    /// Records whose changes the relay refused so far.
    pub rejected: u64,
    /// Records received so far.
    pub received: u64,
    /// Records still waiting to be pushed.
    pub to_push: u64,
}

/// A record whose local changes the relay refused, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncRejection {
    /// Record id.
    pub id: String,
    /// Machine-readable reason (`forbidden`, `invalid`, …).
    pub code: String,
    /// Message for people.
    pub message: String,
}

/// What a finished sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Rounds (requests).
    pub rounds: u32,
    /// Records acknowledged by the relay.
    pub pushed: u64,
    /// Records received from the relay.
    pub received: u64,
    /// Pushes the relay refused (they stay on this device).
    pub rejected: Vec<SyncRejection>,
    /// Request bytes sent.
    pub bytes_sent: u64,
    /// Response bytes received.
    pub bytes_received: u64,
    /// Feed cursor after the sync.
    pub cursor: u64,
    /// Wall-clock duration of the sync (ms).
    pub duration_ms: u64,
    /// Records replaced by the relay's newer version after the office erased personal data
    /// from them (unsynced edits of this device are re-applied on top).
    pub regenerated: Vec<String>,
    /// Unsynced edits that could not be re-applied after such an erasure, with the reason.
    pub dropped_edits: Vec<String>,
}

/// Receives sync progress; implemented by the app (Kotlin, Swift, Python).
///
/// Called on the thread that runs `sync`, after each round. Exceptions thrown by the
/// listener are ignored: they never stop the sync.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    /// Called after each round with the totals so far.
    fn on_progress(&self, progress: SyncProgress) -> Result<()>;
}

impl From<&fieldledger_core::sync::SyncProgress> for SyncProgress {
    fn from(p: &fieldledger_core::sync::SyncProgress) -> Self {
        SyncProgress {
            rounds: p.rounds,
            pushed: p.pushed,
            rejected: p.rejected,
            received: p.received,
            to_push: p.to_push,
        }
    }
}

/// Runs one whole sync of `store` over `transport`; a revoked device erases its store.
pub(crate) fn run(
    store: &Mutex<Store>,
    transport: &mut dyn Transport,
    listener: Option<&Arc<dyn SyncProgressListener>>,
) -> Result<SyncReport> {
    let started = Instant::now();
    let r = fieldledger_client::sync(&mut &*store, transport, &mut |p| {
        if let Some(l) = listener {
            // A failing listener must not abort the sync nor unwind into the caller: its
            // exceptions arrive as errors, and anything stranger as a panic, both ignored.
            let _ = catch_unwind(AssertUnwindSafe(|| l.on_progress(SyncProgress::from(p))));
        }
    })?;
    Ok(SyncReport {
        rounds: r.rounds,
        pushed: r.pushed,
        received: r.received,
        rejected: r
            .rejected
            .iter()
            .map(|x| SyncRejection {
                id: x.id.clone(),
                code: x.code.clone(),
                message: x.message.clone(),
            })
            .collect(),
        bytes_sent: r.bytes_sent,
        bytes_received: r.bytes_received,
        cursor: r.cursor,
        duration_ms: started.elapsed().as_millis() as u64,
        regenerated: r.regenerated.iter().map(|g| g.id.clone()).collect(),
        dropped_edits: r
            .regenerated
            .iter()
            .flat_map(|g| g.dropped.iter().map(move |d| format!("{}: {d}", g.id)))
            .collect(),
    })
}
