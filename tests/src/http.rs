//! Raw HTTP calls to the relay, for requests a well-behaved device would never send.

use std::time::Duration;

/// An HTTP answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `WWW-Authenticate`, if any.
    pub www_authenticate: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` code of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn answer(mut resp: ureq::http::Response<ureq::Body>) -> Result<Answer, String> {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, www_authenticate) = (header("content-type"), header("www-authenticate"));
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(512 << 20)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        content_type,
        www_authenticate,
        body,
    })
}

/// `POST {base}{path}` with an optional bearer token and a binary body; `Err` when the
/// connection fails.
pub fn try_post(
    base: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<Answer, String> {
    let mut req = agent()
        .post(format!("{base}{path}"))
        .content_type("application/octet-stream");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(req.send(body).map_err(|e| e.to_string())?)
}

/// `POST {base}/v1/sync` with a token and raw bytes; panics when the connection fails.
pub fn post_sync(base: &str, token: Option<&str>, body: &[u8]) -> Answer {
    try_post(base, "/v1/sync", token, body).unwrap_or_else(|e| panic!("POST /v1/sync: {e}"))
}

/// `POST {base}/v1/sync` with a raw `Authorization` header value.
pub fn post_sync_with_header(base: &str, authorization: &str, body: &[u8]) -> Answer {
    let req = agent()
        .post(format!("{base}/v1/sync"))
        .content_type("application/octet-stream")
        .header("Authorization", authorization);
    answer(req.send(body).expect("POST /v1/sync")).expect("read answer")
}

/// `GET {base}{path}` with an optional bearer token.
pub fn get(base: &str, path: &str, token: Option<&str>) -> Answer {
    let mut req = agent().get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(req.call().unwrap_or_else(|e| panic!("GET {path}: {e}")))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `POST {base}{path}` with an optional bearer token and a JSON body.
pub fn post_json(base: &str, path: &str, token: Option<&str>, body: &serde_json::Value) -> Answer {
    let mut req = agent()
        .post(format!("{base}{path}"))
        .content_type("application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(
        req.send(serde_json::to_vec(body).expect("json").as_slice())
            .unwrap_or_else(|e| panic!("POST {path}: {e}")),
    )
    .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// The body of `GET {url}/health` through `agent` (a client with its own trust roots).
pub fn health_through(agent: &ureq::Agent, url: &str) -> String {
    agent
        .get(format!("{url}/health"))
        .call()
        .expect("GET /health")
        .into_body()
        .read_to_string()
        .expect("read /health")
}
