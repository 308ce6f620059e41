//! Who may do what, enforced by a real relay against clients that do not play by the rules:
//! wrong units, revoked devices, forged actors and authors, forged sign-offs and unit moves,
//! forged record meta, missing tokens, oversized and malformed bodies.

use automerge::transaction::Transactable;
use fieldledger_core::model::{Record, Role};
use fieldledger_core::sync::{PROTOCOL_VERSION, PushDoc, SyncRequest, SyncResponse, WantDoc};
use fieldledger_core::{Edit, Error, RecordKind, Store};
use fieldledger_e2e::forge::{raw_change, refusal, sync_request};
use fieldledger_e2e::http::{self, Answer, post_sync, post_sync_with_header};
use fieldledger_e2e::snapshot::of_unit;
use fieldledger_e2e::{Device, Relay, RelayOptions};

fn relay_with(options: RelayOptions) -> Relay {
    Relay::start_with_people(options)
}

fn relay() -> Relay {
    relay_with(RelayOptions::default())
}

fn dispute(store: &mut Store, name: &str) -> String {
    store
        .create(
            RecordKind::Dispute,
            None,
            &[Edit::text("name", name), Edit::text("category", "医疗卫生")],
        )
        .unwrap()
}

fn assert_json_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        answer.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        answer
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json")),
        "error answers are JSON: {:?}",
        answer.content_type
    );
    let body = answer.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| m.len() > 10),
        "a message a person can act on: {body}"
    );
}

#[test]
fn records_of_another_unit_are_neither_stored_nor_sent() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut wu = Device::enroll(&relay, "wu");
    let theirs = dispute(wu.store_mut(), "监督所的纠纷");
    let unseen = dispute(wu.store_mut(), "监督所的另一个纠纷");
    wu.sync_clean();

    // A new record of JKK made by a WJK device that claims locally to be of JKK.
    let ours = dispute(zhang.store_mut(), "疾控科的纠纷");
    let foreign = zhang.with_identity(
        |id| id.author.unit = "JKK".into(),
        |s| dispute(s, "冒充监督所"),
    );
    // An edit to JKK's record, obtained out of band.
    let bytes = wu.store().document_bytes(&theirs).unwrap();
    zhang.store_mut().merge_remote(&theirs, &bytes).unwrap();
    zhang.with_identity(
        |id| id.author.unit = "JKK".into(),
        |s| {
            s.edit(&theirs, &[Edit::text("remarks", "越权修改")])
                .unwrap()
        },
    );
    let before = relay.snapshot();

    let report = zhang.sync().unwrap();
    assert!(report.rejected.iter().all(|r| r.id != ours), "{report:?}");
    let (code, message) = refusal(&report, &foreign);
    assert_eq!(code, "forbidden", "{message}");
    assert!(message.contains("JKK"), "{message}");
    // Out of scope is answered as an unknown id, so the refusal says nothing of the record.
    let (code, message) = refusal(&report, &theirs);
    assert_eq!(code, "unknown", "{message}");
    assert!(!message.contains("JKK"), "{message}");
    let after = relay.snapshot();
    assert!(after.contains_key(&ours));
    assert!(
        !after.contains_key(&foreign),
        "the foreign record was stored"
    );
    assert_eq!(after[&theirs], before[&theirs], "JKK's record was changed");
    assert!(
        !zhang.store().contains(&unseen).unwrap(),
        "the relay sent a JKK record to a WJK device"
    );
    assert_eq!(
        of_unit(&relay.snapshot(), "JKK").keys().collect::<Vec<_>>(),
        wu.snapshot().keys().collect::<Vec<_>>()
    );

    // Asking for JKK's record by id gets nothing either.
    let answer = post_sync(
        &relay.url(),
        Some(&zhang.token()),
        &sync_request(
            vec![],
            vec![WantDoc {
                id: theirs.clone(),
                generation: 0,
                have: vec![],
            }],
        ),
    );
    assert_eq!(answer.status, 200);
    let resp = SyncResponse::decode(&answer.body).unwrap();
    assert!(
        resp.docs.is_empty(),
        "JKK's record was sent to a WJK device"
    );
    assert_eq!(resp.rejected[0].code, "unknown");
    assert!(resp.feed.iter().all(|f| f.id != theirs));
}

#[test]
fn a_revoked_device_is_refused_at_once() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut li = Device::enroll(&relay, "li");
    let id = dispute(zhang.store_mut(), "纠纷");
    zhang.sync_clean();
    zhang
        .store_mut()
        .edit(&id, &[Edit::text("remarks", "吊销之后")])
        .unwrap();
    let before = relay.snapshot();

    // Revoked from the command line while the relay runs: no restart, no cache.
    relay.revoke(&zhang.identity().device_code);
    match zhang.sync() {
        Err(Error::DeviceRevoked(message)) => {
            assert!(message.contains("403"), "{message}");
            assert!(message.contains("device_revoked"), "{message}");
        }
        other => panic!("a revoked device synced: {other:?}"),
    }
    let answer = post_sync(
        &relay.url(),
        Some(&zhang.token()),
        &sync_request(vec![], vec![]),
    );
    assert_json_error(&answer, 403, "device_revoked");
    assert_json_error(
        &http::get(&relay.url(), "/v1/whoami", Some(&zhang.token())),
        403,
        "device_revoked",
    );
    assert_eq!(
        relay.snapshot(),
        before,
        "nothing of the revoked device was stored"
    );
    // Everyone else carries on.
    li.sync_clean();
    assert!(li.store().contains(&id).unwrap());
    assert_eq!(li.store().dispute(&id).unwrap().remarks, "");
}

#[test]
fn changes_authored_by_another_actor_or_author_are_refused() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut li = Device::enroll(&relay, "li");
    let shared = dispute(zhang.store_mut(), "共享纠纷");
    zhang.sync_clean();
    li.sync_clean();

    // 1. A second store (a copied app, a script) with zhang's identity and token but its own
    //    actor id.
    let mut copy = Store::open_in_memory().unwrap();
    copy.set_identity(zhang.identity()).unwrap();
    let copied = dispute(&mut copy, "复制的应用");
    let mut t = zhang.transport();
    let report = fieldledger_client::sync_with(&mut copy, &mut t, &mut |_| {}).unwrap();
    let (code, message) = refusal(&report, &copied);
    assert_eq!(code, "forbidden");
    assert!(message.contains("actor"), "{message}");

    // 2. li's offline edit, pushed by zhang's device.
    li.store_mut()
        .edit(&shared, &[Edit::text("remarks", "李四的修改")])
        .unwrap();
    let relay_heads = relay.records().heads(&shared).unwrap();
    let changes = li.store().changes_after(&shared, &relay_heads).unwrap();
    let answer = post_sync(
        &relay.url(),
        Some(&zhang.token()),
        &sync_request(
            vec![PushDoc {
                id: shared.clone(),
                generation: 0,
                changes,
            }],
            vec![],
        ),
    );
    assert_eq!(answer.status, 200);
    let resp = SyncResponse::decode(&answer.body).unwrap();
    assert!(resp.accepted.is_empty(), "{resp:?}");
    assert_eq!(resp.rejected[0].code, "forbidden");
    assert!(
        resp.rejected[0].message.contains("actor"),
        "{:?}",
        resp.rejected
    );

    // 3. zhang's own actor, but changes whose notes claim li made them.
    let li_identity = li.identity();
    zhang.with_identity(
        |id| {
            id.author.user = li_identity.author.user.clone();
            id.author.device = li_identity.author.device.clone();
        },
        |s| {
            s.edit(&shared, &[Edit::text("difficulties", "冒名")])
                .unwrap()
        },
    );
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &shared);
    assert_eq!(code, "forbidden");
    assert!(message.contains("claims to be by li"), "{message}");

    let stored = relay.records().dispute(&shared).unwrap();
    assert_eq!(
        (stored.remarks.as_str(), stored.difficulties.as_str()),
        ("", "")
    );
    assert!(!relay.records().contains(&copied).unwrap());
}

#[test]
fn only_the_leader_or_the_office_signs_a_petition_case_off() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut head = Device::enroll(&relay, "wangke");
    let mut leader = Device::enroll(&relay, "wangju");
    let mut office = Device::enroll(&relay, "boss");
    // The unit head opens the cases and names their leader.
    let case = |s: &mut Store, title: &str| {
        s.create(
            RecordKind::Petition,
            None,
            &[
                Edit::text("title", title),
                Edit::text("leader", "王局长"),
                Edit::text("disposition", "solved"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap()
    };
    let a = case(head.store_mut(), "甲案");
    let b = case(head.store_mut(), "乙案");
    head.sync_clean();
    zhang.sync_clean();

    // Staff pretends locally to be the office and signs case A off through the API…
    zhang.with_identity(
        |id| id.author.role = Role::Office,
        |s| s.sign_off(&a, "已办结").unwrap(),
    );
    // …and sets case B's status straight in the document.
    raw_change(zhang.store_mut(), &b, |doc| {
        doc.put(automerge::ROOT, "status", "signed_off").unwrap();
    });
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &a);
    assert_eq!(code, "forbidden", "{message}");
    assert!(message.contains("leader"), "{message}");
    let (code, message) = refusal(&report, &b);
    assert!(
        code == "invalid" || code == "forbidden",
        "{code}: {message}"
    );
    let status = |id: &str| match relay.records().record(id).unwrap() {
        Record::Petition(p) => p.status.map(|s| s.code()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        status(&a),
        Some("resolved"),
        "the relay kept case A unsigned"
    );
    assert_eq!(
        status(&b),
        Some("resolved"),
        "the relay kept case B unsigned"
    );

    // The case's leader and the office may.
    leader.sync_clean();
    leader.store_mut().sign_off(&a, "同意销号").unwrap();
    leader.sync_clean();
    office.sync_clean();
    office.store_mut().sign_off(&b, "同意销号").unwrap();
    office.sync_clean();
    assert_eq!(status(&a), Some("signed_off"));
    assert_eq!(status(&b), Some("signed_off"));
}

#[test]
fn only_the_office_moves_a_record_to_another_unit() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut wu = Device::enroll(&relay, "wu");
    let mut office = Device::enroll(&relay, "boss");
    let a = dispute(zhang.store_mut(), "甲");
    let b = dispute(zhang.store_mut(), "乙");
    zhang.sync_clean();

    zhang.with_identity(
        |id| id.author.role = Role::Office,
        |s| s.move_to_unit(&a, "JKK").unwrap(),
    );
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &a);
    assert_eq!(code, "forbidden", "{message}");
    assert_eq!(relay.snapshot()[&a].unit, "WJK");
    wu.sync_clean();
    assert!(!wu.store().contains(&a).unwrap());

    office.sync_clean();
    office.store_mut().move_to_unit(&b, "JKK").unwrap();
    office.sync_clean();
    assert_eq!(relay.snapshot()[&b].unit, "JKK");
    wu.sync_clean();
    assert_eq!(wu.store().dispute(&b).unwrap().meta.unit, "JKK");
}

#[test]
fn invalid_values_written_past_the_api_are_refused() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let id = dispute(zhang.store_mut(), "纠纷");
    zhang.sync_clean();
    raw_change(zhang.store_mut(), &id, |doc| {
        doc.put(automerge::ROOT, "people_involved", -5i64).unwrap();
    });
    let before = relay.snapshot();
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &id);
    assert_eq!(code, "invalid");
    assert!(message.contains("所涉人数"), "{message}");
    assert_eq!(relay.snapshot(), before);
}

/// The creator, creating device, creation time and case number of a record say who made it
/// and where; a device must not be able to write them for someone else.
#[test]
fn record_meta_cannot_be_forged() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let li = Device::enroll(&relay, "li");
    let li_device = li.identity().author.device;

    // An existing record: rewrite who created it.
    let existing = dispute(zhang.store_mut(), "张三建的");
    zhang.sync_clean();
    raw_change(zhang.store_mut(), &existing, |doc| {
        doc.put(automerge::ROOT, "_created_by", "li").unwrap();
        doc.put(automerge::ROOT, "_device", li_device.as_str())
            .unwrap();
    });
    // A new record that claims to be li's.
    let new = dispute(zhang.store_mut(), "冒充李四建的");
    raw_change(zhang.store_mut(), &new, |doc| {
        doc.put(automerge::ROOT, "_created_by", "li").unwrap();
        doc.put(automerge::ROOT, "_device", li_device.as_str())
            .unwrap();
    });
    let report = zhang.sync().unwrap();
    let stored = relay.records();
    for id in [&existing, &new] {
        let creator = stored
            .record(id)
            .ok()
            .map(|r| (r.meta().created_by.clone(), r.meta().device.clone()));
        assert!(
            report.rejected.iter().any(|r| r.id == *id)
                && creator.as_ref().is_none_or(|(user, _)| user == "zhang"),
            "the relay stored {id} as created by {creator:?}, though zhang's device sent it: {report:?}"
        );
    }
}

#[test]
fn requests_without_a_valid_token_get_401() {
    let relay = relay();
    let zhang = Device::enroll(&relay, "zhang");
    let body = sync_request(vec![], vec![]);
    let unknown = "0123456789abcdef".repeat(4);
    for (what, answer) in [
        ("no header", post_sync(&relay.url(), None, &body)),
        (
            "unknown token",
            post_sync(&relay.url(), Some(&unknown), &body),
        ),
        (
            "garbage token",
            post_sync(&relay.url(), Some("garbage"), &body),
        ),
        (
            "other scheme",
            post_sync_with_header(&relay.url(), &format!("Basic {}", zhang.token()), &body),
        ),
        ("whoami", http::get(&relay.url(), "/v1/whoami", None)),
    ] {
        assert_json_error(&answer, 401, "unauthorized");
        assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"), "{what}");
    }
    // A one-time code works once.
    let code = relay.enrollment_code("li");
    Device::enroll_with_code(&relay.url(), &code, "li").unwrap();
    match Device::enroll_with_code(&relay.url(), &code, "li again") {
        Err(e) => {
            assert_eq!(e.status, Some(401), "{e}");
            assert!(e.message.contains("invalid_enrollment_code"), "{e}");
        }
        Ok(_) => panic!("an enrollment code worked twice"),
    }
}

#[test]
fn oversized_bodies_get_413_and_change_nothing() {
    let relay = relay_with(RelayOptions {
        max_body_bytes: Some(64 * 1024),
        ..Default::default()
    });
    let mut zhang = Device::enroll(&relay, "zhang");
    let id = dispute(zhang.store_mut(), "纠纷");
    zhang.sync_clean();
    let before = (relay.snapshot(), relay.feed_head());

    let answer = http::try_post(
        &relay.url(),
        "/v1/sync",
        Some(&zhang.token()),
        // Just over the limit: a body many times larger is refused before it is read, and
        // the client may see the connection close while it is still writing.
        &vec![0u8; 65 * 1024],
    )
    .expect("the relay answers an oversized body");
    assert_json_error(&answer, 413, "payload_too_large");

    // A device whose one change is too big is told so, and nothing of it is stored.
    let huge = "很长的基本情况。".repeat(3_000);
    zhang
        .store_mut()
        .edit(&id, &[Edit::text("situation", &huge)])
        .unwrap();
    match zhang.sync() {
        Err(Error::Transport { status, message }) => {
            assert_eq!(status, Some(413), "{message}");
            assert!(message.contains("payload_too_large"), "{message}");
        }
        other => panic!("an oversized push went through: {other:?}"),
    }
    assert_eq!((relay.snapshot(), relay.feed_head()), before);
    assert!(relay.healthy());
}

#[test]
fn malformed_sync_bodies_get_400_with_a_message_and_change_nothing() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    dispute(zhang.store_mut(), "纠纷");
    zhang.sync_clean();
    let before = (relay.snapshot(), relay.feed_head());

    let valid = sync_request(vec![], vec![]);
    let mut other_version = SyncRequest::decode(&valid).unwrap();
    other_version.version = PROTOCOL_VERSION + 1;
    let short_hash = sync_request(
        vec![],
        vec![WantDoc {
            id: "x".into(),
            generation: 0,
            have: vec![vec![0; 31]],
        }],
    );
    let mut trailing = valid.clone();
    trailing.push(0);
    let too_many = sync_request(
        vec![],
        (0..=2_000)
            .map(|i| WantDoc {
                id: i.to_string(),
                generation: 0,
                have: vec![],
            })
            .collect(),
    );
    for (what, body, hint) in [
        ("empty", Vec::new(), "decode"),
        ("text", b"hello relay".to_vec(), "decode"),
        ("truncated", valid[..valid.len() - 1].to_vec(), "decode"),
        ("trailing byte", trailing, "trailing"),
        ("other version", other_version.encode(), "version"),
        ("31-byte hash", short_hash, "hash"),
        ("more than 2,000 documents", too_many, "at most"),
        ("JSON", br#"{"version":1}"#.to_vec(), "decode"),
    ] {
        let answer = post_sync(&relay.url(), Some(&zhang.token()), &body);
        assert_json_error(&answer, 400, "bad_request");
        let message = answer.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(hint), "{what}: {message}");
    }
    assert_eq!((relay.snapshot(), relay.feed_head()), before);
    assert!(relay.healthy());
    dispute(zhang.store_mut(), "之后的纠纷");
    assert_eq!(zhang.sync_clean().pushed, 1, "the relay still serves");
}

/// Guessing enrollment codes from 16 threads against a real relay with its default limits:
/// the guesses checked are bounded by the global failed-enrollment bucket (20 at once, then 20
/// a minute), whatever the number of clients; the rest get 429. Prints the guesses per second
/// that got through.
#[test]
fn enrollment_guessing_is_held_to_the_global_limit() {
    let relay = relay();
    let url = relay.url();
    let code = relay.enrollment_code("li");
    // FIELDLEDGER_GUESS_SECS=60 measures the sustained rate rather than the burst.
    let secs = std::env::var("FIELDLEDGER_GUESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3u64);
    let started = std::time::Instant::now();
    let run_for = std::time::Duration::from_secs(secs);
    let (checked, limited) = std::thread::scope(|s| {
        // Half-way through the attack, the right code is refused too: the bucket is empty.
        let legit = s.spawn(|| {
            std::thread::sleep(run_for / 2);
            Device::enroll_with_code(&url, &code, "li").map(|_| ())
        });
        let workers: Vec<_> = (0..16)
            .map(|t| {
                let url = url.clone();
                s.spawn(move || {
                    let (mut checked, mut limited) = (0u32, 0u32);
                    let mut i = 0u32;
                    while started.elapsed() < run_for {
                        i += 1;
                        let body = serde_json::json!({
                            "code": format!("{:04}{:04}", t, i % 10_000),
                            "actor_hex": format!("{:032x}", (t << 24) | i),
                        });
                        match http::post_json(&url, "/v1/enroll", None, &body).status {
                            401 => checked += 1,
                            429 => limited += 1,
                            other => panic!("unexpected answer {other}"),
                        }
                    }
                    (checked, limited)
                })
            })
            .collect();
        match legit.join().unwrap() {
            Err(e) => assert_eq!(e.status, Some(429), "{e}"),
            Ok(()) => panic!("enrolled while the failed-enrollment limit was reached"),
        }
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "enrollment guessing: {checked} guesses checked, {limited} answered 429 in {elapsed:.1} s \
         ({:.2} guesses/s got through; {:.0} requests/s tried)",
        f64::from(checked) / elapsed,
        f64::from(checked + limited) / elapsed
    );
    // 20 at once plus 20 a minute: a bound of the bucket, not of the machine's speed.
    let bound = 20.0 + elapsed * 20.0 / 60.0;
    assert!(f64::from(checked) <= bound.ceil(), "{checked} > {bound}");
    assert!(limited > 0);
    let log = relay.admin(&["audit", "--action", "enroll.", "--json"]);
    assert!(log.contains("enroll.failed"), "{log}");
}
