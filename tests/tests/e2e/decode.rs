//! Property tests of what decodes bytes from the network, in process: the sync message
//! decoders and `Store::merge_remote` on random and mutated input never panic; valid messages
//! round-trip; every truncation and every trailing byte is refused.

use std::sync::OnceLock;

use fieldledger_core::sync::{
    Ack, DocData, FeedItem, PROTOCOL_VERSION, PushDoc, Rejection, SyncRequest, SyncResponse,
    WantDoc,
};
use fieldledger_core::testing::memory_store;
use fieldledger_core::{Edit, FieldValue, RecordKind, Role, Store};
use proptest::collection::vec;
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[0-9a-f-]{0,40}"
}

fn hashes() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 32), 0..3)
}

fn request() -> impl Strategy<Value = SyncRequest> {
    (
        any::<u64>(),
        vec(
            (id(), vec(any::<u8>(), 0..64)).prop_map(|(id, changes)| PushDoc {
                id,
                generation: 0,
                changes,
            }),
            0..4,
        ),
        vec(
            (id(), hashes()).prop_map(|(id, have)| WantDoc {
                id,
                generation: 0,
                have,
            }),
            0..4,
        ),
        any::<u32>(),
    )
        .prop_map(|(cursor, push, want, feed_limit)| SyncRequest {
            version: PROTOCOL_VERSION,
            cursor,
            push,
            want,
            feed_limit,
        })
}

fn response() -> impl Strategy<Value = SyncResponse> {
    (
        vec(
            (id(), hashes()).prop_map(|(id, heads)| Ack { id, heads }),
            0..3,
        ),
        vec(
            (id(), "[a-z]{0,10}", ".{0,20}").prop_map(|(id, code, message)| Rejection {
                id,
                code,
                message,
            }),
            0..3,
        ),
        vec(
            (id(), any::<u64>(), hashes()).prop_map(|(id, seq, heads)| FeedItem {
                id,
                seq,
                generation: 0,
                heads,
            }),
            0..3,
        ),
        vec(
            (id(), hashes(), vec(any::<u8>(), 0..64)).prop_map(|(id, heads, changes)| DocData {
                id,
                heads,
                generation: 0,
                changes,
            }),
            0..3,
        ),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(accepted, rejected, feed, docs, cursor, more)| SyncResponse {
                version: PROTOCOL_VERSION,
                accepted,
                rejected,
                feed,
                docs,
                cursor,
                more,
            },
        )
}

/// A real record document (whole) and a later change to it, with the record's id.
fn real_document() -> &'static (String, Vec<u8>, Vec<u8>) {
    static DOC: OnceLock<(String, Vec<u8>, Vec<u8>)> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
        let id = s
            .create(
                RecordKind::Dispute,
                None,
                &[
                    Edit::text("name", "纠纷"),
                    Edit::text("situation", "基本情况：双方争执。"),
                    Edit::set("people_involved", FieldValue::Int(3)),
                ],
            )
            .unwrap();
        let whole = s.document_bytes(&id).unwrap();
        let heads = s.heads(&id).unwrap();
        s.edit(
            &id,
            &[
                Edit::text("situation", "基本情况：双方争执，已调解。"),
                Edit::Append {
                    list: "measures".into(),
                    values: vec![("what".into(), FieldValue::text("上门走访"))],
                },
            ],
        )
        .unwrap();
        let change = s.changes_after(&id, &heads).unwrap();
        (id, whole, change)
    })
}

fn flip(bytes: &mut [u8], flips: &[(prop::sample::Index, u8)]) {
    if bytes.is_empty() {
        return;
    }
    for (i, bit) in flips {
        let at = i.index(bytes.len());
        bytes[at] ^= 1 << bit;
    }
}

/// Merges `bytes` as record `id` into `store`; if that worked, the record must still read.
fn merge_and_read(store: &mut Store, id: &str, bytes: &[u8]) {
    if store.merge_remote(id, bytes).is_ok() {
        store.record(id).expect("a merged record reads back");
        store.conflicts(id).expect("its conflicts read back");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in vec(any::<u8>(), 0..400)) {
        let _ = SyncRequest::decode(&bytes);
        let _ = SyncResponse::decode(&bytes);
    }

    #[test]
    fn requests_round_trip_and_every_cut_or_extra_byte_is_refused(req in request(), extra in any::<u8>()) {
        let bytes = req.encode();
        prop_assert_eq!(SyncRequest::decode(&bytes).unwrap(), req);
        for cut in 0..bytes.len() {
            prop_assert!(SyncRequest::decode(&bytes[..cut]).is_err(), "cut at {}", cut);
        }
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert!(SyncRequest::decode(&longer).is_err());
    }

    #[test]
    fn responses_round_trip_and_every_cut_or_extra_byte_is_refused(resp in response(), extra in any::<u8>()) {
        let bytes = resp.encode();
        prop_assert_eq!(SyncResponse::decode(&bytes).unwrap(), resp);
        for cut in 0..bytes.len() {
            prop_assert!(SyncResponse::decode(&bytes[..cut]).is_err(), "cut at {}", cut);
        }
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert!(SyncResponse::decode(&longer).is_err());
    }

    #[test]
    fn mutated_requests_decode_or_are_refused_without_panic(
        req in request(),
        flips in vec((any::<prop::sample::Index>(), 0u8..8), 1..6),
    ) {
        let mut bytes = req.encode();
        flip(&mut bytes, &flips);
        if let Ok(decoded) = SyncRequest::decode(&bytes) {
            // What decodes passes the decoder's own checks.
            prop_assert_eq!(decoded.version, PROTOCOL_VERSION);
            prop_assert!(decoded.want.iter().all(|w| w.have.iter().all(|h| h.len() == 32)));
        }
    }

    #[test]
    fn merging_mutated_documents_never_panics(
        flips in vec((any::<prop::sample::Index>(), 0u8..8), 1..6),
        cut in any::<prop::sample::Index>(),
        whole in any::<bool>(),
    ) {
        let (id, doc, change) = real_document();
        let source = if whole { doc } else { change };
        let mut flipped = source.clone();
        flip(&mut flipped, &flips);
        let truncated = &source[..cut.index(source.len())];
        for bytes in [&flipped[..], truncated] {
            // Into a store that lacks the record, and into one that has it.
            let mut fresh = Store::open_in_memory().unwrap();
            merge_and_read(&mut fresh, id, bytes);
            let mut holder = Store::open_in_memory().unwrap();
            holder.merge_remote(id, doc).unwrap();
            merge_and_read(&mut holder, id, bytes);
        }
    }

    #[test]
    fn merging_random_bytes_never_panics(bytes in vec(any::<u8>(), 0..300), prefix in any::<bool>()) {
        let (id, doc, _) = real_document();
        // Random bytes behind a valid document header get further into the decoder.
        let bytes = if prefix { [&doc[..doc.len().min(12)], &bytes[..]].concat() } else { bytes };
        let mut fresh = Store::open_in_memory().unwrap();
        merge_and_read(&mut fresh, id, &bytes);
    }
}

/// Writes real messages and documents as seeds for the cargo-fuzz target `sync_decode`
/// (`core/fuzz`), prefixed with the byte that selects the mode: run with
/// `FIELDLEDGER_FUZZ_CORPUS=<dir> cargo test -p fieldledger-e2e write_fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to seed the fuzz corpus"]
fn write_fuzz_corpus() {
    let dir = std::path::PathBuf::from(
        std::env::var("FIELDLEDGER_FUZZ_CORPUS").expect("set FIELDLEDGER_FUZZ_CORPUS"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let (id, doc, change) = real_document();
    let request = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: 3,
        push: vec![PushDoc {
            id: id.clone(),
            generation: 0,
            changes: doc.clone(),
        }],
        want: vec![WantDoc {
            id: id.clone(),
            generation: 0,
            have: vec![vec![7; 32]],
        }],
        feed_limit: 500,
    };
    let response = SyncResponse {
        version: PROTOCOL_VERSION,
        accepted: vec![Ack {
            id: id.clone(),
            heads: vec![vec![1; 32]],
        }],
        rejected: vec![],
        feed: vec![FeedItem {
            id: id.clone(),
            seq: 9,
            generation: 0,
            heads: vec![vec![2; 32]],
        }],
        docs: vec![DocData {
            id: id.clone(),
            heads: vec![vec![3; 32]],
            generation: 0,
            changes: change.clone(),
        }],
        cursor: 9,
        more: false,
    };
    for (name, mode, bytes) in [
        ("request", 0u8, request.encode()),
        ("response", 1, response.encode()),
        ("document", 2, doc.clone()),
        ("change", 3, change.clone()),
    ] {
        std::fs::write(dir.join(name), [&[mode][..], &bytes].concat()).unwrap();
    }
}
