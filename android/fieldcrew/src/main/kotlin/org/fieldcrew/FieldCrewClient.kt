package org.fieldcrew

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.asExecutor
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext
import uniffi.fieldcrew_ffi.AgendaGroup
import uniffi.fieldcrew_ffi.Config
import uniffi.fieldcrew_ffi.Conflict
import uniffi.fieldcrew_ffi.DocumentChecklist
import uniffi.fieldcrew_ffi.DocumentKind
import uniffi.fieldcrew_ffi.Evaluation
import uniffi.fieldcrew_ffi.FieldCrew
import uniffi.fieldcrew_ffi.FieldCrewException
import uniffi.fieldcrew_ffi.GeoPoint
import uniffi.fieldcrew_ffi.Login
import uniffi.fieldcrew_ffi.Meter
import uniffi.fieldcrew_ffi.MeterReading
import uniffi.fieldcrew_ffi.MeterReplacement
import uniffi.fieldcrew_ffi.NetworkKind
import uniffi.fieldcrew_ffi.OrderDetail
import uniffi.fieldcrew_ffi.OrderSummary
import uniffi.fieldcrew_ffi.Photo
import uniffi.fieldcrew_ffi.PhotoState
import uniffi.fieldcrew_ffi.PhotoTransferListener
import uniffi.fieldcrew_ffi.PhotoTransferSummary
import uniffi.fieldcrew_ffi.ReadingEntry
import uniffi.fieldcrew_ffi.ReadingWarning
import uniffi.fieldcrew_ffi.ReplacementEntry
import uniffi.fieldcrew_ffi.SiteSurvey
import uniffi.fieldcrew_ffi.Status
import uniffi.fieldcrew_ffi.StatusEvent
import uniffi.fieldcrew_ffi.StatusReport
import uniffi.fieldcrew_ffi.SyncListener
import uniffi.fieldcrew_ffi.SyncPhase
import uniffi.fieldcrew_ffi.SyncSummary
import uniffi.fieldcrew_ffi.UnsyncedWork
import java.time.LocalDate
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The core as a crew app uses it from coroutines. Every blocking core call runs on a thread of
 * [io] (Dispatchers.IO by default) while the calling coroutine is suspended, so cancelling the
 * caller stops the Rust call while it runs: store calls with `interrupt()`, network calls (sync,
 * photo transfer, login) with `cancelSync()`. The caller resumes at once with a
 * CancellationException; the native call ends with Interrupted a moment later on its own thread.
 *
 * A network call takes the core's ticket (`syncTicket()`) before it is handed to a thread, so the
 * one `cancelSync()` its cancellation makes stops it wherever it is: not yet on its thread,
 * waiting for another network call (the core runs one at a time), or running. A call asked for
 * after the cancel is not affected. The cancel is the device's, not the call's: it also stops the
 * network calls other coroutines asked for before it. Cancelling a store call interrupts the
 * store statements running at that moment, which may include another coroutine's.
 *
 * Platform-free on purpose: it is compiled and tested on the JVM in CI; the Android-only parts
 * (WorkManager, CameraX) live in org.fieldcrew.android.
 */
class FieldCrewClient(
    val core: FieldCrew,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    companion object {
        /**
         * Opens the core under the app's private files directory with the keystore's key.
         * [photosOnMobileData] is the crew's "upload photos on mobile data too" setting.
         * [trustedRootCertsPem]: the utility's own CA (PEM) when its sync server's certificate
         * comes from it. The core makes its own TLS connections, so the app's
         * network_security_config does not apply to them; ship the CA in the app (a raw
         * resource) and pass it here. A file that is not a certificate is a Validation error.
         */
        suspend fun open(
            dataDir: String,
            storeKey: ByteArray,
            photosOnMobileData: Boolean = false,
            utcOffsetMinutes: Int = 480,
            trustedRootCertsPem: String? = null,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): FieldCrewClient = withContext(io) {
            val config = Config(
                dataDir, storeKey, utcOffsetMinutes, 120u, photosOnMobileData, trustedRootCertsPem,
            )
            FieldCrewClient(FieldCrew.open(config), io)
        }

        /** How often a cancelled store call is interrupted again until it returns. */
        private const val STOP_REPEAT_MS = 20L

        /** Gives up repeating the stop after this long (the call then ends on its own). */
        private val STOP_GIVE_UP_NANOS = TimeUnit.SECONDS.toNanos(30)
    }

    private val executor: Executor = io.asExecutor()

    /**
     * Runs the store call [block] on a thread of [io] and suspends until it returns. If the
     * caller is cancelled first, it resumes with CancellationException immediately and the
     * call's statements are interrupted.
     */
    private suspend fun <T> blocking(block: FieldCrew.() -> T): T =
        suspendCancellableCoroutine { cont ->
            val running = AtomicBoolean(true)
            executor.execute {
                val result = runCatching { core.block() }
                running.set(false)
                // Ignored when the caller was cancelled meanwhile: it already resumed.
                cont.resumeWith(result)
            }
            // The handler must be quick and must not block (interrupt() waits for a rekey's
            // lock), so the stopping happens on another thread.
            cont.invokeOnCancellation { executor.execute { interruptUntilDone(running) } }
        }

    /**
     * Runs the network call [block] (sync, photo transfer, login) on a thread of [io] with a
     * ticket taken here, before the hand-over; if the caller is cancelled, it resumes with
     * CancellationException at once and one `cancelSync()` stops the call wherever it is.
     */
    private suspend fun <T> networkCall(block: FieldCrew.(ticket: ULong) -> T): T {
        val ticket = core.syncTicket()
        return suspendCancellableCoroutine { cont ->
            executor.execute { cont.resumeWith(runCatching { core.block(ticket) }) }
            // Cheap and never blocking, so it runs right in the handler.
            cont.invokeOnCancellation {
                try {
                    core.cancelSync()
                } catch (e: IllegalStateException) {
                    // the core was closed meanwhile
                }
            }
        }
    }

    /**
     * Interrupts the store call, again every few milliseconds until it returns: an interrupt
     * only hits the statements running at that moment, so one signal could miss a call that
     * had not reached its statement yet.
     */
    private fun interruptUntilDone(running: AtomicBoolean) {
        val start = System.nanoTime()
        while (running.get() && System.nanoTime() - start < STOP_GIVE_UP_NANOS) {
            try {
                core.interrupt()
            } catch (e: IllegalStateException) {
                return // the core was closed meanwhile
            }
            Thread.sleep(STOP_REPEAT_MS)
        }
    }

    /** Runs [block] to its end even if the caller is cancelled (rekey, wipe: not interruptible). */
    private suspend fun <T> uninterruptible(block: FieldCrew.() -> T): T =
        withContext(io + NonCancellable) { core.block() }

    // Sign-in and sync.

    /** First sign-in on this device (online). Cancelling stops the request. */
    suspend fun login(serverUrl: String, token: String): Login =
        networkCall { ticket -> login(serverUrl, token, ticket) }

    /** Later app starts: remembers the server and token without contacting it. */
    suspend fun useServer(serverUrl: String, token: String) =
        blocking { useServer(serverUrl, token) }

    /**
     * Pushes the outbox and pulls the crew's orders. [progress] is called on the sync's thread
     * (phase, done, total; the pull's total once its first page arrived). Cancelling stops the sync: what was
     * pushed stays pushed, the rest stays in the outbox.
     */
    suspend fun sync(progress: ((SyncPhase, Long, Long?) -> Unit)? = null): SyncSummary {
        val listener = progress?.let { f ->
            object : SyncListener {
                override fun onProgress(phase: SyncPhase, done: ULong, total: ULong?) =
                    f(phase, done.toLong(), total?.toLong())
            }
        }
        return networkCall { ticket -> sync(listener, ticket) }
    }

    /** Progress of a photo transfer: bytes and photos done of the total, upload or download. */
    data class TransferProgress(
        val uploading: Boolean,
        val doneBytes: Long,
        val totalBytes: Long,
        val photosDone: Long,
        val photosTotal: Long,
    )

    /**
     * Moves photo bytes after the data sync: uploads this device's photos (on [network] METERED
     * only if the core was opened with photosOnMobileData; otherwise the summary says
     * uploadsDeferred) and downloads the documents the customer supplied. Resumable; cancelling
     * stops it and the next call resumes from what the server has.
     */
    suspend fun transferPhotos(
        network: NetworkKind,
        progress: ((TransferProgress) -> Unit)? = null,
    ): PhotoTransferSummary {
        val listener = progress?.let { f ->
            object : PhotoTransferListener {
                override fun onProgress(
                    uploading: Boolean,
                    doneBytes: ULong,
                    totalBytes: ULong,
                    photosDone: ULong,
                    photosTotal: ULong,
                ) = f(TransferProgress(uploading, doneBytes.toLong(), totalBytes.toLong(),
                    photosDone.toLong(), photosTotal.toLong()))
            }
        }
        return networkCall { ticket -> transferPhotos(network, listener, ticket) }
    }

    suspend fun photoState(photoId: String): PhotoState = blocking { photoState(photoId) }

    /** Stops the network calls running now or asked for before it, from any thread. Cheap. */
    fun cancelSync() = core.cancelSync()

    // Conflicts.

    suspend fun conflicts(openOnly: Boolean = true): List<Conflict> = blocking { conflicts(openOnly) }

    suspend fun acknowledgeConflict(conflictId: String): Conflict =
        blocking { acknowledgeConflict(conflictId) }

    /** Keep the value that stands, or put the losing value back (crew-owned fields only). */
    suspend fun resolveConflict(conflictId: String, keepStandingValue: Boolean, note: String): Conflict =
        blocking { resolveConflict(conflictId, keepStandingValue, note) }

    // Orders.

    suspend fun agenda(day: LocalDate, position: GeoPoint? = null): List<AgendaGroup> =
        blocking { agenda(day.toString(), position) }

    suspend fun search(query: String, limit: Int = 50): List<OrderSummary> =
        blocking { search(query, limit.toUInt()) }

    suspend fun ordersByStatus(statuses: List<Status>, limit: Int = 200): List<OrderSummary> =
        blocking { ordersByStatus(statuses, limit.toUInt()) }

    suspend fun orderDetail(orderId: String): OrderDetail = blocking { orderDetail(orderId) }

    suspend fun report(report: StatusReport): StatusEvent = blocking { reportStatus(report) }

    // Readings, meters, survey, evaluation.

    /** The outcome of saving readings: saved, or warnings the member must confirm with a reason. */
    sealed interface ReadingOutcome {
        data class Saved(val readings: List<MeterReading>) : ReadingOutcome
        data class NeedsConfirmation(val warnings: List<ReadingWarning>) : ReadingOutcome
    }

    /** The warnings a reading set would raise, without saving it. */
    suspend fun checkReadings(entry: ReadingEntry): List<ReadingWarning> = blocking { checkReadings(entry) }

    suspend fun recordReadings(entry: ReadingEntry): ReadingOutcome = blocking {
        try {
            ReadingOutcome.Saved(recordReadings(entry))
        } catch (e: FieldCrewException.NeedsConfirmation) {
            ReadingOutcome.NeedsConfirmation(e.warnings)
        }
    }

    /** A meter replacement: old final readings and balance, new meter, start readings and card. */
    suspend fun recordReplacement(entry: ReplacementEntry): MeterReplacement =
        blocking { recordReplacement(entry) }

    suspend fun installMeter(orderId: String, meter: Meter) = blocking { installMeter(orderId, meter) }

    suspend fun saveSurvey(orderId: String, survey: SiteSurvey) = blocking { saveSurvey(orderId, survey) }

    suspend fun setCrewNotes(orderId: String, notes: String) = blocking { setCrewNotes(orderId, notes) }

    /** The customer's rating, 1 to 5, and comment. */
    suspend fun addEvaluation(orderId: String, score: Int, comment: String): Evaluation {
        require(score in 1..5) { "a score is 1 to 5" }
        return blocking { addEvaluation(orderId, score.toUByte(), comment) }
    }

    // Photos.

    /** About 0.1 s for a 12 MP JPEG on a desktop core. */
    suspend fun addPhoto(orderId: String, kind: DocumentKind, jpeg: ByteArray): Photo =
        blocking { addPhoto(orderId, kind, jpeg) }

    suspend fun photos(orderId: String): List<Photo> = blocking { photos(orderId) }

    /** Decrypted and verified, for display only: never write it to a shared gallery. */
    suspend fun photoJpeg(photoId: String): ByteArray = blocking { photoJpeg(photoId) }

    suspend fun thumbnailJpeg(photoId: String): ByteArray = blocking { thumbnailJpeg(photoId) }

    suspend fun documentChecklist(orderId: String): DocumentChecklist =
        blocking { documentChecklist(orderId) }

    // The device.

    /** Cheap: fine on the main thread. */
    fun pendingCount(): Long = core.pendingCount().toLong()

    /** What logging out now would lose. */
    suspend fun unsyncedWork(): UnsyncedWork = blocking { unsyncedWork() }

    /** Re-encrypts the store under a new key; runs to its end even if the caller is cancelled. */
    suspend fun rekey(newKey: ByteArray) = uninterruptible { rekey(newKey) }

    /**
     * Deletes all local data; refuses with UnsyncedWork unless [discardUnsynced]. Runs to its
     * end even if the caller is cancelled.
     */
    suspend fun wipe(discardUnsynced: Boolean) = uninterruptible { wipe(discardUnsynced) }

    override fun close() = core.close()
}
