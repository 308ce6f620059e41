//! `ClientError`: what enrolling or syncing a device can fail with.

use fieldledger_core::sync::{LossReport, TransportError};

/// Result with the client's [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Everything the device side of the relay can fail with, worded for the person at the device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The local store failed, or a sync step did (see [`fieldledger_core::Error`]).
    #[error(transparent)]
    Store(#[from] fieldledger_core::Error),
    /// The relay cannot be reached, or it answered with an error.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The text is not a relay address.
    #[error("`{url}` is not a relay address: {reason}")]
    InvalidRelayUrl {
        /// What was given.
        url: String,
        /// Why it is not one.
        reason: String,
    },
    /// The PEM given as the relay's certificate authority holds no usable certificate.
    #[error("the relay's CA certificate is not usable: {0}")]
    InvalidCertificate(String),
    /// The enrollment code was empty.
    #[error("the enrollment code is empty")]
    EmptyEnrollmentCode,
    /// The relay refused the enrollment code (wrong, used, expired, or not the sender's to
    /// use): the person asks the office for a new one.
    #[error("enrollment refused: {}", .0.message)]
    EnrollmentRefused(TransportError),
    /// The relay's answer to an enrollment is not what this client understands.
    #[error("the relay's enrollment answer is not understood: {0}")]
    UnexpectedEnrollment(String),
    /// The store started another enrollment while this one waited on the relay.
    #[error("another enrollment of this store ran at the same time; enroll again")]
    ConcurrentEnrollment,
    /// The bureau office revoked this device: the store was erased after its unsynced
    /// records were reported (or could not be).
    #[error("{}", erased_message(.report))]
    Erased {
        /// The relay's words.
        reason: String,
        /// The records it held that the relay never received, and whether it was told.
        report: LossReport,
    },
}

impl ClientError {
    /// The relay's answer behind this error, if the relay answered or could not be reached.
    pub fn transport(&self) -> Option<&TransportError> {
        match self {
            ClientError::Transport(t) | ClientError::EnrollmentRefused(t) => Some(t),
            _ => None,
        }
    }
}

fn erased_message(report: &LossReport) -> String {
    format!(
        "the bureau office revoked this device; its records were erased from it. \
         {} record(s) not synced were {}",
        report.records.len(),
        if report.delivered {
            "reported to the office as lost"
        } else {
            "lost, and the relay could not be told"
        }
    )
}
