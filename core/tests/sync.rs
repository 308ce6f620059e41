//! The sync state machines end to end in one process: devices and a relay store exchanging
//! encoded messages, with failures injected in the transport.

use std::cell::RefCell;
use std::rc::Rc;

use fieldledger_core::model::{RecordKind, Role};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::sync::{Scope, SyncRequest, Transport, sync_with};
use fieldledger_core::testing::{InProcessRelay, identity, memory_store, resolved_case};
use fieldledger_core::{Edit, FieldValue, Store};

fn device(user: &str, unit: &str, role: Role, code: &str) -> Store {
    memory_store(user, unit, role, code)
}

fn transport(relay: &Rc<RefCell<Store>>, s: &Store) -> InProcessRelay<Rc<RefCell<Store>>> {
    InProcessRelay::new(relay.clone(), s)
}

fn sync(relay: &Rc<RefCell<Store>>, s: &mut Store) -> fieldledger_core::sync::SyncReport {
    let mut t = transport(relay, s);
    sync_with(s, &mut t, &mut |_| {}).unwrap()
}

fn relay() -> Rc<RefCell<Store>> {
    let mut r = Store::open_in_memory().unwrap();
    r.set_identity(identity("relay", "OFFICE", Role::Office, "R"))
        .unwrap();
    Rc::new(RefCell::new(r))
}

fn add(s: &mut Store, name: &str) -> String {
    s.create(
        RecordKind::Dispute,
        None,
        &[Edit::text("name", name), Edit::text("category", "医疗卫生")],
    )
    .unwrap()
}

#[test]
fn devices_converge_through_the_relay_and_units_stay_apart() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    let mut b = device("li", "WJK", Role::Staff, "D2");
    let mut other = device("wu", "ZYY", Role::Staff, "D3");
    let mut office = device("admin", "OFFICE", Role::Office, "D4");
    let shared = add(&mut a, "共享纠纷");
    add(&mut b, "b的纠纷");
    add(&mut other, "另一单位");
    for _ in 0..2 {
        for s in [&mut a, &mut b, &mut other] {
            sync(&relay, s);
        }
    }
    sync(&relay, &mut office);
    assert_eq!(a.count(RecordKind::Dispute).unwrap(), 2);
    assert_eq!(b.count(RecordKind::Dispute).unwrap(), 2);
    assert_eq!(
        other.count(RecordKind::Dispute).unwrap(),
        1,
        "no record of another unit"
    );
    assert_eq!(
        office.count(RecordKind::Dispute).unwrap(),
        3,
        "the office sees all"
    );
    // Concurrent edits to the shared record: text merges, the scalar becomes a conflict.
    a.edit(
        &shared,
        &[
            Edit::set("people_involved", FieldValue::Int(4)),
            Edit::text("situation", "甲方说明"),
        ],
    )
    .unwrap();
    b.edit(
        &shared,
        &[
            Edit::set("people_involved", FieldValue::Int(6)),
            Edit::text("remarks", "乙方备注"),
        ],
    )
    .unwrap();
    sync(&relay, &mut a);
    sync(&relay, &mut b);
    sync(&relay, &mut a);
    let (da, db) = (a.dispute(&shared).unwrap(), b.dispute(&shared).unwrap());
    assert_eq!(da, db);
    assert_eq!(da.situation, "甲方说明");
    assert_eq!(da.remarks, "乙方备注");
    assert_eq!(a.conflicts(&shared).unwrap().len(), 1);
    assert_eq!(
        relay.borrow().conflicts(&shared).unwrap(),
        a.conflicts(&shared).unwrap()
    );
}

#[test]
fn a_second_sync_with_nothing_changed_sends_almost_nothing() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    for i in 0..50 {
        add(&mut a, &format!("纠纷{i}"));
    }
    let first = sync(&relay, &mut a);
    assert_eq!(first.pushed, 50);
    let again = sync(&relay, &mut a);
    assert_eq!(again.pushed, 0);
    assert_eq!(again.received, 0);
    assert_eq!(again.rounds, 1);
    assert!(
        again.bytes_sent < 64 && again.bytes_received < 64,
        "{again:?}"
    );
}

#[test]
fn replayed_requests_change_nothing_twice() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    let id = add(&mut a, "纠纷");
    a.edit(
        &id,
        &[Edit::Append {
            list: "measures".into(),
            values: vec![("what".into(), FieldValue::text("走访"))],
        }],
    )
    .unwrap();
    let mut t = transport(&relay, &a);
    sync_with(&mut a, &mut t, &mut |_| {}).unwrap();
    let seq_before: i64 = relay
        .borrow()
        .connection()
        .query_row("SELECT MAX(seq) FROM documents", [], |r| r.get(0))
        .unwrap();
    let heads = relay.borrow().heads(&id).unwrap();
    for req in t.requests.clone() {
        t.exchange(req.clone()).unwrap();
        t.exchange(req).unwrap();
    }
    let seq_after: i64 = relay
        .borrow()
        .connection()
        .query_row("SELECT MAX(seq) FROM documents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seq_before, seq_after, "a replay writes nothing");
    assert_eq!(relay.borrow().heads(&id).unwrap(), heads);
    assert_eq!(relay.borrow().dispute(&id).unwrap().measures.len(), 1);
}

#[test]
fn an_interrupted_sync_resumes_and_loses_nothing() {
    let relay = relay();
    let mut seed = device("zhang", "WJK", Role::Staff, "D1");
    for i in 0..1200 {
        add(&mut seed, &format!("纠纷{i}"));
    }
    sync(&relay, &mut seed);
    let mut fresh = device("li", "WJK", Role::Staff, "D2");
    add(&mut fresh, "新的");
    let mut t = transport(&relay, &fresh);
    t.fail_after = Some(2);
    assert!(sync_with(&mut fresh, &mut t, &mut |_| {}).is_err());
    let partial = fresh.count(RecordKind::Dispute).unwrap();
    assert!(
        partial > 1 && partial < 1201,
        "partial sync applied {partial}"
    );
    let report = sync(&relay, &mut fresh);
    assert!(report.received < 1200, "resumed, not restarted: {report:?}");
    assert_eq!(fresh.count(RecordKind::Dispute).unwrap(), 1201);
    assert_eq!(relay.borrow().count(RecordKind::Dispute).unwrap(), 1201);
}

#[test]
fn the_relay_refuses_forged_actors_wrong_units_and_forged_sign_offs() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    let id = add(&mut a, "纠纷");
    // Forged actor: the relay bound another actor id to this device.
    let mut t = transport(&relay, &a);
    t.peer.actor_hex = "00112233445566778899aabbccddeeff".into();
    let r = sync_with(&mut a, &mut t, &mut |_| {}).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].code, "forbidden");
    assert!(!relay.borrow().contains(&id).unwrap());
    // Wrong unit: a device of WJK pushes a record of unit ZYY (made by a hostile client).
    let mut hostile = device("zhang", "ZYY", Role::Staff, "D1");
    let other_unit = add(&mut hostile, "别的单位");
    let mut t = transport(&relay, &hostile);
    t.peer.author.unit = "WJK".into();
    t.peer.scope = Scope::Units(vec!["WJK".into()]);
    let r = sync_with(&mut hostile, &mut t, &mut |_| {}).unwrap();
    assert_eq!(r.rejected[0].code, "forbidden", "{r:?}");
    assert!(!relay.borrow().contains(&other_unit).unwrap());
    // Forged sign-off: staff writes status=signed_off with a log entry, bypassing the API.
    // The unit head opens the case and names its leader (staff may not).
    let mut staff = device("wang", "WJK", Role::UnitHead, "D5");
    let case = resolved_case(&mut staff);
    sync(&relay, &mut staff);
    let mut forger = device("wang", "WJK", Role::Leader, "D5");
    forger
        .merge_remote(&case, &staff.document_bytes(&case).unwrap())
        .unwrap();
    // The local role says leader but the name does not match the case's leader either way:
    // pretend to be the office locally to get past the local check.
    forger
        .set_identity(identity("wang", "WJK", Role::Office, "D5"))
        .unwrap();
    let mut id5 = forger.identity().unwrap().clone();
    id5.author.device = "dev-D5".into();
    forger.set_identity(id5).unwrap();
    forger.sign_off(&case, "forged").unwrap();
    let mut t = transport(&relay, &forger);
    t.peer.author = staff.identity().unwrap().author.clone();
    t.peer.author.role = Role::Staff;
    t.peer.scope = Scope::Units(vec!["WJK".into()]);
    let r = sync_with(&mut forger, &mut t, &mut |_| {}).unwrap();
    let rej: Vec<_> = r.rejected.iter().filter(|x| x.id == case).collect();
    assert_eq!(rej.len(), 1, "{r:?}");
    assert_eq!(rej[0].code, "forbidden");
    let fieldledger_core::Record::Petition(p) = relay.borrow().record(&case).unwrap() else {
        panic!()
    };
    assert_eq!(
        p.status.unwrap().code(),
        "resolved",
        "the relay kept the case unsigned"
    );
}

#[test]
fn invalid_values_pushed_by_a_hostile_client_are_refused() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    let id = add(&mut a, "纠纷");
    sync(&relay, &mut a);
    // Write a negative count straight into the Automerge document, past the typed API.
    let mut doc = a.document(&id).unwrap();
    use automerge::transaction::Transactable;
    doc.automerge_mut()
        .put(automerge::ROOT, "people_involved", -5i64)
        .unwrap();
    doc.commit(
        &fieldledger_core::doc::ChangeNote {
            user: "zhang".into(),
            device: "dev-D1".into(),
            ..Default::default()
        },
        0,
    );
    let bytes = doc.save();
    let heads = relay.borrow().heads(&id).unwrap();
    let mut t = transport(&relay, &a);
    let req = SyncRequest {
        version: fieldledger_core::sync::PROTOCOL_VERSION,
        cursor: 0,
        push: vec![fieldledger_core::sync::PushDoc {
            id: id.clone(),
            generation: 0,
            changes: bytes,
        }],
        want: vec![],
        feed_limit: 10,
    };
    let resp =
        fieldledger_core::sync::SyncResponse::decode(&t.exchange(req.encode()).unwrap()).unwrap();
    assert_eq!(resp.rejected.len(), 1);
    assert_eq!(resp.rejected[0].code, "invalid");
    assert!(
        resp.rejected[0].message.contains("所涉人数"),
        "{}",
        resp.rejected[0].message
    );
    assert_eq!(relay.borrow().heads(&id).unwrap(), heads);
}

#[test]
fn unit_head_filters_still_work_after_sync() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    for i in 0..10 {
        a.create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", &format!("n{i}")),
                Edit::set("is_major", FieldValue::Bool(i < 3)),
            ],
        )
        .unwrap();
    }
    sync(&relay, &mut a);
    let mut head = device("boss", "WJK", Role::UnitHead, "D9");
    sync(&relay, &mut head);
    let f = DisputeFilter {
        is_major: Some(true),
        ..Default::default()
    };
    assert_eq!(head.disputes(&f).unwrap().len(), 3);
}

#[test]
fn a_case_resolved_and_signed_off_offline_is_accepted_on_first_sync() {
    let relay = relay();
    // A unit head who leads the case themselves (a leader's case is opened by the unit head).
    let mut leader = device("leader1", "WJK", Role::UnitHead, "D9");
    let case = leader
        .create(
            RecordKind::Petition,
            None,
            &[Edit::text("title", "案"), Edit::text("leader", "leader1")],
        )
        .unwrap();
    leader
        .edit(
            &case,
            &[
                Edit::text("disposition", "solved"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap();
    leader.sign_off(&case, "化解到位").unwrap();
    let r = sync(&relay, &mut leader);
    assert!(r.rejected.is_empty(), "{r:?}");
    let fieldledger_core::Record::Petition(p) = relay.borrow().record(&case).unwrap() else {
        panic!()
    };
    assert_eq!(p.status.unwrap().code(), "signed_off");
}

#[test]
fn a_sign_off_concurrent_with_a_staff_edit_becomes_a_conflict_not_a_refusal() {
    let relay = relay();
    let mut head = device("wangke", "WJK", Role::UnitHead, "D2");
    let mut staff = device("zhang", "WJK", Role::Staff, "D1");
    let case = resolved_case(&mut head);
    sync(&relay, &mut head);
    sync(&relay, &mut staff);
    let mut leader = device("leader1", "WJK", Role::Leader, "D9");
    sync(&relay, &mut leader);
    // Offline at the same time: staff reopens the work, the leader signs the case off.
    staff
        .edit(
            &case,
            &[Edit::text("status", "open"), Edit::text("plan", "继续跟进")],
        )
        .unwrap();
    leader.sign_off(&case, "化解到位").unwrap();
    let r1 = sync(&relay, &mut staff);
    let r2 = sync(&relay, &mut leader);
    sync(&relay, &mut staff);
    assert!(
        r1.rejected.is_empty() && r2.rejected.is_empty(),
        "{r1:?} {r2:?}"
    );
    let c = relay.borrow().conflicts(&case).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, "status");
    assert_eq!(
        staff.conflicts(&case).unwrap(),
        c,
        "both sides show the conflict"
    );
    let fieldledger_core::Record::Petition(p) = relay.borrow().record(&case).unwrap() else {
        panic!()
    };
    assert_eq!(p.plan, "继续跟进", "the staff's other edits were kept");
    assert_eq!(p.signoffs.len(), 1, "the sign-off is logged");
}

#[test]
fn a_relay_restored_from_a_backup_gets_the_changes_it_lost_again() {
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    let id = add(&mut a, "备份前");
    sync(&relay, &mut a);
    let backup = relay.borrow_mut().document_bytes(&id).unwrap();
    a.edit(&id, &[Edit::text("remarks", "备份后，已确认")])
        .unwrap();
    sync(&relay, &mut a);
    // The relay is restored: it lacks the acknowledged edit.
    let restored = self::relay();
    restored.borrow_mut().merge_remote(&id, &backup).unwrap();
    a.edit(&id, &[Edit::text("difficulties", "恢复后的修改")])
        .unwrap();
    let report = sync(&restored, &mut a);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let d = restored.borrow().dispute(&id).unwrap();
    assert_eq!(d.remarks, "备份后，已确认", "the lost change came back");
    assert_eq!(d.difficulties, "恢复后的修改");
}

/// The first request a device would send now: its pushes and wants.
fn request_of(s: &Store) -> SyncRequest {
    fieldledger_core::sync::DeviceSync::new(s)
        .unwrap()
        .next_request(s)
        .unwrap()
        .expect("a request")
}

#[test]
fn pushes_checked_against_one_version_both_land_when_committed_one_after_the_other() {
    use fieldledger_core::sync::{check_pushes, commit_checked};
    use fieldledger_core::testing::peer_of;
    let relay = relay();
    let mut a = device("zhang", "WJK", Role::Staff, "D1");
    let mut b = device("li", "WJK", Role::Staff, "D2");
    let shared = add(&mut a, "共享纠纷");
    sync(&relay, &mut a);
    sync(&relay, &mut b);
    a.edit(
        &shared,
        &[
            Edit::set("people_involved", FieldValue::Int(4)),
            Edit::text("situation", "甲方说明"),
        ],
    )
    .unwrap();
    b.edit(&shared, &[Edit::set("people_involved", FieldValue::Int(5))])
        .unwrap();
    let (req_a, req_b) = (request_of(&a), request_of(&b));
    // Both rounds are checked against the same stored version (two relay readers at once)...
    let checked_a = check_pushes(&relay.borrow(), &peer_of(&a), &req_a).unwrap();
    let checked_b = check_pushes(&relay.borrow(), &peer_of(&b), &req_b).unwrap();
    // ...and committed one after the other: the second is checked again and merged, not
    // written over the first.
    let mut r = relay.borrow_mut();
    let (out_a, _) = r
        .batch(|s| commit_checked(s, &peer_of(&a), &req_a, checked_a))
        .unwrap();
    let (out_b, _) = r
        .batch(|s| commit_checked(s, &peer_of(&b), &req_b, checked_b))
        .unwrap();
    assert_eq!((out_a.accepted.len(), out_b.accepted.len()), (1, 1));
    assert!(out_a.rejected.is_empty() && out_b.rejected.is_empty());
    let d = r.dispute(&shared).unwrap();
    assert_eq!(d.situation, "甲方说明", "a's edit is kept");
    let c = r.conflicts(&shared).unwrap();
    assert_eq!(c.len(), 1, "both values of people_involved are kept: {c:?}");
    assert_eq!(c[0].field, "people_involved");
    assert_eq!(r.heads(&shared).unwrap().len(), 2, "both edits are heads");
}

#[test]
fn a_push_checked_before_its_record_left_the_unit_is_checked_again_and_refused() {
    use fieldledger_core::sync::{check_pushes, commit_checked};
    use fieldledger_core::testing::peer_of;
    let relay = relay();
    let mut staff = device("zhang", "WJK", Role::Staff, "D1");
    let mut office = device("admin", "OFFICE", Role::Office, "D4");
    let id = add(&mut staff, "将移交的纠纷");
    sync(&relay, &mut staff);
    sync(&relay, &mut office);
    staff
        .edit(&id, &[Edit::text("situation", "移交前的补充")])
        .unwrap();
    let req = request_of(&staff);
    let checked = check_pushes(&relay.borrow(), &peer_of(&staff), &req).unwrap();
    // Before the staff's round reaches the writer, the office moves the record away.
    office.move_to_unit(&id, "ZYY").unwrap();
    let moved = sync(&relay, &mut office);
    assert!(moved.rejected.is_empty(), "{moved:?}");
    let mut r = relay.borrow_mut();
    let (out, _) = r
        .batch(|s| commit_checked(s, &peer_of(&staff), &req, checked))
        .unwrap();
    assert!(out.accepted.is_empty(), "{out:?}");
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(
        out.rejected[0].code, "unknown",
        "refused as out of scope, revealing nothing"
    );
    assert!(
        !r.dispute(&id).unwrap().situation.contains("移交前"),
        "nothing of the refused push was written"
    );
}

#[test]
fn a_sign_off_checked_before_the_case_got_another_leader_is_refused_at_commit() {
    use fieldledger_core::sync::{check_pushes, commit_checked};
    use fieldledger_core::testing::peer_of;
    let relay = relay();
    let mut head = device("wangke", "WJK", Role::UnitHead, "D2");
    let case = resolved_case(&mut head);
    sync(&relay, &mut head);
    let mut leader = device("leader1", "WJK", Role::Leader, "D9");
    let mut staff = device("zhang", "WJK", Role::Staff, "D1");
    sync(&relay, &mut leader);
    sync(&relay, &mut staff);
    leader.sign_off(&case, "化解到位").unwrap();
    let req = request_of(&leader);
    let checked = check_pushes(&relay.borrow(), &peer_of(&leader), &req).unwrap();
    // Before the leader's round reaches the writer, a staff edit lands (the record moved on,
    // the leader did not), and the sign-off still stands...
    staff
        .edit(&case, &[Edit::text("plan", "回访一次")])
        .unwrap();
    assert!(sync(&relay, &mut staff).rejected.is_empty());
    let (out, events) = relay
        .borrow_mut()
        .batch(|s| commit_checked(s, &peer_of(&leader), &req, checked))
        .unwrap();
    assert_eq!(out.accepted.len(), 1, "{out:?}");
    assert!(
        events.iter().any(|e| e.action == "record.sign_off"),
        "the audit line of the sign-off is kept: {events:?}"
    );
    let fieldledger_core::Record::Petition(p) = relay.borrow().record(&case).unwrap() else {
        panic!()
    };
    assert_eq!((p.signoffs.len(), p.plan.as_str()), (1, "回访一次"));

    // ...but a sign-off checked before the unit head named another leader is refused when
    // it reaches the writer: it is judged against the leader the relay holds then.
    let case2 = resolved_case(&mut head);
    sync(&relay, &mut head);
    sync(&relay, &mut leader);
    leader.sign_off(&case2, "化解到位").unwrap();
    let req = request_of(&leader);
    let checked = check_pushes(&relay.borrow(), &peer_of(&leader), &req).unwrap();
    head.edit(&case2, &[Edit::text("leader", "leader2")])
        .unwrap();
    assert!(sync(&relay, &mut head).rejected.is_empty());
    let (out, events) = relay
        .borrow_mut()
        .batch(|s| commit_checked(s, &peer_of(&leader), &req, checked))
        .unwrap();
    assert!(out.accepted.is_empty(), "{out:?}");
    assert_eq!(out.rejected.len(), 1, "{out:?}");
    assert!(out.rejected[0].message.contains("包案领导"), "{out:?}");
    assert!(!events.iter().any(|e| e.action == "record.sign_off"));
    let fieldledger_core::Record::Petition(p) = relay.borrow().record(&case2).unwrap() else {
        panic!()
    };
    assert!(
        p.signoffs.is_empty(),
        "nothing of the refused push was written"
    );
}
