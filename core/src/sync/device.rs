//! The device's side of sync: what to push, what to fetch, when the cursor may move.

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use super::message::{
    FeedItem, PROTOCOL_VERSION, PushDoc, Rejection, SyncRequest, SyncResponse, WantDoc,
    hashes_from_wire, hashes_to_wire,
};
use super::relay::{MISSING_CHANGES, STALE_GENERATION};
use crate::error::{Error, Result};
use crate::store::{Regenerated, Store};

/// Most documents pushed in one request.
const PUSH_BATCH_DOCS: usize = 200;
/// Push bytes after which a request is sent even if fewer documents are in it.
const PUSH_BATCH_BYTES: usize = 4 << 20;
/// Feed items asked for per request.
const FEED_LIMIT: u32 = 500;
/// Rounds after which a sync gives up (the relay keeps sending more).
pub const MAX_ROUNDS: u32 = 100_000;

/// A transport failure (network down, HTTP error); the sync can be retried later and resumes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// What went wrong.
    pub message: String,
    /// HTTP status, if the relay answered.
    pub status: Option<u16>,
    /// The relay's error code (`device_revoked`, `unauthorized`, …), if it sent one.
    pub code: Option<String>,
}

impl TransportError {
    /// A failure before any answer (no network, timeout).
    pub fn unreachable(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            status: None,
            code: None,
        }
    }

    /// Whether the relay refused the device because it was revoked.
    pub fn is_revoked(&self) -> bool {
        self.code.as_deref() == Some(crate::wire::DEVICE_REVOKED)
    }
}

/// Carries one encoded request to the relay and returns the encoded response.
pub trait Transport {
    /// Sends `request`, returns the response body.
    fn exchange(&mut self, request: Vec<u8>) -> std::result::Result<Vec<u8>, TransportError>;

    /// Sends a revoked device's last word: the records it held that the relay never got
    /// (JSON of [`super::LossReport`]). The relay accepts it with the revoked token.
    fn report_loss(&mut self, report: Vec<u8>) -> std::result::Result<(), TransportError> {
        let _ = report;
        Err(TransportError::unreachable(
            "this transport cannot report lost records",
        ))
    }
}

/// Progress of a running sync, reported after each round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// Rounds done.
    pub rounds: u32,
    /// Documents pushed and acknowledged so far.
    pub pushed: u64,
    /// Documents whose pushes were refused so far.
    pub rejected: u64,
    /// Documents received so far.
    pub received: u64,
    /// Documents still waiting to be pushed.
    pub to_push: u64,
}

/// What a finished sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Rounds (requests).
    pub rounds: u32,
    /// Documents acknowledged by the relay.
    pub pushed: u64,
    /// Documents received.
    pub received: u64,
    /// Pushes the relay refused, with its reasons.
    pub rejected: Vec<Rejection>,
    /// Request bytes sent.
    pub bytes_sent: u64,
    /// Response bytes received.
    pub bytes_received: u64,
    /// Feed cursor after the sync.
    pub cursor: u64,
    /// Records replaced by a newer generation (personal data erased on the relay), with the
    /// unsynced local edits re-applied or dropped.
    #[serde(default)]
    pub regenerated: Vec<Regenerated>,
}

/// The device-side state machine of one sync.
pub struct DeviceSync {
    cursor: u64,
    /// Feed page whose wanted documents are in flight, and the cursor at its end.
    pending: Option<(u64, Vec<WantDoc>)>,
    wants_in_flight: Option<(u64, Vec<WantDoc>)>,
    to_push: Vec<(String, i64)>,
    in_flight: Vec<(String, i64, Vec<ChangeHash>)>,
    feed_done: bool,
    /// Records already sent whole again after a `missing_changes` refusal in this sync.
    resent_whole: std::collections::HashSet<String>,
    progress: SyncProgress,
    report: SyncReport,
}

impl DeviceSync {
    /// Starts a sync from the store's saved cursor with every document not yet acknowledged.
    pub fn new(store: &Store) -> Result<DeviceSync> {
        let cursor = store
            .meta("sync/cursor")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut to_push = store.unacknowledged()?;
        to_push.reverse();
        let progress = SyncProgress {
            to_push: to_push.len() as u64,
            ..Default::default()
        };
        Ok(DeviceSync {
            cursor,
            pending: None,
            wants_in_flight: None,
            to_push,
            in_flight: Vec::new(),
            feed_done: false,
            resent_whole: Default::default(),
            progress,
            report: SyncReport {
                cursor,
                ..Default::default()
            },
        })
    }

    /// Progress so far.
    pub fn progress(&self) -> &SyncProgress {
        &self.progress
    }

    /// The request to send next, or none when the device and the relay are equal.
    pub fn next_request(&mut self, store: &Store) -> Result<Option<SyncRequest>> {
        let mut push = Vec::new();
        let mut bytes = 0;
        while push.len() < PUSH_BATCH_DOCS && bytes < PUSH_BATCH_BYTES {
            let Some((id, seq)) = self.to_push.pop() else {
                break;
            };
            let changes = match store.acknowledged(&id)? {
                Some((heads, _)) => store.changes_after(&id, &heads)?,
                None => store.document_bytes(&id)?,
            };
            if changes.is_empty() {
                // The relay has everything of this document already.
                store.mark_pushed(&id, seq)?;
                continue;
            }
            bytes += changes.len();
            // What the relay will know once it acknowledges: the heads sent, not its own heads
            // (those may include changes of others this device has not received yet).
            self.in_flight.push((id.clone(), seq, store.heads(&id)?));
            let generation = store.generation(&id)? as u64;
            push.push(PushDoc {
                id,
                generation,
                changes,
            });
        }
        let (cursor, want) = match self.pending.take() {
            Some((end, want)) => {
                self.wants_in_flight = Some((end, want.clone()));
                (end, want)
            }
            None => (self.cursor, Vec::new()),
        };
        if push.is_empty() && want.is_empty() && self.feed_done {
            store.advance_clean_watermark()?;
            return Ok(None);
        }
        Ok(Some(SyncRequest {
            version: PROTOCOL_VERSION,
            cursor,
            push,
            want,
            feed_limit: FEED_LIMIT,
        }))
    }

    /// Applies a response: acknowledgements, received documents, the next feed page.
    pub fn handle_response(&mut self, store: &mut Store, resp: SyncResponse) -> Result<()> {
        store.batch(|store| self.apply_response(store, resp))
    }

    fn apply_response(&mut self, store: &mut Store, resp: SyncResponse) -> Result<()> {
        self.progress.rounds += 1;
        self.report.rounds += 1;
        let in_flight = std::mem::take(&mut self.in_flight);
        for ack in &resp.accepted {
            if let Some((_, seq, sent)) = in_flight.iter().find(|(id, _, _)| *id == ack.id) {
                store.set_acknowledged(&ack.id, sent, Some(*seq))?;
                self.progress.pushed += 1;
                self.report.pushed += 1;
            }
        }
        for r in &resp.rejected {
            if r.code == MISSING_CHANGES && self.resent_whole.insert(r.id.clone()) {
                // The relay lost changes it had acknowledged (restored from a backup): forget
                // what it acknowledged and send the whole record again, in this sync.
                if let Some((_, seq, _)) = in_flight.iter().find(|(id, _, _)| *id == r.id) {
                    store.forget_acknowledged(&r.id)?;
                    self.to_push.push((r.id.clone(), *seq));
                    continue;
                }
            }
            if r.code == STALE_GENERATION {
                // Kept as unsynced: re-applied on the new generation when it arrives (then
                // the refusal is dropped from the report), or sent again next time.
                self.report.rejected.push(r.clone());
                continue;
            }
            if let Some((_, seq, _)) = in_flight.iter().find(|(id, _, _)| *id == r.id) {
                // Refused changes stay local and visible in the report; they are not resent
                // until the record changes again.
                let heads = store
                    .acknowledged(&r.id)?
                    .map(|(h, _)| h)
                    .unwrap_or_default();
                store.set_acknowledged(&r.id, &heads, Some(*seq))?;
                self.progress.rejected += 1;
                self.report.rejected.push(r.clone());
            }
        }
        self.progress.to_push = self.to_push.len() as u64;
        for d in &resp.docs {
            let local_generation = if store.contains(&d.id)? {
                Some(store.generation(&d.id)? as u64)
            } else {
                None
            };
            if local_generation.is_some_and(|g| g > d.generation) {
                // The relay is behind this device (restored from a backup taken before an
                // erasure): never take the erased data back; the office erases again.
                continue;
            }
            if local_generation.is_some_and(|g| g != d.generation) {
                let acked = store
                    .acknowledged(&d.id)?
                    .map(|(h, _)| h)
                    .unwrap_or_default();
                let r = store.replace_generation(&d.id, &d.changes, &acked)?;
                let seq = store.write_seq(&d.id)?;
                if r.reapplied.is_empty() {
                    store.set_acknowledged(&d.id, &hashes_from_wire(&d.heads)?, seq)?;
                } else {
                    // The re-applied edits are new local changes: push them in this sync.
                    store.set_acknowledged(&d.id, &hashes_from_wire(&d.heads)?, None)?;
                    if let Some(seq) = seq {
                        self.to_push.push((d.id.clone(), seq));
                    }
                }
                self.report
                    .rejected
                    .retain(|x| !(x.id == d.id && x.code == STALE_GENERATION));
                self.report.regenerated.push(r);
                self.progress.received += 1;
                self.report.received += 1;
                continue;
            }
            let was_clean = match (store.acknowledged(&d.id)?, store.write_seq(&d.id)?) {
                (Some((_, pushed)), Some(seq)) => seq <= pushed,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            store.merge_remote(&d.id, &d.changes)?;
            let seq = if was_clean {
                store.write_seq(&d.id)?
            } else {
                None
            };
            store.set_acknowledged(&d.id, &hashes_from_wire(&d.heads)?, seq)?;
            self.progress.received += 1;
            self.report.received += 1;
        }
        // A bounded answer may leave wanted documents out: they are asked for again, and the
        // cursor moves past their feed page only once all of them have arrived.
        let mut want = Vec::new();
        if let Some((end, wanted)) = self.wants_in_flight.take() {
            want = wanted
                .into_iter()
                .filter(|w| {
                    !resp.docs.iter().any(|d| d.id == w.id)
                        && !resp.rejected.iter().any(|r| r.id == w.id)
                })
                .collect();
            if want.is_empty() {
                self.save_cursor(store, end)?;
            }
        }
        for item in &resp.feed {
            if let Some(w) = self.want_for(store, item)? {
                if !want.iter().any(|x| x.id == w.id) {
                    want.push(w);
                }
            }
        }
        if want.is_empty() {
            self.save_cursor(store, resp.cursor)?;
        } else {
            self.pending = Some((resp.cursor, want));
        }
        self.feed_done = !resp.more && self.pending.is_none();
        Ok(())
    }

    fn save_cursor(&mut self, store: &Store, cursor: u64) -> Result<()> {
        if cursor > self.cursor {
            self.cursor = cursor;
            store.set_meta("sync/cursor", &cursor.to_string())?;
        }
        self.report.cursor = self.cursor;
        Ok(())
    }

    /// Whether the device lacks changes of a feed item, and what it has that the relay knows.
    fn want_for(&self, store: &Store, item: &FeedItem) -> Result<Option<WantDoc>> {
        let relay_heads = hashes_from_wire(&item.heads)?;
        if store.contains(&item.id)? {
            let generation = store.generation(&item.id)? as u64;
            if generation > item.generation {
                // See `apply_response`: an older generation is never taken back.
                return Ok(None);
            }
            if generation != item.generation {
                return Ok(Some(WantDoc {
                    id: item.id.clone(),
                    generation,
                    have: Vec::new(),
                }));
            }
        }
        let known = store.acknowledged(&item.id)?;
        if let Some((h, _)) = &known {
            if *h == relay_heads {
                return Ok(None);
            }
        }
        if store.contains(&item.id)? {
            let mut doc = store.document(&item.id)?;
            if relay_heads.iter().all(|h| doc.has_change(h)) {
                store.set_acknowledged(&item.id, &relay_heads, None)?;
                return Ok(None);
            }
        }
        Ok(Some(WantDoc {
            id: item.id.clone(),
            generation: item.generation,
            have: known.map(|(h, _)| hashes_to_wire(&h)).unwrap_or_default(),
        }))
    }

    /// The report of the sync so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }
}

/// Runs a whole sync over `transport`, reporting progress after each round: the one sync
/// loop every device runs (phone, command line, tests). `store` is reached only while a step
/// reads or writes it, never during a round trip, so behind a mutex the app keeps working.
/// A revoked device gets [`Error::DeviceRevoked`]; erasing it is the caller's step.
pub fn sync_with<S: super::StoreAccess + ?Sized>(
    store: &mut S,
    transport: &mut dyn Transport,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncReport> {
    let mut s = store.with_store(|st| DeviceSync::new(st))?;
    let mut rounds = 0;
    while let Some(req) = store.with_store(|st| s.next_request(st))? {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(Error::MalformedSync(
                "the relay keeps sending more; sync stopped, try again later".into(),
            ));
        }
        let body = req.encode();
        s.report.bytes_sent += body.len() as u64;
        let resp = transport.exchange(body).map_err(|e| {
            if e.is_revoked() {
                Error::DeviceRevoked(e.message)
            } else {
                Error::Transport {
                    message: e.message,
                    status: e.status,
                }
            }
        })?;
        s.report.bytes_received += resp.len() as u64;
        let resp = SyncResponse::decode(&resp)?;
        store.with_store(|st| s.handle_response(st, resp))?;
        progress(s.progress());
    }
    Ok(s.report.clone())
}
