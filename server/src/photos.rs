//! Photo files on the server, by content address (docs/sync-protocol.md, "Photo transfer").
//!
//! Layout under the data directory, which is never served as a web root: `photos/<aa>/<sha>.jpg`
//! (complete, verified), `photos/<aa>/<sha>.thumb.jpg`, `photos/partial/<sha>.part` (an upload
//! in progress: the bytes received so far, appended and fsynced as they arrive, so a cut
//! connection or a restart keeps them) and `photos/tmp/` (whole files being written).
//!
//! A photo becomes visible only after its SHA-256 has been checked: the partial file is hashed
//! and renamed into place (atomic on one file system), and the directory fsynced. A repeat of a
//! complete upload is answered "complete" without reading the body. One upload per content
//! address runs at a time; a second one meanwhile gets `409 conflict` and asks again.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fieldcrew_core::photo::is_content_address;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest photo and thumbnail the server accepts: the limits phones check pulled records
/// against too.
pub use fieldcrew_core::store::{MAX_PHOTO_BYTES, MAX_THUMBNAIL_BYTES};

/// How long a partial upload may sit untouched before the server drops it.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);

/// What the server holds of one content address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    /// Bytes received so far (the offset to send from); the photo's size once complete.
    pub received: u64,
    /// Verified and visible.
    pub complete: bool,
    /// The thumbnail is stored too.
    pub thumbnail: bool,
}

/// The outcome of finishing an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Still short of the announced size.
    Incomplete(u64),
    /// Verified and visible.
    Complete,
    /// The bytes do not hash to the address: discarded, the upload starts again.
    Mismatch,
}

/// The photo files of one data directory.
#[derive(Debug)]
pub struct PhotoBlobs {
    root: PathBuf,
    busy: Mutex<HashSet<String>>,
}

/// Holds the upload slot of one content address; released on drop.
pub struct Slot {
    blobs: Arc<PhotoBlobs>,
    sha: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.blobs.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.remove(&self.sha);
    }
}

fn bad_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256 content address")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl PhotoBlobs {
    /// Opens (creating, owner-only) `<data_dir>/photos`.
    pub fn open(data_dir: &Path) -> io::Result<PhotoBlobs> {
        let root = data_dir.join("photos");
        fs::create_dir_all(root.join("partial"))?;
        fs::create_dir_all(root.join("tmp"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o700))?;
        }
        let blobs = PhotoBlobs {
            root,
            busy: Mutex::new(HashSet::new()),
        };
        let removed = blobs.sweep_abandoned(ABANDONED_AFTER)?;
        if removed > 0 {
            tracing::info!(removed, "removed abandoned photo uploads");
        }
        Ok(blobs)
    }

    /// Removes what no upload will come back for: every whole file left half-written in `tmp/`
    /// (none can be in flight before the server serves), and partial uploads untouched for
    /// `max_age` (the phone gave the photo up, or was wiped). A phone that comes back later
    /// simply starts that photo from byte 0. Returns how many files it removed.
    pub fn sweep_abandoned(&self, max_age: std::time::Duration) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        let now = std::time::SystemTime::now();
        for entry in fs::read_dir(self.root.join("partial"))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let idle = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if meta.is_file() && idle > max_age {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn path(&self, sha: &str, thumbnail: bool) -> PathBuf {
        let ext = if thumbnail { "thumb.jpg" } else { "jpg" };
        self.root
            .join(sha.get(..2).unwrap_or("__"))
            .join(format!("{sha}.{ext}"))
    }

    fn partial(&self, sha: &str) -> PathBuf {
        self.root.join("partial").join(format!("{sha}.part"))
    }

    /// Where a verified photo is, if it is.
    pub fn photo_file(&self, sha: &str, thumbnail: bool) -> Option<PathBuf> {
        if !is_content_address(sha) {
            return None;
        }
        let p = self.path(sha, thumbnail);
        p.is_file().then_some(p)
    }

    pub fn status(&self, sha: &str) -> io::Result<UploadStatus> {
        if !is_content_address(sha) {
            return Err(bad_address());
        }
        let thumbnail = self.path(sha, true).is_file();
        if let Ok(m) = fs::metadata(self.path(sha, false)) {
            return Ok(UploadStatus {
                received: m.len(),
                complete: true,
                thumbnail,
            });
        }
        let received = match fs::metadata(self.partial(sha)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(UploadStatus {
            received,
            complete: false,
            thumbnail,
        })
    }

    /// Takes the upload slot of `sha`; `None` while another upload of it runs.
    pub fn claim(self: &Arc<Self>, sha: &str) -> Option<Slot> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(sha.to_owned()).then(|| Slot {
            blobs: self.clone(),
            sha: sha.to_owned(),
        })
    }

    /// Whether an upload of `sha` is under way now.
    pub fn is_busy(&self, sha: &str) -> bool {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.contains(sha)
    }

    /// Opens the partial file for appending at `offset`, which must be what the server has.
    /// `Err(Ok(received))` when it is not.
    pub fn append_at(&self, _slot: &Slot, offset: u64) -> io::Result<Result<File, u64>> {
        let sha = &_slot.sha;
        let path = self.partial(sha);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let have = file.metadata()?.len();
        if have != offset {
            return Ok(Err(have));
        }
        Ok(Ok(file))
    }

    /// Checks the partial file once `total` bytes are in: hashes it and moves it into place.
    /// `verified` runs once the hash is right, before the photo becomes visible (the caller
    /// records who uploaded it): should it fail, the bytes stay partial and a repeat of the
    /// upload (from the end) finishes again, so a visible photo always has its uploader on
    /// record.
    pub fn finish<E: From<io::Error>>(
        &self,
        slot: &Slot,
        total: u64,
        verified: impl FnOnce() -> Result<(), E>,
    ) -> Result<Finish, E> {
        let sha = &slot.sha;
        let path = self.partial(sha);
        let have = fs::metadata(&path)?.len();
        if have < total {
            return Ok(Finish::Incomplete(have));
        }
        let mut hasher = Sha256::new();
        let mut f = File::open(&path)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let got: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if have != total || got != *sha {
            fs::remove_file(&path)?;
            return Ok(Finish::Mismatch);
        }
        verified()?;
        let dest = self.path(sha, false);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
            fs::rename(&path, &dest)?;
            sync_dir(dir)?;
        }
        Ok(Finish::Complete)
    }

    /// Stores a whole file (a thumbnail, or a photo made on the server) atomically.
    pub fn put_whole(&self, sha: &str, thumbnail: bool, bytes: &[u8]) -> io::Result<()> {
        if !is_content_address(sha) {
            return Err(bad_address());
        }
        let dest = self.path(sha, thumbnail);
        if dest.is_file() {
            return Ok(());
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{sha}.{}.tmp", uuid::Uuid::now_v7()));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
            fs::rename(&tmp, &dest)?;
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Reads a verified photo (or its thumbnail) from `offset`.
    pub fn read_from(&self, sha: &str, thumbnail: bool, offset: u64) -> io::Result<Vec<u8>> {
        use std::io::{Seek, SeekFrom};
        let path = self
            .photo_file(sha, thumbnail)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such photo"))?;
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn abandoned_partials_and_temporary_files_are_swept_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = PhotoBlobs::open(dir.path()).expect("open");
        let old = blobs.partial(&"a".repeat(64));
        let fresh = blobs.partial(&"b".repeat(64));
        let tmp = blobs.root.join("tmp").join("x.tmp");
        for p in [&old, &fresh, &tmp] {
            fs::write(p, b"some bytes").expect("write");
        }
        let long_ago = SystemTime::now() - ABANDONED_AFTER - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&old)
            .expect("open")
            .set_modified(long_ago)
            .expect("mtime");
        drop(blobs);
        let blobs = PhotoBlobs::open(dir.path()).expect("reopen");
        assert!(
            !old.exists(),
            "an upload untouched for two weeks is dropped"
        );
        assert!(!tmp.exists(), "a half-written file is dropped");
        assert!(
            fresh.exists(),
            "a recent partial upload is kept for the phone to resume"
        );
        let status = blobs.status(&"b".repeat(64)).expect("status");
        assert_eq!(status.received, 10);
    }
}
