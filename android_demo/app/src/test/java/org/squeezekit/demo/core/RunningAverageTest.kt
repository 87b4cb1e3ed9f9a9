package org.squeezekit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class RunningAverageTest {
    @Test
    fun averagesTheLastValues() {
        val avg = RunningAverage(3)
        assertTrue(avg.mean.isNaN())
        avg.add(1.0)
        avg.add(2.0)
        assertEquals(1.5, avg.mean, 1e-12)
        avg.add(3.0)
        avg.add(10.0) // drops 1.0
        assertEquals(5.0, avg.mean, 1e-12)
        assertEquals(3, avg.count)
        avg.clear()
        assertEquals(0, avg.count)
        avg.add(4.0)
        assertEquals(4.0, avg.mean, 1e-12)
    }

    @Test(expected = IllegalArgumentException::class)
    fun capacityMustBePositive() {
        RunningAverage(0)
    }
}
