"""Model builders, the registry, accounting and the tf_keras twin.

Importing this package does not import Keras or TensorFlow; building a model does.
"""

from squeezekit.models.registry import build, conventions, get_spec, list_models, load_variants, resolve_name

__all__ = ["build", "conventions", "get_spec", "list_models", "load_variants", "resolve_name", "model_info"]


def model_info(name: str, convention: str | None = None) -> dict:
    """Metadata of a registered model as a plain dict (paper name, provenance, sizes, preprocessing...)."""
    return get_spec(name, convention).to_dict()
