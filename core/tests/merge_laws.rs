//! Property tests of the merge laws: any set of concurrent edits on N replicas, merged in any
//! order, gives the same record, and no edited value disappears (it is the value, or it stands
//! in a conflict beside the others).

use fieldledger_core::model::{RecordKind, Role};
use fieldledger_core::testing::memory_store;
use fieldledger_core::{Edit, FieldValue, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    SetPeople(i64),
    SetLeader(u8),
    SetFlag(bool),
    Type(usize, String),
    AppendMeasure(String),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0i64..50).prop_map(Op::SetPeople),
        (0u8..4).prop_map(Op::SetLeader),
        any::<bool>().prop_map(Op::SetFlag),
        (0usize..40, "[a-z]{1,4}").prop_map(|(p, s)| Op::Type(p, s)),
        "[a-z]{1,6}".prop_map(Op::AppendMeasure),
    ]
}

const LEADERS: [&str; 4] = ["李局长", "王主任", "赵书记", "陈科长"];

fn apply(s: &mut Store, id: &str, op: &Op) {
    let e = match op {
        Op::SetPeople(n) => Edit::set("people_involved", FieldValue::Int(*n)),
        Op::SetLeader(i) => Edit::text("leader", LEADERS[*i as usize]),
        Op::SetFlag(b) => Edit::set("is_group", FieldValue::Bool(*b)),
        Op::Type(pos, text) => {
            let mut cur: Vec<char> = s.dispute(id).unwrap().situation.chars().collect();
            let at = (*pos).min(cur.len());
            cur.splice(at..at, text.chars());
            Edit::text("situation", &cur.into_iter().collect::<String>())
        }
        Op::AppendMeasure(w) => Edit::Append {
            list: "measures".into(),
            values: vec![("what".into(), FieldValue::text(w))],
        },
    };
    s.edit(id, &[e]).unwrap();
}

fn exchange(from: &Store, to: &mut Store, id: &str) {
    to.merge_remote(id, &from.document_bytes(id).unwrap())
        .unwrap();
}

fn state(s: &Store, id: &str) -> (serde_json::Value, Vec<fieldledger_core::doc::Conflict>) {
    let mut json = s.document(id).unwrap().to_json().unwrap();
    json.as_object_mut().unwrap().remove("_kind");
    (json, s.conflicts(id).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_edits_converge_in_any_order_and_nothing_disappears(
        ops in prop::collection::vec((0usize..3, op()), 1..25),
        order in Just(vec![0usize, 1, 2]).prop_shuffle(),
        order2 in Just(vec![0usize, 1, 2]).prop_shuffle(),
    ) {
        let mut replicas: Vec<Store> = (0..3)
            .map(|i| memory_store(&format!("user{i}"), "WJK", Role::Staff, &format!("D{i}")))
            .collect();
        let id = replicas[0]
            .create(RecordKind::Dispute, None, &[Edit::text("name", "纠纷"), Edit::text("situation", "基本情况")])
            .unwrap();
        let (first, rest) = replicas.split_at_mut(1);
        for r in rest.iter_mut() {
            exchange(&first[0], r, &id);
        }
        let base_len = "基本情况".chars().count();
        for (r, op) in &ops {
            apply(&mut replicas[*r], &id, op);
        }
        // Merge everything into two fresh replicas, in two different orders.
        let mut x = memory_store("x", "WJK", Role::Staff, "DX");
        let mut y = memory_store("y", "WJK", Role::Staff, "DY");
        for &i in &order {
            exchange(&replicas[i], &mut x, &id);
        }
        for &i in &order2 {
            exchange(&replicas[i], &mut y, &id);
        }
        // And pairwise, the way devices meet.
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    let bytes = replicas[i].document_bytes(&id).unwrap();
                    replicas[j].merge_remote(&id, &bytes).unwrap();
                }
            }
        }
        let sx = state(&x, &id);
        prop_assert_eq!(&sx, &state(&y, &id));
        for r in &replicas {
            prop_assert_eq!(&sx, &state(r, &id));
        }
        let d = x.dispute(&id).unwrap();
        let (_, conflicts) = &sx;
        // Every replica's last value of each field is the value or in the conflict.
        for r in 0..3 {
            let last = |f: &dyn Fn(&Op) -> Option<FieldValue>| ops.iter().filter(|(i, _)| *i == r).filter_map(|(_, o)| f(o)).last();
            let checks: [(&str, Option<FieldValue>, FieldValue); 3] = [
                ("people_involved", last(&|o| if let Op::SetPeople(n) = o { Some(FieldValue::Int(*n)) } else { None }), d.people_involved.map_or(FieldValue::Null, FieldValue::Int)),
                ("leader", last(&|o| if let Op::SetLeader(i) = o { Some(FieldValue::text(LEADERS[*i as usize])) } else { None }), d.leader.clone().map_or(FieldValue::Null, FieldValue::Text)),
                ("is_group", last(&|o| if let Op::SetFlag(b) = o { Some(FieldValue::Bool(*b)) } else { None }), d.is_group.map_or(FieldValue::Null, FieldValue::Bool)),
            ];
            for (field, wrote, shown) in checks {
                if let Some(v) = wrote {
                    let in_conflict = conflicts.iter().any(|c| c.field == field && c.values.iter().any(|cv| cv.value == v));
                    prop_assert!(shown == v || in_conflict, "{field}: replica {r} wrote {v:?}, shown {shown:?}, conflicts {conflicts:?}");
                }
            }
        }
        // Every typed character and every appended measure is there.
        let typed: usize = ops.iter().map(|(_, o)| if let Op::Type(_, s) = o { s.chars().count() } else { 0 }).sum();
        prop_assert_eq!(d.situation.chars().count(), base_len + typed);
        let appended = ops.iter().filter(|(_, o)| matches!(o, Op::AppendMeasure(_))).count();
        prop_assert_eq!(d.measures.len(), appended);
    }
}
