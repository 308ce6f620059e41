//! The office dashboard (`/ui/…`) driven over HTTP as a browser would: the sign-in form with
//! its CSRF cookie, then pages and forms with the session cookie.

use std::time::Duration;

/// A signed-in dashboard session.
pub struct DashboardSession {
    base: String,
    agent: ureq::Agent,
    cookie: String,
    csrf: String,
}

/// A page or a form's answer.
#[derive(Debug, Clone)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The HTML.
    pub html: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn read(mut resp: ureq::http::Response<ureq::Body>) -> (Page, Vec<String>) {
    let cookies = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .collect();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = resp.status().as_u16();
    let html = resp.body_mut().read_to_string().unwrap_or_default();
    (
        Page {
            status,
            location,
            html,
        },
        cookies,
    )
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl DashboardSession {
    /// Signs `login` in with `password` on the relay at `base`; panics unless it succeeds.
    pub fn sign_in(base: &str, login: &str, password: &str) -> DashboardSession {
        let agent = agent();
        let (form, cookies) = read(
            agent
                .get(format!("{base}/ui/login"))
                .call()
                .expect("GET /ui/login"),
        );
        let login_cookie = cookies.join("; ");
        let csrf = csrf_of(&form.html);
        let body = [
            ("login", login),
            ("password", password),
            ("csrf", csrf.as_str()),
            ("next", ""),
        ];
        let (answer, cookies) = read(
            agent
                .post(format!("{base}/ui/login"))
                .header("Cookie", &login_cookie)
                .send_form(body)
                .expect("POST /ui/login"),
        );
        assert_eq!(answer.status, 303, "sign-in of {login}: {}", answer.html);
        let cookie = cookies
            .into_iter()
            .find(|c| c.starts_with("fl_session="))
            .expect("a session cookie");
        let mut session = DashboardSession {
            base: base.to_owned(),
            agent,
            cookie,
            csrf: String::new(),
        };
        let page = session.get("/ui/supervision");
        assert_eq!(page.status, 200, "{}", page.html);
        session.csrf = csrf_of(&page.html);
        session
    }

    /// The same session (cookies, CSRF token) sent to the relay at `base`: another relay of
    /// the same deployment, as a load balancer would.
    pub fn through(&self, base: &str) -> DashboardSession {
        DashboardSession {
            base: base.to_owned(),
            agent: agent(),
            cookie: self.cookie.clone(),
            csrf: self.csrf.clone(),
        }
    }

    /// `GET` a page.
    pub fn get(&self, path: &str) -> Page {
        read(
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .call()
                .unwrap_or_else(|e| panic!("GET {path}: {e}")),
        )
        .0
    }

    /// `POST` a form (the session's CSRF token is added).
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut body: Vec<(&str, &str)> = fields.to_vec();
        body.push(("csrf", &self.csrf));
        read(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .send_form(body)
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
        .0
    }
}
