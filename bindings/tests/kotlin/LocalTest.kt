// The bindings from Kotlin on the JVM, without a server: typed errors, keys, wiping.
import uniffi.fieldcrew_ffi.*

fun check(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

inline fun <reified E : Throwable> expect(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("$what: expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("$what: expected ${E::class.simpleName}, nothing thrown")
}

fun localTests(dir: java.io.File) {
    val key = ByteArray(32) { (it + 1).toByte() }
    val bad = expect<FieldCrewException.Validation>("short key") {
        FieldCrew.open(Config(dir.path, byteArrayOf(1, 2, 3), 480, 120u))
    }
    check(bad.field == "key", "field is key")

    val core = FieldCrew.open(Config(dir.path, key, 480, 120u))
    core.signIn("m-li", "crew-west")
    val day = expect<FieldCrewException.Validation>("bad day") { core.agenda("25/11/2026", null) }
    check(day.field == "day", "field is day")
    expect<FieldCrewException.NotFound>("unknown order") {
        core.orderDetail("019a0000-0000-7000-8000-000000000000")
    }
    check(core.pendingCount() == 0uL, "nothing pending")
    core.close()

    expect<FieldCrewException.WrongKey>("wrong key") {
        FieldCrew.open(Config(dir.path, ByteArray(32) { 9 }, 480, 120u))
    }
    val again = FieldCrew.open(Config(dir.path, key, 480, 120u))
    again.wipe(false)
    check(!java.io.File(dir, "fieldcrew.db").exists(), "wiped")
    println("kotlin local tests: ok")
}
