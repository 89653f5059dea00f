//! Photos linked to orders, and each order's document checklist.
//!
//! Adding a photo: normalise it (CPU, no lock held), write its files durably under the store's
//! photo directory, then insert its row and its outbox entry in one transaction. A crash between
//! the two leaves a file without a row, which the sweep at the next [`Store::open`] removes; it
//! never leaves a row without its file. All file writes and removals, and the transactions
//! that add or drop photo rows, happen under one process-wide lock, so a file the store is still
//! counting on is never removed.
//!
//! Privacy: the files live in the app-private directory beside the database (never a shared
//! gallery), carry no metadata, and [`Store::delete_order_local_data`] removes them once the
//! order is done and synced.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{self, ms};
use super::outbox::{self, Change, Entity, Op};
use super::progress::status_and_version;
use super::{Store, WriteCtx, require_session};
use crate::error::{Error, Result};
use crate::geo::GeoPoint;
use crate::hlc::Hlc;
use crate::photo::cipher::PhotoCipher;
use crate::photo::{
    NormalizeOptions, NormalizedPhoto, PhotoFiles, ReadError, SourceFormat, normalize,
};
use crate::work_order::{DocumentKind, Status, WorkOrder};

/// Serialises photo file writes and removals with the row changes that depend on them.
static PHOTO_FILES: Mutex<()> = Mutex::new(());

pub(super) fn files_lock() -> MutexGuard<'static, ()> {
    PHOTO_FILES.lock().unwrap_or_else(|p| p.into_inner())
}

/// A photo linked to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Photo {
    pub id: Uuid,
    pub order_id: Uuid,
    pub kind: DocumentKind,
    /// Content address: lowercase hex SHA-256 of the stored JPEG.
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub thumbnail_bytes: u64,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    pub source_format: SourceFormat,
    /// The size the camera delivered, upright.
    pub original_width: u32,
    pub original_height: u32,
    /// When the camera took it (EXIF; its local time read in the utility's time zone when the
    /// camera recorded no offset).
    pub captured_at: Option<DateTime<Utc>>,
    /// Where the camera was (EXIF GPS).
    pub location: Option<GeoPoint>,
    pub added_at: DateTime<Utc>,
    pub member_id: String,
    pub hlc: Hlc,
    /// ID cards, property certificates and business licences are sensitive personal information.
    pub sensitive: bool,
}

/// The largest photo a record may describe (normalised photos are far smaller; a camera's
/// 12 MP JPEG normalises to well under 2 MB).
pub const MAX_PHOTO_BYTES: u64 = 20 * 1024 * 1024;
/// The largest thumbnail a record may describe.
pub const MAX_THUMBNAIL_BYTES: u64 = 1024 * 1024;

impl Photo {
    /// Checks a photo record that came from elsewhere (a push on the server, a pull on the
    /// phone): a content address that can only name a file (never a path), sizes within the
    /// limits, and the sensitivity its kind implies. Times are the caller's to check.
    pub fn check_record(&self) -> std::result::Result<(), String> {
        if !crate::photo::is_content_address(&self.sha256) {
            return Err("sha256: 64 lowercase hex digits".into());
        }
        if self.bytes == 0 || self.bytes > MAX_PHOTO_BYTES {
            return Err(format!("a photo has 1 to {MAX_PHOTO_BYTES} bytes"));
        }
        if self.thumbnail_bytes > MAX_THUMBNAIL_BYTES {
            return Err("the thumbnail is too large".into());
        }
        if self.sensitive != self.kind.is_sensitive() {
            return Err("sensitive does not match the document kind".into());
        }
        if let Some(p) = self.location {
            crate::geo::GeoPoint::new(p.lat, p.lon).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// One line of an order's document checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub kind: DocumentKind,
    /// Required by the kind of work or by dispatch; other kinds appear once captured.
    pub required: bool,
    /// How many photos of this kind the order has.
    pub photos: u32,
    /// The most recently added one.
    pub latest: Option<Uuid>,
}

impl ChecklistItem {
    pub fn captured(&self) -> bool {
        self.photos > 0
    }
}

/// What an order's documents look like: what is captured and what is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentChecklist {
    pub order_id: Uuid,
    /// Required kinds first (the work kind's defaults, then what dispatch added), then any
    /// other kinds captured.
    pub items: Vec<ChecklistItem>,
    pub missing: Vec<DocumentKind>,
}

impl DocumentChecklist {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// What [`Store::delete_order_local_data`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedOrderData {
    pub photos: u64,
    /// Photo files removed (a file another order still uses is kept).
    pub files: u64,
}

pub(crate) const PHOTO_COLUMNS: &str = "id, order_id, kind, sha256, bytes, width, height, thumb_bytes, thumb_width, thumb_height, \
     source_format, original_width, original_height, captured_at, lat, lon, added_at, member_id, hlc";

pub(crate) fn photo_from_row(r: &Row<'_>) -> rusqlite::Result<Photo> {
    let kind: DocumentKind = codec::parsed(r, 2)?;
    Ok(Photo {
        id: codec::parsed(r, 0)?,
        order_id: codec::parsed(r, 1)?,
        kind,
        sha256: r.get(3)?,
        bytes: r.get::<_, i64>(4)?.max(0) as u64,
        width: r.get(5)?,
        height: r.get(6)?,
        thumbnail_bytes: r.get::<_, i64>(7)?.max(0) as u64,
        thumbnail_width: r.get(8)?,
        thumbnail_height: r.get(9)?,
        source_format: codec::parsed(r, 10)?,
        original_width: r.get(11)?,
        original_height: r.get(12)?,
        captured_at: r
            .get::<_, Option<i64>>(13)?
            .and_then(DateTime::from_timestamp_millis),
        location: match (r.get::<_, Option<f64>>(14)?, r.get::<_, Option<f64>>(15)?) {
            (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
            _ => None,
        },
        added_at: codec::time(r, 16)?,
        member_id: r.get(17)?,
        hlc: codec::parsed(r, 18)?,
        sensitive: kind.is_sensitive(),
    })
}

fn find_by_sha(conn: &Connection, order_id: Uuid, sha256: &str) -> Result<Option<Photo>> {
    let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE order_id = ?1 AND sha256 = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![order_id.to_string(), sha256], photo_from_row)
        .optional()?)
}

fn references(conn: &Connection, sha256: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM photos WHERE sha256 = ?1")?
        .query_row([sha256], |r| r.get(0))?)
}

/// The photos an order accepts: any status but cancelled. A completed order still takes the
/// document the customer supplies after the visit.
fn check_accepts_photos(conn: &Connection, order_id: Uuid) -> Result<i64> {
    let (status, version) = status_and_version(conn, order_id)?;
    if status == Status::Cancelled {
        return Err(Error::invalid(
            "status",
            "a cancelled order takes no photos",
        ));
    }
    Ok(version)
}

fn insert_photo(
    tx: &Transaction<'_>,
    ctx: &WriteCtx<'_>,
    order_id: Uuid,
    kind: DocumentKind,
    n: &NormalizedPhoto,
) -> Result<Photo> {
    let session = require_session(tx)?;
    let version = check_accepts_photos(tx, order_id)?;
    if let Some(existing) = find_by_sha(tx, order_id, &n.sha256)? {
        return Ok(existing); // the same photo twice: one row, nothing queued again
    }
    let captured_at = n.capture.taken_at.and_then(|local| {
        let offset = n.capture.utc_offset.unwrap_or(ctx.options.timezone);
        offset
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
    });
    let hlc = outbox::next_hlc(tx, ctx)?;
    let photo = Photo {
        id: Uuid::now_v7(),
        order_id,
        kind,
        sha256: n.sha256.clone(),
        bytes: n.jpeg.len() as u64,
        width: n.width,
        height: n.height,
        thumbnail_bytes: n.thumbnail.len() as u64,
        thumbnail_width: n.thumbnail_width,
        thumbnail_height: n.thumbnail_height,
        source_format: n.source.format,
        original_width: n.source.width,
        original_height: n.source.height,
        captured_at,
        // Site-level precision, as for status reports (the camera's EXIF may be finer).
        location: n.capture.location.map(crate::geo::GeoPoint::site_level),
        // Stored in milliseconds: return what a later read returns.
        added_at: DateTime::from_timestamp_millis(ms(ctx.now)).unwrap_or(ctx.now),
        member_id: session.member_id,
        hlc,
        sensitive: kind.is_sensitive(),
    };
    tx.prepare_cached(
        "INSERT INTO photos (id, order_id, kind, sha256, bytes, width, height, thumb_bytes, thumb_width,
             thumb_height, source_format, original_width, original_height, captured_at, lat, lon,
             added_at, member_id, hlc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        photo.id.to_string(),
        order_id.to_string(),
        kind.as_str(),
        photo.sha256,
        photo.bytes as i64,
        photo.width,
        photo.height,
        photo.thumbnail_bytes as i64,
        photo.thumbnail_width,
        photo.thumbnail_height,
        photo.source_format.as_str(),
        photo.original_width,
        photo.original_height,
        photo.captured_at.map(ms),
        photo.location.map(|p| p.lat),
        photo.location.map(|p| p.lon),
        ms(photo.added_at),
        photo.member_id,
        hlc.to_string(),
    ])?;
    let id = photo.id.to_string();
    let change = Change {
        entity: Entity::Photo,
        entity_id: &id,
        order_id,
        op: Op::Create,
        fields: serde_json::to_value(&photo)?,
        base_version: version,
    };
    outbox::push(tx, ctx, change, hlc)?;
    Ok(photo)
}

/// Removes photo files no row refers to, and leftover temporary files. Runs at open, before
/// any other thread can add a photo.
pub(crate) fn sweep_orphans(store: &Store) -> Result<usize> {
    let dir = store.photos_dir();
    if !dir.exists() {
        return Ok(0);
    }
    let _files = files_lock();
    let keep: HashSet<String> = store.read(|c| {
        let mut stmt = c.prepare("SELECT DISTINCT sha256 FROM photos")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })?;
    Ok(PhotoFiles::open(dir)?.sweep(&keep)? + sweep_documents_locked(store)?)
}

fn sweep_documents_locked(store: &Store) -> Result<usize> {
    let dir = store.documents_dir();
    if !dir.exists() {
        return Ok(0);
    }
    let keep: HashSet<String> = store.read(|c| {
        let mut stmt = c.prepare("SELECT DISTINCT sha256 FROM remote_photos")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })?;
    Ok(PhotoFiles::open(dir)?.sweep(&keep)?)
}

impl Store {
    /// Removes downloaded documents no pulled photo record refers to any more: those of
    /// orders that left the crew (reassigned, archived). Runs at open and after a pull that
    /// removed orders. Returns how many files it removed.
    pub fn sweep_documents(&self) -> Result<usize> {
        let _files = files_lock();
        sweep_documents_locked(self)
    }

    /// The app-private directory holding the photo files: beside the database, named after it
    /// (`fieldcrew.db` -> `fieldcrew.db-photos`), like SQLite's own `-wal` file.
    pub fn photos_dir(&self) -> PathBuf {
        let mut name = self.path().as_os_str().to_owned();
        name.push("-photos");
        PathBuf::from(name)
    }

    fn photo_files(&self) -> Result<PhotoFiles> {
        Ok(PhotoFiles::open(self.photos_dir())?.with_cipher(self.photo_cipher()))
    }

    /// Photo files are encrypted exactly when the database is, under the store's photo key.
    fn photo_cipher(&self) -> Option<PhotoCipher> {
        self.photo_key().map(PhotoCipher::from_data_key)
    }

    fn read_photo_file(
        &self,
        photo: &Photo,
        read: impl FnOnce(&PhotoFiles, &str) -> std::result::Result<Vec<u8>, ReadError>,
    ) -> Result<Vec<u8>> {
        let files = PhotoFiles::at(self.photos_dir()).with_cipher(self.photo_cipher());
        read(&files, &photo.sha256).map_err(|e| match e {
            ReadError::Io(e) => Error::Io(e),
            ReadError::Tampered => {
                tracing::warn!(photo = %photo.id, "photo file failed authentication");
                Error::PhotoTampered { photo: photo.id }
            }
        })
    }

    /// The photo's JPEG for display or upload: decrypted, and checked against its content
    /// address. A changed file is [`Error::PhotoTampered`], never shown. Reads the file: call it
    /// off the main thread.
    pub fn photo_bytes(&self, photo: &Photo) -> Result<Vec<u8>> {
        self.read_photo_file(photo, PhotoFiles::read_photo)
    }

    /// The thumbnail's JPEG, decrypted and authenticated.
    pub fn thumbnail_bytes(&self, photo: &Photo) -> Result<Vec<u8>> {
        self.read_photo_file(photo, PhotoFiles::read_thumbnail)
    }

    /// Normalises the camera's bytes (the defaults for `kind`) and links the photo to the order.
    /// Slow (decoding and encoding): call it off the main thread. See [`Store::add_photo_with`].
    pub fn add_photo(&self, order_id: Uuid, kind: DocumentKind, bytes: &[u8]) -> Result<Photo> {
        self.add_photo_with(order_id, kind, bytes, &NormalizeOptions::for_kind(kind))
    }

    /// Normalises the camera's bytes and links the photo to the order: the files are written
    /// and made durable first, then the row and its outbox entry in one transaction.
    ///
    /// Bad input is [`Error::Photo`] and stores nothing. The same photo added to the same order
    /// again returns the existing photo (nothing new is stored or queued). Any order but a
    /// cancelled one takes photos, so a document the customer supplies after the visit still
    /// completes the checklist.
    pub fn add_photo_with(
        &self,
        order_id: Uuid,
        kind: DocumentKind,
        bytes: &[u8],
        options: &NormalizeOptions,
    ) -> Result<Photo> {
        // Cheap refusals first: no work, and no file, for an order that will not take the photo.
        self.read(|c| {
            require_session(c)?;
            check_accepts_photos(c, order_id)
        })?;
        let normalized = normalize(bytes, options)?;
        let files = self.photo_files()?;
        let _files = files_lock();
        let created = files.put(&normalized.sha256, &normalized.jpeg, &normalized.thumbnail)?;
        let result = self.write(|tx, ctx| insert_photo(tx, ctx, order_id, kind, &normalized));
        if result.is_err() && created {
            // Nothing refers to the files this call wrote: remove them now rather than at the
            // next open. (Under the lock no other call can have started to use them.)
            if self.read(|c| references(c, &normalized.sha256))? == 0 {
                files.remove(&normalized.sha256)?;
            }
        }
        result
    }

    /// One photo. Cheap.
    pub fn photo(&self, id: Uuid) -> Result<Photo> {
        self.read(|c| {
            let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE id = ?1");
            c.prepare_cached(&sql)?
                .query_row([id.to_string()], photo_from_row)
                .optional()?
                .ok_or_else(|| Error::not_found("photo", id))
        })
    }

    /// An order's photos, by kind, oldest first. Cheap.
    pub fn photos(&self, order_id: Uuid) -> Result<Vec<Photo>> {
        self.read(|c| load_photos(c, order_id))
    }

    /// Where the photo's file is (app-private). With an encrypted store the file is ciphertext:
    /// show [`Store::photo_bytes`] instead.
    pub fn photo_path(&self, photo: &Photo) -> PathBuf {
        PhotoFiles::at(self.photos_dir()).photo_path(&photo.sha256)
    }

    pub fn thumbnail_path(&self, photo: &Photo) -> PathBuf {
        PhotoFiles::at(self.photos_dir()).thumbnail_path(&photo.sha256)
    }

    /// The order's documents: required by its kind of work (and by dispatch), captured or
    /// missing. Cheap.
    pub fn document_checklist(&self, order_id: Uuid) -> Result<DocumentChecklist> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let order = super::orders::load_order(&tx, order_id)?;
            let checklist = checklist_of(&tx, &order)?;
            tx.finish()?;
            Ok(checklist)
        })
    }

    /// Deletes everything this device holds about an order that is done with: the order, its
    /// records and photos, the photo files no other order uses and its downloaded documents.
    /// Only for a completed or cancelled order with nothing left to send: no outbox entry and
    /// no photo whose bytes the server lacks; anything else is refused and nothing is deleted.
    pub fn delete_order_local_data(&self, order_id: Uuid) -> Result<DeletedOrderData> {
        let files = self.photo_files()?;
        let _files = files_lock();
        let (photos, orphaned) = self.write(|tx, _| {
            let (status, _) = status_and_version(tx, order_id)?;
            if !matches!(status, Status::Completed | Status::Cancelled) {
                return Err(Error::invalid(
                    "status",
                    "only a completed or cancelled order's local data can be deleted",
                ));
            }
            let pending: i64 = tx.query_row(
                "SELECT count(*) FROM outbox WHERE order_id = ?1",
                [order_id.to_string()],
                |r| r.get(0),
            )?;
            if pending > 0 {
                return Err(Error::invalid(
                    "outbox",
                    "the order has changes the server has not received",
                ));
            }
            if super::transfer::unsent_photos(tx, &order_id.to_string())? > 0 {
                return Err(Error::invalid(
                    "photos",
                    "the order has photos the server does not have yet",
                ));
            }
            let shas: Vec<String> = {
                let mut stmt = tx.prepare("SELECT sha256 FROM photos WHERE order_id = ?1")?;
                let rows = stmt.query_map([order_id.to_string()], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute(
                "DELETE FROM order_search WHERE rowid = (SELECT rid FROM work_orders WHERE id = ?1)",
                [order_id.to_string()],
            )?;
            tx.execute("DELETE FROM work_orders WHERE id = ?1", [order_id.to_string()])?;
            let mut orphaned = Vec::new();
            for sha in &shas {
                if references(tx, sha)? == 0 {
                    orphaned.push(sha.clone());
                }
            }
            Ok((shas.len() as u64, orphaned))
        })?;
        for sha in &orphaned {
            files.remove(sha)?;
        }
        // The order's downloaded documents (its remote photos went with the order's rows).
        sweep_documents_locked(self)?;
        Ok(DeletedOrderData {
            photos,
            files: orphaned.len() as u64,
        })
    }
}

/// The checklist of `order` as stored: this device's photos and those pulled from the server.
pub(crate) fn checklist_of(conn: &Connection, order: &WorkOrder) -> Result<DocumentChecklist> {
    let order_id = order.id;
    let mut required: Vec<DocumentKind> = order.kind.default_documents().to_vec();
    for kind in &order.required_documents {
        if !required.contains(kind) {
            required.push(*kind);
        }
    }
    let mut counts: Vec<(DocumentKind, u32, Uuid)> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            // This device's photos, and those pulled from the server: a document the office
            // added (the customer supplied it online) or a crew-mate took.
            "SELECT kind, count(*), max(id) FROM (
                 SELECT kind, id FROM photos WHERE order_id = ?1
                 UNION ALL
                 SELECT json_extract(body, '$.kind'), id FROM remote_photos WHERE order_id = ?1)
             GROUP BY kind",
        )?;
        let rows = stmt.query_map([order_id.to_string()], |r| {
            Ok((codec::parsed(r, 0)?, r.get(1)?, codec::parsed(r, 2)?))
        })?;
        for row in rows {
            counts.push(row?);
        }
    }
    let item = |kind: DocumentKind, required: bool| {
        let found = counts.iter().find(|(k, _, _)| *k == kind);
        ChecklistItem {
            kind,
            required,
            photos: found.map_or(0, |f| f.1),
            latest: found.map(|f| f.2),
        }
    };
    let mut items: Vec<ChecklistItem> = required.iter().map(|k| item(*k, true)).collect();
    let mut extra: Vec<DocumentKind> = counts
        .iter()
        .map(|c| c.0)
        .filter(|k| !required.contains(k))
        .collect();
    extra.sort();
    items.extend(extra.into_iter().map(|k| item(k, false)));
    let missing = items
        .iter()
        .filter(|i| i.required && !i.captured())
        .map(|i| i.kind)
        .collect();
    Ok(DocumentChecklist {
        order_id,
        items,
        missing,
    })
}

pub(crate) fn load_photos(conn: &Connection, order_id: Uuid) -> Result<Vec<Photo>> {
    let sql = format!(
        "SELECT {PHOTO_COLUMNS} FROM photos WHERE order_id = ?1 ORDER BY kind, added_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([order_id.to_string()], photo_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
