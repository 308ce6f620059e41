//! Personal-data erasure: the relay rebuilds a record without the person's data (history
//! included), devices replace their copies on the next sync and keep their unsynced edits,
//! and changes of the erased generation cannot bring the data back.

use std::cell::RefCell;
use std::rc::Rc;

use fieldledger_core::doc::erase::{ERASED_MARK, MASK};
use fieldledger_core::model::{RecordKind, Role};
use fieldledger_core::store::ErasureRequest;
use fieldledger_core::sync::{
    PushDoc, STALE_GENERATION, SyncRequest, SyncResponse, handle_request, sync_with,
};
use fieldledger_core::testing::{InProcessRelay, identity, memory_store, peer_of};
use fieldledger_core::{Edit, Error, Record, Store};

const NAME: &str = "王秀兰";
const PHONE: &str = "13800001111";
const ID_NUMBER: &str = "110101195001011234";

fn sync(relay: &Rc<RefCell<Store>>, s: &mut Store) -> fieldledger_core::sync::SyncReport {
    let mut t = InProcessRelay::new(relay.clone(), s);
    sync_with(s, &mut t, &mut |_| {}).unwrap()
}

fn relay_store(path: Option<&std::path::Path>) -> Store {
    let mut r = match path {
        Some(p) => Store::open(p).unwrap(),
        None => Store::open_in_memory().unwrap(),
    };
    r.set_identity(identity("admin", "OFFICE", Role::Office, "R"))
        .unwrap();
    r
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn petition(s: &mut Store) -> String {
    s.create(
        RecordKind::Petition,
        None,
        &[
            Edit::text("title", "卫生院收费争议信访积案"),
            Edit::text("petitioner", NAME),
            Edit::text("petitioner_contact", PHONE),
            Edit::text("petitioner_id_number", ID_NUMBER),
            Edit::text("origin", "repeated"),
            Edit::text(
                "summary",
                &format!("{NAME}反映卫生院多收费用，电话{PHONE}。"),
            ),
        ],
    )
    .unwrap()
}

fn office_erase(relay: &Rc<RefCell<Store>>, id: &str) -> fieldledger_core::store::ErasureOutcome {
    relay
        .borrow_mut()
        .erase_personal_data(
            id,
            &ErasureRequest {
                fields: vec![],
                masks: vec![NAME.into(), PHONE.into()],
                reason: "本人申请 2019-12-01".into(),
            },
        )
        .unwrap()
}

#[test]
fn erasure_removes_the_data_from_record_history_and_every_device() {
    let relay = Rc::new(RefCell::new(relay_store(None)));
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    // A unit head: the offline edit below names a new leader.
    let mut b = memory_store("li", "WJK", Role::UnitHead, "D2");
    let id = petition(&mut a);
    a.edit(&id, &[Edit::text("plan", "约谈当事人，核对收费。")])
        .unwrap();
    sync(&relay, &mut a);
    sync(&relay, &mut b);
    assert!(contains(&b.document_bytes(&id).unwrap(), NAME));
    let number = a.record(&id).unwrap().meta().number.clone();

    // b edits offline, not synced when the erasure happens.
    b.edit(
        &id,
        &[
            Edit::text(
                "summary",
                &format!("{NAME}反映卫生院多收费用，电话{PHONE}。已约谈两次。"),
            ),
            Edit::text("leader", "刘院长"),
        ],
    )
    .unwrap();

    let out = office_erase(&relay, &id);
    assert_eq!(out.generation, 1);
    assert_eq!(
        out.fields,
        ["petitioner", "petitioner_contact", "petitioner_id_number"]
    );
    assert_eq!(out.masked, 2, "the name and the phone in the summary");
    {
        let r = relay.borrow_mut();
        let bytes = r.document_bytes(&id).unwrap();
        for s in [NAME, PHONE, ID_NUMBER] {
            assert!(!contains(&bytes, s), "{s} is still in the relay's document");
        }
        let Record::Petition(p) = r.record(&id).unwrap() else {
            panic!("not a petition")
        };
        assert_eq!(p.petitioner.as_deref(), Some(ERASED_MARK));
        assert_eq!(p.summary, format!("{MASK}反映卫生院多收费用，电话{MASK}。"));
        assert_eq!(p.plan, "约谈当事人，核对收费。", "the rest stays");
        assert_eq!(p.meta.number, number, "the case number stays");
        // History keeps who did what, and the erasure itself.
        let h = r.history(&id).unwrap();
        assert_eq!(h[0].action.as_deref(), Some("create"));
        assert_eq!(h[0].user, "zhang");
        assert!(h.iter().any(|e| e.fields.contains(&"plan".to_owned())));
        let last = h.last().unwrap();
        assert_eq!(last.action.as_deref(), Some("erase"));
        assert_eq!(last.user, "admin");
        // The record as it stood before the erasure is still there for past reports, without
        // the erased data.
        let as_of = r.record_as_of(&id, i64::MAX).unwrap();
        assert!(!format!("{as_of:?}").contains(NAME));
        let created = r.record(&id).unwrap().meta().created_at;
        let Some(Record::Petition(then)) = r.record_as_of(&id, created).unwrap() else {
            panic!("the record existed before the erasure")
        };
        assert_eq!(then.petitioner.as_deref(), Some(ERASED_MARK));
        assert_eq!(
            then.summary,
            format!("{MASK}反映卫生院多收费用，电话{MASK}。")
        );
        assert_eq!(
            h.iter().filter(|e| e.user == "zhang").count(),
            2,
            "both of zhang's changes are in the history: {h:?}"
        );
        assert_eq!(r.generation(&id).unwrap(), 1);
        drop(r);
    }

    // a had nothing unsynced: it simply takes the new generation.
    let report = sync(&relay, &mut a);
    assert_eq!(report.regenerated.len(), 1);
    assert!(report.regenerated[0].reapplied.is_empty());
    for s in [NAME, PHONE, ID_NUMBER] {
        assert!(!contains(&a.document_bytes(&id).unwrap(), s));
    }

    // b's unsynced edits are refused as stale, then re-applied on the new generation and sent.
    let report = sync(&relay, &mut b);
    assert_eq!(report.regenerated.len(), 1, "{report:?}");
    let mut reapplied = report.regenerated[0].reapplied.clone();
    reapplied.sort();
    assert_eq!(reapplied, ["leader", "summary"]);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let want = format!("{MASK}反映卫生院多收费用，电话{MASK}。已约谈两次。");
    for s in [&b, &*relay.borrow()] {
        let Record::Petition(p) = s.record(&id).unwrap() else {
            panic!()
        };
        assert_eq!(p.summary, want);
        assert_eq!(p.leader.as_deref(), Some("刘院长"));
        assert_eq!(p.petitioner.as_deref(), Some(ERASED_MARK));
    }
    assert!(!contains(&b.document_bytes(&id).unwrap(), NAME));
    sync(&relay, &mut a);
    assert_eq!(a.record(&id).unwrap(), b.record(&id).unwrap());
}

#[test]
fn changes_of_an_erased_generation_cannot_bring_the_data_back() {
    let relay = Rc::new(RefCell::new(relay_store(None)));
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = petition(&mut a);
    sync(&relay, &mut a);
    let old = a.document_bytes(&id).unwrap();
    office_erase(&relay, &id);
    let p = peer_of(&a);
    for generation in [0, 1] {
        let req = SyncRequest {
            version: fieldledger_core::sync::PROTOCOL_VERSION,
            cursor: u64::MAX,
            push: vec![PushDoc {
                id: id.clone(),
                generation,
                changes: old.clone(),
            }],
            want: vec![],
            feed_limit: 1,
        };
        let resp: SyncResponse = handle_request(&mut relay.borrow_mut(), &p, &req).unwrap();
        assert!(resp.accepted.is_empty());
        let code = &resp.rejected[0].code;
        assert_eq!(
            code,
            if generation == 0 {
                STALE_GENERATION
            } else {
                "forbidden"
            }
        );
    }
    assert!(!contains(
        &relay.borrow_mut().document_bytes(&id).unwrap(),
        NAME
    ));
}

#[test]
fn only_the_office_erases_and_bad_requests_change_nothing() {
    let relay = Rc::new(RefCell::new(relay_store(None)));
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = petition(&mut a);
    let before = a.document_bytes(&id).unwrap();
    let req = ErasureRequest {
        reason: "x".into(),
        ..Default::default()
    };
    assert!(matches!(
        a.erase_personal_data(&id, &req),
        Err(Error::PermissionDenied(_))
    ));
    sync(&relay, &mut a);
    let mut r = relay.borrow_mut();
    for bad in [
        ErasureRequest::default(),
        ErasureRequest {
            fields: vec!["status".into()],
            reason: "x".into(),
            ..Default::default()
        },
        ErasureRequest {
            fields: vec!["no_such_field".into()],
            reason: "x".into(),
            ..Default::default()
        },
        ErasureRequest {
            masks: vec!["王".into()],
            reason: "x".into(),
            ..Default::default()
        },
    ] {
        assert!(r.erase_personal_data(&id, &bad).is_err(), "{bad:?}");
    }
    assert!(matches!(
        r.erase_personal_data("nope", &req),
        Err(Error::UnknownRecord(_))
    ));
    assert_eq!(r.generation(&id).unwrap(), 0);
    assert_eq!(r.document_bytes(&id).unwrap(), before);
    // The form label names a field as well as its key.
    let out = r
        .erase_personal_data(
            &id,
            &ErasureRequest {
                fields: vec!["身份证号".into()],
                reason: "x".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.fields, ["petitioner_id_number"]);
    // A second request later: generation 2, the earlier erasure and the history stay.
    let out = r
        .erase_personal_data(
            &id,
            &ErasureRequest {
                masks: vec![NAME.into()],
                reason: "y".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.generation, 2);
    let h = r.history(&id).unwrap();
    assert_eq!(h[0].action.as_deref(), Some("create"));
    assert_eq!(
        h.iter()
            .filter(|e| e.action.as_deref() == Some("erase"))
            .count(),
        2
    );
    let bytes = r.document_bytes(&id).unwrap();
    assert!(!contains(&bytes, NAME) && !contains(&bytes, ID_NUMBER));
    drop(r);
    sync(&relay, &mut a);
    assert_eq!(a.generation(&id).unwrap(), 2);
    assert_eq!(a.record(&id).unwrap(), relay.borrow().record(&id).unwrap());
}

#[test]
fn a_conflict_elsewhere_blocks_erasure_until_resolved() {
    let relay = Rc::new(RefCell::new(relay_store(None)));
    // Two unit heads name different leaders offline (staff may not name one).
    let mut a = memory_store("zhang", "WJK", Role::UnitHead, "D1");
    let mut b = memory_store("li", "WJK", Role::UnitHead, "D2");
    let id = petition(&mut a);
    sync(&relay, &mut a);
    sync(&relay, &mut b);
    a.edit(&id, &[Edit::text("leader", "甲")]).unwrap();
    b.edit(&id, &[Edit::text("leader", "乙")]).unwrap();
    sync(&relay, &mut a);
    sync(&relay, &mut b);
    let req = ErasureRequest {
        reason: "x".into(),
        ..Default::default()
    };
    let err = relay
        .borrow_mut()
        .erase_personal_data(&id, &req)
        .unwrap_err();
    assert!(err.to_string().contains("包案领导"), "{err}");
    relay
        .borrow_mut()
        .resolve_conflict(&id, "leader", fieldledger_core::FieldValue::text("甲"))
        .unwrap();
    relay.borrow_mut().erase_personal_data(&id, &req).unwrap();
}

#[test]
fn the_relay_file_keeps_no_copy_of_erased_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let relay = Rc::new(RefCell::new(relay_store(Some(&path))));
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(petition(&mut a));
    }
    for id in &ids {
        for i in 0..5 {
            a.edit(id, &[Edit::text("plan", &format!("第{i}次约谈"))])
                .unwrap();
        }
    }
    sync(&relay, &mut a);
    let file = || {
        let mut all = std::fs::read(&path).unwrap();
        all.extend(std::fs::read(dir.path().join("relay.db-wal")).unwrap_or_default());
        all
    };
    assert!(contains(&file(), ID_NUMBER), "the check can fail");
    for id in &ids {
        office_erase(&relay, id);
    }
    let bytes = file();
    for s in [NAME, PHONE, ID_NUMBER] {
        assert!(!contains(&bytes, s), "{s} is still in the relay's file");
    }
    assert_eq!(relay.borrow().count(RecordKind::Petition).unwrap(), 20);
}

#[test]
fn a_relay_restored_from_before_an_erasure_never_gives_the_data_back() {
    let relay = Rc::new(RefCell::new(relay_store(None)));
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = petition(&mut a);
    sync(&relay, &mut a);
    // The relay's state before the erasure, as a backup would hold it.
    let backup = relay.borrow_mut().document_bytes(&id).unwrap();
    office_erase(&relay, &id);
    sync(&relay, &mut a);
    assert_eq!(a.generation(&id).unwrap(), 1);
    // Restored: a relay holding generation 0 again.
    let restored = Rc::new(RefCell::new(relay_store(None)));
    restored.borrow_mut().merge_remote(&id, &backup).unwrap();
    let report = sync(&restored, &mut a);
    assert!(report.regenerated.is_empty());
    assert_eq!(
        a.generation(&id).unwrap(),
        1,
        "the device keeps the erased version"
    );
    assert!(!contains(&a.document_bytes(&id).unwrap(), NAME));
    // Edits still work locally and wait (the sync does not fail, the refusal is shown).
    a.edit(&id, &[Edit::text("plan", "回访")]).unwrap();
    let report = sync(&restored, &mut a);
    assert_eq!(report.rejected[0].code, STALE_GENERATION);
    assert!(report.rejected[0].message.contains("backup"));
    // The office erases again on the restored relay: that generation is another document,
    // so the device's edit is refused visibly (never silently acknowledged), and nothing of
    // the erased data comes back from either side.
    office_erase(&restored, &id);
    let report = sync(&restored, &mut a);
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert_eq!(report.rejected[0].code, "forbidden");
    assert!(!contains(
        &restored.borrow_mut().document_bytes(&id).unwrap(),
        NAME
    ));
    assert!(!contains(&a.document_bytes(&id).unwrap(), NAME));
}
