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
    /// The key the database is encrypted with (AEGIS-256 pages, see `CIPHER`). Phones always
    /// give one (the bindings require it); `None` opens a plain SQLite file, for tests and tools.
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
        // Rekeying re-encrypts page by page through the rollback journal, not the WAL: fold the
        // WAL into the file, rekey in DELETE mode, then return to WAL.
        writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        writer.pragma_update_and_check(None, "journal_mode", "DELETE", |_| Ok(()))?;
        let rekeyed = writer.execute_batch(&zeroize::Zeroizing::new(format!(
            "PRAGMA rekey = '{}';",
            *new_key.raw_hex()
        )));
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

/// How this version encrypts a store: SQLite3 Multiple Ciphers' AEGIS-256 scheme. Each page is
/// sealed with AEGIS-256 (an authenticated cipher built on the AES round, CAESAR's choice for
/// high-performance use and an IRTF CFRG draft) under a one-time key derived from the store key,
/// a random 256-bit nonce and the page number, with a 256-bit tag: a changed, swapped or
/// replayed-elsewhere page fails to open. 64 of each page's bytes hold nonce and tag.
///
/// Why not SQLCipher's format, which earlier versions used: it encrypts each page with
/// AES-256-CBC and MACs it with HMAC. CBC encryption cannot work on a page's blocks in parallel,
/// so it runs at the latency of the AES rounds whatever the code; with the HMAC a 1 KiB page
/// cost 2.1 µs to write, and a reading's commit writes about ten. AEGIS runs the AES rounds in
/// parallel (AES-NI on x86, the ARMv8 crypto extensions on phones) and authenticates as it
/// goes. Measured on the store bench (20,000 orders, plain and encrypted in turn): reading
/// entry +7 to +9 % over plain (SQLCipher with the same pages: +31 to +64 %), agenda and search
/// within noise.
///
/// Pages are 1 KiB (plain stores keep SQLite's 4 KiB): a reading changes about ten pages
/// whatever their size, and smaller ones are less to seal. AEGIS on 4 KiB pages measured +15 %.
/// The key is raw (`raw:…`), so no KDF runs.
const CIPHER: &str = "PRAGMA cipher = 'aegis'; PRAGMA algorithm = 'aegis-256';";
/// What a new encrypted store is created with (before its first page is written).
const NEW_STORE: &str = "PRAGMA page_size = 1024;";

/// The SQLCipher 4 settings stores of earlier versions were made with (all raw keys): 1 KiB
/// pages with HMAC-SHA256, 4 KiB pages with HMAC-SHA256, and SQLCipher 4's defaults (4 KiB,
/// HMAC-SHA512). Tried in turn when a store does not open as AEGIS; a store that opens with one
/// is converted to AEGIS at once (`convert_to_aegis`).
const SQLCIPHER_SETTINGS: [&str; 3] = [
    "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4; PRAGMA hmac_algorithm = 1; PRAGMA legacy_page_size = 1024;",
    "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4; PRAGMA hmac_algorithm = 1;",
    "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4;",
];

fn open_connection(path: &Path, flags: OpenFlags, key: Option<&StoreKey>) -> Result<Connection> {
    let plain = plain_header(path)?;
    if key.is_some() && plain == Some(true) {
        return Err(Error::NotEncrypted);
    }
    let conn = match key {
        Some(key) if plain == Some(false) => open_encrypted(path, flags, key)?,
        _ => keyed_connection(path, flags, key, CIPHER, plain)?,
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
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        conn.pragma_update(None, "wal_autocheckpoint", (16 << 20) / page_size.max(512))?;
    }
    // A page cache that holds a crew's working set (a day's agenda rows are spread over the
    // table). With encryption every page read from the file is also checked and decrypted, so
    // this keeps that off the hot path. Filled only as used; the default is 2 MiB.
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// An existing encrypted file: AEGIS, or an earlier version's SQLCipher store, which is converted
/// first. Probes are read-only: a read-write connection that fails would still checkpoint a
/// leftover WAL when it closes, and must never touch a file it cannot read.
fn open_encrypted(path: &Path, flags: OpenFlags, key: &StoreKey) -> Result<Connection> {
    let read_only = flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY);
    let probe = |cipher| {
        keyed_connection(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY,
            Some(key),
            cipher,
            Some(false),
        )
    };
    // The probe is the connection a reader wants; the writer reopens read-write.
    let found = |probe: Connection, cipher| {
        if read_only {
            Ok(probe)
        } else {
            drop(probe);
            keyed_connection(path, flags, Some(key), cipher, Some(false))
        }
    };
    match probe(CIPHER) {
        Ok(conn) => return found(conn, CIPHER),
        Err(Error::WrongKey) => {}
        Err(e) => return Err(e),
    }
    for legacy in SQLCIPHER_SETTINGS {
        match probe(legacy) {
            // Only the writer converts (it opens first); a reader never writes.
            Ok(conn) if read_only => return Ok(conn),
            Ok(conn) => {
                drop(conn);
                convert_to_aegis(path, key, legacy)?;
                return keyed_connection(path, flags, Some(key), CIPHER, Some(false));
            }
            Err(Error::WrongKey) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::WrongKey)
}

/// Rewrites an earlier version's SQLCipher store as AEGIS under the same key, crash-safe: the
/// whole database is copied (`VACUUM INTO`) into a file beside it, synced, and renamed over the
/// original. Until the rename the old file is untouched and still opens; after it the new one
/// is complete. A copy a crash left behind is discarded and made again.
fn convert_to_aegis(path: &Path, key: &StoreKey, legacy: &str) -> Result<()> {
    let target = beside(path, "-converting");
    remove_if_exists(&target)?;
    let conn = keyed_connection(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE,
        Some(key),
        legacy,
        Some(false),
    )?;
    // Fold a WAL left by the last session into the copy's source. The copy keeps the store's
    // page size: SQLite3 Multiple Ciphers does not change an encrypted database's (stores made
    // with 4 KiB pages stay so, AEGIS measured +15 % on reading entry there).
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let sql = zeroize::Zeroizing::new(format!(
        "VACUUM INTO 'file:{}?cipher=aegis&algorithm=aegis-256&key={}'",
        uri_path(&target),
        *key.raw_hex()
    ));
    conn.execute_batch(&sql).map_err(map_sql)?;
    drop(conn);
    std::fs::File::open(&target)?.sync_all()?;
    std::fs::rename(&target, path)?;
    for stale in ["-wal", "-shm"] {
        remove_if_exists(&beside(path, stale))?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a power cut only once the directory is synced.
        std::fs::File::open(dir)?.sync_all()?;
    }
    tracing::info!("store converted from SQLCipher to AEGIS pages");
    Ok(())
}

/// The file SQLite keeps beside the database: its name with `suffix` appended (`-wal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// `path` for a `file:` URI inside a single-quoted SQL string: every byte but unreserved ones
/// and `/` percent-encoded (so `?`, `#`, `%` and `'` in a directory name cannot break out).
fn uri_path(path: &Path) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(map_sql)?;
    if let Some(key) = key {
        // The cipher is chosen before the key is given: the key applies to that scheme.
        conn.execute_batch(cipher)?;
        conn.execute_batch(&zeroize::Zeroizing::new(format!(
            "PRAGMA key = '{}';",
            *key.raw_hex()
        )))?;
        if plain.is_none() {
            conn.execute_batch(NEW_STORE)?;
        }
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

/// Gives SQLite's interrupt, "not a database" and corruption codes their own variants.
fn map_err(e: Error) -> Error {
    match &e {
        Error::Sql(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
            ErrorCode::OperationInterrupted => Error::Interrupted,
            ErrorCode::NotADatabase => Error::NotADatabase,
            // Encrypted, this is also a page that failed its AEGIS tag: changed on disk.
            ErrorCode::DatabaseCorrupt => Error::Corrupt(
                "a database page failed its check (damaged, or changed outside the app)".into(),
            ),
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
