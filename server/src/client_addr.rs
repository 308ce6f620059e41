//! The one client address that every per-address rule counts (the API's rate limit, the
//! dashboard's page and sign-in limits): the peer of the connection, or — when the peer is a
//! trusted reverse proxy — the client the proxy names in `X-Forwarded-For`.
//!
//! [`resolve`] runs first on every request and stores the answer as a [`ClientAddr`]
//! extension, so every later layer and handler reads the same value.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;

/// The client address a request counts against (text; `unknown` without a connection, as in
/// tests that call the router directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    /// The address [`resolve`] stored, or the peer's when it did not run.
    pub fn of(extensions: &Extensions) -> String {
        match extensions.get::<ClientAddr>() {
            Some(ClientAddr(addr)) => addr.clone(),
            None => client_address(peer_of(extensions), &HeaderMap::new(), &[]),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(ClientAddr::of(&parts.extensions)))
    }
}

fn peer_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The client address of a request from `peer`: the peer, or — when the peer is one of
/// `trusted_proxies` — the last address in its `X-Forwarded-For` (the one the proxy saw).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> String {
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    if trusted_proxies.contains(&peer) {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(client) = forwarded {
            return client.to_string();
        }
    }
    peer.to_string()
}

/// Middleware: stores the request's [`ClientAddr`] (with these trusted proxies) for every
/// later layer and handler.
pub async fn resolve(
    State(trusted_proxies): State<Arc<[IpAddr]>>,
    mut request: Request,
    next: Next,
) -> Response {
    let addr = client_address(
        peer_of(request.extensions()),
        request.headers(),
        &trusted_proxies,
    );
    request.extensions_mut().insert(ClientAddr(addr));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let h = forwarded(&["198.51.100.1, 192.0.2.7"]);
        assert_eq!(client_address(Some(proxy), &h, &[proxy]), "192.0.2.7");
        assert_eq!(client_address(Some(other), &h, &[proxy]), "10.0.0.2");
        assert_eq!(
            client_address(Some(proxy), &forwarded(&["nonsense"]), &[proxy]),
            "10.0.0.1"
        );
        assert_eq!(
            client_address(
                Some(proxy),
                &forwarded(&["192.0.2.1", "192.0.2.9"]),
                &[proxy]
            ),
            "192.0.2.9",
            "the last header line is the proxy's own"
        );
        assert_eq!(client_address(None, &h, &[proxy]), "unknown");
    }
}
