"""The model registry: the rows of ``zoo.py`` (and any ``variants.json`` a search wrote), looked up by name.

A row is one (name, convention): the family builder's configuration, the paper name, where the definition comes
from (provenance), the preprocessing its training used, the figures the reference gives (``expected``) and, where
a publisher hosts them, its ImageNet weights. A name can have several conventions (e.g. SqueezeNext's
``official`` Caffe files and osmr/imgclsmob's port): each is its own row, and the first registered is the default.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re

from squeezekit.errors import RegistryError
from squeezekit.models import families, plan
from squeezekit.models.spec import (  # noqa: F401  (re-exported: callers import these from the registry)
    CAFFE, IMAGENET_RGB, OFFICIAL, PROVENANCES, RECONSTRUCTION, SEARCH, THIRD_PARTY, ModelSpec, Preprocessing,
    Weights,
)

_REGISTRY: dict[str, list[ModelSpec]] = {}
_ALIASES: dict[str, str] = {}
_FROM_FILES: set[str] = set()  # names load_variants registered: a later variants.json may replace them


def _key(name: str) -> str:
    return re.sub(r"[\s\-\.]+", "_", name.strip().lower())


def _check(spec: ModelSpec) -> None:
    family = families.family(spec.family)
    if spec.convention not in family.conventions:
        raise RegistryError(f"{spec.name}: the {spec.family} family has no convention {spec.convention!r}; it has: "
                         f"{', '.join(family.conventions)}.")
    if spec.config.get("convention") != spec.convention:
        raise RegistryError(f"{spec.name}: config convention {spec.config.get('convention')!r} is not the row's "
                         f"{spec.convention!r}.")
    if spec.provenance not in PROVENANCES:
        raise RegistryError(f"{spec.name}: provenance must be one of {PROVENANCES}, got {spec.provenance!r}.")
    if (spec.name, spec.convention) in {(s.name, s.convention) for s in _REGISTRY.get(spec.name, [])}:
        raise RegistryError(f"{spec.name} ({spec.convention}) is already registered; give the new row another name.")
    for alias in (spec.name, spec.paper_name) + spec.aliases:
        owner = _ALIASES.get(_key(alias))
        if owner is not None and owner != spec.name:
            raise RegistryError(f"{spec.name}'s alias {alias!r} already names {owner}; choose another alias.")


def register(*specs: ModelSpec) -> None:
    """Add rows, each one (name, convention); a name's first row is its default. A duplicate is refused."""
    for spec in specs:
        _check(spec)
        _REGISTRY.setdefault(spec.name, []).append(spec)
        for alias in (spec.name, spec.paper_name) + spec.aliases:
            _ALIASES[_key(alias)] = spec.name


def _unregister(name: str) -> None:
    _REGISTRY.pop(name, None)
    for alias in [a for a, owner in _ALIASES.items() if owner == name]:
        del _ALIASES[alias]


# A SQUEEZEKIT_VARIANTS file that could not be read when squeezekit was imported: raised at the first lookup, so
# that a command-line tool reports it in one line (an import-time error would escape its error handling).
_ENV_ERRORS: list[RegistryError] = []


def _check_env() -> None:
    if _ENV_ERRORS:
        raise _ENV_ERRORS[0]


def resolve_name(name: str) -> str:
    """The registered name for ``name`` or any alias (case-insensitive; '1.0-SqNxt-23' works)."""
    _check_env()
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


def all_specs(pattern: str | None = None) -> list[ModelSpec]:
    """Every row (each convention of each name), in ``list_models`` order."""
    return [spec for name in list_models(pattern) for spec in _REGISTRY[name]]


def published(name: str | None = None) -> list[ModelSpec]:
    """The rows that declare published weights (of one name, or all)."""
    specs = _REGISTRY[resolve_name(name)] if name is not None else all_specs()
    return [spec for spec in specs if spec.weights is not None]


def load_variants(path: str) -> list[str]:
    """Register the variants a search wrote (``variants.json``) so that ``build`` and the CLIs know their names.

    Returns the names. A name a variants file registered before is replaced; a built-in name is refused.
    ``SQUEEZEKIT_VARIANTS`` (paths separated by ``os.pathsep``) loads files at import, so
    ``python -m squeezekit.train --model NAME`` works for them too.
    """
    import json

    try:
        with open(path) as f:
            rows = json.load(f)
        if not isinstance(rows, list):
            raise TypeError(f"the file holds a {type(rows).__name__}, not a list of variants")
        specs = []
        for row in rows:
            _check_variant_row(row)
            config = dict(row["config"])
            config["blocks"], config["widths"] = tuple(config["blocks"]), tuple(config["widths"])
            specs.append(ModelSpec(
                name=row["name"], family=row.get("family", "squeezenext"), paper_name=row.get("paper_name", row["name"]),
                convention=row.get("convention", "official"), provenance=row.get("provenance", SEARCH),
                source=row.get("source", os.path.abspath(path)), config=config,
                preprocessing=Preprocessing.from_dict(row["preprocessing"]) if "preprocessing" in row else CAFFE,
                expected=dict(row.get("expected", {})), notes=row.get("notes", "")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise RegistryError(f"cannot read variants from {path} ({type(err).__name__}: {err})",
                            "pass the variants.json that python -m squeezekit.search wrote.") from None
    for spec in specs:
        _check_variant_network(spec, path)
    for spec in specs:
        if spec.name in _REGISTRY and spec.name not in _FROM_FILES:
            raise RegistryError(f"{path} would replace the built-in model {spec.name}", "rename its variants.")
    for name in {spec.name for spec in specs}:
        _unregister(name)
    try:
        register(*specs)
    except ValueError as err:
        for name in {spec.name for spec in specs}:
            _unregister(name)
        raise RegistryError(f"cannot register the variants of {path}: {err}") from None
    _FROM_FILES.update(spec.name for spec in specs)
    return [spec.name for spec in specs]


def _check_variant_row(row) -> None:
    """A variants.json row's fields have the types the search writes (TypeError naming the field if not)."""
    def integer(value):
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(row, dict):
        raise TypeError(f"a variant is a {type(row).__name__}, not an object")
    for key in ("name", "family", "paper_name", "convention", "provenance", "source", "notes"):
        if key in row and not isinstance(row[key], str):
            raise TypeError(f"{key} is a {type(row[key]).__name__}, not a string")
    for key in ("config", "expected", "preprocessing"):
        if key in row and not isinstance(row[key], dict):
            raise TypeError(f"{key} is a {type(row[key]).__name__}, not an object")
    config = row["config"]
    for key, value in config.items():
        if key in ("blocks", "widths"):
            if not (isinstance(value, list) and value and all(integer(v) and v > 0 for v in value)):
                raise TypeError(f"config.{key} is {value!r}, not a list of positive integers")
        elif not (value is None or isinstance(value, (str, int, float))):
            raise TypeError(f"config.{key} is a {type(value).__name__}")
    for key, value in row.get("expected", {}).items():
        if not integer(value):
            raise TypeError(f"expected.{key} is {value!r}, not an integer")


def _check_variant_network(spec: ModelSpec, path: str) -> None:
    """The variant's configuration plans a network (cheap: no Keras) with the parameters it declares."""
    try:
        size = families.default_size(spec.convention)
        net = plan.of(spec.family, (size, size, 3), **{k: v for k, v in spec.config.items() if k != "name"})
        params = net.trainable_params
    except Exception as err:  # any failure of a hand-edited configuration: the file is at fault
        detail = str(err).splitlines()[0] if str(err) else ""
        raise RegistryError(f"variant {spec.name} in {path} does not describe a network "
                            f"({type(err).__name__}{': ' + detail if detail else ''})",
                            "pass the variants.json that python -m squeezekit.search wrote.") from None
    declared = spec.expected.get("trainable_params")
    if declared is not None and declared != params:
        raise RegistryError(f"variant {spec.name} in {path} declares {declared:,} trainable parameters but its "
                            f"configuration has {params:,}", "pass the variants.json that python -m "
                            "squeezekit.search wrote (its rows are checked against their counts).")


def conventions(name: str) -> list[str]:
    return [s.convention for s in _REGISTRY[resolve_name(name)]]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, optionally filtered by a shell-style pattern such as ``"sqnxt23*"``."""
    _check_env()
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern.lower())]
    return names


def _row_for(model_name: str, convention: str | None, weights) -> ModelSpec:
    """The row ``build`` uses: ``weights`` picks the row that declares them when no convention is given."""
    if weights == "imagenet":
        from squeezekit.weights.tf2cv import WeightsError

        rows = published(model_name)
        if convention is None and rows:
            return rows[0]
        spec = get_spec(model_name, convention)
        if spec.weights is None:
            if rows:
                raise WeightsError(f"{spec.name} ({spec.convention}) has no published ImageNet weights; its "
                                   f"{rows[0].convention} convention has: build({spec.name!r}, convention="
                                   f"{rows[0].convention!r}, weights='imagenet').")
            have = ", ".join(dict.fromkeys(s.name for s in published()))
            raise WeightsError(f"{spec.name} has no published ImageNet weights; these models have: {have}.")
        return spec
    if convention is None and isinstance(weights, (str, os.PathLike)):
        from squeezekit.weights import store

        for spec in published(model_name):
            if store.in_format(spec.weights, weights):  # e.g. a tf2cv file fits only the imgclsmob row
                return spec
    return get_spec(model_name, convention)


def build(model_name: str, /, *, convention: str | None = None, **kwargs):
    """Build a registered model: ``build("sqnxt23")``, ``build("1.0-SqNxt-23", classes=10)``.

    ``kwargs`` are the family builder's arguments (``include_top``, ``input_shape``, ``classes``,
    ``classifier_activation``, ``weights``, ``keras_module``...) and override the row's configuration.
    ``weights="imagenet"`` fetches the row's published weights into Keras' cache (``keras.utils.get_file``,
    hash-checked; see ``squeezekit.weights.store``) and loads them; without a convention it picks the row that
    publishes them (osmr/imgclsmob's tf2cv files: ``convention="imgclsmob"``). A weights file in a row's published
    format (a tf2cv ``.tf2.h5``) likewise selects that row.
    """
    spec = _row_for(model_name, convention, kwargs.get("weights"))
    if kwargs.get("weights") == "imagenet":
        from squeezekit.weights import store

        kwargs["weights"] = store.fetch(spec)
    args = dict(spec.config)
    args.update(kwargs)
    args.setdefault("name", spec.name)
    return families.family(spec.family).builder()(**args)


def _load_builtin_and_env_variants() -> None:
    from squeezekit.models import zoo

    register(*zoo.ROWS)
    for path in filter(None, os.environ.get("SQUEEZEKIT_VARIANTS", "").split(os.pathsep)):
        try:
            load_variants(path)
        except RegistryError as err:
            _ENV_ERRORS.append(RegistryError(f"SQUEEZEKIT_VARIANTS names {path}, which cannot be used: {err.problem}",
                                             "pass the variants.json that python -m squeezekit.search wrote, or "
                                             "unset SQUEEZEKIT_VARIANTS."))


_load_builtin_and_env_variants()
