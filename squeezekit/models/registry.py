"""The model registry: every variant is a row of data, built by its family's one parametric builder.

A row names the builder configuration, the paper name, where the definition comes from (provenance),
the preprocessing its training used and the figures the reference tables give, which tests hold the
builders to. A name can have several conventions (e.g. SqueezeNext's ``official`` Caffe files and
osmr/imgclsmob's port): each is its own row, and the first is the default.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field, replace

from squeezekit.errors import RegistryError


OFFICIAL = "official file"
THIRD_PARTY = "third-party file"
RECONSTRUCTION = "reconstruction"
SEARCH = "search"  # found by python -m squeezekit.search; the source names the command


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
class ModelSpec:
    name: str
    family: str  # "squeezenet" or "squeezenext"
    paper_name: str
    convention: str
    provenance: str  # OFFICIAL, THIRD_PARTY or RECONSTRUCTION
    source: str  # where the definition (and its figures) come from
    config: dict  # keyword arguments of the family builder
    preprocessing: Preprocessing
    aliases: tuple[str, ...] = ()
    expected: dict = field(default_factory=dict)  # trainable_params, macs_224, macs_227 from the reference
    notes: str = ""

    @property
    def default_size(self) -> int:
        return 227 if self.convention in ("official", "caffe") else 224

    @property
    def min_size(self) -> int:
        if self.family == "squeezenet":
            from squeezekit.models import squeezenet

            return squeezenet.min_input_size(self.config.get("version", "1.0"), self.config["convention"])
        from squeezekit.models import squeezenext

        return squeezenext.min_input_size(
            self.config.get("stem_kernel", 7), self.config["convention"], len(self.config.get("blocks", (0,) * 4)),
            self.config.get("stem_stride", 2),
        )

    def to_dict(self) -> dict:
        return dict(
            name=self.name, family=self.family, paper_name=self.paper_name, convention=self.convention,
            provenance=self.provenance, source=self.source, config=dict(self.config),
            default_size=self.default_size, min_size=self.min_size,
            preprocessing=self.preprocessing.to_dict(), aliases=list(self.aliases),
            expected=dict(self.expected), notes=self.notes,
        )


_REGISTRY: dict[str, list[ModelSpec]] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return re.sub(r"[\s\-\.]+", "_", name.strip().lower())


def register(*specs: ModelSpec) -> None:
    """Add one name with its conventions (the first is the default)."""
    name = specs[0].name
    assert all(s.name == name for s in specs)
    _REGISTRY[name] = list(specs)
    for alias in {a for s in specs for a in (s.aliases + (s.paper_name,))}:
        _ALIASES[_key(alias)] = name
    _ALIASES[_key(name)] = name


def resolve_name(name: str) -> str:
    """The registered name for ``name`` or any alias (case-insensitive; '1.0-SqNxt-23' works)."""
    key = _key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=10, cutoff=0.5)
    close = list(dict.fromkeys(_ALIASES[c] for c in close))[:5]
    hint = f". Closest: {', '.join(close)}" if close else ""
    raise RegistryError(f"unknown model {name!r}{hint}", "squeezekit.list_models() lists every name.", param="model")


def get_spec(name: str, convention: str | None = None) -> ModelSpec:
    specs = _REGISTRY[resolve_name(name)]
    if convention is None:
        return specs[0]
    for spec in specs:
        if spec.convention == convention:
            return spec
    have = ", ".join(s.convention for s in specs)
    raise RegistryError(f"{specs[0].name} has no convention {convention!r}", f"it has: {have}.", param="convention")


def load_variants(path: str) -> list[str]:
    """Register the variants a search wrote (``variants.json``) so that ``build`` and the CLIs know their names.

    Returns the names. ``SQUEEZEKIT_VARIANTS`` (paths separated by ``os.pathsep``) loads files at import, so
    ``python -m squeezekit.train --model NAME`` works for them too.
    """
    import json
    import os

    try:
        with open(path) as f:
            rows = json.load(f)
        specs = []
        for row in rows:
            config = dict(row["config"])
            config["blocks"], config["widths"] = tuple(config["blocks"]), tuple(config["widths"])
            specs.append(ModelSpec(
                name=row["name"], family=row.get("family", "squeezenext"), paper_name=row.get("paper_name", row["name"]),
                convention=row.get("convention", "official"), provenance=row.get("provenance", SEARCH),
                source=row.get("source", os.path.abspath(path)), config=config,
                preprocessing=Preprocessing.from_dict(row["preprocessing"]) if "preprocessing" in row else CAFFE,
                expected=dict(row.get("expected", {})), notes=row.get("notes", "")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RegistryError(f"cannot read variants from {path} ({type(err).__name__}: {err}); pass the "
                            "variants.json that python -m squeezekit.search wrote.") from None
    for spec in specs:
        if spec.name in _REGISTRY and _REGISTRY[spec.name][0].provenance != SEARCH:
            raise RegistryError(f"{path} would replace the built-in model {spec.name}", "rename its variants.")
        register(spec)
    return [spec.name for spec in specs]


def conventions(name: str) -> list[str]:
    return [s.convention for s in _REGISTRY[resolve_name(name)]]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, optionally filtered by a shell-style pattern such as ``"sqnxt23*"``."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern.lower())]
    return names


def build(model_name: str, /, *, convention: str | None = None, **kwargs):
    """Build a registered model: ``build("sqnxt23")``, ``build("1.0-SqNxt-23", classes=10)``.

    ``kwargs`` are the family builder's arguments (``include_top``, ``input_shape``, ``classes``,
    ``classifier_activation``, ``weights``, ``keras_module``...) and override the row's configuration. A tf2cv
    ``.tf2.h5`` as ``weights`` (osmr/imgclsmob's ImageNet weights, see ``squeezekit.weights``) selects
    ``convention="imgclsmob"`` when no convention is given.
    """
    weights = kwargs.get("weights")
    if convention is None and weights is not None and "imgclsmob" in conventions(model_name):
        from squeezekit.weights.tf2cv import looks_like_tf2cv

        if looks_like_tf2cv(weights):  # osmr/imgclsmob's TensorFlow weights fit only its convention
            convention = "imgclsmob"
    spec = get_spec(model_name, convention)
    args = dict(spec.config)
    args.update(kwargs)
    args.setdefault("name", spec.name)
    if spec.family == "squeezenet":
        from squeezekit.models.squeezenet import SqueezeNet as builder
    else:
        from squeezekit.models.squeezenext import SqueezeNext as builder
    return builder(**args)


# ---------------------------------------------------------------------------------------------------
# SqueezeNet rows. Expected figures: ../shared/reference/ARCHITECTURES.md (torchvision MACs at 224,
# Caffe-as-released MACs at 227, where v1.0's conv10 has padding 1).

_SQN_SOURCE = "forresti/SqueezeNet Caffe definitions; torchvision squeezenet.py"
_SQN = {
    "1.0": dict(params=1_248_424, macs_224=818_924_576, macs_227=861_339_936, complex=1_589_672),
    "1.1": dict(params=1_235_496, macs_224=349_151_936, macs_227=387_747_520, complex=None),
}


def _squeezenet_rows(version: str, bypass: str) -> list[ModelSpec]:
    tag = version.replace(".", "_")
    suffix = {"none": "", "simple": "_bypass", "complex": "_complex_bypass"}[bypass]
    name = f"squeezenet{tag}{suffix}"
    paper = f"SqueezeNet {version}" + {"none": "", "simple": " simple bypass", "complex": " complex bypass"}[bypass]
    ref = _SQN[version]
    params = ref["complex"] if bypass == "complex" else ref["params"]
    if bypass == "complex":
        provenance, source = RECONSTRUCTION, "SqueezeNet paper section 6 (no released definition)"
        notes = "complex bypass: biased, linear 1x1 convs around fire2, 4, 6, 8 (assumed)"
    elif bypass == "simple" and version == "1.1":
        provenance, source = THIRD_PARTY, "osmr/imgclsmob squeezeresnet_v1_1"
        notes = "identity adds around fire3, 5, 7, 9"
    else:
        provenance, source = OFFICIAL, _SQN_SOURCE if bypass == "none" else "forresti/SqueezeNet simple bypass"
        notes = "" if bypass == "none" else "identity adds around fire3, 5, 7, 9"
    imgclsmob_name = ("squeezenet" if bypass == "none" else "squeezeresnet") + f"_v{tag}"
    aliases = (imgclsmob_name,) if bypass != "complex" else ()
    if bypass == "none" and version == "1.0":
        aliases += ("squeezenet",)
    config = dict(version=version, bypass=bypass)
    expected_tv = dict(trainable_params=params) if params else {}
    expected_caffe = dict(expected_tv)
    if bypass != "complex":  # the reference gives MACs for the vanilla and (same graph) simple networks
        expected_tv["macs_224"] = ref["macs_224"]
        expected_caffe["macs_227"] = ref["macs_227"]
    base = ModelSpec(
        name=name, family="squeezenet", paper_name=paper, convention="torchvision", provenance=provenance,
        source=source, config=dict(config, convention="torchvision"), preprocessing=IMAGENET_RGB,
        aliases=aliases, expected=expected_tv, notes=notes,
    )
    rows = [
        base,
        replace(base, convention="imgclsmob", config=dict(config, convention="imgclsmob"),
                provenance=THIRD_PARTY, source=f"osmr/imgclsmob {imgclsmob_name}"),
        replace(base, convention="caffe", config=dict(config, convention="caffe"), preprocessing=CAFFE,
                expected=expected_caffe),
    ]
    if bypass == "complex":
        rows.pop(1)
    return rows


for _v in ("1.0", "1.1"):
    for _b in ("none", "simple", "complex"):
        register(*_squeezenet_rows(_v, _b))

# ---------------------------------------------------------------------------------------------------
# SqueezeNext rows.

_SQNXT_SOURCE = "amirgholami/SqueezeNext Caffe definitions"
_LAYOUTS = {
    "23": dict(blocks=(6, 6, 8, 1), stem_kernel=7, wiring="23"),
    "23v5": dict(blocks=(2, 4, 14, 1), stem_kernel=5, wiring="v5"),
    "34": dict(blocks=(9, 9, 12, 2), stem_kernel=7, wiring="23"),
    "44": dict(blocks=(12, 12, 16, 2), stem_kernel=7, wiring="23"),
}
_WIDTHS = {"w1": 1.0, "w3d2": 1.5, "w2": 2.0}
_WIDTH_LABEL = {"w1": "1.0", "w3d2": "1.5", "w2": "2.0"}
# Reference figures: (trainable params, MACs @227, MACs @224) of the official files, and imgclsmob's params.
_OFFICIAL_FIGURES = {
    ("23", "w1"): (717_280, 277_999_808, 268_976_832),
    ("23", "w2"): (2_361_728, 742_070_464, 719_066_816),
    ("23v5", "w1"): (930_016, 224_916_480, 222_046_464),
    ("23v5", "w2"): (3_222_912, 702_592_000, 697_960_192),
    ("44", "w2"): (4_428_096, 1_342_861_504, 1_301_665_472),
}
_IMGCLSMOB_PARAMS = {
    ("23", "w1"): 724_056, ("23", "w3d2"): 1_511_824, ("23", "w2"): 2_583_752,
    ("23v5", "w1"): 921_816, ("23v5", "w3d2"): 1_953_616, ("23v5", "w2"): 3_366_344,
}


def _figures(fig) -> dict:
    return dict(trainable_params=fig[0], macs_227=fig[1], macs_224=fig[2]) if fig else {}


def _sqnxt_rows(layout: str, width: str, groups: int = 1, ida: bool = False) -> list[ModelSpec]:
    prefix = ("g_" if groups > 1 else "") + f"sqnxt{layout}" + ("_ida" if ida else "")
    name = f"{prefix}_{width}"
    paper = f"{_WIDTH_LABEL[width]}-{'G-' if groups > 1 else ''}SqNxt-{layout}{'-IDA' if ida else ''}"
    config = dict(_LAYOUTS[layout], width_multiplier=_WIDTHS[width], convention="official")
    if groups > 1:
        config["groups"] = groups
    if ida:
        config["ida"] = True
    figures = None if (groups > 1 or ida) else _OFFICIAL_FIGURES.get((layout, width))
    if groups > 1 and (layout, width) == ("23", "w1"):
        figures = (543_072, 224_191_552, 216_810_688)
    if ida:
        provenance, source = RECONSTRUCTION, "IDA as in Deep Layer Aggregation (Yu et al. 2018); see squeezenext.py"
    elif figures and layout == "44":
        provenance, source = THIRD_PARTY, "jolibrain/deepdetect squeezenext_2_44 Caffe template"
    elif figures:
        provenance, source = OFFICIAL, _SQNXT_SOURCE
    else:
        provenance = RECONSTRUCTION
        source = "same parametric code; " + (
            "34's layout (9, 9, 12, 2) assumed" if layout == "34" else "official stem/final rule assumed"
        )
    aliases = (prefix,) if width == "w1" else ()
    official = ModelSpec(
        name=name, family="squeezenext", paper_name=paper, convention="official", provenance=provenance,
        source=source, config=config, preprocessing=CAFFE, aliases=aliases, expected=_figures(figures),
    )
    rows = [official]
    if (layout, width) in _IMGCLSMOB_PARAMS and groups == 1 and not ida:
        rows.append(ModelSpec(
            name=name, family="squeezenext", paper_name=paper, convention="imgclsmob", provenance=THIRD_PARTY,
            source=f"osmr/imgclsmob {name}",
            config=dict(blocks=_LAYOUTS[layout]["blocks"], width_multiplier=_WIDTHS[width], convention="imgclsmob"),
            preprocessing=IMAGENET_RGB, aliases=aliases,
            expected=dict(trainable_params=_IMGCLSMOB_PARAMS[(layout, width)]),
        ))
    return rows


for _layout in ("23", "23v5", "44"):
    for _w in _WIDTHS:
        register(*_sqnxt_rows(_layout, _w))
register(*_sqnxt_rows("23", "w1", groups=2))
register(*_sqnxt_rows("34", "w1"))
register(*_sqnxt_rows("23", "w1", ida=True))

# ---------------------------------------------------------------------------------------------------
# Found by the hardware-aware search (squeezekit/search): int8 on a 2-vCPU Zen 5 host, 1 thread.
register(ModelSpec(
    name="sqnxt_cpu1", family="squeezenext", paper_name="SqNxt-CPU-1", convention="official", provenance=SEARCH,
    source="python -m squeezekit.search --target host --max_params 717280 --data mnist5k --epochs 15 "
           "--time_budget 600 (seed 0; 2-vCPU Zen 5, LiteRT 2.3.0, 2026-11-26)",
    config=dict(blocks=(2, 8, 4, 1), widths=(48, 96, 128, 256), width_multiplier=1.0, stem_kernel=5, stem_stride=2,
                stem_filters=32, final_filters=128, groups=1, wiring="v5", first_pool="stem", convention="official"),
    preprocessing=CAFFE, aliases=("sqnxt_search_cpu1",),
    expected=dict(trainable_params=695_888, macs_224=240_592_896),
    notes="1.75x 1.0-SqNxt-23's int8 speed at 224 (1.147 vs 2.010 ms, 1 thread, side by side) with fewer "
          "params; mnist5k top-1 95.80% vs 93.20% (15 epochs, same recipe and seed)",
))


def _load_env_variants() -> None:
    import os

    for path in filter(None, os.environ.get("SQUEEZEKIT_VARIANTS", "").split(os.pathsep)):
        load_variants(path)


_load_env_variants()
