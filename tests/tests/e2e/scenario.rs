//! The seeded randomized scenario: three units and the bureau office, 13 devices editing shared
//! and own records offline, syncing through a relay process over connections that drop, with
//! duplicated and replayed requests, a graceful relay restart and a relay killed (SIGKILL)
//! while devices sync. At the end every device holds exactly its units' records with the
//! relay's heads, and every edit made anywhere is on the relay: typed text and appended
//! measures in full, scalar values as the value or as a conflict showing it.
//!
//! The seed (`FIELDLEDGER_SEED`, random if unset) decides every choice of the scenario; record
//! ids, timestamps and the exact moment of the SIGKILL are not reproducible.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use fieldledger_core::doc::ChangeNote;
use fieldledger_core::{Edit, Error, FieldValue, RecordKind, Store};
use fieldledger_e2e::http::post_sync;
use fieldledger_e2e::snapshot::of_unit;
use fieldledger_e2e::{Device, DuplicatingTransport, Fault, FlakyTransport, Relay, Seed};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

const UNITS: [(&str, &str); 3] = [("WJK", "疾控科"), ("JKK", "卫生监督所"), ("ZYY", "中医院")];
const OFFICE: &str = "OFFICE";
const FILLERS: [&str; 6] = [
    "现场核实群众反映情况",
    "已约谈双方当事人",
    "村委会协助调解",
    "双方对赔偿金额仍有分歧",
    "已报分管领导",
    "下周复访",
];
const LEADERS: [&str; 4] = ["王局长", "李主任", "赵科长", "陈书记"];
const TRENDS: [&str; 4] = ["escalating", "stable", "easing", "resolved"];

/// Whether devices may write, to a field that holds several concurrent values, the value
/// Automerge shows (the commonest way a person resolves a conflict). The core writes such a
/// choice as a new value (it clears the concurrent values first), so a concurrent edit on
/// another device meets it as a conflict; `merge::choosing_the_shown_value_…` checks that.
const CHOOSE_SHOWN_VALUE: bool = true;

/// Whether writing `value` to `field` of `id` would re-write the shown one of several values.
fn rewrites_shown_value(store: &Store, id: &str, field: &str, value: &FieldValue) -> bool {
    use automerge::ReadDoc;
    let doc = store.document(id).unwrap();
    let several = doc
        .automerge()
        .get_all(automerge::ROOT, field)
        .unwrap()
        .len()
        > 1;
    several && FieldValue::from_json(&doc.to_json().unwrap()[field]) == *value
}

/// One device taking part, and what it is.
struct Member {
    dev: Device,
    unit: String,
    office: bool,
}

/// A scalar value written by one change.
struct ScalarWrite {
    record: String,
    field: String,
    value: FieldValue,
    change: ChangeHash,
}

/// Everything every device did, to check the end state against.
#[derive(Default)]
struct Ledger {
    scalars: Vec<ScalarWrite>,
    texts: BTreeMap<String, Vec<String>>,
    measures: BTreeMap<String, Vec<String>>,
    created: BTreeMap<String, String>,
    shared: BTreeMap<String, Vec<String>>,
    counter: u64,
    syncs: u64,
    faults: u64,
    replays: u64,
    interrupted_by_kill: u64,
}

impl Ledger {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

fn disputes(store: &Store) -> Vec<String> {
    let mut stmt = store
        .connection()
        .prepare("SELECT id FROM documents WHERE kind='dispute' ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn note_of(store: &Store, id: &str, change: &ChangeHash) -> ChangeNote {
    let mut doc = store.document(id).unwrap();
    let change = doc
        .automerge_mut()
        .get_change_by_hash(change)
        .expect("the change just made");
    serde_json::from_str(change.message().unwrap_or_default()).unwrap_or_default()
}

/// Records the scalar writes of the change that `edit` made (the fields its note lists).
fn track(
    store: &Store,
    id: &str,
    before: &[ChangeHash],
    values: &[(&str, FieldValue)],
    ledger: &mut Ledger,
) {
    let after = store.heads(id).unwrap();
    if after == before {
        return;
    }
    assert_eq!(after.len(), 1, "a local change has every head as a parent");
    let note = note_of(store, id, &after[0]);
    for (field, value) in values {
        if note.fields.iter().any(|f| f == field) {
            ledger.scalars.push(ScalarWrite {
                record: id.to_owned(),
                field: (*field).to_owned(),
                value: value.clone(),
                change: after[0],
            });
        }
    }
}

fn random_scalars(rng: &mut StdRng) -> Vec<(&'static str, FieldValue)> {
    let mut out = Vec::new();
    for field in ["people_involved", "trend", "is_major", "leader"] {
        if rng.random_bool(0.4) || (out.is_empty() && field == "leader") {
            let value = match field {
                "people_involved" => FieldValue::Int(rng.random_range(1..60)),
                "trend" => FieldValue::text(*TRENDS.choose(rng).unwrap()),
                "is_major" => FieldValue::Bool(rng.random_bool(0.5)),
                _ => FieldValue::text(*LEADERS.choose(rng).unwrap()),
            };
            out.push((field, value));
        }
    }
    out
}

/// Picks a dispute the member may edit, shared ones more often.
fn pick_record(rng: &mut StdRng, m: &Member, ledger: &Ledger) -> Option<String> {
    let held = disputes(m.dev.store());
    let units: Vec<&str> = if m.office {
        UNITS.iter().map(|u| u.0).collect()
    } else {
        vec![m.unit.as_str()]
    };
    let shared: Vec<&String> = units
        .iter()
        .flat_map(|u| ledger.shared.get(*u).into_iter().flatten())
        .filter(|id| held.contains(id))
        .collect();
    if !shared.is_empty() && rng.random_bool(0.7) {
        return shared.choose(rng).map(|s| (*s).clone());
    }
    held.choose(rng).cloned()
}

fn token(ledger: &mut Ledger, who: &str, rng: &mut StdRng) -> String {
    let n = ledger.next();
    format!("【{who}#{n}{}】", FILLERS.choose(rng).unwrap())
}

fn create_record(rng: &mut StdRng, m: &mut Member, ledger: &mut Ledger) -> String {
    let unit = if m.office {
        UNITS.choose(rng).unwrap().0.to_owned()
    } else {
        m.unit.clone()
    };
    let tok = token(ledger, &m.dev.name, rng);
    let mut values = random_scalars(rng);
    let name = format!("{}的纠纷{}", m.dev.name, ledger.next());
    values.push(("name", FieldValue::text(&name)));
    values.push(("category", FieldValue::text("医疗卫生")));
    let mut edits: Vec<Edit> = values
        .iter()
        .map(|(f, v)| Edit::set(f, v.clone()))
        .collect();
    edits.push(Edit::text("situation", &tok));
    let id = m
        .dev
        .store_mut()
        .create(RecordKind::Dispute, Some(&unit), &edits)
        .unwrap();
    track(m.dev.store(), &id, &[], &values, ledger);
    ledger.texts.entry(id.clone()).or_default().push(tok);
    ledger.created.insert(id.clone(), unit);
    id
}

/// One random offline edit.
fn offline_edit(rng: &mut StdRng, m: &mut Member, ledger: &mut Ledger) {
    let op = rng.random_range(0..100);
    if op < 10 {
        create_record(rng, m, ledger);
        return;
    }
    let Some(id) = pick_record(rng, m, ledger) else {
        create_record(rng, m, ledger);
        return;
    };
    let who = m.dev.name.clone();
    let store = m.dev.store_mut();
    let before = store.heads(&id).unwrap();
    match op {
        10..=44 => {
            let mut values = random_scalars(rng);
            if !CHOOSE_SHOWN_VALUE {
                values.retain(|(f, v)| !rewrites_shown_value(store, &id, f, v));
            }
            let edits: Vec<Edit> = values
                .iter()
                .map(|(f, v)| Edit::set(f, v.clone()))
                .collect();
            store.edit(&id, &edits).unwrap();
            track(store, &id, &before, &values, ledger);
        }
        45..=69 => {
            // Typing into 基本情况 between two earlier entries, at the start or at the end.
            let text = store.dispute(&id).unwrap().situation;
            let mut cuts = vec![0];
            cuts.extend(text.match_indices('】').map(|(i, s)| i + s.len()));
            let at = *cuts.choose(rng).unwrap();
            let tok = token(ledger, &who, rng);
            let new = format!("{}{tok}{}", &text[..at], &text[at..]);
            store.edit(&id, &[Edit::text("situation", &new)]).unwrap();
            ledger.texts.entry(id).or_default().push(tok);
        }
        70..=89 => {
            let what = format!("{who}措施{}", ledger.next());
            let date = format!("2025-03-{:02}", rng.random_range(1..29));
            store
                .edit(
                    &id,
                    &[Edit::Append {
                        list: "measures".into(),
                        values: vec![
                            ("what".into(), FieldValue::text(&what)),
                            ("date".into(), FieldValue::text(&date)),
                            ("by".into(), FieldValue::text(&who)),
                        ],
                    }],
                )
                .unwrap();
            ledger.measures.entry(id).or_default().push(what);
        }
        _ => {
            // Resolve a conflict the device sees, as a person would: pick one of the values or
            // type a new one.
            let conflicts = store.conflicts(&id).unwrap();
            let Some(c) = conflicts.iter().find(|c| !c.field.contains('/')) else {
                return;
            };
            let value = if rng.random_bool(0.7) {
                c.values.choose(rng).unwrap().value.clone()
            } else {
                match c.field.as_str() {
                    "people_involved" => FieldValue::Int(rng.random_range(60..99)),
                    "is_major" => FieldValue::Bool(rng.random_bool(0.5)),
                    "trend" => FieldValue::text("stable"),
                    _ => FieldValue::text(*LEADERS.choose(rng).unwrap()),
                }
            };
            let value = if !CHOOSE_SHOWN_VALUE && rewrites_shown_value(store, &id, &c.field, &value)
            {
                let shown = &c.values[0].value;
                c.values
                    .iter()
                    .map(|v| v.value.clone())
                    .find(|v| v != shown)
                    .unwrap()
            } else {
                value
            };
            let field = c.field.clone();
            store.resolve_conflict(&id, &field, value.clone()).unwrap();
            track(store, &id, &before, &[(field.as_str(), value)], ledger);
        }
    }
}

/// Checks a sync's outcome: a clean success, or a transport error only if a fault was injected.
fn expect_sync(
    name: &str,
    result: fieldledger_core::Result<fieldledger_core::sync::SyncReport>,
    faulty: bool,
) -> bool {
    match result {
        Ok(report) => {
            assert!(
                report.rejected.is_empty(),
                "{name}: the relay refused legitimate edits: {:?}",
                report.rejected
            );
            true
        }
        Err(Error::Transport { message, .. }) if faulty => {
            assert!(message.contains("injected"), "{name}: {message}");
            false
        }
        Err(e) => panic!("{name}: sync failed: {e}"),
    }
}

/// Syncs one member over a randomly misbehaving connection.
fn flaky_sync(
    rng: &mut StdRng,
    m: &mut Member,
    ledger: &mut Ledger,
    logs: &mut Vec<(String, Vec<Vec<u8>>)>,
) {
    ledger.syncs += 1;
    let name = m.dev.name.clone();
    match rng.random_range(0..10) {
        0..=3 => {
            expect_sync(&name, m.dev.sync(), false);
        }
        4..=7 => {
            let k = rng.random_range(1..=3);
            let fault = if rng.random_bool(0.5) {
                Fault::FailBefore(k)
            } else {
                Fault::DropResponse(k)
            };
            let mut t = FlakyTransport::new(m.dev.transport(), fault);
            let result = m.dev.sync_via(&mut t);
            ledger.faults += u64::from(t.tripped);
            let ok = expect_sync(&name, result, t.tripped);
            assert_eq!(
                ok, !t.tripped,
                "{name}: a sync with a dropped connection cannot finish"
            );
        }
        _ => {
            let mut t = DuplicatingTransport::new(m.dev.transport());
            expect_sync(&name, m.dev.sync_via(&mut t), false);
            logs.push((m.dev.token(), t.log));
        }
    }
    if rng.random_bool(0.1) {
        // The app is restarted: everything it knows comes back from its store file.
        m.dev.reopen();
    }
}

/// Sends old requests again, much later: the relay must change nothing.
fn replay_old_requests(
    rng: &mut StdRng,
    relay: &Relay,
    logs: &[(String, Vec<Vec<u8>>)],
    ledger: &mut Ledger,
) {
    let Some((token, requests)) = logs.choose(rng) else {
        return;
    };
    let (before, seq) = (relay.snapshot(), relay.feed_head());
    for req in requests {
        ledger.replays += 1;
        let answer = post_sync(&relay.url(), Some(token), req);
        assert_eq!(
            answer.status, 200,
            "a replayed request is answered like the first"
        );
        let resp = fieldledger_core::sync::SyncResponse::decode(&answer.body).unwrap();
        assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    }
    assert_eq!(
        relay.snapshot(),
        before,
        "a replayed request changed documents"
    );
    assert_eq!(
        relay.feed_head(),
        seq,
        "a replayed request wrote to the change feed"
    );
}

/// Devices create many records offline and sync at once; the relay is killed with SIGKILL
/// while they do. Returns how many syncs the kill interrupted.
fn kill_during_syncs(
    rng: &mut StdRng,
    relay: &mut Relay,
    members: &mut [Member],
    ledger: &mut Ledger,
) -> u64 {
    let mut chosen: Vec<usize> = (0..members.len()).collect();
    chosen.shuffle(rng);
    chosen.truncate(5);
    for &i in &chosen {
        for _ in 0..rng.random_range(8..16) {
            let id = create_record(rng, &mut members[i], ledger);
            let what = format!("{}措施{}", members[i].dev.name, ledger.next());
            members[i]
                .dev
                .store_mut()
                .edit(
                    &id,
                    &[Edit::Append {
                        list: "measures".into(),
                        values: vec![("what".into(), FieldValue::text(&what))],
                    }],
                )
                .unwrap();
            ledger.measures.entry(id).or_default().push(what);
        }
    }
    let delay = Duration::from_millis(rng.random_range(3..60));
    let results: Vec<(String, fieldledger_core::Result<_>)> = std::thread::scope(|s| {
        let handles: Vec<_> = members
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| chosen.contains(i))
            .map(|(_, m)| s.spawn(move || (m.dev.name.clone(), m.dev.sync())))
            .collect();
        std::thread::sleep(delay);
        relay.kill();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut interrupted = 0;
    for (name, r) in results {
        match r {
            Ok(report) => assert!(report.rejected.is_empty(), "{name}: {:?}", report.rejected),
            Err(Error::Transport { .. }) => interrupted += 1,
            Err(e) => panic!("{name}: sync failed with a non-transport error: {e}"),
        }
    }
    // The relay acknowledges only what it has committed: everything any device believes the
    // relay has must have survived the SIGKILL.
    let store = relay.records();
    for m in members.iter() {
        for (id, heads) in m.dev.relay_heads() {
            let mut doc = store.document(&id).unwrap_or_else(|e| {
                panic!("{}: acknowledged {id} lost by the kill: {e}", m.dev.name)
            });
            for h in heads {
                let h: ChangeHash = h.parse().unwrap();
                assert!(
                    doc.has_change(&h),
                    "{}: acknowledged change {h} of {id} lost by the kill",
                    m.dev.name
                );
            }
        }
    }
    relay.start();
    interrupted
}

fn value_key(v: &FieldValue) -> String {
    serde_json::to_string(v).unwrap()
}

/// All changes that are ancestors of `change`, itself excluded.
fn ancestors(
    deps: &HashMap<ChangeHash, Vec<ChangeHash>>,
    change: &ChangeHash,
) -> HashSet<ChangeHash> {
    let mut seen = HashSet::new();
    let mut stack = deps.get(change).cloned().unwrap_or_default();
    while let Some(h) = stack.pop() {
        if seen.insert(h) {
            stack.extend(deps.get(&h).into_iter().flatten().copied());
        }
    }
    seen
}

/// Prints every write of `field` and every change that touches it, for a failing check.
fn explain(
    doc: &mut fieldledger_core::doc::RecordDoc,
    field: &str,
    writes: &[&ScalarWrite],
    deps: &HashMap<ChangeHash, Vec<ChangeHash>>,
) {
    for w in writes {
        let later: Vec<String> = writes
            .iter()
            .filter(|o| ancestors(deps, &o.change).contains(&w.change))
            .map(|o| o.change.to_string()[..8].to_owned())
            .collect();
        eprintln!(
            "tracked write {} = {}, seen by later writes {later:?}",
            &w.change.to_string()[..8],
            value_key(&w.value)
        );
    }
    for c in doc.automerge_mut().get_changes(&[]) {
        let ops: Vec<String> = c
            .decode()
            .operations
            .iter()
            .filter(|o| format!("{:?}", o.key) == format!("Map({field:?})"))
            .map(|o| format!("{:?} pred {:?}", o.action, o.pred))
            .collect();
        if !ops.is_empty() {
            let deps: Vec<String> = c
                .deps()
                .iter()
                .map(|d| d.to_string()[..8].to_owned())
                .collect();
            eprintln!(
                "change {} (actor {}, seq {}, start op {}, deps {deps:?}, note {}): {ops:?}",
                &c.hash().to_string()[..8],
                c.actor_id(),
                c.seq(),
                c.start_op(),
                c.message().unwrap_or_default()
            );
        }
    }
}

fn check_end_state(relay: &Relay, members: &[Member], ledger: &Ledger) {
    let store = relay.records();
    let all = fieldledger_e2e::snapshot(&store);

    // Every device holds exactly its scope's documents, with the relay's heads.
    for m in members {
        let want = if m.office {
            all.clone()
        } else {
            of_unit(&all, &m.unit)
        };
        let got = m.dev.snapshot();
        if got != want {
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            let differ: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "{} ({}) differs from the relay: missing {missing:?}, not its unit's or unknown {extra:?}, other heads {differ:?}",
                m.dev.name, m.unit
            );
        }
        for id in disputes(m.dev.store()) {
            assert_eq!(
                m.dev.store().dispute(&id).unwrap(),
                store.dispute(&id).unwrap(),
                "{}: the index of {id} is not what the relay shows",
                m.dev.name
            );
        }
    }

    for (id, unit) in &ledger.created {
        let doc = all
            .get(id)
            .unwrap_or_else(|| panic!("record {id} never reached the relay"));
        assert_eq!(&doc.unit, unit);
    }

    // Every text typed anywhere is there, whole, once; nothing else is.
    for (id, tokens) in &ledger.texts {
        let text = store.dispute(id).unwrap().situation;
        let mut got: Vec<&str> = text.split_inclusive('】').collect();
        let mut want: Vec<&str> = tokens.iter().map(String::as_str).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "基本情况 of {id}: {text}");
    }

    // Every measure appended anywhere is there once.
    for (id, whats) in &ledger.measures {
        let mut got: Vec<String> = store
            .dispute(id)
            .unwrap()
            .measures
            .into_iter()
            .map(|m| m.what)
            .collect();
        let mut want = whats.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "工作措施 of {id}");
    }

    // Every scalar written is the value, or one of the values of a conflict, unless a later
    // change (one that had seen it) overwrote it.
    let mut by_record: BTreeMap<&str, Vec<&ScalarWrite>> = BTreeMap::new();
    for w in &ledger.scalars {
        by_record.entry(&w.record).or_default().push(w);
    }
    let mut conflicts_seen = 0;
    for (id, writes) in by_record {
        let mut doc = store.document(id).unwrap();
        let deps: HashMap<ChangeHash, Vec<ChangeHash>> = doc
            .automerge_mut()
            .get_changes(&[])
            .iter()
            .map(|c| (c.hash(), c.deps().to_vec()))
            .collect();
        let json = doc.to_json().unwrap();
        let conflicts = store.conflicts(id).unwrap();
        conflicts_seen += conflicts.len();
        let mut fields: BTreeMap<&str, Vec<&ScalarWrite>> = BTreeMap::new();
        for w in writes {
            assert!(
                deps.contains_key(&w.change),
                "change {} of {id} never reached the relay",
                w.change
            );
            fields.entry(&w.field).or_default().push(w);
        }
        for (field, ws) in fields {
            let overwritten: HashSet<ChangeHash> = ws
                .iter()
                .flat_map(|w| ancestors(&deps, &w.change))
                .collect();
            let mut want: Vec<String> = ws
                .iter()
                .filter(|w| !overwritten.contains(&w.change))
                .map(|w| value_key(&w.value))
                .collect();
            want.sort();
            want.dedup();
            let mut got: Vec<String> = match conflicts.iter().find(|c| c.field == field) {
                Some(c) => c.values.iter().map(|v| value_key(&v.value)).collect(),
                None => vec![value_key(&FieldValue::from_json(&json[field]))],
            };
            got.sort();
            got.dedup();
            if got != want {
                explain(&mut doc, field, &ws, &deps);
            }
            assert_eq!(
                got, want,
                "{field} of {id}: shown values vs values not overwritten"
            );
        }
    }
    eprintln!(
        "scenario: {} records, {} scalar writes, {} texts, {} measures, {} open conflicts, {} syncs ({} broken), {} replayed requests, {} syncs cut by SIGKILL",
        ledger.created.len(),
        ledger.scalars.len(),
        ledger.texts.values().map(Vec::len).sum::<usize>(),
        ledger.measures.values().map(Vec::len).sum::<usize>(),
        conflicts_seen,
        ledger.syncs,
        ledger.faults,
        ledger.replays,
        ledger.interrupted_by_kill,
    );
}

fn setup(relay: &Relay) -> Vec<Member> {
    let mut members = Vec::new();
    for (code, name) in UNITS {
        relay.add_unit(code, name);
        let lower = code.to_ascii_lowercase();
        let head = format!("{lower}-head");
        relay.add_user(&head, code, "unit-head", &format!("{name}负责人"));
        let mut logins = vec![head];
        for i in 1..=3 {
            let login = format!("{lower}-s{i}");
            relay.add_user(&login, code, "staff", &format!("{name}工作人员{i}"));
            logins.push(login);
        }
        for login in logins {
            members.push(Member {
                dev: Device::enroll(relay, &login),
                unit: code.to_owned(),
                office: false,
            });
        }
    }
    relay.add_user("office1", OFFICE, "office", "办公室");
    members.push(Member {
        dev: Device::enroll(relay, "office1"),
        unit: OFFICE.to_owned(),
        office: true,
    });
    members
}

#[test]
fn many_devices_converge_through_faults_restarts_and_a_killed_relay() {
    let seed = Seed::from_env("many_devices_converge_through_faults_restarts_and_a_killed_relay");
    let rounds: usize = std::env::var("FIELDLEDGER_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed.value);
    let mut relay = Relay::start_new();
    let mut members = setup(&relay);
    let mut ledger = Ledger::default();

    // Each unit head opens two disputes the whole unit works on.
    for m in &mut members {
        if m.dev.identity().author.role == fieldledger_core::Role::UnitHead {
            for _ in 0..2 {
                let id = create_record(&mut rng, m, &mut ledger);
                ledger.shared.entry(m.unit.clone()).or_default().push(id);
            }
            m.dev.sync_clean();
        }
    }
    for m in &mut members {
        m.dev.sync_clean();
    }

    let mut logs = Vec::new();
    let restart_round = rng.random_range(0..rounds / 2);
    let kill_round = rng.random_range(rounds / 2..rounds);
    for round in 0..rounds {
        for m in &mut members {
            for _ in 0..rng.random_range(0..=4) {
                offline_edit(&mut rng, m, &mut ledger);
            }
        }
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.shuffle(&mut rng);
        let restart_at = (round == restart_round).then(|| rng.random_range(0..order.len()));
        for (n, &i) in order.iter().enumerate() {
            if restart_at == Some(n) {
                relay.restart();
            }
            if rng.random_bool(0.75) {
                flaky_sync(&mut rng, &mut members[i], &mut ledger, &mut logs);
            }
        }
        if rng.random_bool(0.5) {
            replay_old_requests(&mut rng, &relay, &logs, &mut ledger);
        }
        if round == kill_round {
            // Try until the kill lands while at least one sync is in flight.
            for _ in 0..3 {
                let cut = kill_during_syncs(&mut rng, &mut relay, &mut members, &mut ledger);
                ledger.interrupted_by_kill += cut;
                if cut > 0 {
                    break;
                }
            }
        }
    }
    replay_old_requests(&mut rng, &relay, &logs, &mut ledger);

    // Everyone comes back online: sync until nothing moves.
    let mut passes = 0;
    loop {
        passes += 1;
        let mut moved = 0;
        for m in &mut members {
            let r = m.dev.sync_clean();
            moved += r.pushed + r.received;
        }
        if moved == 0 {
            break;
        }
        assert!(
            passes < 5,
            "syncs still move documents after {passes} passes"
        );
    }
    assert!(relay.starts() >= 3, "the relay was restarted and killed");
    check_end_state(&relay, &members, &ledger);
    eprintln!("scenario: {} s", started.elapsed().as_secs_f32());
}
