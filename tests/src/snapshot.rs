//! What a store holds, reduced to what must agree between devices and the relay.

use std::collections::BTreeMap;

use fieldledger_core::Store;

/// One document as a store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocState {
    /// Record kind code.
    pub kind: String,
    /// Unit code.
    pub unit: String,
    /// Automerge heads (hex, sorted).
    pub heads: Vec<String>,
}

/// Every document of a store by id.
pub type Snapshot = BTreeMap<String, DocState>;

/// Reads every document's kind, unit and heads.
pub fn snapshot(store: &Store) -> Snapshot {
    let mut stmt = store
        .connection()
        .prepare("SELECT id, kind, unit, heads FROM documents")
        .expect("prepare snapshot");
    stmt.query_map([], |r| {
        let heads: String = r.get(3)?;
        let mut heads: Vec<String> = serde_json::from_str(&heads).unwrap_or_default();
        heads.sort();
        Ok((
            r.get::<_, String>(0)?,
            DocState {
                kind: r.get(1)?,
                unit: r.get(2)?,
                heads,
            },
        ))
    })
    .expect("query snapshot")
    .collect::<Result<_, _>>()
    .expect("read snapshot")
}

/// The part of a snapshot a device of `unit` holds: the unit's documents and the bureau-wide
/// ones every device receives (campaigns, the directory of users).
pub fn of_unit(snapshot: &Snapshot, unit: &str) -> Snapshot {
    snapshot
        .iter()
        .filter(|(_, d)| d.unit == unit || fieldledger_core::access::is_bureau_wide(&d.unit))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
