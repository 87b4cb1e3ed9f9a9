package org.squeezekit.demo.core

import kotlin.math.ceil

/**
 * Bit-exact port of Pillow's `Image.resize(size, Image.BILINEAR)` for 8-bit RGB images (Pillow 13,
 * src/libImaging/Resample.c: precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc,
 * ImagingResampleVertical_8bpc and the pass order of ImagingResampleInner, see [verticalFirst]), so that the app feeds the model
 * the very bytes `squeezekit.classify.load_image` does for the same decoded pixels.
 *
 * A separable two-pass convolution (horizontal first, then vertical) with the triangle filter, whose support
 * grows with the downscale factor (an area average when shrinking); coefficients are normalized to sum 1,
 * converted to 22-bit fixed point, and every pass rounds and clips to 8 bits.
 *
 * Pixels are packed ints 0xAARRGGBB (Android's Bitmap.getPixels, AWT's getRGB); alpha is dropped as Pillow's
 * convert("RGB") does, the result has alpha 0xFF.
 */
object PillowResize {
    /** Pillow: 32 - 8 - 2 (8 bits for the result, 2 for overflow and the sign). */
    private const val PRECISION_BITS = 32 - 8 - 2
    private const val BILINEAR_SUPPORT = 1.0

    private fun bilinear(x: Double): Double {
        val a = if (x < 0.0) -x else x
        return if (a < 1.0) 1.0 - a else 0.0
    }

    /** Fixed-point coefficients of one pass: [ksize] slots per output pixel, [bounds] = (first, count) pairs. */
    internal class Coefficients(val ksize: Int, val bounds: IntArray, val kk: IntArray)

    /** precompute_coeffs + normalize_coeffs_8bpc for the box [in0, in1) of an axis of [inSize] pixels. */
    internal fun coefficients(inSize: Int, in0: Float, in1: Float, outSize: Int): Coefficients {
        val scale = (in1 - in0).toDouble() / outSize
        val filterscale = if (scale < 1.0) 1.0 else scale
        val support = BILINEAR_SUPPORT * filterscale
        val ksize = ceil(support).toInt() * 2 + 1
        val pre = DoubleArray(outSize * ksize)
        val bounds = IntArray(outSize * 2)
        val ss = 1.0 / filterscale
        for (xx in 0 until outSize) {
            val center = in0 + (xx + 0.5) * scale
            var ww = 0.0
            // (int) in C truncates toward zero, as toInt() does.
            var xmin = (center - support + 0.5).toInt()
            if (xmin < 0) xmin = 0
            var xmax = (center + support + 0.5).toInt()
            if (xmax > inSize) xmax = inSize
            xmax -= xmin
            val k = xx * ksize
            for (x in 0 until xmax) {
                val w = bilinear((x + xmin - center + 0.5) * ss)
                pre[k + x] = w
                ww += w
            }
            for (x in 0 until xmax) {
                if (ww != 0.0) pre[k + x] /= ww
            }
            bounds[xx * 2] = xmin
            bounds[xx * 2 + 1] = xmax
        }
        val one = (1 shl PRECISION_BITS).toDouble()
        val kk = IntArray(pre.size) {
            val v = pre[it]
            if (v < 0) (-0.5 + v * one).toInt() else (0.5 + v * one).toInt()
        }
        return Coefficients(ksize, bounds, kk)
    }

    /** clip8: the sum (with its rounding bias) back to 0-255. */
    private fun clip8(sum: Int): Int {
        val v = sum shr PRECISION_BITS
        return if (v < 0) 0 else if (v > 255) 255 else v
    }

    /**
     * [argb] ([width] x [height], row-major) resized to [outWidth] x [outHeight] as Pillow's BILINEAR does.
     * Returns a new array, even when the size does not change (Pillow returns a copy then).
     */
    fun resize(argb: IntArray, width: Int, height: Int, outWidth: Int, outHeight: Int): IntArray {
        require(width > 0 && height > 0 && outWidth > 0 && outHeight > 0) {
            "sizes must be positive: ${width}x$height -> ${outWidth}x$outHeight"
        }
        require(argb.size >= width * height) { "${argb.size} pixels for a ${width}x$height image" }
        if (width == outWidth && height == outHeight) {
            return IntArray(width * height) { argb[it] or OPAQUE }
        }
        // ImagingResampleInner with box (0, 0, width, height).
        val needHorizontal = outWidth != width
        val needVertical = outHeight != height
        val vert = coefficients(height, 0f, height.toFloat(), outHeight)
        val horiz = if (needHorizontal) coefficients(width, 0f, width.toFloat(), outWidth) else null
        if (horiz != null && needVertical && verticalFirst(width, height, outWidth, outHeight)) {
            // Pillow 13 runs the vertical pass first when the height shrinks much more than the width
            // (python-pillow/Pillow#9549); the 8-bit rounding between the passes makes the order visible.
            val tall = vertical(argb, width, outHeight, vert)
            return horizontal(tall, width, 0, outHeight, outWidth, horiz)
        }
        val yFirst = vert.bounds[0]
        val yLast = vert.bounds[outHeight * 2 - 2] + vert.bounds[outHeight * 2 - 1]

        var image = argb
        var w = width
        var h = height
        if (horiz != null) {
            // Only the source rows the vertical pass reads; shift its bounds to match.
            for (i in 0 until outHeight) vert.bounds[i * 2] -= yFirst
            image = horizontal(image, w, yFirst, yLast - yFirst, outWidth, horiz)
            w = outWidth
            h = yLast - yFirst
        }
        if (needVertical) {
            image = vertical(image, w, outHeight, vert)
            h = outHeight
        }
        check(w == outWidth && h == outHeight)
        return image
    }

    /**
     * Pillow 13's pass order: vertical first exactly when the height shrinks and loses more than twice as
     * many pixels as the width does (`outHeight < height && height - outHeight > 2 * (width - outWidth)`).
     * Not visible in Resample.c before Pillow 13; inferred from and checked against Pillow 13.0.0 on
     * thousands of random sizes (every case agreed, boundaries included), and pinned by PillowResizeTest.
     */
    internal fun verticalFirst(width: Int, height: Int, outWidth: Int, outHeight: Int): Boolean =
        outHeight < height && height - outHeight > 2 * (width - outWidth)

    private fun horizontal(src: IntArray, srcWidth: Int, offset: Int, rows: Int, outWidth: Int, c: Coefficients): IntArray {
        val out = IntArray(outWidth * rows)
        val half = 1 shl (PRECISION_BITS - 1)
        for (yy in 0 until rows) {
            val row = (yy + offset) * srcWidth
            for (xx in 0 until outWidth) {
                val xmin = c.bounds[xx * 2]
                val xmax = c.bounds[xx * 2 + 1]
                val k = xx * c.ksize
                var r = half
                var g = half
                var b = half
                for (x in 0 until xmax) {
                    val p = src[row + x + xmin]
                    val kx = c.kk[k + x]
                    r += ((p shr 16) and 0xFF) * kx
                    g += ((p shr 8) and 0xFF) * kx
                    b += (p and 0xFF) * kx
                }
                out[yy * outWidth + xx] = OPAQUE or (clip8(r) shl 16) or (clip8(g) shl 8) or clip8(b)
            }
        }
        return out
    }

    private fun vertical(src: IntArray, width: Int, outHeight: Int, c: Coefficients): IntArray {
        val out = IntArray(width * outHeight)
        val half = 1 shl (PRECISION_BITS - 1)
        for (yy in 0 until outHeight) {
            val k = yy * c.ksize
            val ymin = c.bounds[yy * 2]
            val ymax = c.bounds[yy * 2 + 1]
            for (xx in 0 until width) {
                var r = half
                var g = half
                var b = half
                for (y in 0 until ymax) {
                    val p = src[(y + ymin) * width + xx]
                    val ky = c.kk[k + y]
                    r += ((p shr 16) and 0xFF) * ky
                    g += ((p shr 8) and 0xFF) * ky
                    b += (p and 0xFF) * ky
                }
                out[yy * width + xx] = OPAQUE or (clip8(r) shl 16) or (clip8(g) shl 8) or clip8(b)
            }
        }
        return out
    }

    private const val OPAQUE = -0x1000000 // 0xFF000000
}
