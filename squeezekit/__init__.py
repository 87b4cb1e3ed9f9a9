"""squeezekit: SqueezeNet and SqueezeNext, from a Keras model to an app on a phone.

    import squeezekit
    squeezekit.list_models("sqnxt23*")
    model = squeezekit.build("sqnxt23", input_shape=(224, 224, 3), classes=10)
"""

from squeezekit.errors import SqueezekitError
from squeezekit.models import build, list_models, model_info

__version__ = "0.1.0"
__all__ = ["SqueezekitError", "build", "list_models", "model_info", "__version__"]
