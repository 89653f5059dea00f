//! Schema versions. Each migration is a numbered `.sql` file; SQLite's `user_version` records
//! which have run. A database newer than this build refuses to open rather than be misread.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::error::{Error, Result};

/// The migrations, oldest first. Never edit a released migration: add the next one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_photos.sql"),
    include_str!("migrations/003_sync.sql"),
    include_str!("migrations/004_photo_transfer.sql"),
    include_str!("migrations/005_fewer_pages_per_write.sql"),
    include_str!("migrations/006_readings_not_copied_to_outbox.sql"),
];

pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the database to [`LATEST_VERSION`], all steps in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found = user_version(conn)?;
    if found > LATEST_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        });
    }
    if found < 0 {
        return Err(Error::NotADatabase);
    }
    migrations().to_latest(conn)?;
    Ok(())
}

/// Brings the database to `version` exactly (for the upgrade tests).
#[cfg(test)]
pub(crate) fn migrate_to(conn: &mut Connection, version: usize) -> Result<()> {
    migrations().to_version(conn, version)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema as SQLite reports it, normalised, for comparing databases.
    pub(crate) fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| {
            let sql: String = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                sql.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn every_older_version_upgrades_to_exactly_the_fresh_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        assert_eq!(user_version(&fresh).unwrap(), LATEST_VERSION);
        let want = schema_of(&fresh);
        assert!(want.iter().any(|(_, name, _)| name == "work_orders"));
        for old in 0..MIGRATIONS.len() {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate_to(&mut conn, old).unwrap();
            assert_eq!(user_version(&conn).unwrap(), old as i64);
            migrate(&mut conn).unwrap();
            assert_eq!(schema_of(&conn), want, "upgrade from version {old}");
        }
    }

    /// Version 5 rebuilds `readings` and `outbox`: every reading, its correction chain and every
    /// queued change survive, in order, with the facts' triggers and keys still enforced.
    #[test]
    fn upgrading_from_4_keeps_readings_and_the_outbox() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate_to(&mut conn, 4).unwrap();
        conn.execute_batch(
            "INSERT INTO work_orders (id, number, kind, status, priority, customer_name, customer_account,
                 customer_phone, address, area, appointment, accepted_at, due_at, agenda_at,
                 required_documents, dispatch_notes, crew_notes, crew_id, version, updated_at)
             VALUES ('o1', 'GD1', 'meter_check', 'arrived', 1, 'n', 'a', 'p', 'addr', 'area', '{}', 0, 0, 0,
                 '[]', '', '', 'c1', 1, 0);
             INSERT INTO readings (id, order_id, meter_asset, register, purpose, value, taken_at, member_id, warnings, supersedes, hlc)
             VALUES ('r1', 'o1', 'M1', 'total', 'check', '100.5', 10, 'm', '[]', NULL, 'h1'),
                    ('r2', 'o1', 'M1', 'total', 'check', '100.6', 11, 'm', '[]', 'r1', 'h2');
             INSERT INTO outbox (op_id, entity, entity_id, order_id, op, fields, base_version, hlc, created_at, attempts)
             VALUES ('op1', 'reading', 'r1', 'o1', 'create', '{}', 1, 'h1', 10, 0),
                    ('op2', 'reading', 'r2', 'o1', 'create', '{}', 1, 'h2', 11, 2),
                    ('op3', 'status', 's1', 'o1', 'create', '{}', 1, 'h3', 12, 0);
             DELETE FROM outbox WHERE op_id = 'op1';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();

        let readings: Vec<(String, String, Option<String>)> = conn
            .prepare("SELECT id, value, supersedes FROM readings ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            readings,
            [
                ("r1".into(), "100.5".into(), None),
                ("r2".into(), "100.6".into(), Some("r1".into()))
            ]
        );
        let outbox: Vec<(i64, String, i64)> = conn
            .prepare("SELECT seq, op_id, attempts FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(outbox, [(2, "op2".into(), 2), (3, "op3".into(), 0)]);
        // Schema 6: entries queued before it keep their copies (only new readings' are NULL),
        // and NULL is refused for anything but a reading.
        let kept: Option<String> = conn
            .query_row("SELECT fields FROM outbox WHERE op_id = 'op2'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept.as_deref(), Some("{}"));
        assert!(
            conn.execute(
                "INSERT INTO outbox (op_id, entity, entity_id, order_id, op, fields, base_version, hlc, created_at)
                 VALUES ('op5', 'status', 's2', 'o1', 'create', NULL, 1, 'h5', 13)",
                [],
            )
            .is_err(),
            "only a reading's entry may leave its fields to the row"
        );
        conn.execute(
            "INSERT INTO outbox (op_id, entity, entity_id, order_id, op, fields, base_version, hlc, created_at)
             VALUES ('op4', 'reading', 'r3', 'o1', 'create', '{}', 1, 'h4', 13)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 4, "new entries still go last");

        // The facts' rules came along with the new table.
        assert!(
            conn.execute("UPDATE readings SET value = '1' WHERE id = 'r1'", [])
                .is_err()
        );
        assert!(
            conn.execute("DELETE FROM readings WHERE id = 'r2'", [])
                .is_err()
        );
        assert!(
            conn.execute(
                "INSERT INTO readings (id, order_id, meter_asset, register, purpose, value, taken_at, member_id, warnings, supersedes, hlc)
                 VALUES ('r9', 'o1', 'M1', 'total', 'check', '1', 12, 'm', '[]', 'r1', 'h9')",
                [],
            )
            .is_err(),
            "a reading is superseded at most once"
        );
        assert!(
            conn.execute(
                "INSERT INTO readings (id, order_id, meter_asset, register, purpose, value, taken_at, member_id, warnings, supersedes, hlc)
                 VALUES ('r8', 'nope', 'M1', 'total', 'check', '1', 12, 'm', '[]', NULL, 'h8')",
                [],
            )
            .is_err(),
            "a reading belongs to an order"
        );
        let fk_problems: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_problems, 0);
        // The search index was rebuilt from the rows.
        let found: Vec<i64> = conn
            .prepare("SELECT rowid FROM order_search WHERE body LIKE '%addr%'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let rid: i64 = conn
            .query_row("SELECT rid FROM work_orders WHERE id = 'o1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(found, [rid]);
        // Removing the order's local data still takes its readings with it.
        conn.execute("DELETE FROM work_orders WHERE id = 'o1'", [])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        match migrate(&mut conn) {
            Err(Error::SchemaTooNew { found, supported }) => {
                assert_eq!((found, supported), (LATEST_VERSION + 1, LATEST_VERSION));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
        assert_eq!(schema_of(&conn), vec![], "nothing was created");
    }
}
