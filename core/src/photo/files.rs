//! The photo files on disk, named by content: `<root>/<aa>/<sha256>.jpg` and `.thumb.jpg`
//! beside it, where `aa` is the first two hex digits (keeps directories small).
//!
//! Every file is written atomically: to a temporary file in `<root>/tmp`, fsynced, renamed into
//! place, and the directory fsynced; a reader never sees half a photo, and after a crash a name
//! either holds the whole file or does not exist. The thumbnail is written before the photo, so
//! an existing photo file means both are complete. The root is created owner-only (0700 on Unix):
//! ID cards and property certificates never go to a shared gallery.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::cipher::{PhotoCipher, Role};

/// The photo files under one root directory (the app's private files directory), encrypted
/// when a cipher is set (see [`super::cipher`]).
#[derive(Debug, Clone)]
pub struct PhotoFiles {
    root: PathBuf,
    cipher: Option<PhotoCipher>,
}

/// Why a stored photo could not be read back.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The file is not what was stored: tampered with, truncated or under another key.
    Tampered,
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// True for a lowercase hex SHA-256: the only names this store ever joins to its root, so a
/// value read back from the database can never point outside it.
pub fn is_content_address(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn bad_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256 content address")
}

impl PhotoFiles {
    /// Opens (creating, owner-only) the root directory.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<PhotoFiles> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o700))?;
        }
        Ok(PhotoFiles { root, cipher: None })
    }

    /// The files under `root`, without creating or checking anything (for building paths).
    pub fn at(root: impl Into<PathBuf>) -> PhotoFiles {
        PhotoFiles {
            root: root.into(),
            cipher: None,
        }
    }

    /// Encrypts what is written and authenticates what is read from now on.
    pub fn with_cipher(mut self, cipher: Option<PhotoCipher>) -> PhotoFiles {
        self.cipher = cipher;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the photo with this content address is (or would be) stored.
    pub fn photo_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(sha256.get(..2).unwrap_or("__"))
            .join(format!("{sha256}.jpg"))
    }

    pub fn thumbnail_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(sha256.get(..2).unwrap_or("__"))
            .join(format!("{sha256}.thumb.jpg"))
    }

    pub fn contains(&self, sha256: &str) -> bool {
        is_content_address(sha256)
            && self.photo_path(sha256).is_file()
            && self.thumbnail_path(sha256).is_file()
    }

    /// Stores a photo and its thumbnail durably. Returns false when they were already there (the
    /// same photo twice is stored once).
    pub fn put(&self, sha256: &str, photo: &[u8], thumbnail: &[u8]) -> io::Result<bool> {
        if !is_content_address(sha256) {
            return Err(bad_address());
        }
        if self.contains(sha256) {
            return Ok(false);
        }
        let dir = self.root.join(&sha256[..2]);
        fs::create_dir_all(&dir)?;
        let (photo, thumbnail) = match &self.cipher {
            Some(c) => (
                std::borrow::Cow::Owned(c.seal(sha256, Role::Photo, photo)),
                std::borrow::Cow::Owned(c.seal(sha256, Role::Thumbnail, thumbnail)),
            ),
            None => (
                std::borrow::Cow::Borrowed(photo),
                std::borrow::Cow::Borrowed(thumbnail),
            ),
        };
        self.write_atomic(&self.thumbnail_path(sha256), &thumbnail)?;
        self.write_atomic(&self.photo_path(sha256), &photo)?;
        sync_dir(&dir)?;
        Ok(true)
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}.tmp", uuid::Uuid::now_v7()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The photo's JPEG, decrypted and checked: its SHA-256 must be its name, so a file changed
    /// on disk (even without encryption) is [`ReadError::Tampered`], never shown.
    pub fn read_photo(&self, sha256: &str) -> Result<Vec<u8>, ReadError> {
        if !is_content_address(sha256) {
            return Err(bad_address().into());
        }
        let jpeg = self.read_file(&self.photo_path(sha256), sha256, Role::Photo)?;
        if super::sha256_hex(&jpeg) != sha256 {
            return Err(ReadError::Tampered);
        }
        Ok(jpeg)
    }

    /// The thumbnail's JPEG, decrypted and authenticated (when encrypted).
    pub fn read_thumbnail(&self, sha256: &str) -> Result<Vec<u8>, ReadError> {
        if !is_content_address(sha256) {
            return Err(bad_address().into());
        }
        self.read_file(&self.thumbnail_path(sha256), sha256, Role::Thumbnail)
    }

    fn read_file(&self, path: &Path, sha256: &str, role: Role) -> Result<Vec<u8>, ReadError> {
        let bytes = fs::read(path)?;
        match &self.cipher {
            Some(c) => c
                .open(sha256, role, &bytes)
                .map_err(|_| ReadError::Tampered),
            None => Ok(bytes),
        }
    }

    /// Removes a photo and its thumbnail (missing files are not an error).
    pub fn remove(&self, sha256: &str) -> io::Result<()> {
        if !is_content_address(sha256) {
            return Err(bad_address());
        }
        for path in [self.photo_path(sha256), self.thumbnail_path(sha256)] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes every file under the root that is not a photo or thumbnail of `keep`, including
    /// leftover temporary files. Returns how many files it removed.
    pub fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let path = entry.path();
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let is_tmp = entry.file_name() == "tmp";
            for file in fs::read_dir(&path)? {
                let file = file?;
                let name = file.file_name();
                let name = name.to_string_lossy();
                let sha = name
                    .strip_suffix(".thumb.jpg")
                    .or_else(|| name.strip_suffix(".jpg"))
                    .unwrap_or("");
                if (is_tmp || !keep.contains(sha)) && file.file_type()?.is_file() {
                    fs::remove_file(file.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Makes the renames durable. Directories cannot be opened for sync on every platform.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aa00000000000000000000000000000000000000000000000000000000000000";
    const B: &str = "bb00000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn put_is_idempotent_and_sweep_keeps_only_what_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let files = PhotoFiles::open(dir.path().join("photos")).unwrap();
        assert!(files.put(A, b"photo a", b"thumb a").unwrap());
        assert!(
            !files.put(A, b"photo a", b"thumb a").unwrap(),
            "stored once"
        );
        assert!(files.put(B, b"photo b", b"thumb b").unwrap());
        assert_eq!(fs::read(files.photo_path(A)).unwrap(), b"photo a");
        assert_eq!(fs::read(files.thumbnail_path(A)).unwrap(), b"thumb a");
        fs::write(files.root().join("tmp").join("x.tmp"), b"half").unwrap();

        let keep = HashSet::from([B.to_owned()]);
        assert_eq!(
            files.sweep(&keep).unwrap(),
            3,
            "a's two files and the temporary file"
        );
        assert!(!files.contains(A));
        assert!(files.contains(B));
        assert_eq!(fs::read_dir(files.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn names_that_are_not_content_addresses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = PhotoFiles::open(dir.path()).unwrap();
        assert!(files.put("../../etc/passwd", b"x", b"y").is_err());
        assert!(files.remove("..").is_err());
        assert!(!files.contains("../x"));
        assert!(!is_content_address(&A.to_uppercase()));
    }
}
