package org.squeezekit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class PostprocessorTest {
    @Test
    fun topIndicesKeepsTiesInIndexOrder() {
        val v = floatArrayOf(0.1f, 0.3f, 0.3f, 0.0f, 0.3f, 0.2f, 0.2f)
        assertArrayEquals(intArrayOf(1, 2, 4, 5, 6), Postprocessor.topIndices(v, 5))
        assertArrayEquals(intArrayOf(0, 1, 2), Postprocessor.topIndices(FloatArray(3), 5))
        assertArrayEquals(intArrayOf(1), Postprocessor.topIndices(floatArrayOf(Float.NaN, 1f, 0f), 1))
        assertArrayEquals(intArrayOf(), Postprocessor.topIndices(floatArrayOf(1f), 0))
    }

    @Test
    fun int8OutputIsDequantized() {
        val m = TestModels.metadata(TestModels.info(outType = "int8",
            outQuant = JSONObject().put("scale", 0.00390625).put("zero_point", -128)))
        val top = Postprocessor(m).topK(byteArrayOf(-128, 127, 0), 5)
        assertEquals(listOf(1, 2, 0), top.map { it.index })
        assertEquals(listOf("class_1", "class_2", "class_0"), top.map { it.label })
        assertEquals(255 * 0.00390625f, top[0].probability, 0f)
        assertEquals(0.5f, top[1].probability, 0f)
        assertEquals(0f, top[2].probability, 0f)
    }

    @Test
    fun uint8OutputIsUnsigned() {
        val m = TestModels.metadata()
        val probs = Postprocessor(m).probabilities(byteArrayOf(255.toByte(), 0, 128.toByte()))
        assertArrayEquals(floatArrayOf(255 / 256f, 0f, 0.5f), probs, 0f)
    }

    @Test
    fun float32LogitsGoThroughSoftmax() {
        val m = TestModels.metadata(TestModels.info(outType = "float32", outQuant = null, kind = "logits"))
        val b = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(3f).putFloat(2f).array()
        val p = Postprocessor(m).probabilities(b)
        assertEquals(1.0, p.sumOf { it.toDouble() }, 1e-6)
        assertArrayEquals(intArrayOf(1, 2, 0), Postprocessor.topIndices(p, 3))
        assertEquals((Math.exp(3.0) / (Math.exp(1.0) + Math.exp(2.0) + Math.exp(3.0))).toFloat(), p[1], 1e-7f)
    }

    @Test
    fun float32ProbabilitiesAreKept() {
        val m = TestModels.metadata(TestModels.info(outType = "float32", outQuant = null))
        val b = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putFloat(0.25f).putFloat(0.5f).putFloat(0.25f).array()
        assertArrayEquals(floatArrayOf(0.25f, 0.5f, 0.25f), Postprocessor(m).probabilities(b), 0f)
        assertEquals(listOf(1, 0, 2), Postprocessor(m).topK(b, 3).map { it.index })
    }

    @Test(expected = IllegalArgumentException::class)
    fun wrongOutputSize() {
        Postprocessor(TestModels.metadata()).probabilities(ByteArray(4))
    }
}
