//! Sync with the fieldcrew server (docs/sync-protocol.md).
//!
//! [`SyncClient::sync`] runs the stages in order: push the outbox in batches (each answer
//! acknowledges its operation, in one transaction per batch), then pull pages after the stored
//! cursor until the server has no more (each page and its cursor in one transaction, with the
//! device's still-pending edits put back on top of the server's copy).
//!
//! The client owns a small tokio runtime, so its calls are plain blocking calls for the shells'
//! background threads. Transient failures (connection errors, timeouts, 408/429/5xx) are retried
//! with exponential backoff and equal jitter; nothing else is retried. A reply that does not parse
//! or fails the page checks is [`SyncError::Malformed`] and leaves the store and cursor untouched.
//! [`CancelHandle::cancel`] stops a sync from any thread between two steps or mid-request: every
//! run asked for before it ([`RunTicket`]): the one in progress, those waiting for it, and those
//! not yet called whose ticket was taken. A run asked for after the cancel is not affected (as
//! application-services' interrupt scopes: a cancel is never left armed for a sync started hours
//! later).

pub mod photos;
mod session;
pub mod wire;

pub use photos::{
    NetworkKind, PhotoPolicy, TransferDirection, TransferProgress, TransferReport, UploadStatus,
};
pub use session::Me;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::store::{OutboxEntry, Store};
use wire::{ErrorBody, Outcome, PullResponse, PushOp, PushRequest, PushResponse};

/// Why a sync stopped. The shell acts on the variant; messages carry no personal data.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The token is unknown, expired or revoked: sign in again.
    #[error("the server refused the token (expired or revoked); sign in again")]
    Unauthorized,
    /// The token is valid but may not sync (a dispatcher's token on a phone).
    #[error("this token may not sync")]
    Forbidden,
    /// The server could not be reached, after retries.
    #[error("network: {0}")]
    Network(String),
    /// The server answered with an error that retrying will not fix.
    #[error("server answered {status}: {message}")]
    Server { status: u16, message: String },
    /// The reply did not parse or broke the protocol; nothing of it was applied.
    #[error("malformed reply from the server: {0}")]
    Malformed(String),
    #[error("sync was cancelled")]
    Cancelled,
    #[error("no crew member is signed in on this device")]
    NoSession,
    #[error("sync settings: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based): uniform in `[cap/2, cap]` with
    /// `cap = min(max, initial·2^n)` ("equal jitter"). The jitter spreads a crew's phones that
    /// lost the network together; the lower half-bound keeps every retry a real wait, so five
    /// attempts never fire back to back into a struggling server (full jitter can draw ~0).
    pub fn delay(&self, retry: u32) -> Duration {
        let cap = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.max_delay);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(if ms == 0 {
            0
        } else {
            rand::random_range(ms - ms / 2..=ms)
        })
    }
}

/// Checks extra root certificates as [`SyncConfig::extra_root_certs_pem`] takes them (PEM, one
/// or more `BEGIN CERTIFICATE` blocks) and says how many there are; the error is what
/// [`SyncClient::new`] would fail with. For shells that take the PEM long before the first sync.
pub fn check_root_certs(pem: &[u8]) -> Result<usize, SyncError> {
    root_certificates(pem).map(|certs| certs.len())
}

fn root_certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, SyncError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|_| SyncError::Config("the trusted root certificate is not valid PEM".into()))?;
    if certs.is_empty() {
        return Err(SyncError::Config(
            "the trusted root certificate holds no BEGIN CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `https://host[:port]` (no path): the client adds `/v1/...`. `http://` only to a loopback
    /// host (127.0.0.0/8, `[::1]`, `localhost`): a server on the same machine (tests, the demo,
    /// a local proxy); anything else would send the token and customer data in the clear.
    pub server_url: String,
    pub token: String,
    /// Changes per pulled page.
    pub page_size: u32,
    /// Operations per push batch.
    pub push_batch: u32,
    pub retry: RetryPolicy,
    /// Per request, including reading the reply.
    pub timeout: Duration,
    /// When the crew's photos upload (see [`photos`]).
    pub photo_policy: PhotoPolicy,
    /// Extra root certificates to trust, PEM (one or more `BEGIN CERTIFICATE` blocks): a
    /// utility's private CA. Trusted in addition to the built-in web roots. Default: none.
    pub extra_root_certs_pem: Option<Vec<u8>>,
}

impl SyncConfig {
    pub fn new(server_url: impl Into<String>, token: impl Into<String>) -> Self {
        SyncConfig {
            server_url: server_url.into(),
            token: token.into(),
            page_size: 1000,
            push_batch: 1000,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            photo_policy: PhotoPolicy::default(),
            extra_root_certs_pem: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPhase {
    Push,
    Pull,
}

/// A progress report: `total` is the outbox's size for the push; for the pull, the server's count
/// once the first page arrived (unknown before, and from a server that does not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub done: u64,
    pub total: Option<u64>,
}

/// What one sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pushed: u64,
    pub applied: u64,
    pub merged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub pages: u64,
    pub orders_received: u64,
    pub orders_removed: u64,
    pub conflicts_received: u64,
    pub cursor: i64,
}

#[derive(Debug, Default)]
struct CancelState {
    /// How many times [`CancelHandle::cancel`] was called.
    requested: AtomicU64,
    /// The ticket of the run now going (or the last one): the run is cancelled once
    /// `requested` is past it.
    run_from: AtomicU64,
    notify: Notify,
}

/// Cancels the client's runs (sync, photo transfer, login) from any thread: every run whose
/// [`RunTicket`] was taken before the cancel, whether it is going, waiting for the one going,
/// or not called yet. A run whose ticket is taken after the cancel is not affected, so a cancel
/// tapped while nothing runs is not left armed for a sync hours later. Cheap; clone freely.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<CancelState>);

/// Where a run stands against cancels: taken when the run is asked for. A shell that hands the
/// call to a background thread takes it first (`SyncClient::ticket`), so a cancel made before
/// that thread got to the call still stops it. The plain calls take one on entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunTicket(pub u64);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.requested.fetch_add(1, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// A ticket for a run asked for now.
    pub fn ticket(&self) -> RunTicket {
        RunTicket(self.0.requested.load(Ordering::SeqCst))
    }

    /// Whether the current (or last) run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst) > self.0.run_from.load(Ordering::SeqCst)
    }

    async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// The sync client: one per signed-in device and server.
pub struct SyncClient {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    config: SyncConfig,
    cancel: CancelHandle,
    running: Mutex<()>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("server_url", &self.config.server_url)
            .finish_non_exhaustive()
    }
}

enum Failure {
    Transient(String),
    Fatal(SyncError),
}

impl SyncClient {
    pub fn new(config: SyncConfig) -> Result<SyncClient, SyncError> {
        SyncClient::with_cancel(config, CancelHandle::default())
    }

    /// A client whose runs `cancel` stops: a shell that replaces its client (a new server or
    /// token) keeps one handle, so tickets taken before the change still count.
    pub fn with_cancel(config: SyncConfig, cancel: CancelHandle) -> Result<SyncClient, SyncError> {
        let url = config.server_url.trim_end_matches('/');
        check_server_url(url)?;
        if config.page_size == 0 || config.push_batch == 0 || config.retry.max_attempts == 0 {
            return Err(SyncError::Config(
                "page size, batch and attempts are at least 1".into(),
            ));
        }
        // The protocol's limits: the server refuses a larger push batch as a whole (422), which
        // would leave the outbox stuck, and clamps a larger page.
        if config.push_batch as usize > wire::MAX_PUSH_BATCH || config.page_size > wire::MAX_PAGE {
            return Err(SyncError::Config(format!(
                "a push batch holds at most {} operations and a page at most {} changes",
                wire::MAX_PUSH_BATCH,
                wire::MAX_PAGE
            )));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SyncError::Config(format!("runtime: {e}")))?;
        // Replies come zstd-compressed from a server that offers it (a fifth of gzip's CPU on
        // both ends at a similar size: the phone's battery and the initial pull's time), gzip
        // from one that does not.
        let mut http = reqwest::Client::builder()
            .zstd(true)
            .gzip(true)
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("fieldcrew-core/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.extra_root_certs_pem {
            for cert in root_certificates(pem)? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| SyncError::Config(format!("http client: {e}")))?;
        Ok(SyncClient {
            runtime,
            http,
            config: SyncConfig {
                server_url: url.to_owned(),
                ..config
            },
            cancel,
            running: Mutex::new(()),
        })
    }

    /// A handle that cancels this client's sync from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// A ticket for a run asked for now (see [`RunTicket`]). Cheap.
    pub fn ticket(&self) -> RunTicket {
        self.cancel.ticket()
    }

    /// Starts a run: waits for the run in progress, then holds the client until the guard
    /// drops. Cancels made after `ticket` was taken stop it, also while it waits (then it does
    /// not start: `Cancelled`).
    pub(crate) fn start_run(&self, ticket: RunTicket) -> Result<MutexGuard<'_, ()>, SyncError> {
        let guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
        self.cancel.0.run_from.store(ticket.0, Ordering::SeqCst);
        if self.cancel.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        Ok(guard)
    }

    /// Pushes the outbox, then pulls until the server has nothing more. Blocking: call it from
    /// a background thread. One sync at a time per client (a second call waits).
    pub fn sync(
        &self,
        store: &Store,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncReport, SyncError> {
        self.sync_from(self.ticket(), store, progress)
    }

    /// [`SyncClient::sync`] for a run asked for when `ticket` was taken.
    pub fn sync_from(
        &self,
        ticket: RunTicket,
        store: &Store,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncReport, SyncError> {
        let _running = self.start_run(ticket)?;
        self.sync_running(store, progress)
    }

    /// [`SyncClient::sync`] inside a run already started.
    pub(crate) fn sync_running(
        &self,
        store: &Store,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncReport, SyncError> {
        let session = store.session()?.ok_or(SyncError::NoSession)?;
        let mut report = SyncReport::default();
        self.runtime
            .block_on(self.push_all(store, &mut report, progress))?;
        self.pull_all(store, &session.crew_id, &mut report, progress)?;
        Ok(report)
    }

    async fn push_all(
        &self,
        store: &Store,
        report: &mut SyncReport,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<(), SyncError> {
        let total = store.pending_count()?;
        progress(SyncProgress {
            phase: SyncPhase::Push,
            done: 0,
            total: Some(total),
        });
        // Edits made during the sync wait for the next one: stop after the initial count.
        while report.pushed < total {
            let entries = store.pending(self.config.push_batch)?;
            if entries.is_empty() {
                break;
            }
            let request = PushRequest {
                device_id: store.device_id(),
                ops: entries.iter().map(to_op).collect(),
            };
            let body = serde_json::to_vec(&request).map_err(crate::Error::from)?;
            let response: PushResponse = match self
                .send(|| {
                    self.http
                        .post(format!("{}/v1/sync/push", self.config.server_url))
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                })
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    if matches!(e, SyncError::Network(_) | SyncError::Server { .. }) {
                        store.note_push_failure(&entries, &e.to_string())?;
                    }
                    return Err(e);
                }
            };
            crate::store::check_server_hlc(response.server_hlc, store.now())
                .map_err(SyncError::Malformed)?;
            if response.answers.len() != entries.len()
                || response
                    .answers
                    .iter()
                    .zip(&entries)
                    .any(|(a, e)| a.op_id != e.op_id)
            {
                return Err(SyncError::Malformed(
                    "the answers do not match the operations sent".into(),
                ));
            }
            let answered: Vec<(&OutboxEntry, &Outcome)> = entries
                .iter()
                .zip(response.answers.iter().map(|a| &a.outcome))
                .collect();
            for (_, outcome) in &answered {
                match outcome {
                    Outcome::Applied => report.applied += 1,
                    Outcome::Merged => report.merged += 1,
                    Outcome::Conflict { .. } => report.conflicts += 1,
                    Outcome::Rejected { .. } => report.rejected += 1,
                }
            }
            store.acknowledge_pushed(&answered, response.server_hlc)?;
            report.pushed += entries.len() as u64;
            progress(SyncProgress {
                phase: SyncPhase::Push,
                done: report.pushed,
                total: Some(total),
            });
        }
        Ok(())
    }

    /// Pulls pages until the server has no more. While one page is written to the store (on
    /// this thread), the next is fetched and parsed on another: the server's work, the
    /// transfer and the JSON parse overlap the store's writes instead of adding to them.
    fn pull_all(
        &self,
        store: &Store,
        crew_id: &str,
        report: &mut SyncReport,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<(), SyncError> {
        let mut done = 0u64;
        progress(SyncProgress {
            phase: SyncPhase::Pull,
            done,
            total: None,
        });
        let mut cursor = store.sync_cursor()?;
        let mut page = self.runtime.block_on(self.fetch_page(cursor))?;
        loop {
            crate::store::check_page(&page, cursor, crew_id, store.now())
                .map_err(SyncError::Malformed)?;
            if self.cancel.is_cancelled() {
                return Err(SyncError::Cancelled);
            }
            let next_cursor = page.cursor;
            let (applied, next) = std::thread::scope(|s| {
                let next = page
                    .more
                    .then(|| s.spawn(|| self.runtime.block_on(self.fetch_page(next_cursor))));
                // The cursor applies with the page, and only if nothing else moved it since
                // `cursor` was read (a speculative next page is then dropped unread).
                let applied = store.apply_pull_page(cursor, &page);
                let next = next.map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(SyncError::Network(
                            "the page fetch stopped unexpectedly".into(),
                        ))
                    })
                });
                (applied, next)
            });
            let stats = applied?;
            report.pages += 1;
            report.orders_received += stats.orders;
            report.orders_removed += stats.removed;
            report.conflicts_received += stats.conflicts;
            report.cursor = page.cursor;
            done += page.changes.len() as u64;
            // The server's count of what follows: the total grows if changes arrive during
            // the pull, and is exact on the last page.
            progress(SyncProgress {
                phase: SyncPhase::Pull,
                done,
                total: page.remaining.map(|r| done.saturating_add(r)),
            });
            cursor = next_cursor;
            match next {
                Some(next) => page = next?,
                None => {
                    if report.orders_removed > 0 {
                        // Documents downloaded for orders that left the crew go with them.
                        store.sweep_documents()?;
                    }
                    return Ok(());
                }
            }
        }
    }

    async fn fetch_page(&self, cursor: i64) -> Result<PullResponse, SyncError> {
        if self.cancel.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        let url = format!(
            "{}/v1/sync/pull?cursor={cursor}&limit={}",
            self.config.server_url, self.config.page_size
        );
        self.send(|| self.http.get(&url)).await
    }

    /// Sends a request with retries of transient failures, and parses the JSON reply.
    async fn send<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, SyncError> {
        let mut attempt = 0;
        loop {
            if self.cancel.is_cancelled() {
                return Err(SyncError::Cancelled);
            }
            let once = async {
                let response = build()
                    .bearer_auth(&self.config.token)
                    .send()
                    .await
                    .map_err(|e| match tls_failure(&e) {
                        // An untrusted or wrong certificate does not fix itself: no retries.
                        Some(msg) => Failure::Fatal(SyncError::Network(msg)),
                        None => Failure::Transient(describe(&e)),
                    })?;
                let status = response.status();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| Failure::Transient(describe(&e)))?;
                classify(status, &bytes)?;
                serde_json::from_slice::<T>(&bytes)
                    .map_err(|e| Failure::Fatal(SyncError::Malformed(e.to_string())))
            };
            let result = tokio::select! {
                r = once => r,
                _ = self.cancel.cancelled() => return Err(SyncError::Cancelled),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(msg)) => {
                    attempt += 1;
                    if attempt >= self.config.retry.max_attempts {
                        return Err(SyncError::Network(msg));
                    }
                    let delay = self.config.retry.delay(attempt - 1);
                    tracing::debug!(attempt, ?delay, "transient sync failure, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.cancel.cancelled() => return Err(SyncError::Cancelled),
                    }
                }
            }
        }
    }
}

/// Refuses a server URL that is not `https://`, unless it is `http://` to a loopback host.
fn check_server_url(url: &str) -> Result<(), SyncError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| SyncError::Config(format!("the server URL does not parse: {e}")))?;
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(SyncError::Config(
            "the server URL must start with https:// (http:// only to this machine: \
             127.0.0.1, [::1] or localhost)"
                .into(),
        )),
        _ => Err(SyncError::Config(
            "the server URL starts with https://".into(),
        )),
    }
}

/// 127.0.0.0/8, ::1 or `localhost` (the URL parser has already normalised `127.1` and the like).
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The TLS handshake failed (the certificate is not trusted, expired, or names another host):
/// the reason, or `None` for any other failure. rustls reports it while connecting as an
/// `InvalidData` I/O error (which the connector wraps in another I/O error) around its own.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    if !e.is_connect() {
        return None;
    }
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        // `io::Error::source` skips the error it wraps: look inside with `get_ref`.
        let mut io = err.downcast_ref::<std::io::Error>();
        while let Some(outer) = io {
            let inner = outer.get_ref()?;
            match inner.downcast_ref::<std::io::Error>() {
                Some(nested) => io = Some(nested),
                None if outer.kind() == std::io::ErrorKind::InvalidData => {
                    return Some(format!("TLS: {inner}"));
                }
                None => break,
            }
        }
        source = err.source();
    }
    None
}

fn describe(e: &reqwest::Error) -> String {
    if let Some(tls) = tls_failure(e) {
        return tls;
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "connection failed".into()
    }
}

fn classify(status: StatusCode, body: &[u8]) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.message)
        .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_owned());
    Err(match status {
        StatusCode::UNAUTHORIZED => Failure::Fatal(SyncError::Unauthorized),
        StatusCode::FORBIDDEN => Failure::Fatal(SyncError::Forbidden),
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
            Failure::Transient(format!("{status}"))
        }
        s if s.is_server_error() => Failure::Transient(format!("{s}")),
        s => Failure::Fatal(SyncError::Server {
            status: s.as_u16(),
            message,
        }),
    })
}

fn to_op(e: &OutboxEntry) -> PushOp {
    PushOp {
        op_id: e.op_id,
        entity: e.entity,
        entity_id: e.entity_id.clone(),
        order_id: e.order_id,
        op: e.op,
        fields: e.fields.clone(),
        base_version: e.base_version,
        hlc: e.hlc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_never_drops_below_half() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for retry in 0..40 {
            let cap = (100u64 << retry.min(20)).min(1000);
            let (mut low, mut high) = (u64::MAX, 0);
            for _ in 0..200 {
                let d = u64::try_from(p.delay(retry).as_millis()).expect("small");
                assert!(
                    (cap / 2..=cap).contains(&d),
                    "retry {retry}: {d} ms outside [{}, {cap}]",
                    cap / 2
                );
                (low, high) = (low.min(d), high.max(d));
            }
            // Jittered: 200 draws over a range of 50+ ms are not all alike.
            assert!(high > low, "retry {retry}: no jitter");
        }
        // The first retry waits at least 50 ms; a zero policy does not wait.
        assert!(p.delay(0) >= Duration::from_millis(50));
        let none = RetryPolicy {
            initial_delay: Duration::ZERO,
            ..p
        };
        assert_eq!(none.delay(3), Duration::ZERO);
    }

    #[test]
    fn limits_beyond_the_protocols_are_refused_up_front() {
        let config = |page_size, push_batch| SyncConfig {
            page_size,
            push_batch,
            ..SyncConfig::new("https://sync.example.com", "t")
        };
        assert!(SyncClient::new(config(2000, 2000)).is_ok());
        for (page, batch) in [(2001, 1000), (1000, 2001), (0, 1000), (1000, 0)] {
            assert!(
                matches!(
                    SyncClient::new(config(page, batch)),
                    Err(SyncError::Config(_))
                ),
                "page {page}, batch {batch}"
            );
        }
    }

    #[test]
    fn http_only_to_loopback() {
        for ok in [
            "https://sync.example.com",
            "https://10.0.0.5:8443",
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://127.1:8080",
            "http://[::1]:8080",
            "http://localhost:8080",
            "http://LOCALHOST",
        ] {
            assert!(check_server_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://sync.example.com",
            "http://10.0.0.5:8080",
            "http://0.0.0.0:8080",
            "http://[::ffff:127.0.0.1]",
            "http://localhost.example.com",
            "http://128.0.0.1",
            "ftp://127.0.0.1",
            "127.0.0.1:8080",
            "sync.example.com",
        ] {
            assert!(
                matches!(check_server_url(refused), Err(SyncError::Config(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_trusted_root_that_is_not_a_certificate_is_refused() {
        let mut config = SyncConfig::new("https://sync.example.com", "t");
        config.extra_root_certs_pem = Some(b"not a certificate".to_vec());
        assert!(matches!(SyncClient::new(config), Err(SyncError::Config(_))));
    }

    #[test]
    fn check_root_certs_agrees_with_the_client() {
        for bad in [
            &b"not a certificate"[..],
            b"",
            b"-----BEGIN PRIVATE KEY-----\n",
        ] {
            assert!(matches!(check_root_certs(bad), Err(SyncError::Config(_))));
        }
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b""),
            Err(Failure::Transient(_))
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, b""),
            Err(Failure::Transient(_))
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, b""),
            Err(Failure::Fatal(SyncError::Unauthorized))
        ));
        assert!(matches!(
            classify(
                StatusCode::UNPROCESSABLE_ENTITY,
                br#"{"error":"invalid","message":"x"}"#
            ),
            Err(Failure::Fatal(SyncError::Server { status: 422, .. }))
        ));
        assert!(classify(StatusCode::OK, b"").is_ok());
    }
}
