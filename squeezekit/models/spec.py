"""What a registry row is: a model's definition, provenance, preprocessing, expected counts and published weights.

The rows themselves are in ``zoo.py``; the registry (``registry.py``) registers and looks them up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from squeezekit.models import families

OFFICIAL = "official file"
THIRD_PARTY = "third-party file"
RECONSTRUCTION = "reconstruction"
SEARCH = "search"  # found by python -m squeezekit.search; the source names the command
PROVENANCES = (OFFICIAL, THIRD_PARTY, RECONSTRUCTION, SEARCH)


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become model inputs: ``(pixel[channel_order] - mean) / std`` on 0-255 values."""

    channel_order: str  # "RGB" or "BGR": the order the model's input channels are in
    mean: tuple[float, float, float]  # in that channel order, 0-255 units
    std: tuple[float, float, float]
    crop_fraction: float  # eval: resize the short side to size / crop_fraction, then center-crop size

    def to_dict(self) -> dict:
        return dict(channel_order=self.channel_order, mean=list(self.mean), std=list(self.std),
                    crop_fraction=self.crop_fraction)

    @classmethod
    def from_dict(cls, raw: dict) -> "Preprocessing":
        """The inverse of ``to_dict`` (as stored in a run's run_config.json)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


CAFFE = Preprocessing("BGR", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0), 227 / 256)
IMAGENET_RGB = Preprocessing("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 0.875)


@dataclass(frozen=True)
class Weights:
    """Pretrained weights a publisher hosts for one row: what ``build(name, weights="imagenet")`` fetches.

    The hashes are of ``file_name`` itself (after unzipping, when ``url`` is a zip), as the publisher checks it.
    """

    format: str  # how squeezekit reads the file: "tf2cv" (squeezekit.weights.tf2cv)
    store_name: str  # the publisher's name for the model (tf2cv's "squeezeresnet_v1_0")
    file_name: str  # the file the loader reads, also its name in Keras' cache
    url: str
    sha1: str  # the store's own hash (tf2cv's model_store.py checks SHA-1)
    sha256: str | None = None  # when known; checked as well
    top1_error: float | None = None  # percent, ImageNet-1K val, one crop, as the publisher reports it
    top5_error: float | None = None
    metrics_source: str = ""

    def to_dict(self) -> dict:
        return dict(format=self.format, store_name=self.store_name, file_name=self.file_name, url=self.url,
                    sha1=self.sha1, sha256=self.sha256, top1_error=self.top1_error, top5_error=self.top5_error,
                    metrics_source=self.metrics_source)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # a key of families.FAMILIES: "squeezenet" or "squeezenext"
    paper_name: str
    convention: str  # a key of families.CONVENTIONS
    provenance: str  # one of PROVENANCES
    source: str  # where the definition (and its figures) come from
    config: dict  # keyword arguments of the family builder
    preprocessing: Preprocessing
    aliases: tuple[str, ...] = ()
    expected: dict = field(default_factory=dict)  # trainable_params, macs_224, macs_227 (docs/reference.md)
    notes: str = ""
    weights: Weights | None = None  # published ImageNet weights, if any

    @property
    def default_size(self) -> int:
        return families.default_size(self.convention)

    @property
    def min_size(self) -> int:
        return families.family(self.family).min_size(self.config)

    def to_dict(self) -> dict:
        return dict(
            name=self.name, family=self.family, paper_name=self.paper_name, convention=self.convention,
            provenance=self.provenance, source=self.source, config=dict(self.config),
            default_size=self.default_size, min_size=self.min_size,
            preprocessing=self.preprocessing.to_dict(), aliases=list(self.aliases),
            expected=dict(self.expected), notes=self.notes,
            weights=self.weights.to_dict() if self.weights else None,
        )
