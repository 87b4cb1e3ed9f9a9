"""The public conversion route, to check the kit's traced-function route against (converters.tflite)."""

from converters import tflite


def saved_model_route(model, path, monkeypatch):
    """Make ``tflite.convert`` take the public route instead of the traced function: ``model`` saved as a
    SavedModel (``model.export``; for a tf_keras model its inference function, as the kit saved it before),
    ``TFLiteConverter.from_saved_model``, and the model type that route records."""
    import tensorflow as tf

    if tflite._is_tf_keras(model):
        module = tf.Module()
        module.weights_ = list(model.weights)
        spec = tf.TensorSpec([None] + [int(d) for d in model.inputs[0].shape[1:]], tf.float32)
        module.serve = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    else:
        model.export(str(path), verbose=False)
    monkeypatch.setattr(tflite, "_converter", lambda source: tf.lite.TFLiteConverter.from_saved_model(str(path)))


def model_type(content: bytes) -> int:
    """The converter's input as the file's CONVERSION_METADATA records it."""
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema

    from converters import flatbuffer

    model = flatbuffer.unpack(content)
    [entry] = [m for m in model.metadata if m.name == b"CONVERSION_METADATA"]
    data = bytearray(model.buffers[entry.buffer].data.tobytes())
    return schema.ConversionMetadataT.InitFromPackedBuf(data, 0).environment.modelType
