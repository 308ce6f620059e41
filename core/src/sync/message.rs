//! The sync messages and their binary encoding (postcard), with strict, bounded decoding.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version of the sync protocol; a message of another version is refused.
pub const PROTOCOL_VERSION: u16 = 2;

/// Largest number of documents one request may push or want.
pub const MAX_DOCS_PER_REQUEST: usize = 2_000;

/// Changes of one document the device pushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushDoc {
    /// Record id.
    pub id: String,
    /// The document generation the changes belong to (see [`crate::doc::erase`]).
    pub generation: u64,
    /// Automerge changes (`save_after` the relay's last acknowledged heads, or a whole document).
    pub changes: Vec<u8>,
}

/// A document the device wants, with the heads it already shares with the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WantDoc {
    /// Record id.
    pub id: String,
    /// The generation the device holds (0 if it holds none); another generation on the
    /// relay is sent whole.
    pub generation: u64,
    /// Change hashes (32 bytes each) the device has and the relay knows.
    pub have: Vec<Vec<u8>>,
}

/// A device → relay message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Protocol version.
    pub version: u16,
    /// The relay feed position the device has applied up to.
    pub cursor: u64,
    /// Local changes.
    pub push: Vec<PushDoc>,
    /// Documents to fetch changes of.
    pub want: Vec<WantDoc>,
    /// Most feed items the device wants in the answer.
    pub feed_limit: u32,
}

/// The relay accepted and committed pushed changes of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// Record id.
    pub id: String,
    /// The relay's heads of the document after the merge.
    pub heads: Vec<Vec<u8>>,
}

/// The relay refused pushed changes of a document (nothing of them was stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Record id.
    pub id: String,
    /// Machine-readable reason (`forbidden`, `forged_actor`, `invalid`, `malformed`, `unknown`).
    pub code: String,
    /// Message for people.
    pub message: String,
}

/// A document changed on the relay since the cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedItem {
    /// Record id.
    pub id: String,
    /// Relay feed position of this change.
    pub seq: u64,
    /// The document's generation on the relay.
    pub generation: u64,
    /// The relay's heads of the document.
    pub heads: Vec<Vec<u8>>,
}

/// Changes of a wanted document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocData {
    /// Record id.
    pub id: String,
    /// The relay's heads after these changes.
    pub heads: Vec<Vec<u8>>,
    /// The document's generation on the relay; if it differs from the device's, `changes`
    /// is the whole document, which replaces the device's copy.
    pub generation: u64,
    /// Automerge changes the device lacks.
    pub changes: Vec<u8>,
}

/// A relay → device message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Protocol version.
    pub version: u16,
    /// Pushes committed.
    pub accepted: Vec<Ack>,
    /// Pushes refused.
    pub rejected: Vec<Rejection>,
    /// Documents changed after the request's cursor, in feed order.
    pub feed: Vec<FeedItem>,
    /// Wanted documents' changes.
    pub docs: Vec<DocData>,
    /// The feed position after the last item of `feed`.
    pub cursor: u64,
    /// Whether more feed items follow.
    pub more: bool,
}

fn decode<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T> {
    let (v, rest): (T, &[u8]) = postcard::take_from_bytes(bytes)
        .map_err(|e| Error::MalformedSync(format!("cannot decode {what}: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::MalformedSync(format!(
            "{} trailing bytes after the {what}",
            rest.len()
        )));
    }
    Ok(v)
}

fn check_version(v: u16) -> Result<()> {
    if v != PROTOCOL_VERSION {
        return Err(Error::MalformedSync(format!(
            "protocol version {v} is not supported (this side speaks {PROTOCOL_VERSION})"
        )));
    }
    Ok(())
}

impl SyncRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("encoding into a Vec cannot fail")
    }

    /// Decodes and checks a request.
    pub fn decode(bytes: &[u8]) -> Result<SyncRequest> {
        let r: SyncRequest = decode("sync request", bytes)?;
        check_version(r.version)?;
        if r.push.len() > MAX_DOCS_PER_REQUEST || r.want.len() > MAX_DOCS_PER_REQUEST {
            return Err(Error::MalformedSync(format!(
                "at most {MAX_DOCS_PER_REQUEST} documents per request"
            )));
        }
        for w in &r.want {
            if w.have.iter().any(|h| h.len() != 32) {
                return Err(Error::MalformedSync(format!(
                    "bad change hash for {}",
                    w.id
                )));
            }
        }
        Ok(r)
    }
}

impl SyncResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("encoding into a Vec cannot fail")
    }

    /// Decodes and checks a response.
    pub fn decode(bytes: &[u8]) -> Result<SyncResponse> {
        let r: SyncResponse = decode("sync response", bytes)?;
        check_version(r.version)?;
        Ok(r)
    }
}

/// Converts change hashes to wire form.
pub(crate) fn hashes_to_wire(h: &[automerge::ChangeHash]) -> Vec<Vec<u8>> {
    h.iter().map(|x| x.0.to_vec()).collect()
}

/// Converts wire hashes to change hashes.
pub(crate) fn hashes_from_wire(h: &[Vec<u8>]) -> Result<Vec<automerge::ChangeHash>> {
    h.iter()
        .map(|x| {
            <[u8; 32]>::try_from(x.as_slice())
                .map(automerge::ChangeHash)
                .map_err(|_| Error::MalformedSync("a change hash is not 32 bytes".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let r = SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: 7,
            push: vec![PushDoc {
                id: "a".into(),
                generation: 0,
                changes: vec![1, 2, 3],
            }],
            want: vec![WantDoc {
                id: "b".into(),
                generation: 1,
                have: vec![vec![0; 32]],
            }],
            feed_limit: 100,
        };
        let bytes = r.encode();
        assert_eq!(SyncRequest::decode(&bytes).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(
                SyncRequest::decode(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(SyncRequest::decode(&extra).is_err());
        let mut v2 = r.clone();
        v2.version = 99;
        assert!(
            SyncRequest::decode(&v2.encode())
                .unwrap_err()
                .to_string()
                .contains("version")
        );
    }
}
