//! fieldcrew-server: the reference sync and back-office server.
//!
//! - [`api`]: the HTTP routes (`/v1`), see docs/sync-protocol.md and docs/openapi.yaml.
//! - [`merge`]: the merge rules, pure functions every storage backend calls.
//! - [`validate`]: checks of every payload a client sends.
//! - [`storage`]: the narrow storage interface and its embedded SQLite backend.
//! - [`auth`]: per member and device bearer tokens, stored as SHA-256 hashes.
//!
//! [`RunningServer::start`] runs the server in-process on a loopback port with its own tokio
//! runtime (tests, benchmarks, demos); [`serve`] runs it on a listener you give it, and
//! [`serve_tls`] does the same over HTTPS (rustls) with a [`tls::ServerTls`].

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
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

pub use tls::{ServerTls, TlsSetupError};

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

/// Serves the API over HTTPS on `listener` until `shutdown` resolves. TLS handshakes run
/// concurrently, each with a time limit, so a slow or failing client holds up no one else.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: ServerTls,
    storage: Arc<dyn Storage>,
    photos: Arc<photos::PhotoBlobs>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(api::AppState { storage, photos });
    axum::serve(tls::TlsListener::new(listener, tls)?, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running in-process on 127.0.0.1 with its own runtime (two worker threads), over
/// plain HTTP or, started with [`RunningServer::start_tls`], HTTPS. Dropping it stops it.
pub struct RunningServer {
    addr: SocketAddr,
    tls: bool,
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
        RunningServer::start_with(data_dir, addr, None)
    }

    /// Like [`RunningServer::start`], over HTTPS with `tls` (tests of transport security).
    pub fn start_tls(data_dir: &Path, tls: ServerTls) -> Result<RunningServer, ApiError> {
        RunningServer::start_with(data_dir, SocketAddr::from(([127, 0, 0, 1], 0)), Some(tls))
    }

    /// Serves `data_dir` on `addr`, over HTTPS when `tls` is given.
    pub fn start_with(
        data_dir: &Path,
        addr: SocketAddr,
        tls: Option<ServerTls>,
    ) -> Result<RunningServer, ApiError> {
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
        let is_tls = tls.is_some();
        runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let result = match tls {
                Some(tls) => serve_tls(listener, tls, dyn_storage, photos, shutdown).await,
                None => serve(listener, dyn_storage, photos, shutdown).await,
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped");
            }
        });
        Ok(RunningServer {
            addr,
            tls: is_tls,
            storage,
            stop: Some(stop),
            runtime: Some(runtime),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, or `https://127.0.0.1:<port>` when started with TLS (the
    /// certificate must then name the IP address 127.0.0.1).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
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

pub mod tls {
    //! HTTPS for the server: a certificate chain and key from PEM, rustls with the ring
    //! provider (the one reqwest's rustls already uses), and an axum listener that completes
    //! TLS handshakes concurrently.

    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::server::TlsStream;

    /// How long a client gets to finish its TLS handshake.
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Why the server's certificate or key cannot be used. Raised at start-up, before listening.
    #[derive(Debug, thiserror::Error)]
    pub enum TlsSetupError {
        #[error("{what} {path}: {source}")]
        Read {
            what: &'static str,
            path: String,
            source: std::io::Error,
        },
        #[error("{what}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)")]
        NoCertificate { what: String },
        #[error(
            "{what}: no PEM private key in it (expected -----BEGIN PRIVATE KEY-----, RSA or EC)"
        )]
        NoKey { what: String },
        #[error("{what}: not valid PEM: {detail}")]
        Pem { what: String, detail: String },
        #[error("the certificate and key cannot be used together: {0}")]
        Rustls(#[from] rustls::Error),
    }

    /// A server certificate chain and its private key, ready to serve HTTPS.
    #[derive(Clone)]
    pub struct ServerTls {
        config: Arc<rustls::ServerConfig>,
    }

    impl std::fmt::Debug for ServerTls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ServerTls").finish_non_exhaustive()
        }
    }

    impl ServerTls {
        /// Reads a PEM certificate chain (server certificate first, then intermediates) and a
        /// PEM private key (PKCS#8, PKCS#1 or SEC1) from files.
        pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ServerTls, TlsSetupError> {
            let read = |what: &'static str, path: &Path| {
                std::fs::read(path).map_err(|source| TlsSetupError::Read {
                    what,
                    path: path.display().to_string(),
                    source,
                })
            };
            let cert_pem = read("certificate", cert)?;
            let key_pem = read("private key", key)?;
            ServerTls::build(
                &cert_pem,
                &format!("certificate {}", cert.display()),
                &key_pem,
                &format!("private key {}", key.display()),
            )
        }

        /// Like [`ServerTls::from_pem_files`], from the PEM bytes.
        pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerTls, TlsSetupError> {
            ServerTls::build(cert_pem, "certificate", key_pem, "private key")
        }

        fn build(
            cert_pem: &[u8],
            cert_what: &str,
            key_pem: &[u8],
            key_what: &str,
        ) -> Result<ServerTls, TlsSetupError> {
            let pem_error = |what: &str, e: rustls::pki_types::pem::Error| TlsSetupError::Pem {
                what: what.to_owned(),
                detail: e.to_string(),
            };
            let chain = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error(cert_what, e))?;
            if chain.is_empty() {
                return Err(TlsSetupError::NoCertificate {
                    what: cert_what.to_owned(),
                });
            }
            let key = match PrivateKeyDer::from_pem_slice(key_pem) {
                Ok(key) => key,
                Err(rustls::pki_types::pem::Error::NoItemsFound) => {
                    return Err(TlsSetupError::NoKey {
                        what: key_what.to_owned(),
                    });
                }
                Err(e) => return Err(pem_error(key_what, e)),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?;
            // The API is HTTP/1.1 only (axum's http1 feature).
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(ServerTls {
                config: Arc::new(config),
            })
        }
    }

    /// Accepts TCP connections and hands axum the ones whose TLS handshake completed.
    pub(crate) struct TlsListener {
        local_addr: SocketAddr,
        ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
        accepting: tokio::task::JoinHandle<()>,
    }

    impl TlsListener {
        pub(crate) fn new(listener: TcpListener, tls: ServerTls) -> std::io::Result<TlsListener> {
            let local_addr = listener.local_addr()?;
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
            let (tx, ready) = mpsc::channel(64);
            let accepting = tokio::spawn(async move {
                loop {
                    let (tcp, peer) = match listener.accept().await {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // As axum does for plain TCP: a connection's own error is not the
                            // listener's; anything else (out of file descriptors) waits a bit.
                            if !is_connection_error(&e) {
                                tracing::error!(error = %e, "accept failed");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            continue;
                        }
                    };
                    let acceptor = acceptor.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                let _ = tx.send((stream, peer)).await;
                            }
                            // A client that does not trust the certificate, or speaks plain
                            // HTTP: its problem, logged without its address.
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    });
                }
            });
            Ok(TlsListener {
                local_addr,
                ready,
                accepting,
            })
        }
    }

    fn is_connection_error(e: &std::io::Error) -> bool {
        use std::io::ErrorKind::*;
        matches!(
            e.kind(),
            ConnectionRefused | ConnectionAborted | ConnectionReset
        )
    }

    impl Drop for TlsListener {
        fn drop(&mut self) {
            self.accepting.abort();
        }
    }

    impl axum::serve::Listener for TlsListener {
        type Io = TlsStream<TcpStream>;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            match self.ready.recv().await {
                Some(accepted) => accepted,
                // The accepting task ended (only when aborted): accept nothing more.
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> std::io::Result<Self::Addr> {
            Ok(self.local_addr)
        }
    }
}
