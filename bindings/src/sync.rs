//! Sync across the FFI: login, a blocking sync with a progress callback and cancellation from
//! another thread, and the conflicts the merge rules raised.

use std::sync::Arc;
use std::time::SystemTime;

use fieldcrew_core::sync as core_sync;
use fieldcrew_core::sync::wire;

use crate::types::time;

/// Told about a sync's progress, on the thread that runs the sync. Keep it quick (post to the
/// UI thread); it must not call back into the core.
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// `total` is the outbox's size for the push; for the pull, the server's count once the
    /// first page arrived (null before it, and from a server that does not count).
    fn on_progress(&self, phase: SyncPhase, done: u64, total: Option<u64>);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    Push,
    Pull,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Login {
    pub member_id: String,
    pub crew_id: String,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Local changes sent.
    pub pushed: u64,
    pub applied: u64,
    pub merged: u64,
    /// Local changes that met a conflict (the losing value is kept in the conflict record).
    pub conflicts: u64,
    /// Local changes the server refused; see the order's detail for the reason.
    pub rejected: u64,
    pub orders_received: u64,
    pub orders_removed: u64,
    pub conflicts_received: u64,
}

impl From<core_sync::SyncReport> for SyncSummary {
    fn from(r: core_sync::SyncReport) -> Self {
        SyncSummary {
            pushed: r.pushed,
            applied: r.applied,
            merged: r.merged,
            conflicts: r.conflicts,
            rejected: r.rejected,
            orders_received: r.orders_received,
            orders_removed: r.orders_removed,
            conflicts_received: r.conflicts_received,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictStatus {
    Open,
    Acknowledged,
    Resolved,
}

/// A conflict: both values (as JSON text), who made them, and the rule that decided.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    pub id: String,
    pub order_id: String,
    pub order_number: String,
    pub field: String,
    /// The rule, e.g. `dispatch_owns_field`, `latest_hlc_wins`, `cancelled_but_completed`.
    pub rule: String,
    pub kept_value: String,
    pub kept_by: String,
    pub lost_value: String,
    pub lost_by: String,
    pub status: ConflictStatus,
    pub created_at: SystemTime,
}

impl From<wire::Conflict> for Conflict {
    fn from(c: wire::Conflict) -> Self {
        Conflict {
            id: c.id.to_string(),
            order_id: c.order_id.to_string(),
            order_number: c.order_number,
            field: c.field,
            rule: c.rule.as_str().to_owned(),
            kept_value: c.kept_value.to_string(),
            kept_by: c.kept_by,
            lost_value: c.lost_value.to_string(),
            lost_by: c.lost_by,
            status: match c.status {
                wire::ConflictStatus::Open => ConflictStatus::Open,
                wire::ConflictStatus::Acknowledged => ConflictStatus::Acknowledged,
                wire::ConflictStatus::Resolved => ConflictStatus::Resolved,
            },
            created_at: time(c.created_at),
        }
    }
}

pub(crate) fn progress_callback(
    listener: Option<Arc<dyn SyncListener>>,
) -> impl FnMut(core_sync::SyncProgress) {
    move |p| {
        if let Some(l) = &listener {
            let phase = match p.phase {
                core_sync::SyncPhase::Push => SyncPhase::Push,
                core_sync::SyncPhase::Pull => SyncPhase::Pull,
            };
            l.on_progress(phase, p.done, p.total);
        }
    }
}

/// The network the phone is on now, as the shell's connectivity manager reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkKind {
    Unmetered,
    Metered,
}

impl From<NetworkKind> for core_sync::NetworkKind {
    fn from(n: NetworkKind) -> Self {
        match n {
            NetworkKind::Unmetered => core_sync::NetworkKind::Unmetered,
            NetworkKind::Metered => core_sync::NetworkKind::Metered,
        }
    }
}

/// Told about photo bytes moving, on the thread that moves them.
#[uniffi::export(with_foreign)]
pub trait PhotoTransferListener: Send + Sync {
    fn on_progress(
        &self,
        uploading: bool,
        done_bytes: u64,
        total_bytes: u64,
        photos_done: u64,
        photos_total: u64,
    );
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoTransferSummary {
    pub uploaded: u64,
    pub upload_failures: u64,
    pub bytes_sent: u64,
    pub downloaded: u64,
    pub download_failures: u64,
    /// The policy kept uploads for an unmetered network.
    pub uploads_deferred: bool,
}

impl From<core_sync::TransferReport> for PhotoTransferSummary {
    fn from(r: core_sync::TransferReport) -> Self {
        PhotoTransferSummary {
            uploaded: r.uploaded,
            upload_failures: r.upload_failures,
            bytes_sent: r.bytes_sent,
            downloaded: r.downloaded,
            download_failures: r.download_failures,
            uploads_deferred: r.uploads_deferred,
        }
    }
}

/// Where a photo's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PhotoState {
    LocalOnly,
    Uploading { sent: u64, total: u64 },
    OnServer,
}

impl From<fieldcrew_core::store::PhotoTransferState> for PhotoState {
    fn from(s: fieldcrew_core::store::PhotoTransferState) -> Self {
        use fieldcrew_core::store::PhotoTransferState as S;
        match s {
            S::LocalOnly => PhotoState::LocalOnly,
            S::Uploading { sent, total } => PhotoState::Uploading { sent, total },
            S::OnServer => PhotoState::OnServer,
        }
    }
}

pub(crate) fn transfer_callback(
    listener: Option<Arc<dyn PhotoTransferListener>>,
) -> impl FnMut(core_sync::TransferProgress) {
    move |p| {
        if let Some(l) = &listener {
            let uploading = p.direction == core_sync::TransferDirection::Upload;
            l.on_progress(
                uploading,
                p.done_bytes,
                p.total_bytes,
                p.photos_done,
                p.photos_total,
            );
        }
    }
}
