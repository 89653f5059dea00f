import BackgroundTasks
import FieldCrew
import Network

/// Syncs when iOS grants background time: register at launch, schedule when the app goes to
/// the background. Each run syncs the order data first, then moves the photo bytes with
/// `transferPhotos`, on their own queue so a photo never holds up the data.
///
/// Wi-Fi only: `BGProcessingTaskRequest` can only ask for some network
/// (`requiresNetworkConnectivity`), not for an unmetered one. So the task looks at the network it
/// was given with `NWPathMonitor` and tells the core: an expensive path (cellular, a personal
/// hotspot) or a constrained one (Low Data Mode) is `.metered`, anything else `.unmetered`. The
/// core then applies the crew's policy (`FieldCrewClient.open(..., photosOnMobileData:)`): on
/// `.metered` without it, uploads wait (`uploadsDeferred`) for a later run on Wi-Fi.
enum BackgroundSync {
    static let identifier = "org.fieldcrew.sync"

    static func register(client: FieldCrewClient) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            schedule()
            let work = Task {
                do {
                    _ = try await client.sync()
                    // Data first, photos after; no network now means the next run moves them.
                    if let network = await currentNetwork() {
                        _ = try await client.transferPhotos(network: network)
                    }
                    task.setTaskCompleted(success: true)
                } catch {
                    task.setTaskCompleted(success: false)
                }
            }
            // iOS ends our time: cancelling the Task stops the sync or the photo transfer in the
            // core (cancelSync); what was pushed stays pushed, the rest stays in the outbox, and
            // each photo resumes next time from what the server has.
            task.expirationHandler = { work.cancel() }
        }
    }

    static func schedule() {
        let request = BGProcessingTaskRequest(identifier: identifier)
        // Any network: iOS offers no "unmetered only" here; see currentNetwork().
        request.requiresNetworkConnectivity = true
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    /// The network now, as the core's policy needs it, or nil without one.
    static func currentNetwork() async -> NetworkKind? {
        await withCheckedContinuation { continuation in
            let monitor = NWPathMonitor()
            let queue = DispatchQueue(label: "org.fieldcrew.path")
            var answered = false // touched on `queue` only
            monitor.pathUpdateHandler = { path in
                guard !answered else { return }
                answered = true
                monitor.cancel()
                guard path.status == .satisfied else { return continuation.resume(returning: nil) }
                continuation.resume(returning: path.isExpensive || path.isConstrained ? .metered : .unmetered)
            }
            monitor.start(queue: queue)
        }
    }
}
