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
