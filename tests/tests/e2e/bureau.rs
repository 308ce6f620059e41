//! A bureau runs this year's campaign end to end on a fresh relay, through every surface a
//! role uses: the admin command line (units, users, the campaign), command-line devices of
//! staff, unit heads and the office (targets, own categories, visits and demands, disputes,
//! a petition case, a risk assessment, screening rounds, a self-check and its rectification,
//! monthly reports), and the dashboard (the leader signs the case off). The supervision and
//! monthly figures then agree on the relay's command line, a device offline, the relay's
//! API and the dashboard. Dates are relative to today, so the campaign is always this year's
//! and under way.

use chrono::{Datelike, Duration, NaiveDate};
use fieldledger_core::model::Record;
use fieldledger_core::model::screening::HalfMonth;
use fieldledger_e2e::http::get;
use fieldledger_e2e::{CliDevice, DashboardSession, Relay, RelayOptions};
use serde_json::Value;

const PASSWORD: &str = "campaign-password-2026";

fn today() -> NaiveDate {
    // Days are counted in China Standard Time, as the campaign says.
    (chrono::Utc::now() + Duration::hours(8)).date_naive()
}

fn day(d: NaiveDate) -> String {
    d.to_string()
}

fn per_unit(view: &Value, unit: &str) -> u64 {
    view["per_unit"][unit].as_u64().unwrap_or(0)
}

#[test]
fn a_bureau_runs_this_years_campaign_end_to_end() {
    let today = today();
    let first_of_month = today.with_day(1).unwrap();
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let start = today - Duration::days(50);

    // --- The relay, its units and people, the campaign (admin command line).
    let mut relay = Relay::new(RelayOptions::default());
    for (code, name) in [
        ("WJK", "疾控科"),
        ("JKK", "卫生监督所"),
        ("ZYY", "区中医院"),
    ] {
        relay.add_unit(code, name);
    }
    for (login, unit, role, name) in [
        ("wangke", "WJK", "unit-head", "王科长"),
        ("zhang", "WJK", "staff", "张三"),
        ("jhead", "JKK", "unit-head", "金所长"),
        ("wu", "JKK", "staff", "吴五"),
        ("zhead", "ZYY", "unit-head", "赵院长"),
        ("liju", "OFFICE", "leader", "李局长"),
        ("boss", "OFFICE", "office", "办公室主任"),
    ] {
        relay.add_user(login, unit, role, name);
    }
    relay.set_password("liju", PASSWORD);
    relay.set_password("boss", PASSWORD);
    relay.start();
    let campaign = format!(
        "name = \"{year}年三大活动\"\nstart = {start}\nend = {end}\ntime_zone = \"Asia/Shanghai\"\n\
         monthly_due_day = 23\nscreening = \"half-monthly\"\n\
         [[rounds]]\ncode = \"1\"\nlabel = \"第一轮\"\nends_on = {r1}\n\
         [[rounds]]\ncode = \"2\"\nlabel = \"第二轮\"\nends_on = {r2}\n",
        year = today.year(),
        start = start,
        end = today + Duration::days(40),
        r1 = today - Duration::days(20),
        r2 = today + Duration::days(20),
    );
    let file = relay.db_path().with_file_name("campaign.toml");
    std::fs::write(&file, campaign).unwrap();
    relay.admin(&["campaign", "set", file.to_str().unwrap()]);

    let wangke = CliDevice::enroll(&relay, "wangke");
    let zhang = CliDevice::enroll(&relay, "zhang");
    let jhead = CliDevice::enroll(&relay, "jhead");
    let wu = CliDevice::enroll(&relay, "wu");
    let boss = CliDevice::enroll(&relay, "boss");

    // --- Unit heads keep their unit's visit targets and own categories.
    wangke.ok(&["sync"]);
    for (code, name) in [("T1", "王家村"), ("T2", "李家村")] {
        wangke.ok(&[
            "unit",
            "target",
            "add",
            "--set",
            &format!("code={code}"),
            "--set",
            &format!("name={name}"),
        ]);
    }
    wangke.ok(&["unit", "category", "add", "院感纠纷"]);
    wangke.ok(&["sync"]);

    // --- Staff visit a target; the demand raised is carried to 已落实.
    zhang.ok(&["sync"]);
    let users = zhang.json(&["users"]);
    let logins: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert!(
        logins.contains(&"liju") && logins.contains(&"wangke"),
        "{logins:?}"
    );
    assert!(
        !logins.contains(&"wu"),
        "another unit's staff are not offered"
    );
    let visit = zhang.json(&[
        "visit",
        "add",
        "--date",
        &day(first_of_month),
        "--visited",
        "王家村",
        "--round",
        "2",
        "--set",
        "target=T1",
        "--demand",
        "村口路灯不亮",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = zhang.json(&["visit", "show", &visit]);
    let demand = shown["record"]["demands"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    zhang.json(&["visit", "demand", &visit, &demand, "--status", "办理中"]);
    let done = zhang.json(&[
        "visit",
        "demand",
        &visit,
        &demand,
        "--status",
        "已落实",
        "--response",
        "已协调修复",
    ]);
    assert_eq!(done["status"], "fulfilled");
    // A target the unit does not have is refused where it is typed.
    let err = zhang.fails(&[
        "visit",
        "add",
        "--date",
        &day(first_of_month),
        "--visited",
        "某村",
        "--set",
        "target=T9",
    ]);
    assert!(err.contains("走访对象编号"), "{err}");

    // --- Disputes with deadlines, one of them overdue, in the unit's own category.
    let overdue = zhang.json(&[
        "dispute",
        "add",
        "--name",
        "患者家属医疗纠纷",
        "--category",
        "院感纠纷",
        "--found-on",
        &day(today - Duration::days(30)),
        "--deadline",
        &day(today - Duration::days(3)),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    zhang.ok(&[
        "dispute",
        "add",
        "--name",
        "邻里用水纠纷",
        "--category",
        "民生保障",
        "--found-on",
        &day(today - Duration::days(5)),
        "--deadline",
        &day(today + Duration::days(10)),
    ]);

    // --- A failed risk assessment: the decision must not proceed.
    zhang.ok(&[
        "risk",
        "add",
        "--set",
        "decision=医院整体搬迁",
        "--set",
        "result=failed",
        "--set",
        &format!("assessed_on={}", day(first_of_month)),
    ]);

    // --- Screening every half-month of the campaign, one missed by WJK; JKK every one; ZYY none.
    let due = HalfMonth::between(start, today - Duration::days(1));
    assert!(
        due.len() >= 2,
        "the campaign has half-months behind it: {due:?}"
    );
    let missed = due[1];
    for p in &due {
        if *p != missed {
            zhang.ok(&[
                "screening",
                "add",
                "--set",
                &format!("screened_on={}", p.start()),
                "--set",
                "found_nothing=是",
            ]);
        }
        wu.ok(&[
            "screening",
            "add",
            "--set",
            &format!("screened_on={}", p.start()),
            "--set",
            "found_nothing=是",
        ]);
    }

    // --- A self-check with a problem: the unit rectifies it, the office verifies it.
    let check = zhang.json(&[
        "inspection",
        "add",
        "--set",
        "kind=self_check",
        "--set",
        &format!("inspected_on={}", day(first_of_month)),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    zhang.ok(&[
        "record",
        "append",
        &check,
        "problems",
        "--set",
        "problem=走访台账不全",
        "--set",
        "requirement=补齐台账",
        "--set",
        &format!("deadline={}", day(today + Duration::days(7))),
        "--set",
        "status=open",
    ]);
    let problem = zhang.json(&["inspection", "show", &check])["record"]["problems"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    zhang.json(&["inspection", "rectify", &check, &problem]);
    zhang.ok(&["sync"]);
    wu.ok(&["sync"]);
    boss.ok(&["sync"]);
    let verified = boss.json(&["inspection", "verify", &check, &problem]);
    assert_eq!(verified["status"], "verified");
    boss.ok(&["sync"]);

    // --- A petition case: the unit head names its leader, the leader signs it off on the
    // dashboard.
    let case = wangke.json(&[
        "petition",
        "add",
        "--set",
        "title=刘某信访积案",
        "--set",
        "origin=上级交办",
        "--set",
        "leader=liju",
        "--set",
        "disposition=solved",
        "--set",
        "status=resolved",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wangke.ok(&["sync"]);
    let leader = DashboardSession::sign_in(&relay.url(), "liju", PASSWORD);
    let page = leader.get(&format!("/ui/records/{case}"));
    assert_eq!(page.status, 200);
    assert!(page.html.contains("sign-off"), "the leader is offered 销号");
    // Person fields are chosen from the directory of users: the unit's, the leaders, the office.
    assert!(
        page.html.contains("list=\"people\""),
        "a person field offers the users"
    );
    assert!(
        page.html.contains("<option value=\"liju\">李局长"),
        "{}",
        page.html
    );
    assert!(
        !page.html.contains("<option value=\"wu\">"),
        "not another unit's staff"
    );
    let signed = leader.post(
        &format!("/ui/records/{case}/sign-off"),
        &[("note", "化解到位，同意销号")],
    );
    assert_eq!(signed.status, 303, "{}", signed.html);
    match relay.records().record(&case).unwrap() {
        Record::Petition(p) => assert_eq!(p.status.map(|s| s.code()), Some("signed_off")),
        other => panic!("{other:?}"),
    }

    // --- Monthly reports: submitted by two of the three units, on the 1st.
    for head in [&wangke, &jhead] {
        head.ok(&["sync"]);
        head.ok(&[
            "monthly",
            "submit",
            "--month",
            &month,
            "--experience",
            "坚持每周研判。",
            "--problems",
            "走访台账仍不规范。",
            "--date",
            &day(first_of_month),
        ]);
        head.ok(&["sync"]);
    }
    // Staff may draft, not submit.
    assert!(
        zhang
            .fails(&["monthly", "submit", "--month", &month])
            .contains("unit head")
    );
    zhang.ok(&["sync"]);

    // --- The figures, on the relay's command line.
    let sup: Value = serde_json::from_str(&relay.admin(&["export", "supervision"])).unwrap();
    assert_eq!(
        sup["campaign"]["name"],
        format!("{}年三大活动", today.year())
    );
    assert_eq!(sup["campaign"]["set"], true);
    assert_eq!(sup["current_round"], "2");
    assert_eq!(per_unit(&sup["overdue_disputes"], "WJK"), 1);
    assert_eq!(sup["overdue_disputes"]["items"][0]["id"], overdue);
    let uncovered: Vec<&str> = sup["uncovered_targets"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["unit"] == "WJK")
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    assert_eq!(uncovered, ["T2"], "T1 was visited in round 2");
    assert_eq!(per_unit(&sup["missing_screenings"], "WJK"), 1);
    let wjk_missed: Vec<&Value> = sup["missing_screenings"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["unit"] == "WJK")
        .collect();
    assert_eq!(wjk_missed[0]["label"], missed.to_string());
    assert_eq!(per_unit(&sup["missing_screenings"], "JKK"), 0);
    assert_eq!(
        per_unit(&sup["missing_screenings"], "ZYY"),
        due.len() as u64
    );
    assert_eq!(per_unit(&sup["blocked_decisions"], "WJK"), 1);
    assert_eq!(
        sup["blocked_decisions"]["items"][0]["decision"],
        "医院整体搬迁"
    );
    assert_eq!(
        sup["overdue_rectifications"]["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        per_unit(&sup["without_leader"], "WJK"),
        2,
        "both disputes lack a 责任领导"
    );

    let out = relay.db_path().with_file_name("monthly.json");
    relay.admin(&[
        "export",
        "monthly",
        "--month",
        &month,
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    let bureau: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let status = |unit: &str| {
        bureau["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["unit"] == unit)
            .map(|u| u["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("WJK").as_deref(), Some("on_time"));
    assert_eq!(status("JKK").as_deref(), Some("on_time"));
    let zyy = status("ZYY").unwrap();
    assert!(zyy == "pending" || zyy == "missing", "{zyy}");
    relay.admin(&[
        "export",
        "monthly",
        "--month",
        &month,
        "--unit",
        "WJK",
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    let wjk: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(wjk["demands_collected"], 1);
    assert_eq!(wjk["demands_done"], 1);
    assert_eq!(wjk["signed_off"].as_array().unwrap().len(), 1);
    assert_eq!(wjk["not_to_proceed"][0], "医院整体搬迁");
    assert_eq!(wjk["submission"]["status"], "on_time");
    assert_eq!(wjk["experience"], "坚持每周研判。");

    // --- The same figures on a unit head's device, offline (its own unit only).
    wangke.ok(&["sync"]);
    let offline: Value = serde_json::from_str(&wangke.ok(&["export", "supervision"])).unwrap();
    for view in [
        "overdue_disputes",
        "uncovered_targets",
        "missing_screenings",
        "blocked_decisions",
    ] {
        assert_eq!(
            per_unit(&offline[view], "WJK"),
            per_unit(&sup[view], "WJK"),
            "{view} on the device"
        );
        assert_eq!(per_unit(&offline[view], "JKK"), 0, "{view}: another unit");
    }
    assert_eq!(offline["campaign"], sup["campaign"]);

    // --- On the relay's API (the office's device token) and the dashboard.
    let token = {
        let store = fieldledger_core::Store::open(&boss.store).unwrap();
        store.identity().unwrap().token.clone().unwrap()
    };
    let api = get(&relay.url(), "/v1/supervision", Some(&token)).json();
    assert_eq!(api["blocked_decisions"], sup["blocked_decisions"]);
    assert_eq!(
        api["missing_screenings"]["per_unit"],
        sup["missing_screenings"]["per_unit"]
    );
    let office = DashboardSession::sign_in(&relay.url(), "boss", PASSWORD);
    let page = office.get("/ui/supervision");
    assert_eq!(page.status, 200);
    for text in [
        format!("{}年三大活动", today.year()),
        "不得出台实施的决策事项（1）".to_owned(),
        "医院整体搬迁".to_owned(),
        "逾期矛盾纠纷（1）".to_owned(),
        "患者家属医疗纠纷".to_owned(),
        format!("缺失的半月排查（{}）", 1 + due.len()),
    ] {
        assert!(
            page.html.contains(&text),
            "the supervision page shows {text}"
        );
    }
    let page = office.get(&format!("/ui/monthly?month={month}"));
    assert_eq!(page.status, 200);
    assert!(page.html.contains("按时报送"), "{}", page.html);
}
