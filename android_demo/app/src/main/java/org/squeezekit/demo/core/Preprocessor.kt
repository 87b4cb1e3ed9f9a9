package org.squeezekit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Packed ARGB pixels -> the bytes of the model's input tensor, exactly as the Python reference
 * (`squeezekit.classify.load_image` + `preprocess` + `converters.report.quantize`) computes them:
 *
 * 1. resize so the short side is `round(size / crop_fraction)` (never below `size`) with Pillow's BILINEAR
 *    ([PillowResize], bit for bit),
 * 2. center crop `size` x `size` at `((nw - size) / 2, (nh - size) / 2)`,
 * 3. reorder the channels to the model's order, `(x - mean) / std` in float32,
 * 4. for int8/uint8 inputs `round_half_even(x / scale + zero_point)` in float32, clamped to the type's range;
 *    float32 inputs are written little-endian.
 *
 * Stateless apart from the metadata, so one instance may serve every frame.
 */
class Preprocessor(private val metadata: ModelMetadata) {
    val size: Int get() = metadata.inputHeight

    /** The whole path: [argb] ([width] x [height]) -> input tensor bytes (NHWC, batch 1). */
    fun preprocess(argb: IntArray, width: Int, height: Int): ByteArray =
        toTensor(resizeAndCrop(argb, width, height, size, metadata.cropFraction))

    /** Like [preprocess], written into [out] (from its position; the order of [out] does not matter). */
    fun preprocessInto(argb: IntArray, width: Int, height: Int, out: ByteBuffer) {
        out.put(preprocess(argb, width, height))
    }

    /** Steps 3-4 on a [size] x [size] RGB crop. */
    fun toTensor(rgb: IntArray): ByteArray {
        require(rgb.size == size * size) { "${rgb.size} pixels for a ${size}x$size crop" }
        val type = metadata.inputType
        val out = ByteArray(metadata.inputBytes)
        val floats = if (type == TensorType.FLOAT32) ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN) else null
        val bgr = metadata.channelOrder == ChannelOrder.BGR
        val mean = metadata.mean
        val std = metadata.std
        val q = metadata.inputQuantization
        var i = 0
        for (p in rgb) {
            val r = (p shr 16) and 0xFF
            val g = (p shr 8) and 0xFF
            val b = p and 0xFF
            for (c in 0 until 3) {
                val v = when (c) {
                    0 -> if (bgr) b else r
                    1 -> g
                    else -> if (bgr) r else b
                }
                val x = (v.toFloat() - mean[c]) / std[c]
                if (floats != null) {
                    floats.putFloat(i * 4, x)
                } else {
                    out[i] = quantize(x, q!!, type).toByte()
                }
                i++
            }
        }
        return out
    }

    companion object {
        /**
         * Step 1-2: short side to `round(size / cropFraction)` (Python's round: half to even), at least
         * [size] on both sides, Pillow BILINEAR, then the centered [size] x [size] crop.
         */
        fun resizeAndCrop(argb: IntArray, width: Int, height: Int, size: Int, cropFraction: Double): IntArray {
            require(width > 0 && height > 0) { "empty image ${width}x$height" }
            val scale = (size / cropFraction) / minOf(width, height)
            val nw = maxOf(size, Math.rint(width * scale).toInt())
            val nh = maxOf(size, Math.rint(height * scale).toInt())
            val resized = PillowResize.resize(argb, width, height, nw, nh)
            return crop(resized, nw, (nw - size) / 2, (nh - size) / 2, size)
        }

        /** The [size] x [size] square at ([left], [top]) of an image [width] pixels wide. */
        fun crop(argb: IntArray, width: Int, left: Int, top: Int, size: Int): IntArray {
            val out = IntArray(size * size)
            for (y in 0 until size) System.arraycopy(argb, (top + y) * width + left, out, y * size, size)
            return out
        }

        /**
         * numpy's `np.clip(np.round(x / scale + zero_point), min, max)` on float32: the division and the addition
         * in float32, then rounded half to even ([Math.rint] is exact on a float32 value) and clamped to [type]'s
         * range (infinities clamp too).
         */
        fun quantize(x: Float, q: Quantization, type: TensorType): Int {
            val v: Float = x / q.scale + q.zeroPoint.toFloat()
            val r = Math.rint(v.toDouble())
            return when {
                r < type.min -> type.min
                r > type.max -> type.max
                else -> r.toInt()
            }
        }
    }
}
