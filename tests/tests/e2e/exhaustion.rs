//! Wearing the relay down at the connection and sign-in level, against a real relay process:
//! connections that never finish their request head (slowloris), one client address holding
//! every connection, the same over HTTPS, and many concurrent failed dashboard sign-ins
//! (memory, and the accounts lock that device requests need).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fieldledger_e2e::net::{
    closed_by_peer, connect_from, loopback, raise_fd_limit, request_from, socket_addr,
};
use fieldledger_e2e::{Device, Relay, RelayOptions, http, relay_binary};

/// A request head that never ends: no blank line after the headers.
const PARTIAL_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: relay\r\nX-Slow: a";

fn relay_with(args: &[&str]) -> Relay {
    Relay::start_with_people(RelayOptions {
        extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..RelayOptions::default()
    })
}

/// `count` connections from `source`, each having sent `first` (nothing when empty).
fn open_connections(source: IpAddr, to: SocketAddr, count: usize, first: &[u8]) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let mut s = connect_from(source, to)
                .unwrap_or_else(|e| panic!("connection {i} from {source}: {e}"));
            if !first.is_empty() {
                // The relay may already have closed a connection over its cap.
                let _ = s.write_all(first);
            }
            s
        })
        .collect()
}

fn count_closed(streams: &mut [TcpStream]) -> usize {
    streams
        .iter_mut()
        .map(closed_by_peer)
        .filter(|c| *c)
        .count()
}

/// Polls until at least `want` of `streams` are closed by the relay or `limit` passes (a bound
/// on the test, not a timing assertion); returns how many are closed.
fn wait_until_closed(streams: &mut [TcpStream], want: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let closed = count_closed(streams);
        if closed >= want || Instant::now() >= deadline {
            return closed;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn need_fds(n: u64) {
    let limit = raise_fd_limit();
    assert!(
        limit >= n,
        "this test needs {n} open files; the hard limit allows {limit} (raise it with ulimit -Hn)"
    );
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// 2,000 connections that send a partial request head and then nothing: `/health` keeps
/// answering while they are open, and the relay closes every one of them after its header-read
/// timeout. (Before, there was no header timeout: they stayed open until the process ran out
/// of file descriptors and stopped accepting.)
#[test]
fn incomplete_connections_are_closed_and_health_keeps_answering() {
    const HOLD: usize = 2_000;
    const PER_ADDRESS: usize = 250; // under the default per-address cap of 256
    need_fds(HOLD as u64 + 512);
    let relay = relay_with(&["--header-read-timeout-secs", "8"]);
    let to = socket_addr(&relay.url());

    let opened = Instant::now();
    let mut held: Vec<TcpStream> = (0..HOLD / PER_ADDRESS)
        .flat_map(|i| open_connections(loopback(2 + i as u8), to, PER_ADDRESS, PARTIAL_HEAD))
        .collect();
    let open_after = HOLD - count_closed(&mut held);
    eprintln!(
        "opened {HOLD} incomplete connections from 127.0.0.2-9 in {:.0} ms; {open_after} still open",
        millis(opened.elapsed())
    );

    // /health from 127.0.0.1 while they are held.
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let answer = http::get(&relay.url(), "/health", None);
        latencies.push(t.elapsed());
        assert_eq!(
            answer.status, 200,
            "/health answers while connections are held"
        );
        assert_eq!(answer.text(), "ok");
    }
    latencies.sort();
    eprintln!(
        "/health with {open_after} incomplete connections open: p50 {:.1} ms, max {:.1} ms (20 requests)",
        millis(percentile(&latencies, 0.5)),
        millis(*latencies.last().unwrap())
    );

    let closed = wait_until_closed(&mut held, HOLD, Duration::from_secs(90));
    eprintln!(
        "{closed} of {HOLD} closed by the relay {:.1} s after they were opened (header timeout 8 s)",
        opened.elapsed().as_secs_f64()
    );
    assert_eq!(
        closed, HOLD,
        "every incomplete connection is closed after the header-read timeout"
    );
    assert!(relay.healthy());
    let log = std::fs::read_to_string(relay.log_path()).unwrap();
    assert!(
        !log.contains("Too many open files"),
        "the relay never ran out of file descriptors"
    );
}

/// One client address opens more connections than its cap: the relay closes those over the
/// cap at once (long before any timeout), and other addresses still get answers. A connection
/// given back frees its slot.
#[test]
fn one_client_address_cannot_hold_every_connection() {
    const CAP: usize = 50;
    const OPEN: usize = 200;
    need_fds(OPEN as u64 + 512);
    let relay = relay_with(&[
        "--max-connections-per-address",
        "50",
        "--header-read-timeout-secs",
        "600",
    ]);
    let to = socket_addr(&relay.url());
    let attacker = loopback(2);
    let mut streams = open_connections(attacker, to, OPEN, PARTIAL_HEAD);
    let closed = wait_until_closed(&mut streams, OPEN - CAP, Duration::from_secs(60));
    // Nothing else closes a connection within the 600 s header timeout.
    assert_eq!(
        closed,
        OPEN - CAP,
        "exactly the connections over the per-address cap are closed"
    );
    eprintln!("{OPEN} connections from {attacker}: {closed} closed at once, {CAP} held");

    let other = request_from(loopback(3), to, "GET /health HTTP/1.1", b"").unwrap();
    assert_eq!(other.status, 200, "another address is served: {other:?}");
    assert!(relay.healthy(), "127.0.0.1 is served");

    // Closing the held connections gives their slots back.
    drop(streams);
    let deadline = Instant::now() + Duration::from_secs(30);
    let again = loop {
        match request_from(attacker, to, "GET /health HTTP/1.1", b"") {
            Ok(answer) if answer.status == 200 => break Some(answer),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => break None,
        }
    };
    assert!(
        again.is_some(),
        "the address is served again once its connections are gone"
    );
}

/// Eight addresses together fill the relay's global connection cap: the last slots are kept
/// for clients holding few connections, so `/health` from a ninth address is still served.
#[test]
fn many_addresses_together_cannot_shut_out_a_newcomer() {
    need_fds(1_500);
    let relay = relay_with(&[
        "--max-connections",
        "400",
        "--header-read-timeout-secs",
        "600",
    ]);
    let to = socket_addr(&relay.url());
    let mut streams: Vec<TcpStream> = (2..10)
        .flat_map(|n| open_connections(loopback(n), to, 120, PARTIAL_HEAD))
        .collect();
    let refused = wait_until_closed(&mut streams, 960 - 400, Duration::from_secs(60));
    eprintln!("960 connections from 8 addresses, global cap 400: {refused} refused");
    assert!(refused >= 960 - 400, "the global cap holds");
    for _ in 0..5 {
        assert!(
            relay.healthy(),
            "a newcomer is served with the global cap full"
        );
    }
    drop(streams);
}

/// A self-signed certificate for 127.0.0.1: PEM files, and the DER for a client's roots.
fn certificate(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c, k, cert.cert.pem().into_bytes(), cert.cert.der().to_vec())
}

/// HTTPS gets the same protections: connections that never start the TLS handshake are closed
/// (over the per-address cap at once, the rest after the header-read timeout), and so is a
/// connection that completes the handshake but never finishes its request head.
#[test]
fn https_connections_get_the_same_caps_and_timeouts() {
    need_fds(512);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem, ca_der) = certificate(dir.path());
    let relay = Relay::start_with_people(RelayOptions {
        tls: Some((cert, key)),
        extra_args: [
            "--header-read-timeout-secs",
            "2",
            "--max-connections-per-address",
            "20",
        ]
        .map(str::to_owned)
        .to_vec(),
        ..RelayOptions::default()
    });
    let url = relay.url();
    let to = socket_addr(&url);

    let mut silent = open_connections(loopback(2), to, 40, b"");
    let closed = wait_until_closed(&mut silent, 40, Duration::from_secs(60));
    assert_eq!(
        closed, 40,
        "connections without a TLS handshake are all closed"
    );

    // A completed handshake, then half a request head.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = connect_from(loopback(3), to).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(PARTIAL_HEAD).unwrap();
    tls.flush().unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let ended = loop {
        match tls.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false;
            }
            Err(_) => break true,
        }
    };
    assert!(
        ended,
        "an HTTPS connection with an unfinished request head is closed by the relay"
    );
    eprintln!(
        "HTTPS connection with half a request head closed after {:.1} s (header timeout 2 s)",
        started.elapsed().as_secs_f64()
    );

    let agent = fieldledger_client::agent(Some(&ca_pem)).unwrap();
    let health = http::health_through(&agent, &url);
    assert_eq!(health, "ok");
}

fn set_password(relay: &Relay, login: &str, password: &str) {
    let mut child = Command::new(relay_binary())
        .arg("admin")
        .arg("--db")
        .arg(relay.db_path())
        .args(["user", "set-password", login])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of `name=` in a `Set-Cookie` header.
fn cookie(answer: &fieldledger_e2e::net::RawAnswer, name: &str) -> String {
    answer
        .header_values("set-cookie")
        .into_iter()
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", answer.headers))
        .to_owned()
}

/// One failed sign-in through the form, as a browser would, from `source`; the status.
fn failed_sign_in(source: IpAddr, to: SocketAddr) -> u16 {
    let form = request_from(source, to, "GET /ui/login HTTP/1.1", b"").unwrap();
    assert_eq!(form.status, 200, "{form:?}");
    let csrf_cookie = cookie(&form, "fl_login_csrf");
    let marker = "name=\"csrf\" value=\"";
    let start = form.body.find(marker).expect("CSRF field") + marker.len();
    let token = form.body[start..].split('"').next().unwrap().to_owned();
    let body = format!("login=boss&password=wrong-password-{source}&csrf={token}&next=");
    let head = format!(
        "POST /ui/login HTTP/1.1\r\nCookie: fl_login_csrf={csrf_cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded"
    );
    request_from(source, to, &head, body.as_bytes())
        .unwrap()
        .status
}

/// Resident memory of a process, in KiB (`VmRSS`, or `VmHWM` for the peak).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// 40 addresses each fail to sign in to the dashboard 5 times, all at once, while an enrolled
/// device calls `/v1/whoami`: the relay's memory stays flat (each Argon2 check takes ~19 MiB;
/// before, every concurrent check kept its 19 MiB: this test saw +3.6 GB and `/v1/whoami` at
/// 2.6 s p50),
/// every sign-in is refused cleanly and every device request is answered.
#[test]
fn concurrent_failed_sign_ins_keep_memory_flat_and_devices_served() {
    const ADDRESSES: u8 = 40;
    const ATTEMPTS: usize = 5; // under the sign-in limit of 10 per address
    /// Argon2's working memory for one check.
    const ONE_CHECK_KIB: u64 = 19 * 1024;
    need_fds(512);
    let relay = relay_with(&[]);
    set_password(&relay, "boss", "correct horse battery");
    let device = Device::enroll(&relay, "zhang");
    let token = device.token();
    let to = socket_addr(&relay.url());
    let pid = relay.pid().unwrap();

    // Warm up: the first check builds the dummy hash and the reusable working memory.
    assert_eq!(failed_sign_in(loopback(1), to), 401);
    let baseline = memory_kib(pid, "VmRSS");

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(memory_kib(pid, "VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let started = Instant::now();
    let attackers: Vec<_> = (0..ADDRESSES)
        .map(|i| {
            let source = loopback(10 + i);
            std::thread::spawn(move || {
                (0..ATTEMPTS)
                    .map(|_| failed_sign_in(source, to))
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let mut whoami = Vec::new();
    while !attackers.iter().all(|a| a.is_finished()) && whoami.len() < 10_000 {
        let t = Instant::now();
        let answer = http::get(&relay.url(), "/v1/whoami", Some(&token));
        whoami.push((t.elapsed(), answer.status));
    }
    let statuses: Vec<u16> = attackers
        .into_iter()
        .flat_map(|a| a.join().unwrap())
        .collect();
    let flood = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let after = memory_kib(pid, "VmRSS");
    let hwm = memory_kib(pid, "VmHWM");

    let mut latencies: Vec<Duration> = whoami.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    eprintln!(
        "{} failed sign-ins from {ADDRESSES} addresses in {:.1} s; relay RSS: {:.0} MiB before, \
         peak {:.0} MiB (+{:.0} MiB), {:.0} MiB after, high-water mark {:.0} MiB",
        statuses.len(),
        flood.as_secs_f64(),
        baseline as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(baseline) as f64 / 1024.0,
        after as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    if !latencies.is_empty() {
        eprintln!(
            "/v1/whoami during the sign-ins: {} requests, p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            latencies.len(),
            millis(percentile(&latencies, 0.5)),
            millis(percentile(&latencies, 0.9)),
            millis(*latencies.last().unwrap()),
        );
    }
    assert!(
        statuses.iter().all(|s| *s == 401),
        "every wrong password is refused with 401: {statuses:?}"
    );
    assert!(
        whoami.iter().all(|(_, s)| *s == 200),
        "every device request is answered during the sign-ins"
    );
    // Flat: a few checks' working memory at most, not one per concurrent sign-in (40 × 19 MiB).
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < 5 * ONE_CHECK_KIB,
        "relay memory grew by {} MiB during {ADDRESSES} concurrent failed sign-ins",
        growth / 1024
    );
}
