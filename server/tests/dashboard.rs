//! The office dashboard (`/ui/…`): HTTP-level tests of sign-in, sessions, CSRF and scoping, and
//! an end-to-end test that drives a real headless Chromium (through chromedriver) against a
//! real relay on a loopback port, with real devices syncing before and after.
//!
//! The browser test needs Debian's `chromium` and `chromium-driver` packages
//! (`apt-get install -y chromium chromium-driver`). Without them it fails — it never skips.
//! Screenshots of the pages it visits are written to `$CARGO_TARGET_TMPDIR/dashboard-*.png`.

use std::io::Cursor;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use calamine::{Reader, Xlsx, open_workbook_from_rs};
use fantoccini::{Client, ClientBuilder, Locator};
use fieldledger_client::{enroll, sync_enrolled};
use fieldledger_core::model::unit::profile_id;
use fieldledger_core::{Edit, FieldValue, Record, RecordKind, Store};
use fieldledger_server::Role;
use fieldledger_server::accounts::{AccountRegistry, DEFAULT_OFFICE_CODE, Issuer, NewUser};
use fieldledger_server::app::{AppConfig, AppState, app, serve};
use fieldledger_server::database::Database;
use fieldledger_server::error::RelayError;
use fieldledger_server::records::RecordStorage;
use fieldledger_server::testing::{off_runtime, suite_database};
use tempfile::TempDir;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

/// A relay database with two units, people of every role, and disputes in both units.
struct Fixture {
    dir: TempDir,
    state: AppState,
    /// 张某医疗纠纷 (WJK, 医疗卫生, major).
    wjk_medical: String,
    /// 李某劳动争议 (WJK, 劳动就业).
    wjk_labour: String,
    /// 监督所的纠纷 (JKK, 医疗卫生, major).
    jkk_dispute: String,
    /// One-time enrollment codes for the devices of zhang and li (staff of WJK).
    zhang_code: String,
    li_code: String,
    /// 刘某信访积案 (WJK, resolved, led by the unit head boss).
    boss_case: String,
    /// 陈某信访积案 (WJK, resolved, led by 刘局长 (liu), a bureau leader).
    other_case: String,
    /// 监督所积案 (JKK).
    jkk_case: String,
    /// A visit of WJK (2019-10-06, 赵家) with one demand 修路 (已登记).
    visit: String,
    /// A bureau inspection (督查) of WJK with one problem 台账不全 (待整改).
    inspection: String,
}

fn user(accounts: &mut dyn AccountRegistry, login: &str, name: &str, unit: &str, role: Role) {
    accounts
        .add_user(
            "test",
            &NewUser {
                login: login.into(),
                name: name.into(),
                unit: unit.into(),
                role,
            },
        )
        .unwrap();
}

impl Fixture {
    /// A connection of the test's own to the relay's SQLite file (the database, or the local
    /// copy of a PostgreSQL deployment), to look at what the registry stored.
    fn relay_file(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("relay.db")).unwrap()
    }
}

fn fixture() -> Fixture {
    fixture_with(AppConfig::default())
}

/// The fixture on the suite's backend (a SQLite file, or PostgreSQL with
/// `FIELDLEDGER_TEST_BACKEND=postgres`), written as the relay writes: in the write turn.
fn fixture_with(config: AppConfig) -> Fixture {
    off_runtime(|| {
        let dir = tempfile::tempdir().unwrap();
        let database = suite_database(dir.path());
        database
            .write(|| Ok::<_, RelayError>(seeded(&database, dir, config)))
            .expect("the write turn")
    })
}

fn seeded(database: &Database, dir: TempDir, config: AppConfig) -> Fixture {
    let mut accounts = database.accounts().unwrap();
    accounts.ensure_bootstrap(DEFAULT_OFFICE_CODE).unwrap();
    let mut records = database.records().unwrap();
    records
        .ensure_unit_profile(DEFAULT_OFFICE_CODE, "领导小组办公室")
        .unwrap();
    for (code, name) in [("WJK", "疾控科"), ("JKK", "监督所")] {
        accounts.add_unit("test", code, name).unwrap();
        records.ensure_unit_profile(code, name).unwrap();
    }
    user(&mut accounts, "boss", "王科长", "WJK", Role::UnitHead);
    user(&mut accounts, "zhang", "张三", "WJK", Role::Staff);
    user(&mut accounts, "li", "李四", "WJK", Role::Staff);
    user(&mut accounts, "clerk", "赵文员", "WJK", Role::Staff);
    user(&mut accounts, "jboss", "周所长", "JKK", Role::UnitHead);
    user(
        &mut accounts,
        "liu",
        "刘局长",
        DEFAULT_OFFICE_CODE,
        Role::Leader,
    );
    for login in ["admin", "boss", "clerk", "jboss", "liu"] {
        accounts.set_password("test", login, PASSWORD).unwrap();
    }
    let zhang_code = accounts
        .create_enrollment(Issuer::Admin("test"), "zhang")
        .unwrap()
        .code;
    let li_code = accounts
        .create_enrollment(Issuer::Admin("test"), "li")
        .unwrap()
        .code;

    let store = records.store();
    let dispute = |store: &mut Store, unit: &str, edits: Vec<Edit>| {
        store
            .create(RecordKind::Dispute, Some(unit), &edits)
            .unwrap()
    };
    let flag = |k: &str, v: bool| Edit::set(k, FieldValue::Bool(v));
    let wjk_medical = dispute(
        store,
        "WJK",
        vec![
            Edit::text("name", "张某医疗纠纷"),
            Edit::text("category", "医疗卫生"),
            Edit::text("situation", "家属对治疗结果有异议，多次到医院反映。"),
            Edit::text("difficulties", "涉及医疗鉴定，责任认定周期长。"),
            Edit::text("trend", "stable"),
            Edit::text("leader", "王科长"),
            Edit::set("people_involved", FieldValue::Int(3)),
            flag("is_major", true),
            Edit::text("found_on", "2019-10-08"),
            Edit::text("deadline", "2019-11-08"),
        ],
    );
    store
        .edit(
            &wjk_medical,
            &[Edit::Append {
                list: "measures".into(),
                values: vec![
                    ("date".into(), FieldValue::text("2019-10-09")),
                    ("by".into(), FieldValue::text("张三")),
                    ("what".into(), FieldValue::text("上门沟通，解释鉴定流程")),
                ],
            }],
        )
        .unwrap();
    let wjk_labour = dispute(
        store,
        "WJK",
        vec![
            Edit::text("name", "李某劳动争议"),
            Edit::text("category", "劳动就业"),
            Edit::text("trend", "escalating"),
            Edit::set("people_involved", FieldValue::Int(12)),
            flag("is_group", true),
            Edit::text("found_on", "2019-10-12"),
        ],
    );
    dispute(
        store,
        "WJK",
        vec![
            Edit::text("name", "王某拆迁补偿"),
            Edit::text("category", "征地拆迁"),
            Edit::text("trend", "resolved"),
            flag("is_legacy", true),
            Edit::text("found_on", "2019-10-20"),
            Edit::text("resolved_on", "2019-10-28"),
        ],
    );
    let jkk_dispute = dispute(
        store,
        "JKK",
        vec![
            Edit::text("name", "监督所的纠纷"),
            Edit::text("category", "医疗卫生"),
            flag("is_major", true),
            Edit::text("found_on", "2019-10-15"),
        ],
    );
    // Visit targets and one visit, so the coverage chart has something to show.
    for (code, name) in [("T1", "王家村"), ("T2", "李家村")] {
        store
            .edit(
                &profile_id("WJK"),
                &[Edit::Append {
                    list: "visit_targets".into(),
                    values: vec![
                        ("code".into(), FieldValue::text(code)),
                        ("name".into(), FieldValue::text(name)),
                    ],
                }],
            )
            .unwrap();
    }
    store
        .create(
            RecordKind::Visit,
            Some("WJK"),
            &[
                Edit::text("visit_date", "2019-10-05"),
                Edit::text("round", "1"),
                Edit::text("method", "入户"),
                Edit::text("target", "T1"),
                Edit::text("visited_name", "王家村"),
            ],
        )
        .unwrap();
    let case = |store: &mut Store, unit: &str, title: &str, leader: &str| {
        store
            .create(
                RecordKind::Petition,
                Some(unit),
                &[
                    Edit::text("title", title),
                    Edit::text("origin", "assigned"),
                    Edit::text("leader", leader),
                    Edit::text("disposition", "solved"),
                    Edit::text("status", "resolved"),
                ],
            )
            .unwrap()
    };
    let boss_case = case(store, "WJK", "刘某信访积案", "boss");
    let other_case = case(store, "WJK", "陈某信访积案", "liu");
    let jkk_case = case(store, "JKK", "监督所积案", "jboss");
    let visit = store
        .create(
            RecordKind::Visit,
            Some("WJK"),
            &[
                Edit::text("visit_date", "2019-10-06"),
                Edit::text("round", "adhoc"),
                Edit::text("visited_name", "赵家"),
                Edit::Append {
                    list: "demands".into(),
                    values: vec![
                        ("content".into(), FieldValue::text("修路")),
                        ("status".into(), FieldValue::text("recorded")),
                    ],
                },
            ],
        )
        .unwrap();
    let inspection = store
        .create(
            RecordKind::Inspection,
            Some("WJK"),
            &[
                Edit::text("inspected_on", "2019-10-25"),
                Edit::text("kind", "bureau"),
                Edit::text("inspector", "管理员"),
                Edit::Append {
                    list: "problems".into(),
                    values: vec![
                        ("problem".into(), FieldValue::text("台账不全")),
                        ("deadline".into(), FieldValue::text("2019-11-10")),
                        ("status".into(), FieldValue::text("open")),
                    ],
                },
            ],
        )
        .unwrap();
    for (decision, result) in [("新院区建设", Some("conditional")), ("收费调整", None)] {
        let mut edits = vec![
            Edit::text("decision", decision),
            Edit::text("assessed_on", "2019-10-18"),
        ];
        edits.extend(result.map(|r| Edit::text("result", r)));
        if result == Some("conditional") {
            edits.push(Edit::text("conditions", "先完成征地补偿"));
        }
        store
            .create(RecordKind::RiskAssessment, Some("WJK"), &edits)
            .unwrap();
    }
    store
        .create(
            RecordKind::Screening,
            Some("WJK"),
            &[
                Edit::text("screened_on", "2019-10-15"),
                Edit::text("scope", "辖区各村"),
                Edit::set("found_nothing", FieldValue::Bool(true)),
            ],
        )
        .unwrap();
    let state = AppState::on_database(database, accounts, records, config);
    Fixture {
        boss_case,
        other_case,
        jkk_case,
        visit,
        inspection,
        dir,
        state,
        wjk_medical,
        wjk_labour,
        jkk_dispute,
        zhang_code,
        li_code,
    }
}

// ---- HTTP-level tests (no browser) ---------------------------------------------------------

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` header setting `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

async fn send(state: &AppState, req: Request<Body>) -> Answer {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(state: &AppState, uri: &str, cookie: &str) -> Answer {
    let req = Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    send(state, req).await
}

async fn post(state: &AppState, uri: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
    let req = Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(form).unwrap()))
        .unwrap();
    send(state, req).await
}

/// The value of the first hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// `name=value` of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Attempts a sign-in through the form, as a browser would.
async fn try_sign_in(state: &AppState, login: &str, password: &str) -> Answer {
    let form = get(state, "/ui/login", "").await;
    assert_eq!(form.status, StatusCode::OK);
    let login_cookie = cookie_pair(&form.set_cookie("fl_login_csrf").expect("login CSRF cookie"));
    let csrf = csrf_of(&form.body);
    post(
        state,
        "/ui/login",
        &login_cookie,
        &[
            ("login", login),
            ("password", password),
            ("csrf", &csrf),
            ("next", ""),
        ],
    )
    .await
}

/// Sends a request to a router built once (its dashboard rate limiters live as long as it).
async fn send_to(router: &axum::Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Attempts a sign-in through the form over a connection from `peer` that sends
/// `X-Forwarded-For: forwarded_for`, to one router built once.
async fn try_sign_in_via(
    router: &axum::Router,
    peer: SocketAddr,
    forwarded_for: &str,
    login: &str,
    password: &str,
) -> Answer {
    let via = |mut req: Request<Body>| {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        req.headers_mut()
            .insert("x-forwarded-for", forwarded_for.parse().unwrap());
        req
    };
    let form = send_to(
        router,
        via(Request::get("/ui/login").body(Body::empty()).unwrap()),
    )
    .await;
    if form.status != StatusCode::OK {
        return form;
    }
    let login_cookie = cookie_pair(&form.set_cookie("fl_login_csrf").expect("login CSRF cookie"));
    let csrf = csrf_of(&form.body);
    let body = serde_urlencoded::to_string([
        ("login", login),
        ("password", password),
        ("csrf", &csrf),
        ("next", ""),
    ])
    .unwrap();
    let req = Request::post("/ui/login")
        .header(header::COOKIE, login_cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send_to(router, via(req)).await
}

/// A signed-in session: its cookie and the CSRF token its pages carry.
struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(state: &AppState, login: &str) -> Session {
    let answer = try_sign_in(state, login, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let cookie = cookie_pair(&answer.set_cookie("fl_session").expect("session cookie"));
    let page = get(state, "/ui/ledger", &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    Session {
        cookie,
        csrf: csrf_of(&page.body),
    }
}

async fn people_involved(state: &AppState, id: &str) -> Option<i64> {
    let id = id.to_owned();
    state
        .with_record_reader(move |r| match r.record(&id)? {
            Record::Dispute(d) => Ok(d.people_involved),
            _ => unreachable!(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let f = fixture();
    let start = get(&f.state, "/", "").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let to_ledger = get(&f.state, start.location(), "").await;
    assert_eq!(to_ledger.status, StatusCode::SEE_OTHER);
    assert!(
        to_ledger.location().starts_with("/ui/login?next="),
        "{}",
        to_ledger.location()
    );

    let answer = try_sign_in(&f.state, "admin", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/ui/ledger");
    let set = answer.set_cookie("fl_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP without configuration");
    let id = cookie_pair(&set)["fl_session=".len()..].to_owned();
    assert_eq!(id.len(), 64, "32 random bytes as hex");
    let stored: Vec<String> = f
        .relay_file()
        .prepare("SELECT id_hash FROM acct_sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], id, "only a hash of the session id is stored");

    let cookie = cookie_pair(&set);
    let page = get(&f.state, "/ui/ledger", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    for label in [
        "序号",
        "名称",
        "类型",
        "基本情况",
        "工作措施",
        "处置难点",
        "状态趋势",
        "责任领导",
        "责任人",
        "备注情况",
        "所涉人数",
        "是否重大问题",
        "是否群体性问题",
        "是否跨区域问题",
        "是否历史遗留问题",
    ] {
        assert!(page.body.contains(&format!(">{label}</th>")), "{label}");
    }
    assert!(page.body.contains("张某医疗纠纷") && page.body.contains("监督所的纠纷"));
    assert_eq!(
        page.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store",
        "pages with personal data are not cached"
    );
    assert!(
        page.headers
            .get(header::CONTENT_SECURITY_POLICY)
            .is_some_and(|v| v.to_str().unwrap().contains("script-src 'self'"))
    );

    let csrf = csrf_of(&page.body);
    let out = post(&f.state, "/ui/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/ui/login");
    let cleared = out.set_cookie("fl_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = get(&f.state, "/ui/ledger", &cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "old cookie is dead");
    assert!(after.location().starts_with("/ui/login"));
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let f = fixture();
    let req = Request::get("/ui/login")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .unwrap();
    let form = send(&f.state, req).await;
    assert!(form.set_cookie("fl_login_csrf").unwrap().contains("Secure"));
}

#[tokio::test]
async fn bad_password_unknown_user_staff_and_a_forged_sign_in_are_refused() {
    let f = fixture();
    for (login, password) in [("admin", "wrong password"), ("nobody", PASSWORD)] {
        let answer = try_sign_in(&f.state, login, password).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{login}");
        assert!(answer.body.contains("用户名或密码错误"), "{}", answer.body);
        assert!(answer.set_cookie("fl_session").is_none());
    }
    let staff = try_sign_in(&f.state, "clerk", PASSWORD).await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN);
    assert!(staff.body.contains("仅供领导小组办公室和单位负责人使用"));
    assert!(staff.set_cookie("fl_session").is_none());

    // A sign-in posted from elsewhere carries no matching token: refused before the password
    // is even looked at.
    let forged = post(
        &f.state,
        "/ui/login",
        "",
        &[("login", "admin"), ("password", PASSWORD), ("csrf", "x")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.set_cookie("fl_session").is_none());
}

/// Behind a trusted reverse proxy, the dashboard's sign-in limit counts the client the proxy
/// names, not the proxy: one client's wrong passwords no longer lock out everyone else behind
/// the same proxy. A client that is not the proxy cannot choose its address by header.
#[tokio::test]
async fn behind_a_trusted_proxy_one_client_cannot_lock_out_another() {
    let proxy: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let f = fixture_with(AppConfig {
        trusted_proxies: vec![proxy.ip()],
        ..AppConfig::default()
    });
    // One router for the whole test, as `serve` builds it once: the dashboard's limiters
    // live in it.
    let relay = app(f.state.clone());
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let a = try_sign_in_via(&relay, proxy, "198.51.100.23", "admin", "wrong password").await;
        statuses.push(a.status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(
        statuses[10],
        StatusCode::TOO_MANY_REQUESTS,
        "client A hit the limit"
    );

    let b = try_sign_in_via(&relay, proxy, "192.0.2.7", "admin", PASSWORD).await;
    assert_eq!(
        b.status,
        StatusCode::SEE_OTHER,
        "client B behind the same proxy still signs in: {}",
        b.body
    );
    assert!(b.set_cookie("fl_session").is_some());

    // Not the proxy: X-Forwarded-For is ignored, so a new header value per try does not help.
    let direct: SocketAddr = "203.0.113.5:5000".parse().unwrap();
    let mut last = StatusCode::OK;
    for i in 0..11 {
        let forged = format!("192.0.2.{}", 100 + i);
        last = try_sign_in_via(&relay, direct, &forged, "admin", "wrong password")
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn every_post_needs_the_sessions_csrf_token() {
    let f = fixture();
    let s = sign_in(&f.state, "admin").await;
    let other = sign_in(&f.state, "boss").await;
    assert_ne!(s.csrf, other.csrf, "one token per session");
    let edit = format!("/ui/records/{}/edit", f.wjk_medical);
    for token in [None, Some("0".repeat(64)), Some(other.csrf.clone())] {
        let mut form = vec![("f.people_involved", "99"), ("o.people_involved", "")];
        if let Some(t) = &token {
            form.push(("csrf", t));
        }
        let answer = post(&f.state, &edit, &s.cookie, &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(answer.body.contains("表单已失效"));
    }
    assert_eq!(people_involved(&f.state, &f.wjk_medical).await, Some(3));
    let resolve = format!("/ui/records/{}/resolve", f.wjk_medical);
    let answer = post(
        &f.state,
        &resolve,
        &s.cookie,
        &[("field", "people_involved"), ("value", "99")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = post(&f.state, "/ui/logout", &s.cookie, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "logout needs it too");
    assert_eq!(
        get(&f.state, "/ui/ledger", &s.cookie).await.status,
        StatusCode::OK
    );
    let enroll = post(
        &f.state,
        "/ui/units/WJK/enroll",
        &s.cookie,
        &[("login", "zhang")],
    )
    .await;
    assert_eq!(enroll.status, StatusCode::FORBIDDEN);

    // With the token, the same edit goes through, recorded as the signed-in user.
    let answer = post(
        &f.state,
        &edit,
        &s.cookie,
        &[
            ("csrf", &s.csrf),
            ("f.people_involved", "99"),
            ("o.people_involved", ""),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(people_involved(&f.state, &f.wjk_medical).await, Some(99));
    let id = f.wjk_medical.clone();
    let last = f
        .state
        .with_record_reader(move |r| Ok(r.history(&id)?.pop().unwrap()))
        .await
        .unwrap();
    assert_eq!((last.user.as_str(), last.device.as_str()), ("admin", "web"));
    assert_eq!(last.fields, vec!["people_involved"]);
}

#[tokio::test]
async fn a_unit_head_sees_and_changes_only_the_unit() {
    let f = fixture();
    let s = sign_in(&f.state, "boss").await;
    let ledger = get(&f.state, "/ui/ledger", &s.cookie).await;
    assert!(ledger.body.contains("张某医疗纠纷"));
    assert!(!ledger.body.contains("监督所的纠纷"), "another unit leaked");
    assert!(!ledger.body.contains("name=\"unit\""), "no unit filter");
    let other = format!("/ui/records/{}", f.jkk_dispute);
    let page = get(&f.state, &other, &s.cookie).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("未找到该记录"));
    assert!(!page.body.contains("监督所的纠纷"));
    let unknown = get(&f.state, "/ui/records/no-such-record", &s.cookie).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.body, page.body,
        "unknown and out of scope look alike"
    );
    let edit = post(
        &f.state,
        &format!("{other}/edit"),
        &s.cookie,
        &[("csrf", &s.csrf), ("f.name", "改名"), ("o.name", "")],
    )
    .await;
    assert_eq!(edit.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&f.state, "/ui/ledger?unit=JKK", &s.cookie).await.status,
        StatusCode::FORBIDDEN
    );
    let csv = get(&f.state, "/ui/ledger/download?format=csv", &s.cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.contains("张某医疗纠纷") && !csv.body.contains("监督所的纠纷"));
    assert_eq!(
        get(&f.state, "/ui/units/JKK", &s.cookie).await.status,
        StatusCode::NOT_FOUND
    );
    let mine = get(
        &f.state,
        &format!("/ui/records/{}", f.wjk_labour),
        &s.cookie,
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("李某劳动争议"));
}

#[tokio::test]
async fn sessions_expire_when_idle() {
    let f = fixture();
    let s = sign_in(&f.state, "admin").await;
    f.relay_file()
        .execute(
            "UPDATE acct_sessions SET last_seen_at = '2000-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
    let answer = get(&f.state, "/ui/supervision", &s.cookie).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/ui/login?next=%2Fui%2Fsupervision");
}

#[tokio::test]
async fn pages_of_the_dashboard_render() {
    let f = fixture();
    let s = sign_in(&f.state, "admin").await;
    for (uri, expect) in [
        ("/ui/supervision", "逾期矛盾纠纷"),
        ("/ui/monthly?month=2019-10", "各单位月报报送情况"),
        ("/ui/monthly?month=2019-10&unit=WJK", "走访覆盖情况"),
        ("/ui/units", "监督所"),
        ("/ui/units/WJK", "张三"),
        ("/ui/ledger?category=医疗卫生&major=true", "张某医疗纠纷"),
    ] {
        let page = get(&f.state, uri, &s.cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        assert!(page.body.contains(expect), "{uri} lacks {expect}");
    }
    let filtered = get(
        &f.state,
        "/ui/ledger?category=医疗卫生&major=true",
        &s.cookie,
    )
    .await;
    assert!(!filtered.body.contains("李某劳动争议"));
    let xlsx = get(
        &f.state,
        "/ui/monthly/download?format=xlsx&month=2019-10&unit=WJK",
        &s.cookie,
    )
    .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    let code = post(
        &f.state,
        "/ui/units/WJK/enroll",
        &s.cookie,
        &[("csrf", &s.csrf), ("login", "zhang")],
    )
    .await;
    assert_eq!(code.status, StatusCode::OK);
    assert!(code.body.contains("id=\"new-code\""));
    let wrong_unit = post(
        &f.state,
        "/ui/units/JKK/enroll",
        &s.cookie,
        &[("csrf", &s.csrf), ("login", "zhang")],
    )
    .await;
    assert_eq!(
        wrong_unit.status,
        StatusCode::NOT_FOUND,
        "zhang is not in JKK"
    );
    let missing = get(&f.state, "/ui/nothing-here", &s.cookie).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<html"), "an HTML page, not JSON");
}

#[tokio::test]
async fn a_unit_head_issues_enrollment_codes_only_for_staff_of_the_unit() {
    let f = fixture();
    f.state
        .with_accounts(|a| {
            user(a, "wangju", "王局长", "WJK", Role::Leader);
            user(a, "jkkstaff", "钱五", "JKK", Role::Staff);
            user(a, "office2", "孙主任", "OFFICE", Role::Office);
            Ok(())
        })
        .await
        .unwrap();
    let codes_by_boss = || async {
        f.relay_file()
            .query_row(
                "SELECT count(*) FROM acct_enrollments WHERE created_by = 'boss'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    let head = sign_in(&f.state, "boss").await;
    let unit_page = get(&f.state, "/ui/units/WJK", &head.cookie).await;
    assert!(
        !unit_page.body.contains("name=\"login\" value=\"wangju\""),
        "no button for the leader"
    );
    // The leader of the unit, the unit head themselves: refused with a Chinese page.
    for login in ["wangju", "boss"] {
        let refused = post(
            &f.state,
            "/ui/units/WJK/enroll",
            &head.cookie,
            &[("csrf", &head.csrf), ("login", login)],
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{login}");
        assert!(
            refused
                .body
                .contains("只能为本单位的工作人员生成设备注册码"),
            "{login}: {}",
            refused.body
        );
        assert!(!refused.body.contains("new-code"));
    }
    // Office users and another unit's staff, through any unit path: refused.
    for (unit, login) in [
        ("WJK", "admin"),
        ("WJK", "office2"),
        ("OFFICE", "admin"),
        ("WJK", "jkkstaff"),
        ("JKK", "jkkstaff"),
    ] {
        let refused = post(
            &f.state,
            &format!("/ui/units/{unit}/enroll"),
            &head.cookie,
            &[("csrf", &head.csrf), ("login", login)],
        )
        .await;
        assert!(
            refused.status.is_client_error(),
            "{unit}/{login}: {}",
            refused.status
        );
        assert!(!refused.body.contains("new-code"), "{unit}/{login}");
    }
    assert_eq!(codes_by_boss().await, 0, "no code was made");
    // Staff of the unit: yes.
    let ok = post(
        &f.state,
        "/ui/units/WJK/enroll",
        &head.cookie,
        &[("csrf", &head.csrf), ("login", "zhang")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("id=\"new-code\""));
    assert_eq!(codes_by_boss().await, 1);
    // The office may issue one for the leader.
    let office = sign_in(&f.state, "admin").await;
    let for_leader = post(
        &f.state,
        "/ui/units/WJK/enroll",
        &office.cookie,
        &[("csrf", &office.csrf), ("login", "wangju")],
    )
    .await;
    assert_eq!(for_leader.status, StatusCode::OK, "{}", for_leader.body);
    assert!(for_leader.body.contains("id=\"new-code\""));
}

#[tokio::test]
async fn the_office_reads_the_audit_log_and_unit_heads_cannot() {
    let f = fixture();
    let s = sign_in(&f.state, "admin").await;
    // An export from the dashboard is itself logged.
    let csv = get(&f.state, "/ui/ledger/download?format=csv", &s.cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    let page = get(&f.state, "/ui/audit", &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("审计日志"));
    assert!(page.body.contains("export.ledger"), "{}", page.body);
    assert!(page.body.contains("web.sign_in"));
    assert!(
        page.body.contains("href=\"/ui/audit\""),
        "the office has the link"
    );
    let exports = get(&f.state, "/ui/audit?action=export.", &s.cookie).await;
    assert!(exports.body.contains("export.ledger"));
    assert!(!exports.body.contains("web.sign_in"), "filtered by action");
    let head = sign_in(&f.state, "boss").await;
    let refused = get(&f.state, "/ui/audit", &head.cookie).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let ledger = get(&f.state, "/ui/ledger", &head.cookie).await;
    assert!(
        !ledger.body.contains("/ui/audit"),
        "no link for a unit head"
    );
}

#[tokio::test]
async fn the_audit_page_is_paged_with_a_bounded_size() {
    let f = fixture();
    f.state
        .with_accounts(|a| {
            for i in 0..250 {
                a.log("test", "record.flood", &format!("洪水{i:03}"))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let s = sign_in(&f.state, "admin").await;
    let rows = |body: &str| {
        let table = body.split("id=\"audit\"").nth(1).unwrap();
        let table = table.split("</table>").next().unwrap();
        table.matches("<tr><td>").count()
    };
    let first = get(&f.state, "/ui/audit?action=record.", &s.cookie).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rows(&first.body), 100, "one page holds 100 entries");
    assert!(first.body.contains("洪水249") && !first.body.contains("洪水149"));
    let marker = "href=\"/ui/audit?action=record.&#38;before=";
    let start = first.body.find(marker).expect("a link to older entries") + "href=\"".len();
    let older = first.body[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let second = get(&f.state, &older, &s.cookie).await;
    assert_eq!(rows(&second.body), 100);
    assert!(second.body.contains("洪水149") && !second.body.contains("洪水249"));
    assert!(second.body.contains("id=\"audit-newest\""));
}

#[tokio::test]
async fn the_office_erases_personal_data_from_the_record_page() {
    let f = fixture();
    let uri = format!("/ui/records/{}", f.wjk_medical);
    let erase = format!("{uri}/erase");
    // A unit head sees no form and may not post it.
    let head = sign_in(&f.state, "boss").await;
    assert!(
        !get(&f.state, &uri, &head.cookie)
            .await
            .body
            .contains("erase-submit")
    );
    let refused = post(
        &f.state,
        &erase,
        &head.cookie,
        &[("csrf", &head.csrf), ("masks", "张某"), ("reason", "x")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let s = sign_in(&f.state, "admin").await;
    let page = get(&f.state, &uri, &s.cookie).await;
    assert!(
        page.body.contains("erase-submit"),
        "the office has the form"
    );
    // Without a CSRF token, or without a reason, nothing happens.
    let forged = post(
        &f.state,
        &erase,
        &s.cookie,
        &[("csrf", "forged"), ("masks", "张某"), ("reason", "x")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let no_reason = post(
        &f.state,
        &erase,
        &s.cookie,
        &[("csrf", &s.csrf), ("masks", "张某")],
    )
    .await;
    assert_eq!(
        no_reason.status,
        StatusCode::BAD_REQUEST,
        "{}",
        no_reason.body
    );
    assert!(
        get(&f.state, &uri, &s.cookie)
            .await
            .body
            .contains("张某医疗纠纷")
    );
    let done = post(
        &f.state,
        &erase,
        &s.cookie,
        &[
            ("csrf", &s.csrf),
            ("masks", "张某\n"),
            ("reason", "本人申请"),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let after = get(&f.state, &format!("{uri}?done=erased"), &s.cookie).await;
    assert!(after.body.contains("已删除个人信息"));
    assert!(after.body.contains("＊＊＊医疗纠纷"), "{}", after.body);
    assert!(!after.body.contains("张某医疗纠纷"));
    let audit = get(&f.state, "/ui/audit?action=record.erase", &s.cookie).await;
    assert!(audit.body.contains("本人申请"), "{}", audit.body);
}

// ---- the browser ---------------------------------------------------------------------------

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn record(state: &AppState, id: &str) -> Record {
    let id = id.to_owned();
    state
        .with_record_reader(move |r| Ok(r.record(&id)?))
        .await
        .unwrap()
}

/// The id of the first entry of a list of a record.
async fn first_entry(state: &AppState, id: &str, list: &str) -> String {
    let json = serde_json::to_value(record(state, id).await).unwrap();
    json[list][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn list_pages_are_scoped_like_the_ledger_and_refuse_unknown_filters() {
    let f = fixture();
    let office = sign_in(&f.state, "admin").await;
    for (uri, expect) in [
        ("/ui/visits", "赵家"),
        ("/ui/petitions", "监督所积案"),
        ("/ui/risks", "新院区建设"),
        ("/ui/screenings", "辖区各村"),
        ("/ui/inspections", "台账不全"),
    ] {
        let page = get(&f.state, uri, &office.cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        assert!(page.body.contains("id=\"records\""), "{uri}");
        assert!(
            page.body
                .contains(&format!("href=\"{uri}\" aria-current=\"page\"")),
            "{uri} is in the nav"
        );
        if uri != "/ui/inspections" {
            assert!(page.body.contains(expect), "{uri} lacks {expect}");
        }
    }
    let petitions = get(&f.state, "/ui/petitions", &office.cookie).await;
    for expect in [
        "刘某信访积案",
        "陈某信访积案",
        "监督所积案",
        "已化解",
        "监督所（JKK）",
    ] {
        assert!(petitions.body.contains(expect), "{expect}");
    }
    assert!(
        petitions
            .body
            .contains(&format!("/ui/records/{}", f.boss_case))
    );
    let jkk = get(&f.state, "/ui/petitions?unit=JKK", &office.cookie).await;
    assert!(jkk.body.contains("监督所积案") && !jkk.body.contains("刘某信访积案"));
    let risks = get(&f.state, "/ui/risks", &office.cookie).await;
    assert_eq!(
        risks.body.matches("不得出台实施").count(),
        2,
        "conditional and pending"
    );
    assert!(risks.body.contains("有条件通过") && risks.body.contains("尚无评估结论"));
    let open = get(&f.state, "/ui/risks?status=pending", &office.cookie).await;
    assert!(open.body.contains("收费调整") && !open.body.contains("新院区建设"));
    let inspections = get(&f.state, "/ui/inspections", &office.cookie).await;
    assert!(inspections.body.contains("整改未全部验收"));

    // Unknown filters are refused in Chinese, never read as "all".
    for (uri, expect) in [
        ("/ui/petitions?unit=NOPE", "没有代码为“NOPE”的单位"),
        ("/ui/petitions?status=bogus", "状态：没有“bogus”这一项"),
        ("/ui/visits?page=0", "页码"),
        ("/ui/visits?page=9", "没有第 9 页"),
        ("/ui/ledger?unit=NOPE", "没有代码为“NOPE”的单位"),
    ] {
        let page = get(&f.state, uri, &office.cookie).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.body.contains(expect), "{uri}: {}", page.body);
    }

    // A unit head: the unit only, no unit filter, another unit refused.
    let boss = sign_in(&f.state, "boss").await;
    let mine = get(&f.state, "/ui/petitions", &boss.cookie).await;
    assert!(mine.body.contains("刘某信访积案") && !mine.body.contains("监督所积案"));
    assert!(!mine.body.contains("name=\"unit\""), "no unit filter");
    let other = get(&f.state, "/ui/petitions?unit=JKK", &boss.cookie).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(other.body.contains("不在您的查看范围内"));
    let jboss = sign_in(&f.state, "jboss").await;
    let visits = get(&f.state, "/ui/visits", &jboss.cookie).await;
    assert!(!visits.body.contains("赵家"), "WJK's visit leaked to JKK");

    // A unit head who leads (包案领导) a case of another unit finds it on the list and opens it.
    let office = sign_in(&f.state, "admin").await;
    let page = get(
        &f.state,
        &format!("/ui/records/{}", f.other_case),
        &office.cookie,
    )
    .await;
    let csrf = csrf_of(&page.body);
    let named = post(
        &f.state,
        &format!("/ui/records/{}/edit", f.other_case),
        &office.cookie,
        &[("csrf", &csrf), ("f.leader", "jboss"), ("o.leader", "")],
    )
    .await;
    assert_eq!(named.status, StatusCode::SEE_OTHER, "{}", named.body);
    let led = get(&f.state, "/ui/petitions", &jboss.cookie).await;
    assert!(led.body.contains("陈某信访积案") && !led.body.contains("刘某信访积案"));
    assert!(led.body.contains("疾控科（WJK）"), "with its unit");
    let case = get(
        &f.state,
        &format!("/ui/records/{}", f.other_case),
        &jboss.cookie,
    )
    .await;
    assert_eq!(case.status, StatusCode::OK);
    assert!(
        case.body.contains("id=\"sign-off\""),
        "its leader may sign it off"
    );
    let still_out = get(
        &f.state,
        &format!("/ui/records/{}", f.boss_case),
        &jboss.cookie,
    )
    .await;
    assert_eq!(still_out.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_case_is_signed_off_by_its_leader_or_the_office_and_reopened_with_a_reason() {
    let f = fixture();
    let status = |r: Record| match r {
        Record::Petition(p) => p.status.map(|s| s.label()),
        _ => unreachable!(),
    };
    let boss = sign_in(&f.state, "boss").await;
    let case = format!("/ui/records/{}", f.boss_case);
    let page = get(&f.state, &case, &boss.cookie).await;
    assert!(
        page.body.contains("id=\"sign-off\""),
        "the leader sees 销号"
    );
    assert!(!page.body.contains("id=\"reopen\""));

    // The unit head who does not lead the other case: no button, and a forged post is refused.
    let other = format!("/ui/records/{}", f.other_case);
    let page = get(&f.state, &other, &boss.cookie).await;
    assert!(!page.body.contains("id=\"sign-off\""));
    assert!(
        page.body
            .contains("由包案领导（刘局长（liu））或领导小组办公室销号")
    );
    let refused = post(
        &f.state,
        &format!("{other}/sign-off"),
        &boss.cookie,
        &[("csrf", &boss.csrf), ("note", "想销号")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("只有该案件的包案领导或领导小组办公室可以销号或重新打开"),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("permission"),
        "no English on the page"
    );
    assert_eq!(
        status(record(&f.state, &f.other_case).await),
        Some("已化解")
    );

    // The unit head of another unit cannot even see the case.
    let jboss = sign_in(&f.state, "jboss").await;
    let outside = post(
        &f.state,
        &format!("{case}/sign-off"),
        &jboss.cookie,
        &[("csrf", &jboss.csrf), ("note", "")],
    )
    .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);

    // Without the CSRF token: refused.
    let forged = post(&f.state, &format!("{case}/sign-off"), &boss.cookie, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The leader signs off; the log and the history say who.
    let done = post(
        &f.state,
        &format!("{case}/sign-off"),
        &boss.cookie,
        &[("csrf", &boss.csrf), ("note", "诉求已解决")],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.location().contains("done=signed_off"));
    let Record::Petition(p) = record(&f.state, &f.boss_case).await else {
        unreachable!()
    };
    assert_eq!(p.status.map(|s| s.label()), Some("已销号"));
    let entry = p.signoffs.last().unwrap();
    assert_eq!(entry.action.as_deref(), Some("sign_off"));
    assert_eq!(entry.note.as_deref(), Some("诉求已解决"));
    assert_eq!(entry.entered_by, "boss");
    let page = get(&f.state, &case, &boss.cookie).await;
    assert!(page.body.contains("id=\"reopen\"") && !page.body.contains("id=\"sign-off\""));
    assert!(page.body.contains("诉求已解决"));

    // Reopening needs a reason.
    let no_reason = post(
        &f.state,
        &format!("{case}/reopen"),
        &boss.cookie,
        &[("csrf", &boss.csrf), ("note", " ")],
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("重新打开须填写原因"));
    let reopened = post(
        &f.state,
        &format!("{case}/reopen"),
        &boss.cookie,
        &[("csrf", &boss.csrf), ("note", "信访人再次来访")],
    )
    .await;
    assert_eq!(reopened.status, StatusCode::SEE_OTHER, "{}", reopened.body);
    assert_eq!(status(record(&f.state, &f.boss_case).await), Some("办理中"));
    let page = get(&f.state, &case, &boss.cookie).await;
    assert!(
        page.body.contains("id=\"signoff-hint\""),
        "open: sign-off only once resolved"
    );

    // A sign-off before the case is resolved is refused with the rule, in Chinese.
    let early = post(
        &f.state,
        &format!("{case}/sign-off"),
        &boss.cookie,
        &[("csrf", &boss.csrf), ("note", "")],
    )
    .await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        early.body.contains("只有已化解的案件才能销号"),
        "{}",
        early.body
    );

    // The office signs off any unit's case.
    let office = sign_in(&f.state, "admin").await;
    let page = get(&f.state, &other, &office.cookie).await;
    assert!(page.body.contains("id=\"sign-off\""));
    let done = post(
        &f.state,
        &format!("{other}/sign-off"),
        &office.cookie,
        &[("csrf", &office.csrf), ("note", "")],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        status(record(&f.state, &f.other_case).await),
        Some("已销号")
    );
    let jkk = get(
        &f.state,
        &format!("/ui/records/{}", f.jkk_case),
        &office.cookie,
    )
    .await;
    assert!(jkk.body.contains("id=\"sign-off\""));
}

#[tokio::test]
async fn a_responsible_leader_finds_and_signs_off_the_cases_they_lead_in_any_unit() {
    let f = fixture();
    let liu = sign_in(&f.state, "liu").await;
    let list = get(&f.state, "/ui/petitions", &liu.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body.contains("陈某信访积案"),
        "the case liu leads, in WJK"
    );
    assert!(!list.body.contains("刘某信访积案") && !list.body.contains("监督所积案"));
    let case = format!("/ui/records/{}", f.other_case);
    let page = get(&f.state, &case, &liu.cookie).await;
    assert!(page.body.contains("id=\"sign-off\""), "{}", page.body);
    let done = post(
        &f.state,
        &format!("{case}/sign-off"),
        &liu.cookie,
        &[("csrf", &liu.csrf), ("note", "包案领导销号")],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let Record::Petition(p) = record(&f.state, &f.other_case).await else {
        unreachable!()
    };
    assert_eq!(p.status.map(|s| s.label()), Some("已销号"));
    assert_eq!(p.signoffs.last().unwrap().entered_by, "liu");
    let not_led = get(
        &f.state,
        &format!("/ui/records/{}", f.boss_case),
        &liu.cookie,
    )
    .await;
    assert_eq!(
        not_led.status,
        StatusCode::NOT_FOUND,
        "a case liu does not lead"
    );
}

#[tokio::test]
async fn demands_move_forward_with_their_response_and_never_back() {
    let f = fixture();
    let boss = sign_in(&f.state, "boss").await;
    let visit = format!("/ui/records/{}", f.visit);
    let entry = first_entry(&f.state, &f.visit, "demands").await;
    let page = get(&f.state, &visit, &boss.cookie).await;
    for button in ["改为办理中", "改为已落实", "改为已解释答复"] {
        assert!(page.body.contains(button), "{button}");
    }
    let step = |to: &'static str, response: &'static str| {
        let (state, cookie, csrf, uri, entry) = (
            f.state.clone(),
            boss.cookie.clone(),
            boss.csrf.clone(),
            format!("{visit}/step"),
            entry.clone(),
        );
        async move {
            post(
                &state,
                &uri,
                &cookie,
                &[
                    ("csrf", &csrf),
                    ("list", "demands"),
                    ("entry", &entry),
                    ("to", to),
                    ("response", response),
                ],
            )
            .await
        }
    };
    let demand = || async {
        match record(&f.state, &f.visit).await {
            Record::Visit(v) => v.demands[0].clone(),
            _ => unreachable!(),
        }
    };
    let moved = step("in_hand", "").await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    assert_eq!(demand().await.status.map(|s| s.label()), Some("办理中"));
    let page = get(&f.state, &visit, &boss.cookie).await;
    assert!(!page.body.contains("改为办理中") && page.body.contains("改为已落实"));

    // 已解释答复 needs the response text: refused in Chinese, what was typed kept.
    let refused = step("answered", "").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("须填写答复情况"), "{}", refused.body);
    assert!(!refused.body.contains("not allowed"));

    let done = step("fulfilled", "已协调交通部门，月底前修好").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let d = demand().await;
    assert_eq!(d.status.map(|s| s.label()), Some("已落实"));
    assert_eq!(d.response, "已协调交通部门，月底前修好");
    let page = get(&f.state, &visit, &boss.cookie).await;
    assert!(page.body.contains("已办结") && !page.body.contains("改为已解释答复"));
    let back = step("in_hand", "").await;
    assert_eq!(back.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        back.body.contains("诉求的办理状态不能倒退"),
        "{}",
        back.body
    );
    assert_eq!(demand().await.status.map(|s| s.label()), Some("已落实"));
    let last = {
        let id = f.visit.clone();
        f.state
            .with_record_reader(move |r| Ok(r.history(&id)?.pop().unwrap()))
            .await
            .unwrap()
    };
    assert_eq!((last.user.as_str(), last.device.as_str()), ("boss", "web"));

    // Another unit's head cannot reach it.
    let jboss = sign_in(&f.state, "jboss").await;
    let outside = post(
        &f.state,
        &format!("{visit}/step"),
        &jboss.cookie,
        &[
            ("csrf", &jboss.csrf),
            ("list", "demands"),
            ("entry", &entry),
            ("to", "answered"),
        ],
    )
    .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rectifications_are_marked_by_the_unit_and_verified_by_the_office() {
    let f = fixture();
    let uri = format!("/ui/records/{}", f.inspection);
    let entry = first_entry(&f.state, &f.inspection, "problems").await;
    let problem = || async {
        let json = serde_json::to_value(record(&f.state, &f.inspection).await).unwrap();
        json["problems"][0]["status"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let step = |s: &Session, to: &str| {
        let form = [
            ("csrf", s.csrf.clone()),
            ("list", "problems".to_owned()),
            ("entry", entry.clone()),
            ("to", to.to_owned()),
        ];
        let (state, cookie, uri) = (f.state.clone(), s.cookie.clone(), format!("{uri}/step"));
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&state, &uri, &cookie, &form).await
        }
    };
    let boss = sign_in(&f.state, "boss").await;
    let page = get(&f.state, &uri, &boss.cookie).await;
    assert!(page.body.contains("标为已整改") && !page.body.contains("标为已验收"));
    let too_early = step(&boss, "verified").await;
    assert_eq!(too_early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        too_early.body.contains("督查由领导小组办公室记录"),
        "{}",
        too_early.body
    );
    let done = step(&boss, "rectified").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(problem().await, "rectified");
    let page = get(&f.state, &uri, &boss.cookie).await;
    assert!(page.body.contains("待领导小组办公室验收") && !page.body.contains("标为已验收"));
    let refused = step(&boss, "verified").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !refused.body.contains("only the bureau"),
        "no English on the page"
    );
    assert_eq!(problem().await, "rectified");

    let office = sign_in(&f.state, "admin").await;
    let page = get(&f.state, &uri, &office.cookie).await;
    assert!(page.body.contains("标为已验收"));
    let verified = step(&office, "verified").await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "{}", verified.body);
    assert_eq!(problem().await, "verified");
    let list = get(&f.state, "/ui/inspections?status=closed", &office.cookie).await;
    assert!(list.body.contains(&f.inspection), "closed once verified");
    let wrong = post(
        &f.state,
        &format!("{uri}/step"),
        &office.cookie,
        &[
            ("csrf", &office.csrf),
            ("list", "feedback"),
            ("entry", &entry),
            ("to", "open"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("没有这一项"), "{}", wrong.body);
}

#[tokio::test]
async fn the_unit_head_and_the_office_keep_the_units_categories_and_visit_targets() {
    let f = fixture();
    let boss = sign_in(&f.state, "boss").await;
    let ledger = get(&f.state, "/ui/ledger", &boss.cookie).await;
    assert!(
        ledger.body.contains("href=\"/ui/units/WJK/profile\""),
        "in the nav"
    );
    let unit = get(&f.state, "/ui/units/WJK", &boss.cookie).await;
    assert!(unit.body.contains("id=\"profile-link\""));
    let uri = "/ui/units/WJK/profile";
    let page = get(&f.state, uri, &boss.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for expect in [
        "自定义类型",
        "走访对象名单",
        "王家村",
        "李家村",
        "id=\"add-category\"",
    ] {
        assert!(page.body.contains(expect), "{expect}");
    }
    let categories = format!("{uri}/categories");
    let add = |name: &'static str| {
        let (state, cookie, csrf, uri) = (
            f.state.clone(),
            boss.cookie.clone(),
            boss.csrf.clone(),
            categories.clone(),
        );
        async move {
            post(
                &state,
                &uri,
                &cookie,
                &[("csrf", &csrf), ("action", "add"), ("name", name)],
            )
            .await
        }
    };
    let unit_categories = || async {
        f.state
            .with_record_reader(|r| Ok(r.categories("WJK")?))
            .await
            .unwrap()
    };
    let added = add("院感纠纷").await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert!(unit_categories().await.contains(&"院感纠纷".to_owned()));
    for (again, why) in [
        ("院感纠纷", "本单位已有类型"),
        ("医疗卫生", "已是表格所列的类型"),
    ] {
        let refused = add(again).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains(why), "{}", refused.body);
    }
    let ledger = get(&f.state, "/ui/ledger", &boss.cookie).await;
    assert!(
        ledger.body.contains("<option value=\"院感纠纷\""),
        "a category of the ledger"
    );

    // Visit targets: add one (编号 unique), change one.
    let targets = format!("{uri}/targets");
    let added = post(
        &f.state,
        &targets,
        &boss.cookie,
        &[
            ("csrf", &boss.csrf),
            ("t.code", "T3"),
            ("t.name", "张家村"),
            ("t.place", "东街"),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let duplicate = post(
        &f.state,
        &targets,
        &boss.cookie,
        &[("csrf", &boss.csrf), ("t.code", "T1"), ("t.name", "重复")],
    )
    .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(duplicate.body.contains("编号“T1”已在走访对象名单中"));
    let nameless = post(
        &f.state,
        &targets,
        &boss.cookie,
        &[("csrf", &boss.csrf), ("t.code", "T4"), ("t.name", "")],
    )
    .await;
    assert_eq!(nameless.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        nameless.body.contains("走访对象：不能为空"),
        "{}",
        nameless.body
    );
    let t1 = first_entry(&f.state, &profile_id("WJK"), "visit_targets").await;
    let changed = post(
        &f.state,
        &format!("{targets}/{t1}"),
        &boss.cookie,
        &[
            ("csrf", &boss.csrf),
            ("t.code", "T1"),
            ("t.name", "王家村（一组）"),
            ("t.kind", "户"),
            ("t.place", ""),
        ],
    )
    .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    let Record::UnitProfile(p) = record(&f.state, &profile_id("WJK")).await else {
        unreachable!()
    };
    let names: Vec<&str> = p.visit_targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["王家村（一组）", "李家村", "张家村"]);
    assert_eq!(p.visit_targets[0].kind.as_deref(), Some("户"));
    let last = {
        let id = profile_id("WJK");
        f.state
            .with_record_reader(move |r| Ok(r.history(&id)?.pop().unwrap()))
            .await
            .unwrap()
    };
    assert_eq!((last.user.as_str(), last.device.as_str()), ("boss", "web"));

    // The record page of the profile shows when a target was entered, never the epoch.
    let record_page = get(
        &f.state,
        &format!("/ui/records/{}", profile_id("WJK")),
        &boss.cookie,
    )
    .await;
    assert_eq!(record_page.status, StatusCode::OK);
    assert!(!record_page.body.contains("1970-01-01"), "no epoch times");
    assert!(
        record_page.body.contains("王科长（boss）"),
        "who entered T3"
    );

    let removed = post(
        &f.state,
        &categories,
        &boss.cookie,
        &[
            ("csrf", &boss.csrf),
            ("action", "remove"),
            ("name", "院感纠纷"),
        ],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(!unit_categories().await.contains(&"院感纠纷".to_owned()));

    // Another unit's head neither reads nor changes it; the office keeps every unit's.
    let jboss = sign_in(&f.state, "jboss").await;
    assert_eq!(
        get(&f.state, uri, &jboss.cookie).await.status,
        StatusCode::NOT_FOUND
    );
    let outside = post(
        &f.state,
        &categories,
        &jboss.cookie,
        &[("csrf", &jboss.csrf), ("action", "add"), ("name", "外单位")],
    )
    .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    let office = sign_in(&f.state, "admin").await;
    let jkk = post(
        &f.state,
        "/ui/units/JKK/profile/categories",
        &office.cookie,
        &[
            ("csrf", &office.csrf),
            ("action", "add"),
            ("name", "食品安全"),
        ],
    )
    .await;
    assert_eq!(jkk.status, StatusCode::SEE_OTHER, "{}", jkk.body);
    let forged = post(
        &f.state,
        "/ui/units/JKK/profile/categories",
        &office.cookie,
        &[("action", "add"), ("name", "伪造")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_unit_head_writes_and_submits_the_monthly_report() {
    let f = fixture();
    let boss = sign_in(&f.state, "boss").await;
    let page = get(&f.state, "/ui/monthly?month=2019-10", &boss.cookie).await;
    assert!(page.body.contains("id=\"submit-monthly\""), "{}", page.body);
    assert!(page.body.contains("未报送（逾期未报）"));
    assert!(page.body.contains("经验做法") && page.body.contains("存在问题"));
    let write = |s: &Session, unit: &str, action: &str| {
        let form = [
            ("csrf", s.csrf.clone()),
            ("unit", unit.to_owned()),
            ("month", "2019-10".to_owned()),
            ("experience", "坚持每周入户走访".to_owned()),
            ("problems", "部分对象联系不上".to_owned()),
            ("action", action.to_owned()),
        ];
        let (state, cookie) = (f.state.clone(), s.cookie.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&state, "/ui/monthly/write", &cookie, &form).await
        }
    };
    let draft = write(&boss, "WJK", "save").await;
    assert_eq!(draft.status, StatusCode::SEE_OTHER, "{}", draft.body);
    let page = get(&f.state, draft.location(), &boss.cookie).await;
    assert!(page.body.contains("坚持每周入户走访") && page.body.contains("未报送"));
    let submitted = write(&boss, "WJK", "submit").await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let page = get(&f.state, submitted.location(), &boss.cookie).await;
    assert!(page.body.contains("月报已报送"));
    assert!(
        page.body.contains("由 王科长 报送（逾期报送）"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"submit-monthly\""),
        "submitted once"
    );
    let Record::MonthlyReport(r) = record(&f.state, "monthly-WJK-2019-10").await else {
        unreachable!()
    };
    assert_eq!(r.submitted_by.as_deref(), Some("王科长"));
    assert_eq!(r.problems, "部分对象联系不上");

    // Another unit's head cannot write it; the office submits for any unit.
    let jboss = sign_in(&f.state, "jboss").await;
    let outside = write(&jboss, "WJK", "submit").await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN);
    let office = sign_in(&f.state, "admin").await;
    let page = get(
        &f.state,
        "/ui/monthly?month=2019-10&unit=JKK",
        &office.cookie,
    )
    .await;
    assert!(page.body.contains("id=\"submit-monthly\""));
    let for_jkk = write(&office, "JKK", "submit").await;
    assert_eq!(for_jkk.status, StatusCode::SEE_OTHER, "{}", for_jkk.body);
    let bureau = get(&f.state, "/ui/monthly?month=2019-10", &office.cookie).await;
    assert!(
        !bureau.body.contains("id=\"monthly-form\""),
        "the bureau view has no form"
    );
    let bad = write(&office, "NOPE", "submit").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refusals_on_the_record_page_are_in_chinese() {
    let f = fixture();
    let s = sign_in(&f.state, "admin").await;
    let edit = format!("/ui/records/{}/edit", f.wjk_medical);
    let answer = post(
        &f.state,
        &edit,
        &s.cookie,
        &[
            ("csrf", &s.csrf),
            ("f.people_involved", "-1"),
            ("o.people_involved", ""),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("所涉人数：不能是负数"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("negative"));
    let answer = post(
        &f.state,
        &edit,
        &s.cookie,
        &[
            ("csrf", &s.csrf),
            ("f.found_on", "2019-13-45"),
            ("o.found_on", ""),
        ],
    )
    .await;
    assert!(answer.body.contains("不是有效的日期"), "{}", answer.body);
    let risk = {
        let ids = f
            .state
            .with_record_reader(|r| Ok(r.list(RecordKind::RiskAssessment, None)?))
            .await
            .unwrap();
        ids.into_iter()
            .find(|s| s.title == "新院区建设")
            .unwrap()
            .id
    };
    let page = get(&f.state, &format!("/ui/records/{risk}"), &s.cookie).await;
    assert!(
        page.body.contains("有条件通过，条件落实前不得出台实施"),
        "{}",
        page.body
    );
    // Once its conditions are recorded as met, the decision may proceed.
    let csrf = csrf_of(&page.body);
    let met = post(
        &f.state,
        &format!("/ui/records/{risk}/edit"),
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("f.conditions_met", "是"),
            ("o.conditions_met", ""),
        ],
    )
    .await;
    assert_eq!(met.status, StatusCode::SEE_OTHER, "{}", met.body);
    let page = get(&f.state, &format!("/ui/records/{risk}"), &s.cookie).await;
    assert!(
        page.body.contains("条件已落实，可以出台实施"),
        "{}",
        page.body
    );
    let risks = get(&f.state, "/ui/risks", &s.cookie).await;
    assert_eq!(
        risks.body.matches("不得出台实施").count(),
        1,
        "only the pending one"
    );
    let signoffs = post(
        &f.state,
        &format!("/ui/records/{}/append", f.boss_case),
        &s.cookie,
        &[("csrf", &s.csrf), ("list", "signoffs"), ("e.note", "x")],
    )
    .await;
    assert_eq!(signoffs.status, StatusCode::BAD_REQUEST);
    assert!(signoffs.body.contains("销号请使用"), "{}", signoffs.body);
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start chromedriver ({e}). The dashboard test needs a real browser: \
                 apt-get install -y chromium chromium-driver"
            )
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

fn chromium_binary() -> Option<String> {
    std::env::var("CHROMIUM_BIN").ok().or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .map(str::to_owned)
    })
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let mut options = serde_json::json!({
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1440,1000",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": false,
        },
    });
    if let Some(binary) = chromium_binary() {
        options["binary"] = serde_json::Value::String(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("chromedriver starts a headless Chromium session")
}

/// A device of a staff member: its own store file, enrolled with the relay, syncing over HTTP.
fn device(dir: &Path, name: &str, relay: &str, code: &str) -> Store {
    let mut store = Store::open_encrypted(dir.join(format!("{name}.db")), &[9; 32]).unwrap();
    enroll(&mut store, relay, code, Some(name), None).unwrap();
    sync(&mut store);
    store
}

fn sync(store: &mut Store) {
    sync_enrolled(store, &mut |_| {}).unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn row_names(c: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for cell in c
        .find_all(Locator::Css("#ledger tbody td.name a"))
        .await
        .unwrap()
    {
        names.push(cell.text().await.unwrap());
    }
    names
}

async fn fill(c: &Client, css: &str, value: &str) {
    let input = c.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Clicks an element that loads a new page, and waits until the new page shows `then` (a mark
/// set on the old document tells the pages apart, since both may hold `then`).
async fn click_and_wait(c: &Client, css: &str, then: &str) {
    c.execute("document.documentElement.dataset.stale = '1';", vec![])
        .await
        .unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = c
            .execute(
                "return document.readyState === 'complete' \
                 && !document.documentElement.dataset.stale \
                 && document.querySelector(arguments[0]) !== null;",
                vec![serde_json::Value::String(then.to_owned())],
            )
            .await;
        // While the new page loads, scripts may fail to run: not ready yet.
        if matches!(ready, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after clicking {css}, no new page with {then}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in_browser(c: &Client, base: &str, login: &str) {
    c.goto(&format!("{base}/ui/login")).await.unwrap();
    fill(c, "#login", login).await;
    fill(c, "#password", PASSWORD).await;
    click_and_wait(c, "#sign-in", "#ledger").await;
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dashboard-{name}.png"));
    std::fs::write(&path, png).unwrap();
}

/// Fetches a URL from inside the page (with the browser's cookies): status and headers.
async fn fetch_in_page(c: &Client, url: &str) -> (u16, String, String) {
    let v = c
        .execute(
            "return fetch(arguments[0]).then(r => [r.status, \
             r.headers.get('content-type') || '', r.headers.get('content-disposition') || '']);",
            vec![serde_json::Value::String(url.to_owned())],
        )
        .await
        .unwrap();
    (
        v[0].as_u64().unwrap() as u16,
        v[1].as_str().unwrap().to_owned(),
        v[2].as_str().unwrap().to_owned(),
    )
}

fn wait_for_download(dir: &Path, ext: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == ext));
        if let Some(path) = done {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "no .{ext} file was downloaded into {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_sign_in_filter_resolve_edit_download_and_stay_in_scope() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, f.state.clone(), async {
        let _ = stopped.await;
    }));

    // Two staff devices edit 所涉人数 of the same dispute offline, then both sync: the relay
    // keeps both values as a conflict.
    let (relay, dir, id) = (base.clone(), work.path().to_owned(), f.wjk_medical.clone());
    let (zhang_code, li_code) = (f.zhang_code.clone(), f.li_code.clone());
    let mut zhang = tokio::task::spawn_blocking(move || {
        let mut zhang = device(&dir, "zhang", &relay, &zhang_code);
        let mut li = device(&dir, "li", &relay, &li_code);
        zhang
            .edit(&id, &[Edit::set("people_involved", FieldValue::Int(5))])
            .unwrap();
        li.edit(&id, &[Edit::set("people_involved", FieldValue::Int(8))])
            .unwrap();
        sync(&mut zhang);
        sync(&mut li);
        sync(&mut zhang);
        assert_eq!(zhang.conflicts(&id).unwrap().len(), 1);
        zhang
    })
    .await
    .unwrap();

    let driver = start_chromedriver();
    let downloads = work.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &work.path().join("profile"), &downloads).await;

    // Not signed in: the start page leads to the sign-in form.
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/login");
    fill(&c, "#login", "admin").await;
    fill(&c, "#password", "wrong password").await;
    click_and_wait(&c, "#sign-in", "#login-error").await;
    assert!(text(&c, "#login-error").await.contains("用户名或密码错误"));
    fill(&c, "#password", PASSWORD).await;
    click_and_wait(&c, "#sign-in", "#ledger").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/ledger");
    assert_eq!(row_names(&c).await.len(), 4, "the office sees both units");
    screenshot(&c, "ledger").await;

    // Filter: 类型 医疗卫生 and 是否重大问题 是.
    c.find(Locator::Css("#f-category"))
        .await
        .unwrap()
        .select_by_value("医疗卫生")
        .await
        .unwrap();
    c.find(Locator::Css("#f-major"))
        .await
        .unwrap()
        .select_by_value("true")
        .await
        .unwrap();
    click_and_wait(&c, "#apply-filters", "#ledger").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("major=true")
    );
    let mut names = row_names(&c).await;
    names.sort();
    assert_eq!(names, vec!["张某医疗纠纷", "监督所的纠纷"]);
    assert_eq!(text(&c, "#row-count").await, "2");

    // The table sorts in the browser, in pinyin order: 监 (jiān) before 张 (zhāng). The
    // ledger's own order (by unit) already puts 监督所 first, so descending is the proof.
    let name_header = c
        .find(Locator::XPath("//table[@id='ledger']//th[text()='名称']"))
        .await
        .unwrap();
    name_header.click().await.unwrap();
    assert_eq!(row_names(&c).await[0], "监督所的纠纷");
    name_header.click().await.unwrap();
    assert_eq!(
        name_header.attr("aria-sort").await.unwrap().as_deref(),
        Some("descending")
    );
    assert_eq!(row_names(&c).await[0], "张某医疗纠纷");

    // Download the filtered ledger as XLSX: the file the browser saved is the form's ledger.
    let href = c
        .find(Locator::Css("#download-xlsx"))
        .await
        .unwrap()
        .prop("href")
        .await
        .unwrap()
        .unwrap();
    let (status, content_type, disposition) = fetch_in_page(&c, &href).await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(disposition.starts_with("attachment;") && disposition.contains(".xlsx"));
    c.find(Locator::Css("#download-xlsx"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let file = tokio::task::spawn_blocking(move || wait_for_download(&downloads, "xlsx"))
        .await
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"PK"), "an XLSX (zip) file");
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let header = rows
        .iter()
        .position(|r| r.first().is_some_and(|c| c == "序号"))
        .expect("the form's header row");
    assert_eq!(rows[header][1], "名称");
    assert_eq!(rows[header][14], "是否历史遗留问题");
    let mut in_file: Vec<&str> = rows[header + 1..]
        .iter()
        .map(|r| r[1].as_str())
        .filter(|n| !n.is_empty())
        .collect();
    in_file.sort();
    assert_eq!(in_file, vec!["张某医疗纠纷", "监督所的纠纷"]);

    // The record with the conflict: both values, who set them, a button for each.
    c.goto(&format!("{base}/ui/records/{}", f.wjk_medical))
        .await
        .unwrap();
    let conflict = text(&c, "#conflicts").await;
    for expected in ["所涉人数", "5", "8", "张三（zhang）", "李四（li）"] {
        assert!(
            conflict.contains(expected),
            "{expected} missing: {conflict}"
        );
    }
    screenshot(&c, "record-conflict").await;
    click_and_wait(&c, "#conflicts button.choose[value='8']", "#notice").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("done=resolved")
    );
    assert!(
        c.find(Locator::Css("#conflicts")).await.is_err(),
        "resolved"
    );
    assert_eq!(text(&c, ".field[data-key='people_involved'] dd").await, "8");
    let newest = text(&c, "#history tbody tr").await;
    assert!(
        newest.contains("裁决冲突")
            && newest.contains("管理员（admin）")
            && newest.contains("网页工作台"),
        "{newest}"
    );

    // An edit from the page: 责任人.
    c.find(Locator::Css("#edit summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&c, "#f-responsible", "赵六").await;
    click_and_wait(&c, "#save", "#notice").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("done=saved")
    );
    assert_eq!(text(&c, ".field[data-key='responsible'] dd").await, "赵六");
    screenshot(&c, "record").await;

    // Both changes reach the device on its next sync, as ordinary changes by admin.
    let id = f.wjk_medical.clone();
    tokio::task::spawn_blocking(move || {
        sync(&mut zhang);
        let Record::Dispute(d) = zhang.record(&id).unwrap() else {
            unreachable!()
        };
        assert_eq!(d.people_involved, Some(8));
        assert_eq!(d.responsible.as_deref(), Some("赵六"));
        assert!(zhang.conflicts(&id).unwrap().is_empty());
        let history = zhang.history(&id).unwrap();
        let by_admin: Vec<_> = history.iter().filter(|h| h.user == "admin").collect();
        assert_eq!(by_admin.len(), 2, "{history:?}");
        assert!(by_admin.iter().all(|h| h.device == "web"));
    })
    .await
    .unwrap();

    // Other pages render in the browser too.
    c.goto(&format!("{base}/ui/supervision")).await.unwrap();
    c.find(Locator::Css("#supervision-summary")).await.unwrap();
    screenshot(&c, "supervision").await;
    c.goto(&format!("{base}/ui/monthly?month=2019-10&unit=WJK"))
        .await
        .unwrap();
    c.find(Locator::Css("#coverage-chart svg")).await.unwrap();
    screenshot(&c, "monthly").await;

    // The list pages of the other records, each in the nav.
    for (path, name) in [
        ("/ui/visits", "visits"),
        ("/ui/petitions", "petitions"),
        ("/ui/risks", "risks"),
        ("/ui/screenings", "screenings"),
        ("/ui/inspections", "inspections"),
    ] {
        click_and_wait(&c, &format!("nav a[href='{path}']"), "#records").await;
        assert_eq!(c.current_url().await.unwrap().path(), path);
        let rows: usize = text(&c, "#row-count").await.parse().unwrap();
        assert!(rows >= 1, "{path} lists nothing");
        screenshot(&c, name).await;
    }

    // From the visit list to the visit: its demand moves to 已落实 with the response.
    c.goto(&format!("{base}/ui/visits")).await.unwrap();
    click_and_wait(
        &c,
        &format!("#records tr[data-id='{}'] td.name a", f.visit),
        "#list-demands",
    )
    .await;
    fill(
        &c,
        "#list-demands form.step textarea[name='response']",
        "已协调修路",
    )
    .await;
    click_and_wait(
        &c,
        "#list-demands form.step button[value='fulfilled']",
        "#notice",
    )
    .await;
    let row = text(&c, "#list-demands tbody tr").await;
    assert!(
        row.contains("已落实") && row.contains("已协调修路") && row.contains("已办结"),
        "{row}"
    );
    screenshot(&c, "demand-fulfilled").await;

    // A resolved petition case, found by its status, signed off from its page.
    c.goto(&format!("{base}/ui/petitions")).await.unwrap();
    c.find(Locator::Css("#l-status"))
        .await
        .unwrap()
        .select_by_value("resolved")
        .await
        .unwrap();
    click_and_wait(&c, "#apply-filters", "#records").await;
    click_and_wait(
        &c,
        &format!("#records tr[data-id='{}'] td.name a", f.other_case),
        "#signoff",
    )
    .await;
    fill(&c, "#signoff-note", "经回访，信访人满意").await;
    click_and_wait(&c, "#sign-off", "#notice").await;
    assert_eq!(text(&c, "#case-status").await, "已销号");
    assert!(
        text(&c, "#list-signoffs")
            .await
            .contains("经回访，信访人满意")
    );
    c.find(Locator::Css("#reopen")).await.unwrap();
    screenshot(&c, "signed-off").await;

    // The office sets this year's campaign from the nav; supervision then names it.
    click_and_wait(&c, "nav a[href='/ui/campaigns']", "#in-force").await;
    assert!(text(&c, "#in-force").await.contains("尚未设置活动"));
    fill(&c, "#campaign-form input[name='name']", "2026年三大活动").await;
    c.execute(
        "document.querySelector(\"#campaign-form input[name='start']\").value = '2026-10-01';\
         document.querySelector(\"#campaign-form input[name='end']\").value = '2026-12-31';",
        vec![],
    )
    .await
    .unwrap();
    fill(
        &c,
        "#campaign-form textarea[name='rounds']",
        "1,第一轮,2026-10-31",
    )
    .await;
    click_and_wait(&c, "#campaign-submit", "#notice").await;
    assert!(text(&c, "#campaign-list").await.contains("2026年三大活动"));
    screenshot(&c, "campaigns").await;

    // Sign out: the ledger is closed again.
    c.goto(&format!("{base}/ui/ledger")).await.unwrap();
    click_and_wait(&c, "#logout", "#sign-in").await;
    c.goto(&format!("{base}/ui/ledger")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/login");

    // A unit head sees the unit only, and cannot open another unit's record.
    sign_in_browser(&c, &base, "boss").await;
    let mut names = row_names(&c).await;
    names.sort();
    assert_eq!(names, vec!["张某医疗纠纷", "李某劳动争议", "王某拆迁补偿"]);
    assert!(c.find(Locator::Css("#f-unit")).await.is_err());
    let other = format!("{base}/ui/records/{}", f.jkk_dispute);
    c.goto(&other).await.unwrap();
    assert_eq!(text(&c, "#error-heading").await, "未找到");
    assert!(!c.source().await.unwrap().contains("监督所的纠纷"));
    let (status, _, _) = fetch_in_page(&c, &other).await;
    assert_eq!(status, 404);
    screenshot(&c, "not-found").await;

    // The unit head marks the bureau's finding 已整改; the office verifies it later.
    c.goto(&format!("{base}/ui/records/{}", f.inspection))
        .await
        .unwrap();
    click_and_wait(
        &c,
        "#list-problems form.step button[value='rectified']",
        "#notice",
    )
    .await;
    assert!(
        text(&c, "#list-problems tbody tr")
            .await
            .contains("待领导小组办公室验收")
    );

    // The unit head writes and submits the unit's monthly report.
    c.goto(&format!("{base}/ui/monthly?month=2019-10"))
        .await
        .unwrap();
    fill(&c, "#m-experience", "坚持每周入户走访").await;
    fill(&c, "#m-problems", "部分对象联系不上").await;
    click_and_wait(&c, "#submit-monthly", "#notice").await;
    let submission = text(&c, "#submission").await;
    assert!(
        submission.contains("已报送") && submission.contains("王科长"),
        "{submission}"
    );
    assert_eq!(
        c.find(Locator::Css("#m-experience"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("坚持每周入户走访")
    );
    screenshot(&c, "monthly-submitted").await;

    // The unit's profile, from the nav: a category of its own.
    click_and_wait(&c, "nav a[href='/ui/units/WJK/profile']", "#categories").await;
    fill(&c, "#category-name", "院感纠纷").await;
    click_and_wait(&c, "#add-category-submit", "#notice").await;
    assert!(text(&c, "#category-list").await.contains("院感纠纷"));
    screenshot(&c, "profile").await;

    c.close().await.unwrap();
    drop(driver);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_office_sets_a_campaign_on_the_dashboard_and_everyone_reads_it() {
    let f = fixture();
    let office = sign_in(&f.state, "admin").await;
    let page = get(&f.state, "/ui/campaigns", &office.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("尚未设置活动"), "{}", page.body);
    assert!(page.body.contains("id=\"campaign-form\""));
    let form = |name: &'static str, end: &'static str, rounds: &'static str| {
        vec![
            ("name", name),
            ("start", "2026-10-01"),
            ("end", end),
            ("time_zone", "Asia/Shanghai"),
            ("monthly_due_day", "25"),
            ("rounds", rounds),
        ]
    };
    let post_form = |s: &Session, fields: Vec<(&'static str, &'static str)>| {
        let (state, cookie, csrf) = (f.state.clone(), s.cookie.clone(), s.csrf.clone());
        async move {
            let mut fields = fields;
            fields.push(("csrf", csrf.as_str()));
            post(&state, "/ui/campaigns", &cookie, &fields).await
        }
    };
    // A bad file of dates is said in Chinese and changes nothing.
    let bad = post_form(&office, form("2026年三大活动", "2026-09-01", "")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("结束日期早于开始日期"), "{}", bad.body);
    let bad = post_form(&office, form("2026年三大活动", "2026-12-31", "第一轮")).await;
    assert!(bad.body.contains("每行填写"), "{}", bad.body);

    let made = post_form(
        &office,
        form(
            "2026年三大活动",
            "2026-12-31",
            "1,第一轮,2026-10-31\n2，第二轮，2026-11-30",
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let page = get(&f.state, made.location(), &office.cookie).await;
    assert!(page.body.contains("已新建活动"));
    assert!(
        page.body.contains("第二轮（2）至 2026-11-30"),
        "{}",
        page.body
    );
    assert!(page.body.contains("每月25日前"));

    // The unit head reads it, and may not set one.
    let head = sign_in(&f.state, "boss").await;
    let page = get(&f.state, "/ui/campaigns", &head.cookie).await;
    assert!(page.body.contains("2026年三大活动"));
    assert!(!page.body.contains("id=\"campaign-form\""));
    let refused = post_form(&head, form("别的活动", "2026-12-31", "")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let supervision = get(&f.state, "/ui/supervision?as_of=2026-10-15", &head.cookie).await;
    assert!(
        supervision
            .body
            .contains("活动：2026年三大活动（2026-10-01 至 2026-12-31）")
    );
}
