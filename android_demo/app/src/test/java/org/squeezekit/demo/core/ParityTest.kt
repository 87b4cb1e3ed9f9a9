package org.squeezekit.demo.core

import java.io.File
import javax.imageio.ImageIO
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The Kotlin pre- and postprocessing against the Python reference, byte for byte.
 *
 * Reads the fixture directory named by the system property `squeezekit.parity.dir` (Maven:
 * `-Dsqueezekit.parity.dir=DIR`; a relative path counts from the shell's working directory). `cases.json`:
 * `{"cases": [{"model", "photo", "input", "output", "top5": [{"index", "label", "probability"}]}]}`, file
 * names relative to the directory: the .tflite, a lossless RGB PNG of the decoded photo, the input tensor
 * bytes Python fed the model, the output tensor bytes the model produced.
 */
class ParityTest {
    private fun fixtureDir(): File {
        val hint = "generate it with python -m pytest tests/android " +
            "(or android_demo/tools/make_parity_fixtures.py) and pass -Dsqueezekit.parity.dir=DIR"
        val prop = System.getProperty("squeezekit.parity.dir")
        if (prop.isNullOrBlank() || prop.startsWith("\${")) {
            throw AssertionError("system property squeezekit.parity.dir is not set: $hint")
        }
        var dir = File(prop)
        val cwd = System.getProperty("squeezekit.cwd")
        if (!dir.isAbsolute && !cwd.isNullOrBlank()) dir = File(cwd, prop)
        if (!File(dir, "cases.json").isFile) {
            throw AssertionError("parity fixture directory ${dir.path} is missing or has no cases.json: $hint")
        }
        return dir
    }

    private fun readArgb(file: File): Triple<IntArray, Int, Int> {
        val image = ImageIO.read(file) ?: throw AssertionError("cannot decode ${file.path} as an image")
        val w = image.width
        val h = image.height
        return Triple(image.getRGB(0, 0, w, h, null, 0, w), w, h)
    }

    private fun assertSameBytes(what: String, expected: ByteArray, actual: ByteArray) {
        assertEquals("$what: tensor size", expected.size, actual.size)
        val i = expected.indices.firstOrNull { expected[it] != actual[it] } ?: return
        val diffs = expected.indices.count { expected[it] != actual[it] }
        throw AssertionError("$what: $diffs of ${expected.size} bytes differ; first at byte $i: " +
            "Python ${expected[i]} (0x%02x), Kotlin ${actual[i]} (0x%02x)".format(expected[i], actual[i]))
    }

    @Test
    fun kotlinMatchesPython() {
        val dir = fixtureDir()
        val cases = JSONObject(File(dir, "cases.json").readText()).getJSONArray("cases")
        assertTrue("cases.json in $dir holds no cases", cases.length() > 0)
        val models = HashMap<String, ModelMetadata>()
        for (c in 0 until cases.length()) {
            val case = cases.getJSONObject(c)
            val name = "${case.getString("model")} on ${case.getString("photo")}"
            val metadata = models.getOrPut(case.getString("model")) { ModelMetadata.read(File(dir, case.getString("model"))) }

            val (argb, w, h) = readArgb(File(dir, case.getString("photo")))
            val input = Preprocessor(metadata).preprocess(argb, w, h)
            assertSameBytes("$name: input", File(dir, case.getString("input")).readBytes(), input)

            val output = File(dir, case.getString("output")).readBytes()
            val top = Postprocessor(metadata).topK(output, 5)
            val expected = case.getJSONArray("top5")
            assertEquals("$name: top-5 length", expected.length(), top.size)
            for (k in 0 until expected.length()) {
                val e = expected.getJSONObject(k)
                assertEquals("$name: index at rank $k", e.getInt("index"), top[k].index)
                assertEquals("$name: label at rank $k", e.getString("label"), top[k].label)
                assertEquals("$name: probability at rank $k", e.getDouble("probability"), top[k].probability.toDouble(), 1e-6)
            }
        }
        println("parity: ${cases.length()} cases, ${models.size} models, input bytes and top-5 identical to Python")
    }
}
