//! Documents loaded lately, kept in memory by record id together with the heads they were
//! loaded at, so a record many devices sync at once is loaded from its stored bytes once,
//! not once per device. Heads name a document's whole content (each is a hash over a change
//! and its ancestors), so a cached document is used only when its heads are the heads stored
//! now, and a stale entry can never be mistaken for the current one. The relay shares one
//! cache between its writer and its readers; a device's store has none.

use std::sync::Arc;

use automerge::{ChangeHash, ReadDoc};

use super::Store;
use crate::doc::RecordDoc;
use crate::model::RecordKind;

/// Records' documents kept in memory within a budget of estimated bytes (see
/// [`DocCache::new`]); shared by the stores of one process over one database.
pub struct DocCache {
    docs: quick_cache::sync::Cache<String, Arc<CachedDoc>, ByEstimatedSize>,
}

impl std::fmt::Debug for DocCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocCache")
            .field("documents", &self.docs.len())
            .field("estimated_bytes", &self.docs.weight())
            .finish()
    }
}

/// One cached document and what it was loaded as.
struct CachedDoc {
    heads: Vec<ChangeHash>,
    kind: RecordKind,
    doc: RecordDoc,
    estimated_bytes: u64,
}

/// Weighs a cached document by its estimated size in memory.
#[derive(Clone)]
struct ByEstimatedSize;

impl quick_cache::Weighter<String, Arc<CachedDoc>> for ByEstimatedSize {
    fn weight(&self, _id: &String, doc: &Arc<CachedDoc>) -> u64 {
        doc.estimated_bytes
    }
}

/// Estimated bytes an operation of a loaded document takes in memory.
const BYTES_PER_OP: u64 = 120;
/// Estimated bytes a change of a loaded document takes in memory (its metadata and hash).
const BYTES_PER_CHANGE: u64 = 250;

impl DocCache {
    /// A cache holding documents up to about `budget_bytes` of memory in all (estimated from
    /// their operations and changes); the least used go first.
    pub fn new(budget_bytes: u64) -> DocCache {
        // A hint for the table's size: documents of about 64 KiB each.
        let estimated_docs = (budget_bytes / (64 << 10)).clamp(16, 1 << 16) as usize;
        DocCache {
            docs: quick_cache::sync::Cache::with_weighter(
                estimated_docs,
                budget_bytes,
                ByEstimatedSize,
            ),
        }
    }

    /// A copy of the record's document if the one cached is at exactly `heads`.
    pub(super) fn get(&self, id: &str, heads: &[ChangeHash]) -> Option<(RecordDoc, RecordKind)> {
        let cached = self.docs.get(id)?;
        (cached.heads == heads).then(|| (cached.doc.clone(), cached.kind))
    }

    /// Keeps a copy of a document as loaded or as just written. A document with changes
    /// waiting for their dependencies is not kept (its heads would not name all it holds).
    pub(super) fn keep(&self, id: &str, kind: RecordKind, mut doc: RecordDoc) {
        if !doc.automerge_mut().get_missing_deps(&[]).is_empty() {
            self.docs.remove(id);
            return;
        }
        let stats = doc.automerge().stats();
        let estimated_bytes = stats.num_ops * BYTES_PER_OP + stats.num_changes * BYTES_PER_CHANGE;
        let cached = CachedDoc {
            heads: doc.heads(),
            kind,
            doc,
            estimated_bytes,
        };
        self.docs.insert(id.to_owned(), Arc::new(cached));
    }

    /// Drops the record's document (its erased values must not stay in memory).
    pub(super) fn forget(&self, id: &str) {
        self.docs.remove(id);
    }

    /// How many documents are cached.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no document is cached.
    pub fn is_empty(&self) -> bool {
        self.docs.len() == 0
    }
}

impl Store {
    /// Shares `cache` of loaded documents with the other stores over the same database (the
    /// relay's writer and readers): a record loaded at the heads stored now is copied from
    /// memory instead of loaded from its bytes again.
    pub fn set_doc_cache(&mut self, cache: Arc<DocCache>) {
        self.doc_cache = Some(cache);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Edit, Role};
    use crate::testing::{identity, memory_store};

    /// A writer and a reader on one file sharing one cache, as the relay runs them, and a
    /// record the writer created.
    struct Relay {
        _dir: tempfile::TempDir,
        cache: Arc<DocCache>,
        writer: Store,
        reader: Store,
        id: String,
    }

    fn relay_with_a_record() -> Relay {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("relay.db");
        let cache = Arc::new(DocCache::new(1 << 20));
        let mut writer = Store::open(&path).expect("open");
        writer
            .set_identity(identity("clerk", "XF", Role::Staff, "W"))
            .expect("identity");
        writer.set_doc_cache(cache.clone());
        let mut reader = Store::open_reader(&path).expect("reader");
        reader.set_doc_cache(cache.clone());
        let id = writer
            .create(RecordKind::Dispute, None, &[Edit::text("name", "甲")])
            .expect("create");
        Relay {
            _dir: dir,
            cache,
            writer,
            reader,
            id,
        }
    }

    #[test]
    fn a_copy_is_used_only_at_the_heads_stored_now() {
        let Relay {
            cache,
            mut writer,
            reader,
            id,
            ..
        } = relay_with_a_record();
        let mut first = reader.document(&id).expect("load");
        assert_eq!(cache.len(), 1, "the loaded document is kept");
        assert_eq!(first.heads(), reader.heads(&id).expect("heads"));
        // Written since: the reader gets the new version, not the copy it kept.
        writer.edit(&id, &[Edit::text("name", "乙")]).expect("edit");
        let mut second = reader.document(&id).expect("load");
        assert_eq!(second.heads(), reader.heads(&id).expect("heads"));
        assert_ne!(first.heads(), second.heads());
        assert_eq!(second.to_json().expect("json")["name"], "乙");
        // A copy from memory is the document the stored bytes hold.
        let mut again = reader.document(&id).expect("load");
        assert_eq!(again.save(), second.save());
    }

    #[test]
    fn a_merge_commits_and_keeps_the_merged_document() {
        let Relay {
            mut writer,
            reader,
            id,
            ..
        } = relay_with_a_record();
        let mut phone = memory_store("clerk2", "XF", Role::Staff, "P");
        phone
            .merge_remote(&id, &writer.document_bytes(&id).expect("bytes"))
            .expect("receive");
        phone
            .edit(&id, &[Edit::text("situation", "双方协商")])
            .expect("edit");
        writer.edit(&id, &[Edit::text("name", "乙")]).expect("edit");
        let merged = writer
            .merge_remote(&id, &phone.document_bytes(&id).expect("bytes"))
            .expect("merge");
        assert!(merged.changed);
        // Kept at the merged heads: the reader's copy is the merge, both edits in it.
        let mut doc = reader.document(&id).expect("load");
        assert_eq!(doc.heads(), reader.heads(&id).expect("heads"));
        let json = doc.to_json().expect("json");
        assert_eq!(json["name"], "乙");
        assert_eq!(json["situation"], "双方协商");
    }

    #[test]
    fn the_budget_bounds_what_is_kept() {
        let cache = DocCache::new(64 << 10);
        let mut store = memory_store("clerk", "XF", Role::Staff, "W");
        for i in 0..200 {
            let id = store
                .create(
                    RecordKind::Dispute,
                    None,
                    &[Edit::text("name", &format!("纠纷{i}"))],
                )
                .expect("create");
            let doc = store.document(&id).expect("load");
            cache.keep(&id, RecordKind::Dispute, doc);
        }
        assert!(cache.docs.weight() <= 64 << 10);
        assert!(cache.len() < 200, "{} kept", cache.len());
        assert!(!cache.is_empty());
    }
}
