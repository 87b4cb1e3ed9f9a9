"""The two families and their conventions: the one place each default is decided.

A *convention* is whose definition a row follows (the Caffe files, torchvision, osmr/imgclsmob's ports); it fixes
the input size the model was trained at and where ceil-mode pools pad. A *family* is one parametric builder with
its minimum-input-size rule. The builders, the registry, training and the export all ask here.

Importing this module does not import Keras.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Convention:
    name: str
    default_size: int  # the crops its training used: 227 for the Caffe files, 224 elsewhere
    ceil_padding: str  # where ceil-mode pools pad: "end" (Caffe, PyTorch) or "both" (tf2cv; see common.max_pool_ceil)
    origin: str


CONVENTIONS = {c.name: c for c in (
    Convention("official", 227, "end", "the SqueezeNext authors' Caffe files"),
    Convention("caffe", 227, "end", "forresti/SqueezeNet's Caffe files"),
    Convention("torchvision", 224, "end", "torchvision's squeezenet.py"),
    Convention("imgclsmob", 224, "both", "osmr/imgclsmob's ports; its TensorFlow weights need tf2cv's pool padding"),
)}


def convention(name: str) -> Convention:
    if name not in CONVENTIONS:
        raise ValueError(f"unknown convention {name!r}; the conventions are: {', '.join(CONVENTIONS)}.")
    return CONVENTIONS[name]


def default_size(convention_name: str) -> int:
    return convention(convention_name).default_size


def ceil_padding(convention_name: str) -> str:
    return convention(convention_name).ceil_padding


def _squeezenet_min_size(config: dict) -> int:
    from squeezekit.models import squeezenet

    return squeezenet.min_input_size(config.get("version", "1.0"), config["convention"])


def _squeezenext_min_size(config: dict) -> int:
    from squeezekit.models import squeezenext

    return squeezenext.min_input_size(config.get("stem_kernel", 7), config["convention"],
                                      len(config.get("blocks", (0,) * 4)), config.get("stem_stride", 2))


@dataclass(frozen=True)
class Family:
    name: str
    builder_path: str  # "module:function", imported on first build
    conventions: tuple[str, ...]  # the first is the builder's default
    min_size: Callable[[dict], int]  # the smallest input a row's builder config accepts

    def builder(self):
        module, function = self.builder_path.split(":")
        return getattr(importlib.import_module(module), function)


FAMILIES = {f.name: f for f in (
    Family("squeezenet", "squeezekit.models.squeezenet:SqueezeNet", ("torchvision", "imgclsmob", "caffe"),
           _squeezenet_min_size),
    Family("squeezenext", "squeezekit.models.squeezenext:SqueezeNext", ("official", "imgclsmob"),
           _squeezenext_min_size),
)}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; the families are: {', '.join(FAMILIES)}.")
    return FAMILIES[name]
