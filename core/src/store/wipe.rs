//! Logout and device handover: everything local goes, but never unsynced work by surprise.
//!
//! [`Store::unsynced_work`] reports what a wipe would lose; [`Store::wipe`] refuses while there
//! is any unless the shell passes [`WipeMode::DiscardUnsynced`] (after the member confirmed it).
//! Unsynced means outbox entries, photos whose bytes the server does not have yet, and changes
//! the server refused. The database file, its WAL and both photo directories are removed; with an encrypted store the shell then deletes the
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
    /// Orders those changes and photos belong to.
    pub orders: u64,
    /// Photos taken on this device whose bytes the server does not have yet (their records may
    /// already be synced: the bytes wait for an unmetered network).
    pub photos_not_uploaded: u64,
    /// Bytes of those photos still to send.
    pub photo_bytes_not_uploaded: u64,
    /// Changes the server refused (kept in [`Store::rejected_changes`] for the member to
    /// read): a wipe would throw away the only copy of that work too.
    pub rejected_changes: u64,
}

impl UnsyncedWork {
    /// Nothing a wipe would lose.
    pub fn is_empty(&self) -> bool {
        self.pending_changes == 0 && self.photos_not_uploaded == 0 && self.rejected_changes == 0
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
            let orders: i64 = c.query_row(
                "SELECT count(*) FROM (
                     SELECT order_id FROM outbox
                     UNION SELECT p.order_id FROM photos p JOIN photo_uploads u ON u.sha256 = p.sha256
                           WHERE u.state <> 'uploaded')",
                [],
                |r| r.get(0),
            )?;
            let (photos, photo_bytes): (i64, i64) = c.query_row(
                "SELECT count(*), coalesce(sum(bytes - sent), 0) FROM photo_uploads
                 WHERE state <> 'uploaded' AND sha256 IN (SELECT sha256 FROM photos)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let rejected: i64 =
                c.query_row("SELECT count(*) FROM sync_rejections", [], |r| r.get(0))?;
            Ok(UnsyncedWork {
                pending_changes: by_entity.iter().map(|(_, n)| n).sum(),
                by_entity,
                orders: orders as u64,
                photos_not_uploaded: photos.max(0) as u64,
                photo_bytes_not_uploaded: photo_bytes.max(0) as u64,
                rejected_changes: rejected.max(0) as u64,
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
        // The photo files (ID cards among them) live in `<db>-photos/`, and the downloaded
        // documents the customer supplied (certificates, ID cards) in `<db>-documents/`: they go
        // too.
        for suffix in ["-photos", "-documents"] {
            let mut dir = path.clone().into_os_string();
            dir.push(suffix);
            match std::fs::remove_dir_all(PathBuf::from(dir)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!("local store wiped");
        Ok(())
    }
}
