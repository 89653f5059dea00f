// Cancelling a running sync from Kotlin: the core call must stop while it runs, not when it
// would have returned. The "server" is a local TCP listener that accepts connections, reads the
// requests and never answers, so without cancellation a sync blocks for the client's timeout
// (60 s) and its retries.
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.fieldcrew.FieldCrewClient
import uniffi.fieldcrew_ffi.FieldCrewException
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/** Accepts, reads request heads, answers nothing. [requests] gets each request line. */
class HangingServer : AutoCloseable {
    private val socket = ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())
    private val open = java.util.Collections.synchronizedList(mutableListOf<Socket>())
    val requests = LinkedBlockingQueue<String>()
    val url = "http://127.0.0.1:${socket.localPort}"

    init {
        thread(isDaemon = true, name = "hanging-server") {
            while (!socket.isClosed) {
                val conn = try { socket.accept() } catch (e: java.io.IOException) { break }
                open += conn
                thread(isDaemon = true) {
                    try {
                        val reader = conn.getInputStream().bufferedReader()
                        while (true) {
                            val line = reader.readLine() ?: break
                            if (line.startsWith("GET ") || line.startsWith("POST ")) requests.put(line)
                        }
                    } catch (e: java.io.IOException) {
                    }
                }
            }
        }
    }

    /** The next request line, or fails after [seconds]. */
    fun nextRequest(seconds: Long = 10): String =
        requests.poll(seconds, TimeUnit.SECONDS) ?: throw AssertionError("no request reached the server")

    override fun close() {
        socket.close()
        open.forEach { runCatching { it.close() } }
    }
}

fun cancelTests(root: java.io.File) {
    HangingServer().use { server ->
        // The raw binding: cancelSync from another thread stops a sync blocked on the network.
        val core = uniffi.fieldcrew_ffi.FieldCrew.open(
            uniffi.fieldcrew_ffi.Config(java.io.File(root, "raw").path, ByteArray(32) { 5 }, 480, 120u))
        core.signIn("m-li", "crew-west")
        core.useServer(server.url, "fc_test")
        var raw: Throwable? = null
        val t = thread { raw = runCatching { core.sync(null) }.exceptionOrNull() }
        check(server.nextRequest().contains("/v1/sync/"), "the raw sync reached the server")
        val cancelledAt = System.nanoTime()
        core.cancelSync()
        t.join(5_000)
        check(!t.isAlive, "the raw sync returned after cancelSync")
        check(raw is FieldCrewException.Interrupted, "the raw sync failed with Interrupted: $raw")
        val rawMs = (System.nanoTime() - cancelledAt) / 1_000_000
        check(rawMs < 2_000, "the raw sync stopped promptly ($rawMs ms)")
        core.close()

        // The coroutine layer: cancelling the coroutine stops the running Rust sync. The calls run
        // in their own scope so that a call stuck in the core fails the test instead of hanging it.
        val calls = CoroutineScope(Dispatchers.Default)
        runBlocking {
            val client = FieldCrewClient.open(java.io.File(root, "client").path, ByteArray(32) { 6 })
            client.core.signIn("m-li", "crew-west")
            client.useServer(server.url, "fc_test")

            val first = calls.async { client.sync() }
            check(server.nextRequest().contains("/v1/sync/"), "the sync reached the server")
            val start = System.nanoTime()
            first.cancel()
            val outcome = runCatching { withTimeout(2_000) { first.await() } }.exceptionOrNull()
            val ms = (System.nanoTime() - start) / 1_000_000
            check(outcome is CancellationException && outcome !is kotlinx.coroutines.TimeoutCancellationException,
                "the cancelled sync ended with CancellationException: $outcome")
            check(ms < 2_000, "the cancelled sync returned promptly ($ms ms)")

            // The Rust call itself stopped (not only the coroutine): the core runs one sync at a
            // time, so a second sync reaches the server only once the first has left the core.
            val second = calls.async { client.sync() }
            check(server.nextRequest(3).contains("/v1/sync/"), "the first native sync had ended")
            second.cancel()
            runCatching { withTimeout(2_000) { second.await() } }

            // Cancelled before the call reaches the network: still stopped (its ticket was taken
            // before the call was handed to a thread).
            val early = calls.async(start = CoroutineStart.UNDISPATCHED) { client.sync() }
            early.cancel()
            check(runCatching { withTimeout(2_000) { early.await() } }.exceptionOrNull() is CancellationException,
                "the early-cancelled sync ended")
            // Wait for the early call's request (if it got that far) then prove the core is free.
            server.requests.poll(500, TimeUnit.MILLISECONDS)
            server.requests.clear()
            val third = calls.async { client.sync() }
            check(server.nextRequest(3).contains("/v1/sync/"), "the early-cancelled native sync had ended")
            third.cancel()
            runCatching { withTimeout(2_000) { third.await() } }

            client.close()
        }
        calls.cancel()
    }
    println("kotlin cancel tests: ok")
}
