//! The helpers themselves: a relay process, enrollment, a sync, a restart.

use fieldledger_core::{Edit, RecordKind};
use fieldledger_e2e::{Device, Relay};

#[test]
fn two_devices_share_a_record_through_a_relay_process_that_restarts() {
    let mut relay = Relay::start_new();
    relay.add_unit("WJK", "疾控科");
    relay.add_user("zhang", "WJK", "staff", "张三");
    relay.add_user("li", "WJK", "staff", "李四");
    let mut a = Device::enroll(&relay, "zhang");
    let mut b = Device::enroll(&relay, "li");
    let id = a
        .store_mut()
        .create(RecordKind::Dispute, None, &[Edit::text("name", "共享纠纷")])
        .unwrap();
    assert_eq!(a.sync_clean().pushed, 1);
    relay.restart();
    b.sync_clean();
    assert_eq!(b.store().dispute(&id).unwrap().name, "共享纠纷");
    assert_eq!(b.snapshot(), a.snapshot(), "same documents, same heads");
    assert_eq!(
        fieldledger_e2e::snapshot::of_unit(&relay.snapshot(), "WJK"),
        a.snapshot()
    );
}
