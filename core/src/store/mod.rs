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
mod orders;
mod outbox;
mod progress;
mod readings;
mod records;
pub mod schema;
mod search;
mod sync_state;

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
pub use orders::OrderSummary;
pub use outbox::{Entity, Op, OutboxEntry};
pub use progress::{StatusEvent, StatusReport};
pub use readings::{ReadingEntry, RegisterValue, ReplacementEntry};
pub(crate) use sync_state::check_page;
pub use sync_state::{PageStats, RejectedChange};

/// Settings a shell opens the store with.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    pub validation: ValidationConfig,
    /// How long before its due time an open order is flagged "due soon".
    pub due_soon: Duration,
    /// The utility's time zone, which decides where a day's agenda starts (China: UTC+8).
    pub timezone: FixedOffset,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            validation: ValidationConfig::default(),
            due_soon: Duration::hours(2),
            timezone: FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset"),
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
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    interrupts: [InterruptHandle; 2],
    options: StoreOptions,
    device_id: Uuid,
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
        let mut writer = open_connection(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        schema::migrate(&mut writer).map_err(map_open_error)?;
        let device_id = ensure_device_id(&mut writer)?;
        let reader = open_connection(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let interrupts = [writer.get_interrupt_handle(), reader.get_interrupt_handle()];
        Ok(Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            interrupts,
            options,
            device_id,
            path,
        })
    }

    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    pub fn path(&self) -> &Path {
        &self.path
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
        for handle in &self.interrupts {
            handle.interrupt();
        }
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
        self.read(|c| session_of(c))
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
        let out = f(&tx, &ctx).map_err(map_err)?;
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

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(map_sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A file that is not a database fails here, before anything is written to it.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(map_sql)?;
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        // In WAL mode NORMAL never corrupts; an app kill loses nothing, a power cut at worst the
        // last commits. FULL would fsync on every reading, which phones pay for in battery.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
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
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
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
