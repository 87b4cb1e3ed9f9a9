// Versions of the Android Gradle plugin (8.x) and the Kotlin Android plugin (2.x) for the whole build.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.21" apply false
}
