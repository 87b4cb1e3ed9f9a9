package org.squeezekit.demo

import android.Manifest
import android.app.Activity
import android.content.Context
import android.content.Intent
import android.content.SharedPreferences
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.graphics.Typeface
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.os.Handler
import android.os.HandlerThread
import android.os.Looper
import android.view.Gravity
import android.view.View
import android.view.ViewGroup
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.FrameLayout
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.Spinner
import android.widget.TextView
import android.view.TextureView
import java.io.File
import java.io.IOException
import java.util.Locale
import java.util.concurrent.atomic.AtomicBoolean
import org.squeezekit.demo.core.ModelException
import org.squeezekit.demo.core.Recognition
import org.squeezekit.demo.core.RunningAverage

/**
 * The demo's one screen: live camera preview (or a picked photo), the top-5 classes with their probabilities,
 * the inference time averaged over the last [AVERAGE_FRAMES] frames, and the settings (threads, CPU/GPU).
 *
 * Framework APIs only (no AndroidX, no R class: the views are built in code), so the whole app compiles
 * against android-all in the JVM build. All model work happens on one background thread that owns the
 * [ImageClassifier]; the UI only shows results.
 */
class MainActivity : Activity() {
    private lateinit var prefs: SharedPreferences
    private lateinit var textureView: TextureView
    private lateinit var photoView: ImageView
    private lateinit var resultsView: TextView
    private lateinit var statusView: TextView
    private lateinit var liveButton: Button
    private lateinit var camera: CameraPreview

    private val main = Handler(Looper.getMainLooper())
    private lateinit var workerThread: HandlerThread
    private lateinit var worker: Handler

    // Owned by the worker thread.
    private var classifier: ImageClassifier? = null
    private val average = RunningAverage(AVERAGE_FRAMES)

    private val busy = AtomicBoolean(false)
    private var live = true
    private var modelStatus = "loading the model..."

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        prefs = getSharedPreferences("settings", Context.MODE_PRIVATE)
        setContentView(buildViews())
        camera = CameraPreview(this, textureView,
            displayRotation = {
                @Suppress("DEPRECATION") // Activity.display is API 30+
                windowManager.defaultDisplay.rotation
            },
            onFrame = { grabFrame() },
            onError = { message -> main.post { showStatus("$modelStatus\n$message") } })
        workerThread = HandlerThread("classifier").also { it.start() }
        worker = Handler(workerThread.looper)
        reloadClassifier()
    }

    override fun onResume() {
        super.onResume()
        if (live) startCamera()
    }

    override fun onPause() {
        camera.stop()
        super.onPause()
    }

    override fun onDestroy() {
        worker.post {
            classifier?.close()
            classifier = null
        }
        workerThread.quitSafely()
        super.onDestroy()
    }

    // ---- views -------------------------------------------------------------------------------------------

    private fun dp(v: Int): Int = (v * resources.displayMetrics.density).toInt()

    private fun buildViews(): View {
        val root = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }

        val preview = FrameLayout(this)
        textureView = TextureView(this)
        photoView = ImageView(this).apply {
            scaleType = ImageView.ScaleType.FIT_CENTER
            visibility = View.GONE
            setBackgroundColor(0xFF000000.toInt())
        }
        preview.addView(textureView, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT))
        preview.addView(photoView, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT))
        root.addView(preview, LinearLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, 0, 1f))

        resultsView = TextView(this).apply {
            typeface = Typeface.MONOSPACE
            textSize = 15f
            setPadding(dp(12), dp(8), dp(12), dp(4))
            minLines = 5
        }
        root.addView(resultsView)
        statusView = TextView(this).apply {
            textSize = 13f
            setPadding(dp(12), 0, dp(12), dp(8))
        }
        root.addView(statusView)

        val controls = LinearLayout(this).apply {
            orientation = LinearLayout.HORIZONTAL
            gravity = Gravity.CENTER_VERTICAL
            setPadding(dp(8), 0, dp(8), dp(8))
        }
        liveButton = Button(this).apply {
            text = "Camera"
            setOnClickListener { goLive() }
        }
        controls.addView(liveButton)
        controls.addView(Button(this).apply {
            text = "Gallery"
            setOnClickListener { pickImage() }
        })
        controls.addView(Button(this).apply {
            text = "Model"
            setOnClickListener { pickModel() }
        })
        controls.addView(settingSpinner(listOf("1 thread", "2 threads", "3 threads", "4 threads"),
            prefs.getInt(KEY_THREADS, 2) - 1) {
            val changed = prefs.getInt(KEY_THREADS, 2) != it + 1
            prefs.edit().putInt(KEY_THREADS, it + 1).apply()
            changed
        })
        controls.addView(settingSpinner(listOf("CPU", "GPU"), if (prefs.getBoolean(KEY_GPU, false)) 1 else 0) {
            val changed = prefs.getBoolean(KEY_GPU, false) != (it == 1)
            prefs.edit().putBoolean(KEY_GPU, it == 1).apply()
            changed
        })
        root.addView(controls)
        return root
    }

    /**
     * A spinner that stores the picked item with [onChange] (which says whether the setting changed) and then
     * reloads the classifier; the callback a Spinner makes for its initial selection changes nothing.
     */
    private fun settingSpinner(items: List<String>, selected: Int, onChange: (Int) -> Boolean): Spinner =
        Spinner(this).apply {
            adapter = ArrayAdapter(this@MainActivity, android.R.layout.simple_spinner_dropdown_item, items)
            setSelection(selected.coerceIn(0, items.size - 1), false)
            onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
                override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                    if (onChange(position)) reloadClassifier()
                }

                override fun onNothingSelected(parent: AdapterView<*>?) = Unit
            }
        }

    private fun showStatus(message: String) {
        statusView.text = message
    }

    private fun showResults(top: List<Recognition>) {
        resultsView.text = top.joinToString("\n") {
            String.format(Locale.US, "%6.2f%%  %s", it.probability * 100, it.label)
        }
    }

    // ---- model -------------------------------------------------------------------------------------------

    private fun settings() = ImageClassifier.Settings(prefs.getInt(KEY_THREADS, 2), prefs.getBoolean(KEY_GPU, false))

    /** (Re)creates the classifier on the worker thread with the current settings and model. */
    private fun reloadClassifier() {
        val settings = settings()
        val picked = File(filesDir, PICKED_MODEL).takeIf { prefs.getBoolean(KEY_PICKED, false) && it.isFile }
        worker.post {
            classifier?.close()
            classifier = null
            average.clear()
            val status = try {
                val c = if (picked != null) ImageClassifier.fromFile(picked, settings) else ImageClassifier.fromAsset(this, settings)
                classifier = c
                val m = c.metadata
                val base = "${m.name}: ${m.inputHeight}x${m.inputWidth} ${m.channelOrder} ${m.inputType.jsonName}, " +
                    "${m.classes} classes, ${c.settings.label}"
                if (c.fallbackMessage != null) "$base\n${c.fallbackMessage}" else base
            } catch (e: ModelException) {
                "error: ${e.message}"
            }
            main.post {
                modelStatus = status
                showStatus(status)
                if (classifier == null) resultsView.text = ""
            }
        }
    }

    /** Classifies [bitmap] on the worker thread and shows the result; drops the frame if one is in flight. */
    private fun classify(bitmap: Bitmap, recycle: Boolean) {
        if (!busy.compareAndSet(false, true)) {
            if (recycle) bitmap.recycle()
            return
        }
        worker.post {
            try {
                val c = classifier ?: return@post
                val result = c.classify(bitmap, 5)
                average.add(result.inferenceMs)
                val frames = average.count
                val timing = String.format(Locale.US, "inference %.1f ms (mean of last %d), preprocessing %.1f ms",
                    average.mean, frames, result.preprocessMs)
                main.post {
                    showResults(result.top)
                    showStatus("$modelStatus\n$timing")
                }
            } finally {
                if (recycle) bitmap.recycle()
                busy.set(false)
                if (live) main.post { grabFrame() }
            }
        }
    }

    // ---- camera ------------------------------------------------------------------------------------------

    private fun startCamera() {
        if (checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(arrayOf(Manifest.permission.CAMERA), REQUEST_CAMERA)
            return
        }
        camera.start()
    }

    /**
     * The current preview frame, at most [FRAME_MAX_SIDE] px on its long side, to the classifier; called for
     * every new preview frame and after every classification, so frames are taken while the model is idle.
     */
    private fun grabFrame() {
        if (!live || !textureView.isAvailable || busy.get()) return
        val w = textureView.width
        val h = textureView.height
        if (w == 0 || h == 0) return
        val scale = minOf(1f, FRAME_MAX_SIDE.toFloat() / maxOf(w, h))
        val bitmap = textureView.getBitmap((w * scale).toInt().coerceAtLeast(1), (h * scale).toInt().coerceAtLeast(1)) ?: return
        classify(bitmap, recycle = true)
    }

    private fun goLive() {
        live = true
        photoView.visibility = View.GONE
        textureView.visibility = View.VISIBLE
        average.clear()
        startCamera()
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode != REQUEST_CAMERA) return
        if (grantResults.firstOrNull() == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            live = false
            showStatus("$modelStatus\nno camera permission: pick a photo from the gallery")
        }
    }

    // ---- gallery and model picking -----------------------------------------------------------------------

    private fun pickImage() {
        val intent = Intent(Intent.ACTION_GET_CONTENT).setType("image/*").addCategory(Intent.CATEGORY_OPENABLE)
        startActivityForResult(Intent.createChooser(intent, "Pick a photo"), REQUEST_IMAGE)
    }

    private fun pickModel() {
        val intent = Intent(Intent.ACTION_GET_CONTENT).setType("*/*").addCategory(Intent.CATEGORY_OPENABLE)
        startActivityForResult(Intent.createChooser(intent, "Pick an exported .tflite"), REQUEST_MODEL)
    }

    @Deprecated("Activity result API of the framework; AndroidX is not used here.")
    @Suppress("DEPRECATION")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        val uri = data?.data
        if (resultCode != RESULT_OK || uri == null) return
        when (requestCode) {
            REQUEST_IMAGE -> showPhoto(uri)
            REQUEST_MODEL -> usePickedModel(uri)
        }
    }

    private fun showPhoto(uri: Uri) {
        val bitmap = try {
            decode(uri)
        } catch (e: IOException) {
            null
        } catch (e: SecurityException) {
            null
        }
        if (bitmap == null) {
            showStatus("$modelStatus\ncannot decode that file as an image")
            return
        }
        live = false
        camera.stop()
        textureView.visibility = View.GONE
        photoView.visibility = View.VISIBLE
        photoView.setImageBitmap(bitmap)
        average.clear()
        busy.set(false)
        classify(bitmap, recycle = false)
    }

    /** A software ARGB_8888 bitmap of the image at [uri], subsampled when larger than [PHOTO_MAX_SIDE]. */
    @Throws(IOException::class)
    private fun decode(uri: Uri): Bitmap? {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            val source = ImageDecoder.createSource(contentResolver, uri)
            return ImageDecoder.decodeBitmap(source) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                val side = maxOf(info.size.width, info.size.height)
                if (side > PHOTO_MAX_SIDE) {
                    val s = PHOTO_MAX_SIDE.toFloat() / side
                    decoder.setTargetSize((info.size.width * s).toInt().coerceAtLeast(1), (info.size.height * s).toInt().coerceAtLeast(1))
                }
            }
        }
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        contentResolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, bounds) }
        var sample = 1
        while (maxOf(bounds.outWidth, bounds.outHeight) / sample > PHOTO_MAX_SIDE) sample *= 2
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        return contentResolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, options) }
    }

    /** Copies the picked file into the app's files and loads it (the bundled asset stays as the default). */
    private fun usePickedModel(uri: Uri) {
        val target = File(filesDir, PICKED_MODEL)
        try {
            contentResolver.openInputStream(uri)?.use { input -> target.outputStream().use { input.copyTo(it) } }
                ?: throw IOException("no data")
        } catch (e: IOException) {
            showStatus("cannot copy that model: ${e.message}")
            return
        } catch (e: SecurityException) {
            showStatus("cannot read that model: ${e.message}")
            return
        }
        prefs.edit().putBoolean(KEY_PICKED, true).apply()
        reloadClassifier()
    }

    companion object {
        /** Inference times are averaged over this many frames. */
        const val AVERAGE_FRAMES = 20
        private const val FRAME_MAX_SIDE = 640
        private const val PHOTO_MAX_SIDE = 4096
        private const val REQUEST_CAMERA = 1
        private const val REQUEST_IMAGE = 2
        private const val REQUEST_MODEL = 3
        private const val KEY_THREADS = "threads"
        private const val KEY_GPU = "gpu"
        private const val KEY_PICKED = "picked_model"
        private const val PICKED_MODEL = "picked.tflite"
    }
}
