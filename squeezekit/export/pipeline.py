"""From a registry name (and optionally a trained run) to verified .tflite files: what the export CLI runs.

``prepare`` gathers the model, its preprocessing and labels, and the images to calibrate and verify with;
``export`` converts with one recipe (after quantization-aware training or Deep Compression on the model's
tf_keras twin when asked), attaches the metadata, builds the report and writes the three files atomically.
This is the application: it resolves names and run folders, loads data and writes files; the conversions
themselves are the ``converters`` library's, which knows nothing of squeezekit. Errors a user can fix are
``SqueezekitError``s with a one-line message (``ExportError`` for the export's own, ``DataError`` for the
data's...).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from converters import layer_errors, metadata, report as report_lib, rewrite, tflite
from converters.files import write_atomic
from squeezekit.errors import ExportError, SqueezekitError
from squeezekit.runs import LABELS, RUN_CONFIG, RunConfig, read_labels

UNTRAINED_CALIBRATION = 32  # bundled photo crops for an untrained model


@dataclass
class Source:
    model: object  # Keras 3, float, with its build record (so it has a tf_keras twin)
    spec: object  # registry ModelSpec
    class_names: list[str]
    input_size: int
    trained: bool
    weights: str | None
    data_name: str  # where calibration/verification images come from
    calibration: np.ndarray  # preprocessed float32 images
    eval_images: np.ndarray | None  # preprocessed held-out images (trained models)
    eval_labels: np.ndarray | None
    load_training: object = None  # () -> tf.data of augmented (images, one-hot) batches, for QAT
    run: RunConfig | None = None
    relay: dict | None = None  # restore_staged's check, when the weights came from another Keras backend
    _float_file: bytes | None = field(default=None, init=False, repr=False)

    @property
    def verification_images(self) -> np.ndarray:
        """Held-out images when there are labelled data, else the calibration images."""
        return self.eval_images if self.eval_images is not None else self.calibration

    @functools.cached_property
    def reference(self) -> np.ndarray:
        """The float Keras model's outputs on ``verification_images``: computed once for every flavour."""
        return np.asarray(self.model.predict(self.verification_images, batch_size=64, verbose=0))

    def twin(self):
        """The float tf_keras twin of ``model`` (same weights, outputs checked equal), for tfmot."""
        from squeezekit.models.twin import to_tf_keras

        return to_tf_keras(self.model)

    def float_file(self, saved=None) -> bytes:
        """The float32 .tflite of ``model`` (converted once): the reference of every quantized flavour's
        per-op error. ``saved`` is a ``tflite.exported`` handle to convert from, when the caller has one."""
        if self._float_file is None:
            if saved is None:
                with tflite.exported(self.model) as ex:
                    self._float_file = tflite.convert(ex, tflite.Recipe("float32")).content
            else:
                self._float_file = tflite.convert(saved, tflite.Recipe("float32")).content
        return self._float_file

    @property
    def trainable_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.model.trainable_weights))


def _load_trained(model_name, weights, convention):
    import keras

    import squeezekit
    from squeezekit.models.twin import copy_weights

    if not os.path.isfile(weights):
        raise ExportError(f"weights file not found: {weights}; pass the model.keras of a training run.")
    run = RunConfig.beside(weights)  # a malformed run_config.json is a one-line RunError
    try:
        loaded = keras.models.load_model(weights, compile=False)
    except Exception as err:  # Keras raises many types for a bad file; the user needs one line
        raise ExportError(f"cannot read {weights} as a Keras model ({type(err).__name__}); pass a .keras "
                          "file written by squeezekit.train.") from None
    if model_name is None:
        if run is None:
            raise ExportError(f"no {RUN_CONFIG} beside {weights}", "pass the model's registry name.",
                              param="model")
        model_name, convention = run.model, run.convention
    spec = squeezekit.models.get_spec(model_name, convention)
    if run is not None:
        run_spec = squeezekit.models.get_spec(run.model, run.convention)
        if (run_spec.name, run_spec.convention) != (spec.name, spec.convention):
            raise ExportError(f"{weights} holds a {run_spec.name} ({run_spec.convention}) run, not {spec.name} "
                              f"({spec.convention})", f"pass {run_spec.name!r} or None (the run's model).",
                              param="model", suggestion=run_spec.name)
    shape = tuple(int(d) for d in loaded.inputs[0].shape[1:])
    classes = int(loaded.outputs[0].shape[-1])
    model = squeezekit.build(spec.name, convention=spec.convention, input_shape=shape, classes=classes)
    try:
        copy_weights(loaded, model)
    except ValueError as err:
        raise ExportError(f"the weights in {weights} do not fit {spec.name}: {str(err).rstrip('.')}",
                          "pass the name of the model the run trained.", param="model") from None
    class_names = _labels(weights, run, classes)
    preprocessing = run.preprocessing if run is not None else spec.preprocessing
    return model, spec, class_names, preprocessing, run


def _labels(weights: str, run: RunConfig | None, classes: int) -> list[str]:
    """The class names of a trained model: its folder's labels.txt, which must agree with the run's config and
    the model's outputs. The .tflite carries them, so an export never makes them up."""
    folder = os.path.dirname(os.path.abspath(weights))
    path = os.path.join(folder, LABELS)
    labels = read_labels(folder)  # a file that is not text is a one-line RunError
    if labels is None:
        raise ExportError(f"no {LABELS} beside {weights} (or it is empty): the .tflite would carry no class names",
                          f"write the class names to {path}, one per line in output order"
                          + (f" (the {len(run.class_names)} in {RUN_CONFIG})" if run is not None else "")
                          + "; squeezekit.train and squeezekit.weights write it.")
    if run is not None and labels != run.class_names:
        raise ExportError(f"{path} does not list the class names of {os.path.join(folder, RUN_CONFIG)} "
                          f"({len(labels)} lines, {len(run.class_names)} names)",
                          "restore it from the run, or train the run again.")
    if len(labels) != classes:
        raise ExportError(f"{path} has {len(labels)} class names but the model in {weights} has {classes} outputs",
                          "write one name per output, in output order.")
    return labels


def _arrays(dataset, limit: int):
    xs, ys, n = [], [], 0
    for x, y in dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y).argmax(-1))
        n += len(xs[-1])
        if n >= limit:
            break
    return np.concatenate(xs)[:limit].astype(np.float32), np.concatenate(ys)[:limit]


def prepare(model_name: str | None, *, weights: str | None = None, data: str | None = None,
            input_size: int | None = None, convention: str | None = None, calibration_images: int = 200,
            max_eval: int = 2000, batch_size: int = 64, relayed: str | None = None) -> Source:
    """Everything ``export`` needs. With ``weights`` (a training run's model.keras) the model, input size,
    labels and preprocessing come from the run; without, the untrained registry model at its default size
    (1000 classes), calibrated on ``data`` or on crops of the bundled photos.

    Needs Keras' TensorFlow backend. ``relayed``: a folder that ``stage_for_tensorflow`` filled in a process on
    another backend (JAX, PyTorch) for the same arguments: the model takes its weights from there, after its
    outputs are checked equal to that process's (``restore_staged``)."""
    import squeezekit
    from squeezekit.data import load, normalize

    check_backend()
    model, spec, class_names, preprocessing, run = _source_model(model_name, weights, input_size, convention)
    size = int(model.inputs[0].shape[1])
    relay = restore_staged(model, relayed) if relayed else None

    source = data or (run and run.data)
    eval_images = eval_labels = None
    load_training = None
    if source:
        split = dict(val_split=run.val_split, seed=run.seed) if run and source == run.data else {}
        plain = load(source, size, preprocessing, batch_size=batch_size, augment=None, cache=False,
                     class_names=class_names if weights else None, **split)
        if weights and plain.num_classes != len(class_names):
            raise ExportError(f"{source} has {plain.num_classes} classes but the model has {len(class_names)}.")
        calibration, _ = _arrays(plain.train, calibration_images)
        if weights:
            eval_images, eval_labels = _arrays(plain.val, max_eval)

            def load_training():
                return load(source, size, preprocessing, batch_size=batch_size, augment="default",
                            class_names=class_names, **split).train
        data_name = plain.name
    else:
        photos = squeezekit.data.builtin.sample_photo_crops(size, UNTRAINED_CALIBRATION)
        calibration = np.asarray(normalize(photos.astype(np.float32), preprocessing))
        data_name = f"{UNTRAINED_CALIBRATION} crops of the bundled sample photos"
    return Source(model, spec, class_names, size, bool(weights), weights, data_name, calibration, eval_images,
                  eval_labels, load_training, run, relay)


def _source_model(model_name, weights, input_size, convention):
    """(model, spec, class_names, preprocessing, run) of an export: the trained run's or the registry's model."""
    import squeezekit

    try:
        if weights:
            model, spec, class_names, preprocessing, run = _load_trained(model_name, weights, convention)
            size = int(model.inputs[0].shape[1])
            if input_size is not None and input_size != size:
                raise ExportError(f"input size {input_size} does not match the {size}x{size} input the weights "
                                  f"were trained at", f"pass input_size=None (or train at {input_size}).",
                                  param="input_size", suggestion=size)
        else:
            if model_name is None:
                raise ExportError("no model", "pass a registry name or trained weights.", param="model")
            spec = squeezekit.models.get_spec(model_name, convention)
            size = input_size or spec.default_size
            model = squeezekit.build(spec.name, convention=spec.convention, input_shape=(size, size, 3))
            class_names = [f"class_{i:03d}" for i in range(int(model.outputs[0].shape[-1]))]
            preprocessing, run = spec.preprocessing, None
    except ValueError as err:
        if isinstance(err, SqueezekitError):  # an ExportError, or the registry's or the builder's
            raise
        raise ExportError(str(err).split("\n")[0]) from None
    return model, spec, class_names, preprocessing, run


# Export from another Keras backend. TFLite conversion traces the model with TensorFlow: under JAX, Keras exports
# through jax2tf, whose graph keeps the variables (full int8 then fails on tfl.assign_variable), and PyTorch has no
# route to TFLite at all. So a process on another backend stages the export's float model, its weights as a
# .weights.h5 and its outputs on seeded inputs, and a process on the TensorFlow backend rebuilds the same model
# (the builders are the same code on every backend), loads the weights and checks the outputs before converting.
RELAY_WEIGHTS = "model.weights.h5"
RELAY_OUTPUTS = "outputs.npz"
RELAY_INPUTS = 8  # seeded standard-normal images (the scale of normalized inputs)
# The outputs must agree elementwise within RELAY_ATOL * max(1, max |output|) + RELAY_RTOL * |output|: float32
# round-off between backends (measured: at most 2.2e-5 on probabilities near 1, 1.2e-7 on 0.1), while two
# differently initialized SqueezeNets differ by about 1.6e-4 (median) on 1000-class probabilities near 0.001.
RELAY_ATOL = 1e-5
RELAY_RTOL = 1e-4


def backend() -> str:
    """The Keras backend of this process: ``tensorflow``, ``jax``, ``torch``..."""
    import keras

    return keras.backend.backend()


def check_backend() -> None:
    """An ``ExportError`` unless this process runs Keras' TensorFlow backend, which TFLite conversion needs."""
    if backend() != "tensorflow":
        raise ExportError(f"TFLite export needs Keras' TensorFlow backend, and this process runs {backend()!r}",
                          "stage the model here with squeezekit.export.pipeline.stage_for_tensorflow and "
                          "export in a process started with KERAS_BACKEND=tensorflow, passing the folder as "
                          "prepare(relayed=...); the squeezekit.export command does both by itself.")


def stage_for_tensorflow(model_name: str | None, folder: str, *, weights: str | None = None,
                         input_size: int | None = None, convention: str | None = None, seed: int = 0) -> dict:
    """On any backend: build the float model that ``prepare`` would for these arguments, and write its weights
    (``RELAY_WEIGHTS``, a .weights.h5) and its outputs on ``RELAY_INPUTS`` seeded inputs (``RELAY_OUTPUTS``) to
    ``folder``, for ``prepare(relayed=folder)`` in a TensorFlow-backend process. Returns what it wrote."""
    model = _source_model(model_name, weights, input_size, convention)[0]
    size = int(model.inputs[0].shape[1])
    inputs = np.random.default_rng(seed).standard_normal((RELAY_INPUTS, size, size, 3)).astype(np.float32)
    outputs = np.asarray(model.predict(inputs, batch_size=RELAY_INPUTS, verbose=0), dtype=np.float32)
    path = os.path.join(folder, RELAY_WEIGHTS)
    try:
        model.save_weights(path)
        np.savez(os.path.join(folder, RELAY_OUTPUTS), inputs=inputs, outputs=outputs, backend=backend())
    except OSError as err:
        raise ExportError(f"cannot write to {folder}: {err.strerror or err}", "choose a writable folder.") from None
    return {"weights": path, "backend": backend(), "inputs": RELAY_INPUTS}


def restore_staged(model, folder: str) -> dict:
    """Load the weights ``stage_for_tensorflow`` wrote to ``folder`` into ``model`` (the same model, rebuilt on
    this backend), then check its outputs on the staged inputs against the staging process's: an
    ``ExportError`` when they differ by more than ``RELAY_ATOL`` and ``RELAY_RTOL`` allow. Returns the
    comparison."""
    try:
        with np.load(os.path.join(folder, RELAY_OUTPUTS)) as staged:
            inputs, expected, source = staged["inputs"], staged["outputs"], str(staged["backend"])
        model.load_weights(os.path.join(folder, RELAY_WEIGHTS))
    except (OSError, KeyError, ValueError) as err:
        raise ExportError(f"cannot load the model staged in {folder} ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''})",
                          "stage it again with stage_for_tensorflow and the same arguments.") from None
    outputs = np.asarray(model.predict(inputs, batch_size=len(inputs), verbose=0), dtype=np.float32)
    if outputs.shape != expected.shape:
        raise ExportError(f"the model staged in {folder} has outputs of shape {expected.shape}, this one "
                          f"{outputs.shape}", "stage it again with the same arguments as this export.")
    difference = np.abs(outputs - expected)
    atol = RELAY_ATOL * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    within = bool(np.all(difference <= atol + RELAY_RTOL * np.abs(expected)))  # NaN fails too
    diff = float(np.max(difference, initial=0.0))
    check = {"backend": source, "inputs": int(len(inputs)), "max_abs_difference": diff, "atol": atol,
             "rtol": RELAY_RTOL, "top1_agreement": float(np.mean(outputs.argmax(-1) == expected.argmax(-1)))}
    if not within:
        raise ExportError(f"the {source} and tensorflow Keras models differ on {len(inputs)} seeded inputs (max "
                          f"|difference| {diff:.3g}, allowed {atol:.0e} + {RELAY_RTOL:.0e} x |output|): the weights "
                          "did not carry over", "export from the TensorFlow backend (KERAS_BACKEND=tensorflow).")
    return check


def _info(source: Source, flavour: str, quantization: str) -> metadata.ModelInfo:
    import squeezekit

    p = source.spec.preprocessing if source.run is None else source.run.preprocessing
    return metadata.ModelInfo(
        model=source.spec.name, paper_name=source.spec.paper_name, convention=source.spec.convention,
        class_names=source.class_names, channel_order=p.channel_order, mean=list(p.mean), std=list(p.std),
        crop_fraction=p.crop_fraction, flavour=flavour, trained=source.trained,
        source=os.path.basename(source.weights) if source.weights else "untrained registry model",
        quantization=quantization, version=squeezekit.__version__)


ANDROID_ASSET = os.path.join("app", "src", "main", "assets", "model.tflite")


def check_android_demo(demo_dir: str) -> None:
    """``demo_dir`` must be the Android demo project (it has app/src/main), so a typo copies nothing."""
    if not os.path.isdir(os.path.join(demo_dir, "app", "src", "main")):
        raise ExportError(f"{demo_dir} is not the Android demo project (no app/src/main in it); pass the "
                          "android_demo/ folder of the squeezekit repository.")


def copy_to_android_demo(tflite_path: str, demo_dir: str) -> str:
    """Copy the .tflite to the demo's assets (atomically: the app never packages half a model)."""
    check_android_demo(demo_dir)
    target = os.path.join(demo_dir, ANDROID_ASSET)
    with open(tflite_path, "rb") as f:
        write_atomic(target, f.read())
    return target


def write_micro(tflite_path: str, out_dir: str, tflm: dict | None = None) -> tuple[list[str], dict]:
    """TensorFlow Lite Micro firmware sources for the exported ``tflite_path`` in ``out_dir``
    (``converters.micro``); the paths and TFLM's figures. ``tflm``: the file's ``tflm`` profile summary, when
    the export profiled it (else TFLM measures it now)."""
    from converters import micro

    with open(tflite_path, "rb") as f:
        content = f.read()
    name = os.path.splitext(os.path.basename(tflite_path))[0]
    try:
        return micro.export_firmware(content, out_dir, name, tflm)
    except OSError as err:
        raise ExportError(f"cannot write to {out_dir}: {err.strerror or err}", "choose a writable folder.",
                          param="micro") from None
    except ValueError as err:
        raise ExportError(str(err), "export a file TFLM can run (int8 without ops TFLM lacks).") from None


def check_writable(out_dir: str, param: str = "out") -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".tmp-probe-")  # swept if killed here
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ExportError(f"cannot write to {out_dir}: {err.strerror or err}", "choose a writable folder.",
                          param=param) from None


@dataclass
class ExportResult:
    """What ``export`` wrote: the paths, the report and, for Deep Compression, the coded sizes."""

    tflite: str
    report_json: str
    report_md: str
    report: report_lib.Report
    profile: list[str] = field(default_factory=list)  # profile report paths, when the CLI profiles the file
    compression: object = None  # coded_size.CodedSize of a Deep Compression export


SELECT_IMAGES = 200  # calibration images the selective-precision choice is measured on (never the held-out ones)


def _selective(source: Source, recipe: tflite.Recipe, saved, mode: str, asked, target: float, max_growth: float,
               log) -> tuple[tflite.Conversion, dict]:
    """An int8 conversion with the layers ``asked`` (``"auto"``, a count or names) kept at another precision:
    ``mode`` ``keep_float`` or ``int16x8_layers`` (``converters.selective``). Layers are ordered by the noise
    power they add in the plain int8 file's ``layer_errors`` (``selective.ranked_layers``); the choice is
    measured on calibration images, against the float file."""
    import contextlib
    from dataclasses import replace

    from converters import selective
    from converters.profiling.host import interleaved_latency

    images = source.calibration
    recipe = replace(recipe, representative=lambda: _progress(images, log))
    start = time.perf_counter()
    with (contextlib.nullcontext(saved) if saved is not None else tflite.exported(source.model)) as ex:
        calibrated = tflite.calibrate(ex, recipe)  # once: the plain file and every keep_float try quantize it
        float_file = source.float_file(ex)
    plain = tflite.convert(calibrated, recipe).content
    check = images[:SELECT_IMAGES]
    reference = report_lib.run(float_file, check)

    def score(content: bytes) -> float:
        return selective.agreement(reference, report_lib.run(content, check))

    rows = layer_errors.measure(float_file, plain, source.verification_images[:layer_errors.DEFAULT_IMAGES])
    ranked = selective.ranked_layers(rows)
    plain_row = {"layers": 0, "names": [], "agreement": score(plain), "bytes": len(plain), "within_budget": True,
                 "quantizer": "TFLiteConverter", "content": plain}
    tried = [plain_row]
    if mode == "keep_float":
        def build(names):
            return tflite.convert(calibrated, replace(recipe, keep_float=tuple(names))).content
        quantizer = "TFLiteConverter"
    else:
        log(f"calibrating ai-edge-quantizer on {len(images)} images (running min/max, as TFLiteConverter)")
        build, quantizer = selective.Int16x8Layers(float_file, images).quantize, "ai-edge-quantizer"
        base = build([])
        tried.append({"layers": 0, "names": [], "agreement": score(base), "bytes": len(base), "within_budget": True,
                      "content": base})
    log(f"{mode}: plain int8 top-1 agreement with float {plain_row['agreement']:.2%} on {len(check)} "
        f"calibration images, {len(plain):,} bytes")
    if asked == "auto":
        names, content, more = selective.choose(ranked, build, score, target=target,
                                                max_bytes=int(len(plain) * (1 + max_growth)), log=log)
    else:
        names = ranked[:asked] if isinstance(asked, int) else list(asked)
        content = build(names)
        more = [{"layers": len(names), "names": names, "agreement": score(content), "bytes": len(content),
                 "within_budget": True, "content": content}]
    for row in tried[1:] + more:
        row["quantizer"] = quantizer
    tried += more
    medians = interleaved_latency({str(i): row.pop("content") for i, row in enumerate(tried)}, threads=1, rounds=5,
                                  runs=5)
    for i, row in enumerate(tried):
        row["host_us"] = round(medians[str(i)], 1)
    choice = {"mode": mode, "asked": asked if isinstance(asked, (int, str)) else "layers named", "target": target,
              "max_growth": max_growth, "images": len(check), "layers": list(names), "tried": tried,
              "ranking": ranked[:64]}  # the plain int8 file's worst layers, from its layer_errors
    final = replace(recipe, keep_float=tuple(names)) if mode == "keep_float" else recipe
    return tflite.Conversion(final, content, time.perf_counter() - start, True), choice


def export(source: Source, recipe: tflite.Recipe, out_dir: str, *, qat_epochs: int = 0, qat_lr: float = 1e-3,
           saved=None, log=print, verbose="auto", compression=None,
           compress_epochs: tuple = (0, 0), optimize: str = "auto", keep_float=None, int16x8_layers=None,
           target_agreement: float = 0.99, max_growth: float = 0.10) -> ExportResult:
    """Convert ``source.model`` with ``recipe`` and write ``NAME_FLAVOUR.tflite`` and its reports.

    ``qat_epochs`` > 0 (int8 only; an ``ExportError`` for int16x8 and int4) quantization-aware trains first;
    otherwise int8 and int16x8 are calibrated on ``source.calibration``. ``saved`` is a ``tflite.exported``
    handle to share one SavedModel.
    ``compression`` (a ``converters.compress.CompressionConfig``, int8 only) prunes, clusters and PCQAT-trains
    first (``compress_epochs`` = pruning and clustering epochs, then ``qat_epochs``), and the reports get the
    Deep Compression size figures (``converters.coded_size``).
    ``optimize`` (one of ``converters.rewrite.MODES``) applies exact graph rewrites to the converted file:
    ``auto`` keeps each one that measures faster on this CPU; every one is proven equal on the verification
    images, and the report records the choice, both times and the equality.
    ``keep_float`` / ``int16x8_layers`` (int8 post-training only; ``"auto"``, a count or layer names): selective
    precision (``_selective``): ``auto`` takes the fewest of the worst layers that reach ``target_agreement``
    with the float model, in a file at most ``max_growth`` larger than the plain int8 one.
    """
    check_backend()
    seconds, notes = {}, []
    choice = None
    selective_mode = "keep_float" if keep_float else "int16x8_layers" if int16x8_layers else None
    if keep_float and int16x8_layers:
        raise ExportError("keep_float and int16x8_layers are two ways to choose the same layers", "pick one.",
                          param="int16x8_layers")
    if selective_mode and (recipe.flavour != "int8" or compression is not None or qat_epochs > 0):
        raise ExportError(f"{selective_mode} applies to int8 post-training calibration only",
                          "export int8 with qat_epochs=0 and no compression.", param=selective_mode)
    if source.relay:
        r = source.relay
        notes.append(f"Weights from a Keras {r['backend']} process (a .weights.h5): its outputs and the "
                     f"TensorFlow backend's agree on {r['inputs']} seeded inputs within {r['atol']:.0e} + "
                     f"{r['rtol']:.0e} x |output| (max |difference| {r['max_abs_difference']:.2g}).")
    quantization = ""
    if compression is not None:
        from converters import compress

        if recipe.flavour != "int8":
            raise ExportError(f"compression makes an int8 model, not {recipe.flavour}", "use the int8 recipe.")
        epochs = tuple(compress_epochs) + (qat_epochs,)  # None: the default length for the data
        tune = any(e is None or e > 0 for e in epochs)
        if tune and source.load_training is None:
            raise ExportError("fine-tuning a compressed model needs a trained model and its data",
                              "pass weights (and data), or 0 epochs for one-shot pruning and clustering.",
                              param="compress_epochs")
        train = source.load_training() if tune else None
        if train is not None:
            defaults = ((compress.PRUNE_STEPS, 3), (compress.CLUSTER_STEPS, 1), (compress.QAT_STEPS, 1))
            epochs = tuple(compress.default_epochs(train, *d) if e is None else e for e, d in zip(epochs, defaults))
        epochs = tuple(e or 0 for e in epochs)
        start = time.perf_counter()
        calibration = [source.calibration[i:i + 16] for i in range(0, len(source.calibration), 16)]
        log(f"Deep Compression {compression.describe()}, epochs prune/cluster/QAT {'/'.join(map(str, epochs))}")
        qat_model = compress.compress(source.twin(), train, compression, prune_epochs=epochs[0],
                                      cluster_epochs=epochs[1], qat_epochs=epochs[2], lr=qat_lr,
                                      calibration=calibration, verbose=verbose, log=log)
        seconds["compression"] = time.perf_counter() - start
        conversion = tflite.convert(qat_model, recipe)
        quantization = (f"Deep Compression, {compression.describe()}: pruning, clustering and sparsity- and "
                        f"cluster-preserving QAT (epochs {'/'.join(map(str, epochs))} on "
                        f"{source.data_name if any(epochs) else 'none: one shot'})")
    elif qat_epochs > 0 and recipe.flavour in ("int16x8", "int4"):
        raise ExportError(f"quantization-aware training makes int8 models, not {recipe.flavour}",
                          "pass qat_epochs=0, or the int8 recipe.", param="qat_flavour")
    elif recipe.flavour == "int8" and qat_epochs > 0:
        from converters import qat

        if source.load_training is None:
            raise ExportError("quantization-aware training needs a trained model and its data",
                              "pass weights (and data), or qat_epochs=0 for post-training calibration.",
                              param="qat_epochs")
        start = time.perf_counter()
        log(f"quantization-aware training: {qat_epochs} epoch(s) on {source.data_name}")
        qat_model = qat.quantize_aware(source.twin(), source.load_training(), qat_epochs, lr=qat_lr, log=log,
                                       verbose=verbose)
        seconds["qat"] = time.perf_counter() - start
        conversion = tflite.convert(qat_model, recipe)
        quantization = f"quantization-aware training ({qat_epochs} epochs on {source.data_name})"
    elif selective_mode:
        conversion, choice = _selective(source, recipe, saved, selective_mode, keep_float or int16x8_layers,
                                        target_agreement, max_growth, log)
        recipe = conversion.recipe
        chosen = f"{len(choice['layers'])} layer(s) {'in float32' if selective_mode == 'keep_float' else 'at 16x8'}"
        quantization = (f"post-training calibration ({len(source.calibration)} images of {source.data_name}); "
                        f"selective precision: {chosen}")
    else:
        if recipe.flavour in tflite.CALIBRATED:
            images = source.calibration
            log(f"calibrating {recipe.flavour} ranges on {len(images)} images of {source.data_name}")
            recipe = dataclasses.replace(recipe, representative=lambda: _progress(images, log))
            quantization = f"post-training calibration ({len(images)} images of {source.data_name})"
        if recipe.flavour == "int4":
            from converters import quantizer

            quantization = f"AI Edge Quantizer int4 weights ({quantizer.RECIPE})"
        if saved is None:
            with tflite.exported(source.model) as ex:
                conversion = tflite.convert(ex, recipe)
                seconds["trace"] = ex.seconds
        else:
            conversion = tflite.convert(saved, recipe)
    seconds["conversion"] = conversion.seconds
    if conversion.corrected:
        quantization = quantization[:-1] + f"; {len(conversion.corrected)} ranges narrowed to their measured values)" \
            if quantization.endswith(")") else quantization
        worst = max(conversion.corrected, key=lambda c: (c["recorded"][1] - c["recorded"][0])
                    / max(c["measured"][1] - c["measured"][0], 1e-12))
        ratio = (worst["recorded"][1] - worst["recorded"][0]) / max(worst["measured"][1] - worst["measured"][0], 1e-12)
        notes.append(f"{len(conversion.corrected)} calibrated range(s) narrowed to what their tensors took on the "
                     f"calibration images (up to {ratio:.1f}x): TFLiteConverter's calibrator records, for a tensor "
                     "whose only consumer is an ADD, that ADD's output range (converters.tflite.measured_ranges).")
    start = time.perf_counter()
    if compression is not None and optimize == "auto":
        # The coded sizes read the kernels from the file: a rewritten stem would count its added zeros.
        optimize = "none"
        notes.append("Deep Compression export: no exact rewrite under auto (the coded sizes describe the network's "
                     "own kernels); ask for space_to_depth_stem explicitly to apply it.")
    if recipe.flavour in ("int16x8", "int4") and optimize == "auto":
        # The rewrites are proven and timed on the four established flavours; timing a 16x8 file on the
        # reference kernels would take minutes.
        optimize = "none"
        notes.append(f"{recipe.flavour} export: no exact rewrite under auto; ask for one explicitly to try it.")
    converted, optimization = rewrite.optimize(conversion.content, optimize, source.verification_images,
                                               log=log)
    if optimization["candidates"]:
        seconds["optimization"] = time.perf_counter() - start
    content = metadata.attach(converted, _info(source, recipe.flavour, quantization))

    name = f"{source.spec.name}_{recipe.flavour}" + (f"_{compression.bits}bit" if compression else "")
    path = os.path.join(out_dir, name + ".tflite")
    outputs = report_lib.run(content, source.verification_images)
    if not source.trained:
        notes.append("Untrained model (random weights, 1000 classes): use the file for size and latency work. "
                     "Agreement is measured on the calibration images.")
    if recipe.flavour == "int8" and recipe.output_type != "float32":
        notes.append("int8 softmax output has a scale of 1/256: probabilities under about 0.002 read as 0.")
    notes += FLAVOUR_NOTES.get(recipe.flavour, [])
    errors = summary = None
    if recipe.flavour != "float32":
        start = time.perf_counter()
        images = source.verification_images[:layer_errors.DEFAULT_IMAGES]
        errors = layer_errors.measure(source.float_file(saved), content, images)
        summary = layer_errors.summarize(content, errors, len(images))
        if quantization.startswith(("quantization-aware", "Deep Compression")):
            summary["reference"] += " before training (the per-op errors include what training changed)"
        seconds["layer_errors"] = time.perf_counter() - start
    rep = report_lib.build(content, file=os.path.basename(path), model=source.spec.name,
                           paper_name=source.spec.paper_name, recipe=recipe, quantization=quantization,
                           trainable_params=source.trainable_params, reference=source.reference, outputs=outputs,
                           labels=source.eval_labels, data=source.data_name, seconds=seconds, notes=notes,
                           optimization=optimization, layer_errors=errors, quantization_error=summary,
                           selective=choice)
    data, markdown, sizes = rep.to_dict(), rep.to_markdown(), None
    if compression is not None:  # the figures of the file itself, read back from its bytes
        from converters import coded_size

        sizes = coded_size.measure(content)
        rep.notes.append(sizes.summary())
        data = rep.to_dict() | {"compression": sizes.to_dict() | {"config": compression.to_dict()}}
        markdown = rep.to_markdown() + "\n" + sizes.to_markdown()
    write_atomic(path, content)
    json_path = os.path.join(out_dir, name + ".report.json")
    md_path = os.path.join(out_dir, name + ".report.md")
    write_atomic(json_path, json.dumps(data, indent=2) + "\n")
    write_atomic(md_path, markdown)
    return ExportResult(path, json_path, md_path, rep, compression=sizes)


# What a reader of each new flavour's report needs to know (measured: docs/quantization.md, "Flavours").
FLAVOUR_NOTES = {
    "int16x8": ["int16x8 runs on TFLite's builtin reference kernels (XNNPACK takes no 16x8 op): on x86 it is "
                "far slower than int8 and float32 (benchmarks/flavours.py measures it). int16 input "
                "and output, zero point 0: quantize the normalized image by the input scale."],
    "int4": ["int4 weights (AI Edge Quantizer: channelwise, symmetric, OCTAV-chosen ranges), float32 activations: "
             "CONV_2D and FULLY_CONNECTED run hybrid kernels (activations quantized per image at run time), outside "
             "XNNPACK."],
    "float16": ["float16 weights behind DEQUANTIZE ops (float32 compute on CPUs without FP16 arithmetic). The "
                "reduced_precision_support metadata entry fp16accfp16 lets XNNPACK run the graph in FP16 on CPUs "
                "that have it (ARMv8.2 phones); this host's agreement is the float32 path's."],
}


def _progress(images, log, batch: int = 16):
    total = len(images)
    marks = {max(1, round(total * f)) for f in (0.25, 0.5, 0.75, 1.0)}
    for start in range(0, total, batch):
        yield images[start:start + batch]
        done = min(start + batch, total)
        if any(start < m <= done for m in marks):
            log(f"  calibrated {done}/{total} images")
