//! Who a request is: the `Principal` extractor over `Authorization: Bearer <token>`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, request::Parts};

use crate::accounts::Principal;
use crate::error::{RelayError, Result};
use crate::state::AppState;

/// The bearer token of a request, if it carries one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Resolves the device and user behind the request's bearer token.
///
/// Answers 401 `unauthorized` without a valid token, 403 `device_revoked` for a revoked device,
/// and 429 `rate_limited` when the device exceeds its request rate.
impl FromRequestParts<AppState> for Principal {
    type Rejection = RelayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(&parts.headers)
            .ok_or(RelayError::Unauthorized)?
            .to_owned();
        let principal = state
            .read_accounts(move |accounts| accounts.principal_for_token(&token))
            .await?;
        if !state.allow_device(&principal.device_id) {
            return Err(RelayError::RateLimited);
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_token_is_parsed_strictly() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer   abc "));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
