import Foundation
import FieldCrewFFI

/// The core as a SwiftUI app uses it: every blocking call runs on a background queue and is
/// awaited; cancelling the awaiting Task interrupts the store call (or the sync) in flight.
public final class FieldCrewClient: @unchecked Sendable {
    public let core: FieldCrew
    private let queue = DispatchQueue(label: "org.fieldcrew.core", qos: .userInitiated, attributes: .concurrent)

    /// Opens the core in Application Support with the key kept in the Keychain.
    public static func open(dataDir: URL, storeKey: Data) async throws -> FieldCrewClient {
        let core = try await Task.detached(priority: .userInitiated) {
            try FieldCrew.open(config: Config(dataDir: dataDir.path, storeKey: storeKey,
                                              utcOffsetMinutes: 480, dueSoonMinutes: 120))
        }.value
        return FieldCrewClient(core: core)
    }

    public init(core: FieldCrew) {
        self.core = core
    }

    private func blocking<T>(_ body: @escaping (FieldCrew) throws -> T) async throws -> T {
        let core = self.core
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { cont in
                queue.async { cont.resume(with: Result { try body(core) }) }
            }
        } onCancel: {
            core.interrupt()
            core.cancelSync()
        }
    }

    public func agenda(day: String, near: GeoPoint? = nil) async throws -> [AgendaGroup] {
        try await blocking { try $0.agenda(day: day, position: near) }
    }

    public func search(_ query: String, limit: UInt32 = 50) async throws -> [OrderSummary] {
        try await blocking { try $0.search(query: query, limit: limit) }
    }

    public func detail(orderId: String) async throws -> OrderDetail {
        try await blocking { try $0.orderDetail(orderId: orderId) }
    }

    public func report(_ report: StatusReport) async throws -> StatusEvent {
        try await blocking { try $0.reportStatus(report: report) }
    }

    public enum ReadingOutcome {
        case saved([MeterReading])
        case needsConfirmation([ReadingWarning])
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

    public func addPhoto(orderId: String, kind: DocumentKind, jpeg: Data) async throws -> Photo {
        try await blocking { try $0.addPhoto(orderId: orderId, kind: kind, bytes: jpeg) }
    }

    /// Syncs, reporting progress on the main actor.
    public func sync(progress: (@MainActor (SyncPhase, UInt64, UInt64?) -> Void)? = nil) async throws -> SyncSummary {
        final class Listener: SyncListener, @unchecked Sendable {
            let progress: (@MainActor (SyncPhase, UInt64, UInt64?) -> Void)?
            init(_ progress: (@MainActor (SyncPhase, UInt64, UInt64?) -> Void)?) { self.progress = progress }
            func onProgress(phase: SyncPhase, done: UInt64, total: UInt64?) {
                guard let progress else { return }
                Task { @MainActor in progress(phase, done, total) }
            }
        }
        let listener = Listener(progress)
        return try await blocking { try $0.sync(listener: listener) }
    }

    /// Cheap: fine on the main thread.
    public var pendingCount: UInt64 { (try? core.pendingCount()) ?? 0 }
}
