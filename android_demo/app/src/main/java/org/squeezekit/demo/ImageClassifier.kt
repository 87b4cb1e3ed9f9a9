package org.squeezekit.demo

import android.content.Context
import android.graphics.Bitmap
import android.os.Build
import android.os.SystemClock
import android.util.Log
import java.io.Closeable
import java.io.File
import java.io.FileNotFoundException
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.squeezekit.demo.core.ModelException
import org.squeezekit.demo.core.ModelMetadata
import org.squeezekit.demo.core.Postprocessor
import org.squeezekit.demo.core.Preprocessor
import org.squeezekit.demo.core.Recognition
import org.squeezekit.demo.core.TensorType
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.GpuDelegate

/**
 * One exported .tflite and its LiteRT [Interpreter]: Bitmap in, top-k classes and the inference time out.
 *
 * The model's squeezekit metadata ([ModelMetadata]) drives everything; preprocessing and postprocessing are the
 * plain-Kotlin [Preprocessor] and [Postprocessor] (unit-tested on the JVM against the Python reference).
 * Not thread-safe: use one instance from one thread (MainActivity keeps it on its inference thread).
 */
class ImageClassifier private constructor(
    val metadata: ModelMetadata,
    private val interpreter: Interpreter,
    private val gpuDelegate: GpuDelegate?,
    /** The options the interpreter actually runs with (GPU may have fallen back to CPU). */
    val settings: Settings,
    /** Why the GPU was not used although asked for, or null. One line, fit for the screen. */
    val fallbackMessage: String?,
) : Closeable {

    /** Threads for the CPU kernels (1-4 in the UI) and whether to try the GPU delegate. */
    data class Settings(val threads: Int = 2, val useGpu: Boolean = false) {
        val label: String get() = if (useGpu) "GPU" else "CPU, $threads thread${if (threads == 1) "" else "s"}"
    }

    /** One classification: best classes first, and the times of its two halves in milliseconds. */
    data class Result(val top: List<Recognition>, val inferenceMs: Double, val preprocessMs: Double)

    private val preprocessor = Preprocessor(metadata)
    private val postprocessor = Postprocessor(metadata)
    private val input: ByteBuffer = ByteBuffer.allocateDirect(metadata.inputBytes).order(ByteOrder.nativeOrder())
    private val output: ByteBuffer = ByteBuffer.allocateDirect(metadata.outputBytes).order(ByteOrder.nativeOrder())
    private val outputBytes = ByteArray(metadata.outputBytes)
    private var pixels = IntArray(0)

    /** Classifies [bitmap] (any size; it is resized and center-cropped as the Python reference does). */
    fun classify(bitmap: Bitmap, k: Int = 5): Result {
        val start = SystemClock.elapsedRealtimeNanos()
        val source = softwareBitmap(bitmap)
        val w = source.width
        val h = source.height
        if (pixels.size != w * h) pixels = IntArray(w * h)
        // Non-premultiplied ARGB, row-major: what Preprocessor (and Pillow's convert("RGB")) expects.
        source.getPixels(pixels, 0, w, 0, 0, w, h)
        if (source !== bitmap) source.recycle()
        val tensor = preprocessor.preprocess(pixels, w, h)
        input.clear()
        input.put(tensor)
        input.rewind()
        output.clear()
        val ready = SystemClock.elapsedRealtimeNanos()
        interpreter.run(input, output)
        val done = SystemClock.elapsedRealtimeNanos()
        output.rewind()
        output.get(outputBytes)
        return Result(postprocessor.topK(outputBytes, k), (done - ready) / 1e6, (ready - start) / 1e6)
    }

    override fun close() {
        interpreter.close()
        gpuDelegate?.close()
    }

    companion object {
        private const val TAG = "ImageClassifier"

        /** Where the app looks for its model: app/src/main/assets/model.tflite in the project. */
        const val ASSET_NAME = "model.tflite"

        /** The model bundled in the APK's assets. */
        @Throws(ModelException::class)
        fun fromAsset(context: Context, settings: Settings, name: String = ASSET_NAME): ImageClassifier {
            val bytes = try {
                context.assets.open(name).use { it.readBytes() }
            } catch (e: FileNotFoundException) {
                throw ModelException("no model in the app: copy an exported .tflite to app/src/main/assets/$name " +
                    "(python -m squeezekit.export --android_demo android_demo/) and rebuild", e)
            } catch (e: IOException) {
                throw ModelException("cannot read asset $name: ${e.message}", e)
            }
            return create(bytes, settings, name)
        }

        /** A model file on the device (e.g. one picked in the app and copied to its files directory). */
        @Throws(ModelException::class)
        fun fromFile(file: File, settings: Settings): ImageClassifier =
            create(ModelMetadata.readModelFile(file), settings, file.name)

        /** The .tflite [content]: metadata first (clear errors for any file), then the interpreter. */
        @Throws(ModelException::class)
        fun create(content: ByteArray, settings: Settings, source: String = "model"): ImageClassifier {
            val metadata = ModelMetadata.parse(content, source)
            // The interpreter keeps reading the model from this buffer: it must be direct and outlive it.
            val model = ByteBuffer.allocateDirect(content.size).order(ByteOrder.nativeOrder())
            model.put(content)
            model.rewind()
            val threads = settings.threads.coerceIn(1, 4)
            if (settings.useGpu) {
                var delegate: GpuDelegate? = null
                try {
                    delegate = GpuDelegate()
                    val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(threads).addDelegate(delegate))
                    return checked(metadata, interpreter, delegate, Settings(threads, true), null)
                } catch (e: ModelException) {
                    delegate?.close()
                    throw e
                } catch (e: Exception) {
                    delegate?.close()
                    Log.w(TAG, "GPU delegate failed, falling back to CPU", e)
                    return cpu(metadata, model, threads, gpuFallback(e))
                } catch (e: LinkageError) { // no GPU delegate native library for this ABI
                    delegate?.close()
                    Log.w(TAG, "GPU delegate not loadable, falling back to CPU", e)
                    return cpu(metadata, model, threads, gpuFallback(e))
                }
            }
            return cpu(metadata, model, threads, null)
        }

        private fun gpuFallback(e: Throwable): String {
            val reason = (e.message ?: e.javaClass.simpleName).lineSequence().first().take(160)
            return "GPU delegate unavailable on this device ($reason); running on the CPU instead"
        }

        private fun cpu(metadata: ModelMetadata, model: ByteBuffer, threads: Int, fallback: String?): ImageClassifier {
            val interpreter = try {
                Interpreter(model, Interpreter.Options().setNumThreads(threads))
            } catch (e: IllegalArgumentException) {
                throw ModelException("LiteRT cannot load the model: ${e.message?.lineSequence()?.first()}", e)
            }
            return checked(metadata, interpreter, null, Settings(threads, false), fallback)
        }

        /** The interpreter's tensors must be what the metadata says, or the bytes would be misread. */
        private fun checked(
            metadata: ModelMetadata, interpreter: Interpreter, delegate: GpuDelegate?, settings: Settings, fallback: String?,
        ): ImageClassifier {
            val inTensor = interpreter.getInputTensor(0)
            val outTensor = interpreter.getOutputTensor(0)
            val problem = when {
                interpreter.inputTensorCount != 1 || interpreter.outputTensorCount != 1 ->
                    "the model has ${interpreter.inputTensorCount} inputs and ${interpreter.outputTensorCount} outputs, expected 1 and 1"
                !inTensor.shape().contentEquals(intArrayOf(1, metadata.inputHeight, metadata.inputWidth, 3)) ->
                    "input tensor ${inTensor.shape().toList()} does not match the metadata"
                inTensor.dataType() != dataType(metadata.inputType) ->
                    "input tensor type ${inTensor.dataType()} does not match the metadata (${metadata.inputType.jsonName})"
                !outTensor.shape().contentEquals(intArrayOf(1, metadata.classes)) ->
                    "output tensor ${outTensor.shape().toList()} does not match the metadata"
                outTensor.dataType() != dataType(metadata.outputType) ->
                    "output tensor type ${outTensor.dataType()} does not match the metadata (${metadata.outputType.jsonName})"
                else -> null
            }
            if (problem != null) {
                interpreter.close()
                delegate?.close()
                throw ModelException(problem)
            }
            return ImageClassifier(metadata, interpreter, delegate, settings, fallback)
        }

        private fun dataType(type: TensorType): DataType = when (type) {
            TensorType.FLOAT32 -> DataType.FLOAT32
            TensorType.INT8 -> DataType.INT8
            TensorType.UINT8 -> DataType.UINT8
        }

        /** getPixels needs a software bitmap: hardware ones (API 26+) are copied first. */
        private fun softwareBitmap(bitmap: Bitmap): Bitmap =
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.O && bitmap.config == Bitmap.Config.HARDWARE) {
                bitmap.copy(Bitmap.Config.ARGB_8888, false)
            } else {
                bitmap
            }
    }
}
