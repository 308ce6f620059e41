//! Report endpoints of the relay: the ledger, monthly report, supervision and record views,
//! scoped like sync (the office sees every unit, a unit head only the unit).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fieldledger_core::{Edit, FieldValue, RecordKind, Store};
use fieldledger_server::Role;
use fieldledger_server::accounts::{DEFAULT_OFFICE_CODE, Issuer, NewUser};
use fieldledger_server::app::{AppConfig, AppState, app};
use fieldledger_server::database::Database;
use fieldledger_server::error::RelayError;
use fieldledger_server::records::RecordStorage;
use fieldledger_server::testing::{off_runtime, suite_database};
use tempfile::TempDir;
use tower::ServiceExt;

struct Fixture {
    _dir: TempDir,
    state: AppState,
    head_token: String,
    office_token: String,
    wjk_dispute: String,
    jkk_dispute: String,
}

/// The seeded relay state on the suite's backend (a SQLite file, or PostgreSQL with
/// `FIELDLEDGER_TEST_BACKEND=postgres`), written in the write turn as the relay writes.
fn seeded(
    database: &Database,
    more: impl FnOnce(&mut Store),
) -> (AppState, String, String, String, String) {
    let mut accounts = database.accounts().unwrap();
    let admin_code = accounts
        .ensure_bootstrap(DEFAULT_OFFICE_CODE)
        .unwrap()
        .unwrap();
    let mut records = database.records().unwrap();
    for (code, name) in [("WJK", "疾控科"), ("JKK", "监督所")] {
        accounts.add_unit("test", code, name).unwrap();
        records.ensure_unit_profile(code, name).unwrap();
    }
    accounts
        .add_user(
            "test",
            &NewUser {
                login: "boss".into(),
                name: "王科长".into(),
                unit: "WJK".into(),
                role: Role::UnitHead,
            },
        )
        .unwrap();
    let head_code = accounts
        .create_enrollment(Issuer::Admin("test"), "boss")
        .unwrap()
        .code;
    let store = records.store();
    let mut add = |unit: &str, name: &str, major: bool| {
        store
            .create(
                RecordKind::Dispute,
                Some(unit),
                &[
                    Edit::text("name", name),
                    Edit::text("category", "医疗卫生"),
                    Edit::set("is_major", FieldValue::Bool(major)),
                ],
            )
            .unwrap()
    };
    let wjk_dispute = add("WJK", "疾控科的纠纷", true);
    add("WJK", "疾控科的小纠纷", false);
    let jkk_dispute = add("JKK", "监督所的纠纷", true);
    more(store);
    let state = AppState::on_database(database, accounts, records, AppConfig::default());
    (state, admin_code, head_code, wjk_dispute, jkk_dispute)
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

/// The fixture with `more` records written into the seeded store.
async fn fixture_with(more: impl FnOnce(&mut Store) + Send) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (state, admin_code, head_code, wjk_dispute, jkk_dispute) = off_runtime(|| {
        let database = suite_database(dir.path());
        let (state, admin, head, wjk, jkk) = database
            .write(|| Ok::<_, RelayError>(seeded(&database, more)))
            .expect("the write turn");
        (state, admin, head, wjk, jkk)
    });
    let mut tokens = Vec::new();
    for (code, actor) in [
        (head_code, "0a0b0c0d0e0f00010203040506070809"),
        (admin_code, "1a1b1c1d1e1f10111213141516171819"),
    ] {
        let req = Request::post("/v1/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({"code": code, "actor_hex": actor}).to_string(),
            ))
            .unwrap();
        let (status, body) = call(&state, req).await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    Fixture {
        _dir: dir,
        state,
        office_token: tokens.pop().unwrap(),
        head_token: tokens.pop().unwrap(),
        wjk_dispute,
        jkk_dispute,
    }
}

async fn call(state: &AppState, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (
        status,
        axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
}

async fn get(f: &Fixture, token: &str, uri: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    call(&f.state, req).await
}

#[tokio::test]
async fn unit_head_gets_only_the_units_ledger() {
    let f = fixture().await;
    let (status, body) = get(&f, &f.head_token, "/v1/reports/ledger?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"\xEF\xBB\xBF"), "CSV starts with a BOM");
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("疾控科的纠纷") && text.contains("疾控科的小纠纷"));
    assert!(
        !text.contains("监督所的纠纷"),
        "another unit's dispute leaked: {text}"
    );
    let (status, body) = get(
        &f,
        &f.head_token,
        "/v1/reports/ledger?format=csv&major=true",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("疾控科的纠纷") && !text.contains("疾控科的小纠纷"),
        "filter applied"
    );
    let (status, _) = get(&f, &f.head_token, "/v1/reports/ledger?unit=JKK").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn office_gets_the_consolidated_ledger_as_xlsx() {
    let f = fixture().await;
    let req = Request::get("/v1/reports/ledger?format=xlsx")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.office_token))
        .body(Body::empty())
        .unwrap();
    let resp = app(f.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    assert_eq!(&body[..2], b"PK", "an XLSX (zip) file");
    let (status, csv) = get(&f, &f.office_token, "/v1/reports/ledger?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("监督所的纠纷") && csv.contains("疾控科的纠纷"));
    assert!(csv.lines().next().unwrap().contains("填报单位"));
}

#[tokio::test]
async fn records_and_history_are_scoped() {
    let f = fixture().await;
    let (status, body) = get(&f, &f.head_token, &format!("/v1/records/{}", f.wjk_dispute)).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["record"]["name"], "疾控科的纠纷");
    let (status, _) = get(&f, &f.head_token, &format!("/v1/records/{}", f.jkk_dispute)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another unit's record looks unknown"
    );
    let (status, body) = get(
        &f,
        &f.head_token,
        &format!("/v1/records/{}/history", f.wjk_dispute),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let h: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 1);
    let (status, _) = get(
        &f,
        &f.office_token,
        &format!("/v1/records/{}/history", f.jkk_dispute),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&f, &f.head_token, "/v1/records/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn monthly_and_supervision_views() {
    let f = fixture().await;
    // The fixture's records are written now (by the real clock): a report of 2019-10 sees
    // them only as of a later day; by default a past month is reported as of its end.
    let (status, body) = get(
        &f,
        &f.head_token,
        "/v1/reports/monthly?month=2019-10&format=md",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let md = String::from_utf8(body).unwrap();
    assert!(
        md.contains("截至：2019-10-31") && !md.contains("疾控科"),
        "{md}"
    );
    let (status, body) = get(
        &f,
        &f.head_token,
        "/v1/reports/monthly?month=2019-10&format=md&as_of=2099-12-31",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let md = String::from_utf8(body).unwrap();
    assert!(md.contains("疾控科") && md.contains("2019"), "{md}");
    let (status, body) = get(
        &f,
        &f.office_token,
        "/v1/reports/monthly?month=2019-10&format=json&as_of=2099-12-31",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v.to_string().contains("JKK") && v.to_string().contains("WJK"),
        "bureau view lists units"
    );
    let (status, _) = get(&f, &f.head_token, "/v1/reports/monthly?month=2019-13").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get(&f, &f.head_token, "/v1/supervision").await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let leaderless = v["without_leader"]["items"].as_array().unwrap();
    assert_eq!(
        leaderless.len(),
        2,
        "the unit's two disputes have no leader: {v}"
    );
    assert!(leaderless.iter().all(|i| i["unit"] == "WJK"));
}

#[tokio::test]
async fn the_ledger_download_neutralises_formulas_in_csv_and_keeps_them_text_in_xlsx() {
    let formula = "=HYPERLINK(\"http://evil.example\",\"点我\")";
    let f = fixture_with(move |store| {
        store
            .create(
                RecordKind::Dispute,
                Some("WJK"),
                &[
                    Edit::text("name", formula),
                    Edit::text("category", "医疗卫生"),
                    Edit::text("remarks", "@SUM(1+1)"),
                    Edit::set("people_involved", FieldValue::Int(7)),
                ],
            )
            .unwrap();
    })
    .await;
    let (status, body) = get(&f, &f.office_token, "/v1/reports/ledger?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("HYPERLINK"))
        .expect("the row is in the ledger");
    // The CSV quotes the cell (it holds quotes and a comma); inside, a `'` leads.
    assert!(
        line.contains(r#","'=HYPERLINK(""http://evil.example"",""点我"")","#),
        "{line}"
    );
    assert!(
        line.contains(",'@SUM(1+1),7,"),
        "所涉人数 stays a number: {line}"
    );

    let (status, body) = get(&f, &f.office_token, "/v1/reports/ledger?format=xlsx").await;
    assert_eq!(status, StatusCode::OK);
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(body)).unwrap();
    use calamine::Reader;
    let sheet = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&sheet).unwrap();
    assert!(
        range
            .used_cells()
            .any(|(_, _, v)| *v == calamine::Data::String(formula.into())),
        "the name is a text cell"
    );
    let formulas = wb.worksheet_formula(&sheet).unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()));
}

#[tokio::test]
async fn unknown_filter_values_are_refused_not_read_as_all() {
    let f = fixture().await;
    for uri in [
        "/v1/reports/ledger?status=closed",
        "/v1/reports/ledger?unit=NOPE",
        "/v1/reports/ledger?category=%E4%B8%8D%E5%AD%98%E5%9C%A8",
        "/v1/reports/monthly?month=2019-10&unit=NOPE",
        "/v1/supervision?unit=NOPE",
    ] {
        let (status, body) = get(&f, &f.office_token, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = v["message"].as_str().unwrap();
        assert!(
            !message.contains("NOPE") && !message.contains("不存在"),
            "{uri}: the message quotes the value: {message}"
        );
    }
    // Known values still select.
    let (status, body) = get(
        &f,
        &f.office_token,
        "/v1/reports/ledger?status=open&unit=JKK&category=%E5%8C%BB%E7%96%97%E5%8D%AB%E7%94%9F",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("监督所的纠纷"));
    // A unit head asking for another unit is refused as out of scope, as before.
    let (status, _) = get(&f, &f.head_token, "/v1/reports/ledger?unit=NOPE").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Only the export that succeeded is in the audit log as an export.
    let exports = f
        .state
        .with_accounts(|a| a.audit_page(Some("export.ledger"), None, 1_000))
        .await
        .unwrap();
    assert_eq!(exports.len(), 1, "{exports:?}");
}
