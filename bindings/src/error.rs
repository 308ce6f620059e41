//! `FfiError`: the one error an app sees, mapped from the core's errors in this one place.

use fieldledger_core::Error as CoreError;

/// Result with the bindings' [`FfiError`].
pub type Result<T, E = FfiError> = std::result::Result<T, E>;

/// Everything a call can fail with; each message can be shown to the user as it is.
///
/// The error is "flat": foreign code sees the variant and its message (Kotlin
/// `FfiException.NotFound`, Swift `FfiError.NotFound`, Python `FfiError.NotFound`).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum FfiError {
    /// No record, list entry or conflict with the given id or name.
    #[error("{0}")]
    NotFound(String),
    /// The record exists but is of another kind than the call is for.
    #[error("{0}")]
    WrongKind(String),
    /// The record kind has no field of this name.
    #[error("{0}")]
    UnknownField(String),
    /// A value does not fit its field (bad date, unknown choice, negative count…).
    #[error("{0}")]
    InvalidValue(String),
    /// An argument that is not a field value is wrong (URL, path, format…).
    #[error("{0}")]
    InvalidArgument(String),
    /// The rules of the record do not allow this change (e.g. signing off an open case).
    #[error("{0}")]
    NotAllowed(String),
    /// The acting user may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The store has no enrolled user yet: enroll with a relay first.
    #[error("{0}")]
    NotEnrolled(String),
    /// The relay cannot be reached; nothing is lost, try again later.
    #[error("{0}")]
    Network(String),
    /// The relay refused the device's credentials: enroll the device again.
    #[error("{0}")]
    Unauthorized(String),
    /// The relay answered with an error.
    #[error("{0}")]
    Relay(String),
    /// The store file cannot be read or written.
    #[error("{0}")]
    Storage(String),
    /// The store cannot be decrypted with this key (or the file is not a store); the file
    /// was not changed.
    #[error("{0}")]
    WrongKey(String),
    /// The bureau office revoked this device: the local store was erased, and the records
    /// not yet synced were reported to the office. Delete the store key and enroll again.
    #[error("{0}")]
    DeviceErased(String),
    /// The store was written by a newer version of the app.
    #[error("{0}")]
    StoreTooNew(String),
    /// Writing an export failed.
    #[error("{0}")]
    Export(String),
    /// A bug: please report it with the message.
    #[error("{0}")]
    Internal(String),
}

impl From<CoreError> for FfiError {
    fn from(e: CoreError) -> Self {
        let msg = e.to_string();
        match e {
            CoreError::UnknownRecord(_) | CoreError::UnknownEntry { .. } => FfiError::NotFound(msg),
            CoreError::NoConflict(field) => {
                FfiError::NotFound(format!("there is no conflict on {field} to resolve"))
            }
            CoreError::WrongKind { .. } => FfiError::WrongKind(msg),
            CoreError::UnknownField { .. } => FfiError::UnknownField(msg),
            CoreError::InvalidValue { .. } | CoreError::UnknownCategory(_) => {
                FfiError::InvalidValue(msg)
            }
            CoreError::RuleViolation(_) => FfiError::NotAllowed(msg),
            CoreError::PermissionDenied(_) => FfiError::PermissionDenied(msg),
            CoreError::NotEnrolled => FfiError::NotEnrolled(msg),
            CoreError::Transport { message, status } => transport_error(message, status),
            CoreError::MalformedSync(_) => FfiError::Relay(msg),
            CoreError::WrongKey => FfiError::WrongKey(msg),
            CoreError::DeviceRevoked(_) => FfiError::Unauthorized(msg),
            CoreError::SchemaTooNew { .. } => {
                FfiError::StoreTooNew(format!("{msg}; update the app to open this store"))
            }
            CoreError::Sqlite(_)
            | CoreError::Automerge(_)
            | CoreError::Json(_)
            | CoreError::MalformedDocument(_) => FfiError::Storage(msg),
            CoreError::Io(_) => FfiError::Storage(msg),
            CoreError::Report(_) => FfiError::Export(msg),
            _ => FfiError::Internal(msg),
        }
    }
}

/// Maps a transport failure (no answer, or an HTTP error status) to what the app should do.
pub(crate) fn transport_error(message: String, status: Option<u16>) -> FfiError {
    match status {
        None => FfiError::Network(format!(
            "{message}; your records are kept on this device, sync again when online"
        )),
        Some(401 | 403) => FfiError::Unauthorized(format!(
            "the relay refused this device ({message}); enroll it again"
        )),
        Some(_) => FfiError::Relay(message),
    }
}

impl From<fieldledger_core::sync::TransportError> for FfiError {
    fn from(e: fieldledger_core::sync::TransportError) -> Self {
        transport_error(e.message, e.status)
    }
}

impl From<fieldledger_client::ClientError> for FfiError {
    fn from(e: fieldledger_client::ClientError) -> Self {
        use fieldledger_client::ClientError as E;
        let msg = e.to_string();
        match e {
            E::Store(e) => e.into(),
            E::Transport(e) => e.into(),
            // A wrong or used code, a bad address or certificate: the person's to fix.
            E::InvalidRelayUrl { .. }
            | E::InvalidCertificate(_)
            | E::EmptyEnrollmentCode
            | E::EnrollmentRefused(_)
            | E::ConcurrentEnrollment => FfiError::InvalidArgument(msg),
            E::UnexpectedEnrollment(_) => FfiError::Relay(msg),
            E::Erased { .. } => FfiError::DeviceErased(msg),
            _ => FfiError::Internal(msg),
        }
    }
}

/// An exception thrown by app code called back from Rust (the sync listener).
impl From<uniffi::UnexpectedUniFFICallbackError> for FfiError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        FfiError::Internal(format!("the app's callback failed: {}", e.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldledger_core::RecordKind;

    fn kind_of(e: FfiError) -> &'static str {
        match e {
            FfiError::NotFound(_) => "NotFound",
            FfiError::WrongKind(_) => "WrongKind",
            FfiError::UnknownField(_) => "UnknownField",
            FfiError::InvalidValue(_) => "InvalidValue",
            FfiError::InvalidArgument(_) => "InvalidArgument",
            FfiError::NotAllowed(_) => "NotAllowed",
            FfiError::PermissionDenied(_) => "PermissionDenied",
            FfiError::NotEnrolled(_) => "NotEnrolled",
            FfiError::Network(_) => "Network",
            FfiError::Unauthorized(_) => "Unauthorized",
            FfiError::Relay(_) => "Relay",
            FfiError::Storage(_) => "Storage",
            FfiError::StoreTooNew(_) => "StoreTooNew",
            FfiError::WrongKey(_) => "WrongKey",
            FfiError::DeviceErased(_) => "DeviceErased",
            FfiError::Export(_) => "Export",
            FfiError::Internal(_) => "Internal",
        }
    }

    #[test]
    fn core_errors_map_to_the_variant_an_app_acts_on() {
        let cases: Vec<(CoreError, &str)> = vec![
            (CoreError::UnknownRecord("x".into()), "NotFound"),
            (CoreError::WrongKey, "WrongKey"),
            (
                CoreError::UnknownEntry {
                    list: "measures".into(),
                    entry: "e".into(),
                },
                "NotFound",
            ),
            (CoreError::NoConflict("trend".into()), "NotFound"),
            (
                CoreError::WrongKind {
                    id: "x".into(),
                    expected: RecordKind::Dispute,
                    actual: RecordKind::Visit,
                },
                "WrongKind",
            ),
            (
                CoreError::UnknownField {
                    kind: RecordKind::Dispute,
                    field: "nope".into(),
                },
                "UnknownField",
            ),
            (CoreError::invalid("所涉人数", "negative"), "InvalidValue"),
            (CoreError::UnknownCategory("x".into()), "InvalidValue"),
            (CoreError::RuleViolation("no".into()), "NotAllowed"),
            (CoreError::PermissionDenied("no".into()), "PermissionDenied"),
            (CoreError::NotEnrolled, "NotEnrolled"),
            (
                CoreError::Transport {
                    message: "connection refused".into(),
                    status: None,
                },
                "Network",
            ),
            (
                CoreError::Transport {
                    message: "revoked".into(),
                    status: Some(401),
                },
                "Unauthorized",
            ),
            (
                CoreError::Transport {
                    message: "busy".into(),
                    status: Some(503),
                },
                "Relay",
            ),
            (CoreError::MalformedSync("bad".into()), "Relay"),
            (
                CoreError::SchemaTooNew {
                    found: 9,
                    supported: 1,
                },
                "StoreTooNew",
            ),
            (CoreError::MalformedDocument("bad".into()), "Storage"),
            (CoreError::Io(std::io::Error::other("disk full")), "Storage"),
            (CoreError::Report("xlsx".into()), "Export"),
        ];
        for (core, want) in cases {
            let shown = core.to_string();
            let e = FfiError::from(core);
            let msg = e.to_string();
            assert_eq!(kind_of(e), want, "{shown}");
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn client_errors_map_to_the_variant_an_app_acts_on() {
        use fieldledger_client::{ClientError, LossReport, TransportError};
        let revoked = TransportError {
            message: "the relay answered 403 (device_revoked): this device was revoked".into(),
            status: Some(403),
            code: Some("device_revoked".into()),
        };
        let cases: Vec<(ClientError, &str)> = vec![
            (ClientError::Transport(revoked.clone()), "Unauthorized"),
            (
                ClientError::Transport(TransportError::unreachable("no route")),
                "Network",
            ),
            (ClientError::EnrollmentRefused(revoked), "InvalidArgument"),
            (
                ClientError::InvalidRelayUrl {
                    url: "ftp://x".into(),
                    reason: "use http".into(),
                },
                "InvalidArgument",
            ),
            (
                ClientError::InvalidCertificate("x".into()),
                "InvalidArgument",
            ),
            (ClientError::UnexpectedEnrollment("x".into()), "Relay"),
            (
                ClientError::Erased {
                    reason: "revoked".into(),
                    report: LossReport::default(),
                },
                "DeviceErased",
            ),
            (ClientError::Store(CoreError::NotEnrolled), "NotEnrolled"),
        ];
        for (client, want) in cases {
            let shown = client.to_string();
            assert_eq!(kind_of(FfiError::from(client)), want, "{shown}");
        }
    }

    #[test]
    fn messages_keep_the_core_text_and_say_what_to_do() {
        let e = FfiError::from(CoreError::invalid(
            "所涉人数 (people_involved)",
            "-1 is negative",
        ));
        assert_eq!(
            e.to_string(),
            "invalid value for 所涉人数 (people_involved): -1 is negative"
        );
        let e = FfiError::from(CoreError::Transport {
            message: "cannot reach the relay".into(),
            status: None,
        });
        assert!(e.to_string().contains("sync again when online"), "{e}");
        let e = FfiError::from(CoreError::Transport {
            message: "401 (unauthorized): token revoked".into(),
            status: Some(401),
        });
        assert!(e.to_string().contains("enroll it again"), "{e}");
    }
}
