//! Accepting connections, for HTTP and HTTPS alike: the caps and timeouts that keep the relay
//! answering when clients open connections and never finish a request (slowloris), stop
//! reading their answers, or open more connections than the process has file descriptors.
//!
//! - A request head (request line and headers) must arrive within
//!   [`ConnectionLimits::header_read_timeout`]. The same clock runs while a kept-alive
//!   connection waits for its next request, so it is also the keep-alive timeout. Over HTTPS
//!   the TLS handshake gets the same time.
//! - A connection on which no byte moves either way for [`ConnectionLimits::idle_timeout`] is
//!   closed, whatever state it is in (a client that stops reading its answer).
//! - At most [`ConnectionLimits::max_connections`] connections are open at once (lowered to fit
//!   the process's open-file limit) and at most [`ConnectionLimits::max_connections_per_address`]
//!   from one client address (an IPv6 client counts by its /64), so one address cannot take
//!   every slot; the last eighth of the slots go only to addresses holding fewer than
//!   [`LIGHT_CLIENT_CONNECTIONS`], so that many addresses together cannot shut out a newcomer
//!   either. Connections over a cap are accepted and closed at once, which frees their file
//!   descriptor. A trusted reverse proxy is held only to the global cap.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// File descriptors kept back from the connection cap, for the database files, logs and the
/// listener itself.
pub const RESERVED_FILE_DESCRIPTORS: u64 = 128;

/// A client address holding fewer connections than this may take the last slots (a
/// browser opens up to six).
pub const LIGHT_CLIENT_CONNECTIONS: usize = 8;

/// How long running requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Caps and timeouts of the relay's connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Longest wait for a complete request head, on a new connection or between two requests
    /// of a kept-alive one; also the TLS handshake's limit.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves for this long is closed. Kept at least as long as
    /// the request timeout, so a slow request is answered 408 rather than cut off.
    pub idle_timeout: Duration,
    /// Connections open at once, from everyone.
    pub max_connections: usize,
    /// Connections open at once from one client address (a trusted proxy is exempt).
    pub max_connections_per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
            max_connections: 4096,
            max_connections_per_address: 256,
        }
    }
}

/// Raises the soft limit on open files to the hard limit; returns the soft limit now in force
/// (`None` where the platform has none or it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!(%err, "cannot raise the open-file limit");
            current_open_file_limit()
        }
    }
}

fn current_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The global connection cap that fits the open-file limit `fd_limit`.
fn fitting_cap(configured: usize, fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return configured.max(1);
    };
    let room = limit.saturating_sub(RESERVED_FILE_DESCRIPTORS).max(16);
    configured
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

/// The key the per-address cap counts: the IPv4 address, or an IPv6 address's /64 network
/// (one host usually holds a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The connection slots: a global semaphore and a count per client address.
#[derive(Debug)]
struct Slots {
    global: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    per_address_max: usize,
    /// The last this many global slots go only to clients holding fewer than
    /// [`LIGHT_CLIENT_CONNECTIONS`].
    reserved: usize,
    exempt: Vec<IpAddr>,
    refused: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

/// One open connection's slot, given back when dropped.
#[derive(Debug)]
struct Slot {
    slots: Arc<Slots>,
    key: Option<IpAddr>,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    fn take(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let key = (!self.exempt.contains(&peer)).then(|| address_key(peer));
        let mut counts = self
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let held = key.map_or(0, |k| counts.get(&k).copied().unwrap_or(0));
        if held >= self.per_address_max {
            drop(counts);
            self.refuse("one client address holds its connection cap");
            return None;
        }
        if held >= LIGHT_CLIENT_CONNECTIONS && self.global.available_permits() <= self.reserved {
            drop(counts);
            self.refuse("the last connection slots are kept for clients holding few");
            return None;
        }
        let Ok(permit) = Arc::clone(&self.global).try_acquire_owned() else {
            drop(counts);
            self.refuse("the relay's connection cap is reached");
            return None;
        };
        if let Some(k) = key {
            *counts.entry(k).or_insert(0) += 1;
        }
        Some(Slot {
            slots: Arc::clone(self),
            key,
            _permit: permit,
        })
    }

    /// Counts a refused connection; logs at most every ten seconds, so an attack cannot fill
    /// the log.
    fn refuse(&self, reason: &'static str) {
        let total = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self
            .last_report
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(refused_so_far = total, reason, "connection refused");
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut counts = self
            .slots
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// Milliseconds since a process-wide origin.
fn now_millis() -> u64 {
    u64::try_from(origin().elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// When bytes last moved on a connection.
#[derive(Debug, Clone)]
struct Activity(Arc<AtomicU64>);

impl Activity {
    fn new() -> Self {
        Activity(Arc::new(AtomicU64::new(now_millis())))
    }

    fn touch(&self) {
        self.0.store(now_millis(), Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        origin() + Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

/// A stream that records in [`Activity`] every read or write that moves bytes.
#[derive(Debug)]
struct Tracked<T> {
    inner: T,
    activity: Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What every connection task needs.
struct Shared {
    router: Router,
    tls: Option<TlsAcceptor>,
    http: hyper::server::conn::http1::Builder,
    limits: ConnectionLimits,
}

/// Serves `router` on `listener` (over TLS when `tls` is given) with `limits`, until
/// `shutdown` completes; then stops accepting and gives running requests up to
/// [`SHUTDOWN_GRACE`] to finish. `exempt` (trusted proxies) are held only to the global cap.
///
/// `limits.idle_timeout` is raised to `min_idle` when shorter, so that no request that may
/// still be answered is cut off.
pub async fn serve_connections(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut limits: ConnectionLimits,
    min_idle: Duration,
    exempt: Vec<IpAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let cap = fitting_cap(limits.max_connections, current_open_file_limit());
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            "connection cap lowered to fit the open-file limit"
        );
    }
    limits.max_connections = cap;
    limits.idle_timeout = limits.idle_timeout.max(min_idle);
    tracing::info!(
        max_connections = limits.max_connections,
        max_connections_per_address = limits.max_connections_per_address,
        header_read_timeout_secs = limits.header_read_timeout.as_secs_f64(),
        idle_timeout_secs = limits.idle_timeout.as_secs_f64(),
        "connection limits"
    );
    let slots = Arc::new(Slots {
        global: Arc::new(Semaphore::new(limits.max_connections)),
        per_address: Mutex::new(HashMap::new()),
        per_address_max: limits.max_connections_per_address.max(1),
        reserved: limits.max_connections / 8,
        exempt,
        refused: AtomicU64::new(0),
        last_report: Mutex::new(None),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let shared = Arc::new(Shared {
        router,
        tls,
        http,
        limits,
    });
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of descriptors or a connection reset before it was taken: wait a
                    // little rather than spin, and go on.
                    tracing::warn!(%err, "accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.take(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _slot = slot;
            let activity = Activity::new();
            let io = Tracked {
                inner: stream,
                activity: activity.clone(),
            };
            match &shared.tls {
                None => serve_one(io, peer, &shared, &activity, watcher).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        shared.limits.header_read_timeout,
                        acceptor.accept(io),
                    )
                    .await;
                    match handshake {
                        Ok(Ok(tls)) => serve_one(tls, peer, &shared, &activity, watcher).await,
                        Ok(Err(err)) => tracing::debug!(%err, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period; stopping");
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection until it ends, fails, or moves no byte for the idle
/// timeout.
async fn serve_one<I>(
    io: I,
    peer: SocketAddr,
    shared: &Shared,
    activity: &Activity,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        shared
            .router
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
    let connection = shared
        .http
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let connection = watcher.watch(connection);
    tokio::pin!(connection);
    let idle = shared.limits.idle_timeout;
    loop {
        let deadline = tokio::time::Instant::from_std(activity.last() + idle);
        tokio::select! {
            result = &mut connection => {
                if let Err(err) = result {
                    tracing::debug!(%err, %peer, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                if activity.last().elapsed() >= idle {
                    tracing::debug!(%peer, "closing a connection idle too long");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert_eq!(fitting_cap(4096, Some(1024)), 1024 - 128);
        assert_eq!(fitting_cap(4096, Some(1_000_000)), 4096);
        assert_eq!(fitting_cap(4096, None), 4096);
        assert_eq!(fitting_cap(4096, Some(10)), 16);
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_slot() {
        let slots = Arc::new(Slots {
            global: Arc::new(Semaphore::new(4)),
            per_address: Mutex::new(HashMap::new()),
            per_address_max: 2,
            reserved: 0,
            exempt: vec!["10.0.0.9".parse().unwrap()],
            refused: AtomicU64::new(0),
            last_report: Mutex::new(None),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let a1 = slots.take(a).expect("first");
        let _a2 = slots.take(a).expect("second");
        assert!(slots.take(a).is_none(), "third from one address");
        let _b1 = slots.take(b).expect("another address still gets in");
        drop(a1);
        let _a3 = slots.take(a).expect("a slot given back is usable again");
        let _p1 = slots.take(proxy).expect("proxy");
        assert!(
            slots.take(proxy).is_none(),
            "the global cap holds for a proxy"
        );
        assert_eq!(slots.refused.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn the_last_slots_are_kept_for_light_clients() {
        let slots = Arc::new(Slots {
            global: Arc::new(Semaphore::new(20)),
            per_address: Mutex::new(HashMap::new()),
            per_address_max: 100,
            reserved: 4,
            exempt: Vec::new(),
            refused: AtomicU64::new(0),
            last_report: Mutex::new(None),
        });
        let heavy: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<Slot> = std::iter::from_fn(|| slots.take(heavy)).take(100).collect();
        assert_eq!(held.len(), 16, "a heavy client stops short of the reserve");
        let newcomers: Vec<Slot> = (0..4)
            .map(|i| {
                slots
                    .take(IpAddr::from([10, 0, 1, i]))
                    .expect("newcomers get the reserve")
            })
            .collect();
        assert!(slots.take("10.0.2.1".parse().unwrap()).is_none(), "cap");
        drop(newcomers);
    }
}
