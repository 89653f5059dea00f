//! Photos in the store: files and rows, the outbox, dedup, the checklist, the sweep at open,
//! and deleting an order's local data.

mod photo_support;

use std::path::Path;

use chrono::{TimeZone, Utc};
use fieldcrew_core::Error;
use fieldcrew_core::photo::{PhotoError, sha256_hex};
use fieldcrew_core::store::{Entity, Op, Session, Store, StoreOptions, WipeMode};
use fieldcrew_core::work_order::{
    Appointment, Customer, DocumentKind, Priority, Site, Status, WorkKind, WorkOrder,
};
use photo_support::*;
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    store: Store,
}

fn order(kind: WorkKind, status: Status, extra_documents: Vec<DocumentKind>) -> WorkOrder {
    let id = Uuid::now_v7();
    WorkOrder {
        id,
        number: format!("WO-{}", &id.simple().to_string()[20..]),
        kind,
        status,
        priority: Priority::Normal,
        customer: Customer {
            name: "海宁某户".into(),
            account_number: "3300123456".into(),
            phone: "13800000000".into(),
        },
        site: Site {
            address: "海宁市某路1号".into(),
            area: "硖石".into(),
            location: None,
        },
        meters: vec![],
        required_documents: extra_documents,
        appointment: Appointment::Within { hours: 48 },
        accepted_at: Utc.with_ymd_and_hms(2024, 5, 17, 1, 0, 0).unwrap(),
        dispatch_notes: String::new(),
        crew_notes: String::new(),
        survey: None,
        crew_id: "crew-7".into(),
        member_id: Some("m-42".into()),
        version: 3,
    }
}

fn fixture(orders: &[WorkOrder]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fieldcrew.db");
    let store = Store::open(&db, StoreOptions::default()).unwrap();
    store
        .sign_in(&Session {
            member_id: "m-42".into(),
            crew_id: "crew-7".into(),
        })
        .unwrap();
    store.save_server_orders(orders).unwrap();
    Fixture {
        _dir: dir,
        db,
        store,
    }
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn camera_photo(w: u32, h: u32, seed: u8) -> Vec<u8> {
    jpeg(
        w,
        h,
        &rgb(w, h, |x, y| [x as u8 ^ seed, y as u8, seed]),
        JpegSpec {
            exif: Some(Exif {
                orientation: 6,
                taken: Some("2024:05:17 09:41:23"),
                offset: None,
                gps: Some((30.274_156, 120.155_173)),
            }),
            ..Default::default()
        },
    )
}

/// The server acknowledged every change (what a data sync does); the photos' bytes are still
/// only here.
fn acknowledge_all(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("DELETE FROM outbox", []).unwrap();
}

/// The server also holds every photo's bytes (what a photo transfer does).
fn mark_all_uploaded(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "UPDATE photo_uploads SET state = 'uploaded', sent = bytes",
        [],
    )
    .unwrap();
}

#[test]
fn a_photo_is_stored_as_file_row_and_outbox_entry() {
    let o = order(WorkKind::MeterRemoval, Status::Arrived, vec![]);
    let f = fixture(std::slice::from_ref(&o));
    let photo = f
        .store
        .add_photo(o.id, DocumentKind::IdCard, &camera_photo(320, 240, 1))
        .unwrap();

    // Upright (EXIF 6 turns 320x240 into 240x320), sensitive, metadata kept in the row.
    assert_eq!((photo.width, photo.height), (240, 320));
    assert_eq!((photo.original_width, photo.original_height), (240, 320));
    assert!(photo.sensitive);
    assert_eq!(photo.member_id, "m-42");
    // No offset in the EXIF: local time in the utility's zone (UTC+8).
    assert_eq!(
        photo.captured_at,
        Some(Utc.with_ymd_and_hms(2024, 5, 17, 1, 41, 23).unwrap())
    );
    let at = photo.location.unwrap();
    // Kept at site level (about 11 m), like status reports: not the camera's exact spot.
    assert_eq!((at.lat, at.lon), (30.2742, 120.1552));

    // The file is the content address, app-private, without metadata.
    let path = f.store.photo_path(&photo);
    assert!(path.starts_with(f.store.photos_dir()));
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(sha256_hex(&bytes), photo.sha256);
    assert_eq!(bytes.len() as u64, photo.bytes);
    assert!(!bytes.windows(4).any(|w| w == b"Exif"));
    assert_eq!(
        std::fs::read(f.store.thumbnail_path(&photo)).unwrap().len() as u64,
        photo.thumbnail_bytes
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f.store.photos_dir())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "photo directory is owner-only");
    }

    assert_eq!(f.store.photo(photo.id).unwrap(), photo);
    assert_eq!(f.store.photos(o.id).unwrap(), vec![photo.clone()]);
    let pending = f.store.pending_for_order(o.id).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].entity, Entity::Photo);
    assert_eq!(pending[0].op, Op::Create);
    assert_eq!(pending[0].entity_id, photo.id.to_string());
    assert_eq!(pending[0].base_version, 3);
    assert_eq!(pending[0].fields["sha256"], photo.sha256.as_str());
    assert_eq!(pending[0].fields["kind"], "id_card");
    assert_eq!(pending[0].hlc, photo.hlc);
}

#[test]
fn the_same_photo_is_stored_once() {
    let a = order(WorkKind::MeterRemoval, Status::Arrived, vec![]);
    let b = order(WorkKind::MeterRemoval, Status::Arrived, vec![]);
    let f = fixture(&[a.clone(), b.clone()]);
    let bytes = camera_photo(200, 100, 2);
    let first = f
        .store
        .add_photo(a.id, DocumentKind::IdCard, &bytes)
        .unwrap();
    let again = f
        .store
        .add_photo(a.id, DocumentKind::IdCard, &bytes)
        .unwrap();
    assert_eq!(first, again, "same order, same photo: the existing row");
    assert_eq!(
        f.store.pending_for_order(a.id).unwrap().len(),
        1,
        "queued once"
    );
    let other = f
        .store
        .add_photo(b.id, DocumentKind::IdCard, &bytes)
        .unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(other.sha256, first.sha256);
    assert_eq!(
        files_under(&f.store.photos_dir()).len(),
        2,
        "one photo and one thumbnail"
    );
}

#[test]
fn the_checklist_shows_missing_documents_and_a_later_supply_completes_it() {
    // Account closure (销户拆表): ID card, property certificate, meter before, signature by
    // default; dispatch also asked for the business licence.
    let o = order(
        WorkKind::MeterRemoval,
        Status::Arrived,
        vec![DocumentKind::BusinessLicence, DocumentKind::IdCard],
    );
    let f = fixture(std::slice::from_ref(&o));
    let list = f.store.document_checklist(o.id).unwrap();
    assert_eq!(
        list.items.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [
            DocumentKind::IdCard,
            DocumentKind::PropertyCertificate,
            DocumentKind::MeterBefore,
            DocumentKind::Signature,
            DocumentKind::BusinessLicence,
        ]
    );
    assert_eq!(list.missing.len(), 5);
    assert!(!list.is_complete());

    for (kind, seed) in [
        (DocumentKind::IdCard, 1),
        (DocumentKind::MeterBefore, 2),
        (DocumentKind::MeterBefore, 3),
        (DocumentKind::Signature, 4),
        (DocumentKind::BusinessLicence, 5),
        (DocumentKind::Site, 6),
    ] {
        f.store
            .add_photo(o.id, kind, &camera_photo(64, 48, seed))
            .unwrap();
    }
    let list = f.store.document_checklist(o.id).unwrap();
    assert_eq!(list.missing, [DocumentKind::PropertyCertificate]);
    // The order's detail carries the same checklist and the six photos, read in one snapshot.
    let detail = f.store.order_detail(o.id).unwrap();
    assert_eq!(detail.documents, list);
    assert_eq!(detail.photos.len(), 6);
    let meter = list
        .items
        .iter()
        .find(|i| i.kind == DocumentKind::MeterBefore)
        .unwrap();
    assert_eq!((meter.required, meter.photos), (true, 2));
    let site = list.items.last().unwrap();
    assert_eq!(
        (site.kind, site.required, site.photos),
        (DocumentKind::Site, false, 1)
    );

    // The visit ends without the property certificate; the customer sends it afterwards.
    let mut done = o.clone();
    done.status = Status::Completed;
    f.store.save_server_orders(&[done]).unwrap();
    let supplied = f
        .store
        .add_photo(
            o.id,
            DocumentKind::PropertyCertificate,
            &camera_photo(64, 48, 9),
        )
        .unwrap();
    let list = f.store.document_checklist(o.id).unwrap();
    assert!(list.is_complete(), "{:?}", list.missing);
    let item = list
        .items
        .iter()
        .find(|i| i.kind == DocumentKind::PropertyCertificate)
        .unwrap();
    assert_eq!(item.latest, Some(supplied.id));
}

#[test]
fn bad_input_stores_nothing() {
    let o = order(WorkKind::NewConnection, Status::Arrived, vec![]);
    let f = fixture(std::slice::from_ref(&o));
    let truncated = {
        let j = plain_jpeg(128, 128);
        j[..j.len() / 2].to_vec()
    };
    let cases: Vec<(Vec<u8>, PhotoError)> = vec![
        (vec![], PhotoError::Empty),
        (truncated, PhotoError::Truncated),
        (
            b"%PDF-1.4\n".to_vec(),
            PhotoError::UnsupportedFormat {
                detected: Some("PDF"),
            },
        ),
        (
            png_claiming(60_000, 60_000),
            PhotoError::TooManyPixels {
                width: 60_000,
                height: 60_000,
                max: 50_000_000,
            },
        ),
        (png_claiming(0, 0), PhotoError::ZeroSize),
    ];
    let outbox_before = f.store.pending_count().unwrap();
    for (bytes, want) in cases {
        match f.store.add_photo(o.id, DocumentKind::IdCard, &bytes) {
            Err(Error::Photo(got)) => assert_eq!(got, want),
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
    assert!(f.store.photos(o.id).unwrap().is_empty());
    assert_eq!(f.store.pending_count().unwrap(), outbox_before);
    assert!(files_under(&f.store.photos_dir()).is_empty());

    // A cancelled order or a signed-out device refuses before any work: no file either.
    let mut cancelled = o.clone();
    cancelled.status = Status::Cancelled;
    f.store.save_server_orders(&[cancelled]).unwrap();
    let good = camera_photo(64, 48, 1);
    assert!(matches!(
        f.store.add_photo(o.id, DocumentKind::IdCard, &good),
        Err(Error::Invalid {
            field: "status",
            ..
        })
    ));
    assert!(matches!(
        f.store
            .add_photo(Uuid::now_v7(), DocumentKind::IdCard, &good),
        Err(Error::NotFound { .. })
    ));
    assert!(files_under(&f.store.photos_dir()).is_empty());
}

#[test]
fn files_without_a_row_are_swept_at_open() {
    let o = order(WorkKind::SiteSurvey, Status::Arrived, vec![]);
    let f = fixture(std::slice::from_ref(&o));
    let kept = f
        .store
        .add_photo(o.id, DocumentKind::Site, &camera_photo(64, 48, 1))
        .unwrap();
    let dir = f.store.photos_dir();
    // What a crash leaves: a file whose row never committed, and a half-written temporary.
    let stray = "ab".repeat(32);
    std::fs::create_dir_all(dir.join("ab")).unwrap();
    std::fs::write(dir.join("ab").join(format!("{stray}.jpg")), b"orphan").unwrap();
    std::fs::write(dir.join("tmp").join("0190.tmp"), b"half").unwrap();
    drop(f.store);

    let store = Store::open(&f.db, StoreOptions::default()).unwrap();
    let left = files_under(&store.photos_dir());
    assert_eq!(
        left,
        vec![store.photo_path(&kept), store.thumbnail_path(&kept)]
    );
}

#[test]
fn deleting_an_order_after_sync_removes_its_files_but_not_shared_ones() {
    let a = order(WorkKind::MeterRemoval, Status::Arrived, vec![]);
    let b = order(WorkKind::MeterRemoval, Status::Arrived, vec![]);
    let f = fixture(&[a.clone(), b.clone()]);
    let shared = camera_photo(64, 48, 1);
    let only_a = f
        .store
        .add_photo(a.id, DocumentKind::IdCard, &camera_photo(64, 48, 2))
        .unwrap();
    let shared_a = f
        .store
        .add_photo(a.id, DocumentKind::PropertyCertificate, &shared)
        .unwrap();
    f.store
        .add_photo(b.id, DocumentKind::PropertyCertificate, &shared)
        .unwrap();

    // Still open, then unsynced: refused, nothing removed.
    assert!(matches!(
        f.store.delete_order_local_data(a.id),
        Err(Error::Invalid {
            field: "status",
            ..
        })
    ));
    let mut done = a.clone();
    done.status = Status::Completed;
    f.store.save_server_orders(&[done]).unwrap();
    assert!(matches!(
        f.store.delete_order_local_data(a.id),
        Err(Error::Invalid {
            field: "outbox",
            ..
        })
    ));
    assert!(f.store.photo_path(&only_a).exists());

    // Records synced, bytes not uploaded yet (waiting for an unmetered network): the ID card
    // exists nowhere else, so it stays.
    acknowledge_all(&f.db);
    assert!(matches!(
        f.store.delete_order_local_data(a.id),
        Err(Error::Invalid {
            field: "photos",
            ..
        })
    ));
    assert!(f.store.photo_path(&only_a).exists());
    assert_eq!(f.store.photos(a.id).unwrap().len(), 2);

    mark_all_uploaded(&f.db);
    let deleted = f.store.delete_order_local_data(a.id).unwrap();
    assert_eq!((deleted.photos, deleted.files), (2, 1));
    assert!(!f.store.photo_path(&only_a).exists());
    assert!(!f.store.thumbnail_path(&only_a).exists());
    assert!(
        f.store.photo_path(&shared_a).exists(),
        "order b still uses it"
    );
    assert!(matches!(f.store.order(a.id), Err(Error::NotFound { .. })));
    assert!(f.store.photos(a.id).unwrap().is_empty());
    assert_eq!(f.store.photos(b.id).unwrap().len(), 1);
    assert!(
        f.store
            .search("WO-", 10)
            .unwrap()
            .iter()
            .all(|s| s.id != a.id)
    );
}

#[test]
fn a_wipe_at_logout_removes_the_photo_files() {
    let o = order(WorkKind::MeterRemoval, Status::Arrived, vec![]);
    let f = fixture(std::slice::from_ref(&o));
    f.store
        .add_photo(o.id, DocumentKind::IdCard, &camera_photo(64, 48, 1))
        .unwrap();
    let dir = f.store.photos_dir();
    assert_eq!(files_under(&dir).len(), 2);
    // The photo's record synced but its bytes did not: a wipe must say so and refuse.
    acknowledge_all(&f.db);
    let unsynced = f.store.unsynced_work().unwrap();
    assert_eq!(unsynced.pending_changes, 0);
    assert_eq!(unsynced.photos_not_uploaded, 1);
    assert_eq!(unsynced.orders, 1);
    assert!(unsynced.photo_bytes_not_uploaded > 0);
    assert!(!unsynced.is_empty());
    let Fixture { _dir, db, store } = f;
    match store.wipe(WipeMode::OnlyIfSynced) {
        Err(Error::UnsyncedWork(w)) => assert_eq!(w, unsynced),
        other => panic!("expected UnsyncedWork, got {other:?}"),
    }
    assert_eq!(files_under(&dir).len(), 2, "a refused wipe removes nothing");
    let store = Store::open(&db, StoreOptions::default()).unwrap();
    assert_eq!(store.unsynced_work().unwrap(), unsynced);

    mark_all_uploaded(&db);
    assert!(store.unsynced_work().unwrap().is_empty());
    // A downloaded document (the customer's certificate) in the app-private cache.
    let documents = store.documents_dir();
    std::fs::create_dir_all(documents.join("ab")).unwrap();
    std::fs::write(documents.join("ab").join("cached.jpg"), b"certificate").unwrap();
    store.wipe(WipeMode::OnlyIfSynced).unwrap();
    assert!(!dir.exists(), "ID card photos must not outlive the store");
    assert!(
        !documents.exists(),
        "downloaded documents must not outlive the store"
    );
}
