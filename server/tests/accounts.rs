//! Accounts over HTTP and from the command line: enrollment, tokens, revocation, limits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fieldledger_server::accounts::{AccountStore, DEFAULT_OFFICE_CODE, Issuer, NewUser};
use fieldledger_server::app::{AppConfig, AppState, app};
use fieldledger_server::error::RelayError;
use fieldledger_server::rate_limit::Rate;
use fieldledger_server::testing::{off_runtime, suite_database};
use fieldledger_server::{Role, serve};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

const ACTOR_A: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const ACTOR_B: &str = "ffeeddccbbaa99887766554433221100";

/// An application over a fresh relay database on the suite's backend (a SQLite file, or
/// PostgreSQL with `FIELDLEDGER_TEST_BACKEND=postgres`) with units OFFICE, WJK and JKK, and user
/// `zhang` (staff, WJK). Returns the state, the admin's bootstrap code and the directory
/// holding the database (removed when dropped).
fn setup(config: AppConfig) -> (AppState, String, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (state, admin_code) = off_runtime(|| {
        let database = suite_database(dir.path());
        let mut store = database.accounts().unwrap();
        let records = database.records().unwrap();
        let admin_code = database
            .write(|| {
                let code = store.ensure_bootstrap(DEFAULT_OFFICE_CODE)?.unwrap();
                store.add_unit("test", "WJK", "疾控科")?;
                store.add_unit("test", "JKK", "监督所")?;
                store.add_user(
                    "test",
                    &NewUser {
                        login: "zhang".into(),
                        name: "张三".into(),
                        unit: "WJK".into(),
                        role: Role::Staff,
                    },
                )?;
                Ok::<_, RelayError>(code)
            })
            .unwrap();
        let state = AppState::on_database(&database, store, records, config);
        (state, admin_code)
    });
    (state, admin_code, dir)
}

async fn enrollment_code(state: &AppState, login: &'static str) -> String {
    state
        .with_accounts(move |s| s.create_enrollment(Issuer::Admin("test"), login))
        .await
        .unwrap()
        .code
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if is_json {
        serde_json::from_slice(&bytes).unwrap()
    } else {
        Value::String(String::from_utf8(bytes.to_vec()).unwrap())
    };
    (status, body)
}

fn post_json(uri: &str, body: &Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get_auth(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn enroll(state: &AppState, code: &str, actor: &str) -> (StatusCode, Value) {
    call(
        state,
        post_json(
            "/v1/enroll",
            &json!({"code": code, "actor_hex": actor, "device_label": "张三的手机"}),
        ),
    )
    .await
}

#[tokio::test]
async fn health_answers_ok() {
    let (state, _, _dir) = setup(AppConfig::default());
    let (status, body) = call(&state, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn enroll_then_whoami_and_units_in_scope() {
    let (state, _, _dir) = setup(AppConfig::default());
    let code = enrollment_code(&state, "zhang").await;
    let (status, enrolled) = enroll(&state, &code, ACTOR_A).await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    assert_eq!(enrolled["device_code"], "D1");
    assert_eq!(enrolled["user_login"], "zhang");
    assert_eq!(enrolled["user_name"], "张三");
    assert_eq!(enrolled["unit"], "WJK");
    assert_eq!(enrolled["role"], "staff");
    let token = enrolled["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);

    let (status, me) = call(&state, get_auth("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["device_id"], enrolled["device_id"]);
    assert_eq!(me["device_code"], "D1");
    assert_eq!(me["actor_hex"], ACTOR_A);
    assert_eq!(me["user_login"], "zhang");
    assert_eq!(me["unit"], "WJK");
    assert_eq!(me["role"], "staff");

    let (status, units) = call(&state, get_auth("/v1/units", &token)).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = units
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["WJK"], "staff sees only their own unit");
}

#[tokio::test]
async fn office_sees_all_units() {
    let (state, admin_code, _dir) = setup(AppConfig::default());
    let (status, enrolled) = enroll(&state, &admin_code, ACTOR_A).await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    assert_eq!(enrolled["role"], "office");
    let token = enrolled["token"].as_str().unwrap();
    let (_, units) = call(&state, get_auth("/v1/units", token)).await;
    let codes: Vec<&str> = units
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["OFFICE", "JKK", "WJK"]);
}

#[tokio::test]
async fn enrollment_code_is_single_use_over_http() {
    let (state, _, _dir) = setup(AppConfig::default());
    let code = enrollment_code(&state, "zhang").await;
    let (first, _) = enroll(&state, &code, ACTOR_A).await;
    assert_eq!(first, StatusCode::OK);
    let (second, body) = enroll(&state, &code, ACTOR_B).await;
    assert_eq!(second, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_enrollment_code");
    assert!(body["message"].as_str().unwrap().contains("new one"));
}

#[tokio::test]
async fn wrong_code_and_reused_actor_are_refused() {
    let (state, _, _dir) = setup(AppConfig::default());
    let (status, body) = enroll(&state, "ZZZZZZZZ", ACTOR_A).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_enrollment_code");

    let code = enrollment_code(&state, "zhang").await;
    enroll(&state, &code, ACTOR_A).await;
    let code = enrollment_code(&state, "zhang").await;
    let (status, body) = enroll(&state, &code, ACTOR_A).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "duplicate_actor");
}

#[tokio::test]
async fn malformed_enroll_bodies_get_json_400() {
    let (state, _, _dir) = setup(AppConfig::default());
    let (status, body) = call(&state, post_json("/v1/enroll", &json!({"code": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("actor_hex"),
        "{body}"
    );

    let not_json = Request::post("/v1/enroll")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, body) = call(&state, not_json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");
}

#[tokio::test]
async fn missing_or_unknown_token_is_401() {
    let (state, _, _dir) = setup(AppConfig::default());
    let request = Request::get("/v1/whoami").body(Body::empty()).unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");

    let (status, body) = call(&state, get_auth("/v1/whoami", &"ab".repeat(32))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    let (status, _) = call(&state, get_auth("/v1/units", "garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoked_device_is_403_device_revoked() {
    let (state, _, _dir) = setup(AppConfig::default());
    let code = enrollment_code(&state, "zhang").await;
    let (_, enrolled) = enroll(&state, &code, ACTOR_A).await;
    let token = enrolled["token"].as_str().unwrap().to_owned();
    let (status, _) = call(&state, get_auth("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::OK);

    let device_id = enrolled["device_id"].as_str().unwrap().to_owned();
    state
        .with_accounts(move |s| s.revoke_device("test", &device_id))
        .await
        .unwrap();
    let (status, body) = call(&state, get_auth("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "device_revoked");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn oversized_bodies_get_json_413() {
    let config = AppConfig {
        max_body_bytes: 1024,
        ..AppConfig::default()
    };
    let (state, admin_code, _dir) = setup(config);
    let big_label = "x".repeat(4096);
    let body = json!({"code": admin_code, "actor_hex": ACTOR_A, "device_label": big_label});

    // Declared length over the limit: refused before the body is read.
    let text = body.to_string();
    let declared = Request::post("/v1/enroll")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, text.len())
        .body(Body::from(text))
        .unwrap();
    let (status, answer) = call(&state, declared).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"], "payload_too_large");

    // No declared length (as when streamed): refused while reading.
    let (status, answer) = call(&state, post_json("/v1/enroll", &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"], "payload_too_large");

    // Nothing was enrolled, and the code still works with a small body.
    let (status, _) = enroll(&state, &admin_code, ACTOR_A).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let (state, _, _dir) = setup(AppConfig::default());
    let (status, body) = call(&state, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let (status, body) = call(
        &state,
        Request::get("/v1/enroll").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn device_rate_limit_answers_429() {
    let config = AppConfig {
        device_rate: Some(Rate::new(0.001, 2)),
        ..AppConfig::default()
    };
    let (state, admin_code, _dir) = setup(config);
    let (_, enrolled) = enroll(&state, &admin_code, ACTOR_A).await;
    let token = enrolled["token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, _) = call(&state, get_auth("/v1/whoami", &token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = app(state.clone())
        .oneshot(get_auth("/v1/whoami", &token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));

    // Another device has its own budget.
    let code = enrollment_code(&state, "zhang").await;
    let (_, other) = enroll(&state, &code, ACTOR_B).await;
    let (status, _) = call(
        &state,
        get_auth("/v1/whoami", other["token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn address_rate_limit_applies_to_unauthenticated_requests() {
    let config = AppConfig {
        address_rate: Some(Rate::new(0.001, 3)),
        ..AppConfig::default()
    };
    let (state, _, _dir) = setup(config);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, body) = enroll(&state, "ZZZZZZZZ", ACTOR_A).await;
        statuses.push((
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(statuses[2].0, StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[3].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses[3].1, "rate_limited");
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_and_codes_never_reach_the_log() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (state, admin_code, _dir) = setup(AppConfig::default());
    let (_, enrolled) = enroll(&state, &admin_code, ACTOR_A).await;
    let token = enrolled["token"].as_str().unwrap().to_owned();
    let (status, _) = call(&state, get_auth("/v1/whoami?x=1", &token)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&state, get_auth("/v1/whoami", &"cd".repeat(32))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("/v1/whoami"), "requests are traced: {log}");
    assert!(log.contains("device enrolled"), "{log}");
    assert!(!log.contains(&token), "token leaked into the log");
    assert!(
        !log.contains(&"cd".repeat(32)),
        "rejected token leaked into the log"
    );
    assert!(
        !log.contains(&admin_code),
        "enrollment code leaked into the log"
    );
}

#[tokio::test]
async fn serve_runs_on_a_listener_and_shuts_down_gracefully() {
    let (state, admin_code, _dir) = setup(AppConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        stopped.await.ok();
    }));

    let base = format!("http://{address}");
    let (health, me) = tokio::task::spawn_blocking(move || {
        let health = ureq::get(format!("{base}/health"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let enrolled: Value = ureq::post(format!("{base}/v1/enroll"))
            .send_json(json!({"code": admin_code, "actor_hex": ACTOR_A}))
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let token = enrolled["token"].as_str().unwrap();
        let me: Value = ureq::get(format!("{base}/v1/whoami"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        (health, me)
    })
    .await
    .unwrap();
    assert_eq!(health, "ok");
    assert_eq!(me["user_login"], "admin");

    stop.send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops after the shutdown signal")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// The `fieldledger` binary.

fn fieldledger(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fieldledger"))
        .arg("admin")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn admin_cli_manages_units_users_and_devices() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");

    let out = fieldledger(&db, &["unit", "add", "WJK", "疾控科"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("enrollment code for admin"),
        "a new database is bootstrapped"
    );
    let units = stdout_json(&fieldledger(&db, &["unit", "list", "--json"]));
    assert_eq!(units[0]["code"], "OFFICE");
    assert_eq!(units[0]["is_office"], true);
    assert_eq!(units[1]["code"], "WJK");
    assert_eq!(units[1]["name"], "疾控科");

    let dup = fieldledger(&db, &["unit", "add", "wjk", "again"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let out = fieldledger(
        &db,
        &[
            "user",
            "add",
            "zhang",
            "--unit",
            "WJK",
            "--role",
            "unit-head",
            "--name",
            "张三",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad_role = fieldledger(
        &db,
        &[
            "user", "add", "li", "--unit", "WJK", "--role", "boss", "--name", "李四",
        ],
    );
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unit-head"));
    let users = stdout_json(&fieldledger(&db, &["user", "list", "--json"]));
    let zhang = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "zhang")
        .unwrap();
    assert_eq!(zhang["role"], "unit-head");
    assert_eq!(zhang["unit"], "WJK");

    let code = stdout_json(&fieldledger(&db, &["device", "enroll", "zhang", "--json"]));
    let code = code["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);

    // Redeem it the way the relay would.
    let mut store = AccountStore::open(&db).unwrap();
    let enrolled = store.redeem_enrollment(&code, ACTOR_A, None).unwrap();
    drop(store);

    let devices = stdout_json(&fieldledger(&db, &["device", "list", "--json"]));
    assert_eq!(devices[0]["code"], "D1");
    assert_eq!(devices[0]["user_login"], "zhang");
    assert!(devices[0]["revoked_at"].is_null());
    assert!(
        !String::from_utf8_lossy(&fieldledger(&db, &["device", "list"]).stdout)
            .contains(&enrolled.token)
    );

    let out = fieldledger(&db, &["device", "revoke", &enrolled.device_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("D1"));
    let store = AccountStore::open(&db).unwrap();
    assert!(matches!(
        store.principal_for_token(&enrolled.token),
        Err(fieldledger_server::RelayError::DeviceRevoked)
    ));

    let audit = stdout_json(&fieldledger(&db, &["audit", "--json"]));
    assert_eq!(audit[0]["action"], "device.revoke");
    assert!(
        audit[0]["actor_login"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
}

#[cfg(unix)]
#[test]
fn serve_prints_the_admin_code_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldledger"))
        .arg("serve")
        .arg("--db")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut code = None;
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("valid 7 days): ").nth(1) {
            code = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("fieldledger relay listening on ") {
            address = Some(rest.trim().to_owned());
            break;
        }
    }
    let (code, base) = (
        code.expect("admin code printed"),
        address.expect("address printed"),
    );

    let enrolled: Value = ureq::post(format!("{base}/v1/enroll"))
        .send_json(json!({"code": code, "actor_hex": ACTOR_A}))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(enrolled["user_login"], "admin");
    assert_eq!(enrolled["role"], "office");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_rate_limited_not_the_proxy() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    let proxy: SocketAddr = "10.0.0.9:40000".parse().unwrap();
    let health = |peer: SocketAddr, forwarded: &str| {
        let mut r = Request::get("/health")
            .header("x-forwarded-for", forwarded)
            .body(Body::empty())
            .unwrap();
        r.extensions_mut().insert(ConnectInfo(peer));
        r
    };
    let config = AppConfig {
        address_rate: Some(Rate::new(0.001, 2)),
        trusted_proxies: vec![proxy.ip()],
        ..AppConfig::default()
    };
    let (state, _, _dir) = setup(config);
    for _ in 0..2 {
        assert_eq!(
            call(&state, health(proxy, "192.0.2.1")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(&state, health(proxy, "192.0.2.1")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own budget; the last hop counts.
    assert_eq!(
        call(&state, health(proxy, "203.0.113.5, 192.0.2.2"))
            .await
            .0,
        StatusCode::OK
    );
    // An untrusted peer cannot pick its budget with the header.
    let other: SocketAddr = "198.51.100.7:1234".parse().unwrap();
    for n in 0..3 {
        let status = call(&state, health(other, &format!("192.0.2.{}", 100 + n)))
            .await
            .0;
        let want = if n < 2 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, want);
    }
}

// ---------------------------------------------------------------------------------------
// Abuse: enrollment guessing, loss-report floods, refusal floods, unbounded pages.

/// A request from a given client address (as `serve` records it).
fn from_address(mut request: Request<Body>, ip: [u8; 4]) -> Request<Body> {
    use axum::extract::ConnectInfo;
    request
        .extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((ip, 40_000))));
    request
}

async fn enroll_from(state: &AppState, ip: [u8; 4], code: &str, actor: &str) -> StatusCode {
    let request = post_json("/v1/enroll", &json!({"code": code, "actor_hex": actor}));
    call(state, from_address(request, ip)).await.0
}

async fn audit_rows(state: &AppState, action: &'static str) -> Vec<(String, String)> {
    state
        .with_accounts(move |a| {
            Ok(a.audit_page(Some(action), None, 1_000)?
                .into_iter()
                .map(|e| (e.action, e.detail))
                .collect())
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_codes_close_enrollment_for_every_address_until_the_global_limit_refills() {
    let config = AppConfig {
        // 4 failures at once, then one every 0.25 s, from all addresses together.
        enroll_failure_rate: Some(Rate::new(4.0, 4)),
        ..AppConfig::default()
    };
    let (state, _, _dir) = setup(config);
    let right = enrollment_code(&state, "zhang").await;
    let mut statuses = Vec::new();
    for i in 0..4u8 {
        statuses.push(enroll_from(&state, [10, 0, 0, 1 + i % 2], "ZZZZZZZZ", ACTOR_A).await);
    }
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED; 4]);
    // The bucket is empty: a wrong code from a fresh address, and even the right code, get 429.
    assert_eq!(
        enroll_from(&state, [10, 0, 0, 9], "YYYYYYYY", ACTOR_A).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        enroll_from(&state, [192, 168, 1, 5], &right, ACTOR_B).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Audited as one line for the minute, with the count and the limit.
    let failed = audit_rows(&state, "enroll.failed").await;
    assert!(!failed.is_empty() && failed.len() <= 2, "{failed:?}");
    let counted: u32 = failed
        .iter()
        .map(|(_, d)| d.split(' ').next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(counted, 4, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|(_, d)| d.contains("global limit was reached")),
        "{failed:?}"
    );
    // After the window the right code works again.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        enroll_from(&state, [192, 168, 1, 5], &right, ACTOR_B).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn pending_codes_stop_working_after_too_many_failed_guesses() {
    let config = AppConfig {
        enroll_failure_rate: None,
        enroll_guesses_per_code: 5,
        ..AppConfig::default()
    };
    let (state, admin_code, _dir) = setup(config);
    let zhang = enrollment_code(&state, "zhang").await;
    for _ in 0..5 {
        assert_eq!(
            enroll_from(&state, [10, 0, 0, 1], "ZZZZZZZZ", ACTOR_A).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Every code pending during the guesses is void now, the bootstrap code too.
    for code in [&zhang, &admin_code] {
        assert_eq!(
            enroll_from(&state, [10, 0, 0, 2], code, ACTOR_B).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = audit_rows(&state, "enroll.locked").await;
    assert_eq!(locked.len(), 2, "{locked:?}");
    assert!(locked.iter().any(|(_, d)| d.contains("for zhang")));
    // A code issued afterwards starts afresh.
    let fresh = enrollment_code(&state, "zhang").await;
    assert_eq!(
        enroll_from(&state, [10, 0, 0, 2], &fresh, ACTOR_B).await,
        StatusCode::OK
    );
}

/// A revoked device of zhang and its token, plus an office device's token.
async fn revoked_and_office(state: &AppState, admin_code: &str) -> (String, String) {
    let (_, office) = enroll(state, admin_code, ACTOR_A).await;
    let code = enrollment_code(state, "zhang").await;
    let (_, phone) = enroll(state, &code, ACTOR_B).await;
    let device = phone["device_id"].as_str().unwrap().to_owned();
    state
        .with_accounts(move |a| a.revoke_device("test", &device))
        .await
        .unwrap();
    (
        phone["token"].as_str().unwrap().to_owned(),
        office["token"].as_str().unwrap().to_owned(),
    )
}

fn loss_report(token: &str, rows: usize, title: &str) -> Request<Body> {
    let records: Vec<Value> = (0..rows)
        .map(|i| {
            json!({"id": format!("r{i:07}"), "kind": "petition", "unit": "WJK",
                   "number": format!("WJK-{i}"), "title": title, "new_record": true,
                   "updated_at": 0})
        })
        .collect();
    Request::post("/v1/device/lost")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(json!({ "records": records }).to_string()))
        .unwrap()
}

/// How many lost-record rows the relay's database file holds, read beside the relay.
fn lost_rows(dir: &TempDir) -> i64 {
    relay_file(dir)
        .query_row("SELECT count(*) FROM acct_lost_records", [], |r| r.get(0))
        .unwrap()
}

/// A connection of the test's own to the relay's SQLite file (the database, or the local copy
/// of a PostgreSQL deployment), to look at what the registry stored.
fn relay_file(dir: &TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("relay.db")).unwrap()
}

#[tokio::test]
async fn loss_reports_are_one_per_device_capped_and_rate_limited() {
    let (state, admin_code, dir) = setup(AppConfig::default());
    let (revoked, office) = revoked_and_office(&state, &admin_code).await;

    // 50,000 rows (~7 MB): over the report's body limit, nothing stored.
    let (status, _) = call(&state, loss_report(&revoked, 50_000, "假记录")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(lost_rows(&dir), 0);

    // 8,000 rows within the body limit: capped.
    let (status, body) = call(&state, loss_report(&revoked, 8_000, "假记录")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recorded"], 2_000);
    assert_eq!(body["dropped"], 6_000);
    assert_eq!(lost_rows(&dir), 2_000);

    // A second report replaces the first; long titles are cut.
    let (status, body) = call(&state, loss_report(&revoked, 3, &"长".repeat(5_000))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recorded"], 3);
    assert_eq!(lost_rows(&dir), 3);
    let title_chars: i64 = relay_file(&dir)
        .query_row(
            "SELECT max(length(title)) FROM acct_lost_records",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(title_chars, 200);
    // The audit lines stay short, whatever the report's size.
    let lines = audit_rows(&state, "device.lost_records").await;
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|(_, d)| d.len() < 1_000), "{lines:?}");
    assert!(
        lines[0].1.contains("replaces its earlier report of 2000"),
        "{lines:?}"
    );

    // The revoked token has a small budget of reports (5 by default; the refused 50,000-row
    // body never reached it): the 3rd to 5th go through, the 6th is refused.
    for _ in 0..3 {
        assert_eq!(
            call(&state, loss_report(&revoked, 1, "x")).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = call(&state, loss_report(&revoked, 1, "x")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(lost_rows(&dir), 1);
    // The office reads it in pages.
    let (status, rows) = call(&state, get_auth("/v1/lost-records?limit=5000", &office)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_thousand_refused_pushes_write_one_audit_line() {
    use fieldledger_core::sync::{PROTOCOL_VERSION, PushDoc, SyncRequest};
    let (state, admin_code, _dir) = setup(AppConfig::default());
    let code = enrollment_code(&state, "zhang").await;
    let _ = admin_code;
    let (_, phone) = enroll(&state, &code, ACTOR_B).await;
    let token = phone["token"].as_str().unwrap().to_owned();
    let before = audit_rows(&state, "sync.refused").await.len();
    let request = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: 0,
        // New records written by another actor than the device's: each refused `forbidden`.
        // (Pushes to ids the relay does not have are refused `unknown`, never audited.)
        push: {
            let mut other = fieldledger_core::Store::open_in_memory().unwrap();
            other
                .set_identity(fieldledger_server::records::office_identity(
                    "zhang",
                    "张三",
                    "elsewhere",
                    "X",
                ))
                .unwrap();
            (0..2_000)
                .map(|i| {
                    let id = format!("00000000-0000-4000-8000-{i:012}");
                    other
                        .create_with_id(
                            &id,
                            fieldledger_core::RecordKind::Dispute,
                            Some("WJK"),
                            &[fieldledger_core::Edit::text("name", "x")],
                            None,
                        )
                        .unwrap();
                    PushDoc {
                        changes: other.document_bytes(&id).unwrap(),
                        id,
                        generation: 0,
                    }
                })
                .collect()
        },
        want: Vec::new(),
        feed_limit: 10,
    };
    let response = app(state.clone())
        .oneshot(
            Request::post("/v1/sync")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Body::from(request.encode()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let refused = audit_rows(&state, "sync.refused").await;
    assert_eq!(refused.len() - before, 1, "one line for the whole request");
    let detail = &refused[0].1;
    assert!(detail.contains("2000 change(s) refused"), "{detail}");
    assert!(detail.contains("and 1990 more"), "{detail}");
    assert!(detail.len() < 4_000, "{} bytes", detail.len());
}

#[tokio::test]
async fn the_audit_log_is_read_in_bounded_pages() {
    let (state, admin_code, _dir) = setup(AppConfig::default());
    let (_, office) = enroll(&state, &admin_code, ACTOR_A).await;
    let office = office["token"].as_str().unwrap().to_owned();
    state
        .with_accounts(|a| {
            for i in 0..2_500 {
                a.log("test", "test.flood", &format!("line {i}"))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let response = app(state.clone())
        .oneshot(get_auth("/v1/audit?limit=100000&action=test.", &office))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let link = response
        .headers()
        .get(header::LINK)
        .expect("a full page links to the next")
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    let first: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(first.len(), 1_000, "bounded at MAX_PAGE");
    let last = first.last().unwrap()["id"].as_i64().unwrap();
    assert!(link.contains(&format!("before={last}")), "{link}");
    // Following the cursor: the next page, older, without overlap; then the rest.
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let (_, second) = call(&state, get_auth(next, &office)).await;
    let second = second.as_array().unwrap();
    assert_eq!(second.len(), 1_000);
    assert!(second[0]["id"].as_i64().unwrap() < last);
    assert_eq!(second[0]["action"], "test.flood");
    let (_, third) = call(
        &state,
        get_auth(
            &format!(
                "/v1/audit?action=test.&before={}",
                second.last().unwrap()["id"]
            ),
            &office,
        ),
    )
    .await;
    assert_eq!(third.as_array().unwrap().len(), 500);
}

#[test]
fn admin_cli_reads_the_audit_log_and_lost_records_in_bounded_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    {
        let mut store = AccountStore::open(&db).unwrap();
        store.ensure_bootstrap(DEFAULT_OFFICE_CODE).unwrap();
        for i in 0..1_200 {
            store
                .log("test", "test.flood", &format!("line {i}"))
                .unwrap();
        }
    }
    let too_many = fieldledger(&db, &["audit", "--limit", "5000"]);
    assert!(!too_many.status.success());
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("--limit must be 1 to 1000"));
    let page = fieldledger(&db, &["audit", "--action", "test.", "--limit", "1000"]);
    assert!(page.status.success());
    let text = String::from_utf8_lossy(&page.stdout);
    assert_eq!(text.lines().count(), 1_000);
    let hint = String::from_utf8_lossy(&page.stderr);
    let before = hint
        .split("--before ")
        .nth(1)
        .expect("a hint for the next page")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let rest = stdout_json(&fieldledger(
        &db,
        &["audit", "--action", "test.", "--before", &before, "--json"],
    ));
    let rest = rest.as_array().unwrap();
    assert_eq!(rest.len(), 50, "the default page");
    assert_eq!(rest[0]["detail"], "line 199");
    let lost = stdout_json(&fieldledger(
        &db,
        &["lost-records", "--limit", "10", "--json"],
    ));
    assert_eq!(lost, json!([]));
    assert!(
        !fieldledger(&db, &["lost-records", "--limit", "0"])
            .status
            .success()
    );
}
