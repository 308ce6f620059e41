//! Integration tests of the core: records, conflicts, history, numbers, the SQLite store.

use fieldledger_core::model::{RecordKind, Role};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::testing::{day_ms, identity, memory_store, resolved_case, ticking_clock};
use fieldledger_core::{Edit, Error, FieldValue, Record, Store};

fn new_dispute(s: &mut Store, name: &str) -> String {
    s.create(
        RecordKind::Dispute,
        None,
        &[
            Edit::text("name", name),
            Edit::text("category", "医疗卫生"),
            Edit::text("situation", "患者家属对治疗结果有异议。"),
            Edit::set("people_involved", FieldValue::Int(3)),
            Edit::set("is_major", FieldValue::Bool(false)),
            Edit::text("found_on", "2019-10-08"),
            Edit::text("deadline", "2019-11-08"),
        ],
    )
    .unwrap()
}

/// A visit of 王某户 on 2019-10-05 with one demand; its id.
fn visit_with_demand(s: &mut Store, demand: &str) -> String {
    s.create(
        RecordKind::Visit,
        None,
        &[
            Edit::text("visit_date", "2019-10-05"),
            Edit::text("visited_name", "王某户"),
            Edit::Append {
                list: "demands".into(),
                values: vec![("content".into(), FieldValue::text(demand))],
            },
        ],
    )
    .unwrap()
}

fn send(from: &Store, to: &mut Store, id: &str) {
    let bytes = from.document_bytes(id).unwrap();
    to.merge_remote(id, &bytes).unwrap();
}

#[test]
fn dispute_round_trip_with_all_fields() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = new_dispute(&mut s, "张某医疗纠纷");
    s.edit(
        &id,
        &[
            Edit::text("trend", "趋于缓和"),
            Edit::set("resolving_soon", FieldValue::Bool(true)),
            Edit::text("leader", "李局长"),
            Edit::text("responsible", "王科长"),
            Edit::text("difficulties", "涉及多个部门职责"),
            Edit::text("mediation", "people"),
            Edit::set("risk_collective_petition", FieldValue::Bool(true)),
            Edit::Append {
                list: "工作措施".into(),
                values: vec![
                    ("date".into(), FieldValue::text("2019-10-09")),
                    ("what".into(), FieldValue::text("上门沟通")),
                ],
            },
        ],
    )
    .unwrap();
    let d = s.dispute(&id).unwrap();
    assert_eq!(d.name, "张某医疗纠纷");
    assert_eq!(d.category.as_deref(), Some("医疗卫生"));
    assert_eq!(d.people_involved, Some(3));
    assert_eq!(d.trend.map(|t| t.label()), Some("趋于缓和"));
    assert_eq!(d.measures.len(), 1);
    assert_eq!(d.measures[0].what, "上门沟通");
    assert_eq!(d.measures[0].entered_by, "zhang");
    assert_eq!(d.mediation.as_deref(), Some("people"));
    assert_eq!(d.risk_collective_petition, Some(true));
    assert!(d.meta.number.starts_with("WJK-MD-D1-"), "{}", d.meta.number);
}

#[test]
fn invalid_values_are_refused_and_change_nothing() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = new_dispute(&mut s, "纠纷");
    let before = s.history(&id).unwrap().len();
    let err = s
        .edit(&id, &[Edit::set("people_involved", FieldValue::Int(-2))])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    let err = s
        .edit(&id, &[Edit::text("category", "不存在的类型")])
        .unwrap_err();
    assert!(matches!(err, Error::UnknownCategory(_)), "{err}");
    let err = s.edit(&id, &[Edit::text("name", "  ")]).unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    let err = s
        .edit(&id, &[Edit::text("no_such_field", "x")])
        .unwrap_err();
    assert!(matches!(err, Error::UnknownField { .. }), "{err}");
    // A batch with one bad edit changes nothing at all.
    let err = s
        .edit(
            &id,
            &[Edit::text("remarks", "ok"), Edit::text("trend", "sideways")],
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    assert_eq!(s.dispute(&id).unwrap().remarks, "");
    assert_eq!(s.history(&id).unwrap().len(), before);
    assert!(matches!(
        s.edit("nope", &[Edit::text("name", "x")]),
        Err(Error::UnknownRecord(_))
    ));
    let err = s
        .create(
            RecordKind::Dispute,
            None,
            &[Edit::text("category", "医疗卫生")],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidValue { .. }),
        "empty 名称 refused: {err}"
    );
    assert_eq!(s.count(RecordKind::Dispute).unwrap(), 1);
}

#[test]
fn staff_cannot_write_another_units_records() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let err = s
        .create(RecordKind::Dispute, Some("ZYY"), &[Edit::text("name", "x")])
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
}

#[test]
fn concurrent_scalar_edits_become_a_conflict_until_resolved() {
    let (clock, _) = ticking_clock(day_ms("2019-10-10"));
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    a.set_clock(clock.clone());
    let mut b = memory_store("li", "WJK", Role::Staff, "D2");
    b.set_clock(clock);
    let id = new_dispute(&mut a, "纠纷");
    send(&a, &mut b, &id);
    a.edit(&id, &[Edit::set("people_involved", FieldValue::Int(5))])
        .unwrap();
    b.edit(&id, &[Edit::set("people_involved", FieldValue::Int(8))])
        .unwrap();
    send(&a, &mut b, &id);
    send(&b, &mut a, &id);
    let ca = a.conflicts(&id).unwrap();
    assert_eq!(ca, b.conflicts(&id).unwrap());
    assert_eq!(ca.len(), 1);
    let c = &ca[0];
    assert_eq!(c.field, "people_involved");
    assert_eq!(c.label, "所涉人数");
    let mut vals: Vec<_> = c
        .values
        .iter()
        .map(|v| (v.value.clone(), v.user.clone()))
        .collect();
    vals.sort_by_key(|v| v.1.clone());
    assert_eq!(
        vals,
        vec![
            (FieldValue::Int(8), "li".into()),
            (FieldValue::Int(5), "zhang".into())
        ]
    );
    assert!(c.values.iter().all(|v| v.at_ms >= day_ms("2019-10-10")));
    assert_eq!(a.list(RecordKind::Dispute, None).unwrap()[0].conflicts, 1);
    // Resolving is an ordinary, recorded edit.
    a.resolve_conflict(&id, "people_involved", FieldValue::Int(8))
        .unwrap();
    assert!(a.conflicts(&id).unwrap().is_empty());
    assert_eq!(a.dispute(&id).unwrap().people_involved, Some(8));
    let last = a.history(&id).unwrap().pop().unwrap();
    assert_eq!(last.action.as_deref(), Some("resolve_conflict"));
    assert_eq!(last.fields, vec!["people_involved"]);
    send(&a, &mut b, &id);
    assert!(b.conflicts(&id).unwrap().is_empty());
    assert!(matches!(
        a.resolve_conflict(&id, "name", FieldValue::text("x")),
        Err(Error::NoConflict(_))
    ));
}

#[test]
fn long_texts_merge_character_wise_and_lists_append() {
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let mut b = memory_store("li", "WJK", Role::Staff, "D2");
    let id = new_dispute(&mut a, "纠纷");
    send(&a, &mut b, &id);
    a.edit(
        &id,
        &[Edit::text(
            "situation",
            "患者家属对治疗结果有异议，要求赔偿。",
        )],
    )
    .unwrap();
    b.edit(
        &id,
        &[Edit::text(
            "situation",
            "据了解，患者家属对治疗结果有异议。",
        )],
    )
    .unwrap();
    for (s, what) in [(&mut a, "电话沟通"), (&mut b, "组织调解")] {
        s.edit(
            &id,
            &[Edit::Append {
                list: "measures".into(),
                values: vec![("what".into(), FieldValue::text(what))],
            }],
        )
        .unwrap();
    }
    send(&a, &mut b, &id);
    send(&b, &mut a, &id);
    let (da, db) = (a.dispute(&id).unwrap(), b.dispute(&id).unwrap());
    assert_eq!(da.situation, db.situation);
    assert_eq!(da.situation, "据了解，患者家属对治疗结果有异议，要求赔偿。");
    let mut whats: Vec<_> = da.measures.iter().map(|m| m.what.as_str()).collect();
    whats.sort();
    assert_eq!(whats, vec!["电话沟通", "组织调解"]);
    assert!(a.conflicts(&id).unwrap().is_empty());
}

#[test]
fn history_lists_author_device_time_and_fields() {
    let (clock, _) = ticking_clock(1_570_000_000_000);
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    s.set_clock(clock);
    let id = new_dispute(&mut s, "纠纷");
    s.edit(
        &id,
        &[
            Edit::text("leader", "李局长"),
            Edit::text("remarks", "备注"),
        ],
    )
    .unwrap();
    let h = s.history(&id).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].action.as_deref(), Some("create"));
    assert_eq!(h[1].user, "zhang");
    assert_eq!(h[1].device, "dev-D1");
    assert_eq!(h[1].fields, vec!["leader", "remarks"]);
    assert!(h[1].at_ms > h[0].at_ms);
    assert_eq!(h[1].actor, s.actor_hex());
    // An edit that changes nothing records nothing.
    s.edit(&id, &[Edit::text("leader", "李局长")]).unwrap();
    assert_eq!(s.history(&id).unwrap().len(), 2);
}

#[test]
fn case_numbers_never_collide_between_offline_devices() {
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let mut b = memory_store("li", "WJK", Role::Staff, "D2");
    let mut numbers = std::collections::BTreeSet::new();
    for i in 0..50 {
        for s in [&mut a, &mut b] {
            let id = new_dispute(s, &format!("纠纷{i}"));
            assert!(
                numbers.insert(s.dispute(&id).unwrap().meta.number),
                "duplicate number"
            );
        }
    }
    assert_eq!(numbers.len(), 100);
}

#[test]
fn demand_becomes_dispute_with_links_both_ways() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let visit = s
        .create(
            RecordKind::Visit,
            None,
            &[
                Edit::text("visit_date", "2019-10-05"),
                Edit::text("round", "第一轮"),
                Edit::set(
                    "visitors",
                    FieldValue::List(vec!["张三".into(), "李四".into()]),
                ),
                Edit::text("method", "入户"),
                Edit::text("visited_name", "王某户"),
                Edit::Append {
                    list: "demands".into(),
                    values: vec![
                        ("content".into(), FieldValue::text("村卫生室缺医生")),
                        ("status".into(), FieldValue::text("recorded")),
                    ],
                },
            ],
        )
        .unwrap();
    let Record::Visit(v) = s.record(&visit).unwrap() else {
        panic!()
    };
    let demand = v.demands[0].id.clone();
    let dispute = s
        .demand_to_dispute(&visit, &demand, &[Edit::text("category", "医疗卫生")])
        .unwrap();
    let d = s.dispute(&dispute).unwrap();
    assert_eq!(d.source_visit.as_deref(), Some(visit.as_str()));
    assert_eq!(d.source_demand.as_deref(), Some(demand.as_str()));
    assert_eq!(d.name, "村卫生室缺医生");
    assert_eq!(d.found_on.unwrap().to_string(), "2019-10-05");
    let Record::Visit(v) = s.record(&visit).unwrap() else {
        panic!()
    };
    assert_eq!(v.demands[0].dispute.as_deref(), Some(dispute.as_str()));
    assert!(
        s.demand_to_dispute(&visit, &demand, &[]).is_err(),
        "a demand becomes a dispute once"
    );
}

#[test]
fn demand_status_never_moves_backwards_and_answers_need_text() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let visit = visit_with_demand(&mut s, "修路");
    let Record::Visit(v) = s.record(&visit).unwrap() else {
        panic!()
    };
    let d = v.demands[0].id.clone();
    let set = |status: &str| Edit::SetInEntry {
        list: "demands".into(),
        entry: d.clone(),
        field: "status".into(),
        value: FieldValue::text(status),
    };
    s.edit(&visit, &[set("in_hand")]).unwrap();
    assert!(matches!(
        s.edit(&visit, &[set("recorded")]),
        Err(Error::RuleViolation(_))
    ));
    assert!(matches!(
        s.edit(&visit, &[set("answered")]),
        Err(Error::RuleViolation(_))
    ));
    s.edit(
        &visit,
        &[
            Edit::SetInEntry {
                list: "demands".into(),
                entry: d.clone(),
                field: "response".into(),
                value: FieldValue::text("已向交通局反映"),
            },
            set("answered"),
        ],
    )
    .unwrap();
    let Record::Visit(v) = s.record(&visit).unwrap() else {
        panic!()
    };
    assert_eq!(v.demands[0].status.unwrap().label(), "已解释答复");
}

#[test]
fn petition_sign_off_rules() {
    // The unit head opens the case and names its leader; staff may not name one.
    let mut head = memory_store("wangke", "WJK", Role::UnitHead, "D2");
    let mut staff = memory_store("zhang", "WJK", Role::Staff, "D1");
    assert!(matches!(
        staff.create(
            RecordKind::Petition,
            None,
            &[Edit::text("title", "案"), Edit::text("leader", "zhang")],
        ),
        Err(Error::PermissionDenied(_))
    ));
    let case = head
        .create(
            RecordKind::Petition,
            None,
            &[
                Edit::text("title", "刘某信访案"),
                Edit::text("origin", "上级交办"),
                Edit::text("leader", "leader1"),
            ],
        )
        .unwrap();
    send(&head, &mut staff, &case);
    assert!(matches!(
        staff.edit(&case, &[Edit::text("leader", "zhang")]),
        Err(Error::PermissionDenied(_))
    ));
    // Not resolved yet: no sign-off, not even by the leader.
    let mut leader = memory_store("leader1", "WJK", Role::Leader, "D9");
    send(&staff, &mut leader, &case);
    assert!(matches!(
        leader.sign_off(&case, "done"),
        Err(Error::RuleViolation(_))
    ));
    // Resolving needs a disposition.
    assert!(matches!(
        staff.edit(&case, &[Edit::text("status", "resolved")]),
        Err(Error::RuleViolation(_))
    ));
    staff
        .edit(
            &case,
            &[
                Edit::text("disposition", "合理诉求解决到位"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap();
    // Setting the status directly is refused; staff may not sign off.
    assert!(
        staff
            .edit(&case, &[Edit::text("status", "signed_off")])
            .is_err()
    );
    assert!(matches!(
        staff.sign_off(&case, "x"),
        Err(Error::PermissionDenied(_))
    ));
    send(&staff, &mut leader, &case);
    leader.sign_off(&case, "化解到位").unwrap();
    let Record::Petition(p) = leader.record(&case).unwrap() else {
        panic!()
    };
    assert_eq!(p.status.unwrap().label(), "已销号");
    assert_eq!(p.signoffs.len(), 1);
    leader.reopen(&case, "信访人再次来访").unwrap();
    let Record::Petition(p) = leader.record(&case).unwrap() else {
        panic!()
    };
    assert_eq!(p.status.unwrap().code(), "open");
    assert_eq!(p.signoffs.len(), 2);
}

#[test]
fn sign_off_is_not_silently_undone_by_a_concurrent_offline_edit() {
    let mut head = memory_store("wangke", "WJK", Role::UnitHead, "D2");
    let mut staff = memory_store("zhang", "WJK", Role::Staff, "D1");
    let case = resolved_case(&mut head);
    send(&head, &mut staff, &case);
    let mut leader = memory_store("leader1", "WJK", Role::Leader, "D9");
    send(&staff, &mut leader, &case);
    leader.sign_off(&case, "ok").unwrap();
    staff
        .edit(
            &case,
            &[Edit::text("status", "open"), Edit::text("plan", "继续跟进")],
        )
        .unwrap();
    send(&staff, &mut leader, &case);
    send(&leader, &mut staff, &case);
    let c = leader.conflicts(&case).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, "status");
    let vals: Vec<_> = c[0].values.iter().map(|v| v.value.display()).collect();
    assert!(vals.contains(&"signed_off".to_string()) && vals.contains(&"open".to_string()));
}

#[test]
fn risk_and_screening_records() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let r = s
        .create(
            RecordKind::RiskAssessment,
            None,
            &[
                Edit::text("decision", "医院迁建"),
                Edit::text("result", "不通过"),
            ],
        )
        .unwrap();
    let Record::RiskAssessment(a) = s.record(&r).unwrap() else {
        panic!()
    };
    assert!(a.must_not_proceed());
    let sc = s
        .create(
            RecordKind::Screening,
            None,
            &[
                Edit::text("screened_on", "2019-10-15"),
                Edit::set("found_nothing", FieldValue::Bool(true)),
            ],
        )
        .unwrap();
    assert_eq!(s.record(&sc).unwrap().status(), "nothing_found");
    assert!(
        s.create(RecordKind::Screening, None, &[Edit::text("scope", "x")])
            .is_err(),
        "a round needs a date"
    );
}

#[test]
fn store_with_thousands_of_records_lists_filters_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.set_identity(identity("zhang", "WJK", Role::Staff, "D1"))
            .unwrap();
        for i in 0..3000 {
            let cat = if i % 3 == 0 {
                "医疗卫生"
            } else {
                "劳动就业"
            };
            s.create(
                RecordKind::Dispute,
                None,
                &[
                    Edit::text("name", &format!("纠纷{i}")),
                    Edit::text("category", cat),
                    Edit::set("is_major", FieldValue::Bool(i % 10 == 0)),
                    Edit::text("found_on", &format!("2019-10-{:02}", 1 + i % 28)),
                ],
            )
            .unwrap();
        }
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.identity().unwrap().author.user, "zhang");
    assert_eq!(s.list(RecordKind::Dispute, None).unwrap().len(), 3000);
    let f = DisputeFilter {
        category: Some("医疗卫生".into()),
        is_major: Some(true),
        ..Default::default()
    };
    let major = s.disputes(&f).unwrap();
    assert_eq!(major.len(), 100);
    assert!(
        major
            .iter()
            .all(|d| d.category.as_deref() == Some("医疗卫生") && d.is_major == Some(true))
    );
    let f = DisputeFilter {
        found_from: Some("2019-10-01".parse().unwrap()),
        found_to: Some("2019-10-02".parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(s.disputes(&f).unwrap().len(), 3000 / 28 * 2 + 2);
    let f = DisputeFilter {
        units: Some(vec!["ZYY".into()]),
        ..Default::default()
    };
    assert!(s.disputes(&f).unwrap().is_empty());
}

#[test]
fn upgrades_a_version_1_store_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // Make a record with the current code, then rewrite the file as a version-1 store holding it.
    let mut donor = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = new_dispute(&mut donor, "旧纠纷");
    let bytes = donor.document_bytes(&id).unwrap();
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        let tx = c.transaction().unwrap();
        fieldledger_core::store::schema::create_at_version(&tx, 1).unwrap();
        tx.execute(
            "INSERT INTO documents(id, kind, unit, bytes, heads, seq, updated_at) VALUES(?1,'dispute','WJK',?2,'[]',1,0)",
            rusqlite::params![id, bytes],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO records(id, kind, unit, number, title, status, created_by, created_at, updated_at, json)
             VALUES(?1,'dispute','WJK','','旧纠纷','open','zhang',0,0,'{}')",
            [&id],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let s = Store::open(&path).unwrap();
    let v: i64 = s
        .connection()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, fieldledger_core::store::schema::VERSION);
    assert_eq!(s.dispute(&id).unwrap().name, "旧纠纷");
    assert_eq!(s.disputes(&DisputeFilter::default()).unwrap().len(), 1);
    // A newer file is refused with a clear error.
    s.connection()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(s);
    assert!(matches!(
        Store::open(&path),
        Err(Error::SchemaTooNew { found: 99, .. })
    ));
}

#[test]
fn malformed_remote_bytes_change_nothing() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = new_dispute(&mut s, "纠纷");
    let heads = s.heads(&id).unwrap();
    for bad in [&b""[..], b"garbage", &[0x85, 0x6f, 0x4a, 0x83, 1, 2, 3][..]] {
        assert!(s.merge_remote(&id, bad).is_err() || s.heads(&id).unwrap() == heads);
        assert!(s.merge_remote("new-id", bad).is_err());
    }
    assert_eq!(s.heads(&id).unwrap(), heads);
    // A document of another record under this id is refused.
    let other = new_dispute(&mut s, "另一个");
    let bytes = s.document_bytes(&other).unwrap();
    assert!(s.merge_remote("zzz", &bytes).is_err());
    assert!(!s.contains("zzz").unwrap());
}

#[test]
fn record_as_of_a_past_time() {
    let (clock, t) = ticking_clock(day_ms("2019-10-01"));
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    s.set_clock(clock);
    let id = new_dispute(&mut s, "纠纷");
    t.store(day_ms("2019-10-20"), std::sync::atomic::Ordering::SeqCst);
    s.edit(
        &id,
        &[
            Edit::text("trend", "resolved"),
            Edit::text("resolved_on", "2019-10-20"),
        ],
    )
    .unwrap();
    let Some(Record::Dispute(then)) = s.record_as_of(&id, day_ms("2019-10-10")).unwrap() else {
        panic!()
    };
    assert!(!then.is_resolved());
    assert!(s.dispute(&id).unwrap().is_resolved());
    assert!(s.record_as_of(&id, day_ms("2019-09-01")).unwrap().is_none());
}

/// Child mode of the crash test: write records forever, printing each id once committed.
fn crash_writer(path: &str) -> ! {
    use std::io::Write;
    let mut s = Store::open(path).unwrap();
    s.set_identity(identity("zhang", "WJK", Role::Staff, "D1"))
        .unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = new_dispute(&mut s, &format!("纠纷{i}"));
        s.edit(&id, &[Edit::text("remarks", &format!("第{i}条"))])
            .unwrap();
        writeln!(out, "committed {id}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn a_killed_writer_loses_no_committed_write() {
    if let Ok(path) = std::env::var("FIELDLEDGER_CRASH_WRITER") {
        crash_writer(&path);
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_writer_loses_no_committed_write",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FIELDLEDGER_CRASH_WRITER", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = Vec::new();
    while committed.len() < 150 {
        let line = lines.next().expect("writer output").unwrap();
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.to_owned());
        }
    }
    // SIGKILL in the middle of further writes.
    child.kill().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.to_owned());
        }
    }
    child.wait().unwrap();
    let s = Store::open(&path).unwrap();
    let ok: String = s
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    for id in &committed {
        let d = s.dispute(id).unwrap();
        assert!(d.remarks.starts_with('第'), "edit of {id} kept");
        assert!(!s.history(id).unwrap().is_empty());
    }
    assert!(s.count(RecordKind::Dispute).unwrap() as usize >= committed.len());
}

#[test]
fn a_unit_adds_its_own_categories_through_its_profile() {
    let mut office = memory_store("admin", "OFFICE", Role::Office, "D0");
    let profile = fieldledger_core::model::unit::profile_id("WJK");
    office
        .create_with_id(
            &profile,
            RecordKind::UnitProfile,
            Some("WJK"),
            &[Edit::text("unit_name", "疾控科")],
            None,
        )
        .unwrap();
    let mut s = memory_store("wang", "WJK", Role::UnitHead, "D1");
    s.merge_remote(&profile, &office.document_bytes(&profile).unwrap())
        .unwrap();
    assert!(matches!(
        s.create(
            RecordKind::Dispute,
            None,
            &[Edit::text("name", "x"), Edit::text("category", "疫苗接种")]
        ),
        Err(Error::UnknownCategory(_))
    ));
    s.edit(
        &profile,
        &[Edit::set(
            "自定义类型",
            FieldValue::List(vec!["疫苗接种".into()]),
        )],
    )
    .unwrap();
    let cats = s.categories("WJK").unwrap();
    assert_eq!(cats.len(), 18);
    assert_eq!(
        cats[..17],
        fieldledger_core::model::FORM_CATEGORIES.map(String::from)
    );
    let id = s
        .create(
            RecordKind::Dispute,
            None,
            &[Edit::text("name", "x"), Edit::text("category", "疫苗接种")],
        )
        .unwrap();
    assert_eq!(
        s.dispute(&id).unwrap().category.as_deref(),
        Some("疫苗接种")
    );
    // Staff cannot create a unit profile.
    let mut staff = memory_store("zhang", "WJK", Role::Staff, "D2");
    assert!(matches!(
        staff.create_with_id(
            "unit-X",
            RecordKind::UnitProfile,
            None,
            &[Edit::text("unit_name", "x")],
            None
        ),
        Err(Error::PermissionDenied(_))
    ));
}

/// Error messages reach the relay's refusals and its audit log: they name the field and the
/// rule, never the value typed (a name or phone number kept there would outlive an erasure).
#[test]
fn refusal_messages_name_the_field_and_the_rule_but_never_the_value() {
    const VALUE: &str = "欧阳娜娜13912345678";
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = new_dispute(&mut s, "纠纷");
    let tries: Vec<(Edit, &str)> = vec![
        (Edit::text("category", VALUE), "类型 (category)"),
        (Edit::text("trend", VALUE), "状态趋势 (trend)"),
        (Edit::text("found_on", VALUE), "发现日期 (found_on)"),
        (
            Edit::text("people_involved", VALUE),
            "所涉人数 (people_involved)",
        ),
        (Edit::text("is_major", VALUE), "是否重大问题 (is_major)"),
        (
            Edit::set("people_involved", FieldValue::Int(13_912_345_678)),
            "所涉人数 (people_involved)",
        ),
        (
            Edit::set("people_involved", FieldValue::Int(-13_912_345_678)),
            "所涉人数 (people_involved)",
        ),
        (
            Edit::text("resolved_on", "2019-10-01"),
            "化解日期 (resolved_on)",
        ),
    ];
    for (edit, field) in tries {
        let err = s.edit(&id, std::slice::from_ref(&edit)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(field), "{edit:?}: {msg}");
        for leak in ["欧阳娜娜", "13912345678", "2019-10-01", "2019-10-08"] {
            assert!(
                !msg.contains(leak),
                "{edit:?}: the message quotes `{leak}`: {msg}"
            );
        }
    }
    // Values typed at a prompt (parsed from text) and read from a document (JSON) alike.
    let spec = RecordKind::Dispute.field("people_involved").unwrap();
    for input in [VALUE, "13912345678x"] {
        let msg = spec.parse(input).unwrap_err().to_string();
        assert!(msg.contains("所涉人数") && !msg.contains(input), "{msg}");
    }
    let flag = RecordKind::Dispute.field("is_major").unwrap();
    let msg = flag.parse(VALUE).unwrap_err().to_string();
    assert!(
        msg.contains("是否重大问题") && !msg.contains(VALUE),
        "{msg}"
    );
    let mut json = serde_json::to_value(s.record(&id).unwrap()).unwrap();
    json["people_involved"] = serde_json::json!(VALUE);
    let msg = Record::from_json(RecordKind::Dispute, json.clone())
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("欧阳娜娜"), "{msg}");
    assert!(msg.contains("invalid type: string, expected"), "{msg}");
    json["people_involved"] = serde_json::json!(3);
    json["trend"] = serde_json::json!(VALUE);
    let msg = Record::from_json(RecordKind::Dispute, json)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("欧阳娜娜"), "{msg}");
}

/// A unit profile of WJK made by the office and sent to a unit head's and a staff member's
/// stores.
fn profile_on_devices() -> (Store, Store, Store) {
    use fieldledger_core::model::unit::profile_id;
    let mut office = memory_store("office", "JGB", Role::Office, "O1");
    office
        .create_with_id(
            &profile_id("WJK"),
            RecordKind::UnitProfile,
            Some("WJK"),
            &[Edit::text("unit_name", "疾控科")],
            None,
        )
        .unwrap();
    let mut head = memory_store("wangke", "WJK", Role::UnitHead, "D1");
    let mut head2 = memory_store("wangke", "WJK", Role::UnitHead, "D2");
    send(&office, &mut head, &profile_id("WJK"));
    send(&office, &mut head2, &profile_id("WJK"));
    (office, head, head2)
}

#[test]
fn a_category_added_on_two_offline_devices_is_listed_once() {
    use fieldledger_core::model::unit::profile_id;
    let (_office, mut a, mut b) = profile_on_devices();
    assert!(a.add_category("WJK", "疫苗接种").unwrap());
    assert!(b.add_category("WJK", "疫苗接种").unwrap());
    // Adding it again, or one of the form's 17, changes nothing.
    assert!(!a.add_category("WJK", "疫苗接种").unwrap());
    assert!(!a.add_category("WJK", "医疗卫生").unwrap());
    send(&b, &mut a, &profile_id("WJK"));
    // The document holds both additions; every read lists the category once.
    let doc =
        serde_json::to_value(a.document(&profile_id("WJK")).unwrap().to_json().unwrap()).unwrap();
    assert_eq!(doc["categories"].as_array().unwrap().len(), 2);
    assert_eq!(a.unit_profile("WJK").unwrap().categories, vec!["疫苗接种"]);
    let all = a.categories("WJK").unwrap();
    assert_eq!(all.iter().filter(|c| *c == "疫苗接种").count(), 1);
    assert_eq!(all.len(), 18);
    // Removing it removes both copies.
    assert!(a.remove_category("WJK", "疫苗接种").unwrap());
    assert!(a.unit_profile("WJK").unwrap().categories.is_empty());
    assert!(!a.remove_category("WJK", "医疗卫生").unwrap());
}

#[test]
fn staff_read_the_profile_but_only_the_head_keeps_it() {
    use fieldledger_core::model::unit::profile_id;
    let (office, mut head, _) = profile_on_devices();
    let mut staff = memory_store("li", "WJK", Role::Staff, "D3");
    send(&office, &mut staff, &profile_id("WJK"));
    assert!(matches!(
        staff.add_category("WJK", "疫苗接种"),
        Err(Error::PermissionDenied(_))
    ));
    let t = head
        .add_visit_target(
            "WJK",
            &[
                ("编号".into(), FieldValue::text("H01")),
                ("name".into(), FieldValue::text("刘某户")),
            ],
        )
        .unwrap();
    let again = head.add_visit_target(
        "WJK",
        &[
            ("code".into(), FieldValue::text("H01")),
            ("name".into(), FieldValue::text("另一户")),
        ],
    );
    assert!(matches!(again, Err(Error::RuleViolation(_))), "{again:?}");
    head.set_visit_target_field("WJK", &t, "地点", "三村")
        .unwrap();
    let p = head.unit_profile("WJK").unwrap();
    assert_eq!(p.visit_targets.len(), 1);
    assert_eq!(p.visit_targets[0].place.as_deref(), Some("三村"));
    send(&head, &mut staff, &profile_id("WJK"));
    assert_eq!(staff.unit_profile("WJK").unwrap(), p);
    assert!(matches!(
        staff.set_visit_target_field("WJK", &t, "place", "四村"),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn demand_and_rectification_steps_follow_their_rules() {
    let mut staff = memory_store("li", "WJK", Role::Staff, "D3");
    let v = visit_with_demand(&mut staff, "路灯不亮");
    let Record::Visit(visit) = staff.record(&v).unwrap() else {
        panic!("a visit")
    };
    let d = visit.demands[0].id.clone();
    staff.set_demand_status(&v, &d, "办理中", None).unwrap();
    // 已解释答复 needs the response; with it, one change moves it.
    assert!(matches!(
        staff.set_demand_status(&v, &d, "已解释答复", None),
        Err(Error::RuleViolation(_))
    ));
    staff
        .set_demand_status(&v, &d, "answered", Some("已向群众解释政策"))
        .unwrap();
    assert!(matches!(
        staff.set_demand_status(&v, &d, "recorded", None),
        Err(Error::RuleViolation(_))
    ));
    let Record::Visit(visit) = staff.record(&v).unwrap() else {
        panic!("a visit")
    };
    assert_eq!(visit.demands[0].response, "已向群众解释政策");

    let i = staff
        .create(
            RecordKind::Inspection,
            None,
            &[
                Edit::text("inspected_on", "2019-10-08"),
                Edit::text("kind", "self_check"),
                Edit::Append {
                    list: "problems".into(),
                    values: vec![("problem".into(), FieldValue::text("台账不全"))],
                },
            ],
        )
        .unwrap();
    let Record::Inspection(insp) = staff.record(&i).unwrap() else {
        panic!("an inspection")
    };
    let p = insp.problems[0].id.clone();
    staff.set_rectification_status(&i, &p, "已整改").unwrap();
    assert!(matches!(
        staff.set_rectification_status(&i, &p, "verified"),
        Err(Error::PermissionDenied(_))
    ));
    let mut office = memory_store("boss", "JGB", Role::Office, "O1");
    send(&staff, &mut office, &i);
    office.set_rectification_status(&i, &p, "verified").unwrap();
}

#[test]
fn a_conflict_resolves_by_the_fields_label_as_by_its_key() {
    let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
    let mut b = memory_store("li", "WJK", Role::Staff, "D2");
    let id = new_dispute(&mut a, "张某医疗纠纷");
    send(&a, &mut b, &id);
    a.edit(&id, &[Edit::text("trend", "stable")]).unwrap();
    b.edit(&id, &[Edit::text("trend", "easing")]).unwrap();
    send(&b, &mut a, &id);
    assert_eq!(a.conflicts(&id).unwrap()[0].field, "trend");
    a.resolve_conflict(&id, "状态趋势", FieldValue::text("easing"))
        .unwrap();
    assert!(a.conflicts(&id).unwrap().is_empty());
    assert!(matches!(
        a.resolve_conflict(&id, "状态趋势", FieldValue::text("easing")),
        Err(Error::NoConflict(_))
    ));
}

#[test]
fn a_document_knows_which_changes_it_holds() {
    let mut s = memory_store("zhang", "WJK", Role::Staff, "D1");
    let id = new_dispute(&mut s, "张某纠纷");
    s.edit(&id, &[Edit::text("situation", "第二次记录。")])
        .unwrap();
    s.edit(&id, &[Edit::set("people_involved", FieldValue::Int(4))])
        .unwrap();
    let changes = s.document(&id).unwrap().automerge_mut().get_changes(&[]);
    assert!(changes.len() >= 3);
    let (first, last) = (&changes[0], changes.last().unwrap());
    let mut part =
        fieldledger_core::doc::RecordDoc::load(first.raw_bytes(), automerge::ActorId::random())
            .unwrap();
    // The last change waits in the queue for the ones between.
    part.apply_remote(last.raw_bytes()).unwrap();
    assert!(part.has_change(&first.hash()));
    assert!(
        !part.has_change(&last.hash()),
        "a queued change is not held"
    );
    assert!(!part.has_change(&automerge::ChangeHash([7; 32])));
    let mut whole = s.document(&id).unwrap();
    assert!(changes.iter().all(|c| whole.has_change(&c.hash())));
}

#[test]
fn a_feed_page_holds_exactly_what_the_scope_sees_in_write_order() {
    use fieldledger_core::access::{Scope, scope_sees};
    use fieldledger_core::store::campaign::KnownUser;
    let mut s = memory_store("office", "OFFICE", Role::Office, "R");
    s.set_directory(&[KnownUser {
        login: "li".into(),
        name: "李".into(),
        unit: "ZYY".into(),
        role: "leader".into(),
    }])
    .unwrap();
    for i in 0..30 {
        let unit = ["WJK", "ZYY", "XX"][i % 3];
        s.create(
            RecordKind::Dispute,
            Some(unit),
            &[
                Edit::text("name", &format!("纠纷{i}")),
                Edit::text("category", "医疗卫生"),
            ],
        )
        .unwrap();
        if i % 7 == 0 {
            // A case of another unit led by `li`, and one of li's unit led by li as well.
            for unit in ["XX", "ZYY"] {
                s.create(
                    RecordKind::Petition,
                    Some(unit),
                    &[
                        Edit::text("title", &format!("案{i}")),
                        Edit::text("leader", "li"),
                    ],
                )
                .unwrap();
            }
        }
    }
    let (all, more) = s.feed_page(0, &Scope::All, "", 10_000).unwrap();
    assert!(!more);
    let li = fieldledger_core::model::Author {
        user: "li".into(),
        name: "李".into(),
        device: "dev-L".into(),
        role: Role::Leader,
        unit: "ZYY".into(),
    };
    let scope = Scope::Units(vec!["ZYY".into(), "WJK".into()]);
    let expected: Vec<_> = all
        .iter()
        .filter(|row| {
            let access = s.stored_access(&row.id).unwrap().unwrap();
            scope_sees(&scope, &li, &access.unit, access.leader.as_deref())
        })
        .cloned()
        .collect();
    assert!(expected.len() > 20 && expected.len() < all.len());
    for limit in [1, 4, 1_000] {
        let (mut seen, mut cursor) = (Vec::new(), 0);
        loop {
            let (page, more) = s.feed_page(cursor, &scope, "li", limit).unwrap();
            assert!(page.len() <= limit);
            cursor = page.last().map_or(cursor, |row| row.seq);
            seen.extend(page);
            if !more {
                break;
            }
        }
        assert_eq!(seen, expected, "pages of {limit}");
    }
    // Without a login the scope's units and the bureau-wide records only.
    let (unnamed, _) = s.feed_page(0, &scope, "", 10_000).unwrap();
    assert!(unnamed.len() < expected.len());
    assert!(unnamed.iter().all(|row| {
        let unit = s.stored_access(&row.id).unwrap().unwrap().unit;
        unit != "XX"
    }));
}
