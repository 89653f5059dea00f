package org.fieldcrew.android

import android.content.Context
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import uniffi.fieldcrew_ffi.FieldCrewException
import java.util.concurrent.TimeUnit

/**
 * Syncs the order data in the background: when the network comes back (a one-time request with
 * a CONNECTED constraint, enqueued on every change the crew makes) and every 30 minutes. After a
 * successful sync it enqueues [PhotoWorker] for the photo bytes: constrained to UNMETERED when
 * the crew chose "photos on Wi-Fi only" (the default), to CONNECTED when the crew allows mobile
 * data ([FieldCrewProvider.photosOnMobileData]).
 *
 * Stopping: WorkManager stops a worker (constraints no longer met, the system's quota, the app
 * updated, [cancel]) by cancelling doWork's coroutine. [org.fieldcrew.FieldCrewClient.sync] turns
 * that cancellation into the core's `cancelSync()` while the Rust sync runs, so the sync stops
 * within milliseconds between two requests or mid-request: what was pushed stays pushed, the
 * rest stays in the outbox, and WorkManager reschedules the request.
 *
 * The app provides the opened core through [FieldCrewProvider] (its Application implements it).
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val provider = applicationContext as FieldCrewProvider
        val client = provider.fieldCrew()
        return try {
            // Cancellable: a stopped worker cancels this call, which calls core.cancelSync().
            val summary = client.sync { phase, done, _ ->
                setProgressAsync(workDataOf("phase" to phase.name, "done" to done))
            }
            // Data first, photos after: the bytes never hold up the order data.
            PhotoWorker.enqueue(applicationContext, provider.photosOnMobileData())
            Result.success(workDataOf("pushed" to summary.pushed.toLong()))
        } catch (e: FieldCrewException.Network) {
            Result.retry()
        } catch (e: FieldCrewException.Auth) {
            // The token was revoked or expired: the app asks the member to sign in again.
            Result.failure(workDataOf("auth" to true))
        } catch (e: FieldCrewException.Interrupted) {
            // Interrupted by something else than this worker's stop (a stop is a
            // CancellationException, which WorkManager handles itself).
            Result.retry()
        }
    }

    override suspend fun getForegroundInfo() = throw UnsupportedOperationException("not expedited")

    companion object {
        private const val NOW = "fieldcrew-sync-now"
        private const val PERIODIC = "fieldcrew-sync-periodic"

        private val connected = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

        /** Call after each change the crew makes: runs as soon as there is a network. */
        fun requestSoon(context: Context) {
            val request = OneTimeWorkRequestBuilder<SyncWorker>()
                .setConstraints(connected)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(NOW, ExistingWorkPolicy.KEEP, request)
        }

        /** Call once at start-up. */
        fun schedulePeriodic(context: Context) {
            val request = PeriodicWorkRequestBuilder<SyncWorker>(30, TimeUnit.MINUTES)
                .setConstraints(connected)
                .build()
            WorkManager.getInstance(context)
                .enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, request)
        }

        /** Stops the sync requests (logout); a running sync is cancelled through cancelSync(). */
        fun cancel(context: Context) {
            val work = WorkManager.getInstance(context)
            work.cancelUniqueWork(NOW)
            work.cancelUniqueWork(PERIODIC)
            PhotoWorker.cancel(context)
        }
    }
}

/** Implemented by the app's Application: the one opened core of the process. */
interface FieldCrewProvider {
    fun fieldCrew(): org.fieldcrew.FieldCrewClient

    /**
     * The crew's "upload photos on mobile data too" setting. Open the core with the same value
     * (`FieldCrewClient.open(..., photosOnMobileData = ...)`): the core holds uploads back on a
     * metered network unless it was opened with it.
     */
    fun photosOnMobileData(): Boolean = false
}
