package org.squeezekit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.exp

/** One ranked class. */
data class Recognition(val index: Int, val label: String, val probability: Float)

/**
 * Output tensor bytes -> probabilities -> the top classes, as the Python reference does:
 * `(q - zero_point) * scale` in float32 for int8/uint8 outputs, little-endian floats for float32 ones, a
 * softmax only when the metadata says the output holds logits, then a stable descending sort (equal
 * probabilities keep the lower index first, as `np.argsort(-probs, kind="stable")`).
 */
class Postprocessor(private val metadata: ModelMetadata) {
    /** Probabilities of every class from the raw output [bytes] (batch 1). */
    fun probabilities(bytes: ByteArray): FloatArray {
        require(bytes.size == metadata.outputBytes) {
            "${bytes.size} output bytes, the model's output holds ${metadata.outputBytes}"
        }
        val n = metadata.classes
        val values = when (metadata.outputType) {
            TensorType.FLOAT32 -> {
                val b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
                FloatArray(n) { b.getFloat(it * 4) }
            }
            TensorType.INT8 -> dequantize(n) { bytes[it].toInt() }
            TensorType.UINT8 -> dequantize(n) { bytes[it].toInt() and 0xFF }
        }
        return if (metadata.outputKind == OutputKind.LOGITS) softmax(values) else values
    }

    /** The [k] most probable classes of the raw output [bytes], best first. */
    fun topK(bytes: ByteArray, k: Int = 5): List<Recognition> {
        val probs = probabilities(bytes)
        return topIndices(probs, k).map { Recognition(it, metadata.labels[it], probs[it]) }
    }

    private inline fun dequantize(n: Int, q: (Int) -> Int): FloatArray {
        val quant = metadata.outputQuantization!!
        val zero = quant.zeroPoint.toFloat()
        return FloatArray(n) { (q(it).toFloat() - zero) * quant.scale }
    }

    companion object {
        /**
         * Indices of the [k] largest [values], largest first; ties keep the lower index first. NaN ranks
         * below every number.
         */
        fun topIndices(values: FloatArray, k: Int): IntArray {
            val order = values.indices.sortedWith { a, b ->
                val va = values[a]
                val vb = values[b]
                when {
                    va.isNaN() && vb.isNaN() -> 0
                    va.isNaN() -> 1
                    vb.isNaN() -> -1
                    va > vb -> -1
                    va < vb -> 1
                    else -> 0 // sortedWith is stable: the lower index stays first
                }
            }
            return order.take(minOf(k, values.size)).toIntArray()
        }

        /** Softmax computed in double (max-subtracted), returned as float32. */
        fun softmax(logits: FloatArray): FloatArray {
            if (logits.isEmpty()) return logits
            val max = logits.max().toDouble()
            val e = DoubleArray(logits.size) { exp(logits[it] - max) }
            val sum = e.sum()
            return FloatArray(logits.size) { (e[it] / sum).toFloat() }
        }
    }
}
