package org.squeezekit.demo.core

/** A model the demo cannot use. [message] is one line, fit to show the user as is. */
class ModelException(message: String, cause: Throwable? = null) : Exception(message, cause)
