package org.squeezekit.demo.core

import java.io.File
import java.io.IOException
import java.nio.charset.StandardCharsets
import java.util.zip.CRC32
import java.util.zip.DataFormatException
import java.util.zip.Inflater
import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject

/** Element type of a model's input or output tensor. [min]/[max] bound the quantized integer types. */
enum class TensorType(val jsonName: String, val bytes: Int, val min: Int, val max: Int) {
    FLOAT32("float32", 4, 0, 0),
    INT8("int8", 1, -128, 127),
    UINT8("uint8", 1, 0, 255);

    val quantized: Boolean get() = this != FLOAT32

    companion object {
        fun fromJson(name: String): TensorType? = entries.firstOrNull { it.jsonName == name }
    }
}

/** Affine quantization of a tensor: real = (q - zeroPoint) * scale. [scale] is float32, as in the model. */
data class Quantization(val scale: Float, val zeroPoint: Int)

enum class ChannelOrder { RGB, BGR }

/** What the output holds: probabilities are used as they are, logits go through a softmax. */
enum class OutputKind(val jsonName: String) {
    PROBABILITIES("probabilities"),
    LOGITS("logits");

    companion object {
        fun fromJson(name: String): OutputKind? = entries.firstOrNull { it.jsonName == name }
    }
}

/**
 * The squeezekit metadata of an exported .tflite: `squeezekit.json` and `labels.txt` from the zip appended to
 * the flatbuffer (format "squeezekit-tflite/1", documented in the Python project's BUILD.md, "Model metadata").
 * Everything needed to feed the model ([Preprocessor]) and read its output ([Postprocessor]).
 */
class ModelMetadata(
    /** Human name, e.g. "1.0-SqNxt-23 (int8)". */
    val name: String,
    val inputHeight: Int,
    val inputWidth: Int,
    val inputType: TensorType,
    /** Non-null exactly when [inputType] is quantized. */
    val inputQuantization: Quantization?,
    val channelOrder: ChannelOrder,
    /** Per channel, in [channelOrder], in 0-255 pixel units (float32 as numpy holds them). */
    val mean: FloatArray,
    val std: FloatArray,
    /** The short side is resized to inputHeight / cropFraction before the center crop. */
    val cropFraction: Double,
    val outputType: TensorType,
    /** Non-null exactly when [outputType] is quantized. */
    val outputQuantization: Quantization?,
    val outputKind: OutputKind,
    /** One per output class, in output order. */
    val labels: List<String>,
    /** The whole squeezekit.json, for anything else a screen wants to show. */
    val json: JSONObject,
) {
    val classes: Int get() = labels.size

    /** Bytes of the input tensor (batch 1, NHWC). */
    val inputBytes: Int get() = inputHeight * inputWidth * 3 * inputType.bytes

    /** Bytes of the output tensor (batch 1). */
    val outputBytes: Int get() = classes * outputType.bytes

    companion object {
        const val FORMAT = "squeezekit-tflite/1"
        const val INFO_FILE = "squeezekit.json"
        const val LABELS_FILE = "labels.txt"
        const val NO_METADATA = "model has no squeezekit metadata: export it with python -m squeezekit.export"

        /** Reads and parses [file]; see [parse]. */
        @Throws(ModelException::class)
        fun read(file: File): ModelMetadata = parse(readModelFile(file), file.name)

        /** The bytes of [file], or a [ModelException] that says why not. */
        @Throws(ModelException::class)
        fun readModelFile(file: File): ByteArray {
            if (!file.isFile) throw ModelException("model file not found: ${file.path}")
            val bytes = try {
                file.readBytes()
            } catch (e: IOException) {
                throw ModelException("cannot read model file ${file.path}: ${e.message}", e)
            }
            if (bytes.isEmpty()) throw ModelException("model file is empty: ${file.path}")
            return bytes
        }

        /**
         * Parses the squeezekit metadata of the .tflite [content]. [source] names the file in messages.
         * Throws [ModelException] when the bytes are empty, not a TFLite flatbuffer, carry no squeezekit
         * metadata, or describe something other than an image classifier this demo can run.
         */
        @Throws(ModelException::class)
        fun parse(content: ByteArray, source: String = "model"): ModelMetadata {
            if (content.isEmpty()) throw ModelException("$source is empty")
            checkTflite(content, source)
            val files = try {
                AppendedZip.read(content)
            } catch (e: ZipFormatException) {
                throw ModelException("$source: $NO_METADATA (${e.message})", e)
            }
            val infoBytes = files[INFO_FILE] ?: throw ModelException("$source: $NO_METADATA")
            val labelBytes = files[LABELS_FILE] ?: throw ModelException("$source: $NO_METADATA")
            val json = try {
                JSONObject(String(infoBytes, StandardCharsets.UTF_8))
            } catch (e: JSONException) {
                throw ModelException("$source: $INFO_FILE is not valid JSON (${e.message?.lineSequence()?.first()})", e)
            }
            // As Python's decode().split("\n")[:-1]: one label per line, the file ends with a newline.
            val labels = String(labelBytes, StandardCharsets.UTF_8).split("\n").dropLast(1)
            return try {
                fromJson(json, labels, source)
            } catch (e: JSONException) {
                throw ModelException("$source: malformed $INFO_FILE (${e.message?.lineSequence()?.first()})", e)
            }
        }

        /** Throws unless bytes 4..8 are the TFLite file identifier "TFL3". */
        @Throws(ModelException::class)
        fun checkTflite(content: ByteArray, source: String = "model") {
            val ok = content.size >= 8 && content[4] == 'T'.code.toByte() && content[5] == 'F'.code.toByte() &&
                content[6] == 'L'.code.toByte() && content[7] == '3'.code.toByte()
            if (!ok) throw ModelException("$source is not a TFLite model (no TFL3 file identifier)")
        }

        private fun fromJson(json: JSONObject, labels: List<String>, source: String): ModelMetadata {
            val format = json.optString("format")
            if (format != FORMAT) {
                throw ModelException("$source: unsupported metadata format '$format' (this app reads $FORMAT)")
            }
            val input = json.getJSONObject("input")
            val output = json.getJSONObject("output")
            val inShape = ints(input.getJSONArray("shape"))
            if (inShape.size != 4 || inShape[0] != 1 || inShape[3] != 3 || inShape[1] <= 0 || inShape[2] <= 0) {
                throw ModelException("$source is not an image classifier: input shape ${inShape.toList()}, expected [1, H, W, 3]")
            }
            if (inShape[1] != inShape[2]) {
                throw ModelException("$source: input ${inShape[1]}x${inShape[2]} is not square; the demo crops squares")
            }
            val outShape = ints(output.getJSONArray("shape"))
            if (outShape.size != 2 || outShape[0] != 1 || outShape[1] <= 0) {
                throw ModelException("$source is not an image classifier: output shape ${outShape.toList()}, expected [1, N]")
            }
            if (labels.size != outShape[1]) {
                throw ModelException("$source is not an image classifier: ${labels.size} labels for ${outShape[1]} outputs")
            }
            val inType = tensorType(input, "input", source)
            val outType = tensorType(output, "output", source)
            val order = when (val o = input.optString("channel_order", "RGB")) {
                "RGB" -> ChannelOrder.RGB
                "BGR" -> ChannelOrder.BGR
                else -> throw ModelException("$source: unsupported channel order '$o' (RGB or BGR)")
            }
            val mean = floats(input.getJSONArray("mean"))
            val std = floats(input.getJSONArray("std"))
            if (mean.size != 3 || std.size != 3 || std.any { it == 0f }) {
                throw ModelException("$source: input mean and std must hold 3 values each, std non-zero")
            }
            val crop = input.optDouble("crop_fraction", 1.0)
            if (!(crop > 0.0 && crop <= 1.0)) throw ModelException("$source: crop_fraction $crop is not in (0, 1]")
            val kind = output.optString("kind", OutputKind.PROBABILITIES.jsonName)
            val outputKind = OutputKind.fromJson(kind)
                ?: throw ModelException("$source: unsupported output kind '$kind' (probabilities or logits)")
            val name = listOf(json.optString("paper_name"), json.optString("model")).firstOrNull { it.isNotEmpty() }
                ?: source
            val flavour = json.optString("flavour")
            return ModelMetadata(
                name = if (flavour.isEmpty()) name else "$name ($flavour)",
                inputHeight = inShape[1],
                inputWidth = inShape[2],
                inputType = inType,
                inputQuantization = quantization(input, inType, "input", source),
                channelOrder = order,
                mean = mean,
                std = std,
                cropFraction = crop,
                outputType = outType,
                outputQuantization = quantization(output, outType, "output", source),
                outputKind = outputKind,
                labels = labels,
                json = json,
            )
        }

        private fun tensorType(spec: JSONObject, what: String, source: String): TensorType {
            val dtype = spec.getString("dtype")
            return TensorType.fromJson(dtype)
                ?: throw ModelException("$source: unsupported $what dtype '$dtype' (float32, int8 or uint8)")
        }

        private fun quantization(spec: JSONObject, type: TensorType, what: String, source: String): Quantization? {
            if (!type.quantized) return null
            val q = spec.optJSONObject("quantization")
                ?: throw ModelException("$source: $what is ${type.jsonName} but has no quantization parameters")
            val scale = q.getDouble("scale").toFloat()
            val zero = q.getInt("zero_point")
            if (!(scale > 0f) || scale.isInfinite() || zero < type.min || zero > type.max) {
                throw ModelException("$source: invalid $what quantization (scale $scale, zero point $zero)")
            }
            return Quantization(scale, zero)
        }

        private fun ints(a: JSONArray) = IntArray(a.length()) { a.getInt(it) }
        private fun floats(a: JSONArray) = FloatArray(a.length()) { a.getDouble(it).toFloat() }
    }
}

internal class ZipFormatException(message: String) : Exception(message)

/**
 * Reader of the zip appended to a TFLite flatbuffer (as the TFLite metadata populator and Python's zipfile in
 * append mode write it): End Of Central Directory found from the end, then the central directory, then each
 * local header. Offsets are taken as absolute from the start of the file; an archive whose offsets count from
 * its own start is read too (the shift is the distance between the recorded and the actual directory).
 */
internal object AppendedZip {
    private const val EOCD_SIG = 0x06054b50
    private const val CEN_SIG = 0x02014b50
    private const val LOC_SIG = 0x04034b50
    private const val EOCD_SIZE = 22
    private const val MAX_ENTRY = 64 shl 20

    /** name -> uncompressed bytes of every file in the archive. */
    fun read(data: ByteArray): Map<String, ByteArray> {
        val eocd = findEocd(data) ?: throw ZipFormatException("no zip archive appended")
        val entries = u16(data, eocd + 10)
        val cdSize = u32(data, eocd + 12)
        val cdOffset = u32(data, eocd + 16)
        val cdStart = eocd.toLong() - cdSize
        if (cdStart < 0) throw ZipFormatException("central directory out of range")
        val shift = cdStart - cdOffset
        val files = LinkedHashMap<String, ByteArray>()
        var p = cdStart.toInt()
        repeat(entries) {
            need(data, p, 46)
            if (s32(data, p) != CEN_SIG) throw ZipFormatException("bad central directory entry")
            val method = u16(data, p + 10)
            val crc = u32(data, p + 16)
            val compressed = u32(data, p + 20)
            val size = u32(data, p + 24)
            val nameLen = u16(data, p + 28)
            val extraLen = u16(data, p + 30)
            val commentLen = u16(data, p + 32)
            val local = u32(data, p + 42) + shift
            need(data, p + 46, nameLen)
            val name = String(data, p + 46, nameLen, StandardCharsets.UTF_8)
            p += 46 + nameLen + extraLen + commentLen
            if (local < 0 || local > data.size - 30L) throw ZipFormatException("local header of $name out of range")
            val l = local.toInt()
            if (s32(data, l) != LOC_SIG) throw ZipFormatException("bad local header of $name")
            val start = l + 30L + u16(data, l + 26) + u16(data, l + 28)
            if (start + compressed > data.size) throw ZipFormatException("$name is truncated")
            if (size > MAX_ENTRY) throw ZipFormatException("$name is too large")
            val bytes = when (method) {
                0 -> data.copyOfRange(start.toInt(), (start + compressed).toInt())
                8 -> inflate(data, start.toInt(), compressed.toInt(), size.toInt(), name)
                else -> throw ZipFormatException("$name uses unsupported compression method $method")
            }
            if (bytes.size.toLong() != size) throw ZipFormatException("$name has the wrong size")
            val check = CRC32().apply { update(bytes) }.value
            if (check != crc) throw ZipFormatException("$name fails its CRC check")
            files[name] = bytes
        }
        return files
    }

    private fun findEocd(data: ByteArray): Int? {
        val last = data.size - EOCD_SIZE
        val first = maxOf(0, last - 0xFFFF)
        for (i in last downTo first) {
            if (s32(data, i) == EOCD_SIG && i + EOCD_SIZE + u16(data, i + 20) == data.size) return i
        }
        return null
    }

    private fun inflate(data: ByteArray, offset: Int, length: Int, size: Int, name: String): ByteArray {
        val inflater = Inflater(true)
        try {
            inflater.setInput(data, offset, length)
            val out = ByteArray(size)
            var n = 0
            while (n < size) {
                val got = inflater.inflate(out, n, size - n)
                if (got == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) break
                n += got
            }
            if (n != size) throw ZipFormatException("$name does not inflate to $size bytes")
            return out
        } catch (e: DataFormatException) {
            throw ZipFormatException("$name is corrupt (${e.message})")
        } finally {
            inflater.end()
        }
    }

    private fun need(data: ByteArray, p: Int, n: Int) {
        if (p < 0 || p + n > data.size) throw ZipFormatException("truncated central directory")
    }

    private fun u16(b: ByteArray, p: Int) = (b[p].toInt() and 0xFF) or ((b[p + 1].toInt() and 0xFF) shl 8)
    private fun s32(b: ByteArray, p: Int) = u16(b, p) or (u16(b, p + 2) shl 16)
    private fun u32(b: ByteArray, p: Int) = s32(b, p).toLong() and 0xFFFFFFFFL
}
