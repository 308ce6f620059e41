//! Errors of the dashboard, answered as HTML pages a person can read.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::RelayError;

/// Something a dashboard request could not do, with the page it is answered with.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebError {
    /// Unknown page or record, or a record outside the viewer's units (they look the same).
    NotFound(String),
    /// The viewer may not do this, or the form's CSRF token is missing or stale.
    Forbidden(String),
    /// A value in the request is wrong.
    BadRequest(String),
    /// Too many requests from this address.
    TooManyRequests,
    /// A failure of the relay; details go to the log only.
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    heading: &'a str,
    message: &'a str,
}

impl WebError {
    /// HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The unknown-record error: the same for records that do not exist and records of another
    /// unit, so a unit head cannot even learn that a record exists elsewhere.
    pub fn no_record() -> WebError {
        WebError::NotFound("未找到该记录，或它不属于您可查看的单位。".into())
    }
}

impl From<RelayError> for WebError {
    fn from(e: RelayError) -> Self {
        use fieldledger_core::Error as E;
        match e {
            RelayError::Core(E::UnknownRecord(_)) => WebError::no_record(),
            RelayError::RateLimited => WebError::TooManyRequests,
            RelayError::MayNotEnroll(login) => WebError::Forbidden(format!(
                "单位负责人只能为本单位的工作人员生成设备注册码；{login} 的注册码请向领导小组办公室申请。"
            )),
            other => match other.status() {
                StatusCode::NOT_FOUND => WebError::NotFound(other.to_string()),
                StatusCode::FORBIDDEN => WebError::Forbidden(other.to_string()),
                s if s.is_client_error() => WebError::BadRequest(other.to_string()),
                _ => WebError::Internal(other.to_string()),
            },
        }
    }
}

impl From<fieldledger_core::Error> for WebError {
    fn from(e: fieldledger_core::Error) -> Self {
        WebError::from(RelayError::from(e))
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("rendering a page: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (heading, message) = match &self {
            WebError::NotFound(m) => ("未找到", m.as_str()),
            WebError::Forbidden(m) => ("无权操作", m.as_str()),
            WebError::BadRequest(m) => ("请求有误", m.as_str()),
            WebError::TooManyRequests => ("请求过于频繁", "请稍候再试。"),
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "dashboard request failed");
                (
                    "服务器出错",
                    "处理请求时出错，请稍后再试；详情见中继服务日志。",
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {heading}: {message}", status.as_u16()));
        let mut response = (status, Html(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
