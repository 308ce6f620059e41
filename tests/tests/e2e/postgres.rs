//! Several relays over one PostgreSQL database, started by the test itself: concurrent pushes
//! to one record through two relays, a feed that never skips a change whatever the commit
//! order, a migration from the SQLite file, and a relay killed and the database restarted
//! mid-sync.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fieldledger_client::HttpTransport;
use fieldledger_core::{Edit, FieldValue, RecordKind};
use fieldledger_e2e::postgres::TestPostgres;
use fieldledger_e2e::{Device, Relay, RelayOptions};

fn relay_on(url: &str) -> Relay {
    let mut relay = Relay::new(RelayOptions {
        postgres: Some(url.to_owned()),
        ..RelayOptions::default()
    });
    relay.start();
    relay
}

fn people(relay: &Relay, logins: &[&str]) {
    relay.add_unit("WJK", "疾控科");
    for login in logins {
        relay.add_user(login, "WJK", "staff", login);
    }
}

/// The device's sync through `relay` instead of the one it enrolled with.
fn sync_through(device: &mut Device, relay: &Relay) -> fieldledger_core::sync::SyncReport {
    let mut transport = HttpTransport::new(&relay.url(), &device.token(), None).unwrap();
    let report = device.sync_via(&mut transport).unwrap();
    assert!(report.rejected.is_empty(), "refused: {:?}", report.rejected);
    report
}

fn dispute(device: &mut Device, name: &str) -> String {
    device
        .store_mut()
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", name),
                Edit::set("trend", FieldValue::text("stable")),
            ],
        )
        .unwrap()
}

#[test]
fn two_relays_over_one_postgres_merge_concurrent_pushes_and_keep_the_conflict() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let one = relay_on(&url);
    let two = relay_on(&url);
    people(&one, &["a", "b"]);
    // Enrolled through different relays: the accounts are the deployment's, not a relay's.
    let mut a = Device::enroll(&one, "a");
    let mut b = Device::enroll(&two, "b");
    let id = dispute(&mut a, "纠纷");
    a.sync_clean();
    b.sync_clean();
    assert!(
        b.store().dispute(&id).is_ok(),
        "B got A's record through the other relay"
    );

    // Concurrent edits through the two relays: one field both ways, one field each.
    a.store_mut()
        .edit(
            &id,
            &[
                Edit::set("trend", FieldValue::text("easing")),
                Edit::text("name", "纠纷甲"),
            ],
        )
        .unwrap();
    b.store_mut()
        .edit(
            &id,
            &[
                Edit::set("trend", FieldValue::text("escalating")),
                Edit::text("responsible", "李四"),
            ],
        )
        .unwrap();
    let (ra, rb) = std::thread::scope(|s| {
        let ra = s.spawn(|| a.sync_clean());
        let rb = s.spawn(|| b.sync_clean());
        (ra.join().unwrap(), rb.join().unwrap())
    });
    assert!(ra.rejected.is_empty() && rb.rejected.is_empty());
    // Each device now syncs through the other relay.
    sync_through(&mut a, &two);
    sync_through(&mut b, &one);
    sync_through(&mut a, &two);

    assert_eq!(
        a.snapshot(),
        b.snapshot(),
        "both devices hold the same record"
    );
    assert_eq!(one.snapshot(), two.snapshot(), "both relays' copies agree");
    let record = a.store().dispute(&id).unwrap();
    assert_eq!(record.name, "纠纷甲");
    assert_eq!(record.responsible.as_deref(), Some("李四"));
    let conflicts = a.store().conflicts(&id).unwrap();
    let trend: Vec<FieldValue> = conflicts
        .iter()
        .filter(|c| c.field == "trend")
        .flat_map(|c| c.values.iter().map(|v| v.value.clone()))
        .collect();
    assert!(
        trend.contains(&FieldValue::text("easing"))
            && trend.contains(&FieldValue::text("escalating")),
        "both values set concurrently through two relays are kept as a conflict: {trend:?}"
    );
}

#[test]
fn a_feed_paged_through_two_relays_never_skips_a_change_written_concurrently() {
    const WRITERS: usize = 6;
    const RECORDS_EACH: usize = 12;
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let relays = [relay_on(&url), relay_on(&url)];
    let writers: Vec<String> = (0..WRITERS).map(|i| format!("w{i}")).collect();
    let mut logins: Vec<&str> = writers.iter().map(String::as_str).collect();
    logins.extend(["r0", "r1", "r2"]);
    people(&relays[0], &logins);

    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = AtomicBool::new(false);
    let mut readers: Vec<Device> = ["r0", "r1", "r2"]
        .iter()
        .map(|r| Device::enroll(&relays[0], r))
        .collect();
    let mut writer_devices: Vec<Device> = writers
        .iter()
        .enumerate()
        .map(|(i, w)| Device::enroll(&relays[i % 2], w))
        .collect();
    std::thread::scope(|s| {
        for (i, device) in writer_devices.iter_mut().enumerate() {
            let relays = &relays;
            let written = Arc::clone(&written);
            s.spawn(move || {
                for n in 0..RECORDS_EACH {
                    let id = dispute(device, &format!("w{i}-{n}"));
                    // Alternate relays, so commits of both interleave.
                    sync_through(device, &relays[(i + n) % 2]);
                    written.lock().unwrap().push(id);
                }
            });
        }
        // Readers page the feed all along, each round through either relay, with small pages.
        for (k, reader) in readers.iter_mut().enumerate() {
            let relays = &relays;
            let done = &done;
            s.spawn(move || {
                let mut round = k;
                while !done.load(Ordering::Acquire) {
                    sync_through(reader, &relays[round % 2]);
                    round += 1;
                }
            });
        }
        // Stop the readers once the writers are done.
        loop {
            if written.lock().unwrap().len() == WRITERS * RECORDS_EACH {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        done.store(true, Ordering::Release);
    });
    let written = written.lock().unwrap().clone();
    // One more round each, through the relay it did not use last: whatever a reader has
    // skipped it would never be sent again (nothing rewrites those records).
    for (k, reader) in readers.iter_mut().enumerate() {
        sync_through(reader, &relays[(k + 1) % 2]);
        let held = reader.snapshot();
        let missing: Vec<&String> = written
            .iter()
            .filter(|id| !held.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "reader r{k} never received {} of {} records: {missing:?}",
            missing.len(),
            written.len()
        );
    }
    // The log in PostgreSQL has no gaps: entry n + 1 follows n.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let (count, max): (i64, i64) = {
        let row = client
            .query_one("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM fl_log", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(count, max, "the log is dense");
    assert!(
        count as usize > WRITERS * RECORDS_EACH,
        "every write went through the log: {count} entries"
    );
    assert_eq!(relays[0].snapshot(), relays[1].snapshot());
}

#[test]
fn admin_migrate_moves_a_deployment_to_postgres_and_resumes_when_interrupted() {
    // A deployment on the embedded default, with records, history, accounts and audit.
    let mut file_relay = Relay::new(RelayOptions::default());
    assert!(
        file_relay.postgres_url().is_none() || std::env::var("FIELDLEDGER_TEST_BACKEND").is_ok()
    );
    file_relay.start();
    people(&file_relay, &["a", "b"]);
    let mut a = Device::enroll(&file_relay, "a");
    let id = dispute(&mut a, "迁移前的纠纷");
    a.sync_clean();
    a.store_mut()
        .edit(&id, &[Edit::text("name", "迁移前的纠纷（改）")])
        .unwrap();
    a.sync_clean();
    file_relay.stop();
    if file_relay.postgres_url().is_some() {
        return; // the suite's relays are on PostgreSQL already: nothing to migrate from
    }

    let pg = TestPostgres::start();
    let url = pg.new_database();
    let migrate = |extra: &[&str]| {
        let out = std::process::Command::new(fieldledger_e2e::relay_binary())
            .args(["admin", "migrate", "--from"])
            .arg(file_relay.db_path())
            .args(["--to", &url, "--chunk-bytes", "4096"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = migrate(&["--stop-after-chunks", "3"]);
    assert!(first.contains("stopped after 3 chunk(s)"), "{first}");
    let second = migrate(&[]);
    assert!(
        second.contains("resumed an interrupted migration after 3 chunk(s)"),
        "{second}"
    );
    assert!(second.contains("migrated"), "{second}");
    let again = std::process::Command::new(fieldledger_e2e::relay_binary())
        .args(["admin", "migrate", "--from"])
        .arg(file_relay.db_path())
        .args(["--to", &url])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a second migration into a used database is refused"
    );

    // Relays on PostgreSQL start from the snapshot: the same device goes on syncing there.
    let mut pg_relay = relay_on(&url);
    let users = pg_relay.admin(&["user", "list"]);
    assert!(users.contains("a ") && users.contains("b "), "{users}");
    let audit = pg_relay.admin(&["audit", "--limit", "1000"]);
    assert!(
        audit.contains("user.add") || audit.contains("user"),
        "{audit}"
    );
    let history = pg_relay.records().history(&id).unwrap();
    assert!(
        history.len() >= 2,
        "the record's history came along: {history:?}"
    );
    let mut transport = HttpTransport::new(&pg_relay.url(), &a.token(), None).unwrap();
    a.store_mut()
        .edit(&id, &[Edit::text("name", "迁移后的纠纷")])
        .unwrap();
    let report = a.sync_via(&mut transport).unwrap();
    assert!(report.rejected.is_empty());
    let mut b = Device::enroll(&pg_relay, "b");
    b.sync_clean();
    assert_eq!(b.store().dispute(&id).unwrap().name, "迁移后的纠纷");
    pg_relay.stop();
}

#[test]
fn a_relay_killed_and_postgres_restarted_mid_sync_lose_no_acknowledged_edit() {
    const DEVICES: usize = 6;
    const ROUNDS: usize = 8;
    let mut pg = TestPostgres::start();
    let url = pg.new_database();
    let mut relays = [relay_on(&url), relay_on(&url)];
    let logins: Vec<String> = (0..DEVICES).map(|i| format!("d{i}")).collect();
    people(
        &relays[0],
        &logins.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut devices: Vec<Device> = logins
        .iter()
        .enumerate()
        .map(|(i, l)| Device::enroll(&relays[i % 2], l))
        .collect();
    let urls = [relays[0].url(), relays[1].url()];
    // Each device creates a record a round and syncs through its relay; a round that fails
    // (relay down, database restarting) is tried again later. What a sync acknowledged is kept.
    let acknowledged: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (i, device) in devices.iter_mut().enumerate() {
            let urls = &urls;
            let acknowledged = &acknowledged;
            s.spawn(move || {
                let mut pending: Vec<(String, String)> = Vec::new();
                for n in 0..ROUNDS {
                    let name = format!("d{i}-{n}");
                    pending.push((dispute(device, &name), name));
                    let mut t =
                        HttpTransport::new(&urls[(i + n) % 2], &device.token(), None).unwrap();
                    if device.sync_via(&mut t).is_ok() {
                        acknowledged.lock().unwrap().append(&mut pending);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(60));
                }
                // Keep trying until everything of this device is on the deployment.
                for attempt in 0..200 {
                    let mut t =
                        HttpTransport::new(&urls[attempt % 2], &device.token(), None).unwrap();
                    if device.sync_via(&mut t).is_ok() {
                        acknowledged.lock().unwrap().append(&mut pending);
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            });
        }
        // Mid-sync: kill relay one with SIGKILL and start it again; restart PostgreSQL once.
        std::thread::sleep(std::time::Duration::from_millis(150));
        relays[0].kill();
        std::thread::sleep(std::time::Duration::from_millis(200));
        relays[0].start();
        std::thread::sleep(std::time::Duration::from_millis(150));
        pg.restart();
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    assert_eq!(
        acknowledged.len(),
        DEVICES * ROUNDS,
        "every device got all its records in"
    );
    // Every device, through either relay, ends holding every acknowledged record.
    for (i, device) in devices.iter_mut().enumerate() {
        sync_through(device, &relays[i % 2]);
        sync_through(device, &relays[(i + 1) % 2]);
    }
    for device in &devices {
        for (id, name) in &acknowledged {
            let record = device
                .store()
                .dispute(id)
                .unwrap_or_else(|e| panic!("an acknowledged record {name} is missing: {e}"));
            assert_eq!(&record.name, name);
        }
    }
    assert_eq!(relays[0].snapshot(), relays[1].snapshot());
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every byte of the relay's copy: its file and its write-ahead log.
fn copy_bytes(relay: &Relay) -> Vec<u8> {
    let mut bytes = std::fs::read(relay.db_path()).unwrap();
    let mut wal = relay.db_path().as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(std::path::PathBuf::from(wal)).unwrap_or_default());
    bytes
}

#[test]
fn an_erasure_leaves_no_copy_in_postgres_and_a_relay_that_was_down_takes_the_compacted_state() {
    const NAME: &str = "欧阳娜娜";
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let one = relay_on(&url);
    let mut two = relay_on(&url);
    people(&one, &["a", "b"]);
    let mut a = Device::enroll(&one, "a");
    let id = dispute(&mut a, &format!("{NAME}与邻居的纠纷"));
    a.sync_clean();
    sync_through(&mut a, &two);
    two.caught_up();
    assert!(
        holds(&copy_bytes(&two), NAME),
        "relay two holds the record before"
    );
    // Relay two is down while the office erases; relay one's admin compacts the log.
    two.kill();
    let out = one.admin(&["erase", &id, "--mask", NAME, "--reason", "本人申请"]);
    assert!(out.contains("compacted the PostgreSQL write log"), "{out}");
    let later = dispute(&mut a, "之后的纠纷");
    if let Err(e) = a.sync() {
        panic!("{e}\n{}", one.log_tail(20));
    }

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut stored = Vec::new();
    for row in client.query("SELECT entry FROM fl_log", &[]).unwrap() {
        stored.extend_from_slice(row.get::<_, &[u8]>(0));
    }
    let entries = stored.len();
    for row in client
        .query("SELECT bytes FROM fl_snapshot_chunks", &[])
        .unwrap()
    {
        stored.extend_from_slice(row.get::<_, &[u8]>(0));
    }
    assert!(stored.len() > entries, "the snapshot is there");
    assert!(
        !holds(&stored, NAME),
        "the erased name is gone from PostgreSQL's log and snapshots"
    );
    let floor: i64 = client
        .query_one("SELECT floor FROM fl_compaction", &[])
        .unwrap()
        .get(0);
    assert!(floor > 0);

    // Relay two comes back behind the floor: it takes the snapshot's rows, then the log.
    two.start();
    let mut b = Device::enroll(&two, "b");
    b.sync_clean();
    let record = b.store().dispute(&id).unwrap();
    assert!(!record.name.contains(NAME), "{}", record.name);
    assert!(b.store().dispute(&later).is_ok());
    two.caught_up();
    assert!(
        !holds(&copy_bytes(&two), NAME),
        "relay two's copy lost the erased name too"
    );
    assert_eq!(one.snapshot(), two.snapshot());
}

#[test]
fn a_long_log_is_compacted_and_a_relay_started_later_begins_from_the_snapshot() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let mut one = Relay::new(RelayOptions {
        postgres: Some(url.clone()),
        extra_args: vec!["--compact-after-entries".into(), "10".into()],
        ..RelayOptions::default()
    });
    one.start();
    people(&one, &["a", "b"]);
    let mut a = Device::enroll(&one, "a");
    let ids: Vec<String> = (0..15)
        .map(|i| {
            let id = dispute(&mut a, &format!("纠纷{i}"));
            a.sync_clean();
            id
        })
        .collect();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let floor = loop {
        let floor: i64 = client
            .query_one("SELECT floor FROM fl_compaction", &[])
            .unwrap()
            .get(0);
        if floor > 0 {
            break floor;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the relay never compacted its log"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let left: i64 = client
        .query_one("SELECT COUNT(*) FROM fl_log WHERE seq <= $1", &[&floor])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "entries up to the floor are gone");

    // A relay started now begins from the snapshot and the log after it.
    let two = relay_on(&url);
    let mut b = Device::enroll(&two, "b");
    b.sync_clean();
    for id in &ids {
        assert!(b.store().dispute(id).is_ok(), "{id} reached the new relay");
    }
    two.caught_up();
    one.caught_up();
    assert_eq!(one.snapshot(), two.snapshot());
}

#[test]
fn a_dashboard_session_opened_on_one_relay_works_on_the_other_until_signed_out() {
    use fieldledger_e2e::DashboardSession;
    const PASSWORD: &str = "correct horse battery";
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let one = relay_on(&url);
    let two = relay_on(&url);
    people(&one, &["a"]);
    one.add_user("boss", "OFFICE", "office", "办公室主任");
    one.set_password("boss", PASSWORD);
    let mut a = Device::enroll(&one, "a");
    let id = dispute(&mut a, "两个中继都看得见的纠纷");
    a.sync_clean();

    let on_two = DashboardSession::sign_in(&two.url(), "boss", PASSWORD);
    let on_one = on_two.through(&one.url());
    for session in [&on_one, &on_two] {
        let page = session.get(&format!("/ui/records/{id}"));
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains("两个中继都看得见的纠纷"));
    }
    // The ledger the other relay shows lists it too.
    let ledger = on_one.get("/ui/ledger");
    assert!(
        ledger.html.contains("两个中继都看得见的纠纷"),
        "{}",
        ledger.html
    );
    // An edit on the dashboard through relay two reaches the device through relay one.
    let edited = on_two.post(
        &format!("/ui/records/{id}/edit"),
        &[("f.name", "办公室改过的纠纷")],
    );
    assert_eq!(edited.status, 303, "{}", edited.html);
    a.sync_clean();
    assert_eq!(a.store().dispute(&id).unwrap().name, "办公室改过的纠纷");
    // Signing out on one relay ends the session on both.
    let out = on_one.post("/ui/logout", &[]);
    assert!(out.status == 303 || out.status == 200, "{}", out.html);
    let after = on_two.get("/ui/ledger");
    assert!(
        after.status == 303 || after.status == 401,
        "the session ended everywhere: {} {}",
        after.status,
        after.html
    );
}

/// The deployment's write turn, as `replica.rs` takes it (a session advisory lock).
const WRITE_TURN: i64 = 0x666c_0002;

#[test]
fn a_relays_reads_are_answered_while_its_writer_waits_for_the_turn_another_relay_holds() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let relay = relay_on(&url);
    people(&relay, &["a", "b"]);
    let mut a = Device::enroll(&relay, "a");
    let mut b = Device::enroll(&relay, "b");
    let id = dispute(&mut a, "纠纷");
    a.sync_clean();
    b.sync_clean();

    // Another relay is mid-write: it holds the deployment's write turn.
    let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    other
        .execute("SELECT pg_advisory_lock($1)", &[&WRITE_TURN])
        .unwrap();
    let waiting_for_turn = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            &[],
        )
        .unwrap()
        .get(0)
    };
    a.store_mut()
        .edit(&id, &[Edit::text("name", "纠纷甲")])
        .unwrap();
    std::thread::scope(|s| {
        // A's push makes this relay's writer wait for the turn.
        let pushed = s.spawn(|| a.sync_clean());
        while waiting_for_turn(&mut other) == 0 {
            assert!(!pushed.is_finished(), "the push did not wait for the turn");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // B's sync only reads (its token, the feed): it is answered while the writer waits.
        let (done, answered) = std::sync::mpsc::channel();
        let b = &mut b;
        s.spawn(move || {
            let report = b.sync_clean();
            let _ = done.send(report);
        });
        let read = answered.recv_timeout(std::time::Duration::from_secs(60));
        let still_waiting = waiting_for_turn(&mut other);
        other
            .execute("SELECT pg_advisory_unlock($1)", &[&WRITE_TURN])
            .unwrap();
        assert!(
            read.is_ok(),
            "a read waited for the write turn another relay held"
        );
        assert_eq!(
            still_waiting, 1,
            "the writer was still waiting when B was answered"
        );
        assert!(pushed.join().unwrap().rejected.is_empty());
    });
    // Once the turn is free the push lands, and B receives it.
    b.sync_clean();
    assert_eq!(b.store().dispute(&id).unwrap().name, "纠纷甲");
}
