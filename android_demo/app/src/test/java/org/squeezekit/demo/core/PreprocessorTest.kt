package org.squeezekit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class PreprocessorTest {
    private val int8 = Quantization(1.0f, 0)

    @Test
    fun quantizeRoundsHalfToEven() {
        // numpy: np.round([0.5, 1.5, 2.5, -0.5, -1.5, -2.5]) == [0, 2, 2, -0, -2, -2]
        val xs = floatArrayOf(0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4999998f, 2.5000002f)
        val expected = intArrayOf(0, 2, 2, 0, -2, -2, 2, 3)
        assertArrayEquals(expected, IntArray(xs.size) { Preprocessor.quantize(xs[it], int8, TensorType.INT8) })
    }

    @Test
    fun quantizeClampsToTheType() {
        val q = Quantization(0.5f, -3)
        assertEquals(127, Preprocessor.quantize(1000f, q, TensorType.INT8))
        assertEquals(-128, Preprocessor.quantize(-1000f, q, TensorType.INT8))
        assertEquals(127, Preprocessor.quantize(65f, q, TensorType.INT8)) // 130 - 3 = 127
        assertEquals(127, Preprocessor.quantize(66f, q, TensorType.INT8)) // 129 clamps
        assertEquals(126, Preprocessor.quantize(64.5f, q, TensorType.INT8)) // 129 - 3 = 126
        assertEquals(-128, Preprocessor.quantize(-62.5f, q, TensorType.INT8)) // -125 - 3 = -128
        assertEquals(-128, Preprocessor.quantize(-63f, q, TensorType.INT8))
        assertEquals(0, Preprocessor.quantize(-5f, Quantization(1f, 0), TensorType.UINT8))
        assertEquals(255, Preprocessor.quantize(300f, Quantization(1f, 0), TensorType.UINT8))
        assertEquals(128, Preprocessor.quantize(0f, Quantization(1f, 128), TensorType.UINT8))
        assertEquals(127, Preprocessor.quantize(Float.POSITIVE_INFINITY, int8, TensorType.INT8))
    }

    @Test
    fun quantizeDividesInFloat32() {
        // The sqnxt23 int8 input: x / scale + zero in float32, then rint.
        val q = Quantization(1.074509859085083.toFloat(), -14)
        val x = 151f
        val v = x / q.scale + q.zeroPoint.toFloat()
        assertEquals(Math.rint(v.toDouble()).toInt().coerceIn(-128, 127), Preprocessor.quantize(x, q, TensorType.INT8))
        // Exactly representable half: 2.5 * 2 / 2 stays 2.5 -> 2 (half to even), 3.5 -> 4.
        assertEquals(2, Preprocessor.quantize(5f, Quantization(2f, 0), TensorType.INT8))
        assertEquals(4, Preprocessor.quantize(7f, Quantization(2f, 0), TensorType.INT8))
    }

    @Test
    fun bgrInt8Tensor() {
        // 4x4 model, BGR, mean (104, 117, 123), std 1, scale 0.5, zero point -3.
        val m = TestModels.metadata()
        val rgb = IntArray(16) { (0xFF shl 24) or (200 shl 16) or (117 shl 8) or 100 }
        val bytes = Preprocessor(m).toTensor(rgb)
        // B: (100 - 104) / 0.5 - 3 = -11; G: 0 - 3 = -3; R: (200 - 123) / 0.5 - 3 = 151 -> 127.
        for (p in 0 until 16) {
            assertArrayEquals(byteArrayOf(-11, -3, 127), bytes.copyOfRange(p * 3, p * 3 + 3))
        }
    }

    @Test
    fun rgbFloatTensorIsLittleEndianFloat32() {
        val m = TestModels.metadata(TestModels.info(inType = "float32", inQuant = null, order = "RGB",
            mean = listOf(123.675, 116.28, 103.53), std = listOf(58.395, 57.12, 57.375)))
        val rgb = IntArray(16) { (0xFF shl 24) or (it shl 16) or ((255 - it) shl 8) or 7 }
        val bytes = Preprocessor(m).toTensor(rgb)
        assertEquals(16 * 3 * 4, bytes.size)
        val f = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        for (p in 0 until 16) {
            assertEquals((p.toFloat() - 123.675f) / 58.395f, f.get(p * 3), 0f)
            assertEquals(((255 - p).toFloat() - 116.28f) / 57.12f, f.get(p * 3 + 1), 0f)
            assertEquals((7f - 103.53f) / 57.375f, f.get(p * 3 + 2), 0f)
        }
    }

    @Test
    fun uint8Tensor() {
        val m = TestModels.metadata(TestModels.info(inType = "uint8", inQuant = JSONObject().put("scale", 1.0).put("zero_point", 0),
            order = "RGB", mean = listOf(0.0, 0.0, 0.0)))
        val bytes = Preprocessor(m).toTensor(IntArray(16) { 0xFFFF8001.toInt() })
        assertArrayEquals(byteArrayOf(255.toByte(), 128.toByte(), 1), bytes.copyOfRange(0, 3))
    }

    @Test
    fun resizeSizesFollowPython() {
        // Python: scale = (size / crop) / min(w, h); nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        // 640x427, size 227, crop 0.88671875: short side 256, long side round(383.70...) = 384; crop at (78, 0).
        val w = 640
        val h = 427
        val argb = IntArray(w * h) { (0xFF shl 24) or ((it % w) * 255 / w shl 16) or ((it / w) * 255 / h shl 8) }
        val crop = Preprocessor.resizeAndCrop(argb, w, h, 227, 0.88671875)
        assertEquals(227 * 227, crop.size)
        val full = PillowResize.resize(argb, w, h, 384, 256)
        assertArrayEquals(Preprocessor.crop(full, 384, (384 - 227) / 2, (256 - 227) / 2, 227), crop)
    }

    @Test
    fun smallImagesAreUpscaledToAtLeastTheInput() {
        val crop = Preprocessor.resizeAndCrop(IntArray(6) { -1 }, 3, 2, 4, 0.875)
        assertEquals(16, crop.size)
        crop.forEach { assertEquals(-1, it) }
    }
}
