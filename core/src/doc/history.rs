//! History: every change of a record with its author, device, time and the fields it touched.

use serde::{Deserialize, Serialize};

use super::{ChangeNote, RecordDoc};

/// One change in a record's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Change hash (hex).
    pub hash: String,
    /// Hex actor id that authored it (bound to one enrolled device).
    pub actor: String,
    /// User login from the change note.
    pub user: String,
    /// Device id from the change note.
    pub device: String,
    /// Time in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Fields touched.
    pub fields: Vec<String>,
    /// Named action, if any.
    pub action: Option<String>,
    /// Hashes of the changes this one follows (hex).
    pub deps: Vec<String>,
}

impl RecordDoc {
    /// Every change of the record in causal order (after an erasure, the replayed changes
    /// of earlier generations keep their notes and times; see [`crate::doc::erase`]).
    pub fn history(&mut self) -> Vec<HistoryEntry> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                let note: ChangeNote = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                HistoryEntry {
                    hash: m.hash.to_string(),
                    actor: m.actor.to_hex_string(),
                    user: note.user,
                    device: note.device,
                    at_ms: m.timestamp,
                    fields: note.fields,
                    action: note.action,
                    deps: m.deps.iter().map(|d| d.to_string()).collect(),
                }
            })
            .collect()
    }

    /// Heads of the document as it stood at `at_ms`: the changes made up to then whose
    /// dependencies were all made up to then too.
    pub fn heads_at(&mut self, at_ms: i64) -> Vec<automerge::ChangeHash> {
        let metas = self.doc.get_changes_meta(&[]);
        let mut included = std::collections::HashSet::new();
        let mut depended = std::collections::HashSet::new();
        for m in &metas {
            if m.timestamp <= at_ms && m.deps.iter().all(|d| included.contains(d)) {
                included.insert(m.hash);
                for d in &m.deps {
                    depended.insert(*d);
                }
            }
        }
        metas
            .iter()
            .filter(|m| included.contains(&m.hash) && !depended.contains(&m.hash))
            .map(|m| m.hash)
            .collect()
    }
}
