//! What a hostile app can do to its own store and requests: changes written straight into a
//! record's Automerge document past the typed API, and hand-made sync requests.

use fieldledger_core::Store;
use fieldledger_core::doc::ChangeNote;
use fieldledger_core::sync::{PROTOCOL_VERSION, PushDoc, SyncReport, SyncRequest, WantDoc};

/// Writes a change straight into a record's Automerge document, past the typed API and its
/// checks, with an honest note (this device, this user), as a hostile app could.
pub fn raw_change(store: &mut Store, id: &str, f: impl FnOnce(&mut automerge::AutoCommit)) {
    let author = store.identity().expect("an enrolled store").author.clone();
    let mut doc = store.document(id).expect("the record exists");
    let before = doc.heads();
    f(doc.automerge_mut());
    doc.commit(
        &ChangeNote {
            user: author.user,
            device: author.device,
            fields: vec!["raw".into()],
            action: None,
        },
        store.now_ms(),
    )
    .expect("the raw change changes something");
    let bytes = doc.save_after(&before);
    store
        .merge_remote(id, &bytes)
        .expect("merge the raw change");
}

/// The refusal of `id` in a sync report, with its code and message; panics if accepted.
pub fn refusal(report: &SyncReport, id: &str) -> (String, String) {
    let r = report
        .rejected
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("the relay accepted {id}: {report:?}"));
    (r.code.clone(), r.message.clone())
}

/// A sync request body from the start of the feed.
pub fn sync_request(push: Vec<PushDoc>, want: Vec<WantDoc>) -> Vec<u8> {
    SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: 0,
        push,
        want,
        feed_limit: 100,
    }
    .encode()
}
