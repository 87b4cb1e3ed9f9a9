// Android Studio / Gradle entry point of the squeezekit demo app. Needs Google's Maven (AGP, LiteRT).
// Not built in the Python project's CI: see README.md ("What is verified") and jvm/ for the checks that run.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "squeezekit-demo"
include(":app")
