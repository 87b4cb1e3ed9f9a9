"""A run folder on disk, read and written in one place.

A run folder is what ``python -m squeezekit.train`` (or ``python -m squeezekit.weights``) writes and what
export, evaluate and the apps read::

    run_config.json   {"run": RunConfig}: model, input size, data, recipe; ``extra`` holds the class names,
                      the preprocessing, the convention and where imported weights came from
    labels.txt        one class name per line, in output order
    model.keras       the model (``keras.models.load_model`` reads it without squeezekit)

``RunConfig.load`` and ``RunConfig.save`` are the only reader and writer of ``run_config.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field

from converters.files import write_atomic
from squeezekit.errors import RunError

# The field types a loaded run_config.json must have (the annotations above, as isinstance takes them).
_TYPES = {"str": (str,), "str | None": (str, type(None)), "int": (int,), "int | None": (int, type(None)),
          "float": (int, float), "float | None": (int, float, type(None)), "bool": (bool,), "dict": (dict,)}

RUN_CONFIG = "run_config.json"
LABELS = "labels.txt"
MODEL = "model.keras"


@dataclass
class RunConfig:
    model: str
    data: str | None
    out: str
    input_size: int | None = None
    convention: str | None = None
    epochs: int | None = None
    batch_size: int = 64
    recipe: str | None = None
    lr: float | None = None
    label_smoothing: float | None = None
    val_data: str | None = None
    data_dir: str | None = None  # tensorflow-datasets' data_dir for tfds: sources
    val_split: float = 0.2
    seed: int = 0
    strategy: str = "default"
    augment: bool = True
    weights: str | None = None  # what the run started from (fine-tuning); None: random initialization
    freeze_epochs: int | None = None  # epochs of head-only training before fine-tuning everything
    extra: dict = field(default_factory=dict)  # class names, preprocessing, convention, weights source...

    @property
    def class_names(self) -> list[str]:
        return list(self.extra["class_names"])

    @property
    def preprocessing(self):
        """The preprocessing the run's model expects (a registry ``Preprocessing``)."""
        from squeezekit.models.registry import Preprocessing

        return Preprocessing.from_dict(self.extra["preprocessing"])

    @property
    def imported(self) -> bool:
        """Whether the folder holds imported weights (``python -m squeezekit.weights``), not a training run."""
        return self.extra.get("weights_source", {}).get("format") == "tf2cv"

    @classmethod
    def path(cls, folder: str) -> str:
        return os.path.join(folder, RUN_CONFIG)

    @classmethod
    def exists(cls, folder: str) -> bool:
        return os.path.exists(cls.path(folder))

    @classmethod
    def load(cls, folder: str) -> "RunConfig":
        """Read ``folder/run_config.json``; a missing, malformed or foreign file is a one-line ``RunError``."""
        path = cls.path(folder)
        try:
            with open(path) as f:
                raw = json.load(f)["run"]
            config = cls(**raw)
            for key in ("class_names", "preprocessing"):
                config.extra[key]  # every reader needs both
            problem = config._problem()
            if problem:
                raise ValueError(problem)
        except FileNotFoundError:
            raise RunError(f"{path} does not exist: the folder holds no run written by squeezekit.") from None
        except (OSError, ValueError, KeyError, TypeError) as err:
            what = f"{type(err).__name__}: {err}" if not isinstance(err, KeyError) else f"no {err} in it"
            raise RunError(f"cannot read {path} ({what}); it is not a run_config.json written by squeezekit: "
                           "restore it or train the run again.") from None
        return config

    def _problem(self) -> str | None:
        """What in a loaded config a reader could not use (a wrong type, impossible preprocessing), or None."""
        for f in dataclasses.fields(self):
            value, kinds = getattr(self, f.name), _TYPES[f.type]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                return f"{f.name} is {value!r}, not {f.type}"
        names = self.extra["class_names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            return "class_names is not a list of names"
        raw = self.extra["preprocessing"]
        try:
            p = self.preprocessing
            numbers = [*p.mean, *p.std, p.crop_fraction]
            usable = (p.channel_order in ("RGB", "BGR") and len(p.mean) == len(p.std) == 3
                      and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                              for v in numbers) and 0 not in p.std and 0 < p.crop_fraction <= 1)
        except (TypeError, AttributeError, ValueError):
            usable = False
        if not usable:
            return f"preprocessing {raw!r} is not a channel order, three means, three stds and a crop fraction"
        if not 0 <= self.val_split < 1 or (self.input_size is not None and self.input_size < 1):
            return f"val_split {self.val_split} or input_size {self.input_size} is out of range"
        return None

    @classmethod
    def beside(cls, model_path: str) -> "RunConfig | None":
        """The run config in the folder of ``model_path``, or None when there is none."""
        folder = os.path.dirname(os.path.abspath(model_path))
        return cls.load(folder) if cls.exists(folder) else None

    def save(self, folder: str | None = None) -> str:
        """Write ``run_config.json`` into ``folder`` (default ``out``) atomically; returns its path."""
        path = self.path(folder or self.out)
        write_atomic(path, json.dumps({"run": dataclasses.asdict(self)}, indent=2) + "\n")
        return path


def read_labels(folder: str) -> list[str] | None:
    """The class names in ``folder/labels.txt`` (None when there is no such file)."""
    path = os.path.join(folder, LABELS)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().split("\n")[:-1] or None
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"cannot read {path} ({type(err).__name__})", "write one class name per line, in "
                       "output order, in UTF-8.") from None


def write_labels(folder: str, class_names: list[str]) -> str:
    path = os.path.join(folder, LABELS)
    write_atomic(path, "\n".join(class_names) + "\n")
    return path
