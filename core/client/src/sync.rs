//! Syncing a device: the core's one sync loop ([`sync_with`]) with what a device does when the
//! relay says it was revoked — report its unsynced records, then erase its store.

use fieldledger_core::Store;
use fieldledger_core::sync::{
    LossReport, StoreAccess, SyncProgress, SyncReport, Transport, loss_report, sync_with,
};

use crate::error::{ClientError, Result};
use crate::http::HttpTransport;

/// Tries to deliver a loss report before the store is erased regardless.
const LOSS_REPORT_TRIES: usize = 3;

/// Syncs `store` over `transport`, calling `progress` after each round. A revoked device
/// reports its unsynced records, erases its store (an empty in-memory store is left behind
/// `store`) and fails with [`ClientError::Erased`].
pub fn sync<S: StoreAccess + ?Sized>(
    store: &mut S,
    transport: &mut dyn Transport,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncReport> {
    match sync_with(store, transport, progress) {
        Err(fieldledger_core::Error::DeviceRevoked(reason)) => {
            let report = erase_revoked(store, transport)?;
            Err(ClientError::Erased { reason, report })
        }
        other => Ok(other?),
    }
}

/// [`sync`] of an enrolled store with its own relay over HTTP.
pub fn sync_enrolled<S: StoreAccess + ?Sized>(
    store: &mut S,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncReport> {
    let mut transport = store.with_store(|s| HttpTransport::for_store(s))?;
    sync(store, &mut transport, progress)
}

/// What a device does when the relay says it was revoked: reports its unsynced records
/// through `transport` (up to three tries), then erases the store file, its write-ahead log
/// and its shared-memory file whether or not the report got through, leaving an empty
/// in-memory store behind `store`. The app should also delete the store key from the
/// platform keystore.
pub fn erase_revoked<S: StoreAccess + ?Sized>(
    store: &mut S,
    transport: &mut dyn Transport,
) -> Result<LossReport> {
    let old =
        store.with_store(|s| Store::open_in_memory().map(|empty| std::mem::replace(s, empty)))?;
    let mut report = loss_report(&old)?;
    let body = serde_json::to_vec(&report).map_err(fieldledger_core::Error::from)?;
    for _ in 0..LOSS_REPORT_TRIES {
        if transport.report_loss(body.clone()).is_ok() {
            report.delivered = true;
            break;
        }
    }
    old.erase()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use fieldledger_core::model::{Edit, RecordKind, Role};
    use fieldledger_core::sync::TransportError;
    use fieldledger_core::testing::identity;

    use super::*;

    /// A relay that says the device was revoked and takes its loss report.
    #[derive(Default)]
    struct Revoking {
        reports: Vec<Vec<u8>>,
    }

    impl Transport for Revoking {
        fn exchange(&mut self, _: Vec<u8>) -> std::result::Result<Vec<u8>, TransportError> {
            Err(TransportError {
                message: "the relay answered 403 (device_revoked): revoked".into(),
                status: Some(403),
                code: Some(fieldledger_core::wire::DEVICE_REVOKED.into()),
            })
        }

        fn report_loss(&mut self, report: Vec<u8>) -> std::result::Result<(), TransportError> {
            self.reports.push(report);
            Ok(())
        }
    }

    #[test]
    fn a_revoked_device_reports_its_unsynced_records_and_erases_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.db");
        let mut store = Store::open_encrypted(&path, &[7; 32]).unwrap();
        store
            .set_identity(identity("zhang", "WJK", Role::Staff, "D1"))
            .unwrap();
        let id = store
            .create(
                RecordKind::Dispute,
                None,
                &[
                    Edit::text("name", "未同步的纠纷"),
                    Edit::text("category", "医疗卫生"),
                ],
            )
            .unwrap();
        let mut relay = Revoking::default();
        let locked = std::sync::Mutex::new(store);
        let err = sync(&mut &locked, &mut relay, &mut |_| {}).unwrap_err();
        let ClientError::Erased { reason, report } = &err else {
            panic!("not erased: {err}")
        };
        assert!(reason.contains("device_revoked"), "{reason}");
        assert!(report.delivered);
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.records[0].id, id);
        assert!(
            err.to_string()
                .contains("1 record(s) not synced were reported")
        );
        let sent: LossReport = serde_json::from_slice(&relay.reports[0]).unwrap();
        assert_eq!(sent.records, report.records);
        assert!(!path.exists(), "the store file is gone");
        assert!(locked.lock().unwrap().identity().is_none());
    }
}
