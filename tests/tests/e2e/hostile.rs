//! Rules a hostile phone must not bend, tried against a real relay: a sign-off slipped in by
//! naming oneself leader for one change, a unit flipped and flipped back inside one push,
//! existence and heads of other units' records probed, roles overstepped, and requests that
//! would make the relay do unbounded work.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use fieldledger_core::model::field::MAX_LONG_TEXT_CHARS;
use fieldledger_core::model::{Record, Role};
use fieldledger_core::sync::{MAX_ANSWER_BYTES, PushDoc, SyncResponse, WantDoc};
use fieldledger_core::{Edit, FieldValue, RecordKind, Store};
use fieldledger_e2e::forge::{raw_change, refusal, sync_request};
use fieldledger_e2e::http::post_sync;
use fieldledger_e2e::{Device, Relay, RelayOptions};

fn relay() -> Relay {
    Relay::start_with_people(RelayOptions::default())
}

fn petition_status(relay: &Relay, id: &str) -> Option<&'static str> {
    match relay.records().record(id).unwrap() {
        Record::Petition(p) => p.status.map(|s| s.code()),
        other => panic!("{other:?}"),
    }
}

/// A resolved case led by `leader`, created by the unit head and synced.
fn resolved_case(relay: &Relay, head: &mut Device, leader: &str) -> String {
    let id = head
        .store_mut()
        .create(
            RecordKind::Petition,
            None,
            &[
                Edit::text("title", "刘某信访案"),
                Edit::text("leader", leader),
                Edit::text("disposition", "solved"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap();
    head.sync_clean();
    assert_eq!(petition_status(relay, &id), Some("resolved"));
    id
}

fn sign_off_entry(by: &str) -> Edit {
    Edit::Append {
        list: "signoffs".into(),
        values: vec![
            ("action".into(), FieldValue::text("sign_off")),
            ("by".into(), FieldValue::text(by)),
            ("note".into(), FieldValue::text("化解到位")),
        ],
    }
}

#[test]
fn staff_cannot_sign_a_case_off_by_naming_themselves_leader_for_a_moment() {
    let relay = relay();
    let mut head = Device::enroll(&relay, "wangke");
    let mut zhang = Device::enroll(&relay, "zhang");
    let case = resolved_case(&relay, &mut head, "wangju");
    zhang.sync_clean();

    // Leader set to zhang, signed off, leader set back — all offline, one sync.
    raw_change(zhang.store_mut(), &case, |doc| {
        doc.put(automerge::ROOT, "leader", "zhang").unwrap();
    });
    zhang.store_mut().sign_off(&case, "已办结").unwrap();
    raw_change(zhang.store_mut(), &case, |doc| {
        doc.put(automerge::ROOT, "leader", "wangju").unwrap();
    });
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &case);
    assert_eq!(code, "forbidden", "{message}");
    assert_eq!(report.pushed, 0);
    assert_eq!(petition_status(&relay, &case), Some("resolved"));

    // Changing the leader at all is the unit head's or the office's, at the relay too.
    let other = resolved_case(&relay, &mut head, "wangju");
    zhang.sync_clean();
    raw_change(zhang.store_mut(), &other, |doc| {
        doc.put(automerge::ROOT, "leader", "zhang").unwrap();
    });
    let (code, message) = refusal(&zhang.sync().unwrap(), &other);
    assert_eq!(code, "forbidden", "{message}");
    assert!(message.contains("包案领导"), "{message}");
    // And on the phone itself: staff cannot name a leader, even on a new case.
    let err = zhang
        .store_mut()
        .create(
            RecordKind::Petition,
            None,
            &[Edit::text("title", "新案"), Edit::text("leader", "zhang")],
        )
        .unwrap_err();
    assert!(err.to_string().contains("包案领导"), "{err}");

    // Appending a sign-off entry straight to the log (status untouched) is refused too.
    let third = resolved_case(&relay, &mut head, "wangju");
    zhang.sync_clean();
    zhang.with_identity(
        |id| id.author.role = Role::Office,
        |s| s.edit(&third, &[sign_off_entry("张三")]).unwrap(),
    );
    let (code, message) = refusal(&zhang.sync().unwrap(), &third);
    assert_eq!(code, "forbidden", "{message}");
    let Record::Petition(p) = relay.records().record(&third).unwrap() else {
        panic!("a petition")
    };
    assert!(p.signoffs.is_empty(), "{:?}", p.signoffs);

    // The unit head reassigns; the new leader signs off.
    head.sync_clean();
    head.store_mut()
        .edit(&case, &[Edit::text("leader", "zhang")])
        .unwrap();
    head.sync_clean();
    let mut zhang2 = Device::enroll(&relay, "zhang");
    zhang2.sync_clean();
    zhang2.store_mut().sign_off(&case, "化解到位").unwrap();
    zhang2.sync_clean();
    assert_eq!(petition_status(&relay, &case), Some("signed_off"));
}

#[test]
fn a_unit_flipped_and_flipped_back_inside_one_push_is_refused() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut wu = Device::enroll(&relay, "wu");
    let mut office = Device::enroll(&relay, "boss");
    let id = zhang
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", "欧阳某家属纠纷"),
                Edit::text("situation", "家属对治疗结果有异议"),
            ],
        )
        .unwrap();
    zhang.sync_clean();
    let before = relay.snapshot();

    raw_change(zhang.store_mut(), &id, |doc| {
        doc.put(automerge::ROOT, "_unit", "JKK").unwrap();
    });
    raw_change(zhang.store_mut(), &id, |doc| {
        doc.put(automerge::ROOT, "remarks", "在监督所期间写的")
            .unwrap();
    });
    raw_change(zhang.store_mut(), &id, |doc| {
        doc.put(automerge::ROOT, "_unit", "WJK").unwrap();
    });
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &id);
    assert_eq!(code, "forbidden", "{message}");
    assert_eq!(relay.snapshot(), before, "nothing of the push was stored");
    // Unit JKK never sees it, not even in the past.
    wu.sync_clean();
    assert!(!wu.store().contains(&id).unwrap());
    let as_of = relay.admin(&[
        "export", "ledger", "--format", "csv", "--unit", "JKK", "-o", "-",
    ]);
    assert!(!as_of.contains("欧阳某"), "{as_of}");

    // The office may move records; a flip there is two audited moves.
    office.sync_clean();
    office.store_mut().move_to_unit(&id, "JKK").unwrap();
    office.store_mut().move_to_unit(&id, "WJK").unwrap();
    office.sync_clean();
    let audit = relay.admin(&["audit", "--action", "record.unit_move", "--json"]);
    let moves: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let details: Vec<String> = moves
        .as_array()
        .expect("audit rows")
        .iter()
        .filter(|r| r["detail"].as_str().is_some_and(|d| d.contains(&id)))
        .map(|r| r["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        details.len(),
        2,
        "one audit line per move, in the push's causal order: {audit}"
    );
}

#[test]
fn records_out_of_scope_and_unknown_ids_get_the_same_refusal_with_nothing_in_it() {
    let relay = relay();
    let zhang = Device::enroll(&relay, "zhang");
    let mut wu = Device::enroll(&relay, "wu");
    let theirs = wu
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[Edit::text("name", "监督所的纠纷")],
        )
        .unwrap();
    wu.sync_clean();
    let heads = wu.store().heads(&theirs).unwrap();
    let nobody = "0192f1c4-0000-7000-8000-000000000000".to_owned();

    let probe = |id: &str, generation: u64, changes: Vec<u8>| {
        let body = sync_request(
            vec![PushDoc {
                id: id.to_owned(),
                generation,
                changes,
            }],
            vec![WantDoc {
                id: id.to_owned(),
                generation,
                have: vec![],
            }],
        );
        let answer = post_sync(&relay.url(), Some(&zhang.token()), &body);
        assert_eq!(answer.status, 200, "{}", answer.text());
        let resp = SyncResponse::decode(&answer.body).unwrap();
        assert!(resp.accepted.is_empty(), "{resp:?}");
        assert!(resp.docs.is_empty(), "{resp:?}");
        assert!(resp.feed.iter().all(|f| f.id != id), "{resp:?}");
        resp.rejected
            .iter()
            .map(|r| (r.code.clone(), r.message.replace(id, "ID")))
            .collect::<Vec<_>>()
    };
    let expected = probe(&nobody, 0, vec![]);
    assert!(
        expected.iter().all(|(code, _)| code == "unknown"),
        "{expected:?}"
    );
    for (what, generation, changes) in [
        ("an empty push", 0, vec![]),
        ("garbage", 0, b"not automerge".to_vec()),
        ("another generation", 7, vec![]),
        ("a whole new document", 0, {
            let mut s = Store::open_in_memory().unwrap();
            s.set_identity(zhang.identity()).unwrap();
            let id = s
                .create(RecordKind::Dispute, None, &[Edit::text("name", "x")])
                .unwrap();
            s.document_bytes(&id).unwrap()
        }),
    ] {
        let theirs_answer = probe(&theirs, generation, changes.clone());
        let unknown_answer = probe(&nobody, generation, changes);
        assert_eq!(theirs_answer, unknown_answer, "{what}");
        assert_eq!(theirs_answer, expected, "{what}");
        for (_, message) in &theirs_answer {
            for h in &heads {
                assert!(!message.contains(&h.to_string()), "{what}: {message}");
            }
            assert!(
                !message.contains("JKK") && !message.contains("generation 0"),
                "{message}"
            );
        }
    }
    assert_eq!(
        relay.records().heads(&theirs).unwrap(),
        heads,
        "nothing changed"
    );
}

#[test]
fn a_leader_in_the_office_receives_and_signs_off_the_cases_they_lead() {
    let relay = relay();
    let mut head = Device::enroll(&relay, "wangke");
    let other = head
        .store_mut()
        .create(RecordKind::Dispute, None, &[Edit::text("name", "别的纠纷")])
        .unwrap();
    let case = resolved_case(&relay, &mut head, "liju");
    let not_theirs = resolved_case(&relay, &mut head, "wangju");

    let mut liju = Device::enroll(&relay, "liju");
    liju.sync_clean();
    assert!(liju.store().contains(&case).unwrap(), "the case they lead");
    assert!(!liju.store().contains(&other).unwrap());
    assert!(!liju.store().contains(&not_theirs).unwrap());

    liju.store_mut().sign_off(&case, "同意销号").unwrap();
    liju.sync_clean();
    assert_eq!(petition_status(&relay, &case), Some("signed_off"));
    let audit = relay.admin(&["audit", "--action", "record.sign_off"]);
    assert!(audit.contains("liju"), "{audit}");
    // The unit sees the sign-off.
    head.sync_clean();
    assert!(matches!(
        head.store().record(&case).unwrap(),
        Record::Petition(p) if p.status.map(|s| s.code()) == Some("signed_off")
    ));
    // A leader cannot touch what they do not lead, even knowing its id.
    let body = sync_request(
        vec![],
        vec![WantDoc {
            id: not_theirs.clone(),
            generation: 0,
            have: vec![],
        }],
    );
    let resp =
        SyncResponse::decode(&post_sync(&relay.url(), Some(&liju.token()), &body).body).unwrap();
    assert!(resp.docs.is_empty(), "{resp:?}");
    assert_eq!(resp.rejected[0].code, "unknown");
}

#[test]
fn staff_keep_to_self_checks_and_leave_the_unit_profile_to_its_head() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut head = Device::enroll(&relay, "wangke");
    let mut office = Device::enroll(&relay, "boss");
    zhang.sync_clean();
    let inspection = |s: &mut Store, kind: &str| {
        s.create(
            RecordKind::Inspection,
            Some("WJK"),
            &[
                Edit::text("inspected_on", "2026-11-20"),
                Edit::text("kind", kind),
            ],
        )
    };
    // On the phone: refused.
    let err = inspection(zhang.store_mut(), "bureau").unwrap_err();
    assert!(err.to_string().contains("督查"), "{err}");
    // Past the phone's checks: refused by the relay.
    let forged = zhang.with_identity(
        |id| id.author.role = Role::Office,
        |s| inspection(s, "bureau").unwrap(),
    );
    let (code, message) = refusal(&zhang.sync().unwrap(), &forged);
    assert_eq!(code, "forbidden", "{message}");
    // Self-checks are the unit's own.
    inspection(zhang.store_mut(), "self_check").unwrap();

    // The unit's own categories: staff cannot change them, the unit head can.
    let profile = fieldledger_core::model::unit::profile_id("WJK");
    let err = zhang
        .store_mut()
        .edit(
            &profile,
            &[Edit::set(
                "categories",
                FieldValue::List(vec!["自设类型".into()]),
            )],
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("categories") || err.to_string().contains("类型"),
        "{err}"
    );
    zhang.with_identity(
        |id| id.author.role = Role::UnitHead,
        |s| {
            s.edit(
                &profile,
                &[Edit::set(
                    "categories",
                    FieldValue::List(vec!["自设类型".into()]),
                )],
            )
            .unwrap()
        },
    );
    let report = zhang.sync().unwrap();
    let (code, message) = refusal(&report, &profile);
    assert_eq!(code, "forbidden", "{message}");
    assert_eq!(report.pushed, 1, "the self-check went through");
    head.sync_clean();
    head.store_mut()
        .edit(
            &profile,
            &[Edit::set(
                "categories",
                FieldValue::List(vec!["院内感染".into()]),
            )],
        )
        .unwrap();
    head.sync_clean();
    assert!(
        relay
            .records()
            .categories("WJK")
            .unwrap()
            .contains(&"院内感染".to_owned())
    );

    // A bureau inspection: the unit marks a rectification done, only the office verifies.
    office.sync_clean();
    let bureau = inspection(office.store_mut(), "bureau").unwrap();
    office
        .store_mut()
        .edit(
            &bureau,
            &[Edit::Append {
                list: "problems".into(),
                values: vec![
                    ("problem".into(), FieldValue::text("台账不全")),
                    ("requirement".into(), FieldValue::text("补齐台账")),
                ],
            }],
        )
        .unwrap();
    office.sync_clean();
    zhang.sync().unwrap();
    let Record::Inspection(i) = zhang.store().record(&bureau).unwrap() else {
        panic!("an inspection")
    };
    let problem = i.problems[0].id.clone();
    let set_status = |s: &mut Store, status: &str| {
        s.edit(
            &bureau,
            &[Edit::SetInEntry {
                list: "problems".into(),
                entry: problem.clone(),
                field: "status".into(),
                value: FieldValue::text(status),
            }],
        )
    };
    set_status(zhang.store_mut(), "rectified").unwrap();
    let report = zhang.sync().unwrap();
    assert!(report.rejected.iter().all(|r| r.id != bureau), "{report:?}");
    // Findings of the office stay the office's.
    raw_change(zhang.store_mut(), &bureau, |doc| {
        doc.put(automerge::ROOT, "inspector", "张三").unwrap();
    });
    let (code, message) = refusal(&zhang.sync().unwrap(), &bureau);
    assert_eq!(code, "forbidden", "{message}");
}

#[test]
fn one_sync_request_cannot_make_the_relay_do_unbounded_work() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    // Long texts are capped, on the phone and at the relay.
    let id = zhang
        .store_mut()
        .create(RecordKind::Dispute, None, &[Edit::text("name", "长文本")])
        .unwrap();
    let too_long = "字".repeat(MAX_LONG_TEXT_CHARS + 1);
    let err = zhang
        .store_mut()
        .edit(&id, &[Edit::text("situation", &too_long)])
        .unwrap_err();
    assert!(
        err.to_string().contains(&MAX_LONG_TEXT_CHARS.to_string()),
        "{err}"
    );
    zhang.sync_clean();
    raw_change(zhang.store_mut(), &id, |doc| {
        let text = doc
            .get(automerge::ROOT, "situation")
            .unwrap()
            .map(|(_, obj)| obj)
            .expect("a text object");
        doc.splice_text(&text, 0, 0, &too_long).unwrap();
    });
    let (code, message) = refusal(&zhang.sync().unwrap(), &id);
    assert_eq!(code, "invalid", "{message}");

    // Big records at the cap: 400 wants of one at a wrong generation are answered once, and
    // wants of many are answered within the byte budget, the rest in later rounds.
    // Random characters, so that the documents' compression cannot shrink them.
    let mut big = Device::enroll(&relay, "li");
    let mut rng = StdRng::seed_from_u64(13);
    let long: String = (0..MAX_LONG_TEXT_CHARS - 10)
        .map(|_| char::from_u32(0x4E00 + rng.random_range(0..20_000)).unwrap())
        .collect();
    let ids: Vec<String> = (0..110)
        .map(|i| {
            big.store_mut()
                .create(
                    RecordKind::Dispute,
                    None,
                    &[
                        Edit::text("name", &format!("纠纷{i}")),
                        Edit::text("situation", &long),
                    ],
                )
                .unwrap()
        })
        .collect();
    big.sync_clean();
    let want = |id: &str| WantDoc {
        id: id.to_owned(),
        generation: 9,
        have: vec![],
    };
    let started = Instant::now();
    let answer = post_sync(
        &relay.url(),
        Some(&zhang.token()),
        &sync_request(vec![], (0..400).map(|_| want(&ids[0])).collect()),
    );
    let resp = SyncResponse::decode(&answer.body).unwrap();
    assert_eq!(
        resp.docs.len(),
        1,
        "a want repeated 400 times is answered once"
    );
    eprintln!(
        "400 wants of one {} KB record: {} KB answer in {:?}",
        resp.docs[0].changes.len() / 1024,
        answer.body.len() / 1024,
        started.elapsed()
    );
    let started = Instant::now();
    let answer = post_sync(
        &relay.url(),
        Some(&zhang.token()),
        &sync_request(vec![], ids.iter().map(|id| want(id)).collect()),
    );
    let resp = SyncResponse::decode(&answer.body).unwrap();
    let largest = resp.docs.iter().map(|d| d.changes.len()).max().unwrap();
    let sent: usize = resp.docs.iter().map(|d| d.changes.len()).sum();
    assert!(
        sent <= MAX_ANSWER_BYTES + largest,
        "{sent} bytes in one answer"
    );
    assert!(resp.docs.len() < ids.len(), "the answer is bounded");
    eprintln!(
        "110 wants of {} KB records: {} documents, {} KB answer in {:?} (budget {} KB)",
        largest / 1024,
        resp.docs.len(),
        answer.body.len() / 1024,
        started.elapsed(),
        MAX_ANSWER_BYTES / 1024
    );
    // A new phone still gets every record, over more rounds.
    let mut fresh = Device::enroll(&relay, "zhang");
    let report = fresh.sync_clean();
    for id in &ids {
        assert_eq!(
            fresh.store().dispute(id).unwrap().situation.chars().count(),
            long.chars().count()
        );
    }
    eprintln!("a new phone took {} rounds", report.rounds);
}
