//! The crew phone's local store: one SQLite file (WAL) holding the crew's orders, everything the
//! crew recorded, and the outbox of changes waiting for the server.
//!
//! One writer connection and one reader connection, each behind a mutex, so a long query never
//! blocks a write and the other way round (WAL lets the reader see the last commit). Every write
//! runs in a closure inside an IMMEDIATE transaction: the change, its outbox entry and the HLC
//! that stamps it commit together or not at all. [`Store::interrupt`] cancels whatever either
//! connection is doing, from any thread.

mod agenda;
mod codec;
mod detail;
mod key;
mod orders;
mod outbox;
mod page_cache;
mod page_cipher;
mod photos;
mod progress;
mod readings;
mod records;
pub mod schema;
mod search;
mod sync_state;
mod transfer;
mod wipe;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rusqlite::{
    Connection, ErrorCode, InterruptHandle, OpenFlags, OptionalExtension, Transaction,
    TransactionBehavior,
};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::reading::ValidationConfig;

pub use agenda::{AgendaGroup, AgendaItem, AgendaQuery};
pub use detail::{OrderDetail, ReadingView};
pub use key::StoreKey;
pub use orders::OrderSummary;
pub use outbox::{Entity, Op, OutboxEntry};
pub use photos::{
    ChecklistItem, DeletedOrderData, DocumentChecklist, MAX_PHOTO_BYTES, MAX_THUMBNAIL_BYTES, Photo,
};
pub use progress::{StatusEvent, StatusReport};
pub use readings::{ReadingEntry, RegisterValue, ReplacementEntry};
pub use sync_state::{PageStats, RejectedChange};

/// Whether this process's SQLite runs with the store's page-cache wrapper, and how many walks
/// over a whole page cache it has saved (see `page_cache`). For tests and diagnostics.
#[doc(hidden)]
pub fn page_cache_stats() -> (bool, u64) {
    (page_cache::install(), page_cache::scans_saved())
}
#[doc(hidden)]
pub use page_cipher::PageCodec;
pub(crate) use sync_state::{check_page, check_server_hlc};
pub use transfer::{
    PhotoTransfer, PhotoTransferState, RemotePhoto, RemotePhotoState, TransferBacklog,
};
pub use wipe::{UnsyncedWork, WipeMode};

/// Settings a shell opens the store with.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    pub validation: ValidationConfig,
    /// How long before its due time an open order is flagged "due soon".
    pub due_soon: Duration,
    /// The utility's time zone, which decides where a day's agenda starts (China: UTC+8).
    pub timezone: FixedOffset,
    /// The key the database is encrypted with (SQLCipher, AES-256). Phones always give one
    /// (the bindings require it); `None` opens a plain SQLite file, for tests and tools.
    pub key: Option<StoreKey>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            validation: ValidationConfig::default(),
            due_soon: Duration::hours(2),
            timezone: FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset"),
            key: None,
        }
    }
}

/// The signed-in crew member; changes are recorded in their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub member_id: String,
    pub crew_id: String,
}

pub struct Store {
    // Fields drop in order: the reader closes first, so the writer is the last connection and
    // checkpoints the WAL into the database file when the store is dropped.
    reader: Mutex<Connection>,
    writer: Mutex<Connection>,
    interrupts: Mutex<[InterruptHandle; 2]>,
    options: StoreOptions,
    device_id: Uuid,
    /// The photo files' data key: random, made once, kept in the encrypted database (so the
    /// store key wraps it and rekeying never touches a photo file). `None` for a plain store.
    photo_key: Option<zeroize::Zeroizing<[u8; 32]>>,
    path: PathBuf,
}

/// What a write closure gets besides the transaction.
pub(crate) struct WriteCtx<'a> {
    pub now: DateTime<Utc>,
    pub device_id: Uuid,
    pub options: &'a StoreOptions,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    ///
    /// A file that is not a SQLite database gives [`Error::NotADatabase`] and is left untouched;
    /// one written by a newer fieldcrew gives [`Error::SchemaTooNew`].
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let key = options.key.as_ref();
        let mut writer = open_connection(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            key,
        )?;
        schema::migrate(&mut writer).map_err(map_open_error)?;
        let device_id = ensure_device_id(&mut writer)?;
        let photo_key = match key {
            Some(_) => Some(ensure_photo_key(&mut writer)?),
            None => None,
        };
        let reader = open_connection(&path, OpenFlags::SQLITE_OPEN_READ_ONLY, key)?;
        let interrupts = [writer.get_interrupt_handle(), reader.get_interrupt_handle()];
        let store = Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            interrupts: Mutex::new(interrupts),
            options,
            device_id,
            photo_key,
            path,
        };
        // Photo files a crash left without their row. A failure here must not keep the crew
        // out of their orders: it is logged and retried at the next open.
        if let Err(e) = photos::sweep_orphans(&store) {
            tracing::warn!("photo sweep at open failed: {e}");
        }
        Ok(store)
    }

    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn photo_key(&self) -> Option<&[u8; 32]> {
        self.photo_key.as_deref()
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.options.clock.now()
    }

    /// Cancels the query or write running on either connection; it fails with
    /// [`Error::Interrupted`] and its transaction rolls back. Safe from any thread.
    pub fn interrupt(&self) {
        let handles = self.interrupts.lock().unwrap_or_else(|p| p.into_inner());
        for handle in handles.iter() {
            handle.interrupt();
        }
    }

    /// Re-encrypts the store under `new_key` in place, keeping all data; the old key no longer
    /// opens it. The shell rotates the key in its keystore after this returns. Blocks both
    /// connections for the duration (about a second per 50 MB): call it from a background thread.
    pub fn rekey(&mut self, new_key: StoreKey) -> Result<()> {
        if self.options.key.is_none() {
            return Err(Error::NotEncrypted);
        }
        // Leaving WAL mode needs the only connection: park the reader on a placeholder.
        let placeholder = Connection::open_in_memory()?;
        drop(std::mem::replace(
            self.reader.get_mut().unwrap_or_else(|p| p.into_inner()),
            placeholder,
        ));
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        // SQLCipher 4 re-encrypts page by page through the rollback journal, not the WAL: fold
        // the WAL into the file, rekey in DELETE mode, then return to WAL.
        writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        writer.pragma_update_and_check(None, "journal_mode", "DELETE", |_| Ok(()))?;
        let rekeyed =
            writer.execute_batch(&format!("PRAGMA rekey = {};", *new_key.sqlcipher_literal()));
        writer.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        let key = match rekeyed {
            Ok(()) => new_key,
            // Nothing changed: the old key still opens the file.
            Err(e) => {
                let old = self.options.key.clone().ok_or(Error::NotEncrypted)?;
                *self.reader.get_mut().unwrap_or_else(|p| p.into_inner()) =
                    open_connection(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY, Some(&old))?;
                return Err(map_sql(e));
            }
        };
        let reader = open_connection(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY, Some(&key))?;
        let handles = [writer.get_interrupt_handle(), reader.get_interrupt_handle()];
        *self.reader.get_mut().unwrap_or_else(|p| p.into_inner()) = reader;
        *self.interrupts.get_mut().unwrap_or_else(|p| p.into_inner()) = handles;
        self.options.key = Some(key);
        Ok(())
    }

    /// Records who is working on this device. Cheap.
    pub fn sign_in(&self, session: &Session) -> Result<()> {
        if session.member_id.trim().is_empty() || session.crew_id.trim().is_empty() {
            return Err(Error::invalid(
                "session",
                "member and crew ids are required",
            ));
        }
        self.write(|tx, _| {
            set_meta(tx, "member_id", &session.member_id)?;
            set_meta(tx, "crew_id", &session.crew_id)
        })
    }

    pub fn session(&self) -> Result<Option<Session>> {
        self.read(session_of)
    }

    /// Runs `f` in an IMMEDIATE transaction on the writer connection and commits if it succeeds.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &WriteCtx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_sql)?;
        let ctx = WriteCtx {
            now: self.now(),
            device_id: self.device_id,
            options: &self.options,
        };
        let out = f(&tx, &ctx).map_err(|e| {
            let e = map_err(e);
            // Errors carry ids and numbers only (see error.rs), so they may be logged.
            tracing::debug!(error = %e, "write rolled back");
            e
        })?;
        tx.commit().map_err(map_sql)?;
        Ok(out)
    }

    /// Runs `f` on the reader connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.reader);
        f(&conn).map_err(map_err)
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a transaction open (it rolls back on drop).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// SQLite's plain file header; an encrypted file has none (it is indistinguishable from noise).
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

fn plain_header(path: &Path) -> Result<Option<bool>> {
    use std::io::Read;
    let mut head = [0u8; 16];
    match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
        Ok(mut f) => match f.read(&mut head)? {
            0 => Ok(None),
            _ => Ok(Some(&head == PLAIN_HEADER)),
        },
    }
}

/// The page cipher of stores this version creates: SQLCipher 4's AES-256-CBC with each page
/// authenticated by HMAC-SHA256 instead of its default HMAC-SHA512, on 1 KiB pages instead of
/// 4 KiB. Every page a commit changes is encrypted and MACed, and every page read from the
/// file is checked and decrypted, so both choices are on the path of every reading a crew
/// records:
/// - SHA-256 has hardware instructions on ARMv8 phones (and SHA-NI on x86), SHA-512 mostly not
///   (on this machine 3 µs against 8 µs a 4 KiB page). A 256-bit MAC is ample to detect a
///   changed page.
/// - A reading's commit changes about ten pages whatever their size (one leaf per table and
///   index it touches, docs/data-model.md), and CBC encryption cannot be parallelised within a
///   page: 1 KiB pages cut the bytes encrypted per commit about threefold. Measured with the
///   store bench (plain and encrypted in turn): reading entry +57 to +65 % over plain with
///   4 KiB pages, +34 to +51 % with 1 KiB; agenda and search within noise either way. The cost:
///   the file is about a third larger (71 against 54 MiB for 50,000 orders).
///
/// The key is raw (`x'…'`), so no KDF setting applies.
const CIPHER_SETTINGS: &str =
    "PRAGMA cipher_hmac_algorithm = HMAC_SHA256; PRAGMA cipher_page_size = 1024;";
/// Settings of stores earlier versions made, tried in turn when a store does not open with
/// [`CIPHER_SETTINGS`]; a store keeps its settings (a rekey too).
const EARLIER_CIPHER_SETTINGS: [&str; 2] = [
    // 4 KiB pages, HMAC-SHA256.
    "PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
    // SQLCipher 4's defaults: 4 KiB pages, HMAC-SHA512.
    "PRAGMA cipher_hmac_algorithm = HMAC_SHA512;",
];

fn open_connection(path: &Path, flags: OpenFlags, key: Option<&StoreKey>) -> Result<Connection> {
    let plain = plain_header(path)?;
    if key.is_some() && plain == Some(true) {
        return Err(Error::NotEncrypted);
    }
    let conn = if key.is_some() && plain == Some(false) {
        // An existing encrypted file: find the settings it was made with, read-only first. A
        // read-write connection that fails would still checkpoint a leftover WAL when it
        // closes, and must never touch a file it cannot read.
        let read_only = flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY);
        let mut found = None;
        for cipher in std::iter::once(CIPHER_SETTINGS).chain(EARLIER_CIPHER_SETTINGS) {
            match keyed_connection(path, OpenFlags::SQLITE_OPEN_READ_ONLY, key, cipher, plain) {
                Ok(probe) => {
                    found = Some(if read_only {
                        probe
                    } else {
                        drop(probe);
                        keyed_connection(path, flags, key, cipher, plain)?
                    });
                    break;
                }
                Err(Error::WrongKey) => continue,
                Err(e) => return Err(e),
            }
        }
        found.ok_or(Error::WrongKey)?
    } else {
        keyed_connection(path, flags, key, CIPHER_SETTINGS, plain)?
    };
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        // In WAL mode NORMAL never corrupts; an app kill loses nothing, a power cut at worst the
        // last commits. FULL would fsync on every reading, which phones pay for in battery.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoint after 16 MiB of WAL whatever the page size (SQLite's default is 1000
        // pages): encrypted stores use 1 KiB pages and would checkpoint, and fsync, four times
        // as often as plain ones, and an initial pull of 10,000 orders (about 10 MiB) then
        // runs without stopping to checkpoint (perf: 5 % of its time at 4 MiB). A checkpoint
        // copies each page once however often it changed, so a day of readings costs less too.
        // (SQLCipher answers `page_size` as text, plain SQLite as an integer.)
        let page_size = match conn.pragma_query_value(None, "page_size", |r| r.get(0))? {
            rusqlite::types::Value::Integer(n) => n,
            rusqlite::types::Value::Text(t) => t.parse().unwrap_or(4096),
            _ => 4096,
        };
        conn.pragma_update(None, "wal_autocheckpoint", (16 << 20) / page_size.max(512))?;
    }
    // A page cache that holds a crew's working set (a day's agenda rows are spread over the
    // table). With encryption every page read from the file is also decrypted and its HMAC
    // checked, so this keeps that off the hot path. Filled only as used; the default is 2 MiB.
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens `path`, applies the key and cipher settings, and proves the file readable: a file that
/// is not a database (or not under this key and settings) fails here, before anything is
/// written to it.
fn keyed_connection(
    path: &Path,
    flags: OpenFlags,
    key: Option<&StoreKey>,
    cipher: &str,
    plain: Option<bool>,
) -> Result<Connection> {
    // Before anything opens a connection: SQLite takes a page cache only before it starts.
    page_cache::install();
    if key.is_some() {
        page_cipher::install()?;
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(map_sql)?;
    if let Some(key) = key {
        // SQLCipher logs a failed key to stderr by default; the typed error says it all.
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        conn.execute_batch(&format!("PRAGMA key = {};", *key.sqlcipher_literal()))?;
        conn.execute_batch(cipher)?;
        // Temporary tables and sort spills stay in memory, never in a plain temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| match (map_sql(e), key, plain) {
            (Error::NotADatabase, Some(_), Some(false)) => Error::WrongKey,
            (other, _, _) => other,
        })?;
    Ok(conn)
}

fn ensure_photo_key(conn: &mut Connection) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    use rand::RngCore;
    let tx = conn.transaction()?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    match get_meta(&tx, "photo_key")? {
        Some(hex) => {
            if hex.len() != 64 || !hex.is_ascii() {
                return Err(Error::Corrupt("photo key".into()));
            }
            for (i, byte) in key.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| Error::Corrupt("photo key".into()))?;
            }
        }
        None => {
            rand::rng().fill_bytes(key.as_mut());
            let hex: zeroize::Zeroizing<String> =
                zeroize::Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect());
            set_meta(&tx, "photo_key", &hex)?;
        }
    }
    tx.commit()?;
    Ok(key)
}

fn ensure_device_id(conn: &mut Connection) -> Result<Uuid> {
    let tx = conn.transaction()?;
    let id = match get_meta(&tx, "device_id")? {
        Some(s) => Uuid::try_parse(&s).map_err(|_| Error::Corrupt("device id".into()))?,
        None => {
            let id = Uuid::now_v7();
            set_meta(&tx, "device_id", &id.to_string())?;
            id
        }
    };
    tx.commit()?;
    Ok(id)
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

pub(crate) fn session_of(conn: &Connection) -> Result<Option<Session>> {
    Ok(
        match (get_meta(conn, "member_id")?, get_meta(conn, "crew_id")?) {
            (Some(member_id), Some(crew_id)) => Some(Session { member_id, crew_id }),
            _ => None,
        },
    )
}

pub(crate) fn require_session(conn: &Connection) -> Result<Session> {
    session_of(conn)?.ok_or(Error::NoSession)
}

fn map_sql(e: rusqlite::Error) -> Error {
    map_err(Error::Sql(e))
}

/// Gives SQLite's interrupt and "not a database" codes their own variants.
fn map_err(e: Error) -> Error {
    match &e {
        Error::Sql(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
            ErrorCode::OperationInterrupted => Error::Interrupted,
            ErrorCode::NotADatabase => Error::NotADatabase,
            _ => e,
        },
        _ => e,
    }
}

fn map_open_error(e: Error) -> Error {
    match e {
        Error::Migration(rusqlite_migration::Error::RusqliteError { err, .. }) => map_sql(err),
        other => map_err(other),
    }
}
