//! The `fieldledger` command line against a real relay: every workflow step a role takes on
//! the command-line device (demand status, rectification, monthly report, the unit's own
//! categories and visit targets), the fields `--help` documents, exit codes and JSON, and the
//! command line's own defects (broken pipes, doubled errors, the audit actor, revoked
//! devices, the first start of `serve`).

use std::io::{BufRead, BufReader, Cursor};
use std::path::Path;
use std::process::{Command, Stdio};

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use fieldledger_e2e::{CliDevice as Cli, Relay, RelayOptions, relay_binary};
use serde_json::Value;

fn relay() -> Relay {
    Relay::start_with_people(RelayOptions::default())
}

#[test]
fn demand_moves_along_its_status_with_its_response() {
    let relay = relay();
    let li = Cli::enroll(&relay, "li");
    let v = li.json(&[
        "visit",
        "add",
        "--date",
        "2019-10-05",
        "--visited",
        "王某户",
        "--demand",
        "路灯不亮",
    ]);
    let visit = v["id"].as_str().unwrap();
    let shown = li.json(&["visit", "show", visit]);
    let demand = shown["record"]["demands"][0]["id"].as_str().unwrap();
    let moved = li.json(&["visit", "demand", visit, demand, "--status", "办理中"]);
    assert_eq!(moved["status"], "in_hand");
    let err = li.fails(&["visit", "demand", visit, demand, "--status", "已解释答复"]);
    assert!(err.contains("答复情况"), "{err}");
    let done = li.json(&[
        "visit",
        "demand",
        visit,
        demand,
        "--status",
        "已解释答复",
        "--response",
        "已解释政策",
    ]);
    assert_eq!(done["status"], "answered");
    let err = li.fails(&["visit", "demand", visit, demand, "--status", "已登记"]);
    assert!(err.contains("cannot move"), "{err}");
    let d = &li.json(&["visit", "show", visit])["record"]["demands"][0];
    assert_eq!(d["status"], "answered");
    assert_eq!(d["response"], "已解释政策");
    // The relay takes the steps (the kinds' rules hold there too).
    let report = li.json(&["sync"]);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
}

#[test]
fn a_rectification_is_marked_by_the_unit_and_verified_by_the_office_only() {
    let relay = relay();
    let boss = Cli::enroll(&relay, "boss");
    let li = Cli::enroll(&relay, "li");
    let insp = boss.json(&[
        "inspection",
        "add",
        "--unit",
        "WJK",
        "--set",
        "inspected_on=2019-10-08",
        "--set",
        "检查类型=督查",
    ]);
    let id = insp["id"].as_str().unwrap();
    boss.ok(&[
        "inspection",
        "append",
        id,
        "问题清单",
        "--set",
        "problem=台账不全",
        "--set",
        "status=open",
    ]);
    boss.ok(&["sync"]);
    li.ok(&["sync"]);
    let problem = li.json(&["inspection", "show", id])["record"]["problems"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = li.fails(&["inspection", "verify", id, &problem]);
    assert!(err.contains("only the bureau office"), "{err}");
    let r = li.json(&["inspection", "rectify", id, &problem]);
    assert_eq!(r["status"], "rectified");
    assert_eq!(li.json(&["sync"])["rejected"].as_array().unwrap().len(), 0);
    boss.ok(&["sync"]);
    assert_eq!(
        boss.json(&["inspection", "verify", id, &problem])["status"],
        "verified"
    );
    boss.ok(&["sync"]);
    li.ok(&["sync"]);
    let p = &li.json(&["inspection", "show", id])["record"]["problems"][0];
    assert_eq!(p["status"], "verified");
}

#[test]
fn staff_draft_the_monthly_report_and_the_head_submits_it() {
    let relay = relay();
    let li = Cli::enroll(&relay, "li");
    let head = Cli::enroll(&relay, "wangke");
    let draft = li.json(&[
        "monthly",
        "draft",
        "--month",
        "2019-10",
        "--experience",
        "建立周研判机制",
    ]);
    assert_eq!(draft["state"], "draft");
    let err = li.fails(&["monthly", "submit", "--month", "2019-10"]);
    assert!(err.contains("only the unit head"), "{err}");
    li.ok(&["sync"]);
    head.ok(&["sync"]);
    let sub = head.json(&[
        "monthly",
        "submit",
        "--month",
        "2019-10",
        "--problems",
        "台账不规范",
        "--date",
        "2019-10-21",
    ]);
    assert_eq!(sub["state"], "submitted");
    let shown = head.json(&["monthly", "show", "--month", "2019-10"]);
    assert_eq!(shown["experience"], "建立周研判机制");
    assert_eq!(shown["problems"], "台账不规范");
    assert_eq!(shown["submitted_on"], "2019-10-21");
    assert_eq!(shown["submitted_by"], "王科长");
    head.ok(&["sync"]);
    // The report as the office reads it: submitted on time, with the form's heading.
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("月报.md");
    relay.admin(&[
        "export",
        "monthly",
        "--month",
        "2019-10",
        "--unit",
        "WJK",
        "--as-of",
        "2099-12-31",
        "-o",
        md.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("按时报送") && text.contains("活动经验做法"),
        "{text}"
    );
}

#[test]
fn the_unit_head_keeps_the_units_categories_and_visit_targets() {
    let relay = relay();
    let head = Cli::enroll(&relay, "wangke");
    let head2 = Cli::enroll(&relay, "wangke");
    let li = Cli::enroll(&relay, "li");
    for c in [&head, &head2, &li] {
        c.ok(&["sync"]);
    }
    // The same category added on two offline devices of the head: listed once.
    assert_eq!(
        head.json(&["unit", "category", "add", "疫苗接种"])["added"],
        true
    );
    assert_eq!(
        head2.json(&["unit", "category", "add", "疫苗接种"])["added"],
        true
    );
    assert_eq!(
        head.json(&["unit", "category", "add", "疫苗接种"])["added"],
        false
    );
    head.ok(&["sync"]);
    head2.ok(&["sync"]);
    head.ok(&["sync"]);
    li.ok(&["sync"]);
    for c in [&head, &li] {
        let all = c.json(&["unit", "category", "list"]);
        let n = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| *x == "疫苗接种")
            .count();
        assert_eq!(n, 1, "{all}");
        assert_eq!(
            c.json(&["unit", "show"])["categories"],
            serde_json::json!(["疫苗接种"])
        );
    }
    let err = li.fails(&["unit", "category", "add", "其他类型"]);
    assert!(err.contains("only the unit head"), "{err}");
    // A dispute of the new category is accepted on a staff device.
    li.ok(&[
        "dispute",
        "add",
        "--name",
        "接种纠纷",
        "--category",
        "疫苗接种",
    ]);

    let t = head.json(&[
        "unit",
        "target",
        "add",
        "--set",
        "编号=H01",
        "--set",
        "走访对象=刘某户",
    ]);
    let target = t["target"].as_str().unwrap();
    head.ok(&["unit", "target", "edit", target, "--set", "地点=三村"]);
    let err = head.fails(&[
        "unit",
        "target",
        "add",
        "--set",
        "code=H01",
        "--set",
        "name=另一户",
    ]);
    assert!(err.contains("编号"), "{err}");
    li.fails(&["unit", "target", "edit", target, "--set", "地点=四村"]);
    head.ok(&["sync"]);
    li.ok(&["sync"]);
    let targets = li.json(&["unit", "target", "list"]);
    assert_eq!(targets[0]["code"], "H01");
    assert_eq!(targets[0]["place"], "三村");
    assert!(head.json(&["unit", "category", "remove", "疫苗接种"])["removed"] == true);
}

fn xlsx_cells(bytes: Vec<u8>) -> Vec<String> {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    let sheet = wb.worksheet_range("统计表").unwrap();
    sheet
        .rows()
        .flat_map(|r| r.iter().cloned())
        .map(|c| match c {
            Data::String(s) => s,
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn an_open_conflict_is_exported_marked_and_resolves_by_label() {
    let relay = relay();
    let zhang = Cli::enroll(&relay, "zhang");
    let li = Cli::enroll(&relay, "li");
    let d = zhang.json(&[
        "dispute",
        "add",
        "--name",
        "张某医疗纠纷",
        "--category",
        "医疗卫生",
    ]);
    let id = d["id"].as_str().unwrap();
    zhang.ok(&["sync"]);
    li.ok(&["sync"]);
    zhang.ok(&["dispute", "set", id, "状态趋势", "基本稳定"]);
    li.ok(&["dispute", "set", id, "trend", "趋于缓和"]);
    zhang.ok(&["sync"]);
    li.ok(&["sync"]);
    zhang.ok(&["sync"]);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("台账.csv");
    let xlsx = dir.path().join("台账.xlsx");
    let export = |format: &str, path: &Path| {
        zhang.ok(&[
            "export",
            "ledger",
            "--format",
            format,
            "-o",
            path.to_str().unwrap(),
        ]);
        std::fs::read(path).unwrap()
    };
    let bytes = export("csv", &csv);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let marked = ["〔待裁决〕基本稳定", "〔待裁决〕趋于缓和"];
    assert!(marked.iter().any(|m| text.contains(m)), "{text}");
    assert_eq!(bytes, export("csv", &csv), "the same bytes every time");
    let cells = xlsx_cells(export("xlsx", &xlsx));
    assert!(
        cells.iter().any(|c| marked.contains(&c.as_str())),
        "{cells:?}"
    );
    // Resolved by the field's label, as by its key.
    zhang.ok(&["record", "resolve", id, "状态趋势", "趋于缓和"]);
    let text = String::from_utf8(export("csv", &csv)).unwrap();
    assert!(
        !text.contains("〔待裁决〕") && text.contains("趋于缓和"),
        "{text}"
    );
    let err = zhang.fails(&["record", "resolve", id, "状态趋势", "趋于缓和"]);
    assert!(err.contains("no conflict"), "{err}");
}

#[test]
fn unknown_filter_values_are_errors_and_errors_are_said_once() {
    let relay = relay();
    let zhang = Cli::enroll(&relay, "zhang");
    zhang.ok(&["dispute", "add", "--name", "纠纷", "--category", "医疗卫生"]);
    zhang.ok(&["sync"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    let out = out.to_str().unwrap();
    let err = zhang.fails(&["dispute", "list", "--status", "closed"]);
    assert!(err.contains("open or resolved"), "{err}");
    zhang.fails(&["dispute", "list", "--category", "不存在的类型"]);
    zhang.fails(&["export", "ledger", "--status", "closed", "-o", out]);
    for args in [
        &["export", "ledger", "--unit", "NOPE", "-o", out][..],
        &["export", "ledger", "--category", "不存在的类型", "-o", out],
        &[
            "export", "monthly", "--month", "2019-10", "--unit", "NOPE", "-o", out,
        ],
        &["export", "supervision", "--unit", "NOPE"],
    ] {
        let o = relay.try_admin(args);
        assert_eq!(o.status.code(), Some(1), "admin {args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("NOPE") && !err.contains("不存在"), "{err}");
    }
    assert!(!Path::new(out).exists(), "nothing was written");
    // A format clap knows is checked by clap: one message, the possible values.
    let o = relay.try_admin(&["export", "ledger", "--format", "pdf", "-o", out]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("pdf").count(), 1, "{err}");
    assert!(err.contains("csv, xlsx"), "{err}");
    // A core error through the relay's error type is said once.
    let err = zhang.fails(&["dispute", "set", "nope", "name", "x"]);
    assert_eq!(err.matches("nope").count(), 1, "{err}");
}

#[test]
fn help_lists_every_kinds_fields_with_labels_types_and_choices() {
    let relay = relay();
    let zhang = Cli::enroll(&relay, "zhang");
    for (kind, key, label, choice) in [
        ("risk", "decision", "决策事项", "passed 通过"),
        ("screening", "screened_on", "排查日期", "date YYYY-MM-DD"),
        ("inspection", "problems", "问题清单", "rectified 已整改"),
        ("petition", "origin", "案件来源", "上级交办"),
        ("dispute", "category", "类型", "one of the form's 17"),
        ("visit", "demands", "群众诉求", "answered 已解释答复"),
    ] {
        for cmd in ["add", "set"] {
            let help = zhang.ok(&[kind, cmd, "--help"]);
            assert!(
                help.contains(key) && help.contains(label) && help.contains(choice),
                "{kind} {cmd} --help:\n{help}"
            );
        }
    }
    let help = zhang.ok(&["unit", "target", "add", "--help"]);
    assert!(help.contains("编号") && help.contains("走访对象"), "{help}");
}

#[test]
fn admin_json_is_global_and_the_audit_names_the_os_user_and_failed_exports() {
    let relay = relay();
    let out = relay.admin(&["--json", "device", "enroll", "zhang"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["user_login"], "zhang");
    let out = relay.admin(&["device", "enroll", "li", "--json"]);
    assert!(serde_json::from_str::<Value>(&out).is_ok());

    let run_as = |user: Option<&str>, args: &[&str]| {
        let mut cmd = relay.admin_command();
        cmd.args(args);
        cmd.env_remove("USER").env_remove("USERNAME");
        if let Some(u) = user {
            cmd.env("USER", u);
        }
        cmd.output().unwrap()
    };
    assert!(
        run_as(Some("alice"), &["device", "enroll", "wu"])
            .status
            .success()
    );
    assert!(run_as(None, &["device", "enroll", "wu"]).status.success());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    let failed = run_as(
        Some("alice"),
        &[
            "export",
            "ledger",
            "--status",
            "closed",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(failed.status.code(), Some(1));
    let audit: Value =
        serde_json::from_str(&relay.admin(&["audit", "--json", "--limit", "1000"])).unwrap();
    let lines = audit.as_array().unwrap();
    let actors: Vec<&str> = lines
        .iter()
        .map(|l| l["actor_login"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&"cli:alice"), "{actors:?}");
    assert!(!actors.contains(&"cli:unknown"), "{actors:?}");
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"export.ledger_failed"), "{actions:?}");
    assert!(
        !actions.contains(&"export.ledger"),
        "a failed export is no export"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let relay = relay();
    for _ in 0..3 {
        relay.admin(&["device", "enroll", "zhang"]);
    }
    let mut child = Command::new(relay_binary())
        .arg("admin")
        .arg("--db")
        .arg(relay.db_path())
        .args(["audit", "--limit", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first line: like `… | head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn a_revoked_device_erases_itself_and_its_sync_fails() {
    let relay = relay();
    let zhang = Cli::enroll(&relay, "zhang");
    zhang.ok(&["dispute", "add", "--name", "未同步的纠纷"]);
    let device = zhang.json(&["whoami"])["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay.revoke(&device);
    let err = zhang.fails(&["sync"]);
    assert!(err.contains("revoked") && err.contains("erased"), "{err}");
    assert!(!zhang.store.exists(), "the store was erased");
}

#[test]
fn the_first_start_of_serve_says_where_the_dashboard_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let start = || {
        let mut child = Command::new(relay_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
        {
            let listening = line.starts_with("fieldledger relay listening on ");
            let welcomed = line.contains("set-password");
            lines.push(line);
            let new_db = lines[0].starts_with("New relay database");
            // The welcome, when there is one, comes right after the address.
            if welcomed || (listening && !new_db) {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        lines.join("\n")
    };
    let first = start();
    let addr = first
        .lines()
        .find_map(|l| l.strip_prefix("fieldledger relay listening on "))
        .unwrap_or_else(|| panic!("{first}"));
    assert!(first.contains(&format!("Dashboard: {addr}/ui/")), "{first}");
    assert!(first.contains("user set-password admin"), "{first}");
    let again = start();
    assert!(
        !again.contains("Dashboard:"),
        "only the first start: {again}"
    );
}
