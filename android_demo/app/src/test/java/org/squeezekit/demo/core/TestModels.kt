package org.squeezekit.demo.core

import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.ZipEntry
import java.util.zip.ZipOutputStream
import org.json.JSONArray
import org.json.JSONObject

/** Synthetic .tflite files: a fake flatbuffer head with "TFL3" and an appended zip, as the exporter writes. */
object TestModels {
    /** Flatbuffer-like bytes: a root offset, the TFL3 identifier, some padding. */
    fun flatbuffer(size: Int = 64): ByteArray = ByteArray(size) { if (it < 8) "\u001c\u0000\u0000\u0000TFL3"[it].code.toByte() else (it * 31).toByte() }

    fun info(
        inShape: List<Int> = listOf(1, 4, 4, 3),
        inType: String = "int8",
        inQuant: JSONObject? = JSONObject().put("scale", 0.5).put("zero_point", -3),
        order: String = "BGR",
        mean: List<Double> = listOf(104.0, 117.0, 123.0),
        std: List<Double> = listOf(1.0, 1.0, 1.0),
        crop: Double = 0.875,
        outShape: List<Int> = listOf(1, 3),
        outType: String = "uint8",
        outQuant: JSONObject? = JSONObject().put("scale", 0.00390625).put("zero_point", 0),
        kind: String = "probabilities",
    ): JSONObject = JSONObject()
        .put("format", "squeezekit-tflite/1")
        .put("model", "test_model").put("paper_name", "Test-Net").put("flavour", inType)
        .put("input", JSONObject().put("shape", JSONArray(inShape)).put("dtype", inType)
            .put("quantization", inQuant ?: JSONObject.NULL).put("channel_order", order)
            .put("mean", JSONArray(mean)).put("std", JSONArray(std)).put("pixel_range", JSONArray(listOf(0, 255)))
            .put("crop_fraction", crop))
        .put("output", JSONObject().put("shape", JSONArray(outShape)).put("dtype", outType)
            .put("quantization", outQuant ?: JSONObject.NULL).put("kind", kind).put("labels", "labels.txt"))
        .put("classes", outShape.last())

    fun labels(n: Int) = (0 until n).joinToString("") { "class_$it\n" }

    /** [head] followed by a zip of [files]; offsets absolute from the start of the file unless [relative]. */
    fun withZip(head: ByteArray, files: Map<String, String>, relative: Boolean = false, method: Int = ZipEntry.DEFLATED): ByteArray {
        val zip = ByteArrayOutputStream()
        ZipOutputStream(zip).use { zos ->
            zos.setMethod(method)
            for ((name, text) in files) {
                val bytes = text.toByteArray()
                val entry = ZipEntry(name)
                if (method == ZipEntry.STORED) {
                    entry.size = bytes.size.toLong()
                    entry.compressedSize = bytes.size.toLong()
                    entry.crc = java.util.zip.CRC32().apply { update(bytes) }.value
                }
                zos.putNextEntry(entry)
                zos.write(bytes)
                zos.closeEntry()
            }
        }
        val z = zip.toByteArray()
        if (!relative) shiftOffsets(z, head.size)
        return head + z
    }

    /** Adds [shift] to the central directory's local header offsets and to the EOCD's directory offset. */
    private fun shiftOffsets(z: ByteArray, shift: Int) {
        val b = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN)
        val eocd = (z.size - 22 downTo 0).first { b.getInt(it) == 0x06054b50 }
        val entries = b.getShort(eocd + 10).toInt()
        val cd = b.getInt(eocd + 16)
        b.putInt(eocd + 16, cd + shift)
        var p = cd
        repeat(entries) {
            b.putInt(p + 42, b.getInt(p + 42) + shift)
            p += 46 + b.getShort(p + 28) + b.getShort(p + 30) + b.getShort(p + 32)
        }
    }

    fun model(info: JSONObject = info(), labels: String = labels(3), relative: Boolean = false): ByteArray =
        withZip(flatbuffer(), mapOf("labels.txt" to labels, "squeezekit.json" to info.toString(2)), relative)

    fun metadata(info: JSONObject = info(), labels: String = labels(3)): ModelMetadata =
        ModelMetadata.parse(model(info, labels), "test.tflite")
}
