import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.squeezekit.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.squeezekit.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    // The interpreter reads the model straight from the APK: keep .tflite assets uncompressed.
    androidResources {
        noCompress += "tflite"
    }

    testOptions {
        unitTests.all {
            // ./gradlew test -Psqueezekit.parity.dir=DIR runs the parity test too (as the Maven build does).
            it.systemProperty("squeezekit.parity.dir", providers.gradleProperty("squeezekit.parity.dir").getOrElse(""))
            it.systemProperty("squeezekit.cwd", rootDir.absolutePath)
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // LiteRT (formerly TensorFlow Lite), Google's Maven only; same org.tensorflow.lite Java API.
    implementation("com.google.ai.edge.litert:litert:1.4.0")
    implementation("com.google.ai.edge.litert:litert-gpu:1.4.0")

    testImplementation("junit:junit:4.13.2")
    // Android has org.json built in; JVM unit tests need the real jar (the android.jar stub throws).
    testImplementation("org.json:json:20251224")
}
