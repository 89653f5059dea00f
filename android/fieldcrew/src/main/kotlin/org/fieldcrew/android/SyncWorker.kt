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
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.fieldcrew_ffi.FieldCrewException
import uniffi.fieldcrew_ffi.SyncListener
import uniffi.fieldcrew_ffi.SyncPhase
import java.util.concurrent.TimeUnit

/**
 * Syncs in the background: when the network comes back (a one-time request with a CONNECTED
 * constraint, enqueued on every change the crew makes) and every 30 minutes. Photo bytes go on
 * a separate request constrained to UNMETERED when the crew chose "photos on Wi-Fi only".
 *
 * The app provides the opened core through [FieldCrewProvider] (its Application implements it).
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val client = (applicationContext as FieldCrewProvider).fieldCrew()
        return withContext(Dispatchers.IO) {
            try {
                val summary = client.core.sync(object : SyncListener {
                    override fun onProgress(phase: SyncPhase, done: ULong, total: ULong?) {
                        setProgressAsync(workDataOf("phase" to phase.name, "done" to done.toLong()))
                    }
                })
                Result.success(workDataOf("pushed" to summary.pushed.toLong()))
            } catch (e: FieldCrewException.Network) {
                Result.retry()
            } catch (e: FieldCrewException.Auth) {
                // The token was revoked or expired: the app asks the member to sign in again.
                Result.failure(workDataOf("auth" to true))
            } catch (e: FieldCrewException.Interrupted) {
                Result.retry()
            }
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
    }
}

/** Implemented by the app's Application: the one opened core of the process. */
interface FieldCrewProvider {
    fun fieldCrew(): org.fieldcrew.FieldCrewClient
}
