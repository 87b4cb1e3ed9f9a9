package org.squeezekit.demo.core

import java.io.File
import java.nio.file.Files
import java.util.zip.ZipEntry
import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class ModelMetadataTest {
    private fun assertFails(expected: String, block: () -> Unit) {
        try {
            block()
            fail("expected a ModelException containing '$expected'")
        } catch (e: ModelException) {
            assertTrue("message '${e.message}' should contain '$expected'", e.message!!.contains(expected))
            assertTrue("message should be one line: '${e.message}'", !e.message!!.contains('\n'))
        }
    }

    @Test
    fun parsesEveryField() {
        val m = TestModels.metadata()
        assertEquals("Test-Net (int8)", m.name)
        assertEquals(4, m.inputHeight)
        assertEquals(4, m.inputWidth)
        assertEquals(TensorType.INT8, m.inputType)
        assertEquals(Quantization(0.5f, -3), m.inputQuantization)
        assertEquals(ChannelOrder.BGR, m.channelOrder)
        assertArrayEquals(floatArrayOf(104f, 117f, 123f), m.mean, 0f)
        assertArrayEquals(floatArrayOf(1f, 1f, 1f), m.std, 0f)
        assertEquals(0.875, m.cropFraction, 0.0)
        assertEquals(TensorType.UINT8, m.outputType)
        assertEquals(Quantization(0.00390625f, 0), m.outputQuantization)
        assertEquals(OutputKind.PROBABILITIES, m.outputKind)
        assertEquals(listOf("class_0", "class_1", "class_2"), m.labels)
        assertEquals(4 * 4 * 3, m.inputBytes)
        assertEquals(3, m.outputBytes)
    }

    @Test
    fun floatModelHasNoQuantization() {
        val m = TestModels.metadata(TestModels.info(inType = "float32", inQuant = null, outType = "float32",
            outQuant = null, order = "RGB", kind = "logits"))
        assertEquals(TensorType.FLOAT32, m.inputType)
        assertNull(m.inputQuantization)
        assertNull(m.outputQuantization)
        assertEquals(ChannelOrder.RGB, m.channelOrder)
        assertEquals(OutputKind.LOGITS, m.outputKind)
        assertEquals(4 * 4 * 3 * 4, m.inputBytes)
        assertEquals(12, m.outputBytes)
    }

    @Test
    fun scaleIsTheFloat32OfTheJsonValue() {
        val m = TestModels.metadata(TestModels.info(inQuant = JSONObject().put("scale", 1.074509859085083).put("zero_point", -14)))
        assertEquals(1.074509859085083.toFloat(), m.inputQuantization!!.scale)
    }

    @Test
    fun readsRelativeOffsetsAndStoredEntries() {
        val relative = TestModels.model(relative = true)
        assertEquals(3, ModelMetadata.parse(relative).classes)
        val stored = TestModels.withZip(TestModels.flatbuffer(), mapOf("labels.txt" to TestModels.labels(3),
            "squeezekit.json" to TestModels.info().toString()), method = ZipEntry.STORED)
        assertEquals(3, ModelMetadata.parse(stored).classes)
    }

    @Test
    fun labelsKeepEmptyAndSpacedNames() {
        val m = TestModels.metadata(labels = "a b\n\nc\n")
        assertEquals(listOf("a b", "", "c"), m.labels)
    }

    @Test
    fun emptyAndMissingFiles() {
        assertFails("is empty") { ModelMetadata.parse(ByteArray(0), "x.tflite") }
        assertFails("model file not found") { ModelMetadata.read(File("/nonexistent/model.tflite")) }
        val empty = Files.createTempFile("empty", ".tflite").toFile()
        try {
            assertFails("model file is empty") { ModelMetadata.read(empty) }
        } finally {
            empty.delete()
        }
    }

    @Test
    fun notTflite() {
        assertFails("not a TFLite model") { ModelMetadata.parse("hello world, not a model".toByteArray()) }
        assertFails("not a TFLite model") { ModelMetadata.parse(byteArrayOf(1, 2, 3)) }
        // A zip with the right content but no flatbuffer in front.
        assertFails("not a TFLite model") {
            ModelMetadata.parse(TestModels.withZip(ByteArray(0), mapOf("squeezekit.json" to "{}", "labels.txt" to "")))
        }
    }

    @Test
    fun noMetadata() {
        assertFails(ModelMetadata.NO_METADATA) { ModelMetadata.parse(TestModels.flatbuffer(100)) }
        assertFails(ModelMetadata.NO_METADATA) {
            ModelMetadata.parse(TestModels.withZip(TestModels.flatbuffer(), mapOf("labels.txt" to "a\n")))
        }
        // Standard TFLite metadata only (a zip with labels but not squeezekit.json) is not enough either.
        assertFails("export it with python -m squeezekit.export") {
            ModelMetadata.parse(TestModels.withZip(TestModels.flatbuffer(), mapOf("other.txt" to "x")))
        }
    }

    @Test
    fun corruptZip() {
        val bytes = TestModels.model()
        // Break the local header signature of the first entry: still "no metadata", with a reason.
        val local = (8 until bytes.size - 4).first {
            bytes[it] == 0x50.toByte() && bytes[it + 1] == 0x4b.toByte() && bytes[it + 2] == 3.toByte() && bytes[it + 3] == 4.toByte()
        }
        bytes[local] = 0
        assertFails(ModelMetadata.NO_METADATA) { ModelMetadata.parse(bytes) }
    }

    @Test
    fun notAnImageClassifier() {
        assertFails("input shape [1, 4, 4, 1]") { TestModels.metadata(TestModels.info(inShape = listOf(1, 4, 4, 1))) }
        assertFails("input shape [4, 4, 3]") { TestModels.metadata(TestModels.info(inShape = listOf(4, 4, 3))) }
        assertFails("input shape [2, 4, 4, 3]") { TestModels.metadata(TestModels.info(inShape = listOf(2, 4, 4, 3))) }
        assertFails("not square") { TestModels.metadata(TestModels.info(inShape = listOf(1, 4, 5, 3))) }
        assertFails("output shape [1, 3, 1]") { TestModels.metadata(TestModels.info(outShape = listOf(1, 3, 1))) }
        assertFails("output shape [3]") { TestModels.metadata(TestModels.info(outShape = listOf(3))) }
        assertFails("2 labels for 3 outputs") { TestModels.metadata(labels = TestModels.labels(2)) }
        assertFails("unsupported input dtype 'float16'") { TestModels.metadata(TestModels.info(inType = "float16")) }
        assertFails("unsupported output dtype 'int16'") { TestModels.metadata(TestModels.info(outType = "int16")) }
        assertFails("no quantization parameters") { TestModels.metadata(TestModels.info(inQuant = null)) }
        assertFails("invalid input quantization") {
            TestModels.metadata(TestModels.info(inQuant = JSONObject().put("scale", 0.0).put("zero_point", 0)))
        }
        assertFails("unsupported channel order 'RGBA'") { TestModels.metadata(TestModels.info(order = "RGBA")) }
        assertFails("unsupported output kind 'embeddings'") { TestModels.metadata(TestModels.info(kind = "embeddings")) }
    }

    @Test
    fun badJson() {
        val bytes = TestModels.withZip(TestModels.flatbuffer(), mapOf("labels.txt" to "a\n", "squeezekit.json" to "{nope"))
        assertFails("not valid JSON") { ModelMetadata.parse(bytes) }
        val other = TestModels.info().put("format", "something-else/2")
        assertFails("unsupported metadata format") { TestModels.metadata(other) }
        val noInput = TestModels.info().apply { remove("input") }
        assertFails("malformed squeezekit.json") { TestModels.metadata(noInput) }
    }
}
