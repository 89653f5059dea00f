//! Who a token belongs to: the device learns its member and crew from the server at login, so
//! the shell only ever handles the token.

use serde::{Deserialize, Serialize};

use super::{RunTicket, SyncClient, SyncError};
use crate::store::{Session, Store};

/// The server's answer to `GET /v1/sync/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub member_id: String,
    pub crew_id: Option<String>,
    pub role: String,
    pub device: String,
}

impl SyncClient {
    /// Asks the server whose token this is. Blocking; a run like a sync (one at a time, stopped
    /// by a cancel).
    pub fn whoami(&self) -> Result<Me, SyncError> {
        self.whoami_from(self.ticket())
    }

    fn whoami_from(&self, ticket: RunTicket) -> Result<Me, SyncError> {
        let _running = self.start_run(ticket)?;
        let url = format!("{}/v1/sync/me", self.config.server_url);
        self.runtime
            .block_on(self.send::<Me>(|| self.http.get(&url)))
    }

    /// Signs the device in as the token's crew member: checks the token with the server and
    /// records the member and crew in the store. A dispatcher's token is refused.
    pub fn login(&self, store: &Store) -> Result<Me, SyncError> {
        self.login_from(self.ticket(), store)
    }

    /// [`SyncClient::login`] for a run asked for when `ticket` was taken.
    pub fn login_from(&self, ticket: RunTicket, store: &Store) -> Result<Me, SyncError> {
        let me = self.whoami_from(ticket)?;
        let Some(crew_id) = me.crew_id.clone().filter(|c| !c.is_empty()) else {
            return Err(SyncError::Forbidden);
        };
        store.sign_in(&Session {
            member_id: me.member_id.clone(),
            crew_id,
        })?;
        Ok(me)
    }
}
