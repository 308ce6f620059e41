//! Transports that misbehave the way mobile networks do: connections that drop before or after
//! the relay got a request, and requests that arrive twice or again much later.

use fieldledger_core::sync::{Transport, TransportError};

/// Where a [`FlakyTransport`] breaks the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never.
    None,
    /// The k-th exchange (1-based) fails before the request leaves the device.
    FailBefore(usize),
    /// The k-th exchange reaches the relay, but its answer is lost.
    DropResponse(usize),
}

/// Wraps a transport and breaks one exchange as its [`Fault`] says.
pub struct FlakyTransport<T> {
    inner: T,
    fault: Fault,
    calls: usize,
    /// Whether the fault has happened.
    pub tripped: bool,
}

impl<T: Transport> FlakyTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, fault: Fault) -> Self {
        FlakyTransport {
            inner,
            fault,
            calls: 0,
            tripped: false,
        }
    }
}

fn dropped(what: &str) -> TransportError {
    TransportError {
        message: format!("connection dropped {what} (injected)"),
        status: None,
        code: None,
    }
}

impl<T: Transport> Transport for FlakyTransport<T> {
    fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.calls += 1;
        match self.fault {
            Fault::FailBefore(k) if k == self.calls => {
                self.tripped = true;
                Err(dropped("before sending"))
            }
            Fault::DropResponse(k) if k == self.calls => {
                self.tripped = true;
                // The relay handles the request; the device never hears back.
                let _ = self.inner.exchange(request)?;
                Err(dropped("before the answer arrived"))
            }
            _ => self.inner.exchange(request),
        }
    }
}

/// Sends every request twice (a retry after a timeout that was not one) and answers with the
/// second answer; keeps every request so it can be replayed later.
pub struct DuplicatingTransport<T> {
    inner: T,
    /// Every request sent, in order.
    pub log: Vec<Vec<u8>>,
}

impl<T: Transport> DuplicatingTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        DuplicatingTransport {
            inner,
            log: Vec::new(),
        }
    }

    /// Sends every logged request once more, in order, and returns the answers.
    pub fn replay(&mut self) -> Vec<Result<Vec<u8>, TransportError>> {
        let log = self.log.clone();
        log.into_iter().map(|r| self.inner.exchange(r)).collect()
    }
}

impl<T: Transport> Transport for DuplicatingTransport<T> {
    fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.log.push(request.clone());
        self.inner.exchange(request.clone())?;
        self.inner.exchange(request)
    }
}

/// Passes requests through and keeps every request and answer.
pub struct RecordingTransport<T> {
    inner: T,
    /// Requests sent, in order.
    pub requests: Vec<Vec<u8>>,
    /// Answers received, in order.
    pub responses: Vec<Vec<u8>>,
}

impl<T: Transport> RecordingTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        RecordingTransport {
            inner,
            requests: Vec::new(),
            responses: Vec::new(),
        }
    }
}

impl<T: Transport> Transport for RecordingTransport<T> {
    fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.requests.push(request.clone());
        let resp = self.inner.exchange(request)?;
        self.responses.push(resp.clone());
        Ok(resp)
    }
}
