//! Raw TCP from chosen loopback source addresses, for tests that play many clients at once
//! (every address of 127.0.0.0/8 reaches a relay listening on 127.0.0.1, on Linux).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// The loopback address `127.0.0.n`.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// The relay's socket address from its URL (`http://127.0.0.1:PORT` or `https://…`).
pub fn socket_addr(url: &str) -> SocketAddr {
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    host.parse()
        .unwrap_or_else(|e| panic!("not an address URL {url}: {e}"))
}

/// A TCP connection to `to` from the address `source`.
pub fn connect_from(source: IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(10))?;
    Ok(socket.into())
}

/// Raises this process's open-file limit as far as it may go; returns the limit now.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-file limit")
}

/// Whether the other end has closed `stream` (end of file or reset), without waiting. Bytes
/// the relay sent before closing are read and dropped.
pub fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream
        .set_nonblocking(true)
        .expect("make the socket non-blocking");
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break true,
        }
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// A raw HTTP/1.1 answer: status, header block (lower-cased names) and body.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// Status code.
    pub status: u16,
    /// Header lines, `name: value`, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body as text (lossy UTF-8).
    pub body: String,
}

impl RawAnswer {
    /// Values of every header called `name` (lower case).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends one HTTP/1.1 request (`Connection: close` added) from `source` and reads the answer.
/// `head` is the request line and headers without the final blank line.
pub fn request_from(
    source: IpAddr,
    to: SocketAddr,
    head: &str,
    body: &[u8],
) -> io::Result<RawAnswer> {
    let mut stream = connect_from(source, to)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut request = format!(
        "{head}\r\nHost: {to}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(RawAnswer {
        status,
        headers,
        body: body.to_owned(),
    })
}
