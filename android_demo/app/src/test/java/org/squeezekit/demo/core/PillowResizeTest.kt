package org.squeezekit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class PillowResizeTest {
    private fun rgb(r: Int, g: Int, b: Int) = (0xFF shl 24) or (r shl 16) or (g shl 8) or b
    private fun channel(pixels: IntArray, shift: Int) = IntArray(pixels.size) { (pixels[it] shr shift) and 0xFF }

    @Test
    fun upscale2x2To4x4() {
        // Values printed by Pillow 13.0.0: Image.fromarray(a).resize((4, 4), Image.BILINEAR).
        val src = intArrayOf(rgb(0, 255, 10), rgb(100, 50, 20), rgb(200, 0, 30), rgb(255, 128, 40))
        val out = PillowResize.resize(src, 2, 2, 4, 4)
        assertArrayEquals(intArrayOf(0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255), channel(out, 16))
        assertArrayEquals(intArrayOf(255, 204, 101, 50, 191, 161, 100, 70, 64, 75, 97, 109, 0, 32, 96, 128), channel(out, 8))
    }

    @Test
    fun downscaleCheckerboard4x4To2x2() {
        // Downscaling widens the triangle to 2 pixels: weights 3/7, 3/7, 1/7 -> 146 and 109 per row, then 130.
        val src = IntArray(16) { val on = (it / 4 + it % 4) % 2 == 0; if (on) rgb(255, 255, 255) else rgb(0, 0, 0) }
        val out = PillowResize.resize(src, 4, 4, 2, 2)
        assertArrayEquals(intArrayOf(130, 125, 125, 130), channel(out, 16))
    }

    @Test
    fun horizontalOnly() {
        val out = PillowResize.resize(intArrayOf(rgb(0, 0, 0), rgb(255, 255, 255)), 2, 1, 4, 1)
        assertArrayEquals(intArrayOf(0, 64, 191, 255), channel(out, 0))
    }

    @Test
    fun sameSizeIsACopyAndOpaque() {
        val src = intArrayOf(0x12345678, 0x00ABCDEF)
        val out = PillowResize.resize(src, 2, 1, 2, 1)
        assertArrayEquals(intArrayOf(0xFF345678.toInt(), 0xFFABCDEF.toInt()), out)
        assertTrue(out !== src)
    }

    @Test
    fun alphaIsIgnored() {
        val opaque = PillowResize.resize(intArrayOf(rgb(10, 20, 30), rgb(200, 100, 0)), 2, 1, 3, 2)
        val clear = PillowResize.resize(intArrayOf(0x000A141E, 0x40C86400), 2, 1, 3, 2)
        assertArrayEquals(opaque, clear)
    }

    /** Random images of many sizes against Pillow (app/src/test/resources/pillow_resize_cases.txt). */
    @Test
    fun matchesPillowOnRandomImages() {
        val text = javaClass.getResourceAsStream("/pillow_resize_cases.txt")!!.bufferedReader().readText()
        var cases = 0
        for (line in text.lines()) {
            if (line.isBlank() || line.startsWith("#")) continue
            val f = line.split(" ")
            val (w, h, ow, oh) = f.take(4).map { it.toInt() }
            val px = f.drop(4).map { (0xFF shl 24) or it.toInt(16) }
            assertEquals(w * h + ow * oh, px.size)
            val src = px.take(w * h).toIntArray()
            val expected = px.drop(w * h).toIntArray()
            val got = PillowResize.resize(src, w, h, ow, oh)
            for (i in expected.indices) {
                if (expected[i] != got[i]) {
                    throw AssertionError("${w}x$h -> ${ow}x$oh: pixel ${i % ow},${i / ow} is " +
                        "%06x, Pillow gives %06x".format(got[i] and 0xFFFFFF, expected[i] and 0xFFFFFF))
                }
            }
            cases++
        }
        assertTrue("only $cases cases", cases >= 30)
    }

    @Test
    fun coefficientsSumToOne() {
        for ((inSize, outSize) in listOf(10 to 3, 3 to 10, 640 to 256, 427 to 256, 7 to 7)) {
            val c = PillowResize.coefficients(inSize, 0f, inSize.toFloat(), outSize)
            for (xx in 0 until outSize) {
                val sum = (0 until c.bounds[xx * 2 + 1]).sumOf { c.kk[xx * c.ksize + it] }
                assertTrue("sum $sum for $inSize -> $outSize at $xx", Math.abs(sum - (1 shl 22)) <= c.ksize)
                assertTrue(c.bounds[xx * 2] >= 0 && c.bounds[xx * 2] + c.bounds[xx * 2 + 1] <= inSize)
            }
        }
    }
}
