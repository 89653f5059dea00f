//! Logout and device handover: everything local goes, but never unsynced work by surprise.
//!
//! [`Store::unsynced_work`] reports what a wipe would lose; [`Store::wipe`] refuses while there
//! is any unless the shell passes [`WipeMode::DiscardUnsynced`] (after the member confirmed it).
//! The database file and its WAL are removed; with an encrypted store the shell then deletes the
//! key from the keystore, which makes any copy of the old file (flash wear levelling, a backup)
//! unreadable.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Store;
use super::outbox::Entity;
use crate::error::{Error, Result};

/// Work that exists only on this device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsyncedWork {
    /// Outbox entries not yet accepted by the server.
    pub pending_changes: u64,
    /// The same, per kind of record (readings, status events, ...).
    pub by_entity: Vec<(Entity, u64)>,
    /// Orders those changes belong to.
    pub orders: u64,
}

impl UnsyncedWork {
    pub fn is_empty(&self) -> bool {
        self.pending_changes == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeMode {
    /// Refuse with [`Error::UnsyncedWork`] if anything is unsynced.
    OnlyIfSynced,
    /// The member was shown [`Store::unsynced_work`] and chose to discard it.
    DiscardUnsynced,
}

impl Store {
    /// What a wipe would lose. Cheap.
    pub fn unsynced_work(&self) -> Result<UnsyncedWork> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT entity, count(*) FROM outbox GROUP BY entity ORDER BY entity",
            )?;
            let by_entity = stmt
                .query_map([], |r| {
                    Ok((
                        super::codec::parsed::<Entity>(r, 0)?,
                        r.get::<_, i64>(1)? as u64,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let orders: i64 =
                c.query_row("SELECT count(DISTINCT order_id) FROM outbox", [], |r| {
                    r.get(0)
                })?;
            Ok(UnsyncedWork {
                pending_changes: by_entity.iter().map(|(_, n)| n).sum(),
                by_entity,
                orders: orders as u64,
            })
        })
    }

    /// Deletes the store's files. Consumes the store: nothing can use it afterwards.
    pub fn wipe(self, mode: WipeMode) -> Result<()> {
        let unsynced = self.unsynced_work()?;
        if mode == WipeMode::OnlyIfSynced && !unsynced.is_empty() {
            return Err(Error::UnsyncedWork(unsynced));
        }
        let path = self.path.clone();
        drop(self);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(PathBuf::from(p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The photo files (ID cards among them) live in `<db>-photos/`: they go too.
        let mut photos = path.into_os_string();
        photos.push("-photos");
        match std::fs::remove_dir_all(PathBuf::from(photos)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!("local store wiped");
        Ok(())
    }
}
