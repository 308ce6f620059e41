//! Who a store acts as: its identity (user and device), its Automerge actor id, and the
//! change notes its edits are recorded with.

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use super::Store;
use crate::doc::ChangeNote;
use crate::error::{Error, Result};
use crate::model::Author;

/// Who this store acts as: the enrolled device and its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The user and device edits are recorded for.
    pub author: Author,
    /// Short code of the device, unique across the relay; part of case numbers.
    pub device_code: String,
    /// Relay base URL, once enrolled.
    #[serde(default)]
    pub relay_url: Option<String>,
    /// Bearer token for the relay.
    #[serde(default)]
    pub token: Option<String>,
    /// PEM of the certificate authority the relay's HTTPS certificate comes from (the
    /// bureau's own CA), when it is not a public one: every later sync trusts only it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_ca_pem: Option<String>,
}

impl Store {
    /// The actor id this store writes changes as (hex).
    pub fn actor_hex(&self) -> String {
        self.actor.to_hex_string()
    }

    /// Starts a new actor id: done at every enrollment so a copied or restored store never
    /// writes with an actor id that another device already uses.
    pub fn rotate_actor(&mut self) -> Result<String> {
        let a = ActorId::random();
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES('actor', ?1) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            [a.to_hex_string()],
        )?;
        self.actor = a;
        Ok(self.actor_hex())
    }

    /// The identity the store acts as, once enrolled.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Sets the identity (after enrollment, or for the relay's own store).
    pub fn set_identity(&mut self, identity: Identity) -> Result<()> {
        self.set_meta("identity", &serde_json::to_string(&identity)?)?;
        self.identity = Some(identity);
        Ok(())
    }

    /// Runs `f` acting as `identity` without storing it: the relay's dashboard records each
    /// edit as the signed-in user while the relay keeps its own identity.
    pub fn act_as<T>(
        &mut self,
        identity: Identity,
        f: impl FnOnce(&mut Store) -> Result<T>,
    ) -> Result<T> {
        let saved = self.identity.replace(identity);
        let out = f(self);
        self.identity = saved;
        out
    }

    pub(super) fn author(&self) -> Result<Author> {
        self.identity
            .as_ref()
            .map(|i| i.author.clone())
            .ok_or(Error::NotEnrolled)
    }

    pub(super) fn note(
        &self,
        author: &Author,
        fields: Vec<String>,
        action: Option<&str>,
    ) -> ChangeNote {
        ChangeNote {
            user: author.user.clone(),
            device: author.device.clone(),
            fields,
            action: action.map(str::to_owned),
        }
    }
}
