fun main(args: Array<String>) {
    val root = kotlin.io.path.createTempDirectory("fieldcrew-kt").toFile()
    try {
        localTests(java.io.File(root, "local"))
        clientTests(java.io.File(root, "client"))
        cancelTests(java.io.File(root, "cancel"))
        crewDayTests(java.io.File(root, "crew-day"))
    } finally {
        root.deleteRecursively()
    }
}
