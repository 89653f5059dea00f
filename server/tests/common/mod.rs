//! Set-up shared by the server's integration tests.

use fieldcrew_server::{Capacity, Crew, Member, Role, SqliteStorage, Storage};

/// Crew C1 (five of each kind of job a day) with crew member m1, and dispatcher d1.
pub fn crew_c1_and_dispatcher(storage: &SqliteStorage) {
    storage
        .add_crew(&Crew {
            id: "C1".into(),
            name: "crew".into(),
            capacity: Capacity {
                surveys: 5,
                installs: 5,
                checks: 5,
            },
        })
        .expect("crew");
    for (id, crew, role) in [
        ("m1", Some("C1"), Role::Crew),
        ("d1", None, Role::Dispatcher),
    ] {
        storage
            .add_member(&Member {
                id: id.into(),
                name: id.into(),
                crew_id: crew.map(Into::into),
                role,
            })
            .expect("member");
    }
}
