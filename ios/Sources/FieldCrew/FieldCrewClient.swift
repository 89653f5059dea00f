import Foundation
// The generated types (SyncSummary, NetworkKind, StatusReport, ...) come with `import FieldCrew`.
@_exported import FieldCrewFFI

/// The core as a SwiftUI app uses it: every blocking call runs on a background queue and is
/// awaited. Cancelling the awaiting Task stops the call while it runs: store calls with
/// `interrupt()`, network calls (sync, photo transfer, login) with `cancelSync()`; the call then
/// throws `CancellationError`.
///
/// A network call takes the core's ticket (`syncTicket()`) before it is handed to the queue, so
/// the one `cancelSync()` its Task's cancellation makes stops it wherever it is: still queued,
/// waiting for another network call (the core runs one at a time), or running. A call asked for
/// after the cancel is not affected. The cancel is the device's, not the call's: it also stops
/// the network calls other Tasks asked for before it. Cancelling a store call interrupts the
/// store statements running at that moment, which may include another Task's.
public final class FieldCrewClient: @unchecked Sendable {
    public let core: FieldCrew
    private let queue = DispatchQueue(label: "org.fieldcrew.core", qos: .userInitiated, attributes: .concurrent)

    /// Opens the core in Application Support with the key kept in the Keychain.
    /// `photosOnMobileData` is the crew's "upload photos on mobile data too" setting.
    /// `trustedRootCertsPem`: the utility's own CA (PEM) when its sync server's certificate comes
    /// from it. The core makes its own TLS connections, so the system trust settings do not
    /// apply to them; bundle the CA with the app and pass it here.
    public static func open(dataDir: URL, storeKey: Data, photosOnMobileData: Bool = false,
                            utcOffsetMinutes: Int32 = 480,
                            trustedRootCertsPem: String? = nil) async throws -> FieldCrewClient {
        let core = try await Task.detached(priority: .userInitiated) {
            try FieldCrew.open(config: Config(dataDir: dataDir.path, storeKey: storeKey,
                                              utcOffsetMinutes: utcOffsetMinutes, dueSoonMinutes: 120,
                                              photosOnMetered: photosOnMobileData,
                                              extraRootCertsPem: trustedRootCertsPem))
        }.value
        return FieldCrewClient(core: core)
    }

    public init(core: FieldCrew) {
        self.core = core
    }

    // MARK: running calls

    /// Whether a call is still in the core.
    private final class Running: @unchecked Sendable {
        private let lock = NSLock()
        private var running = true
        var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }
        func finish() { lock.lock(); running = false; lock.unlock() }
    }

    /// Runs the store call `body` on the background queue; cancelling the Task interrupts it.
    private func blocking<T>(_ body: @escaping (FieldCrew) throws -> T) async throws -> T {
        let core = self.core
        let running = Running()
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { cont in
                    queue.async {
                        let result = Result { try body(core) }
                        running.finish()
                        cont.resume(with: result)
                    }
                }
            } onCancel: {
                // Not here: interrupt() waits for a rekey's lock, and the signal is repeated.
                DispatchQueue.global(qos: .userInitiated).async {
                    Self.interruptUntilDone(core, running)
                }
            }
        } catch FieldCrewError.Interrupted where Task.isCancelled {
            throw CancellationError()
        }
    }

    /// Interrupts the store call, again every 20 ms until it returns: an interrupt only hits
    /// the statements running at that moment, so one signal could miss a call that had not
    /// reached its statement yet. Gives up after 30 s.
    private static func interruptUntilDone(_ core: FieldCrew, _ running: Running) {
        let deadline = DispatchTime.now() + .seconds(30)
        while running.isRunning && DispatchTime.now() < deadline {
            core.interrupt()
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Runs the network call `body` (sync, photo transfer, login) on the background queue with
    /// a ticket taken here, before the hand-over; cancelling the Task makes one `cancelSync()`,
    /// which stops the call wherever it is (cheap and never blocking, so it runs in the handler).
    private func network<T>(_ body: @escaping (FieldCrew, UInt64) throws -> T) async throws -> T {
        let core = self.core
        let ticket = core.syncTicket()
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { cont in
                    queue.async { cont.resume(with: Result { try body(core, ticket) }) }
                }
            } onCancel: {
                core.cancelSync()
            }
        } catch FieldCrewError.Interrupted where Task.isCancelled {
            throw CancellationError()
        }
    }

    /// Runs to its end even if the Task is cancelled (rekey, wipe).
    private func uninterruptible<T>(_ body: @escaping (FieldCrew) throws -> T) async throws -> T {
        let core = self.core
        return try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Result { try body(core) }) }
        }
    }

    // MARK: sign-in and sync

    /// First sign-in on this device (online). Keep the token in the Keychain.
    public func login(serverUrl: String, token: String) async throws -> Login {
        try await network { try $0.login(serverUrl: serverUrl, token: token, ticket: $1) }
    }

    /// Later app starts: remembers the server and token without contacting it.
    public func useServer(serverUrl: String, token: String) async throws {
        try await blocking { try $0.useServer(serverUrl: serverUrl, token: token) }
    }

    /// Pushes the outbox and pulls the crew's orders, reporting progress on the main actor.
    /// Cancelling stops it: what was pushed stays pushed, the rest stays in the outbox.
    public func sync(progress: (@MainActor (SyncPhase, UInt64, UInt64?) -> Void)? = nil) async throws -> SyncSummary {
        final class Listener: SyncListener, @unchecked Sendable {
            let progress: @MainActor (SyncPhase, UInt64, UInt64?) -> Void
            init(_ progress: @escaping @MainActor (SyncPhase, UInt64, UInt64?) -> Void) { self.progress = progress }
            func onProgress(phase: SyncPhase, done: UInt64, total: UInt64?) {
                let progress = self.progress
                Task { @MainActor in progress(phase, done, total) }
            }
        }
        let listener = progress.map { Listener($0) }
        return try await network { try $0.sync(listener: listener, ticket: $1) }
    }

    /// Bytes and photos moved so far by `transferPhotos`.
    public struct TransferProgress: Sendable {
        public let uploading: Bool
        public let doneBytes: UInt64
        public let totalBytes: UInt64
        public let photosDone: UInt64
        public let photosTotal: UInt64
    }

    /// Moves photo bytes after the data sync: uploads this device's photos (on `.metered` only if
    /// the core was opened with `photosOnMobileData`; otherwise the summary's `uploadsDeferred`
    /// is true) and downloads the documents the customer supplied. Resumable: a cancelled
    /// transfer resumes from what the server has. Progress on the main actor.
    public func transferPhotos(network: NetworkKind,
                               progress: (@MainActor (TransferProgress) -> Void)? = nil) async throws -> PhotoTransferSummary {
        final class Listener: PhotoTransferListener, @unchecked Sendable {
            let progress: @MainActor (TransferProgress) -> Void
            init(_ progress: @escaping @MainActor (TransferProgress) -> Void) { self.progress = progress }
            func onProgress(uploading: Bool, doneBytes: UInt64, totalBytes: UInt64, photosDone: UInt64, photosTotal: UInt64) {
                let p = TransferProgress(uploading: uploading, doneBytes: doneBytes, totalBytes: totalBytes,
                                         photosDone: photosDone, photosTotal: photosTotal)
                let progress = self.progress
                Task { @MainActor in progress(p) }
            }
        }
        let listener = progress.map { Listener($0) }
        return try await self.network { try $0.transferPhotos(network: network, listener: listener, ticket: $1) }
    }

    public func photoState(photoId: String) async throws -> PhotoState {
        try await blocking { try $0.photoState(photoId: photoId) }
    }

    /// Stops the network calls running now or asked for before it, from any thread. Cheap.
    public func cancelSync() { core.cancelSync() }

    // MARK: conflicts

    public func conflicts(openOnly: Bool = true) async throws -> [Conflict] {
        try await blocking { try $0.conflicts(openOnly: openOnly) }
    }

    public func acknowledgeConflict(id: String) async throws -> Conflict {
        try await blocking { try $0.acknowledgeConflict(conflictId: id) }
    }

    /// Keep the value that stands, or put the losing value back (crew-owned fields only).
    public func resolveConflict(id: String, keepStandingValue: Bool, note: String) async throws -> Conflict {
        try await blocking { try $0.resolveConflict(conflictId: id, keepStandingValue: keepStandingValue, note: note) }
    }

    // MARK: orders

    public func agenda(day: String, near: GeoPoint? = nil) async throws -> [AgendaGroup] {
        try await blocking { try $0.agenda(day: day, position: near) }
    }

    public func search(_ query: String, limit: UInt32 = 50) async throws -> [OrderSummary] {
        try await blocking { try $0.search(query: query, limit: limit) }
    }

    public func orders(statuses: [Status], limit: UInt32 = 200) async throws -> [OrderSummary] {
        try await blocking { try $0.ordersByStatus(statuses: statuses, limit: limit) }
    }

    public func detail(orderId: String) async throws -> OrderDetail {
        try await blocking { try $0.orderDetail(orderId: orderId) }
    }

    public func report(_ report: StatusReport) async throws -> StatusEvent {
        try await blocking { try $0.reportStatus(report: report) }
    }

    // MARK: readings, meters, survey, evaluation

    public enum ReadingOutcome {
        case saved([MeterReading])
        case needsConfirmation([ReadingWarning])
    }

    /// The warnings a reading set would raise, without saving it.
    public func check(_ entry: ReadingEntry) async throws -> [ReadingWarning] {
        try await blocking { try $0.checkReadings(entry: entry) }
    }

    public func record(_ entry: ReadingEntry) async throws -> ReadingOutcome {
        try await blocking { core in
            do {
                return .saved(try core.recordReadings(entry: entry))
            } catch FieldCrewError.NeedsConfirmation(let warnings) {
                return .needsConfirmation(warnings)
            }
        }
    }

    /// A meter replacement: old final readings and balance, new meter, start readings and card.
    public func recordReplacement(_ entry: ReplacementEntry) async throws -> MeterReplacement {
        try await blocking { try $0.recordReplacement(entry: entry) }
    }

    public func installMeter(orderId: String, meter: Meter) async throws {
        try await blocking { try $0.installMeter(orderId: orderId, meter: meter) }
    }

    public func saveSurvey(orderId: String, survey: SiteSurvey) async throws {
        try await blocking { try $0.saveSurvey(orderId: orderId, survey: survey) }
    }

    public func setCrewNotes(orderId: String, notes: String) async throws {
        try await blocking { try $0.setCrewNotes(orderId: orderId, notes: notes) }
    }

    /// The customer's rating, 1 to 5, and comment.
    public func addEvaluation(orderId: String, score: UInt8, comment: String) async throws -> Evaluation {
        try await blocking { try $0.addEvaluation(orderId: orderId, score: score, comment: comment) }
    }

    // MARK: photos

    public func addPhoto(orderId: String, kind: DocumentKind, jpeg: Data) async throws -> Photo {
        try await blocking { try $0.addPhoto(orderId: orderId, kind: kind, bytes: jpeg) }
    }

    public func photos(orderId: String) async throws -> [Photo] {
        try await blocking { try $0.photos(orderId: orderId) }
    }

    /// Decrypted and verified, for display only: never save it to the photo library.
    public func photoJpeg(photoId: String) async throws -> Data {
        try await blocking { try $0.photoJpeg(photoId: photoId) }
    }

    public func thumbnailJpeg(photoId: String) async throws -> Data {
        try await blocking { try $0.thumbnailJpeg(photoId: photoId) }
    }

    public func documentChecklist(orderId: String) async throws -> DocumentChecklist {
        try await blocking { try $0.documentChecklist(orderId: orderId) }
    }

    // MARK: the device

    /// Cheap: fine on the main thread.
    public var pendingCount: UInt64 { (try? core.pendingCount()) ?? 0 }

    /// What logging out now would lose.
    public func unsyncedWork() async throws -> UnsyncedWork {
        try await blocking { try $0.unsyncedWork() }
    }

    /// Re-encrypts the store under a new key from the Keychain; runs to its end if cancelled.
    public func rekey(newKey: Data) async throws {
        try await uninterruptible { try $0.rekey(newKey: newKey) }
    }

    /// Deletes all local data; refuses with `.UnsyncedWork` unless `discardUnsynced`. Runs to its
    /// end if cancelled. Afterwards delete the store key from the Keychain.
    public func wipe(discardUnsynced: Bool) async throws {
        try await uninterruptible { try $0.wipe(discardUnsynced: discardUnsynced) }
    }
}
