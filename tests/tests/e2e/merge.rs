//! Merge semantics as people see them, through the relay: a choice made in a conflict is kept.

use fieldledger_core::{Edit, FieldValue, RecordKind};
use fieldledger_e2e::{Device, Relay};

fn trend(s: &str) -> FieldValue {
    FieldValue::text(s)
}

/// A person resolves a conflict by keeping the value the app shows first; at the same time a
/// colleague who had seen the conflict sets another value. Both are deliberate choices made
/// concurrently, so the field must be in conflict again, showing both.
///
/// Fails with automerge 0.12: re-putting the value that currently wins a conflict is turned
/// into a delete of the other values (`OpsFound::resolve_action`), so the resolution is carried
/// by the old operation, which the colleague's write overwrites, and the choice is lost without
/// a conflict.
#[test]
fn choosing_the_shown_value_of_a_conflict_survives_a_concurrent_edit() {
    let relay = Relay::start_new();
    relay.add_unit("WJK", "疾控科");
    for login in ["a", "b", "c"] {
        relay.add_user(login, "WJK", "staff", login);
    }
    let (mut a, mut b, mut c) = (
        Device::enroll(&relay, "a"),
        Device::enroll(&relay, "b"),
        Device::enroll(&relay, "c"),
    );
    let id = a
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", "纠纷"),
                Edit::set("trend", trend("stable")),
            ],
        )
        .unwrap();
    a.sync_clean();
    b.sync_clean();
    a.store_mut()
        .edit(&id, &[Edit::set("trend", trend("easing"))])
        .unwrap();
    b.store_mut()
        .edit(&id, &[Edit::set("trend", trend("escalating"))])
        .unwrap();
    a.sync_clean();
    b.sync_clean();
    c.sync_clean();
    let conflict = c.store().conflicts(&id).unwrap();
    assert_eq!(
        conflict.len(),
        1,
        "easing and escalating were set concurrently"
    );
    let shown = conflict[0].values[0].value.clone();

    // C keeps the value shown; B, who also saw the conflict, picks another one meanwhile.
    c.store_mut()
        .resolve_conflict(&id, "trend", shown.clone())
        .unwrap();
    b.store_mut()
        .edit(&id, &[Edit::set("trend", trend("resolved"))])
        .unwrap();
    c.sync_clean();
    b.sync_clean();
    c.sync_clean();
    a.sync_clean();

    assert_eq!(a.snapshot(), c.snapshot());
    let values: Vec<FieldValue> = a
        .store()
        .conflicts(&id)
        .unwrap()
        .into_iter()
        .filter(|x| x.field == "trend")
        .flat_map(|x| x.values.into_iter().map(|v| v.value))
        .collect();
    assert!(
        values.contains(&trend("resolved")) && values.contains(&shown),
        "C chose {shown:?} while B chose \"resolved\": both must be shown as a conflict, \
         but the field shows {values:?} (trend = {:?})",
        a.store().dispute(&id).unwrap().trend
    );
}
