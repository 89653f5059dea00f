//! uniffi bindings of the fieldcrew core for the native shells.
//!
//! One object, [`FieldCrew`], opened with the app's data directory and the store key from the
//! platform keystore. Its methods are synchronous. Threading, as the shells should use it:
//!
//! - cheap, fine on the main thread: `pending_count`, `check_readings`, `interrupt`;
//! - short (a few milliseconds on a 50,000-order store), better on a background thread:
//!   `agenda`, `search`, `order_detail`, `report_status`, `record_readings` and the other writes;
//! - long, background only: `rekey`, `wipe`.
//!
//! `interrupt` cancels what the store is doing from another thread; the call fails with
//! [`FieldCrewError::Interrupted`]. Every method returns a [`FieldCrewError`] the app can act
//! on; none panics across the boundary (uniffi also turns an unexpected panic into an
//! exception rather than an abort).

mod error;
mod sync;
mod types;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use chrono::{Duration, FixedOffset, NaiveDate};
use fieldcrew_core::store::{self, AgendaQuery, Session, Store, StoreKey, StoreOptions, WipeMode};
use fieldcrew_core::sync::wire::ResolveChoice;
use fieldcrew_core::sync::{
    CancelHandle, RunTicket, SyncClient, SyncConfig, SyncError, check_root_certs,
};

pub use error::FieldCrewError;
use error::Result;
pub use sync::{
    Conflict, ConflictStatus, Login, NetworkKind, PhotoState, PhotoTransferListener,
    PhotoTransferSummary, SyncListener, SyncPhase, SyncSummary,
};
pub use types::*;

uniffi::setup_scaffolding!();

/// How a shell opens the core.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Config {
    /// The app's private files directory (Android `filesDir`, iOS Application Support).
    pub data_dir: String,
    /// 32 random bytes kept in Android Keystore / iOS Keychain; never stored by the core.
    pub store_key: Vec<u8>,
    /// The utility's offset from UTC in minutes, deciding where a day's agenda starts
    /// (480 in China).
    #[uniffi(default = 480)]
    pub utc_offset_minutes: i32,
    /// How long before its due time an open order is flagged due soon.
    #[uniffi(default = 120)]
    pub due_soon_minutes: u32,
    /// Upload photos on mobile data too (default: Wi-Fi and other unmetered networks only).
    #[uniffi(default = false)]
    pub photos_on_metered: bool,
    /// Root certificates to trust besides the built-in web roots, PEM (one or more
    /// `BEGIN CERTIFICATE` blocks): a utility whose sync server's certificate comes from its own
    /// CA ships that CA with the app. Checked by `open` (Validation on `extra_root_certs_pem`).
    /// The core makes its own TLS connections, so Android's network security config and the iOS
    /// trust settings do not reach them: this is how a private CA is trusted.
    #[uniffi(default = None)]
    pub extra_root_certs_pem: Option<String>,
}

/// The crew's device: its store, and later its photos and sync.
#[derive(uniffi::Object)]
pub struct FieldCrew {
    /// `None` once wiped. Read-locked by every call; write-locked only to rekey or wipe.
    store: RwLock<Option<Store>>,
    /// The sync client once a server is configured (`login` or `use_server`).
    sync: Mutex<Option<Arc<SyncClient>>>,
    /// Cancels the network runs (sync, photo transfer, login); one for the device, shared by
    /// every client `login` and `use_server` make, so a ticket outlives a change of server.
    cancel: CancelHandle,
    photos_on_metered: bool,
    /// `Config::extra_root_certs_pem`, checked.
    extra_root_certs_pem: Option<Vec<u8>>,
}

impl FieldCrew {
    fn ticket_or_now(&self, ticket: Option<u64>) -> RunTicket {
        ticket.map_or_else(|| self.cancel.ticket(), RunTicket)
    }

    fn store(&self) -> Result<StoreRef<'_>> {
        let guard = self.store.read().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(FieldCrewError::Storage {
                detail: "the local data was wiped; open the core again".into(),
            });
        }
        Ok(StoreRef(guard))
    }
}

struct StoreRef<'a>(RwLockReadGuard<'a, Option<Store>>);

impl std::ops::Deref for StoreRef<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        // Checked non-empty when the guard was taken, and the read lock keeps it so.
        match self.0.as_ref() {
            Some(store) => store,
            None => unreachable!("StoreRef is only built over a present store"),
        }
    }
}

impl FieldCrew {
    fn client(&self) -> Result<Arc<SyncClient>> {
        self.sync
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| FieldCrewError::Auth {
                detail: "no server configured: call login or use_server first".into(),
            })
    }

    fn configure(&self, server_url: String, token: String) -> Result<Arc<SyncClient>> {
        if token.trim().is_empty() {
            return Err(FieldCrewError::Validation {
                field: "token".into(),
                detail: "a token is required".into(),
            });
        }
        let mut config = SyncConfig::new(server_url, token);
        if self.photos_on_metered {
            config.photo_policy = fieldcrew_core::sync::PhotoPolicy::Always;
        }
        config.extra_root_certs_pem = self.extra_root_certs_pem.clone();
        let client = Arc::new(SyncClient::with_cancel(config, self.cancel.clone())?);
        *self.sync.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
        Ok(client)
    }
}

fn parse_day(day: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| FieldCrewError::Validation {
        field: "day".into(),
        detail: format!("expected a date like 2026-11-25, got {day:?}"),
    })
}

#[uniffi::export]
impl FieldCrew {
    /// Opens (creating if needed) the encrypted store under `config.data_dir`.
    #[uniffi::constructor]
    pub fn open(config: Config) -> Result<Arc<Self>> {
        let key = StoreKey::from_bytes(&config.store_key)?;
        let timezone = FixedOffset::east_opt(config.utc_offset_minutes.saturating_mul(60))
            .ok_or_else(|| FieldCrewError::Validation {
                field: "utc_offset_minutes".into(),
                detail: "an offset is within ±24 hours".into(),
            })?;
        let extra_root_certs_pem = match config.extra_root_certs_pem {
            Some(pem) => {
                check_root_certs(pem.as_bytes()).map_err(|e| FieldCrewError::Validation {
                    field: "extra_root_certs_pem".into(),
                    detail: match e {
                        SyncError::Config(detail) => detail,
                        other => other.to_string(),
                    },
                })?;
                Some(pem.into_bytes())
            }
            None => None,
        };
        let dir = PathBuf::from(&config.data_dir);
        std::fs::create_dir_all(&dir).map_err(fieldcrew_core::Error::from)?;
        let options = StoreOptions {
            key: Some(key),
            timezone,
            due_soon: Duration::minutes(i64::from(config.due_soon_minutes)),
            ..StoreOptions::default()
        };
        let store = Store::open(dir.join("fieldcrew.db"), options)?;
        Ok(Arc::new(FieldCrew {
            store: RwLock::new(Some(store)),
            sync: Mutex::new(None),
            cancel: CancelHandle::default(),
            photos_on_metered: config.photos_on_metered,
            extra_root_certs_pem,
        }))
    }

    /// First sign-in on this device (online): checks the token with the server and records its
    /// member and crew. The shell keeps the token in its keystore.
    /// `ticket`: see [`FieldCrew::sync_ticket`].
    #[uniffi::method(default(ticket = None))]
    pub fn login(&self, server_url: String, token: String, ticket: Option<u64>) -> Result<Login> {
        let ticket = self.ticket_or_now(ticket);
        let client = self.configure(server_url, token)?;
        let me = client.login_from(ticket, &*self.store()?)?;
        Ok(Login {
            member_id: me.member_id,
            crew_id: me.crew_id.unwrap_or_default(),
        })
    }

    /// Later app starts (offline-safe): remembers the server and token for the next sync
    /// without contacting the server.
    pub fn use_server(&self, server_url: String, token: String) -> Result<()> {
        self.configure(server_url, token).map(|_| ())
    }

    /// Pushes the outbox, then pulls the crew's orders until done. Blocking and long: call it
    /// from a background thread; `cancel_sync` from another thread stops it (Interrupted).
    /// Network failures are retried with backoff before failing with Network; a refused token
    /// is Auth. A malformed reply changes nothing locally.
    /// `ticket`: see [`FieldCrew::sync_ticket`].
    #[uniffi::method(default(ticket = None))]
    pub fn sync(
        &self,
        listener: Option<Arc<dyn SyncListener>>,
        ticket: Option<u64>,
    ) -> Result<SyncSummary> {
        let ticket = self.ticket_or_now(ticket);
        let client = self.client()?;
        let store = self.store()?;
        let mut progress = sync::progress_callback(listener);
        Ok(client.sync_from(ticket, &store, &mut progress)?.into())
    }

    /// A ticket for a network call (sync, photo transfer, login) about to be handed to a
    /// background thread: passed to the call, it makes any `cancel_sync` from now on stop that
    /// call, even one made before the background thread got to it. Without one, a call is
    /// stopped by cancels made after it began. Cheap; any thread.
    pub fn sync_ticket(&self) -> u64 {
        self.cancel.ticket().0
    }

    /// Moves photo bytes after the data sync: uploads the device's photos (on a metered network
    /// only if `Config::photos_on_metered`), resumable, one failing photo never blocking the
    /// others; downloads the documents the customer supplied online. Blocking: background
    /// thread; `cancel_sync` stops it.
    /// `ticket`: see [`FieldCrew::sync_ticket`].
    #[uniffi::method(default(ticket = None))]
    pub fn transfer_photos(
        &self,
        network: NetworkKind,
        listener: Option<Arc<dyn PhotoTransferListener>>,
        ticket: Option<u64>,
    ) -> Result<PhotoTransferSummary> {
        let ticket = self.ticket_or_now(ticket);
        let client = self.client()?;
        let store = self.store()?;
        let mut progress = sync::transfer_callback(listener);
        Ok(client
            .transfer_photos_from(ticket, &store, network.into(), &mut progress)?
            .into())
    }

    /// Where a photo's bytes are: only here, uploading, or on the server. Cheap.
    pub fn photo_state(&self, photo_id: String) -> Result<PhotoState> {
        let id = types::uuid("photo_id", &photo_id)?;
        Ok(self.store()?.photo_transfer(id)?.state.into())
    }

    /// Stops the network calls (sync, photo transfer, login) running on other threads, those
    /// waiting for them, and those whose ticket was taken before it (Interrupted). A call asked
    /// for afterwards runs normally: a cancel tapped while nothing runs is not kept for later.
    /// Cheap; safe from any thread.
    pub fn cancel_sync(&self) {
        self.cancel.cancel();
    }

    /// Conflicts on the crew's orders, newest first. Cheap.
    pub fn conflicts(&self, open_only: bool) -> Result<Vec<Conflict>> {
        Ok(self
            .store()?
            .conflicts(open_only)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Seen, nothing to change; syncs to the server and the dispatcher.
    pub fn acknowledge_conflict(&self, conflict_id: String) -> Result<Conflict> {
        let id = types::uuid("conflict_id", &conflict_id)?;
        Ok(self.store()?.acknowledge_conflict(id)?.into())
    }

    /// Keep the value that stands, or put the losing value back (crew-owned fields only).
    pub fn resolve_conflict(
        &self,
        conflict_id: String,
        keep_standing_value: bool,
        note: String,
    ) -> Result<Conflict> {
        let id = types::uuid("conflict_id", &conflict_id)?;
        let choice = if keep_standing_value {
            ResolveChoice::Kept
        } else {
            ResolveChoice::Lost
        };
        Ok(self.store()?.resolve_conflict(id, choice, &note)?.into())
    }

    /// Records who works on this device without a server (tests, demos). Cheap.
    pub fn sign_in(&self, member_id: String, crew_id: String) -> Result<()> {
        Ok(self.store()?.sign_in(&Session { member_id, crew_id })?)
    }

    /// The agenda of a local day (`"2026-11-25"`), grouped by area; nearest-next from
    /// `position` when given.
    pub fn agenda(&self, day: String, position: Option<GeoPoint>) -> Result<Vec<AgendaGroup>> {
        let mut query = AgendaQuery::new(parse_day(&day)?);
        query.position = position.map(TryInto::try_into).transpose()?;
        let groups = self.store()?.agenda(&query)?;
        Ok(groups.into_iter().map(Into::into).collect())
    }

    /// Orders whose number, account, customer name, address or meter asset contains `query`.
    pub fn search(&self, query: String, limit: u32) -> Result<Vec<OrderSummary>> {
        let hits = self.store()?.search(&query, limit)?;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    pub fn orders_by_status(&self, statuses: Vec<Status>, limit: u32) -> Result<Vec<OrderSummary>> {
        let statuses: Vec<_> = statuses.into_iter().map(Into::into).collect();
        let hits = self.store()?.orders_by_status(&statuses, limit)?;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    pub fn order_detail(&self, order_id: String) -> Result<OrderDetail> {
        let id = types::uuid("order_id", &order_id)?;
        Ok(self.store()?.order_detail(id)?.into())
    }

    /// Arrival, start, suspension (with a reason), completion. Illegal transitions are
    /// validation errors on the field `status`.
    pub fn report_status(&self, report: StatusReport) -> Result<StatusEvent> {
        let report: store::StatusReport = report.try_into()?;
        Ok(self.store()?.report_status(&report)?.into())
    }

    /// The warnings a reading set would raise, without saving it. Cheap.
    pub fn check_readings(&self, entry: ReadingEntry) -> Result<Vec<ReadingWarning>> {
        let entry: store::ReadingEntry = entry.try_into()?;
        let warnings = self.store()?.check_readings(&entry)?;
        Ok(warnings.into_iter().map(Into::into).collect())
    }

    /// Validates and saves a reading set. Unconfirmed warnings give
    /// [`FieldCrewError::NeedsConfirmation`]; call again with a confirmation and reason each.
    pub fn record_readings(&self, entry: ReadingEntry) -> Result<Vec<MeterReading>> {
        let entry: store::ReadingEntry = entry.try_into()?;
        let readings = self.store()?.record_readings(&entry)?;
        Ok(readings.into_iter().map(Into::into).collect())
    }

    /// A meter replacement: old final readings and balance, new meter, start readings and card.
    pub fn record_replacement(&self, entry: ReplacementEntry) -> Result<MeterReplacement> {
        let entry: store::ReplacementEntry = entry.try_into()?;
        let (replacement, _) = self.store()?.record_replacement(&entry)?;
        Ok(replacement.into())
    }

    pub fn install_meter(&self, order_id: String, meter: Meter) -> Result<()> {
        let id = types::uuid("order_id", &order_id)?;
        let meter = meter.try_into()?;
        Ok(self.store()?.install_meter(id, &meter)?)
    }

    pub fn save_survey(&self, order_id: String, survey: SiteSurvey) -> Result<()> {
        let id = types::uuid("order_id", &order_id)?;
        let survey = survey.try_into()?;
        Ok(self.store()?.save_survey(id, &survey)?)
    }

    pub fn set_crew_notes(&self, order_id: String, notes: String) -> Result<()> {
        let id = types::uuid("order_id", &order_id)?;
        Ok(self.store()?.set_crew_notes(id, &notes)?)
    }

    /// The customer's rating, 1 to 5, and comment.
    pub fn add_evaluation(
        &self,
        order_id: String,
        score: u8,
        comment: String,
    ) -> Result<Evaluation> {
        let id = types::uuid("order_id", &order_id)?;
        Ok(self.store()?.add_evaluation(id, score, &comment)?.into())
    }

    /// Normalises the camera's bytes (JPEG from the camera; PNG and WebP accepted) into an
    /// upright, metadata-free JPEG and thumbnail, stored encrypted, and links it to the order.
    /// Slow (decoding, resizing): background thread. HEIC and other formats are
    /// [`FieldCrewError::UnsupportedPhoto`].
    pub fn add_photo(&self, order_id: String, kind: DocumentKind, bytes: Vec<u8>) -> Result<Photo> {
        let id = types::uuid("order_id", &order_id)?;
        Ok(self.store()?.add_photo(id, kind.into(), &bytes)?.into())
    }

    pub fn photos(&self, order_id: String) -> Result<Vec<Photo>> {
        let id = types::uuid("order_id", &order_id)?;
        Ok(self
            .store()?
            .photos(id)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The photo's JPEG, decrypted and verified, for display. Never write it to a shared
    /// gallery. Reads a file: background thread.
    pub fn photo_jpeg(&self, photo_id: String) -> Result<Vec<u8>> {
        let store = self.store()?;
        let photo = store.photo(types::uuid("photo_id", &photo_id)?)?;
        Ok(store.photo_bytes(&photo)?)
    }

    pub fn thumbnail_jpeg(&self, photo_id: String) -> Result<Vec<u8>> {
        let store = self.store()?;
        let photo = store.photo(types::uuid("photo_id", &photo_id)?)?;
        Ok(store.thumbnail_bytes(&photo)?)
    }

    /// Required documents: captured or missing. Cheap.
    pub fn document_checklist(&self, order_id: String) -> Result<DocumentChecklist> {
        let id = types::uuid("order_id", &order_id)?;
        Ok(self.store()?.document_checklist(id)?.into())
    }

    /// Changes waiting for the server. Cheap.
    pub fn pending_count(&self) -> Result<u64> {
        Ok(self.store()?.pending_count()?)
    }

    /// What logging out now would lose. Cheap.
    pub fn unsynced_work(&self) -> Result<UnsyncedWork> {
        Ok(self.store()?.unsynced_work()?.into())
    }

    /// Cancels the store call running on another thread. Cheap; safe from any thread.
    pub fn interrupt(&self) {
        if let Ok(store) = self.store() {
            store.interrupt();
        }
    }

    /// Re-encrypts the store under a new key from the keystore. Background thread.
    pub fn rekey(&self, new_key: Vec<u8>) -> Result<()> {
        let key = StoreKey::from_bytes(&new_key)?;
        let mut guard = self.store.write().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(store) => Ok(store.rekey(key)?),
            None => Err(FieldCrewError::Storage {
                detail: "the local data was wiped".into(),
            }),
        }
    }

    /// Logout or device handover: deletes all local data. Refuses with
    /// [`FieldCrewError::UnsyncedWork`] while work is unsynced (changes, photo bytes, refused
    /// changes) unless `discard_unsynced`
    /// (the member saw [`FieldCrew::unsynced_work`] and chose to discard it). Afterwards the
    /// shell deletes the store key from the keystore.
    pub fn wipe(&self, discard_unsynced: bool) -> Result<()> {
        let mut guard = self.store.write().unwrap_or_else(|p| p.into_inner());
        let Some(store) = guard.take() else {
            return Ok(());
        };
        if !discard_unsynced {
            let unsynced = store.unsynced_work()?;
            if !unsynced.is_empty() {
                *guard = Some(store);
                return Err(unsynced.into());
            }
        }
        Ok(store.wipe(WipeMode::DiscardUnsynced)?)
    }
}
