// The platform-free Kotlin layer (org.fieldcrew.FieldCrewClient) on the JVM.
import kotlinx.coroutines.runBlocking
import org.fieldcrew.FieldCrewClient
import uniffi.fieldcrew_ffi.FieldCrewException
import java.time.LocalDate

fun clientTests(dir: java.io.File) = runBlocking {
    val client = FieldCrewClient.open(dir.path, ByteArray(32) { (it * 7 + 1).toByte() })
    client.core.signIn("m-li", "crew-west")
    check(client.agenda(LocalDate.of(2026, 11, 25)).isEmpty(), "empty agenda")
    check(client.search("王芳").isEmpty(), "no hits")
    val e = expect<FieldCrewException.NotFound>("detail of an unknown order") {
        runBlocking { client.orderDetail("019a0000-0000-7000-8000-000000000000") }
    }
    check(e.detail.isNotEmpty(), "detail carries text")
    check(client.pendingCount() == 0L, "nothing pending")
    client.close()
    println("kotlin client tests: ok")
}
