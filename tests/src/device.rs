//! A simulated phone: its own store file, enrolled with a relay, syncing over HTTP.

use std::path::PathBuf;

use fieldledger_client::{
    HttpTransport, LossReport, SyncReport, Transport, TransportError, sync_with,
};
use fieldledger_core::Store;
use fieldledger_core::store::Identity;
use tempfile::TempDir;

use crate::relay::Relay;
use crate::snapshot::{Snapshot, snapshot};

/// An enrolled device with a store in its own temporary directory.
pub struct Device {
    /// Name used in messages.
    pub name: String,
    store: Store,
    path: PathBuf,
    key: [u8; 32],
    _dir: TempDir,
}

impl Device {
    /// Enrolls a new device of `login` with a fresh one-time code from the relay's admin CLI.
    pub fn enroll(relay: &Relay, login: &str) -> Device {
        let code = relay.enrollment_code(login);
        Device::enroll_with_code(&relay.url(), &code, login)
            .unwrap_or_else(|e| panic!("enrolling a device of {login}: {e}"))
    }

    /// Enrolls a new device at `url` with `code`; a refusal is the relay's answer.
    pub fn enroll_with_code(url: &str, code: &str, name: &str) -> Result<Device, TransportError> {
        let dir = tempfile::Builder::new()
            .prefix("fieldledger-device-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().join("device.db");
        // Encrypted at rest, as on a phone.
        let key: [u8; 32] = rand::random();
        let mut store = Store::open_encrypted(&path, &key).expect("open device store");
        fieldledger_client::enroll(&mut store, url, code, Some(name), None).map_err(|e| {
            e.transport()
                .cloned()
                .unwrap_or_else(|| TransportError::unreachable(e.to_string()))
        })?;
        Ok(Device {
            name: name.to_owned(),
            store,
            path,
            key,
            _dir: dir,
        })
    }

    /// The store file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// What a revoked phone does: reports its unsynced records to the relay and erases its
    /// store. Returns the report and whether any of the store's files remain.
    pub fn erase_revoked(mut self) -> (LossReport, bool) {
        let mut t = self.transport();
        let path = self.path.clone();
        let report = fieldledger_client::erase_revoked(&mut self.store, &mut t).expect("erase");
        let left = ["", "-wal", "-shm"].iter().any(|s| {
            let mut p = path.clone().into_os_string();
            p.push(s);
            std::path::Path::new(&p).exists()
        });
        (report, left)
    }

    /// The device's store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The device's store, for edits.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The identity the device got at enrollment.
    pub fn identity(&self) -> Identity {
        self.store.identity().expect("enrolled").clone()
    }

    /// The device's unit code.
    pub fn unit(&self) -> String {
        self.identity().author.unit
    }

    /// The device's bearer token.
    pub fn token(&self) -> String {
        self.identity().token.expect("token")
    }

    /// The HTTP transport to the relay the device enrolled with.
    pub fn transport(&self) -> HttpTransport {
        HttpTransport::for_store(&self.store).expect("enrolled store")
    }

    /// Syncs over HTTP: the client's sync loop, a revoked device left as it is (see
    /// [`Device::erase_revoked`]).
    pub fn sync(&mut self) -> fieldledger_core::Result<SyncReport> {
        let mut t = self.transport();
        sync_with(&mut self.store, &mut t, &mut |_| {})
    }

    /// Syncs over `transport`.
    pub fn sync_via(
        &mut self,
        transport: &mut dyn Transport,
    ) -> fieldledger_core::Result<SyncReport> {
        sync_with(&mut self.store, transport, &mut |_| {})
    }

    /// Syncs over HTTP and panics on an error or on any refused push.
    pub fn sync_clean(&mut self) -> SyncReport {
        let report = self
            .sync()
            .unwrap_or_else(|e| panic!("{} failed to sync: {e}", self.name));
        assert!(
            report.rejected.is_empty(),
            "{}: the relay refused {:?}",
            self.name,
            report.rejected
        );
        report
    }

    /// Every document the device holds.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.store)
    }

    /// Closes and reopens the store file, as an app restart does.
    pub fn reopen(&mut self) {
        self.store = Store::open_encrypted(&self.path, &self.key).expect("reopen device store");
    }

    /// Runs `op` while the store acts under an identity changed by `change` (what a hostile
    /// or buggy app could do locally), then restores the enrolled identity.
    pub fn with_identity<R>(
        &mut self,
        change: impl FnOnce(&mut Identity),
        op: impl FnOnce(&mut Store) -> R,
    ) -> R {
        let real = self.identity();
        let mut forged = real.clone();
        change(&mut forged);
        self.store.set_identity(forged).expect("set identity");
        let out = op(&mut self.store);
        self.store.set_identity(real).expect("restore identity");
        out
    }

    /// The heads the device believes the relay has acknowledged or sent, per document.
    pub fn relay_heads(&self) -> Vec<(String, Vec<String>)> {
        let mut stmt = self
            .store
            .connection()
            .prepare("SELECT id, relay_heads FROM sync_docs")
            .expect("prepare");
        stmt.query_map([], |r| {
            let heads: String = r.get(1)?;
            Ok((
                r.get::<_, String>(0)?,
                serde_json::from_str(&heads).unwrap_or_default(),
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("read sync_docs")
    }
}
