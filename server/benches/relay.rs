//! Benchmarks of storage and sync, printed as tables: `cargo bench -p fieldledger-server`.
//!
//! Sections (select with `FIELDLEDGER_BENCH=core,merge,erase,sync,initial,devices,unit,pg`; default
//! all):
//! - core: a device store with 10,000 disputes — create, reopen, list, filter, bytes per
//!   record — plain and encrypted (SQLCipher, as on phones).
//! - erase: personal data erased from 100 of 10,000 petition cases on a relay store, and the
//!   phone's sync that replaces them.
//! - merge: one 基本情况 text edited 1,000 times concurrently by 20 devices, then merged.
//! - sync: a device with 5 changed records syncing against a relay holding 100 / 10,000 /
//!   100,000 records (set `FIELDLEDGER_BENCH_MAX=10000` to stop earlier).
//! - initial: a new device's first sync into a unit with 10,000 records.
//! - devices: 100 / 500 / 1,000 devices with offline edits syncing at once against one relay
//!   (`FIELDLEDGER_BENCH_DEVICES=1000` picks the counts, here and in the pg section). The
//!   simulated devices run in this process at the lowest priority, in a scheduling group
//!   below the relay's, which runs as a session of its own: the latencies are the relay's.
//! - unit: one unit of 100 phones, each with 20 new records, all syncing at once until every
//!   phone holds the unit's 2,000 records; relay CPU per record delivered.
//! - pg: on a PostgreSQL server of the benchmark's own (`initdb` + `pg_ctl` in a temporary
//!   directory): the devices section side by side on SQLite, one relay on PostgreSQL and two
//!   relays over one PostgreSQL (devices spread over both), and the sync section on
//!   PostgreSQL. The deployment is set up in a file and moved with `admin migrate`.
//!
//! The relay runs as a real `fieldledger serve` process on a loopback port; its CPU time and
//! peak memory are read from /proc.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldledger_client::{HttpTransport, enroll};
use fieldledger_core::model::{RecordKind, Role as CoreRole};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::sync::{Transport, TransportError, sync_with};
use fieldledger_core::testing::identity;
use fieldledger_core::{Edit, FieldValue, Store};
use fieldledger_server::Role;
use fieldledger_server::accounts::{AccountStore, DEFAULT_OFFICE_CODE, Issuer, NewUser};
use fieldledger_server::records::{RecordStorage, SqliteRecords};

fn wanted(section: &str) -> bool {
    std::env::var("FIELDLEDGER_BENCH").map_or(true, |v| v.split(',').any(|s| s.trim() == section))
}

fn max_records() -> usize {
    std::env::var("FIELDLEDGER_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of a process, in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks * 10.0
}

fn dispute_edits(i: usize) -> Vec<Edit> {
    vec![
        Edit::text("name", &format!("纠纷{i}")),
        Edit::text(
            "category",
            if i % 3 == 0 {
                "医疗卫生"
            } else {
                "劳动就业"
            },
        ),
        Edit::text(
            "situation",
            "群众反映村卫生室长期缺少医生，看病需要到镇上，来回不便。",
        ),
        Edit::set("people_involved", FieldValue::Int((i % 40) as i64)),
        Edit::set("is_major", FieldValue::Bool(i % 10 == 0)),
        Edit::text("found_on", &format!("2019-10-{:02}", 1 + i % 28)),
        Edit::text("deadline", "2019-11-30"),
    ]
}

struct Relay {
    child: Child,
    url: String,
    /// Where the relay logs: warnings, and a line for every answered request with the time
    /// the relay took for it (tower-http's `on_response`).
    log: PathBuf,
}

impl Relay {
    fn start(db: &Path) -> Relay {
        Relay::start_with(db, &[])
    }

    /// A relay on the PostgreSQL database `url`, its local copy at `cache`.
    fn start_on_postgres(url: &str, cache: &Path) -> Relay {
        Relay::start_with(
            Path::new(url),
            &["--cache".into(), cache.to_string_lossy().into_owned()],
        )
    }

    fn start_with(db: &Path, extra: &[String]) -> Relay {
        // A session of its own (`setsid` runs the relay in place: same process id), so the
        // kernel schedules the relay as a group of its own beside the simulated devices, as a
        // relay on its own machine would be (see `set_own_niceness`).
        let program = env!("CARGO_BIN_EXE_fieldledger");
        let mut command = if Path::new("/usr/bin/setsid").exists() {
            let mut c = Command::new("/usr/bin/setsid");
            c.arg(program);
            c
        } else {
            Command::new(program)
        };
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "fieldledger-bench-{}-relay{n}.log",
            std::process::id()
        ));
        // A file, not a pipe: a relay never waits for the (low-priority) bench to read it.
        let log_file = std::fs::File::create(&log).expect("relay log file");
        let mut child = command
            .args(["serve", "--db"])
            .arg(db)
            .args(extra)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--device-rate",
                "0",
                "--address-rate",
                "0",
                // Every simulated device connects from 127.0.0.1.
                "--max-connections-per-address",
                "4096",
            ])
            // The answers' lines, in the span that names their path.
            .env(
                "RUST_LOG",
                "warn,fieldledger_server::app=info,tower_http::trace::on_response=info",
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start relay");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("relay printed its address")
                .expect("read");
            if let Some(rest) = line.strip_prefix("fieldledger relay listening on ") {
                break rest.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Relay { child, url, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How far the relay's log is written now.
    fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// The time the relay took for each sync request it answered since its log was `from`
    /// long: from the request's arrival in the router to its answer, queueing for readers and
    /// the writer included; not the time the simulated device took to be scheduled and read it.
    fn sync_times_since(&self, from: u64) -> Vec<Duration> {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
        text.lines()
            .filter(|l| l.contains(fieldledger_core::wire::SYNC_PATH))
            .filter(|l| l.contains("finished processing request"))
            .filter_map(|l| {
                let rest = &l[l.find("latency=")? + "latency=".len()..];
                let (value, unit) = rest.split_once(' ')?;
                let value: f64 = value.parse().ok()?;
                let seconds = match unit.split_whitespace().next()? {
                    "s" => value,
                    "ms" => value / 1e3,
                    "μs" | "µs" | "us" => value / 1e6,
                    "ns" => value / 1e9,
                    _ => return None,
                };
                Some(Duration::from_secs_f64(seconds))
            })
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Sets up accounts: units U00..U{n}, one user per (unit, index) as asked; returns codes.
fn accounts(db: &Path, units: usize, users_per_unit: usize) -> Vec<(String, String)> {
    let mut a = AccountStore::open(db).expect("accounts");
    a.ensure_bootstrap(DEFAULT_OFFICE_CODE).expect("bootstrap");
    let mut records = SqliteRecords::open(db).expect("records");
    let mut codes = Vec::new();
    for u in 0..units {
        let unit = format!("U{u:02}");
        a.add_unit("bench", &unit, &format!("单位{u}"))
            .expect("unit");
        records
            .ensure_unit_profile(&unit, &format!("单位{u}"))
            .expect("profile");
        for i in 0..users_per_unit {
            let login = format!("u{u:02}-{i}");
            a.add_user(
                "bench",
                &NewUser {
                    login: login.clone(),
                    name: login.clone(),
                    unit: unit.clone(),
                    role: Role::Staff,
                },
            )
            .expect("user");
            codes.push((
                unit.clone(),
                a.create_enrollment(Issuer::Admin("bench"), &login)
                    .expect("code")
                    .code,
            ));
        }
    }
    codes
}

/// Fills the relay's record store directly (as the office) with `n` disputes over `units`.
fn populate(db: &Path, n: usize, units: usize) -> Duration {
    let t = Instant::now();
    let mut store = Store::open(db).expect("store");
    store
        .set_identity(identity("bench", "OFFICE", CoreRole::Office, "B"))
        .expect("identity");
    for i in 0..n {
        let unit = format!("U{:02}", i % units);
        store
            .create(RecordKind::Dispute, Some(&unit), &dispute_edits(i))
            .expect("create");
    }
    t.elapsed()
}

/// Counts bytes and times of each exchange.
struct Measured {
    inner: HttpTransport,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

impl Transport for Measured {
    fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let t = Instant::now();
        let r = self.inner.exchange(request);
        self.latencies.lock().expect("lock").push(t.elapsed());
        r
    }
}

fn device(relay: &Relay, code: &str, path: Option<&Path>) -> Store {
    let mut s = match path {
        Some(p) => Store::open(p).expect("store"),
        None => Store::open_in_memory().expect("store"),
    };
    enroll(&mut s, &relay.url, code, None, None).expect("enroll");
    s
}

fn sync(s: &mut Store) -> fieldledger_core::sync::SyncReport {
    let mut t = HttpTransport::for_store(s).expect("transport");
    sync_with(s, &mut t, &mut |_| {}).expect("sync")
}

/// One device store with 10,000 disputes; returns the measured rows.
fn core_run(key: Option<&[u8]>) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("device.db");
    let open = |p: &Path| match key {
        Some(k) => Store::open_encrypted(p, k).expect("open"),
        None => Store::open(p).expect("open"),
    };
    let mut s = open(&path);
    s.set_identity(identity("zhang", "U00", CoreRole::Staff, "D1"))
        .expect("id");
    let t = Instant::now();
    for i in 0..10_000 {
        s.create(RecordKind::Dispute, None, &dispute_edits(i))
            .expect("create");
    }
    let create = t.elapsed();
    s.connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    drop(s);
    let size: u64 = ["device.db", "device.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let s = open(&path);
    let reopen = t.elapsed();
    let t = Instant::now();
    let rows = s.list(RecordKind::Dispute, None).expect("list");
    let list = t.elapsed();
    let t = Instant::now();
    let all = s.disputes(&DisputeFilter::default()).expect("all");
    let typed = t.elapsed();
    let t = Instant::now();
    let f = DisputeFilter {
        category: Some("医疗卫生".into()),
        is_major: Some(true),
        ..Default::default()
    };
    let filtered = s.disputes(&f).expect("filter");
    let filter = t.elapsed();
    let doc_bytes: i64 = s
        .connection()
        .query_row("SELECT SUM(LENGTH(bytes)) FROM documents", [], |r| r.get(0))
        .expect("sum");
    vec![
        (
            "create 10,000 disputes (one transaction each)".into(),
            format!(
                "{} ({:.2} ms each)",
                ms(create),
                create.as_secs_f64() * 1000.0 / 10_000.0
            ),
        ),
        ("reopen store".into(), ms(reopen)),
        (
            "list 10,000 (summaries from the index)".into(),
            format!("{} ({} rows)", ms(list), rows.len()),
        ),
        (
            "read 10,000 typed disputes (index JSON)".into(),
            format!("{} ({} rows)", ms(typed), all.len()),
        ),
        (
            "filter 类型=医疗卫生 and 重大".into(),
            format!("{} ({} rows)", ms(filter), filtered.len()),
        ),
        (
            "file size".into(),
            format!(
                "{:.1} MiB ({} bytes per record)",
                size as f64 / 1048576.0,
                size / 10_000
            ),
        ),
        (
            "Automerge bytes per record".into(),
            (doc_bytes / 10_000).to_string(),
        ),
    ]
}

fn bench_core() {
    println!("\n## Core on a device: 10,000 disputes in a store file\n");
    let plain = core_run(None);
    let encrypted = core_run(Some(&[7; 32]));
    println!("| measure | plain SQLite | SQLCipher (as on phones) |\n| --- | --- | --- |");
    for ((what, p), (_, e)) in plain.iter().zip(&encrypted) {
        println!("| {what} | {p} | {e} |");
    }
    println!(
        "| process peak RSS (both runs) | {} MiB | |",
        rss_kib(std::process::id(), "VmHWM:") / 1024
    );
}

fn petition_edits(i: usize) -> Vec<Edit> {
    vec![
        Edit::text("title", &format!("信访积案{i}")),
        Edit::text("petitioner", &format!("信访人{i:05}")),
        Edit::text("petitioner_contact", &format!("139{i:08}")),
        Edit::text("petitioner_id_number", &format!("11010119600101{i:04}")),
        Edit::text("origin", "repeated"),
        Edit::text(
            "summary",
            &format!("信访人{i:05}反映医疗费用报销问题，多次到局上访，联系电话139{i:08}。"),
        ),
    ]
}

fn bench_erase() {
    use fieldledger_core::store::ErasureRequest;
    use fieldledger_core::testing::InProcessRelay;
    println!("\n## Personal-data erasure: 100 of 10,000 petition cases\n");
    let dir = tempfile::tempdir().expect("tmp");
    let mut relay = Store::open(dir.path().join("relay.db")).expect("relay");
    relay
        .set_identity(identity("admin", "OFFICE", CoreRole::Office, "R"))
        .expect("id");
    let mut phone = Store::open_encrypted(dir.path().join("phone.db"), &[5; 32]).expect("phone");
    phone
        .set_identity(identity("zhang", "U00", CoreRole::Staff, "D1"))
        .expect("id");
    let mut ids = Vec::new();
    for i in 0..10_000 {
        ids.push(
            phone
                .create(RecordKind::Petition, None, &petition_edits(i))
                .expect("create"),
        );
    }
    for id in ids.iter().step_by(100) {
        for n in 0..10 {
            phone
                .edit(id, &[Edit::text("plan", &format!("第{n}次约谈"))])
                .expect("edit");
        }
    }
    let mut direct = InProcessRelay::new(&mut relay, &phone);
    sync_with(&mut phone, &mut direct, &mut |_| {}).expect("sync");
    let erased: Vec<&String> = ids.iter().step_by(100).collect();
    let before: i64 = erased
        .iter()
        .map(|id| relay.document_bytes(id).expect("bytes").len() as i64)
        .sum();
    let t = Instant::now();
    for id in &erased {
        relay
            .erase_personal_data(
                id,
                &ErasureRequest {
                    fields: vec![],
                    masks: vec![],
                    reason: "bench".into(),
                },
            )
            .expect("erase");
    }
    let erase = t.elapsed();
    let after: i64 = erased
        .iter()
        .map(|id| relay.document_bytes(id).expect("bytes").len() as i64)
        .sum();
    let t = Instant::now();
    let mut direct = InProcessRelay::new(&mut relay, &phone);
    let report = sync_with(&mut phone, &mut direct, &mut |_| {}).expect("sync");
    let sync = t.elapsed();
    println!("| measure | value |\n| --- | --- |");
    println!(
        "| erase on the relay (rebuild, write, WAL checkpoint) | {} for 100 ({:.1} ms each) |",
        ms(erase),
        erase.as_secs_f64() * 10.0
    );
    println!(
        "| document size of those records (11 changes each), before → after | {:.0} → {:.0} bytes each |",
        before as f64 / 100.0,
        after as f64 / 100.0
    );
    println!(
        "| phone sync that replaces them | {} ({} replaced, {} bytes received) |",
        ms(sync),
        report.regenerated.len(),
        report.bytes_received
    );
    // The history is replayed change by change: the cost grows with a record's changes.
    for changes in [100, 500] {
        let id = relay
            .create(RecordKind::Petition, None, &petition_edits(changes))
            .expect("create");
        for n in 0..changes {
            relay
                .edit(&id, &[Edit::text("plan", &format!("第{n}次约谈"))])
                .expect("edit");
        }
        let t = Instant::now();
        relay
            .erase_personal_data(
                &id,
                &ErasureRequest {
                    fields: vec![],
                    masks: vec![],
                    reason: "bench".into(),
                },
            )
            .expect("erase");
        println!(
            "| erase one record with {} changes | {} |",
            changes + 1,
            ms(t.elapsed())
        );
    }
}

fn bench_merge() {
    println!(
        "\n## Merge cost of a heavily edited record: 20 devices × 50 concurrent edits to one 基本情况\n"
    );
    let mut origin = fieldledger_core::testing::memory_store("u0", "U00", CoreRole::Staff, "D0");
    let id = origin
        .create(
            RecordKind::Dispute,
            None,
            &[
                Edit::text("name", "热点纠纷"),
                Edit::text("situation", "起初的情况说明。"),
            ],
        )
        .expect("create");
    let bytes = origin.document_bytes(&id).expect("bytes");
    let mut devices: Vec<Store> = (1..=20)
        .map(|i| {
            let mut s = fieldledger_core::testing::memory_store(
                &format!("u{i}"),
                "U00",
                CoreRole::Staff,
                &format!("D{i}"),
            );
            s.merge_remote(&id, &bytes).expect("merge");
            s
        })
        .collect();
    let t = Instant::now();
    for (i, s) in devices.iter_mut().enumerate() {
        for k in 0..50 {
            let mut text = s.dispute(&id).expect("d").situation;
            let at = text
                .char_indices()
                .nth((k * 7 + i) % (text.chars().count() + 1))
                .map_or(text.len(), |(b, _)| b);
            text.insert_str(at, &format!("[{i}:{k}]"));
            s.edit(&id, &[Edit::text("situation", &text)])
                .expect("edit");
        }
    }
    let edit = t.elapsed();
    let t = Instant::now();
    for s in &devices {
        origin
            .merge_remote(&id, &s.document_bytes(&id).expect("bytes"))
            .expect("merge");
    }
    let merge = t.elapsed();
    let d = origin.dispute(&id).expect("d");
    let t = Instant::now();
    let conflicts = origin.conflicts(&id).expect("c");
    let conflict_scan = t.elapsed();
    let size = origin.document_bytes(&id).expect("bytes").len();
    println!("| measure | value |\n| --- | --- |");
    println!("| 1,000 edits on 20 devices | {} |", ms(edit));
    println!("| merge 20 devices' documents into one | {} |", ms(merge));
    println!(
        "| merged text length | {} characters, {} conflicts |",
        d.situation.chars().count(),
        conflicts.len()
    );
    println!(
        "| load the merged record and scan it for conflicts | {} |",
        ms(conflict_scan)
    );
    println!("| compacted document size | {} bytes |", size);
}

fn bench_sync_growth() {
    println!("\n## Sync cost as the relay grows: a device with 5 changed records\n");
    println!("Records are spread over 20 units; the device sees its unit (1/20 of them).\n");
    println!("{SYNC_HEADER}");
    for n in [100usize, 10_000, 100_000] {
        if n <= max_records() {
            println!("{}", sync_row(n, Backend::Sqlite));
        }
    }
}

/// The header of a sync-growth table.
const SYNC_HEADER: &str = "| records on relay | backend | populate | device's unit | time (median of 5) | bytes sent | bytes received | relay CPU |
| --- | --- | --- | --- | --- | --- | --- | --- |";

/// One row of a sync-growth table: `n` records on `backend`.
fn sync_row(n: usize, backend: Backend<'_>) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("relay.db");
    let codes = accounts(&db, 20, 1);
    let populate = populate(&db, n, 20);
    let relays = backend.start(&db);
    let relay = &relays[0];
    let mut dev = device(relay, &codes[0].1, Some(&dir.path().join("device.db")));
    sync(&mut dev);
    let ids: Vec<String> = dev
        .list(RecordKind::Dispute, None)
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .take(5)
        .collect();
    let mut samples = Vec::new();
    for round in 0..5 {
        for id in &ids {
            dev.edit(
                id,
                &[Edit::set("people_involved", FieldValue::Int(100 + round))],
            )
            .expect("edit");
        }
        let cpu = cpu_ms(relay.pid());
        let t = Instant::now();
        let r = sync(&mut dev);
        samples.push((
            t.elapsed(),
            r.bytes_sent,
            r.bytes_received,
            cpu_ms(relay.pid()) - cpu,
        ));
        assert_eq!(r.pushed, 5);
    }
    samples.sort_by_key(|s| s.0);
    let (t, sent, recv, cpu) = samples[2];
    format!(
        "| {n} | {} | {} | {} | {} | {sent} | {recv} | {cpu:.0} ms |",
        backend.label(),
        ms(populate),
        n / 20,
        ms(t)
    )
}

fn bench_initial() {
    println!("\n## Initial sync of a new device into a unit with 10,000 records\n");
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("relay.db");
    let codes = accounts(&db, 1, 1);
    populate(&db, 10_000, 1);
    let relay = Relay::start(&db);
    let mut dev = device(&relay, &codes[0].1, Some(&dir.path().join("device.db")));
    let t = Instant::now();
    let r = sync(&mut dev);
    let took = t.elapsed();
    assert_eq!(dev.count(RecordKind::Dispute).expect("count"), 10_000);
    println!("| measure | value |\n| --- | --- |");
    println!("| time | {} |", ms(took));
    println!("| rounds | {} |", r.rounds);
    println!(
        "| bytes sent / received | {} / {} |",
        r.bytes_sent, r.bytes_received
    );
    println!(
        "| relay peak RSS | {} MiB |",
        rss_kib(relay.pid(), "VmHWM:") / 1024
    );
}

fn bench_devices() {
    println!("\n## Many devices at once: each with offline edits (new records and shared ones)\n");
    println!("{DEVICES_HEADER}");
    for n in device_counts() {
        println!("{}", devices_row(n, Backend::Sqlite));
    }
}

/// How many devices the devices section runs, one row each (`FIELDLEDGER_BENCH_DEVICES`,
/// comma-separated; default 100, 500, 1,000).
fn device_counts() -> Vec<usize> {
    std::env::var("FIELDLEDGER_BENCH_DEVICES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 500, 1000])
}

/// The header of a devices table.
const DEVICES_HEADER: &str = "| devices | backend | enroll + first sync | concurrent sync to convergence | requests | req/s | p50 | p99 | relay's own p50 / p99 | errors | relay CPU per request | CPU in the rounds: relays / devices | relay peak RSS |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

/// Where the benchmark's relays keep their data.
#[derive(Clone, Copy)]
enum Backend<'a> {
    /// One relay on a SQLite file.
    Sqlite,
    /// `relays` relays over one PostgreSQL database of `server`.
    Postgres {
        server: &'a BenchPostgres,
        relays: usize,
    },
}

impl Backend<'_> {
    fn label(&self) -> String {
        match self {
            Backend::Sqlite => "SQLite file".into(),
            Backend::Postgres { relays: 1, .. } => "PostgreSQL, 1 relay".into(),
            Backend::Postgres { relays, .. } => format!("PostgreSQL, {relays} relays"),
        }
    }

    /// Starts the relays over the deployment set up in the file `db` (moved to a new
    /// PostgreSQL database first, for PostgreSQL).
    fn start(&self, db: &Path) -> Vec<Relay> {
        match self {
            Backend::Sqlite => vec![Relay::start(db)],
            Backend::Postgres { server, relays } => {
                let url = server.new_database();
                let out = Command::new(env!("CARGO_BIN_EXE_fieldledger"))
                    .args(["admin", "migrate", "--from"])
                    .arg(db)
                    .args(["--to", &url])
                    .output()
                    .expect("run admin migrate");
                assert!(
                    out.status.success(),
                    "migrate: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let dir = db.parent().expect("the file's directory");
                (0..*relays)
                    .map(|i| Relay::start_on_postgres(&url, &dir.join(format!("cache{i}.db"))))
                    .collect()
            }
        }
    }
}

/// A PostgreSQL server of the benchmark's own, stopped when dropped.
struct BenchPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

/// A PostgreSQL program, run as the `postgres` user when we are root.
fn postgres_program(bin: &Path, program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin.join(program));
        cmd
    } else {
        Command::new(bin.join(program))
    }
}

impl BenchPostgres {
    fn start() -> BenchPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("an initdb");
        let dir = tempfile::tempdir().expect("tmp");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let ok = postgres_program(&bin, "initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb")
            .status
            .success();
        assert!(ok, "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Durable as in production: fsync on (the relays' SQLite files sync too).
        let ok = postgres_program(&bin, "pg_ctl")
            .arg("-D")
            .arg(dir.path().join("data"))
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .args(["-w", "-o"])
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
                dir.path().display()
            ))
            .arg("start")
            .output()
            .expect("pg_ctl")
            .status
            .success();
        assert!(ok, "PostgreSQL did not start");
        BenchPostgres { dir, port, bin }
    }

    fn new_database(&self) -> String {
        let name = format!("bench_{}", rand::random::<u32>());
        let server = format!("postgres://postgres@127.0.0.1:{}", self.port);
        let mut c = postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls)
            .expect("connect to PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        format!("{server}/{name}")
    }

    /// The postmaster's process id and those of its children (the backends and workers).
    fn processes(&self) -> Option<(u32, Vec<u32>)> {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        let master = pid.lines().next()?.trim().parse::<u32>().ok()?;
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                let parent = stat.rsplit(')').next()?.split_whitespace().nth(1)?;
                (parent.parse::<u32>().ok()? == master).then_some(pid)
            })
            .collect();
        Some((master, children))
    }

    /// Resident memory of the server's processes together, now (shared buffers counted in
    /// each process that touched them).
    fn rss_mib(&self) -> u64 {
        let Some((master, children)) = self.processes() else {
            return 0;
        };
        let total: u64 = std::iter::once(master)
            .chain(children)
            .map(|pid| rss_kib(pid, "VmRSS:"))
            .sum();
        total / 1024
    }

    /// CPU the server used so far: the live backends', the postmaster's own, and what its
    /// exited children used (summed into it when they exit).
    fn cpu_ms(&self) -> f64 {
        let Some((master, children)) = self.processes() else {
            return 0.0;
        };
        let live: f64 = children.into_iter().map(cpu_ms).sum();
        let stat = std::fs::read_to_string(format!("/proc/{master}/stat")).unwrap_or_default();
        let f: Vec<f64> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        let ticks: f64 = (11..=14).filter_map(|i| f.get(i)).sum();
        live + ticks * 10.0
    }
}

impl Drop for BenchPostgres {
    fn drop(&mut self) {
        let _ = postgres_program(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// One row of a devices table: `n` devices over `backend`.
fn devices_row(n: usize, backend: Backend<'_>) -> String {
    {
        let units = 10;
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("relay.db");
        let codes = accounts(&db, units, n / units);
        let relays = backend.start(&db);
        let t = Instant::now();
        let mut devices: Vec<Store> = codes
            .iter()
            .enumerate()
            .map(|(i, (_, c))| device(&relays[i % relays.len()], c, None))
            .collect();
        // Each unit's first device makes 3 shared records everyone will edit.
        for u in 0..units {
            let d = &mut devices[u * (n / units)];
            for k in 0..3 {
                d.create(
                    RecordKind::Dispute,
                    None,
                    &[Edit::text("name", &format!("共享{k}"))],
                )
                .expect("create");
            }
            sync(d);
        }
        for d in devices.iter_mut() {
            sync(d);
        }
        let setup = t.elapsed();
        // Offline edits: one new record each, and two edits of shared records.
        for (i, d) in devices.iter_mut().enumerate() {
            d.create(
                RecordKind::Dispute,
                None,
                &[Edit::text("name", &format!("设备{i}的纠纷"))],
            )
            .expect("create");
            let shared: Vec<String> = d
                .list(RecordKind::Dispute, None)
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .take(3)
                .collect();
            d.edit(
                &shared[i % 3],
                &[Edit::set("people_involved", FieldValue::Int(i as i64))],
            )
            .expect("edit");
            let text = d.dispute(&shared[(i + 1) % 3]).expect("d").situation;
            d.edit(
                &shared[(i + 1) % 3],
                &[Edit::text("situation", &format!("{text}设备{i}补充。"))],
            )
            .expect("edit");
        }
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(0usize));
        let t = Instant::now();
        let relay_cpu_now = || relays.iter().map(|r| cpu_ms(r.pid())).sum::<f64>();
        let cpu_before = relay_cpu_now();
        let logged_before: Vec<u64> = relays.iter().map(Relay::log_len).collect();
        // The simulated devices run in this process, on the same cores as the relays.
        let devices_cpu_before = cpu_ms(std::process::id());
        // On standard error, for a profiler attached to the relay (its pid) over these rounds.
        let pids: Vec<String> = relays.iter().map(|r| r.pid().to_string()).collect();
        eprintln!("concurrent rounds start: relay pid {}", pids.join(" "));
        // The simulated devices share this machine's cores with the relays, and need several
        // times the relays' CPU (each imports its unit's new records): they run at the lowest
        // priority (threads inherit it from this one), in a scheduling group below the
        // relays' (each relay is a session of its own, see `Relay::start_with`), so the
        // latencies are the relays' and not a thousand device threads' turn on two cores.
        set_own_niceness(19);
        // Two concurrent rounds: everyone pushes, then everyone receives the others' changes.
        for _ in 0..2 {
            let handles: Vec<_> = devices
                .drain(..)
                .map(|mut d| {
                    let latencies = latencies.clone();
                    let errors = errors.clone();
                    std::thread::Builder::new()
                        .stack_size(256 << 10)
                        .spawn(move || {
                            let mut tr = Measured {
                                inner: HttpTransport::for_store(&d).expect("t"),
                                latencies,
                            };
                            if sync_with(&mut d, &mut tr, &mut |_| {}).is_err() {
                                *errors.lock().expect("lock") += 1;
                            }
                            d
                        })
                        .expect("spawn")
                })
                .collect();
            devices = handles
                .into_iter()
                .map(|h| h.join().expect("join"))
                .collect();
        }
        let took = t.elapsed();
        set_own_niceness(0);
        let relay_cpu = relay_cpu_now() - cpu_before;
        let devices_cpu = cpu_ms(std::process::id()) - devices_cpu_before;
        eprintln!("concurrent rounds end");
        let per_unit = n / units + 3;
        let converged = devices
            .iter()
            .all(|d| d.count(RecordKind::Dispute).expect("count") as usize == per_unit);
        assert!(
            converged,
            "every device holds its unit's {per_unit} disputes"
        );
        let mut l = latencies.lock().expect("lock").clone();
        l.sort();
        let p = |q: f64| percentile(&l, q);
        let mut own: Vec<Duration> = relays
            .iter()
            .zip(&logged_before)
            .flat_map(|(r, from)| r.sync_times_since(*from))
            .collect();
        own.sort();
        let rss: Vec<String> = relays
            .iter()
            .map(|r| format!("{} MiB", rss_kib(r.pid(), "VmHWM:") / 1024))
            .collect();
        let rss = match backend {
            Backend::Sqlite => rss.join(" + "),
            Backend::Postgres { server, .. } => {
                format!("{} (PostgreSQL {} MiB)", rss.join(" + "), server.rss_mib())
            }
        };
        format!(
            "| {n} | {} | {} | {} | {} | {:.0} | {} | {} | {} / {} ({} answers) | {} | {:.1} ms | {:.1} s / {:.1} s | {rss} |",
            backend.label(),
            ms(setup),
            ms(took),
            l.len(),
            l.len() as f64 / took.as_secs_f64(),
            ms(p(0.5)),
            ms(p(0.99)),
            ms(percentile(&own, 0.5)),
            ms(percentile(&own, 0.99)),
            own.len(),
            errors.lock().expect("lock"),
            relay_cpu / l.len().max(1) as f64,
            relay_cpu / 1000.0,
            devices_cpu / 1000.0,
        )
    }
}

/// The `q` quantile of `sorted` (zero when empty).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q) as usize)
        .copied()
        .unwrap_or_default()
}

/// Sets the niceness of the calling thread (the threads it starts inherit it) and of this
/// process's scheduling group (Linux autogroup: one per session; the relays run in sessions of
/// their own), so that a thousand device threads weigh less than the relays together, not a
/// thousand times as much; lowering it again needs root, as the benchmark runs here.
fn set_own_niceness(niceness: i32) {
    // On Linux, a process id given to renice names one thread: the main thread's is the pid.
    let _ = Command::new("renice")
        .args([
            "-n",
            &niceness.to_string(),
            "-p",
            &std::process::id().to_string(),
        ])
        .output();
    // Without autogroup (the file is missing, or the kernel's switch is off) the threads'
    // own niceness is all there is.
    let _ = std::fs::write("/proc/self/autogroup", niceness.to_string());
}

fn bench_unit() {
    const PHONES: usize = 100;
    const EACH: usize = 20;
    println!(
        "\n## One unit of {PHONES} phones, {EACH} new records each, all syncing at once until every phone holds all {}\n",
        PHONES * EACH
    );
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("relay.db");
    let codes = accounts(&db, 1, PHONES);
    let relay = Relay::start(&db);
    let mut phones: Vec<Store> = codes.iter().map(|(_, c)| device(&relay, c, None)).collect();
    for p in phones.iter_mut() {
        sync(p);
    }
    for (i, p) in phones.iter_mut().enumerate() {
        for k in 0..EACH {
            p.create(RecordKind::Dispute, None, &dispute_edits(i * EACH + k))
                .expect("create");
        }
    }
    let total = PHONES * EACH;
    let cpu_before = cpu_ms(relay.pid());
    let t = Instant::now();
    let handles: Vec<_> = phones
        .into_iter()
        .map(|mut p| {
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut reports = Vec::new();
                    // A phone that syncs before the others have pushed syncs again.
                    while (p.count(RecordKind::Dispute).expect("count") as usize) < total {
                        reports.push(sync(&mut p));
                        if reports.len() > 1 {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    reports
                })
                .expect("spawn")
        })
        .collect();
    let reports: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("join"))
        .collect();
    let took = t.elapsed();
    let relay_cpu = cpu_ms(relay.pid()) - cpu_before;
    let delivered: u64 = reports.iter().map(|r| r.received).sum();
    let rounds: u32 = reports.iter().map(|r| r.rounds).sum();
    let sent: u64 = reports.iter().map(|r| r.bytes_received).sum();
    println!(
        "| phones × records | time to convergence | rounds | records delivered | relay CPU | relay CPU per record delivered | MB sent by the relay | relay peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {PHONES} × {EACH} | {} | {rounds} | {delivered} | {:.1} s | {:.3} ms | {:.0} | {} MiB |",
        ms(took),
        relay_cpu / 1000.0,
        relay_cpu / delivered.max(1) as f64,
        sent as f64 / 1e6,
        rss_kib(relay.pid(), "VmHWM:") / 1024
    );
}

/// The devices and sync tables on PostgreSQL, beside SQLite.
fn bench_pg() {
    // Stopped when this returns (a server left running would keep the files it inherited).
    let server = &BenchPostgres::start();
    println!("\n## Many devices at once on SQLite and on PostgreSQL\n");
    println!("{DEVICES_HEADER}");
    for n in device_counts() {
        if n > max_devices() {
            continue;
        }
        for backend in [
            Backend::Sqlite,
            Backend::Postgres { server, relays: 1 },
            Backend::Postgres { server, relays: 2 },
        ] {
            let cpu = server.cpu_ms();
            let row = devices_row(n, backend);
            println!(
                "{row} PostgreSQL CPU {:.1} s",
                (server.cpu_ms() - cpu) / 1000.0
            );
        }
    }
    println!("\n## Sync cost as the relay grows, on PostgreSQL (one relay)\n");
    println!("{SYNC_HEADER}");
    for n in [100usize, 10_000, 100_000] {
        if n <= max_records() {
            println!("{}", sync_row(n, Backend::Postgres { server, relays: 1 }));
        }
    }
}

/// Most devices the pg section runs (`FIELDLEDGER_BENCH_MAX_DEVICES`, default 1,000).
fn max_devices() -> usize {
    std::env::var("FIELDLEDGER_BENCH_MAX_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    println!(
        "# fieldledger benchmarks (release build, {} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if wanted("core") {
        bench_core();
    }
    if wanted("merge") {
        bench_merge();
    }
    if wanted("erase") {
        bench_erase();
    }
    if wanted("sync") {
        bench_sync_growth();
    }
    if wanted("initial") {
        bench_initial();
    }
    if wanted("devices") {
        bench_devices();
    }
    if wanted("unit") {
        bench_unit();
    }
    if wanted("pg") {
        bench_pg();
    }
}
