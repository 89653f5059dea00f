//! fieldcrew-server: the reference sync and back-office server.
//!
//! - [`api`]: the HTTP routes (`/v1`), see docs/sync-protocol.md and docs/openapi.yaml.
//! - [`merge`]: the merge rules, pure functions every storage backend calls.
//! - [`validate`]: checks of every payload a client sends.
//! - [`storage`]: the narrow storage interface and its embedded SQLite backend.
//! - [`auth`]: per member and device bearer tokens, stored as SHA-256 hashes.
//!
//! [`RunningServer::start`] runs the server in-process on a loopback port with its own tokio
//! runtime (tests, benchmarks, demos); [`serve`] runs it on a listener you give it.

pub mod api;
pub mod auth;
pub mod error;
pub mod merge;
pub mod photos;
pub mod storage;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use auth::{IssuedToken, issue_token};
pub use error::ApiError;
pub use storage::sqlite::SqliteStorage;
pub use storage::{Caller, Capacity, Crew, Member, NewOrder, Role, Storage};

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    storage: Arc<dyn Storage>,
    photos: Arc<photos::PhotoBlobs>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(api::AppState { storage, photos });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running in-process on 127.0.0.1 with its own runtime (two worker threads).
/// Dropping it stops it.
pub struct RunningServer {
    addr: SocketAddr,
    storage: Arc<SqliteStorage>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl RunningServer {
    /// Opens (creating) the SQLite store in `data_dir` and serves it on a free loopback port.
    pub fn start(data_dir: &Path) -> Result<RunningServer, ApiError> {
        RunningServer::start_on(data_dir, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Like [`RunningServer::start`], on a given address (a restart on the same port, in tests).
    pub fn start_on(data_dir: &Path, addr: SocketAddr) -> Result<RunningServer, ApiError> {
        let storage = Arc::new(SqliteStorage::open(data_dir)?);
        let photos = Arc::new(photos::PhotoBlobs::open(data_dir)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        runtime.spawn(async move {
            let result = serve(listener, dyn_storage, photos, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped");
            }
        });
        Ok(RunningServer {
            addr,
            storage,
            stop: Some(stop),
            runtime: Some(runtime),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The storage, for seeding and for checking end states in tests.
    pub fn storage(&self) -> &SqliteStorage {
        &self.storage
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Requests in flight are cut; every storage write is one transaction, so nothing is
        // left half done. Blocking storage calls get a few seconds to finish.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}
