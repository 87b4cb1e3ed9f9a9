package org.squeezekit.demo

import android.annotation.SuppressLint
import android.content.Context
import android.graphics.Matrix
import android.graphics.RectF
import android.graphics.SurfaceTexture
import android.hardware.camera2.CameraAccessException
import android.hardware.camera2.CameraCaptureSession
import android.hardware.camera2.CameraCharacteristics
import android.hardware.camera2.CameraDevice
import android.hardware.camera2.CameraManager
import android.hardware.camera2.CaptureRequest
import android.os.Handler
import android.os.HandlerThread
import android.util.Log
import android.util.Size
import android.view.Surface
import android.view.TextureView

/**
 * Live preview of the back camera on a [TextureView] through Camera2 (framework API only, no CameraX).
 * The activity grabs frames with [TextureView.getBitmap] when [onFrame] says a new one is shown, and
 * classifies them; this class only keeps the preview running and upright ([displayRotation] gives the
 * Surface.ROTATION_* of the display). Call [start] once the camera permission is granted and [stop] in onPause.
 * Callbacks run on the main thread, except [onError], which may come from the camera thread.
 */
class CameraPreview(
    private val context: Context,
    private val view: TextureView,
    private val displayRotation: () -> Int,
    private val onFrame: () -> Unit,
    private val onError: (String) -> Unit,
) {
    private var wanted = false

    private var thread: HandlerThread? = null
    private var handler: Handler? = null
    private var device: CameraDevice? = null
    private var session: CameraCaptureSession? = null
    private var previewSize: Size? = null
    private var sensorOrientation = 90

    val running: Boolean get() = device != null

    /** Opens the camera when the view's surface is ready (now, or as soon as it becomes available). */
    fun start() {
        wanted = true
        if (thread == null) {
            thread = HandlerThread("camera").also { it.start() }
            handler = Handler(thread!!.looper)
        }
        if (view.isAvailable) open()
    }

    fun stop() {
        wanted = false
        try {
            session?.close()
        } catch (e: IllegalStateException) {
            Log.w(TAG, "closing the session", e)
        }
        session = null
        device?.close()
        device = null
        thread?.quitSafely()
        thread = null
        handler = null
    }

    /** Keeps the preview undistorted (center-cropped) and upright for the current display rotation. */
    fun configureTransform() {
        val rotation = displayRotation()
        val size = previewSize ?: return
        val viewW = view.width.toFloat()
        val viewH = view.height.toFloat()
        if (viewW == 0f || viewH == 0f) return
        val matrix = Matrix()
        val viewRect = RectF(0f, 0f, viewW, viewH)
        val cx = viewRect.centerX()
        val cy = viewRect.centerY()
        // The buffer is landscape (sensor orientation); on a rotated display it is laid out swapped.
        val degrees = when (rotation) {
            Surface.ROTATION_90 -> 90
            Surface.ROTATION_180 -> 180
            Surface.ROTATION_270 -> 270
            else -> 0
        }
        if (degrees == 90 || degrees == 270) {
            val bufferRect = RectF(0f, 0f, size.height.toFloat(), size.width.toFloat())
            bufferRect.offset(cx - bufferRect.centerX(), cy - bufferRect.centerY())
            matrix.setRectToRect(viewRect, bufferRect, Matrix.ScaleToFit.FILL)
            val scale = maxOf(viewH / size.height, viewW / size.width)
            matrix.postScale(scale, scale, cx, cy)
            matrix.postRotate((degrees - 180).toFloat(), cx, cy)
        } else {
            // Portrait (or upside down): the sensor's landscape buffer fills the view, cropped to keep its aspect.
            val bufferW = if (sensorOrientation % 180 == 0) size.width else size.height
            val bufferH = if (sensorOrientation % 180 == 0) size.height else size.width
            val scale = maxOf(viewW / bufferW, viewH / bufferH)
            matrix.setScale(bufferW * scale / viewW, bufferH * scale / viewH, cx, cy)
            if (degrees == 180) matrix.postRotate(180f, cx, cy)
        }
        view.setTransform(matrix)
    }

    private val surfaceListener = object : TextureView.SurfaceTextureListener {
        override fun onSurfaceTextureAvailable(surface: SurfaceTexture, width: Int, height: Int) {
            if (wanted) open()
        }

        override fun onSurfaceTextureSizeChanged(surface: SurfaceTexture, width: Int, height: Int) = configureTransform()
        override fun onSurfaceTextureDestroyed(surface: SurfaceTexture): Boolean = true
        override fun onSurfaceTextureUpdated(surface: SurfaceTexture) {
            if (wanted) onFrame()
        }
    }

    @SuppressLint("MissingPermission") // the activity asks for CAMERA before calling start()
    private fun open() {
        if (device != null) return
        val manager = context.getSystemService(Context.CAMERA_SERVICE) as CameraManager
        try {
            val id = manager.cameraIdList.firstOrNull {
                manager.getCameraCharacteristics(it).get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_BACK
            } ?: manager.cameraIdList.firstOrNull()
            if (id == null) {
                onError("this device has no camera; use the gallery")
                return
            }
            val chars = manager.getCameraCharacteristics(id)
            sensorOrientation = chars.get(CameraCharacteristics.SENSOR_ORIENTATION) ?: 90
            val map = chars.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP)
            val sizes = map?.getOutputSizes(SurfaceTexture::class.java) ?: emptyArray()
            previewSize = choosePreviewSize(sizes)
            configureTransform()
            manager.openCamera(id, deviceCallback, handler)
        } catch (e: CameraAccessException) {
            onError("cannot open the camera: ${e.message}")
        } catch (e: SecurityException) {
            onError("camera permission denied")
        }
    }

    private val deviceCallback = object : CameraDevice.StateCallback() {
        override fun onOpened(camera: CameraDevice) {
            device = camera
            startSession(camera)
        }

        override fun onDisconnected(camera: CameraDevice) {
            camera.close()
            device = null
        }

        override fun onError(camera: CameraDevice, error: Int) {
            camera.close()
            device = null
            onError("camera error $error")
        }
    }

    @Suppress("DEPRECATION") // createCaptureSession(List, ...) is the one API 24-27 have
    private fun startSession(camera: CameraDevice) {
        val texture = view.surfaceTexture ?: return
        val size = previewSize ?: Size(640, 480)
        texture.setDefaultBufferSize(size.width, size.height)
        val surface = Surface(texture)
        try {
            val request = camera.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW).apply {
                addTarget(surface)
                set(CaptureRequest.CONTROL_AF_MODE, CaptureRequest.CONTROL_AF_MODE_CONTINUOUS_PICTURE)
            }
            camera.createCaptureSession(listOf(surface), object : CameraCaptureSession.StateCallback() {
                override fun onConfigured(s: CameraCaptureSession) {
                    if (device == null) return
                    session = s
                    try {
                        s.setRepeatingRequest(request.build(), null, handler)
                    } catch (e: CameraAccessException) {
                        onError("camera preview failed: ${e.message}")
                    } catch (e: IllegalStateException) {
                        Log.w(TAG, "session closed before the preview started", e)
                    }
                }

                override fun onConfigureFailed(s: CameraCaptureSession) = onError("camera preview configuration failed")
            }, handler)
        } catch (e: CameraAccessException) {
            onError("camera preview failed: ${e.message}")
        }
    }

    init {
        view.surfaceTextureListener = surfaceListener // after the listener's initializer (declaration order)
    }

    companion object {
        private const val TAG = "CameraPreview"

        /** The smallest 4:3 size of at least 640x480 (plenty for a 227-px model), else the smallest one. */
        fun choosePreviewSize(sizes: Array<Size>): Size {
            val fourThirds = sizes.filter { it.width * 3 == it.height * 4 && it.width >= 640 }
            return fourThirds.minByOrNull { it.width * it.height }
                ?: sizes.filter { it.width >= 640 }.minByOrNull { it.width * it.height }
                ?: sizes.maxByOrNull { it.width * it.height }
                ?: Size(640, 480)
        }
    }
}
