//! Personal data at rest: the store file is unreadable without its key, a wrong key is a typed
//! error that changes nothing, and rotating the key keeps every record.

mod common;
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
fn a_changed_database_page_is_detected_and_never_read() {
    let (t, path) = encrypted_store();
    // One bit flipped in every page but the first (which carries the salt and is what a wrong
    // key fails on): whatever a read touches fails its tag.
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() % 1024, 0);
    for page in 1..bytes.len() / 1024 {
        bytes[page * 1024 + 512] ^= 0x01;
    }
    std::fs::write(&path, &bytes).unwrap();
    let outcome = Store::open(&path, keyed(&t, key(1)))
        .and_then(|s| s.search("GD-SECRET-1", 5).map(|found| found.len()));
    assert!(matches!(outcome, Err(Error::Corrupt(_))), "{outcome:?}");
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
    store.save_server_orders(std::slice::from_ref(&o)).unwrap();
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

/// SQLite3 Multiple Ciphers' settings for this version's stores and for the SQLCipher 4 stores
/// earlier versions made (1 KiB pages with HMAC-SHA256, 4 KiB with HMAC-SHA256, SQLCipher 4's
/// defaults), as PRAGMAs and as the URI parameters `VACUUM INTO` takes.
const AEGIS: (&str, &str) = ("PRAGMA cipher = 'aegis';", "cipher=aegis");
const SQLCIPHER_1K_SHA256: (&str, &str) = (
    "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4; PRAGMA hmac_algorithm = 1; PRAGMA legacy_page_size = 1024;",
    "cipher=sqlcipher&legacy=4&hmac_algorithm=1&legacy_page_size=1024",
);
const SQLCIPHER_4K_SHA256: (&str, &str) = (
    "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4; PRAGMA hmac_algorithm = 1;",
    "cipher=sqlcipher&legacy=4&hmac_algorithm=1",
);
const SQLCIPHER_4: (&str, &str) = (
    "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4;",
    "cipher=sqlcipher&legacy=4",
);

fn raw_key(k: u8) -> String {
    format!("raw:{}", format!("{k:02x}").repeat(32))
}

/// Opens `path` directly under key `k` with the given cipher settings, and reads the schema.
fn raw_open(path: &std::path::Path, k: u8, cipher: (&str, &str)) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!("{} PRAGMA key = '{}';", cipher.0, raw_key(k)))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(conn)
}

fn page_size(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn new_stores_use_aegis_on_1k_pages_and_earlier_sqlcipher_stores_are_converted() {
    let (t, path) = encrypted_store();
    // This version's stores: AEGIS on 1 KiB pages; no SQLCipher setting reads them.
    assert_eq!(page_size(&raw_open(&path, 1, AEGIS).unwrap()), 1024);
    for legacy in [SQLCIPHER_1K_SHA256, SQLCIPHER_4K_SHA256, SQLCIPHER_4] {
        assert!(raw_open(&path, 1, legacy).is_err());
    }

    // A store as the last SQLCipher version wrote it: the same data exported under its
    // settings. (The copy keeps the 1 KiB pages of its source: SQLite3 Multiple Ciphers does not
    // change an encrypted database's page size. The two 4 KiB settings of earlier versions are
    // the OpenSSL fixtures of the next test.)
    let (name, legacy) = ("sha256-1k.db", SQLCIPHER_1K_SHA256);
    {
        let earlier = t.dir.path().join(name);
        {
            let conn = raw_open(&path, 1, AEGIS).unwrap();
            conn.execute_batch(&format!(
                "VACUUM INTO 'file:{}?{}&key={}';",
                earlier.display(),
                legacy.1,
                raw_key(1)
            ))
            .unwrap();
        }
        let conn = raw_open(&earlier, 1, legacy).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(page_size(&conn), 1024, "{name}");
        drop(conn);
        assert!(raw_open(&earlier, 1, AEGIS).is_err(), "{name}");

        // A wrong key is still WrongKey, and converts nothing.
        let before = std::fs::read(&earlier).unwrap();
        assert!(matches!(
            Store::open(&earlier, keyed(&t, key(2))),
            Err(Error::WrongKey)
        ));
        assert_eq!(std::fs::read(&earlier).unwrap(), before, "{name}");

        // A copy a crash left half-made is discarded.
        let leftover = t.dir.path().join(format!("{name}-converting"));
        std::fs::write(&leftover, b"half a copy").unwrap();

        // It opens with everything in it, as AEGIS from now on, and keeps working.
        let store = Store::open(&earlier, keyed(&t, key(1))).unwrap();
        assert!(!leftover.exists(), "{name}");
        let found = store.search("GD-SECRET-1", 10).unwrap();
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(store.order(found[0].id).unwrap().customer.name, "欧阳秀英");
        assert_eq!(store.pending_count().unwrap(), 1);
        store.set_crew_notes(found[0].id, "表箱在车库内").unwrap();
        drop(store);
        assert!(raw_open(&earlier, 1, legacy).is_err(), "{name}: converted");
        let conn = raw_open(&earlier, 1, AEGIS).unwrap();
        assert_eq!(page_size(&conn), 1024, "{name}");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{name}");
        drop(conn);
        let store = Store::open(&earlier, keyed(&t, key(1))).unwrap();
        assert_eq!(store.pending_count().unwrap(), 2);
    }
}

/// Files SQLCipher itself wrote through its OpenSSL provider: raw keys under both page MACs
/// (the settings of earlier fieldcrew versions), and passphrases (PBKDF2) in SQLCipher 4 and 3
/// formats. Each holds table `t` with 300 rows; row 7 spans overflow pages. SQLite3 Multiple
/// Ciphers reads and writes them, and the store converts the raw-key ones.
#[test]
fn files_sqlcipher_wrote_open_and_the_store_converts_them() {
    let t = open_at(morning());
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlcipher");
    let raw = raw_key(0x5a);
    let cases = [
        ("openssl-raw-hmac-sha256.db", format!("{} PRAGMA key = '{raw}';", SQLCIPHER_4K_SHA256.0)),
        ("openssl-raw-hmac-sha512.db", format!("{} PRAGMA key = '{raw}';", SQLCIPHER_4.0)),
        (
            "openssl-passphrase-v4.db",
            "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 4; PRAGMA key = 'correct horse battery staple';".to_string(),
        ),
        (
            "openssl-passphrase-v3.db",
            "PRAGMA cipher = 'sqlcipher'; PRAGMA legacy = 3; PRAGMA key = 'correct horse battery staple';".to_string(),
        ),
    ];
    let rows_of = |conn: &Connection, name: &str| -> Vec<(i64, String)> {
        conn.prepare("SELECT id, v FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    for (name, setup) in cases {
        // A copy: the test writes to it, and the fixture stays as SQLCipher wrote it.
        let file = t.dir.path().join(name);
        std::fs::copy(fixtures.join(name), &file).unwrap();
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch(&setup).unwrap();
        let rows = rows_of(&conn, name);
        assert_eq!(rows.len(), 300, "{name}");
        assert_eq!(rows[7].1, "溢出".repeat(3000), "{name}: overflow pages");
        assert_eq!(
            rows[123].1,
            format!("row 123 客户{} {}", 123 * 7919 % 1000, "x".repeat(123 % 40)),
            "{name}"
        );
        // Written in the same format, read back by a fresh connection.
        conn.execute("UPDATE t SET v = 'rewritten' WHERE id = 123", [])
            .unwrap();
        drop(conn);
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch(&setup).unwrap();
        let v: String = conn
            .query_row("SELECT v FROM t WHERE id = 123", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "rewritten", "{name}");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{name}");
        drop(conn);
        // A wrong passphrase or key is still refused.
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch(
            &setup
                .replace("correct horse", "wrong horse")
                .replace("5a5a", "5a5b"),
        )
        .unwrap();
        assert!(
            conn.query_row("SELECT count(*) FROM t", [], |_| Ok(()))
                .is_err(),
            "{name}"
        );
        drop(conn);

        // A raw-key file is what an earlier fieldcrew wrote: the store converts it to AEGIS.
        if name.contains("raw") {
            let store = Store::open(&file, keyed(&t, key(0x5a))).unwrap();
            drop(store);
            let conn = raw_open(&file, 0x5a, AEGIS).unwrap();
            assert_eq!(page_size(&conn), 4096, "{name} keeps its page size");
            assert!(raw_open(&file, 0x5a, SQLCIPHER_4).is_err(), "{name}");
            let after = rows_of(&conn, name);
            assert_eq!(after.len(), 300, "{name}");
            assert_eq!(after[7].1, rows[7].1, "{name}");
            assert_eq!(after[123].1, "rewritten", "{name}");
        }
    }
}
