//! The photo transfer queues on the device (migration `004_photo_transfer.sql`): uploads of the
//! crew's own photos, downloads of the order's other photos (documents the customer supplied
//! online, photos from the crew's other devices). The bytes move in `crate::sync::photos`; this
//! module keeps the state, so a killed app resumes where the server says it stopped.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{self, ms};
use super::photos::{PHOTO_COLUMNS, photo_from_row};
use super::{Photo, Store};
use crate::error::{Error, Result};
use crate::photo::cipher::PhotoCipher;
use crate::photo::{PhotoFiles, ReadError, sha256_hex};

/// Where a photo's bytes are. Per photo and per order: [`Store::photo_transfer`],
/// [`Store::order_photo_transfers`]. Cheap to query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PhotoTransferState {
    /// Only on this device (the upload has not started, or waits for the metadata to sync).
    LocalOnly,
    /// The server holds `sent` of `total` bytes.
    Uploading { sent: u64, total: u64 },
    /// Verified on the server.
    OnServer,
}

/// One of the device's photos and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoTransfer {
    pub photo_id: Uuid,
    pub order_id: Uuid,
    pub sha256: String,
    pub state: PhotoTransferState,
    pub attempts: u32,
    /// The last failure, for the shell (no personal data).
    pub last_error: Option<String>,
}

/// A photo of the order taken elsewhere, and whether its bytes are here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemotePhoto {
    pub photo: Photo,
    pub state: RemotePhotoState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RemotePhotoState {
    /// Not downloaded yet.
    Remote,
    Downloading {
        received: u64,
        total: u64,
    },
    /// In the app-private cache: [`Store::remote_photo_bytes`].
    Cached,
}

/// What waits to move. Cheap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferBacklog {
    pub uploads: u64,
    /// Bytes the server does not have yet.
    pub upload_bytes: u64,
    pub downloads: u64,
    pub download_bytes: u64,
}

/// An upload that may start now: its metadata reached the server.
#[derive(Debug, Clone)]
pub(crate) struct DueUpload {
    pub photo: Photo,
    pub sent: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct DueDownload {
    pub photo: Photo,
    pub received: u64,
    pub has_thumb: bool,
}

fn state_of(state: &str, sent: i64, bytes: i64) -> PhotoTransferState {
    match state {
        "uploaded" => PhotoTransferState::OnServer,
        "uploading" => PhotoTransferState::Uploading {
            sent: sent.max(0) as u64,
            total: bytes.max(0) as u64,
        },
        _ => PhotoTransferState::LocalOnly,
    }
}

const TRANSFER_SELECT: &str =
    "SELECT p.id, p.order_id, p.sha256, coalesce(u.state, 'local'), coalesce(u.sent, 0), p.bytes,
        coalesce(u.attempts, 0), u.last_error
     FROM photos p LEFT JOIN photo_uploads u ON u.sha256 = p.sha256";

fn transfer_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhotoTransfer> {
    let state: String = r.get(3)?;
    Ok(PhotoTransfer {
        photo_id: codec::parsed(r, 0)?,
        order_id: codec::parsed(r, 1)?,
        sha256: r.get(2)?,
        state: state_of(&state, r.get(4)?, r.get(5)?),
        attempts: r.get::<_, i64>(6)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_error: r.get(7)?,
    })
}

/// Delay before the next attempt after `attempts` failures: 2^n seconds, at most an hour.
fn backoff_ms(attempts: i64) -> i64 {
    1000i64
        .saturating_mul(1i64 << attempts.clamp(0, 12))
        .min(3_600_000)
}

/// Photos of an order that the server does not have yet (they keep the order on the device).
pub(crate) fn unsent_photos(tx: &Transaction<'_>, order_id: &str) -> Result<i64> {
    Ok(tx
        .prepare_cached(
            "SELECT count(*) FROM photos p JOIN photo_uploads u ON u.sha256 = p.sha256
             WHERE p.order_id = ?1 AND u.state <> 'uploaded'",
        )?
        .query_row([order_id], |r| r.get(0))?)
}

/// Records the photos of a pulled order that this device did not take.
pub(crate) fn note_remote_photos(tx: &Transaction<'_>, photos: &[Photo]) -> Result<()> {
    for p in photos {
        let local: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM photos WHERE id = ?1)")?
            .query_row([p.id.to_string()], |r| r.get(0))?;
        if local || !crate::photo::is_content_address(&p.sha256) {
            continue;
        }
        tx.prepare_cached(
            "INSERT OR IGNORE INTO remote_photos (id, order_id, sha256, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            p.id.to_string(),
            p.order_id.to_string(),
            p.sha256,
            serde_json::to_string(p)?
        ])?;
    }
    Ok(())
}

impl Store {
    /// The app-private cache of downloaded photos: `<db>-documents`, encrypted like the
    /// device's own photos.
    pub fn documents_dir(&self) -> PathBuf {
        let mut name = self.path().as_os_str().to_owned();
        name.push("-documents");
        PathBuf::from(name)
    }

    fn document_files(&self) -> Result<PhotoFiles> {
        Ok(PhotoFiles::open(self.documents_dir())?
            .with_cipher(self.photo_key().map(PhotoCipher::from_data_key)))
    }

    /// Where one of the device's photos is: local only, uploading, on the server. Cheap.
    pub fn photo_transfer(&self, photo_id: Uuid) -> Result<PhotoTransfer> {
        self.read(|c| {
            c.prepare_cached(&format!("{TRANSFER_SELECT} WHERE p.id = ?1"))?
                .query_row([photo_id.to_string()], transfer_from_row)
                .optional()?
                .ok_or_else(|| Error::not_found("photo", photo_id))
        })
    }

    /// The transfer state of each of the order's photos taken on this device. Cheap.
    pub fn order_photo_transfers(&self, order_id: Uuid) -> Result<Vec<PhotoTransfer>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{TRANSFER_SELECT} WHERE p.order_id = ?1 ORDER BY p.added_at, p.id"
            ))?;
            let rows = stmt.query_map([order_id.to_string()], transfer_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// What waits to be uploaded and downloaded. Cheap.
    pub fn transfer_backlog(&self) -> Result<TransferBacklog> {
        self.read(|c| {
            let (uploads, upload_bytes): (i64, i64) = c.query_row(
                "SELECT count(*), coalesce(sum(bytes - sent), 0) FROM photo_uploads WHERE state <> 'uploaded'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (downloads, download_bytes): (i64, i64) = c.query_row(
                "SELECT count(*), coalesce(sum(json_extract(body, '$.bytes') - received), 0)
                 FROM remote_photos WHERE state <> 'cached'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(TransferBacklog {
                uploads: uploads.max(0) as u64,
                upload_bytes: upload_bytes.max(0) as u64,
                downloads: downloads.max(0) as u64,
                download_bytes: download_bytes.max(0) as u64,
            })
        })
    }

    /// Uploads that may run now: not on the server, not waiting out a backoff, and every
    /// photo record with that content address already acknowledged by the server (the server
    /// accepts bytes only for a photo it knows). Oldest first.
    pub(crate) fn due_uploads(&self) -> Result<Vec<DueUpload>> {
        let now = ms(self.now());
        self.read(|c| {
            let cols = PHOTO_COLUMNS
                .split(", ")
                .map(|col| format!("p.{}", col.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {cols}, u.sent FROM photo_uploads u
                 JOIN photos p ON p.id = (SELECT id FROM photos WHERE sha256 = u.sha256 ORDER BY added_at, id LIMIT 1)
                 WHERE u.state <> 'uploaded' AND u.next_attempt_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox o JOIN photos q ON o.entity_id = q.id
                                   WHERE o.entity = 'photo' AND q.sha256 = u.sha256)
                 ORDER BY u.updated_at, u.sha256"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let n = PHOTO_COLUMNS.split(", ").count();
            let rows = stmt.query_map([now], |r| {
                Ok(DueUpload {
                    photo: photo_from_row(r)?,
                    sent: r.get::<_, i64>(n)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The server holds `sent` bytes of `sha256`.
    pub(crate) fn note_upload_progress(&self, sha256: &str, sent: u64) -> Result<()> {
        self.write(|tx, ctx| {
            tx.prepare_cached(
                "UPDATE photo_uploads SET state = 'uploading', sent = ?2, updated_at = ?3
                 WHERE sha256 = ?1 AND state <> 'uploaded'",
            )?
            .execute(params![sha256, sent as i64, ms(ctx.now)])?;
            Ok(())
        })
    }

    pub(crate) fn mark_uploaded(&self, sha256: &str) -> Result<()> {
        self.write(|tx, ctx| {
            tx.prepare_cached(
                "UPDATE photo_uploads SET state = 'uploaded', sent = bytes, last_error = NULL, updated_at = ?2
                 WHERE sha256 = ?1",
            )?
            .execute(params![sha256, ms(ctx.now)])?;
            // An order that left the crew while this photo was unsent can go now.
            super::sync_state::flush_deferred_removals(tx)?;
            Ok(())
        })
    }

    /// A failed attempt: the photo waits out a growing delay; the others go on.
    pub(crate) fn note_upload_failure(&self, sha256: &str, error: &str) -> Result<()> {
        self.write(|tx, ctx| {
            tx.prepare_cached(
                "UPDATE photo_uploads SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_at = ?3 + (1000 << min(attempts, 12))
                 WHERE sha256 = ?1",
            )?
            .execute(params![sha256, error, ms(ctx.now)])?;
            Ok(())
        })
    }

    /// Makes every waiting upload and download due now (the shell calls it when the network
    /// comes back, so backoffs from the offline time do not delay the transfer).
    pub fn retry_transfers_now(&self) -> Result<()> {
        self.write(|tx, _| {
            tx.execute("UPDATE photo_uploads SET next_attempt_at = 0", [])?;
            tx.execute("UPDATE remote_photos SET next_attempt_at = 0", [])?;
            Ok(())
        })
    }

    /// The order's photos taken elsewhere (documents the customer supplied online, the crew's
    /// other devices), with whether their bytes are cached here. Cheap.
    pub fn remote_photos(&self, order_id: Uuid) -> Result<Vec<RemotePhoto>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT body, state, received FROM remote_photos WHERE order_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([order_id.to_string()], |r| {
                let photo: Photo = codec::json(r, 0)?;
                let state: String = r.get(1)?;
                let received = r.get::<_, i64>(2)?.max(0) as u64;
                let state = match state.as_str() {
                    "cached" => RemotePhotoState::Cached,
                    "downloading" => RemotePhotoState::Downloading {
                        received,
                        total: photo.bytes,
                    },
                    _ => RemotePhotoState::Remote,
                };
                Ok(RemotePhoto { photo, state })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub(crate) fn due_downloads(&self) -> Result<Vec<DueDownload>> {
        let now = ms(self.now());
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT body, received, thumb IS NOT NULL FROM remote_photos
                 WHERE state <> 'cached' AND next_attempt_at <= ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([now], |r| {
                Ok(DueDownload {
                    photo: codec::json(r, 0)?,
                    received: r.get::<_, i64>(1)?.max(0) as u64,
                    has_thumb: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub(crate) fn save_download_thumbnail(&self, id: Uuid, thumb: &[u8]) -> Result<()> {
        self.write(|tx, _| {
            tx.prepare_cached("UPDATE remote_photos SET thumb = ?2 WHERE id = ?1")?
                .execute(params![id.to_string(), thumb])?;
            Ok(())
        })
    }

    /// Appends downloaded bytes at `offset` (which must be what is held); returns the new size.
    pub(crate) fn append_download(&self, id: Uuid, offset: u64, bytes: &[u8]) -> Result<u64> {
        self.write(|tx, _| {
            let (mut partial, received): (Vec<u8>, i64) = tx
                .prepare_cached(
                    "SELECT coalesce(partial, x''), received FROM remote_photos WHERE id = ?1",
                )?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .ok_or_else(|| Error::not_found("photo", id))?;
            if received as u64 != offset || partial.len() as u64 != offset {
                return Err(Error::invalid("download", "the offset moved"));
            }
            partial.extend_from_slice(bytes);
            tx.prepare_cached(
                "UPDATE remote_photos SET partial = ?2, received = ?3, state = 'downloading' WHERE id = ?1",
            )?
            .execute(params![id.to_string(), partial, partial.len() as i64])?;
            Ok(partial.len() as u64)
        })
    }

    /// Checks a finished download against its content address and moves it into the cache.
    /// A mismatch starts the download again.
    pub(crate) fn complete_download(&self, id: Uuid) -> Result<bool> {
        let (sha, partial, thumb): (String, Vec<u8>, Vec<u8>) = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT sha256, coalesce(partial, x''), coalesce(thumb, x'') FROM remote_photos WHERE id = ?1",
            )?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
        })?;
        if sha256_hex(&partial) != sha {
            self.write(|tx, ctx| {
                tx.prepare_cached(
                    "UPDATE remote_photos SET partial = NULL, received = 0, state = 'remote',
                         attempts = attempts + 1, last_error = 'hash mismatch', next_attempt_at = ?2
                     WHERE id = ?1",
                )?
                .execute(params![id.to_string(), ms(ctx.now)])?;
                Ok(())
            })?;
            return Ok(false);
        }
        // Under the files lock: a sweep after a pull must not run between the file and its row.
        let _files = super::photos::files_lock();
        self.document_files()?.put(&sha, &partial, &thumb)?;
        self.write(|tx, _| {
            tx.prepare_cached(
                "UPDATE remote_photos SET partial = NULL, thumb = NULL, state = 'cached', last_error = NULL
                 WHERE id = ?1",
            )?
            .execute([id.to_string()])?;
            // Other records of the same bytes are here now too.
            tx.prepare_cached(
                "UPDATE remote_photos SET partial = NULL, thumb = NULL, received = 0, state = 'cached'
                 WHERE sha256 = ?1",
            )?
            .execute([&sha])?;
            Ok(())
        })?;
        Ok(true)
    }

    pub(crate) fn note_download_failure(&self, id: Uuid, error: &str) -> Result<()> {
        self.write(|tx, ctx| {
            let attempts: i64 = tx
                .prepare_cached("SELECT attempts FROM remote_photos WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            tx.prepare_cached(
                "UPDATE remote_photos SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
                 WHERE id = ?1",
            )?
            .execute(params![
                id.to_string(),
                error,
                ms(ctx.now) + backoff_ms(attempts)
            ])?;
            Ok(())
        })
    }

    fn read_document(
        &self,
        photo: &Photo,
        read: impl FnOnce(&PhotoFiles, &str) -> std::result::Result<Vec<u8>, ReadError>,
    ) -> Result<Vec<u8>> {
        let files = PhotoFiles::at(self.documents_dir())
            .with_cipher(self.photo_key().map(PhotoCipher::from_data_key));
        read(&files, &photo.sha256).map_err(|e| match e {
            ReadError::Io(e) => Error::Io(e),
            ReadError::Tampered => Error::PhotoTampered { photo: photo.id },
        })
    }

    /// A downloaded photo's JPEG, decrypted and checked against its content address. Reads a
    /// file: off the main thread.
    pub fn remote_photo_bytes(&self, photo: &RemotePhoto) -> Result<Vec<u8>> {
        self.read_document(&photo.photo, PhotoFiles::read_photo)
    }

    /// A downloaded photo's thumbnail (empty when the server had none).
    pub fn remote_thumbnail_bytes(&self, photo: &RemotePhoto) -> Result<Vec<u8>> {
        self.read_document(&photo.photo, PhotoFiles::read_thumbnail)
    }
}
