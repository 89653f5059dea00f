//! Personal data at rest: the store file is unreadable without its key, a wrong key is a typed
//! error that changes nothing, and rotating the key keeps every record.

mod common;
#[allow(dead_code)]
mod photo_support;

use common::*;
use fieldcrew_core::Error;
use fieldcrew_core::store::{Session, Store, StoreKey, StoreOptions};
use fieldcrew_core::work_order::{Status, WorkKind};
use rusqlite::Connection;

fn key(b: u8) -> StoreKey {
    StoreKey::from_bytes(&[b; 32]).unwrap()
}

fn keyed(t: &TestStore, k: StoreKey) -> StoreOptions {
    StoreOptions {
        key: Some(k),
        ..options(&t.clock)
    }
}

/// A store encrypted with `key(1)` holding one order with a status event.
fn encrypted_store() -> (TestStore, std::path::PathBuf) {
    let t = open_at(morning());
    let path = t.dir.path().join("secret.db");
    let store = Store::open(&path, keyed(&t, key(1))).unwrap();
    store
        .sign_in(&Session {
            member_id: "m-li".into(),
            crew_id: "crew-west".into(),
        })
        .unwrap();
    let mut o = order("GD-SECRET-1", WorkKind::MeterRemoval, morning());
    o.customer.name = "欧阳秀英".into();
    o.customer.phone = "13912345678".into();
    store.save_server_orders(&[o.clone()]).unwrap();
    store
        .report_status(&fieldcrew_core::store::StatusReport {
            order_id: o.id,
            to: Status::Accepted,
            reason: None,
            note: String::new(),
            fix: None,
        })
        .unwrap();
    drop(store);
    assert!(
        !path.with_extension("db-wal").exists(),
        "closing the store checkpoints and removes the WAL"
    );
    (t, path)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_copied_database_file_reveals_nothing_without_the_key() {
    let (_t, path) = encrypted_store();
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).unwrap();
    let bytes = std::fs::read(&copy).unwrap();
    assert!(!bytes.starts_with(b"SQLite format 3"));
    for secret in ["欧阳秀英", "13912345678", "GD-SECRET-1", "西湖供电所"] {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "{secret} in plain text"
        );
    }
    // Plain SQLite cannot read it.
    let conn = Connection::open(&copy).unwrap();
    assert!(
        conn.query_row("SELECT count(*) FROM work_orders", [], |r| r
            .get::<_, i64>(0))
            .is_err()
    );
    // Nor can fieldcrew without the key.
    let err = Store::open(&copy, StoreOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotADatabase), "{err:?}");
}

#[test]
fn a_wrong_key_is_a_typed_error_and_changes_nothing() {
    let (t, path) = encrypted_store();
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, keyed(&t, key(2))).unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err:?}");
    let after = std::fs::read(&path).unwrap();
    assert!(
        after == before,
        "the file changed ({} -> {} bytes)",
        before.len(),
        after.len()
    );
    let store = Store::open(&path, keyed(&t, key(1))).unwrap();
    assert_eq!(store.pending_count().unwrap(), 1);
    assert_eq!(store.search("欧阳秀英", 5).unwrap().len(), 1);
}

#[test]
fn a_wrong_key_leaves_an_unclean_store_intact() {
    // An app killed with a WAL left behind, then opened with a wrong key: the WAL must not be
    // checkpointed by the failed open, and the right key still opens everything.
    let (t, path) = encrypted_store();
    let store = Store::open(&path, keyed(&t, key(1))).unwrap();
    store
        .set_crew_notes(store.search("GD-SECRET", 1).unwrap()[0].id, "后门进")
        .unwrap();
    std::mem::forget(store); // no close, no checkpoint: as if killed
    let wal = path.with_extension("db-wal");
    let wal_before = std::fs::read(&wal).unwrap();
    let db_before = std::fs::read(&path).unwrap();
    assert!(matches!(
        Store::open(&path, keyed(&t, key(9))).unwrap_err(),
        Error::WrongKey
    ));
    assert!(std::fs::read(&path).unwrap() == db_before);
    assert!(std::fs::read(&wal).unwrap() == wal_before);
    let store = Store::open(&path, keyed(&t, key(1))).unwrap();
    assert_eq!(store.pending_count().unwrap(), 2);
}

#[test]
fn a_key_for_a_plain_database_is_refused() {
    let t = open_at(morning());
    let path = t.store.path().to_path_buf();
    drop(t.store);
    let clock = t.clock.clone();
    let err = Store::open(
        &path,
        StoreOptions {
            key: Some(key(1)),
            ..options(&clock)
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotEncrypted), "{err:?}");
}

#[test]
fn rotating_the_key_keeps_every_record() {
    let (t, path) = encrypted_store();
    let mut store = Store::open(&path, keyed(&t, key(1))).unwrap();
    let pending = store.pending(10).unwrap();
    store.rekey(key(3)).unwrap();
    // The open store keeps working on both connections.
    assert_eq!(store.pending(10).unwrap(), pending);
    assert_eq!(store.search("GD-SECRET", 5).unwrap().len(), 1);
    drop(store);

    assert!(matches!(
        Store::open(&path, keyed(&t, key(1))).unwrap_err(),
        Error::WrongKey
    ));
    let store = Store::open(&path, keyed(&t, key(3))).unwrap();
    assert_eq!(store.pending(10).unwrap(), pending);
    assert_eq!(store.session().unwrap().unwrap().member_id, "m-li");
}

#[test]
fn rekeying_a_plain_store_is_refused() {
    let mut t = open_at(morning());
    assert!(matches!(
        t.store.rekey(key(4)).unwrap_err(),
        Error::NotEncrypted
    ));
}

/// An encrypted store with one ID-card photo on an accepted order.
fn store_with_photo(
    k: Option<StoreKey>,
) -> (TestStore, Store, fieldcrew_core::store::Photo, Vec<u8>) {
    use fieldcrew_core::work_order::DocumentKind;
    let t = open_at(morning());
    let path = t.dir.path().join("photos.db");
    let store = Store::open(
        &path,
        StoreOptions {
            key: k,
            ..options(&t.clock)
        },
    )
    .unwrap();
    store
        .sign_in(&Session {
            member_id: "m-li".into(),
            crew_id: "crew-west".into(),
        })
        .unwrap();
    let o = order("GD-P-1", WorkKind::NewConnection, morning());
    store.save_server_orders(&[o.clone()]).unwrap();
    let camera = photo_support::plain_jpeg(640, 480);
    let photo = store
        .add_photo(o.id, DocumentKind::IdCard, &camera)
        .unwrap();
    (t, store, photo, camera)
}

#[test]
fn photo_files_are_encrypted_and_read_back_verified() {
    let (_t, store, photo, _) = store_with_photo(Some(key(1)));
    let on_disk = std::fs::read(store.photo_path(&photo)).unwrap();
    assert!(!on_disk.starts_with(&[0xff, 0xd8]), "no JPEG on disk");
    assert!(!contains(&on_disk, b"JFIF"));
    let thumb_on_disk = std::fs::read(store.thumbnail_path(&photo)).unwrap();
    assert!(!thumb_on_disk.starts_with(&[0xff, 0xd8]));

    let jpeg = store.photo_bytes(&photo).unwrap();
    assert!(jpeg.starts_with(&[0xff, 0xd8]));
    assert_eq!(
        fieldcrew_core::photo::sha256_hex(&jpeg),
        photo.sha256,
        "content address holds"
    );
    assert!(
        store
            .thumbnail_bytes(&photo)
            .unwrap()
            .starts_with(&[0xff, 0xd8])
    );

    // A copy of the photo directory is useless with another key (the database's key).
    let path = store.path().to_path_buf();
    drop(store);
    assert!(matches!(
        Store::open(
            &path,
            StoreOptions {
                key: Some(key(2)),
                ..Default::default()
            }
        )
        .unwrap_err(),
        Error::WrongKey
    ));
}

#[test]
fn a_flipped_byte_in_a_photo_is_detected_and_never_shown() {
    for k in [Some(key(1)), None] {
        let (_t, store, photo, _) = store_with_photo(k.clone());
        for file in [store.photo_path(&photo), store.thumbnail_path(&photo)] {
            let mut bytes = std::fs::read(&file).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x20;
            std::fs::write(&file, &bytes).unwrap();
        }
        let err = store.photo_bytes(&photo).unwrap_err();
        assert!(
            matches!(err, Error::PhotoTampered { photo: id } if id == photo.id),
            "{err:?}"
        );
        if k.is_some() {
            // Thumbnails are authenticated too when encrypted.
            assert!(matches!(
                store.thumbnail_bytes(&photo).unwrap_err(),
                Error::PhotoTampered { .. }
            ));
        }
    }
}

#[test]
fn rekeying_keeps_photos_readable() {
    let (_t, mut store, photo, _) = store_with_photo(Some(key(1)));
    let before = store.photo_bytes(&photo).unwrap();
    store.rekey(key(5)).unwrap();
    assert_eq!(store.photo_bytes(&photo).unwrap(), before);
}

/// Opens `path` with SQLCipher directly under `k` and the given page MAC, and reads the schema.
fn raw_open(path: &std::path::Path, k: u8, hmac: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let hex: String = std::iter::repeat_n(format!("{k:02x}"), 32).collect();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{hex}'\"; PRAGMA cipher_hmac_algorithm = {hmac};"
    ))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(conn)
}

#[test]
fn new_stores_mac_pages_with_sha256_and_stores_from_sqlcipher_defaults_still_open() {
    let (t, path) = encrypted_store();
    // This version's stores: HMAC-SHA256 pages; SQLCipher's default (SHA-512) cannot read them.
    assert!(raw_open(&path, 1, "HMAC_SHA256").is_ok());
    assert!(raw_open(&path, 1, "HMAC_SHA512").is_err());

    // A store written with SQLCipher 4's defaults, as earlier versions did: the same data
    // exported into a file under HMAC-SHA512.
    let legacy = t.dir.path().join("legacy.db");
    {
        let conn = raw_open(&path, 1, "HMAC_SHA256").unwrap();
        let hex: String = std::iter::repeat_n("01".to_string(), 32).collect();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch(&format!(
            "ATTACH DATABASE '{}' AS legacy KEY \"x'{hex}'\";
             PRAGMA legacy.cipher_hmac_algorithm = HMAC_SHA512;
             SELECT sqlcipher_export('legacy');
             PRAGMA legacy.user_version = {version};
             DETACH DATABASE legacy;",
            legacy.display()
        ))
        .unwrap();
    }
    assert!(raw_open(&legacy, 1, "HMAC_SHA512").is_ok());
    assert!(raw_open(&legacy, 1, "HMAC_SHA256").is_err());

    // It opens, with everything in it, and keeps working; a wrong key is still WrongKey.
    assert!(matches!(
        Store::open(&legacy, keyed(&t, key(2))),
        Err(Error::WrongKey)
    ));
    let store = Store::open(&legacy, keyed(&t, key(1))).unwrap();
    let found = store.search("GD-SECRET-1", 10).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(store.order(found[0].id).unwrap().customer.name, "欧阳秀英");
    assert_eq!(store.pending_count().unwrap(), 1);
    store.set_crew_notes(found[0].id, "表箱在车库内").unwrap();
    drop(store);
    let store = Store::open(&legacy, keyed(&t, key(1))).unwrap();
    assert_eq!(store.pending_count().unwrap(), 2);
    assert!(
        raw_open(&legacy, 1, "HMAC_SHA512").is_ok(),
        "it kept its settings"
    );
}
