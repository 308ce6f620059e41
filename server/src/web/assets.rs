//! The stylesheet and script, embedded in the binary and served under `/ui/static/`.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::WebError;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// `GET /ui/static/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Result<Response, WebError> {
    let (body, content_type) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Err(WebError::NotFound("没有这个文件。".into())),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Short: a relay upgrade changes the files under the same names.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
