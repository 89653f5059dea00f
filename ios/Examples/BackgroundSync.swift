import BackgroundTasks
import FieldCrew

/// Syncs when iOS grants background time: register at launch, schedule when the app goes to
/// the background. Photos upload on the same sync; iOS's BGProcessingTask can require an
/// unmetered network (`requiresNetworkConnectivity` plus the app's own Wi-Fi-only setting).
enum BackgroundSync {
    static let identifier = "org.fieldcrew.sync"

    static func register(client: FieldCrewClient) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            schedule()
            let work = Task {
                do {
                    _ = try await client.sync()
                    task.setTaskCompleted(success: true)
                } catch {
                    task.setTaskCompleted(success: false)
                }
            }
            // iOS ends our time: cancelling the Task interrupts the sync; what was pushed stays
            // pushed, the rest stays in the outbox for next time.
            task.expirationHandler = { work.cancel() }
        }
    }

    static func schedule() {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }
}
