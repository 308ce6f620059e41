//! What sync costs against a real relay process, printed as tables:
//! `cargo bench -p fieldledger-e2e --bench sync_cost` (release build of the tests and relay).
//!
//! 1. A device that changed 5 records syncs while the relay holds 100 / 10,000 / 100,000
//!    records of its unit (`FIELDLEDGER_BENCH_MAX` caps the size, default 100,000): time,
//!    bytes each way and rounds (median of 5 syncs), next to the device's first full sync.
//! 2. 100 devices (`FIELDLEDGER_BENCH_DEVICES`) with 5 new records each sync at once from
//!    their own threads: wall time and per-device latency; then all sync again to receive.
//!
//! 3. A new phone's first sync into a unit of 10,000 records (`FIELDLEDGER_BENCH_INITIAL`)
//!    through the phone library (`fieldledger-ffi`, the code uniffi exposes to Kotlin, Swift
//!    and Python) on an encrypted store, as a phone runs it.
//!
//! Records are put into the relay's database directly before it starts (one transaction);
//! the relay runs without rate limits so that 100 devices behind one address are not throttled.

use std::time::{Duration, Instant};

use fieldledger_core::sync::SyncReport;
use fieldledger_core::{Edit, FieldValue, RecordKind};
use fieldledger_e2e::{Device, Relay, RelayOptions};
use fieldledger_server::records::SqliteRecords;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Puts `n` disputes of `unit` into the relay database, as the relay itself.
fn populate(relay: &Relay, unit: &str, n: usize) -> Duration {
    let started = Instant::now();
    let mut records = SqliteRecords::open(relay.db_path()).expect("relay records");
    let store = records.store();
    store
        .batch(|s| {
            for i in 0..n {
                s.create(
                    RecordKind::Dispute,
                    Some(unit),
                    &[
                        Edit::text("name", &format!("存量纠纷{i}")),
                        Edit::text("category", "医疗卫生"),
                        Edit::text("situation", "双方因赔偿问题发生争执，已多次调解。"),
                        Edit::set("people_involved", FieldValue::Int(i as i64 % 40 + 1)),
                    ],
                )?;
            }
            Ok(())
        })
        .expect("populate");
    started.elapsed()
}

fn timed_sync(device: &mut Device) -> (Duration, SyncReport) {
    let started = Instant::now();
    let report = device.sync_clean();
    (started.elapsed(), report)
}

fn five_changed_records(sizes: &[usize]) {
    println!("\n## A device with 5 changed records (release relay process on 127.0.0.1)\n");
    println!(
        "| records on relay (unit WJK) | fill | WJK device: first sync (all) | 5 changed: time | sent | received | rounds | no change | JKK device (holds 5): 5 new | no change |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &n in sizes {
        let mut relay = Relay::new(RelayOptions::default());
        relay.add_unit("WJK", "疾控科");
        relay.add_user("zhang", "WJK", "staff", "张三");
        relay.add_unit("JKK", "卫生监督所");
        relay.add_user("wu", "JKK", "staff", "吴五");
        let fill = populate(&relay, "WJK", n);
        relay.start();
        let mut device = Device::enroll(&relay, "zhang");
        let (first, first_report) = timed_sync(&mut device);
        assert!(first_report.received as usize >= n);
        let ids: Vec<String> = device
            .store()
            .list(RecordKind::Dispute, None)
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut runs = Vec::new();
        for run in 0..5 {
            for (k, id) in ids.iter().skip(run * 5).take(5).enumerate() {
                device
                    .store_mut()
                    .edit(
                        id,
                        &[
                            Edit::set("people_involved", FieldValue::Int(100 + k as i64)),
                            Edit::text("situation", &format!("第{run}次更新：已达成初步协议。")),
                        ],
                    )
                    .expect("edit");
            }
            let (t, report) = timed_sync(&mut device);
            assert_eq!(report.pushed, 5);
            runs.push((t, report));
        }
        runs.sort_by_key(|(t, _)| *t);
        let (t, r) = &runs[runs.len() / 2];
        let (idle, _) = timed_sync(&mut device);
        // A device of another unit: the relay holds n records it never sees.
        let mut other = Device::enroll(&relay, "wu");
        other.sync_clean();
        for k in 0..5 {
            other
                .store_mut()
                .create(
                    RecordKind::Dispute,
                    None,
                    &[Edit::text("name", &format!("监督所纠纷{k}"))],
                )
                .expect("create");
        }
        let (other_new, report) = timed_sync(&mut other);
        assert_eq!(report.pushed, 5);
        let (other_idle, _) = timed_sync(&mut other);
        println!(
            "| {n} | {} | {} ({} KiB) | {} | {} B | {} B | {} | {} | {} | {} |",
            ms(fill),
            ms(first),
            first_report.bytes_received / 1024,
            ms(*t),
            r.bytes_sent,
            r.bytes_received,
            r.rounds,
            ms(idle),
            ms(other_new),
            ms(other_idle)
        );
    }
}

fn many_devices(count: usize) {
    println!("\n## {count} devices syncing at once (one thread each)\n");
    let mut relay = Relay::new(RelayOptions::default());
    let units = ["WJK", "JKK", "ZYY"];
    for u in units {
        relay.add_unit(u, u);
    }
    {
        // Users and codes straight in the registry: 2 × count CLI runs would dominate setup.
        let mut accounts =
            fieldledger_server::AccountStore::open(relay.db_path()).expect("accounts");
        for i in 0..count {
            accounts
                .add_user(
                    "bench",
                    &fieldledger_server::accounts::NewUser {
                        login: format!("u{i}"),
                        name: format!("用户{i}"),
                        unit: units[i % units.len()].into(),
                        role: fieldledger_server::Role::Staff,
                    },
                )
                .expect("add user");
        }
    }
    relay.start();
    let mut accounts = fieldledger_server::AccountStore::open(relay.db_path()).expect("accounts");
    let mut devices: Vec<Device> = (0..count)
        .map(|i| {
            let code = accounts
                .create_enrollment(
                    fieldledger_server::accounts::Issuer::Admin("bench"),
                    &format!("u{i}"),
                )
                .expect("code")
                .code;
            Device::enroll_with_code(&relay.url(), &code, &format!("u{i}")).expect("enroll")
        })
        .collect();
    for d in &mut devices {
        let name = d.name.clone();
        for k in 0..5 {
            d.store_mut()
                .create(
                    RecordKind::Dispute,
                    None,
                    &[Edit::text("name", &format!("{name}的纠纷{k}"))],
                )
                .expect("create");
        }
    }
    for pass in ["push 5 records each", "receive the unit's records"] {
        let started = Instant::now();
        let results: Vec<(Duration, SyncReport)> = std::thread::scope(|s| {
            let handles: Vec<_> = devices
                .iter_mut()
                .map(|d| s.spawn(move || timed_sync(d)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sync thread"))
                .collect()
        });
        let wall = started.elapsed();
        let mut times: Vec<Duration> = results.iter().map(|(t, _)| *t).collect();
        times.sort();
        let sum = |f: fn(&SyncReport) -> u64| results.iter().map(|(_, r)| f(r)).sum::<u64>();
        println!(
            "- {pass}: all {count} done in {} ({} requests, {} documents pushed, {} received); \
             per device median {}, p95 {}, max {}",
            ms(wall),
            sum(|r| u64::from(r.rounds)),
            sum(|r| r.pushed),
            sum(|r| r.received),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100]),
            ms(times[times.len() - 1])
        );
    }
    let per_unit = count * 5 / units.len();
    let held = devices[0]
        .store()
        .count(RecordKind::Dispute)
        .expect("count") as usize;
    assert!(
        held + 5 >= per_unit,
        "devices received their unit's records"
    );
}

fn initial_through_the_bindings(records: usize) {
    println!(
        "\n## A new phone's first sync into a unit of {records} records (phone library, encrypted store)\n"
    );
    let mut relay = Relay::new(RelayOptions::default());
    relay.add_unit("WJK", "疾控科");
    relay.add_user("zhang", "WJK", "staff", "张三");
    let populated = populate(&relay, "WJK", records);
    relay.start();
    let code = relay.enrollment_code("zhang");
    let dir = tempfile::tempdir().expect("tmp");
    let phone = fieldledger_ffi::FieldStore::open(
        dir.path().join("phone.db").to_string_lossy().into_owned(),
        vec![7u8; 32],
    )
    .expect("encrypted phone store");
    phone
        .enroll(relay.url(), code, Some("bench".into()), None)
        .expect("enroll");
    let started = Instant::now();
    let report = phone.sync(None).expect("sync");
    let took = started.elapsed();
    println!("| measure | value |\n| --- | --- |");
    println!("| populate the relay | {} |", ms(populated));
    println!("| first sync | {} |", ms(took));
    println!("| records received | {} |", report.received);
    println!("| rounds | {} |", report.rounds);
    println!(
        "| bytes sent / received | {} / {} |",
        report.bytes_sent, report.bytes_received
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing and
    // should stay quick, so it only smoke-tests the smallest size.
    let bench = std::env::args().any(|a| a == "--bench");
    let max = env("FIELDLEDGER_BENCH_MAX", if bench { 100_000 } else { 100 });
    let sizes: Vec<usize> = [100, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    five_changed_records(&sizes);
    many_devices(env(
        "FIELDLEDGER_BENCH_DEVICES",
        if bench { 100 } else { 5 },
    ));
    initial_through_the_bindings(env(
        "FIELDLEDGER_BENCH_INITIAL",
        if bench { 10_000 } else { 100 },
    ));
}
