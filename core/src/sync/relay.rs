//! The relay's side of sync: checks and commits pushed changes, serves the change feed and
//! the changes a device wants, all within the device's scope.

use rusqlite::{OptionalExtension, params_from_iter, types::Value as SqlValue};

use super::message::PROTOCOL_VERSION;
use super::message::{
    Ack, DocData, FeedItem, Rejection, SyncRequest, SyncResponse, hashes_from_wire, hashes_to_wire,
};
use crate::error::{Error, Result};
use crate::model::{Author, Role};
use crate::store::{Store, parse_heads};

/// Which units' records a device may receive and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every unit (the bureau office).
    All,
    /// These units only.
    Units(Vec<String>),
}

impl Scope {
    /// The scope a role has: the office sees all units, everyone else their own.
    pub fn for_author(author: &Author) -> Scope {
        if author.role == Role::Office {
            Scope::All
        } else {
            Scope::Units(vec![author.unit.clone()])
        }
    }

    /// Whether a unit is in scope.
    pub fn contains(&self, unit: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Units(u) => u.iter().any(|x| x == unit),
        }
    }

    fn units(&self) -> Option<&[String]> {
        match self {
            Scope::All => None,
            Scope::Units(u) => Some(u),
        }
    }
}

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

fn push_one(
    store: &mut Store,
    peer: &Peer,
    id: &str,
    generation: u64,
    changes: &[u8],
    events: &mut Vec<RelayEvent>,
) -> Result<std::result::Result<Ack, StaleGeneration>> {
    if id.is_empty() || id.len() > 100 {
        return Err(Error::MalformedDocument(
            "a record id is 1 to 100 characters".into(),
        ));
    }
    match store
        .contains(id)?
        .then(|| store.generation(id))
        .transpose()?
    {
        Some(g) if g as u64 != generation => {
            return Ok(Err(StaleGeneration(g as u64, generation)));
        }
        None if generation != 0 => {
            return Err(Error::MalformedDocument(format!(
                "generation {generation} of {id} does not exist"
            )));
        }
        _ => {}
    }
    let mut m = store.prepare_merge(id, changes)?;
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
    store.check_merge(&m, &peer.author)?;
    let number = m.after.meta().number.clone();
    for note in &m.new_notes {
        if let Some(action @ ("sign_off" | "reopen")) = note.action.as_deref() {
            events.push(RelayEvent {
                action: format!("record.{action}"),
                record_id: id.to_owned(),
                number: number.clone(),
                detail: format!("{action} by {} on device {}", note.user, note.device),
            });
        }
    }
    if let Some(b) = &m.before {
        if b.meta().unit != m.after.meta().unit {
            events.push(RelayEvent {
                action: "record.unit_move".into(),
                record_id: id.to_owned(),
                number,
                detail: format!("moved from {} to {}", b.meta().unit, m.after.meta().unit),
            });
        }
    }
    let out = store.commit_merge(m)?;
    Ok(Ok(Ack {
        id: out.id,
        heads: hashes_to_wire(&parse_heads(&out.heads)?),
    }))
}

fn doc_unit(store: &Store, id: &str) -> Result<Option<String>> {
    Ok(store
        .connection()
        .query_row("SELECT unit FROM documents WHERE id=?1", [id], |r| r.get(0))
        .optional()?)
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
    // One transaction per round: every accepted push is on disk before the answer leaves.
    store.batch(|store| {
        let mut events = Vec::new();
        let resp = answer(store, peer, req, &mut events)?;
        for r in resp
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
        Ok((resp, events))
    })
}

fn answer(
    store: &mut Store,
    peer: &Peer,
    req: &SyncRequest,
    events: &mut Vec<RelayEvent>,
) -> Result<SyncResponse> {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for p in &req.push {
        // The events of a push count only once it is accepted.
        let mut found = Vec::new();
        match push_one(store, peer, &p.id, p.generation, &p.changes, &mut found) {
            Ok(Ok(ack)) => {
                events.extend(found);
                accepted.push(ack);
            }
            Ok(Err(StaleGeneration(relay, device))) => rejected.push(Rejection {
                id: p.id.clone(),
                code: STALE_GENERATION.into(),
                message: if relay > device {
                    format!(
                        "record {} was rebuilt after a personal-data erasure (generation \
                         {relay}); the device re-applies its edits to the new version and \
                         sends them again",
                        p.id
                    )
                } else {
                    format!(
                        "the relay holds an older generation of record {} ({relay}, this \
                         device {device}): it was restored from a backup; the edits wait \
                         until the office erases the record again",
                        p.id
                    )
                },
            }),
            Err(e @ (Error::Sqlite(_) | Error::Io(_))) => return Err(e),
            Err(e) => rejected.push(rejection(&p.id, &e)),
        }
    }
    let mut docs = Vec::new();
    for w in &req.want {
        match doc_unit(store, &w.id)? {
            Some(unit) if peer.scope.contains(&unit) => {
                let mut doc = store.document(&w.id)?;
                let generation = doc.generation() as u64;
                let changes = if w.generation == generation {
                    let have: Vec<_> = hashes_from_wire(&w.have)?
                        .into_iter()
                        .filter(|h| doc.automerge_mut().get_change_by_hash(h).is_some())
                        .collect();
                    doc.save_after(&have)
                } else {
                    doc.save()
                };
                docs.push(DocData {
                    id: w.id.clone(),
                    heads: hashes_to_wire(&doc.heads()),
                    generation,
                    changes,
                });
            }
            _ => rejected.push(Rejection {
                id: w.id.clone(),
                code: "unknown".into(),
                message: format!("no record {} in this device's units", w.id),
            }),
        }
    }
    let limit = req.feed_limit.clamp(1, 5_000) as i64;
    let mut sql = "SELECT id, seq, heads, generation FROM documents WHERE seq > ?".to_owned();
    let mut args = vec![SqlValue::Integer(req.cursor.min(i64::MAX as u64) as i64)];
    if let Some(units) = peer.scope.units() {
        sql.push_str(&format!(
            " AND unit IN ({})",
            vec!["?"; units.len().max(1)].join(",")
        ));
        if units.is_empty() {
            args.push(SqlValue::Text(String::new()));
        }
        args.extend(units.iter().cloned().map(SqlValue::Text));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    args.push(SqlValue::Integer(limit + 1));
    let mut stmt = store.connection().prepare_cached(&sql)?;
    let mut feed = stmt
        .query_map(params_from_iter(args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = feed.len() as i64 > limit;
    feed.truncate(limit as usize);
    let mut items = Vec::with_capacity(feed.len());
    for (id, seq, heads, generation) in feed {
        let hex: Vec<String> = serde_json::from_str(&heads)?;
        items.push(FeedItem {
            id,
            seq: seq as u64,
            generation: generation as u64,
            heads: hashes_to_wire(&parse_heads(&hex)?),
        });
    }
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
