package org.fieldcrew.android

import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.ImageProxy
import kotlinx.coroutines.suspendCancellableCoroutine
import org.fieldcrew.FieldCrewClient
import uniffi.fieldcrew_ffi.DocumentKind
import uniffi.fieldcrew_ffi.Photo
import java.util.concurrent.Executor
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException

/**
 * CameraX capture straight into the core: the camera's JPEG bytes never touch the gallery or
 * shared storage. The core normalises them (upright, metadata stripped, resized), encrypts them
 * in app-private storage and links them to the order.
 */
class CameraCapture(
    private val imageCapture: ImageCapture,
    private val executor: Executor,
    private val client: FieldCrewClient,
) {
    suspend fun capture(orderId: String, kind: DocumentKind): Photo {
        val jpeg = takeJpeg()
        return client.addPhoto(orderId, kind, jpeg)
    }

    private suspend fun takeJpeg(): ByteArray = suspendCancellableCoroutine { cont ->
        imageCapture.takePicture(
            executor,
            object : ImageCapture.OnImageCapturedCallback() {
                override fun onCaptureSuccess(image: ImageProxy) {
                    try {
                        // ImageCapture delivers JPEG: one plane holding the whole file.
                        val buffer = image.planes[0].buffer
                        val bytes = ByteArray(buffer.remaining())
                        buffer.get(bytes)
                        cont.resume(bytes)
                    } finally {
                        image.close()
                    }
                }

                override fun onError(exception: ImageCaptureException) {
                    cont.resumeWithException(exception)
                }
            },
        )
    }
}
