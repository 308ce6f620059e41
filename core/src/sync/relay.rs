//! The relay's side of sync: checks and commits pushed changes, serves the change feed and
//! the changes a device wants, all within the device's scope.

use super::message::PROTOCOL_VERSION;
use super::message::{
    Ack, DocData, FeedItem, Rejection, SyncRequest, SyncResponse, hashes_from_wire, hashes_to_wire,
};
use crate::access::{self, Scope};
use crate::error::{Error, Result};
use crate::model::Author;
use crate::store::{PreparedMerge, Store, StoredAccess, StoredVersion, parse_heads};

/// The device a request comes from, as the relay authenticated it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The user and device; edits are checked as this author.
    pub author: Author,
    /// The Automerge actor id (hex) bound to the device at enrollment.
    pub actor_hex: String,
    /// What the device may see and change.
    pub scope: Scope,
}

/// Rejection code of a push whose earlier changes the relay lacks; the device resends the
/// whole record.
pub const MISSING_CHANGES: &str = "missing_changes";

/// Rejection code of a push built on a replaced generation; the device keeps the changes.
pub const STALE_GENERATION: &str = "stale_generation";

fn rejection(id: &str, e: &Error) -> Rejection {
    let code = match e {
        Error::PermissionDenied(_) => "forbidden",
        Error::InvalidValue { .. } | Error::RuleViolation(_) | Error::UnknownCategory(_) => {
            "invalid"
        }
        Error::MalformedDocument(_) | Error::MalformedSync(_) | Error::Automerge(_) => "malformed",
        Error::UnknownRecord(_) => "unknown",
        Error::MissingChanges(_) => MISSING_CHANGES,
        _ => "error",
    };
    Rejection {
        id: id.to_owned(),
        code: code.into(),
        message: e.to_string(),
    }
}

/// Something a sync round did that belongs in the relay's audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayEvent {
    /// `record.sign_off`, `record.reopen`, `record.unit_move` or `sync.refused`.
    pub action: String,
    /// Record id.
    pub record_id: String,
    /// Case number, if the record is known.
    pub number: String,
    /// What happened, for people (reason of a refusal, units of a move, the sign-off note).
    pub detail: String,
}

/// A push built on another generation than the relay's: the relay's and the device's.
struct StaleGeneration(u64, u64);

/// Most bytes of documents one sync answer carries; wants past it wait for the next round
/// (at least one wanted document is always answered, so every round makes progress).
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Most documents one sync answer carries.
pub const MAX_ANSWER_DOCS: usize = 500;

/// Largest a record's stored document may grow on the relay (its compacted bytes and pending
/// change chunks, plus what a push adds); a push past it is refused `invalid`.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

/// The one refusal for a record the device may not see and for a record that does not exist:
/// the same code and words, with nothing of the record in it.
fn unknown(id: &str) -> Rejection {
    Rejection {
        id: id.to_owned(),
        code: "unknown".into(),
        message: format!("no record {id} in this device's units"),
    }
}

impl Peer {
    /// Whether the device may see a stored record: a unit in scope, a case its user leads, or
    /// bureau-wide reference data (the campaigns).
    fn sees(&self, s: &StoredAccess) -> bool {
        access::scope_sees(&self.scope, &self.author, &s.unit, s.leader.as_deref())
    }
}

/// What checking one push came to.
enum Pushed {
    /// Passed every check: written at commit, with what the audit log keeps of it.
    Accepted(Box<PreparedMerge>, Vec<RelayEvent>),
    Stale(StaleGeneration),
    Refused(Rejection),
}

/// Checks one push against the store as it is, writing nothing: every rule a push must pass
/// (scope, size, actor and author of each change, and [`Store::check_merge`]).
/// `stored` is the record's stored version as the caller read it ([`stored_version_of`]).
fn check_push(
    store: &Store,
    peer: &Peer,
    push: (&str, u64, &[u8]),
    stored: Option<&StoredVersion>,
    batch: &[String],
) -> Result<Pushed> {
    let m = match prepare_push(store, peer, push, stored)? {
        Ok(m) => m,
        Err(answered) => return Ok(answered),
    };
    let moves = store.check_merge(&m, &peer.author, batch)?;
    Ok(accepted(m, moves))
}

/// Checks again, onto the record as it is now (`stored`), a push that [`check_push`] came to
/// `checked` for onto an earlier version (other devices' pushes landed in between). An
/// accepted push whose changes all still add to the record has only its merged result
/// checked again ([`Store::check_merge_again`]: each change's own causal context is as it
/// was); anything else is checked in full.
fn check_push_again(
    store: &Store,
    peer: &Peer,
    push: (&str, u64, &[u8]),
    stored: Option<&StoredVersion>,
    checked: Result<Pushed>,
    batch: &[String],
) -> Result<Pushed> {
    let Ok(Pushed::Accepted(earlier, events)) = checked else {
        return check_push(store, peer, push, stored, batch);
    };
    let m = match prepare_push(store, peer, push, stored)? {
        Ok(m) => m,
        Err(answered) => return Ok(answered),
    };
    if store.check_merge_again(&m, &earlier, &peer.author)? {
        return Ok(Pushed::Accepted(Box::new(m), events));
    }
    let moves = store.check_merge(&m, &peer.author, batch)?;
    Ok(accepted(m, moves))
}

/// The part of checking a push that comes before the rules of [`Store::check_merge`]: the
/// request's own limits, scope and generation against `stored`, the merge prepared, and the
/// changes' actor and author. `Ok(Err(_))`: the push is answered without a merge (out of
/// scope or unknown, or of another generation).
fn prepare_push(
    store: &Store,
    peer: &Peer,
    (id, generation, changes): (&str, u64, &[u8]),
    stored: Option<&StoredVersion>,
) -> Result<std::result::Result<PreparedMerge, Pushed>> {
    if !valid_id(id) {
        return Err(Error::MalformedDocument(
            "a record id is 1 to 100 characters".into(),
        ));
    }
    // Decided from the request alone, before anything is looked up.
    if changes.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::invalid(
            "record",
            format!("is larger than {} MiB", MAX_DOCUMENT_BYTES >> 20),
        ));
    }
    let existing = stored.map(|v| &v.access);
    match existing {
        // Out of scope answers exactly as unknown: nothing is loaded, merged or compared.
        Some(s) if !peer.sees(s) => return Ok(Err(Pushed::Refused(unknown(id)))),
        Some(s) if s.generation != generation => {
            return Ok(Err(Pushed::Stale(StaleGeneration(
                s.generation,
                generation,
            ))));
        }
        None if generation != 0 => return Ok(Err(Pushed::Refused(unknown(id)))),
        _ => {}
    }
    if let Some(size) = store.stored_size(id)? {
        if size + changes.len() > MAX_DOCUMENT_BYTES {
            return Err(Error::invalid(
                "record",
                format!(
                    "would grow past {} MiB; start a new record for further work",
                    MAX_DOCUMENT_BYTES >> 20
                ),
            ));
        }
    }
    let mut m = match store.prepare_merge(id, changes) {
        Ok(m) => m,
        // Bytes that are no whole record of this id, pushed to an id the relay does not
        // have, are refused as for an id out of scope.
        Err(
            Error::MalformedDocument(_)
            | Error::Automerge(_)
            | Error::MalformedSync(_)
            | Error::Json(_)
            | Error::InvalidValue { .. },
        ) if existing.is_none() => return Ok(Err(Pushed::Refused(unknown(id)))),
        Err(e) => return Err(e),
    };
    let missing = m.missing_dependencies();
    if missing > 0 {
        // Acknowledging would lose these changes: Automerge only queued them.
        return Err(Error::MissingChanges(format!(
            "the relay lacks {missing} earlier change(s) of {id} (restored from a backup?); \
             send the whole record"
        )));
    }
    if let Some(a) = m.new_actors.iter().find(|a| **a != peer.actor_hex) {
        return Err(Error::PermissionDenied(format!(
            "changes by actor {a} are not this device's; each device sends only its own changes"
        )));
    }
    if let Some(n) = m
        .new_notes
        .iter()
        .find(|n| n.device != peer.author.device || n.user != peer.author.user)
    {
        return Err(Error::PermissionDenied(format!(
            "a change claims to be by {} on device {}, but was sent by {} on {}",
            n.user, n.device, peer.author.user, peer.author.device
        )));
    }
    Ok(Ok(m))
}

/// An accepted push, with what the audit log keeps of it: sign-offs and reopenings its
/// changes note, and the unit `moves` they make.
fn accepted(m: PreparedMerge, moves: Vec<(String, String)>) -> Pushed {
    let number = m.after.meta().number.clone();
    let mut events = Vec::new();
    for note in &m.new_notes {
        if let Some(action @ ("sign_off" | "reopen")) = note.action.as_deref() {
            events.push(RelayEvent {
                action: format!("record.{action}"),
                record_id: m.id.clone(),
                number: number.clone(),
                detail: format!("{action} by {} on device {}", note.user, note.device),
            });
        }
    }
    for (from, to) in moves {
        events.push(RelayEvent {
            action: "record.unit_move".into(),
            record_id: m.id.clone(),
            number: number.clone(),
            detail: format!("moved from {from} to {to}"),
        });
    }
    Pushed::Accepted(Box::new(m), events)
}

/// Answers one sync request: pushes first (each committed before it is acknowledged), then
/// the wanted documents, then the feed after the request's cursor.
pub fn handle_request(store: &mut Store, peer: &Peer, req: &SyncRequest) -> Result<SyncResponse> {
    Ok(handle_request_with_events(store, peer, req)?.0)
}

/// [`handle_request`], also returning what the round did that the audit log keeps:
/// sign-offs, reopenings, unit moves and refused changes.
pub fn handle_request_with_events(
    store: &mut Store,
    peer: &Peer,
    req: &SyncRequest,
) -> Result<(SyncResponse, Vec<RelayEvent>)> {
    let (pushed, events) = apply_pushes(store, peer, req)?;
    Ok((answer_reads(store, peer, req, pushed)?, events))
}

/// What the pushes of a round came to, committed; [`answer_reads`] completes the answer.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    /// Pushes committed.
    pub accepted: Vec<Ack>,
    /// Pushes refused.
    pub rejected: Vec<Rejection>,
}

/// The writing half of a sync round: checks and commits the pushes in one transaction (every
/// accepted push is on disk before the answer leaves). Also returns what the audit log keeps.
/// [`check_pushes`] and [`commit_checked`] are its two halves, for a relay that checks on a
/// reader connection and commits on its writer.
pub fn apply_pushes(
    store: &mut Store,
    peer: &Peer,
    req: &SyncRequest,
) -> Result<(PushOutcome, Vec<RelayEvent>)> {
    if req.push.is_empty() {
        return Ok(Default::default());
    }
    let checked = check_pushes(store, peer, req)?;
    store.batch(|store| commit_checked(store, peer, req, checked))
}

/// The pushes of one sync request, each checked against the record as it was stored then
/// (on any connection: the relay uses a reader, beside its writer and other readers).
/// [`commit_checked`] writes them.
pub struct CheckedPushes {
    items: Vec<CheckedPush>,
}

impl std::fmt::Debug for CheckedPushes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedPushes")
            .field("pushes", &self.items.len())
            .finish_non_exhaustive()
    }
}

/// One push, checked: what it came to, and the stored version that was checked against.
struct CheckedPush {
    /// The push's record id and the length of its changes, to match it with its request.
    id: String,
    changes: usize,
    version: Option<StoredVersion>,
    outcome: Result<Pushed>,
}

/// Checks every push of `req` as [`Store::check_merge`] and the relay's push rules demand,
/// writing nothing. The expensive part of a sync round (loading the documents, merging,
/// replaying each change's causal context) runs here, not on the writer.
pub fn check_pushes(store: &Store, peer: &Peer, req: &SyncRequest) -> Result<CheckedPushes> {
    // Links between records pushed together (a round and the disputes it found) are checked
    // against each other's ids.
    let batch: Vec<String> = req.push.iter().map(|p| p.id.clone()).collect();
    let mut items = Vec::with_capacity(req.push.len());
    for p in &req.push {
        let version = stored_version_of(store, &p.id)?;
        let push = (p.id.as_str(), p.generation, p.changes.as_slice());
        let outcome = check_push(store, peer, push, version.as_ref(), &batch);
        if let Err(e @ (Error::Sqlite(_) | Error::Io(_))) = outcome {
            return Err(e);
        }
        items.push(CheckedPush {
            id: p.id.clone(),
            changes: p.changes.len(),
            version,
            outcome,
        });
    }
    Ok(CheckedPushes { items })
}

/// Commits pushes checked by [`check_pushes`] for the same `req`, in order, inside the caller's
/// transaction (pushes checked for another request are refused as a whole).
/// A push whose record was written since it was checked (another device's push in between)
/// is checked again here, against the record as it is now, so both land and nothing is
/// overwritten (its changes' own causal contexts are not replayed again: see
/// [`Store::check_merge_again`]). Returns what the round came to and what the audit log keeps of it.
pub fn commit_checked(
    store: &mut Store,
    peer: &Peer,
    req: &SyncRequest,
    checked: CheckedPushes,
) -> Result<(PushOutcome, Vec<RelayEvent>)> {
    let matches = checked.items.len() == req.push.len()
        && (req.push.iter().zip(&checked.items))
            .all(|(p, c)| p.id == c.id && p.changes.len() == c.changes);
    if !matches {
        return Err(Error::MalformedSync(
            "checked pushes belong to another request".into(),
        ));
    }
    let batch: Vec<String> = req.push.iter().map(|p| p.id.clone()).collect();
    let mut events = Vec::new();
    let mut out = PushOutcome::default();
    for (p, item) in req.push.iter().zip(checked.items) {
        let now = stored_version_of(store, &p.id)?;
        let outcome = if now == item.version {
            item.outcome
        } else {
            let push = (p.id.as_str(), p.generation, p.changes.as_slice());
            check_push_again(store, peer, push, now.as_ref(), item.outcome, &batch)
        };
        match outcome {
            Ok(Pushed::Accepted(merge, found)) => {
                let done = store.commit_merge(*merge)?;
                // The events of a push count only once it is accepted.
                events.extend(found);
                out.accepted.push(Ack {
                    id: done.id,
                    heads: hashes_to_wire(&parse_heads(&done.heads)?),
                });
            }
            Ok(Pushed::Stale(StaleGeneration(relay, device))) => {
                out.rejected.push(stale(&p.id, relay, device));
            }
            Ok(Pushed::Refused(r)) => out.rejected.push(r),
            Err(e @ (Error::Sqlite(_) | Error::Io(_))) => return Err(e),
            Err(e) => out.rejected.push(rejection(&p.id, &e)),
        }
    }
    for r in out
        .rejected
        .iter()
        .filter(|r| r.code != "unknown" && r.code != STALE_GENERATION)
    {
        events.push(RelayEvent {
            action: "sync.refused".into(),
            record_id: r.id.clone(),
            number: store.summary(&r.id).map(|s| s.number).unwrap_or_default(),
            detail: format!("{}: {}", r.code, r.message),
        });
    }
    Ok((out, events))
}

/// Whether a pushed record id has an acceptable length (1 to 100 bytes).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100
}

/// The stored version of a pushed record (none for an id that is not valid or not stored).
fn stored_version_of(store: &Store, id: &str) -> Result<Option<StoredVersion>> {
    if valid_id(id) {
        store.stored_version(id)
    } else {
        Ok(None)
    }
}

fn stale(id: &str, relay: u64, device: u64) -> Rejection {
    Rejection {
        id: id.to_owned(),
        code: STALE_GENERATION.into(),
        message: if relay > device {
            format!(
                "record {id} was rebuilt after a personal-data erasure (generation \
                 {relay}); the device re-applies its edits to the new version and \
                 sends them again"
            )
        } else {
            format!(
                "the relay holds an older generation of record {id} ({relay}, this \
                 device {device}): it was restored from a backup; the edits wait \
                 until the office erases the record again"
            )
        },
    }
}

/// The reading half of a sync round, on any connection to the store (the relay uses a
/// read-only one, so one device's reads never hold what others wait on): the wanted
/// documents within a bounded answer ([`MAX_ANSWER_BYTES`], [`MAX_ANSWER_DOCS`]; each id
/// once), then the feed after the request's cursor, all within the device's scope.
pub fn answer_reads(
    store: &Store,
    peer: &Peer,
    req: &SyncRequest,
    pushed: PushOutcome,
) -> Result<SyncResponse> {
    let PushOutcome {
        accepted,
        mut rejected,
    } = pushed;
    let mut docs = Vec::new();
    let mut answered = std::collections::HashSet::new();
    let mut bytes = 0usize;
    for w in &req.want {
        if !answered.insert(w.id.as_str()) {
            continue;
        }
        if !docs.is_empty() && (bytes >= MAX_ANSWER_BYTES || docs.len() >= MAX_ANSWER_DOCS) {
            // The device asks again for what this answer leaves out.
            break;
        }
        match stored_version_of(store, &w.id)? {
            Some(v) if peer.sees(&v.access) => {
                let generation = v.access.generation;
                let (changes, heads) = if w.generation == generation && !w.have.is_empty() {
                    let mut doc = store.document(&w.id)?;
                    let have: Vec<_> = hashes_from_wire(&w.have)?
                        .into_iter()
                        .filter(|h| doc.has_change(h))
                        .collect();
                    (doc.save_after(&have), doc.heads())
                } else {
                    // The device holds nothing of this generation: the stored bytes as they
                    // are, with no Automerge load (a new phone's first sync).
                    (store.stored_bytes(&w.id)?, v.heads)
                };
                bytes += changes.len();
                docs.push(DocData {
                    id: w.id.clone(),
                    heads: hashes_to_wire(&heads),
                    generation,
                    changes,
                });
            }
            _ => rejected.push(unknown(&w.id)),
        }
    }
    let limit = req.feed_limit.clamp(1, 5_000) as usize;
    let (page, more) = store.feed_page(req.cursor, &peer.scope, &peer.author.user, limit)?;
    let items: Vec<FeedItem> = page
        .into_iter()
        .map(|row| FeedItem {
            id: row.id,
            seq: row.seq,
            generation: row.generation,
            heads: hashes_to_wire(&row.heads),
        })
        .collect();
    let cursor = items.last().map_or(req.cursor, |i| i.seq);
    Ok(SyncResponse {
        version: PROTOCOL_VERSION,
        accepted,
        rejected,
        feed: items,
        docs,
        cursor,
        more,
    })
}
