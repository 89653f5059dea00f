//! Moving photo bytes (docs/sync-protocol.md, "Photo transfer"), after the order data.
//!
//! Uploads are content-addressed and resumable: for each photo whose metadata the server has
//! acknowledged, ask the server how many bytes it holds (`GET /v1/photos/{sha}/upload`), send
//! the rest in pieces of [`UPLOAD_PIECE`] bytes (`PUT /v1/photos/{sha}?offset=N`, each at the
//! offset the server's reply to the previous one gave), then the thumbnail. A cut connection
//! costs only the bytes in flight, at most one piece: the server keeps what arrived, and the
//! client asks again and resumes from there. Photos go
//! one at a time; a photo that keeps failing gives way: after [`RetryPolicy::max_attempts`]
//! attempts in a row that move no bytes it is noted as failed with a growing delay in its own
//! row (persisted in the store, so the next runs skip it until the delay is over) and the next
//! photo goes. Attempts that move bytes (a link that cuts every megabyte) do not count against
//! it: the photo is getting through.
//!
//! [`RetryPolicy::max_attempts`]: super::RetryPolicy::max_attempts
//!
//! Downloads (documents the customer supplied online, photos from the crew's other devices)
//! resume with `Range: bytes=N-`; the bytes received so far are kept inside the store's
//! database (encrypted with it) until the whole photo is in and its hash verifies.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RANGE};
use serde::{Deserialize, Serialize};

use super::{Failure, SyncClient, SyncError, SyncProgress, SyncReport, classify, describe};
use crate::store::Store;

/// The kind of network the device is on now, as the shell knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// Wi-Fi and other unmetered networks.
    Unmetered,
    /// Mobile data.
    Metered,
}

/// When the crew's photos upload. Downloads of the order's documents always run: the crew
/// needs them on site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoPolicy {
    /// Only on an unmetered network (the default).
    #[default]
    UnmeteredOnly,
    Always,
}

impl PhotoPolicy {
    pub fn allows_uploads(self, network: NetworkKind) -> bool {
        self == PhotoPolicy::Always || network == NetworkKind::Unmetered
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    Upload,
    Download,
}

/// Progress in bytes: `done` of `total` for this run's queue in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferProgress {
    pub direction: TransferDirection,
    pub done_bytes: u64,
    pub total_bytes: u64,
    pub photos_done: u64,
    pub photos_total: u64,
}

/// What one transfer run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferReport {
    pub uploaded: u64,
    pub upload_failures: u64,
    /// Photo bytes handed to the network (what a cut connection lost is counted too).
    pub bytes_sent: u64,
    pub downloaded: u64,
    pub download_failures: u64,
    pub bytes_received: u64,
    /// Uploads were not attempted because of the policy and network.
    pub uploads_deferred: bool,
}

/// The server's answer about one content address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub received: u64,
    pub complete: bool,
    #[serde(default)]
    pub thumbnail: bool,
}

/// The most photo bytes one `PUT` carries. A cut connection loses what was in flight past the
/// cut, at most one piece (half of one on average), so smaller pieces waste less on a link that
/// drops; but each piece costs a request (headers, a round trip, the server's access check and
/// an fsync). At 128 KiB a 400 KB photo is four requests, and a cut costs about 64 KiB.
pub const UPLOAD_PIECE: usize = 128 * 1024;

enum Step {
    Done,
    /// Ask again (cut connection, another upload of the same photo, offset moved).
    Again(String),
    /// This photo cannot go now (refused, or the store failed to read it).
    Fail(String),
}

impl SyncClient {
    /// Pushes and pulls the order data, then moves photos as the policy allows: data first,
    /// photos after. Blocking.
    pub fn sync_with_photos(
        &self,
        store: &Store,
        network: NetworkKind,
        progress: &mut dyn FnMut(SyncProgress),
        photo_progress: &mut dyn FnMut(TransferProgress),
    ) -> Result<(SyncReport, TransferReport), SyncError> {
        // One run for both: a cancel between the two stops the photos too.
        let _running = self.start_run(self.ticket())?;
        let report = self.sync_running(store, progress)?;
        let photos = self.transfer_running(store, network, photo_progress)?;
        Ok((report, photos))
    }

    /// Uploads the device's photos (when the policy allows on `network`) and downloads the
    /// order's other photos. Each photo's failure is recorded on it and the others go on;
    /// only cancellation, a refused token and store errors stop the run. Blocking.
    pub fn transfer_photos(
        &self,
        store: &Store,
        network: NetworkKind,
        progress: &mut dyn FnMut(TransferProgress),
    ) -> Result<TransferReport, SyncError> {
        self.transfer_photos_from(self.ticket(), store, network, progress)
    }

    /// [`SyncClient::transfer_photos`] for a run asked for when `ticket` was taken.
    pub fn transfer_photos_from(
        &self,
        ticket: super::RunTicket,
        store: &Store,
        network: NetworkKind,
        progress: &mut dyn FnMut(TransferProgress),
    ) -> Result<TransferReport, SyncError> {
        let _running = self.start_run(ticket)?;
        self.transfer_running(store, network, progress)
    }

    fn transfer_running(
        &self,
        store: &Store,
        network: NetworkKind,
        progress: &mut dyn FnMut(TransferProgress),
    ) -> Result<TransferReport, SyncError> {
        self.runtime.block_on(async {
            let mut report = TransferReport::default();
            if self.config.photo_policy.allows_uploads(network) {
                self.upload_all(store, &mut report, progress).await?;
            } else {
                report.uploads_deferred = true;
            }
            self.download_all(store, &mut report, progress).await?;
            Ok(report)
        })
    }

    async fn upload_all(
        &self,
        store: &Store,
        report: &mut TransferReport,
        progress: &mut dyn FnMut(TransferProgress),
    ) -> Result<(), SyncError> {
        let due = store.due_uploads()?;
        let mut p = TransferProgress {
            direction: TransferDirection::Upload,
            done_bytes: 0,
            total_bytes: due
                .iter()
                .map(|d| d.photo.bytes - d.sent.min(d.photo.bytes))
                .sum(),
            photos_done: 0,
            photos_total: due.len() as u64,
        };
        progress(p);
        for upload in due {
            let sha = upload.photo.sha256.clone();
            // The most the server has been seen to hold in this run (only grows).
            let mut base = upload.sent;
            let mut attempt = 0u32;
            let mut bytes: Option<Vec<u8>> = None;
            let outcome = loop {
                if self.cancel.is_cancelled() {
                    return Err(SyncError::Cancelled);
                }
                let before = base;
                let step = self
                    .upload_step(store, &upload.photo, &mut bytes, report, &mut |sent| {
                        if sent > base {
                            p.done_bytes += sent - base;
                            base = sent;
                        }
                    })
                    .await?;
                progress(p);
                if let Some(result) = self.settle(step, &mut attempt, base > before).await? {
                    break result;
                }
            };
            match outcome {
                Ok(()) => {
                    store.mark_uploaded(&sha)?;
                    report.uploaded += 1;
                    p.photos_done += 1;
                    p.done_bytes += upload.photo.bytes.saturating_sub(base);
                }
                Err(e) => {
                    tracing::debug!(photo = %upload.photo.id, "photo upload failed");
                    store.note_upload_failure(&sha, &e)?;
                    report.upload_failures += 1;
                }
            }
            progress(p);
        }
        Ok(())
    }

    /// One round: ask what the server has, send the rest in pieces of [`UPLOAD_PIECE`] bytes
    /// (each a `PUT` at the offset the server holds, its reply the next offset), then the
    /// thumbnail. A piece cut short (a dropped connection, or the server's `408`) asks the
    /// server again at once and resumes from what it kept, as long as that moved past the
    /// failed piece's offset; a cut that kept nothing ends the round (the caller pauses and
    /// counts the attempt).
    async fn upload_step(
        &self,
        store: &Store,
        photo: &crate::store::Photo,
        bytes: &mut Option<Vec<u8>>,
        report: &mut TransferReport,
        on_sent: &mut dyn FnMut(u64),
    ) -> Result<Step, SyncError> {
        let base = format!("{}/v1/photos/{}", self.config.server_url, photo.sha256);
        // The offset of a piece that failed, and why: the next ask must show more than it.
        let mut failed: Option<(u64, String)> = None;
        let status = 'ask: loop {
            let status: UploadStatus = match self
                .once(self.http.get(format!("{base}/upload")), false)
                .await?
            {
                Ok(s) => s,
                Err(step) => return Ok(step),
            };
            on_sent(status.received);
            if status.complete {
                break status;
            }
            if let Some((at, e)) = failed.take()
                && status.received <= at
            {
                return Ok(Step::Again(e));
            }
            if status.received > 0 {
                store.note_upload_progress(&photo.sha256, status.received)?;
            }
            if bytes.is_none() {
                // Decrypted and checked against its content address: a damaged file never
                // leaves the device (and the server would refuse it anyway).
                match store.photo_bytes(photo) {
                    Ok(b) => *bytes = Some(b),
                    Err(e) => return Ok(Step::Fail(format!("reading the photo: {e}"))),
                }
            }
            let all = bytes.as_deref().unwrap_or_default();
            let mut offset = status.received;
            loop {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let Some(rest) = all.get(start..) else {
                    return Ok(Step::Fail(
                        "the server holds more bytes than the photo has".into(),
                    ));
                };
                let piece = &rest[..rest.len().min(UPLOAD_PIECE)];
                report.bytes_sent += piece.len() as u64;
                let put = self
                    .http
                    .put(format!("{base}?offset={offset}"))
                    .header(CONTENT_TYPE, "image/jpeg")
                    .body(piece.to_vec());
                let after: UploadStatus = match self.once(put, false).await? {
                    Ok(s) => s,
                    Err(Step::Again(e)) => {
                        // Cut (or busy, or an unreadable reply): what did the server keep?
                        failed = Some((offset, e));
                        continue 'ask;
                    }
                    Err(step) => return Ok(step),
                };
                on_sent(after.received);
                if after.complete {
                    break 'ask after;
                }
                store.note_upload_progress(&photo.sha256, after.received)?;
                if after.received <= offset {
                    return Ok(Step::Again("the server did not take the bytes sent".into()));
                }
                offset = after.received;
            }
        };
        if !status.thumbnail {
            let thumb = match store.thumbnail_bytes(photo) {
                Ok(t) => t,
                Err(e) => return Ok(Step::Fail(format!("reading the thumbnail: {e}"))),
            };
            report.bytes_sent += thumb.len() as u64;
            let put = self
                .http
                .put(format!("{base}/thumbnail"))
                .header(CONTENT_TYPE, "image/jpeg")
                .body(thumb);
            if let Err(step) = self.once::<UploadStatus>(put, false).await? {
                return Ok(step);
            }
        }
        Ok(Step::Done)
    }

    async fn download_all(
        &self,
        store: &Store,
        report: &mut TransferReport,
        progress: &mut dyn FnMut(TransferProgress),
    ) -> Result<(), SyncError> {
        let due = store.due_downloads()?;
        let mut p = TransferProgress {
            direction: TransferDirection::Download,
            done_bytes: 0,
            total_bytes: due
                .iter()
                .map(|d| d.photo.bytes.saturating_sub(d.received))
                .sum(),
            photos_done: 0,
            photos_total: due.len() as u64,
        };
        if due.is_empty() {
            return Ok(());
        }
        progress(p);
        for d in due {
            let mut attempt = 0u32;
            let mut received = d.received;
            // The most this run has held (a mismatch starts the photo again from 0: that is no
            // progress).
            let mut most = d.received;
            let mut has_thumb = d.has_thumb;
            let outcome = loop {
                if self.cancel.is_cancelled() {
                    return Err(SyncError::Cancelled);
                }
                let before = received;
                let step = self
                    .download_step(store, &d.photo, &mut received, &mut has_thumb)
                    .await?;
                report.bytes_received += received.saturating_sub(before);
                p.done_bytes += received.saturating_sub(before);
                progress(p);
                let progressed = received > most;
                most = most.max(received);
                if let Some(result) = self.settle(step, &mut attempt, progressed).await? {
                    break result;
                }
            };
            match outcome {
                Ok(()) => {
                    report.downloaded += 1;
                    p.photos_done += 1;
                }
                Err(e) => {
                    store.note_download_failure(d.photo.id, &e)?;
                    report.download_failures += 1;
                }
            }
            progress(p);
        }
        Ok(())
    }

    async fn download_step(
        &self,
        store: &Store,
        photo: &crate::store::Photo,
        received: &mut u64,
        has_thumb: &mut bool,
    ) -> Result<Step, SyncError> {
        let base = format!("{}/v1/photos/{}", self.config.server_url, photo.sha256);
        if !*has_thumb {
            let resp = self
                .http
                .get(format!("{base}/thumbnail"))
                .bearer_auth(&self.config.token)
                .send()
                .await;
            let thumb = match resp {
                Err(e) => return Ok(Step::Again(describe(&e))),
                // A record without a thumbnail: there is none to fetch.
                Ok(r) if r.status() == StatusCode::NOT_FOUND && photo.thumbnail_bytes == 0 => {
                    Vec::new()
                }
                // The record has one, but the server does not show it (yet): the device that
                // took the photo has not uploaded it. Keeping "none" would leave the cached
                // photo without its thumbnail for good; try again after the delay.
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    return Ok(Step::Fail(
                        "the server does not have this photo's bytes yet".into(),
                    ));
                }
                Ok(r) => {
                    let status = r.status();
                    let body = match r.bytes().await {
                        Ok(b) => b,
                        Err(e) => return Ok(Step::Again(describe(&e))),
                    };
                    if let Err(f) = classify(status, &body) {
                        return self.failure_step(f);
                    }
                    if body.len() as u64 > photo.thumbnail_bytes.max(1024 * 1024) {
                        return Ok(Step::Fail("the thumbnail is larger than its record".into()));
                    }
                    body.to_vec()
                }
            };
            store.save_download_thumbnail(photo.id, &thumb)?;
            *has_thumb = true;
        }
        if *received < photo.bytes {
            let mut req = self.http.get(&base).bearer_auth(&self.config.token);
            if *received > 0 {
                req = req.header(RANGE, format!("bytes={}-", *received));
            }
            let mut resp = match req.send().await {
                Ok(r) => r,
                Err(e) => return Ok(Step::Again(describe(&e))),
            };
            let status = resp.status();
            if !status.is_success() {
                let body = resp.bytes().await.unwrap_or_default();
                return match classify(status, &body) {
                    Err(f) => self.failure_step(f),
                    Ok(()) => Ok(Step::Again(format!("{status}"))),
                };
            }
            if *received > 0 && status != StatusCode::PARTIAL_CONTENT {
                return Ok(Step::Fail("the server ignored the range".into()));
            }
            // Keep what arrives in slices, so a cut connection loses little.
            let mut buf: Vec<u8> = Vec::new();
            let mut cut = None;
            loop {
                let chunk = tokio::select! {
                    c = resp.chunk() => c,
                    _ = self.cancel.cancelled() => return Err(SyncError::Cancelled),
                };
                match chunk {
                    Ok(Some(c)) => {
                        buf.extend_from_slice(&c);
                        if *received + buf.len() as u64 > photo.bytes {
                            return Ok(Step::Fail(
                                "the server sent more than the photo has".into(),
                            ));
                        }
                        if buf.len() >= 64 * 1024 {
                            *received = store.append_download(photo.id, *received, &buf)?;
                            buf.clear();
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        cut = Some(describe(&e));
                        break;
                    }
                }
            }
            if !buf.is_empty() {
                *received = store.append_download(photo.id, *received, &buf)?;
            }
            if let Some(e) = cut {
                return Ok(Step::Again(e));
            }
            if *received < photo.bytes {
                return Ok(Step::Again("the download ended early".into()));
            }
        }
        if store.complete_download(photo.id)? {
            Ok(Step::Done)
        } else {
            *received = 0;
            Ok(Step::Again(
                "the downloaded bytes did not match the photo".into(),
            ))
        }
    }

    fn failure_step(&self, f: Failure) -> Result<Step, SyncError> {
        match f {
            Failure::Transient(e) => Ok(Step::Again(e)),
            Failure::Fatal(SyncError::Unauthorized) => Err(SyncError::Unauthorized),
            Failure::Fatal(SyncError::Server { status: 409, .. }) => {
                Ok(Step::Again("the server is busy with this photo".into()))
            }
            Failure::Fatal(e) => Ok(Step::Fail(e.to_string())),
        }
    }

    /// One request, no retry: the caller asks the server again instead. `Err(step)` says how
    /// this photo goes on; a refused token stops the whole run.
    async fn once<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        _idempotent: bool,
    ) -> Result<Result<T, Step>, SyncError> {
        let once = async {
            let response = request
                .bearer_auth(&self.config.token)
                .send()
                .await
                .map_err(|e| Failure::Transient(describe(&e)))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| Failure::Transient(describe(&e)))?;
            classify(status, &bytes)?;
            serde_json::from_slice::<T>(&bytes)
                .map_err(|e| Failure::Transient(format!("unreadable reply: {e}")))
        };
        let result = tokio::select! {
            r = once => r,
            _ = self.cancel.cancelled() => return Err(SyncError::Cancelled),
        };
        match result {
            Ok(v) => Ok(Ok(v)),
            Err(f) => self.failure_step(f).map(Err),
        }
    }

    /// Attempts in a row that move no bytes after which a photo gives way for this run: the
    /// retry policy's attempts per request. With the default policy (5 attempts, 0.5 s
    /// doubling) a photo that keeps failing holds up the others for at most 7.5 s of pauses.
    fn attempts_per_photo(&self) -> u32 {
        self.config.retry.max_attempts.max(1)
    }

    /// After one step of a photo's transfer: `Some` when this photo is done for this run
    /// (moved, or failed: the caller notes the failure in the store, with its growing delay,
    /// and goes on with the next photo), `None` to take another step after the backoff pause.
    /// `progressed`: the step moved bytes past what this run had seen, which starts the count
    /// of attempts (and the backoff) again.
    async fn settle(
        &self,
        step: Step,
        attempt: &mut u32,
        progressed: bool,
    ) -> Result<Option<Result<(), String>>, SyncError> {
        match step {
            Step::Done => Ok(Some(Ok(()))),
            Step::Fail(e) => Ok(Some(Err(e))),
            Step::Again(e) => {
                if progressed {
                    *attempt = 0;
                }
                *attempt += 1;
                if *attempt >= self.attempts_per_photo() {
                    return Ok(Some(Err(e)));
                }
                self.pause(*attempt).await?;
                Ok(None)
            }
        }
    }

    async fn pause(&self, attempt: u32) -> Result<(), SyncError> {
        let delay = self.config.retry.delay(attempt.saturating_sub(1));
        tokio::select! {
            _ = tokio::time::sleep(delay) => Ok(()),
            _ = self.cancel.cancelled() => Err(SyncError::Cancelled),
        }
    }
}
