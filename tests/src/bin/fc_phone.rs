//! A crew phone as a separate process, for the SIGKILL tests: opens the store at the given
//! path, syncs the order data and moves the photos until nothing waits, then exits 0.
//! `fc_phone <store> <server url> <token>`
//! It prints a line on stdout at every progress report, so a test can kill it at a chosen
//! point of the sync rather than at a guessed time.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use fieldcrew_core::store::{Store, StoreOptions};
use fieldcrew_core::sync::{NetworkKind, PhotoPolicy, RetryPolicy, SyncClient, SyncConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, url, token] = args.as_slice() else {
        eprintln!("usage: fc_phone <store> <server url> <token>");
        return ExitCode::from(2);
    };
    let store = match Store::open(store, StoreOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("store: {e}");
            return ExitCode::from(3);
        }
    };
    let mut cfg = SyncConfig::new(url.as_str(), token.as_str());
    cfg.photo_policy = PhotoPolicy::Always;
    cfg.retry = RetryPolicy {
        max_attempts: 6,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    let Ok(client) = SyncClient::new(cfg) else {
        return ExitCode::from(4);
    };
    for _ in 0..50 {
        let _ = store.retry_transfers_now();
        let tick = |what: &str| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{what}");
            let _ = out.flush();
        };
        let result = client.sync_with_photos(
            &store,
            NetworkKind::Unmetered,
            &mut |_| tick("data"),
            &mut |_| tick("photo"),
        );
        let done = store.pending_count().ok() == Some(0)
            && store
                .transfer_backlog()
                .map(|b| b.uploads + b.downloads)
                .ok()
                == Some(0);
        if result.is_ok() && done {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::from(1)
}
