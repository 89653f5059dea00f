// The crew day from Kotlin on the JVM, against the real fieldcrew-server on loopback.
import kotlinx.coroutines.runBlocking
import org.fieldcrew.FieldCrewClient
import uniffi.fieldcrew_ffi.*
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import java.time.Instant
import java.time.ZoneOffset
import java.time.temporal.ChronoUnit

class TestServer(root: java.io.File) : AutoCloseable {
    private val bin = System.getenv("FIELDCREW_SERVER") ?: "target/debug/fieldcrew-server"
    private val data = java.io.File(root, "server").path
    private val process: Process
    val url: String
    val crewToken: String
    val officeToken: String
    private val http = HttpClient.newHttpClient()

    private fun admin(vararg args: String): String {
        val p = ProcessBuilder(listOf(bin, "--data", data) + args).redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0, "admin ${args.toList()}: $out")
        return out
    }

    private fun token(member: String, device: String): String =
        Regex("""token:\s+(\S+)""").find(admin("issue-token", member, "--device", device))!!.groupValues[1]

    init {
        admin("add-crew", "crew-west", "--name", "西湖班")
        admin("add-member", "m-li", "--name", "李工", "--crew", "crew-west")
        admin("add-member", "d-wang", "--name", "王调度", "--role", "dispatcher")
        crewToken = token("m-li", "phone-kt")
        officeToken = token("d-wang", "office")
        process = ProcessBuilder(bin, "--data", data, "serve", "--listen", "127.0.0.1:0")
            .redirectError(ProcessBuilder.Redirect.DISCARD).start()
        val line = process.inputStream.bufferedReader().readLine() ?: ""
        url = Regex("""listening on (http://\S+)""").find(line)?.groupValues?.get(1)
            ?: throw AssertionError("server did not start: $line")
    }

    fun office(method: String, path: String, json: String?): String {
        val body = if (json == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(json)
        val req = HttpRequest.newBuilder(URI.create(url + path)).method(method, body)
            .header("Authorization", "Bearer $officeToken").header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(10)).build()
        val resp = http.send(req, HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() in 200..299, "$method $path: ${resp.statusCode()} ${resp.body()}")
        return resp.body()
    }

    override fun close() {
        process.destroy()
        process.waitFor()
    }
}

fun jpeg(): ByteArray {
    val img = java.awt.image.BufferedImage(640, 480, java.awt.image.BufferedImage.TYPE_INT_RGB)
    val g = img.createGraphics()
    g.color = java.awt.Color(30, 90, 200)
    g.fillRect(0, 0, 640, 480)
    g.dispose()
    val out = java.io.ByteArrayOutputStream()
    check(javax.imageio.ImageIO.write(img, "jpg", out), "JPEG writer")
    return out.toByteArray()
}

fun crewDayTests(root: java.io.File) = runBlocking {
    TestServer(root).use { server ->
        val slot = Instant.now().truncatedTo(ChronoUnit.HOURS).plus(1, ChronoUnit.HOURS)
        val lastRead = Instant.now().minus(30, ChronoUnit.DAYS)
        val order = """
            {"number": "GD-KT-1", "kind": "meter_removal",
             "customer": {"name": "欧阳秀英", "account_number": "3300998877", "phone": "13900002222"},
             "site": {"address": "杭州市拱墅区莫干山路188号", "area": "拱墅供电所", "location": null},
             "meters": [{"asset_number": "3310140000009", "phases": 1, "multiplier": "1", "prepaid": false,
                         "expected_daily_kwh": "10",
                         "registers": [{"spec": {"register": "total", "int_digits": 6, "decimals": 2},
                                        "last": {"value": "1000.00", "at": "$lastRead"}}]}],
             "appointment": {"mode": "slot", "start": "$slot", "end": "${slot.plus(2, ChronoUnit.HOURS)}"},
             "accepted_at": "${slot.minus(1, ChronoUnit.DAYS)}", "crew_id": "crew-west"}
        """.trimIndent()
        val created = server.office("POST", "/v1/office/orders", order)
        val orderId = Regex(""""id"\s*:\s*"([0-9a-f-]{36})"""").find(created)!!.groupValues[1]

        val client = FieldCrewClient.open(java.io.File(root, "phone").path, ByteArray(32) { (it + 3).toByte() })
        val login = client.login(server.url, server.crewToken)
        check(login.crewId == "crew-west", "logged in as the crew")
        check(client.sync().ordersReceived == 1uL, "one order pulled")
        val day = slot.atOffset(ZoneOffset.ofHours(8)).toLocalDate()
        check(client.agenda(day).flatMap { it.items }.any { it.order.number == "GD-KT-1" }, "on the agenda")

        val gps = Fix(30.3191, 120.1421, 5.0)
        for (to in listOf(Status.ACCEPTED, Status.EN_ROUTE, Status.ARRIVED)) {
            client.report(StatusReport(orderId, to, null, "", gps))
        }
        var entry = ReadingEntry(orderId, "3310140000009", ReadingPurpose.REMOVED_METER_FINAL,
            listOf(RegisterValue(Register.TOTAL, "6000")), null, emptyList(), emptyList())
        val outcome = client.recordReadings(entry)
        check(outcome is FieldCrewClient.ReadingOutcome.NeedsConfirmation, "a warning first")
        val warning = (outcome as FieldCrewClient.ReadingOutcome.NeedsConfirmation).warnings.single()
        check(warning.code == WarningCode.HIGH_CONSUMPTION, "high consumption")
        entry = entry.copy(confirmations = listOf(Confirmation(warning.code, warning.register, "冷库开机")))
        val saved = client.recordReadings(entry)
        check(saved is FieldCrewClient.ReadingOutcome.Saved, "saved once confirmed")
        val photo = client.addPhoto(orderId, DocumentKind.METER_BEFORE, jpeg())
        check(photo.width == 640u, "photo normalised")
        client.report(StatusReport(orderId, Status.IN_PROGRESS, null, "", gps))
        client.saveSurvey(orderId, SiteSurvey("8", Voltage.V220, 1u, "莫干山变", "10kV 188线", "3号台变", "A-12", ""))
        check(client.addEvaluation(orderId, 5, "很快").score == 5u.toUByte(), "evaluation saved")
        client.report(StatusReport(orderId, Status.COMPLETED, null, "", gps))
        client.setCrewNotes(orderId, "表箱在地下室")
        server.office("PATCH", "/v1/office/orders/$orderId", """{"crew_notes": "钥匙在物业"}""")

        val phases = mutableListOf<SyncPhase>()
        val summary = client.sync { phase, _, _ -> phases += phase }
        check(summary.pushed >= 8uL, "pushed the day: $summary")
        check(SyncPhase.PUSH in phases && SyncPhase.PULL in phases, "progress of both phases")
        check(client.pendingCount() == 0L, "outbox empty")
        val conflict = client.conflicts(true).single { it.field == "crew_notes" }
        check(conflict.rule == "crew_owns_field", "rule named")
        check(client.acknowledgeConflict(conflict.id).status == ConflictStatus.ACKNOWLEDGED, "acknowledged")

        // Photo bytes after the data: held back on a metered network, sent on an unmetered one.
        check(client.photoState(photo.id) == PhotoState.LocalOnly, "photo only on the phone")
        val deferred = client.transferPhotos(NetworkKind.METERED)
        check(deferred.uploadsDeferred && deferred.uploaded == 0uL, "deferred on metered: $deferred")
        val moved = mutableListOf<FieldCrewClient.TransferProgress>()
        val sent = client.transferPhotos(NetworkKind.UNMETERED) { moved += it }
        check(sent.uploaded == 1uL && sent.uploadFailures == 0uL, "uploaded on unmetered: $sent")
        check(moved.isNotEmpty() && moved.last().let { it.uploading && it.doneBytes == it.totalBytes }, "byte progress")
        check(client.photoState(photo.id) == PhotoState.OnServer, "photo on the server")
        client.sync()
        check(client.conflicts(true).isEmpty(), "no open conflict after the acknowledgement synced")
        val detail = server.office("GET", "/v1/office/orders/$orderId", null)
        check(detail.contains("\"completed\""), "completed on the server")
        check(detail.contains("\"6000\""), "reading on the server")
        client.close()
    }
    println("kotlin crew day: ok")
}
