//! Data protection against a real relay: encrypted device stores, revoked devices that erase
//! themselves and report what was lost, personal-data erasure reaching every device, the
//! audit log, HTTPS, and tokens kept out of the logs.

use automerge::transaction::Transactable;
use fieldledger_core::doc::erase::{ERASED_MARK, MASK};
use fieldledger_core::model::{Record, Role};
use fieldledger_core::{Edit, Error, RecordKind, Store};
use fieldledger_e2e::forge::raw_change;
use fieldledger_e2e::http::{self, post_json};
use fieldledger_e2e::{Device, Relay, RelayOptions};
use serde_json::json;

const NAME: &str = "赵桂芝";
const PHONE: &str = "13700002222";
const ID_NUMBER: &str = "320101196505054321";

fn relay_with(options: RelayOptions) -> Relay {
    Relay::start_with_people(options)
}

fn relay() -> Relay {
    relay_with(RelayOptions::default())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A file and its write-ahead log.
fn file_and_wal(path: &std::path::Path) -> Vec<u8> {
    let mut all = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    all.extend(std::fs::read(std::path::PathBuf::from(wal)).unwrap_or_default());
    all
}

fn petition(s: &mut Store) -> String {
    s.create(
        RecordKind::Petition,
        None,
        &[
            Edit::text("title", "村卫生室收费信访积案"),
            Edit::text("petitioner", NAME),
            Edit::text("petitioner_contact", PHONE),
            Edit::text("petitioner_id_number", ID_NUMBER),
            Edit::text("origin", "repeated"),
            Edit::text("summary", &format!("{NAME}多次反映收费问题。")),
        ],
    )
    .unwrap()
}

fn audit(relay: &Relay, token: &str, action: &str) -> Vec<serde_json::Value> {
    let a = http::get(
        &relay.url(),
        &format!("/v1/audit?action={action}&limit=1000"),
        Some(token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    a.json().as_array().unwrap().clone()
}

#[test]
fn device_stores_hold_no_plaintext_on_disk() {
    let relay = relay();
    let mut zhang = Device::enroll(&relay, "zhang");
    let id = petition(zhang.store_mut());
    zhang.sync_clean();
    let mut li = Device::enroll(&relay, "li");
    li.sync_clean();
    assert!(li.store().contains(&id).unwrap());
    // The unit's code as the case number spells it: three bytes alone turn up in megabytes
    // of ciphertext by chance.
    let number = zhang.store().summary(&id).unwrap().number;
    let unit_prefix = format!("WJK-{}-", RecordKind::Petition.number_prefix());
    assert!(number.starts_with(&unit_prefix), "{number}");
    for d in [&zhang, &li] {
        let bytes = file_and_wal(d.path());
        for s in [
            NAME,
            PHONE,
            ID_NUMBER,
            "村卫生室",
            "zhang",
            &unit_prefix,
            &number,
        ] {
            assert!(!contains(&bytes, s), "`{s}` is readable in {}", d.name);
        }
    }
    // The relay's own file is plain SQLite (the office protects its disk): the check works.
    assert!(contains(&file_and_wal(relay.db_path()), ID_NUMBER));
    li.reopen();
    assert!(li.store().contains(&id).unwrap());
}

#[test]
fn a_revoked_device_erases_itself_and_the_office_learns_what_was_lost() {
    let relay = relay();
    let mut office = Device::enroll(&relay, "boss");
    let mut phone = Device::enroll(&relay, "zhang");
    let synced = petition(phone.store_mut());
    phone.sync_clean();
    // Written after the last sync: one new record and one edit of a synced record.
    let new = petition(phone.store_mut());
    phone
        .store_mut()
        .edit(&synced, &[Edit::text("plan", "下周回访")])
        .unwrap();
    let new_number = phone.store().summary(&new).unwrap().number;
    let device_id = phone.identity().author.device;
    let token = phone.token();

    // A live device cannot file a loss report; nobody can without a token.
    let body = json!({"records": []});
    assert_eq!(
        post_json(&relay.url(), "/v1/device/lost", Some(&token), &body).status,
        403
    );
    assert_eq!(
        post_json(&relay.url(), "/v1/device/lost", None, &body).status,
        401
    );

    relay.revoke(&device_id);
    match phone.sync() {
        Err(Error::DeviceRevoked(why)) => assert!(why.contains("device_revoked"), "{why}"),
        other => panic!("a revoked device synced: {other:?}"),
    }
    let (report, left) = phone.erase_revoked();
    assert!(!left, "the store's files are gone");
    assert!(report.delivered);
    let mut lost: Vec<_> = report.records.iter().map(|r| r.id.clone()).collect();
    lost.sort();
    let mut want = vec![synced.clone(), new.clone()];
    want.sort();
    assert_eq!(lost, want);

    // The office sees the report, as a list and in the audit log.
    let office_token = office.token();
    let a = http::get(&relay.url(), "/v1/lost-records", Some(&office_token));
    assert_eq!(a.status, 200);
    let rows = a.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = rows
        .iter()
        .find(|r| r["record_id"] == new.as_str())
        .unwrap();
    assert_eq!(row["number"], new_number.as_str());
    assert_eq!(row["new_record"], true);
    assert_eq!(row["user_login"], "zhang");
    let staff = Device::enroll(&relay, "li");
    assert_eq!(
        http::get(&relay.url(), "/v1/lost-records", Some(&staff.token())).status,
        403
    );
    let log = audit(&relay, &office_token, "device.");
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"device.revoke"), "{actions:?}");
    let entry = log
        .iter()
        .find(|e| e["action"] == "device.lost_records")
        .expect("the loss report is logged");
    assert!(
        entry["detail"].as_str().unwrap().contains(&new_number),
        "{entry}"
    );
    // The revoked token still syncs nothing.
    assert_eq!(
        http::post_sync(&relay.url(), Some(&token), b"x").status,
        403
    );
    office.sync_clean();
}

#[test]
fn erasure_reaches_the_relay_file_history_ledger_and_every_device() {
    let relay = relay();
    let mut office = Device::enroll(&relay, "boss");
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut li = Device::enroll(&relay, "li");
    let id = petition(zhang.store_mut());
    let dispute = zhang
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", &format!("{NAME}与卫生室收费纠纷")),
                Edit::text("category", "医疗卫生"),
            ],
        )
        .unwrap();
    zhang.sync_clean();
    li.sync_clean();
    office.sync_clean();
    // li edits offline while the office erases.
    li.store_mut()
        .edit(&id, &[Edit::text("plan", "约谈并核对票据")])
        .unwrap();

    let url = relay.url();
    let request = json!({"masks": [NAME, PHONE], "reason": "本人书面申请（2019-12-02）"});
    // Only the office; unknown records and bad requests are refused and change nothing.
    let staff = post_json(
        &url,
        &format!("/v1/records/{id}/erase"),
        Some(&zhang.token()),
        &request,
    );
    assert_eq!(staff.status, 403, "{}", staff.text());
    let office_token = office.token();
    let unknown = post_json(
        &url,
        "/v1/records/nope/erase",
        Some(&office_token),
        &request,
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    let bad = post_json(
        &url,
        &format!("/v1/records/{id}/erase"),
        Some(&office_token),
        &json!({"fields": ["status"], "reason": "x"}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(relay.records().generation(&id).unwrap(), 0);

    for record in [&id, &dispute] {
        let ok = post_json(
            &url,
            &format!("/v1/records/{record}/erase"),
            Some(&office_token),
            &request,
        );
        assert_eq!(ok.status, 200, "{}", ok.text());
        assert_eq!(ok.json()["generation"], 1);
    }

    // The relay's file keeps no copy: documents, history, index, freed pages, log.
    let bytes = file_and_wal(relay.db_path());
    for s in [NAME, PHONE, ID_NUMBER] {
        assert!(
            !contains(&bytes, s),
            "`{s}` is still in the relay's database"
        );
    }
    // The record and its history stay, with the erasure in it.
    let h = http::get(
        &url,
        &format!("/v1/records/{id}/history"),
        Some(&office_token),
    );
    assert_eq!(h.status, 200, "{}", h.text());
    let text = h.text();
    assert!(!text.contains(NAME), "{text}");
    assert!(text.contains("\"erase\""), "{text}");
    assert!(text.contains("\"create\""), "{text}");
    // The ledger keeps the dispute's row, masked.
    let ledger = http::get(&url, "/v1/reports/ledger?format=csv", Some(&office_token));
    let csv = ledger.text();
    assert!(csv.contains(&format!("{MASK}与卫生室收费纠纷")), "{csv}");
    assert!(!csv.contains(NAME));

    // Every device replaces its copy at its next sync; li's offline edit survives.
    let report = li.sync_clean();
    assert_eq!(report.regenerated.len(), 2, "{report:?}");
    zhang.sync_clean();
    office.sync_clean();
    for d in [&zhang, &li, &office] {
        let Record::Petition(p) = d.store().record(&id).unwrap() else {
            panic!()
        };
        assert_eq!(p.petitioner.as_deref(), Some(ERASED_MARK), "{}", d.name);
        assert_eq!(p.petitioner_id_number.as_deref(), Some(ERASED_MARK));
        assert_eq!(p.summary, format!("{MASK}多次反映收费问题。"));
        assert_eq!(p.plan, "约谈并核对票据", "{}: li's offline edit", d.name);
        for s in [NAME, PHONE, ID_NUMBER] {
            let doc = d.store().document_bytes(&id).unwrap();
            assert!(!contains(&doc, s), "{}: `{s}` in the document", d.name);
        }
    }
    let log = audit(&relay, &office_token, "record.erase");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["actor_login"], "boss");
    assert!(log[0]["detail"].as_str().unwrap().contains("本人书面申请"));
}

/// The name and phone an erasure request is about, typed where they leak out of the record:
/// a refused push's message (so the audit log) and a revoked device's loss report.
#[test]
fn erasure_leaves_no_copy_in_refusals_loss_reports_or_the_audit_log() {
    const NAME: &str = "欧阳娜娜";
    const PHONE: &str = "13912345678";
    let relay = relay();
    let mut office = Device::enroll(&relay, "boss");
    let mut zhang = Device::enroll(&relay, "zhang");
    let case = zhang
        .store_mut()
        .create(
            RecordKind::Petition,
            None,
            &[
                Edit::text("title", &format!("{NAME}反映村卫生室收费")),
                Edit::text("petitioner", NAME),
                Edit::text("petitioner_contact", PHONE),
                Edit::text("origin", "repeated"),
                Edit::text(
                    "summary",
                    &format!("{NAME}（电话{PHONE}）多次反映收费问题。"),
                ),
            ],
        )
        .unwrap();
    let dispute = zhang
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", &format!("{NAME}与卫生室收费纠纷")),
                Edit::text("category", "医疗卫生"),
            ],
        )
        .unwrap();
    zhang.sync_clean();
    let mut li = Device::enroll(&relay, "li");
    li.sync_clean();
    // Pushes refused for invalid values that are the person's name and phone: a choice, and
    // a category the unit does not have.
    raw_change(zhang.store_mut(), &case, |doc| {
        doc.put(automerge::ROOT, "origin", format!("{NAME} {PHONE}"))
            .unwrap();
    });
    raw_change(zhang.store_mut(), &dispute, |doc| {
        doc.put(automerge::ROOT, "category", NAME).unwrap();
    });
    let report = zhang.sync().unwrap();
    assert_eq!(report.rejected.len(), 2, "{report:?}");
    for r in &report.rejected {
        assert_eq!(r.code, "invalid", "{r:?}");
        assert!(
            !r.message.contains(NAME) && !r.message.contains(PHONE),
            "the refusal quotes the value: {}",
            r.message
        );
    }
    let message = |id: &str| {
        report
            .rejected
            .iter()
            .find(|r| r.id == id)
            .unwrap()
            .message
            .clone()
    };
    // They still name the field and the rule.
    assert!(
        message(&case).contains("案件来源 (origin): is not one of"),
        "{}",
        message(&case)
    );
    assert!(
        message(&dispute).contains("类型 (category): not a category of this unit"),
        "{}",
        message(&dispute)
    );
    // Another phone edits both records offline and is revoked: its loss report titles them
    // by name.
    li.store_mut()
        .edit(&case, &[Edit::text("plan", "下周回访")])
        .unwrap();
    li.store_mut()
        .edit(&dispute, &[Edit::text("remarks", "待回访")])
        .unwrap();
    relay.revoke(&li.identity().author.device);
    let (lost, _) = li.erase_revoked();
    assert_eq!(lost.records.len(), 2, "{lost:?}");
    let token = office.token();
    let titles = http::get(&relay.url(), "/v1/lost-records", Some(&token)).text();
    assert!(titles.contains(NAME), "{titles}");
    // One audit line for the request's two refusals.
    let refusals = audit(&relay, &token, "sync.refused");
    assert!(
        refusals.iter().any(|r| {
            let d = r["detail"].as_str().unwrap_or_default();
            d.contains(case.as_str()) && d.contains(dispute.as_str())
        }),
        "{refusals:?}"
    );

    for id in [&case, &dispute] {
        let out = relay.admin(&[
            "erase",
            id,
            "--mask",
            NAME,
            "--mask",
            PHONE,
            "--reason",
            "本人申请（欧阳娜娜）",
        ]);
        assert!(out.contains("erased"), "{out}");
    }
    // The running relay's file and its log hold neither string, in any table or freed page.
    relay.caught_up();
    let bytes = file_and_wal(relay.db_path());
    for s in [NAME, PHONE] {
        assert!(
            !contains(&bytes, s),
            "`{s}` is still in the relay's database"
        );
    }
    // What the office reads still says what happened, masked.
    let titles = http::get(&relay.url(), "/v1/lost-records", Some(&token)).json();
    let titles: Vec<&str> = titles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&format!("{MASK}反映村卫生室收费").as_str()),
        "{titles:?}"
    );
    let refusals = audit(&relay, &token, "sync.refused");
    assert!(
        refusals.iter().any(|r| r["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(case.as_str())),
        "refusals stay logged: {refusals:?}"
    );
    let erasures = audit(&relay, &token, "record.erase");
    assert_eq!(erasures.len(), 2);
    assert!(
        erasures[0]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("本人申请（{MASK}）")),
        "{erasures:?}"
    );
    office.sync_clean();
    assert!(relay.healthy());
}

#[test]
fn the_audit_log_keeps_sign_offs_moves_refusals_and_exports() {
    let relay = relay();
    let mut office = Device::enroll(&relay, "boss");
    let mut zhang = Device::enroll(&relay, "zhang");
    let mut leader = Device::enroll(&relay, "wangju");
    let case = petition(zhang.store_mut());
    zhang
        .store_mut()
        .edit(
            &case,
            &[
                Edit::text("disposition", "solved"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap();
    let moved = petition(zhang.store_mut());
    zhang.sync_clean();
    // The unit head names the case's leader (staff may not).
    let mut head = Device::enroll(&relay, "wangke");
    head.sync_clean();
    head.store_mut()
        .edit(&case, &[Edit::text("leader", "王局长")])
        .unwrap();
    head.sync_clean();
    leader.sync_clean();
    let number = leader.store().summary(&case).unwrap().number;
    leader.store_mut().sign_off(&case, "同意销号").unwrap();
    leader.sync_clean();
    office.sync_clean();
    office.store_mut().move_to_unit(&moved, "JKK").unwrap();
    office.sync_clean();
    // A refused change: staff claims to be the office and signs off.
    zhang.sync_clean();
    let other = petition(zhang.store_mut());
    zhang
        .store_mut()
        .edit(
            &other,
            &[
                Edit::text("disposition", "solved"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap();
    zhang.sync_clean();
    zhang.with_identity(
        |id| id.author.role = Role::Office,
        |s| s.sign_off(&other, "已办结").unwrap(),
    );
    assert_eq!(zhang.sync().unwrap().rejected.len(), 1);
    let token = office.token();
    assert_eq!(
        http::get(&relay.url(), "/v1/reports/ledger?format=xlsx", Some(&token)).status,
        200
    );
    assert_eq!(
        http::get(&relay.url(), &format!("/v1/records/{case}"), Some(&token)).status,
        200
    );

    let log = audit(&relay, &token, "");
    let find = |action: &str| {
        log.iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {log:#?}"))
    };
    let sign_off = find("record.sign_off");
    assert_eq!(sign_off["actor_login"], "wangju");
    assert!(sign_off["detail"].as_str().unwrap().contains(&number));
    let mv = find("record.unit_move");
    assert_eq!(mv["actor_login"], "boss");
    assert!(
        mv["detail"].as_str().unwrap().contains("WJK to JKK"),
        "{mv}"
    );
    let refused = find("sync.refused");
    assert_eq!(refused["actor_login"], "zhang");
    assert!(
        refused["detail"].as_str().unwrap().contains("forbidden"),
        "{refused}"
    );
    assert!(
        find("export.ledger")["detail"]
            .as_str()
            .unwrap()
            .contains("xlsx")
    );
    assert_eq!(find("export.record")["actor_login"], "boss");
    for a in ["device.enroll", "device.enrollment_code"] {
        find(a);
    }
    assert!(
        log.iter()
            .all(|e| e["at"].as_str().is_some_and(|t| t.ends_with('Z')))
    );
    // Readable by the bureau office only.
    assert_eq!(
        http::get(&relay.url(), "/v1/audit", Some(&zhang.token())).status,
        403
    );
    assert_eq!(http::get(&relay.url(), "/v1/audit", None).status, 401);
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c, k, cert.cert.pem().into_bytes())
}

#[test]
fn the_relay_serves_https_with_a_certificate_and_keeps_tokens_out_of_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificate(dir.path());
    let relay = relay_with(RelayOptions {
        tls: Some((cert, key)),
        log_filter: Some("trace".into()),
        ..Default::default()
    });
    let url = relay.url();
    assert!(url.starts_with("https://"), "{url}");
    let agent = fieldledger_client::agent(Some(&ca)).unwrap();

    // Enroll and sync over HTTPS.
    let code = relay.enrollment_code("zhang");
    let path = dir.path().join("phone.db");
    let mut store = Store::open_encrypted(&path, &[3; 32]).unwrap();
    let identity = fieldledger_client::enroll(&mut store, &url, &code, None, Some(&ca)).unwrap();
    let token = identity.token.clone().unwrap();
    let id = petition(&mut store);
    let report = fieldledger_client::sync_enrolled(&mut store, &mut |_| {}).unwrap();
    assert_eq!(report.pushed, 1);
    assert!(relay.records().contains(&id).unwrap());

    // Plain HTTP on the HTTPS port gets no answer; a client that does not trust the
    // certificate refuses to talk.
    let plain = url.replace("https://", "http://");
    assert!(http::try_post(&plain, "/v1/sync", Some(&token), b"x").is_err());
    let untrusted = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    assert!(untrusted.get(format!("{url}/health")).call().is_err());
    let health = http::health_through(&agent, &url);
    assert_eq!(health, "ok");

    // Requests with good, bad and revoked tokens, then the whole trace-level log is read.
    let revoked_code = relay.enrollment_code("li");
    let mut other = Store::open_in_memory().unwrap();
    let li = fieldledger_client::enroll(&mut other, &url, &revoked_code, None, Some(&ca)).unwrap();
    relay.revoke(&li.author.device);
    let li_token = li.token.unwrap();
    let mut t2 = fieldledger_client::HttpTransport::with_agent(agent.clone(), &url, &li_token);
    assert!(fieldledger_client::sync_with(&mut other, &mut t2, &mut |_| {}).is_err());
    let _ = agent
        .get(format!("{url}/v1/whoami"))
        .header("Authorization", &format!("Bearer {token}x"))
        .call();
    let log = std::fs::read_to_string(relay.log_path()).unwrap();
    assert!(
        log.contains("sync round"),
        "the log has the requests: {log}"
    );
    for secret in [&token, &li_token, &code, &revoked_code] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the relay log"
        );
    }
    assert!(
        !log.to_lowercase().contains("bearer "),
        "an Authorization header was logged"
    );
}
