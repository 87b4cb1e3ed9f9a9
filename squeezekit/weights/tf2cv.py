"""osmr/imgclsmob's TensorFlow 2 weights (tf2cv ``.tf2.h5`` files) into squeezekit's imgclsmob-convention models.

tf2cv's models are subclassed tf_keras models; ``save_weights`` writes the legacy Keras HDF5 layout: one group
per top-level layer (``features``, ``output1``), each with a ``weight_names`` attribute listing its variables
(all trainable ones, then the BatchNorm moving statistics). Variable names follow tf2cv's attribute nesting,
with name scopes repeated (``features/features/stage1/stage1/unit1/conv1/conv/conv/kernel:0``). Reading one:

1. every variable name becomes a *key*: the group, then the name's parts with repeats collapsed and the
   scope-only parts (``features``, ``output1``, ``conv``) dropped: ``features/stage1/unit1/conv1/kernel``;
2. every weight of the squeezekit model gets the key of the tf2cv variable it corresponds to, from the layer
   structure (``stage1_block1_squeeze_a`` is tf2cv's ``stage1/unit1/conv1``, its ``_bn`` is ``.../conv1/bn``);
3. keys are matched and shapes compared one by one; the first difference is the error. A file whose names do
   not parse at all is matched by position instead, in tf2cv's own order (what ``tf_keras`` ``load_weights``
   does), still shape by shape.

The classifier (``output1``) is loaded only when the model has one with the file's number of classes; with
``include_top=False`` or other ``classes`` everything else loads and the report says the classifier was left
at its initialization.

Where the files come from: tf2cv's model store; the registry rows that publish them (``published()``) declare
each file's name, URL and the SHA-1 tf2cv checks; ``squeezekit.weights.store`` fetches them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import numpy as np

from squeezekit.errors import WeightsError
GROUPS = ("features", "output1")
_SCOPE_ONLY = {"features", "output1", "conv"}
_STRUCTURAL = re.compile(r"^(init_block|final_block|final_conv|stage\d+)$")
# tf2cv's attribute order inside a unit (SqnxtUnit, FireUnit): what positional matching follows.
_SQNXT_UNIT = ("conv1", "conv2", "conv3", "conv4", "conv5", "identity_conv")
_SQNXT_ROLES = dict(squeeze_a="conv1", squeeze_b="conv2", sep_a="conv3", sep_b="conv4", expand="conv5",
                    proj="identity_conv")
_FIRE_UNIT = ("squeeze", "expand1x1", "expand3x3")
_FIRE_ROLES = dict(squeeze1x1="squeeze", expand1x1="expand1x1", expand3x3="expand3x3")
_SLOTS = dict(conv=("kernel", "bias"), bn=("gamma", "beta", "moving_mean", "moving_variance"))
_NON_TRAINABLE = ("moving_mean", "moving_variance")


def published() -> dict:
    """tf2cv's model name (``squeezeresnet_v1_0``) -> the registry row that publishes its store file."""
    from squeezekit.models import registry

    return {s.weights.store_name: s for s in registry.published() if s.weights.format == "tf2cv"}


def tf2cv_name_for(model_name: str) -> str | None:
    """tf2cv's name for a squeezekit registry name (None if tf2cv has no such model)."""
    return next((n for n, spec in published().items() if spec.name == model_name), None)


@dataclass(frozen=True)
class FileWeight:
    group: str
    name: str  # as stored (weight_names), for messages
    key: tuple[str, ...] | None  # None when the name does not parse
    shape: tuple[int, ...]
    index: int  # position in the file: tf2cv's order


@dataclass
class Tf2cvFile:
    path: str
    weights: list[FileWeight]
    arrays: dict  # (group, name) -> np.ndarray


@dataclass(frozen=True)
class Expected:
    key: tuple[str, ...]
    layer: str  # squeezekit layer name
    slot: str  # kernel, bias, gamma, beta, moving_mean, moving_variance
    shape: tuple[int, ...]
    classifier: bool
    order: tuple  # tf2cv's position: (group, trainable first, unit path...)


@dataclass
class LoadReport:
    path: str
    model: str
    loaded: int  # tensors
    loaded_params: int
    matched_by: str  # "names" or "position"
    classifier: str  # "loaded", "absent (include_top=False)" or "not loaded (N classes in the file, M in the model)"
    file_classes: int | None
    tf2cv_name: str | None  # what the file is, when its SHA-1 is in tf2cv's store
    sha1: str

    def summary(self) -> str:
        known = f" (tf2cv store file {self.tf2cv_name})" if self.tf2cv_name else ""
        return (f"loaded {self.loaded} tensors ({self.loaded_params:,} values) from {os.path.basename(self.path)}"
                f"{known} into {self.model}, matched by {self.matched_by}; classifier {self.classifier}")


def weight_key(group: str, name: str) -> tuple[str, ...] | None:
    """The matching key of a stored tf2cv variable name; None if the name has no tf2cv structure."""
    parts = [p for p in name.split(":")[0].split("/") if p]
    deduped = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    kept = [p for p in deduped if p not in _SCOPE_ONLY]
    if not kept:
        return None
    start = next((i for i, p in enumerate(kept) if _STRUCTURAL.match(p)), None)
    kept = kept[-1:] if start is None else kept[start:]  # no structural part: the Dense classifier, output1/kernel
    if kept[-1] not in _SLOTS["conv"] + _SLOTS["bn"]:
        return None
    return (group, *kept)


def _decode(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def looks_like_tf2cv(path) -> bool:
    """True for an HDF5 file in tf_keras' weights layout whose top-level layers are tf2cv's."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            names = [_decode(n) for n in root.attrs.get("layer_names", [])]
    except (OSError, ValueError, KeyError):
        return False
    return bool(names) and set(names) <= set(GROUPS) and "features" in names


def read(path) -> Tf2cvFile:
    """Every variable of a tf2cv weights file, in stored order."""
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weights file not found: {path}; pass the unzipped .tf2.h5 from tf2cv's model store.")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise WeightsError(f"{path} is not an HDF5 file; pass a tf2cv .tf2.h5 file (unzip the .tf2.h5.zip "
                           "that tf2cv's model store publishes).") from None
    try:
        with f:
            root = f["model_weights"] if "model_weights" in f else f
            groups = [_decode(n) for n in root.attrs.get("layer_names", [])]
            if not groups or "features" not in groups or not set(groups) <= set(GROUPS):
                found = ", ".join(groups) if groups else "no layer_names attribute"
                raise WeightsError(f"{path} is not a tf2cv weights file (top-level layers: {found}; tf2cv's are "
                                   "features and output1); pass a .tf2.h5 from tf2cv's model store.")
            weights, arrays = [], {}
            for group in groups:
                for name in (_decode(n) for n in root[group].attrs.get("weight_names", [])):
                    array = np.asarray(root[group][name])
                    arrays[(group, name)] = array
                    weights.append(FileWeight(group, name, weight_key(group, name), tuple(array.shape),
                                              len(weights)))
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError) as err:
        # h5py raises these for a damaged object header, a cut dataset, an attribute of the wrong kind...
        detail = (str(err).strip("'\" ").splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"{path} is a damaged HDF5 file ({type(err).__name__}: {detail}); download and unzip "
                           "it again.") from None
    if not weights:
        raise WeightsError(f"{path} holds no weights; pass a .tf2.h5 from tf2cv's model store.")
    return Tf2cvFile(path, weights, arrays)


def file_digest(path, algorithm: str = "sha1") -> str:
    """The hex digest of the file (tf2cv's model store publishes SHA-1s)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The squeezekit side: every weight of an imgclsmob-convention model with its tf2cv key.

_SQNXT_LAYER = re.compile(r"^stage(\d+)_block(\d+)_(squeeze_a|squeeze_b|sep_a|sep_b|expand|proj)(_bn)?$")
_FIRE_LAYER = re.compile(r"^fire(\d+)_(squeeze1x1|expand1x1|expand3x3)$")


def _family(model) -> str:
    names = {layer.name for layer in model.layers}
    if "stem_conv" in names:
        return "squeezenext"
    if "conv1" in names and "fire2_squeeze1x1" in names:
        return "squeezenet"
    raise WeightsError(f"{model.name} is not a squeezekit SqueezeNet or SqueezeNext; tf2cv weights load into "
                       "models built by squeezekit.build(..., convention='imgclsmob').")


def _fire_units(model) -> dict[int, tuple[int, int]]:
    """Fire index -> (tf2cv stage, unit): a stage starts at every max-pool (tf2cv puts the pool first)."""
    fires = sorted(int(m.group(1)) for m in (_FIRE_LAYER.match(l.name) for l in model.layers)
                   if m and m.group(2) == "squeeze1x1")
    pools_after = {int(l.name[4:]) for l in model.layers if re.fullmatch(r"pool\d+", l.name) and l.name != "pool1"}
    placement, stage, unit = {}, 1, 0
    for fire in fires:
        unit += 1
        placement[fire] = (stage, unit)
        if fire in pools_after:
            stage, unit = stage + 1, 0
    return placement


def _layer_path(layer_name: str, fires) -> tuple[tuple[str, ...], bool, tuple] | None:
    """(key path without the slot, is classifier, order) of one squeezekit layer, or None if tf2cv has none."""
    if layer_name in ("stem_conv", "conv1"):
        return ("features", "init_block"), False, (0, 0, 0, 0, 0)
    if layer_name == "stem_conv_bn":
        return ("features", "init_block", "bn"), False, (0, 0, 0, 0, 1)
    if layer_name in ("final_conv", "final_conv_bn"):
        bn = ("bn",) if layer_name.endswith("_bn") else ()
        return ("features", "final_block", *bn), False, (0, 10**6, 0, 0, len(bn))
    if layer_name == "fc":
        return ("output1",), True, (1, 0, 0, 0, 0)
    if layer_name == "conv10":
        return ("output1", "final_conv"), True, (1, 0, 0, 0, 0)
    m = _SQNXT_LAYER.match(layer_name)
    if m:
        stage, unit, role, bn = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        conv = _SQNXT_ROLES[role]
        path = ("features", f"stage{stage}", f"unit{unit}", conv) + (("bn",) if bn else ())
        return path, False, (0, stage, unit, _SQNXT_UNIT.index(conv), int(bool(bn)))
    m = _FIRE_LAYER.match(layer_name)
    if m:
        stage, unit = fires[int(m.group(1))]
        conv = _FIRE_ROLES[m.group(2)]
        return ("features", f"stage{stage}", f"unit{unit}", conv), False, (0, stage, unit, _FIRE_UNIT.index(conv), 0)
    return None


def expected_weights(model) -> list[Expected]:
    """Every weight of a squeezekit imgclsmob-convention model with the key of its tf2cv variable."""
    family = _family(model)
    fires = _fire_units(model) if family == "squeezenet" else {}
    expected = []
    for layer in model.layers:
        weights = layer.weights
        if not weights:
            continue
        found = _layer_path(layer.name, fires)
        if found is None:
            raise WeightsError(f"{model.name}'s layer {layer.name} has no tf2cv counterpart; tf2cv weights load "
                               "only into squeezekit.build(..., convention='imgclsmob') models.")
        path, classifier, order = found
        slots = _SLOTS["bn"] if path[-1] == "bn" else _SLOTS["conv"]
        names = [w.name.split("/")[-1].split(":")[0] for w in weights]
        if names != list(slots[: len(names)]) or (path[-1] == "bn" and len(names) != 4):
            raise WeightsError(f"{model.name}'s layer {layer.name} has weights {names}, not tf2cv's {list(slots)}; "
                               "build the model with convention='imgclsmob'.")
        for slot, w in zip(names, weights):
            trainable_rank = 1 if slot in _NON_TRAINABLE else 0
            expected.append(Expected(path + (slot,), layer.name, slot, tuple(int(d) for d in w.shape), classifier,
                                     (order[0], trainable_rank) + order[1:] + (slots.index(slot),)))
    return expected


# ---------------------------------------------------------------------------------------------------------------
# What a file is: tf2cv's store hash, its file name, or its layer structure.

def describe_file(weights: list[FileWeight]) -> str | None:
    """The tf2cv architecture a file's shapes describe (e.g. "sqnxt23v5_w3d2"), or None.

    SqueezeNet and SqueezeResNet (simple bypass) of one version hold identical shapes: the identity adds have
    no weights, so the name reports both.
    """
    shapes = {w.key: w.shape for w in weights if w.key is not None}
    stem = shapes.get(("features", "init_block", "kernel"))
    if stem is None or len(stem) != 4:
        return None
    units = {}
    for key in shapes:
        if len(key) > 3 and key[1].startswith("stage") and key[2].startswith("unit"):
            stage, unit = int(key[1][5:]), int(key[2][4:])
            units[stage] = max(units.get(stage, 0), unit)
    layout = tuple(units[s] for s in sorted(units))
    if any(k[3] == "squeeze" for k in shapes if len(k) > 3):
        version = {(7, 96): "v1_0", (3, 64): "v1_1"}.get((stem[0], stem[3]))
        return f"squeezenet_{version} or squeezeresnet_{version}" if version else None
    kind = {(6, 6, 8, 1): "sqnxt23", (2, 4, 14, 1): "sqnxt23v5"}.get(layout)
    width = {64: "w1", 96: "w3d2", 128: "w2"}.get(stem[3])
    return f"{kind}_{width}" if kind and width else None


def _identify_hint(file: Tf2cvFile) -> str:
    what = describe_file(file.weights)
    if what is None:
        return ""
    rows = published()
    names = [rows[n].name for n in rows if n in what.split(" or ")]
    ours = " or ".join(names)
    return f"; the file holds {what} weights: build {ours} instead"


def named_for(path) -> str | None:
    """The tf2cv model a file is named for (the store names files ``{model}-{error}-{sha1[:8]}.tf2.h5``)."""
    base = os.path.basename(os.fspath(path))
    for name in sorted(published(), key=len, reverse=True):
        if re.match(re.escape(name) + r"([-.]|$)", base):
            return name
    return None


# ---------------------------------------------------------------------------------------------------------------
# Loading.

def _match(file: Tf2cvFile, expected: list[Expected], model_name: str):
    """(pairs of (Expected, FileWeight) for the model's weights present in the file, how matched)."""
    by_key = {w.key: w for w in file.weights if w.key is not None}
    expected_keys = {e.key for e in expected}
    if by_key and (expected_keys & set(by_key)):
        unknown = [w for w in file.weights if w.key is None]
        if unknown:
            raise WeightsError(f"{file.path} does not fit {model_name}: the file's weight {unknown[0].group}/"
                               f"{unknown[0].name} has no tf2cv structure{_identify_hint(file)}.")
        return [(e, by_key.get(e.key)) for e in expected], "names"
    # No name parses: tf_keras' own rule, position within each group, in tf2cv's order.
    ordered = sorted(expected, key=lambda e: e.order)
    groups = {}
    for w in file.weights:
        groups.setdefault(w.group, []).append(w)
    pairs = []
    for group in GROUPS:
        mine = [e for e in ordered if e.key[0] == group]
        theirs = groups.get(group, [])
        if mine and theirs and len(mine) != len(theirs) and not mine[0].classifier:
            raise WeightsError(f"{file.path} does not fit {model_name}: its {group} group holds {len(theirs)} "
                               f"tensors, the model has {len(mine)}{_identify_hint(file)}.")
        for i, e in enumerate(mine):
            pairs.append((e, theirs[i] if i < len(theirs) else None))
    return pairs, "position"


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def load_tf2cv(model, path, *, expected_name: str | None = None, file: Tf2cvFile | None = None) -> LoadReport:
    """Load a tf2cv weights file into a squeezekit imgclsmob-convention model (Keras 3 or tf_keras), in place.

    ``expected_name`` is the tf2cv model the caller means (e.g. "sqnxt23_w1"); a file named or hashed as
    another tf2cv model is refused, since a SqueezeNet and a SqueezeResNet file fit each other's shapes.
    ``file`` is ``path`` already read with ``read`` (so a caller that looked inside does not read it twice).
    """
    file = file or read(path)
    path = file.path
    sha1 = file_digest(path)
    rows = published()
    known = next((n for n, spec in rows.items() if spec.weights.sha1 == sha1), None)
    named = known or named_for(path)
    if expected_name and named and named != expected_name:
        ours = rows[named].name
        raise WeightsError(f"{os.path.basename(path)} is tf2cv's {named}, not {expected_name}",
                           f"build {ours} or pass the {expected_name} file.", param="model", suggestion=ours)
    expected = expected_weights(model)
    pairs, how = _match(file, expected, model.name)

    # Features first, in the model's layer order: the first difference is the error.
    values: dict[str, dict[str, np.ndarray]] = {}
    used = set()
    file_classes = None
    classifier_pairs = []
    for e, w in pairs:
        if e.classifier:
            classifier_pairs.append((e, w))
            continue
        if w is None:
            raise WeightsError(f"{path} does not fit {model.name}: the file has no weight for {e.layer}.{e.slot} "
                               f"(tf2cv {'/'.join(e.key)}, shape {_shape(e.shape)}){_identify_hint(file)}.")
        if w.shape != e.shape:
            raise WeightsError(f"{path} does not fit {model.name}: {w.group}/{w.name} is {_shape(w.shape)} in the "
                               f"file but {e.layer}.{e.slot} is {_shape(e.shape)} in the model{_identify_hint(file)}.")
        values.setdefault(e.layer, {})[e.slot] = file.arrays[(w.group, w.name)]
        used.add(w.index)
    leftover = [w for w in file.weights if w.index not in used and w.group != "output1"]
    if leftover:
        w = leftover[0]
        raise WeightsError(f"{path} does not fit {model.name}: the file's {w.group}/{w.name} {_shape(w.shape)} has no "
                           f"place in the model{_identify_hint(file)}.")

    file_output = [w for w in file.weights if w.group == "output1"]
    if file_output:
        file_classes = int(file_output[0].shape[-1])
    if not classifier_pairs:
        classifier = "absent (include_top=False)"
    else:
        model_classes = classifier_pairs[0][0].shape[-1]
        mismatch = [(e, w) for e, w in classifier_pairs if w is None or w.shape != e.shape]
        if not mismatch:
            for e, w in classifier_pairs:
                values.setdefault(e.layer, {})[e.slot] = file.arrays[(w.group, w.name)]
            classifier = "loaded"
        else:
            e, w = mismatch[0]
            if w is not None and w.shape[:-1] != e.shape[:-1]:
                raise WeightsError(f"{path} does not fit {model.name}: the classifier weight {w.group}/{w.name} is "
                                   f"{_shape(w.shape)} in the file but {e.layer}.{e.slot} is {_shape(e.shape)} in "
                                   f"the model{_identify_hint(file)}.")
            classifier = f"not loaded ({file_classes} classes in the file, {model_classes} in the model)"

    loaded = loaded_params = 0
    by_layer = {layer.name: layer for layer in model.layers}
    for layer_name, slots in values.items():
        layer = by_layer[layer_name]
        names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
        arrays = [slots[n] for n in names]
        layer.set_weights(arrays)
        loaded += len(arrays)
        loaded_params += sum(int(a.size) for a in arrays)
    return LoadReport(path=path, model=model.name, loaded=loaded, loaded_params=loaded_params, matched_by=how,
                      classifier=classifier, file_classes=file_classes, tf2cv_name=known, sha1=sha1)
