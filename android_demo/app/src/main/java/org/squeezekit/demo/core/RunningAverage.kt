package org.squeezekit.demo.core

/** Mean of the last [capacity] values (inference times in milliseconds). Not thread-safe. */
class RunningAverage(val capacity: Int = 20) {
    init {
        require(capacity > 0) { "capacity must be positive, got $capacity" }
    }

    private val values = DoubleArray(capacity)
    private var next = 0
    private var sum = 0.0

    /** How many values the average covers (at most [capacity]). */
    var count = 0
        private set

    fun add(value: Double) {
        if (count == capacity) sum -= values[next] else count++
        values[next] = value
        sum += value
        next = (next + 1) % capacity
    }

    /** The mean of the values held, or NaN before the first [add]. */
    val mean: Double
        get() = if (count == 0) Double.NaN else sum / count

    fun clear() {
        next = 0
        count = 0
        sum = 0.0
    }
}
