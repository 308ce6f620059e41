//! Bytes from the network, as the relay and a device decode them: sync requests, sync
//! responses, and Automerge changes merged into a store (new record or existing one).
//!
//! The first byte picks what the rest is fed to. Nothing may panic; what decodes must
//! re-encode to the same message.

#![no_main]

use fieldledger_core::sync::{SyncRequest, SyncResponse};
use fieldledger_core::testing::memory_store;
use fieldledger_core::{Edit, FieldValue, RecordKind, Role, Store};
use libfuzzer_sys::fuzz_target;

/// Merges `bytes` as record `id`; if that worked, the record must read back.
fn merge(store: &mut Store, id: &str, bytes: &[u8]) {
    if store.merge_remote(id, bytes).is_ok() {
        let _ = store.record(id);
        let _ = store.conflicts(id);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(req) = SyncRequest::decode(rest) {
                assert_eq!(SyncRequest::decode(&req.encode()).unwrap(), req);
                let mut store = Store::open_in_memory().unwrap();
                for p in req.push.iter().take(4) {
                    merge(&mut store, &p.id, &p.changes);
                }
            }
        }
        1 => {
            if let Ok(resp) = SyncResponse::decode(rest) {
                assert_eq!(SyncResponse::decode(&resp.encode()).unwrap(), resp);
                let mut store = Store::open_in_memory().unwrap();
                for d in resp.docs.iter().take(4) {
                    merge(&mut store, &d.id, &d.changes);
                }
            }
        }
        2 => {
            // A record the store does not have yet.
            let mut store = Store::open_in_memory().unwrap();
            merge(&mut store, "fuzz", rest);
        }
        _ => {
            // Changes to a record the store has, as most pushes are.
            let mut store = memory_store("zhang", "WJK", Role::Staff, "D1");
            let id = store
                .create(
                    RecordKind::Dispute,
                    None,
                    &[
                        Edit::text("name", "纠纷"),
                        Edit::set("people_involved", FieldValue::Int(3)),
                    ],
                )
                .unwrap();
            merge(&mut store, &id, rest);
        }
    }
});
