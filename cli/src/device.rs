//! A device data directory: what a phone keeps, laid out for the desktop.
//!
//! ```text
//! DIR/
//!   phone.sqlite3   the encrypted store (AEGIS-256 pages), as on a phone
//!   photos/         the store's encrypted photo files
//!   store.key       the store key, 64 hex digits, mode 0600
//!   device.json     server URL, token, member and crew, mode 0600
//! ```
//!
//! `store.key` is the desktop stand-in for the platform keystore (Android Keystore, iOS
//! Keychain) where the phone apps keep the key: it is created once, at `login`, from the
//! operating system's random source, readable by its owner only, and never printed. Anyone who
//! can read the file can open the store, exactly as anyone who can unlock the phone's keystore
//! can; keep the directory on an encrypted disk and delete it when the device is retired.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldcrew_core::clock::Clock;
use fieldcrew_core::store::{OrderSummary, Session, Store, StoreKey, StoreOptions};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CliError, CliResult};

pub const STORE_FILE: &str = "phone.sqlite3";
pub const KEY_FILE: &str = "store.key";
pub const CONFIG_FILE: &str = "device.json";

/// What `login` records beside the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    pub server_url: String,
    pub token: String,
    pub member_id: String,
    pub crew_id: String,
    /// Extra root certificates to trust (PEM, from `login --ca-cert`): a utility's private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_root_certs_pem: Option<String>,
}

impl DeviceConfig {
    /// The sync client's settings for this device.
    pub fn sync_config(&self) -> fieldcrew_core::sync::SyncConfig {
        sync_config(
            &self.server_url,
            &self.token,
            self.extra_root_certs_pem.as_deref(),
        )
    }
}

/// Sync settings for a server, a token and any extra trusted roots.
pub fn sync_config(
    url: &str,
    token: &str,
    extra_root_certs_pem: Option<&str>,
) -> fieldcrew_core::sync::SyncConfig {
    let mut config = fieldcrew_core::sync::SyncConfig::new(url, token);
    config.extra_root_certs_pem = extra_root_certs_pem.map(|pem| pem.as_bytes().to_vec());
    config
}

/// A device data directory.
#[derive(Debug, Clone)]
pub struct DeviceDir {
    pub path: PathBuf,
}

impl DeviceDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeviceDir { path: path.into() }
    }

    pub fn store_path(&self) -> PathBuf {
        self.path.join(STORE_FILE)
    }

    fn key_path(&self) -> PathBuf {
        self.path.join(KEY_FILE)
    }

    fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// The store key, created (0600) if the directory has none yet.
    pub fn ensure_key(&self) -> CliResult<StoreKey> {
        std::fs::create_dir_all(&self.path)?;
        if self.key_path().exists() {
            return self.key();
        }
        let mut bytes = zeroed_key();
        rand::rng().fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&self.key_path(), hex.as_bytes())?;
        Ok(StoreKey::from_bytes(&bytes)?)
    }

    /// The existing store key.
    pub fn key(&self) -> CliResult<StoreKey> {
        let text = match std::fs::read_to_string(self.key_path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::new(format!(
                    "{} is not a device data directory (no {KEY_FILE}); run `fieldcrew --data {} login --server URL --token TOKEN` first",
                    self.path.display(),
                    self.path.display()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let hex = text.trim();
        let bad = || CliError::new(format!("{KEY_FILE} is damaged (64 hex digits expected)"));
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut bytes = zeroed_key();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(StoreKey::from_bytes(&bytes)?)
    }

    pub fn save_config(&self, config: &DeviceConfig) -> CliResult<()> {
        std::fs::create_dir_all(&self.path)?;
        write_private(&self.config_path(), &serde_json::to_vec_pretty(config)?)
    }

    pub fn config(&self) -> CliResult<DeviceConfig> {
        let bytes = match std::fs::read(self.config_path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::new(format!(
                    "this device has not logged in ({} has no {CONFIG_FILE}); run `fieldcrew login --server URL --token TOKEN`",
                    self.path.display()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::new(format!("{CONFIG_FILE} is damaged: {e}")))
    }

    /// Opens the encrypted store with the key from the directory.
    pub fn open_store(&self) -> CliResult<Store> {
        let key = self.key()?;
        self.open_with(key, None)
    }

    pub fn open_with(&self, key: StoreKey, clock: Option<Arc<dyn Clock>>) -> CliResult<Store> {
        let mut options = StoreOptions {
            key: Some(key),
            ..StoreOptions::default()
        };
        if let Some(clock) = clock {
            options.clock = clock;
        }
        Store::open(self.store_path(), options).map_err(|e| match e {
            fieldcrew_core::Error::WrongKey => CliError::new(format!(
                "{KEY_FILE} does not open {STORE_FILE} in {} (the key file was replaced?)",
                self.path.display()
            )),
            other => other.into(),
        })
    }

    /// Creates the key and store, signs the member in and records the server settings.
    pub fn login(&self, config: &DeviceConfig, clock: Option<Arc<dyn Clock>>) -> CliResult<Store> {
        let key = self.ensure_key()?;
        let store = self.open_with(key, clock)?;
        if let Some(current) = store.session()?
            && current.crew_id != config.crew_id
            && !store.unsynced_work()?.is_empty()
        {
            return Err(CliError::new(format!(
                "this device holds unsynced work of crew {}; sync it before signing in for crew {}",
                current.crew_id, config.crew_id
            )));
        }
        store.sign_in(&Session {
            member_id: config.member_id.clone(),
            crew_id: config.crew_id.clone(),
        })?;
        self.save_config(config)?;
        Ok(store)
    }
}

fn zeroed_key() -> [u8; 32] {
    [0u8; 32]
}

/// Writes a file only its owner can read (0600 on Unix), replacing any earlier one.
fn write_private(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Finds an order on the device by its id (UUID) or its number (工单号).
pub fn resolve_order(store: &Store, reference: &str) -> CliResult<Uuid> {
    let r = reference.trim();
    if r.is_empty() {
        return Err(CliError::new("an order id or number is required"));
    }
    if let Ok(id) = Uuid::try_parse(r) {
        return match store.order(id) {
            Ok(_) => Ok(id),
            Err(fieldcrew_core::Error::NotFound { .. }) => {
                Err(CliError::new(format!("no order {r} on this device")))
            }
            Err(e) => Err(e.into()),
        };
    }
    let hits: Vec<OrderSummary> = store.search(r, 50)?;
    match hits.iter().find(|o| o.number.eq_ignore_ascii_case(r)) {
        Some(o) => Ok(o.id),
        None => Err(CliError::new(format!("no order {r} on this device"))),
    }
}
