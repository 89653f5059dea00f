package org.fieldcrew

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.fieldcrew_ffi.AgendaGroup
import uniffi.fieldcrew_ffi.Config
import uniffi.fieldcrew_ffi.DocumentChecklist
import uniffi.fieldcrew_ffi.DocumentKind
import uniffi.fieldcrew_ffi.FieldCrew
import uniffi.fieldcrew_ffi.FieldCrewException
import uniffi.fieldcrew_ffi.GeoPoint
import uniffi.fieldcrew_ffi.MeterReading
import uniffi.fieldcrew_ffi.OrderDetail
import uniffi.fieldcrew_ffi.OrderSummary
import uniffi.fieldcrew_ffi.Photo
import uniffi.fieldcrew_ffi.ReadingEntry
import uniffi.fieldcrew_ffi.ReadingWarning
import uniffi.fieldcrew_ffi.StatusEvent
import uniffi.fieldcrew_ffi.StatusReport
import java.time.LocalDate

/**
 * The core as a crew app uses it from coroutines: every blocking call runs on [io] (Dispatchers.IO
 * by default), and cancelling the calling coroutine interrupts the store call in flight.
 *
 * Platform-free on purpose: it is compiled and tested on the JVM in CI; the Android-only parts
 * (WorkManager, CameraX) live in org.fieldcrew.android.
 */
class FieldCrewClient(
    val core: FieldCrew,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    companion object {
        /** Opens the core under the app's private files directory with the keystore's key. */
        suspend fun open(
            dataDir: String,
            storeKey: ByteArray,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): FieldCrewClient = withContext(io) {
            FieldCrewClient(FieldCrew.open(Config(dataDir, storeKey, 480, 120u)), io)
        }
    }

    /** Runs [block] on [io]; cancellation of the caller interrupts the store call. */
    private suspend fun <T> blocking(block: FieldCrew.() -> T): T = withContext(io) {
        val job = coroutineContext[kotlinx.coroutines.Job]
        val handle = job?.invokeOnCompletion { cause -> if (cause != null) core.interrupt() }
        try {
            core.block()
        } finally {
            handle?.dispose()
        }
    }

    suspend fun agenda(day: LocalDate, position: GeoPoint? = null): List<AgendaGroup> =
        blocking { agenda(day.toString(), position) }

    suspend fun search(query: String, limit: Int = 50): List<OrderSummary> =
        blocking { search(query, limit.toUInt()) }

    suspend fun orderDetail(orderId: String): OrderDetail = blocking { orderDetail(orderId) }

    suspend fun report(report: StatusReport): StatusEvent = blocking { reportStatus(report) }

    /** The outcome of saving readings: saved, or warnings the member must confirm with a reason. */
    sealed interface ReadingOutcome {
        data class Saved(val readings: List<MeterReading>) : ReadingOutcome
        data class NeedsConfirmation(val warnings: List<ReadingWarning>) : ReadingOutcome
    }

    suspend fun recordReadings(entry: ReadingEntry): ReadingOutcome = blocking {
        try {
            ReadingOutcome.Saved(recordReadings(entry))
        } catch (e: FieldCrewException.NeedsConfirmation) {
            ReadingOutcome.NeedsConfirmation(e.warnings)
        }
    }

    suspend fun addPhoto(orderId: String, kind: DocumentKind, jpeg: ByteArray): Photo =
        blocking { addPhoto(orderId, kind, jpeg) }

    suspend fun documentChecklist(orderId: String): DocumentChecklist =
        blocking { documentChecklist(orderId) }

    /** Cheap: fine on the main thread. */
    fun pendingCount(): Long = core.pendingCount().toLong()

    override fun close() = core.close()
}
