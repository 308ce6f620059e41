//! Campaigns against a real relay: the office sets one from a TOML file with the admin
//! command; every device receives it and reports offline with it; no unit changes it; the
//! relay's supervision judges against it; a case's leader must be a user.

use automerge::transaction::Transactable;
use fieldledger_core::report::{Calendar, for_report};
use fieldledger_core::{Edit, RecordKind};
use fieldledger_e2e::forge::{raw_change, refusal};
use fieldledger_e2e::http::get;
use fieldledger_e2e::{Device, Relay, RelayOptions};

const CAMPAIGN: &str = r#"
name = "2026年三大活动"
start = 2026-09-01
end = "2026-12-31"
time_zone = "Asia/Shanghai"
monthly_due_day = 23
screening = "half-monthly"

[[rounds]]
code = "1"
label = "第一轮"
ends_on = 2026-10-31

[[rounds]]
code = "2"
label = "第二轮"
ends_on = 2026-11-30
"#;

fn campaign_file(relay: &Relay, text: &str) -> String {
    let path = relay.db_path().with_file_name("campaign.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_office_sets_a_campaign_every_device_receives_and_no_unit_changes() {
    let relay = Relay::start_with_people(RelayOptions::default());
    let file = campaign_file(&relay, CAMPAIGN);
    let set: serde_json::Value =
        serde_json::from_str(&relay.admin(&["campaign", "set", &file, "--json"])).unwrap();
    assert_eq!(set["created"], true);
    let id = set["id"].as_str().unwrap().to_owned();
    // Setting the same file again changes nothing.
    let again: serde_json::Value =
        serde_json::from_str(&relay.admin(&["campaign", "set", &file, "--json"])).unwrap();
    assert_eq!(
        (again["id"].as_str(), again["changed"].as_bool()),
        (Some(id.as_str()), Some(false))
    );
    let list: serde_json::Value =
        serde_json::from_str(&relay.admin(&["campaign", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], "2026年三大活动");
    assert_eq!(list[0]["start"], "2026-09-01");
    assert_eq!(list[0]["rounds"][1]["ends_on"], "2026-11-30");
    assert_eq!(list[0]["monthly_due_day"], 23);

    // A bad file is a clear error and changes nothing.
    let bad = campaign_file(&relay, &CAMPAIGN.replace("2026-12-31", "2026-08-01"));
    let out = relay.try_admin(&["campaign", "set", &bad]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("end comes before"));
    let unknown_key = campaign_file(&relay, &format!("{CAMPAIGN}\ncolour = \"red\"\n"));
    assert!(
        !relay
            .try_admin(&["campaign", "set", &unknown_key])
            .status
            .success()
    );
    assert_eq!(relay.records().history(&id).unwrap().len(), 1);

    // Staff of any unit receive it and judge offline against it.
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut wu = Device::enroll(&relay, "wu");
    zhang.sync_clean();
    wu.sync_clean();
    for d in [&zhang, &wu] {
        let calendar = Calendar::load(d.store(), None).unwrap();
        assert_eq!(calendar.campaigns().len(), 1);
        assert_eq!(calendar.campaigns()[0].rounds.len(), 2);
        assert!(
            for_report(d.store(), Some("2026-10-15".parse().unwrap()))
                .unwrap()
                .0
                .is_set()
        );
    }

    // The directory of users came along: a person field of WJK is chosen from WJK's users,
    // the leaders and the office — not from other units' staff.
    let directory = zhang
        .store()
        .directory()
        .unwrap()
        .expect("the directory of users");
    let mut choices: Vec<&str> = directory
        .choices_for("WJK")
        .iter()
        .map(|u| u.login.as_str())
        .collect();
    choices.sort_unstable();
    assert_eq!(
        choices,
        ["admin", "boss", "li", "liju", "wangju", "wangke", "zhang"]
    );
    relay.add_user("zhao", "WJK", "staff", "赵六");
    zhang.sync_clean();
    let directory = zhang.store().directory().unwrap().unwrap();
    assert!(
        directory
            .users
            .iter()
            .any(|u| u.login == "zhao" && u.name == "赵六")
    );

    // A unit's device cannot change it, by the store's rules or by raw changes.
    assert!(
        zhang
            .store_mut()
            .edit(&id, &[Edit::text("time_zone", "UTC")])
            .is_err()
    );
    raw_change(zhang.store_mut(), &id, |doc| {
        doc.put(automerge::ROOT, "monthly_due_day", 1_i64).unwrap();
    });
    let report = zhang.sync().unwrap();
    assert_eq!(refusal(&report, &id).0, "forbidden");
    assert_eq!(
        Calendar::load(&relay.records(), None).unwrap().campaigns()[0].monthly_due_day,
        23
    );

    // The office changes it from a device too, with history; devices see the change.
    let mut boss = Device::enroll(&relay, "boss");
    boss.sync_clean();
    boss.store_mut()
        .edit(
            &id,
            &[Edit::set(
                "monthly_due_day",
                fieldledger_core::FieldValue::Int(25),
            )],
        )
        .unwrap();
    boss.sync_clean();
    wu.sync_clean();
    assert_eq!(
        Calendar::load(wu.store(), None).unwrap().campaigns()[0].monthly_due_day,
        25
    );

    // The relay's supervision names the campaign in force on the day asked for.
    let answer = get(
        &relay.url(),
        "/v1/supervision?as_of=2026-10-15",
        Some(&boss.token()),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let v: serde_json::Value = serde_json::from_str(&answer.text()).unwrap();
    assert_eq!(v["campaign"]["name"], "2026年三大活动");
    assert_eq!(v["campaign"]["set"], true);
    assert_eq!(v["current_round"], "1");
}

#[test]
fn the_relay_refuses_a_case_leader_who_is_no_user() {
    let relay = Relay::start_with_people(RelayOptions::default());
    let mut head = Device::enroll(&relay, "wangke");
    // The phone does not know every user; the relay does.
    let ghost = head
        .store_mut()
        .create(
            RecordKind::Petition,
            None,
            &[
                Edit::text("title", "信访案"),
                Edit::text("leader", "nobody"),
            ],
        )
        .unwrap();
    let named = head
        .store_mut()
        .create(
            RecordKind::Petition,
            None,
            &[Edit::text("title", "信访案"), Edit::text("leader", "liju")],
        )
        .unwrap();
    let report = head.sync().unwrap();
    let (code, message) = refusal(&report, &ghost);
    assert_eq!(code, "invalid");
    assert!(message.contains("包案领导"), "{message}");
    assert!(!report.rejected.iter().any(|r| r.id == named));
    assert!(relay.records().contains(&named).unwrap());
    assert!(!relay.records().contains(&ghost).unwrap());

    // A user added while the relay runs is known at once (the refused record is sent again
    // when it next changes).
    relay.add_user("nobody", "OFFICE", "leader", "新领导");
    head.store_mut()
        .edit(&ghost, &[Edit::text("title", "信访积案")])
        .unwrap();
    let report = head.sync().unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    assert!(relay.records().contains(&ghost).unwrap());
}

#[test]
fn the_relay_checks_the_links_between_screening_rounds_and_disputes() {
    use automerge::ReadDoc;
    let relay = Relay::start_with_people(RelayOptions::default());
    let mut zhang = Device::enroll(&relay, "zhang");
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

    // A round naming another unit's dispute, and one naming an id nobody has: the same
    // refusal, saying nothing of either record.
    let round = |d: &mut Device| {
        d.store_mut()
            .create(
                RecordKind::Screening,
                None,
                &[Edit::text("screened_on", "2026-10-10")],
            )
            .unwrap()
    };
    let mut messages = Vec::new();
    for named in [theirs.as_str(), "01900000-0000-7000-8000-000000000000"] {
        let id = round(&mut zhang);
        raw_change(zhang.store_mut(), &id, |doc| {
            let (_, list) = doc.get(automerge::ROOT, "disputes").unwrap().unwrap();
            doc.insert(&list, 0, named).unwrap();
        });
        let report = zhang.sync().unwrap();
        let (code, message) = refusal(&report, &id);
        assert_eq!(code, "invalid", "{message}");
        assert!(message.contains("发现矛盾纠纷"), "{message}");
        assert!(!message.contains(named), "{message}");
        assert!(!relay.records().contains(&id).unwrap());
        messages.push(message);
    }
    assert_eq!(messages[0], messages[1]);

    // A round and the dispute it found, made offline and pushed together: both land, linked
    // both ways.
    let id = round(&mut zhang);
    let found = zhang
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", "排查发现的纠纷"),
                Edit::text("screening_round", &id),
            ],
        )
        .unwrap();
    let report = zhang.sync().unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let store = relay.records();
    match store.record(&id).unwrap() {
        fieldledger_core::Record::Screening(s) => assert_eq!(s.disputes, vec![found.clone()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.dispute(&found).unwrap().screening_round.as_deref(),
        Some(id.as_str())
    );
}
