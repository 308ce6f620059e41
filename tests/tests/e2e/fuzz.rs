//! Fuzz-style tests of the sync endpoint: real sync requests, mutated (truncated, bit-flipped,
//! spliced, random, and mutated inside valid messages), sent to a relay process. The relay
//! never answers 5xx, never dies, answers undecodable bytes with 400 and changes nothing for
//! them, and stays consistent for everything it accepted.

use fieldledger_core::sync::{PushDoc, SyncRequest, SyncResponse, WantDoc};
use fieldledger_core::{Edit, FieldValue, RecordKind};
use fieldledger_e2e::http::post_sync;
use fieldledger_e2e::snapshot::of_unit;
use fieldledger_e2e::{Device, RecordingTransport, Relay, Seed, Snapshot};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore, SeedableRng};

/// How many mutated requests one run sends (`FIELDLEDGER_FUZZ_CASES` overrides).
const CASES: usize = 600;

/// Real requests of two devices: creating, editing, a first sync that wants documents.
fn real_traffic(relay: &Relay) -> (Vec<(String, Vec<u8>)>, Device, Device) {
    let mut zhang = Device::enroll(relay, "zhang");
    let mut li = Device::enroll(relay, "li");
    let mut corpus = Vec::new();
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = zhang
            .store_mut()
            .create(
                RecordKind::Dispute,
                None,
                &[
                    Edit::text("name", &format!("纠纷{i}")),
                    Edit::text("situation", "双方因土地边界发生争执，村委会已介入。"),
                    Edit::set("people_involved", FieldValue::Int(i + 2)),
                ],
            )
            .unwrap();
        ids.push(id);
    }
    let record = |dev: &mut Device, corpus: &mut Vec<(String, Vec<u8>)>| {
        let mut t = RecordingTransport::new(dev.transport());
        let report = dev.sync_via(&mut t).unwrap();
        assert!(report.rejected.is_empty(), "{report:?}");
        let token = dev.token();
        corpus.extend(t.requests.into_iter().map(|r| (token.clone(), r)));
    };
    record(&mut zhang, &mut corpus);
    record(&mut li, &mut corpus);
    for id in &ids[..3] {
        li.store_mut()
            .edit(
                id,
                &[Edit::Append {
                    list: "measures".into(),
                    values: vec![("what".into(), FieldValue::text("上门调解"))],
                }],
            )
            .unwrap();
        zhang
            .store_mut()
            .edit(id, &[Edit::set("is_major", FieldValue::Bool(true))])
            .unwrap();
    }
    record(&mut li, &mut corpus);
    record(&mut zhang, &mut corpus);
    (corpus, zhang, li)
}

/// A byte-level mutation of `base` (`other` is another real request to splice with).
fn mutate_bytes(rng: &mut StdRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    match rng.random_range(0..8) {
        0 => b.truncate(rng.random_range(0..b.len().max(1))),
        1 => {
            for _ in 0..rng.random_range(1..8) {
                if !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..8);
                }
            }
        }
        2 => {
            for _ in 0..rng.random_range(1..4) {
                if !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
            }
        }
        3 => {
            let at = rng.random_range(0..=b.len());
            let mut extra = vec![0u8; rng.random_range(1..16)];
            rng.fill_bytes(&mut extra);
            b.splice(at..at, extra);
        }
        4 => {
            let from = rng.random_range(0..=b.len());
            let to = rng.random_range(from..=b.len());
            b.drain(from..to);
        }
        5 => {
            let cut_a = rng.random_range(0..=b.len());
            let cut_b = rng.random_range(0..=other.len());
            b.truncate(cut_a);
            b.extend_from_slice(&other[cut_b..]);
        }
        6 => {
            let from = rng.random_range(0..=b.len());
            let to = rng.random_range(from..=b.len().min(from + 64));
            let dup = b[from..to].to_vec();
            b.splice(to..to, dup);
        }
        _ => {
            b = vec![0u8; rng.random_range(0..300)];
            rng.fill_bytes(&mut b);
        }
    }
    b
}

/// A mutation inside a decoded request, so the relay's checks behind the decoder are reached.
fn mutate_message(rng: &mut StdRng, base: &[u8], ids: &[String]) -> Vec<u8> {
    let mut req = SyncRequest::decode(base).unwrap();
    match rng.random_range(0..6) {
        0 if !req.push.is_empty() => {
            let i = rng.random_range(0..req.push.len());
            let changes = &mut req.push[i].changes;
            for _ in 0..rng.random_range(1..6) {
                if !changes.is_empty() {
                    let at = rng.random_range(0..changes.len());
                    changes[at] ^= 1 << rng.random_range(0..8);
                }
            }
        }
        1 if !req.push.is_empty() => {
            let i = rng.random_range(0..req.push.len());
            let len = req.push[i].changes.len();
            req.push[i]
                .changes
                .truncate(rng.random_range(0..len.max(1)));
        }
        2 if !req.push.is_empty() => {
            // Another record's changes under this id, or this record's under an unknown id.
            let i = rng.random_range(0..req.push.len());
            req.push[i].id = if rng.random_bool(0.5) {
                ids.choose(rng).unwrap().clone()
            } else {
                format!("no-such-{}", rng.random::<u32>())
            };
        }
        3 => {
            req.cursor = rng.random();
            req.feed_limit = *[0, 1, u32::MAX, rng.random()].choose(rng).unwrap();
        }
        4 => {
            let mut hash = vec![0u8; 32];
            rng.fill_bytes(&mut hash);
            req.want.push(WantDoc {
                id: ids.choose(rng).unwrap().clone(),
                generation: 0,
                have: vec![hash],
            });
            req.want.push(WantDoc {
                id: String::new(),
                generation: 0,
                have: vec![],
            });
        }
        _ => {
            let mut junk = vec![0u8; rng.random_range(0..200)];
            rng.fill_bytes(&mut junk);
            req.push.push(PushDoc {
                id: ids.choose(rng).unwrap().clone(),
                generation: 0,
                changes: junk,
            });
        }
    }
    req.encode()
}

#[test]
fn mutated_sync_requests_never_break_the_relay() {
    let seed = Seed::from_env("mutated_sync_requests_never_break_the_relay");
    let cases: usize = std::env::var("FIELDLEDGER_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    let mut rng = StdRng::seed_from_u64(seed.value);
    let mut relay = Relay::new(Default::default());
    relay.add_unit("WJK", "疾控科");
    relay.add_user("zhang", "WJK", "staff", "张三");
    relay.add_user("li", "WJK", "staff", "李四");
    relay.start();
    let (corpus, mut zhang, mut li) = real_traffic(&relay);
    let ids: Vec<String> = relay.snapshot().into_keys().collect();

    let mut state: (Snapshot, i64) = (relay.snapshot(), relay.feed_head());
    let (mut refused, mut answered, mut pushes_accepted) = (0, 0, 0);
    for case in 0..cases {
        let (token, base) = corpus.choose(&mut rng).unwrap();
        let body = if rng.random_bool(0.3) {
            mutate_message(&mut rng, base, &ids)
        } else {
            let other = &corpus.choose(&mut rng).unwrap().1;
            mutate_bytes(&mut rng, base, other)
        };
        let decodable = SyncRequest::decode(&body).is_ok();
        let answer = post_sync(&relay.url(), Some(token), &body);
        let context = || format!("case {case}, {} bytes: {body:02x?}", body.len());
        assert!(
            answer.status < 500,
            "HTTP {} {:?} for {}",
            answer.status,
            String::from_utf8_lossy(&answer.body),
            context()
        );
        let now = (relay.snapshot(), relay.feed_head());
        if decodable {
            assert_eq!(answer.status, 200, "{}", context());
            let resp = SyncResponse::decode(&answer.body).expect("a well-formed answer");
            for r in &resp.rejected {
                assert!(
                    [
                        "forbidden",
                        "invalid",
                        "malformed",
                        "unknown",
                        "missing_changes",
                        "stale_generation",
                    ]
                    .contains(&r.code.as_str()),
                    "unexpected refusal {r:?} for {}",
                    context()
                );
            }
            pushes_accepted += resp.accepted.len();
            answered += 1;
        } else {
            assert_eq!(answer.status, 400, "{}", context());
            assert_eq!(answer.error_code(), "bad_request");
            assert!(
                answer.json()["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
            assert!(
                now == state,
                "undecodable bytes changed the relay: {}",
                context()
            );
            refused += 1;
        }
        state = now;
    }
    eprintln!(
        "fuzz: {cases} requests: {refused} undecodable (400), {answered} decodable (200), {pushes_accepted} pushes accepted"
    );
    assert!(
        refused > cases / 4 && answered > cases / 10,
        "both kinds were exercised"
    );

    assert!(relay.is_running(), "the relay process died");
    assert!(relay.healthy());
    assert!(
        !std::fs::read_to_string(relay.log_path())
            .unwrap()
            .contains("panicked"),
        "the relay panicked: {}",
        relay.log_tail(30)
    );
    // Whatever was accepted left every document readable and the devices able to converge.
    let store = relay.records();
    for id in store_ids(&store) {
        store.record(&id).unwrap();
        store.document(&id).unwrap();
    }
    for _ in 0..2 {
        zhang.sync_clean();
        li.sync_clean();
    }
    let wjk = of_unit(&relay.snapshot(), "WJK");
    assert_eq!(zhang.snapshot(), wjk);
    assert_eq!(li.snapshot(), wjk);
}

fn store_ids(store: &fieldledger_core::Store) -> Vec<String> {
    fieldledger_e2e::snapshot(store).into_keys().collect()
}
