package org.fieldcrew.android

import android.content.Context
import android.net.ConnectivityManager
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import uniffi.fieldcrew_ffi.FieldCrewException
import uniffi.fieldcrew_ffi.NetworkKind
import java.util.concurrent.TimeUnit

/**
 * Moves photo bytes after the data sync ([SyncWorker] enqueues it when a sync succeeds): the
 * core's `transferPhotos` uploads the device's photos, resumable and content-addressed, and
 * downloads the documents the customer supplied online.
 *
 * Two policies, two unique requests:
 * - Wi-Fi only (the default): constrained to NetworkType.UNMETERED, so it waits for Wi-Fi.
 * - mobile data allowed ([FieldCrewProvider.photosOnMobileData]): constrained to CONNECTED.
 *
 * Either way the worker tells the core what the network is when it runs (metered or not), and
 * the core applies the policy it was opened with; uploads it held back (uploadsDeferred) wait for
 * the Wi-Fi request. Stopping the worker cancels the transfer through the core's cancelSync();
 * the next run resumes each photo from what the server has.
 */
class PhotoWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val client = (applicationContext as FieldCrewProvider).fieldCrew()
        val mobileDataRequest = inputData.getBoolean(KEY_MOBILE_DATA, false)
        val connectivity = applicationContext.getSystemService(ConnectivityManager::class.java)
        val network = if (connectivity?.isActiveNetworkMetered != false) NetworkKind.METERED else NetworkKind.UNMETERED
        return try {
            // Cancellable: a stopped worker cancels this call, which calls core.cancelSync().
            val summary = client.transferPhotos(network) { p ->
                setProgressAsync(workDataOf(
                    "uploading" to p.uploading, "done_bytes" to p.doneBytes, "total_bytes" to p.totalBytes,
                    "photos_done" to p.photosDone, "photos_total" to p.photosTotal,
                ))
            }
            val output = workDataOf(
                "uploaded" to summary.uploaded.toLong(),
                "bytes_sent" to summary.bytesSent.toLong(),
                "downloaded" to summary.downloaded.toLong(),
                "deferred" to summary.uploadsDeferred,
            )
            when {
                // On a metered network the core kept the uploads back (Wi-Fi only): wait for
                // Wi-Fi, by retrying this request or by handing over to the Wi-Fi one.
                summary.uploadsDeferred && !mobileDataRequest -> Result.retry()
                summary.uploadsDeferred -> {
                    enqueue(applicationContext, onMobileData = false)
                    Result.success(output)
                }
                // Each failed photo is recorded on it and retried by the core on the next run.
                (summary.uploadFailures > 0uL || summary.downloadFailures > 0uL) && runAttemptCount < MAX_RETRIES ->
                    Result.retry()
                else -> Result.success(output)
            }
        } catch (e: FieldCrewException.Network) {
            Result.retry()
        } catch (e: FieldCrewException.Auth) {
            Result.failure(workDataOf("auth" to true))
        } catch (e: FieldCrewException.Interrupted) {
            Result.retry()
        }
    }

    override suspend fun getForegroundInfo() = throw UnsupportedOperationException("not expedited")

    companion object {
        private const val WIFI = "fieldcrew-photos-unmetered"
        private const val ANY = "fieldcrew-photos-any-network"
        private const val KEY_MOBILE_DATA = "mobile_data"
        private const val MAX_RETRIES = 5

        /**
         * Called by [SyncWorker] after each successful sync. [onMobileData] is the crew's
         * "photos on mobile data too" setting: false waits for an unmetered network (Wi-Fi),
         * true runs on any network. A request already waiting or running is kept.
         */
        fun enqueue(context: Context, onMobileData: Boolean) {
            val (name, networkType) =
                if (onMobileData) (ANY to NetworkType.CONNECTED) else (WIFI to NetworkType.UNMETERED)
            val request = OneTimeWorkRequestBuilder<PhotoWorker>()
                .setConstraints(Constraints.Builder().setRequiredNetworkType(networkType).build())
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 1, TimeUnit.MINUTES)
                .setInputData(workDataOf(KEY_MOBILE_DATA to onMobileData))
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(name, ExistingWorkPolicy.KEEP, request)
        }

        fun cancel(context: Context) {
            val work = WorkManager.getInstance(context)
            work.cancelUniqueWork(WIFI)
            work.cancelUniqueWork(ANY)
        }
    }
}
