"""A training run on disk: configuration, labels, history, TensorBoard logs, checkpoints, resumption.

Files in ``out``::

    run_config.json   model, input size, preprocessing, class names, data, recipe (written first)
    labels.txt        one class name per line, in output order
    history.csv       one row per finished epoch (rewritten whole, atomically, at each epoch's end)
    logs/             TensorBoard
    backup/           the training state while the run is unfinished (what --resume reads): the weights and
                      optimizer of the last finished epoch, epoch-N.weights.h5, named by training_metadata.json
    best.keras        the weights with the best validation accuracy so far
    model.keras       the final model (written when the run finishes)

``best.keras`` and ``model.keras`` are saved without the optimizer, so ``keras.models.load_model`` reads
them without squeezekit; every file is written to a temporary name first, fsynced, then renamed
(``converters.files``), so ``kill -9`` at any moment leaves only complete files, and ``--resume`` then loses
at most the epoch that was running.

Under the multi_worker strategy only the chief (worker 0, or the ``chief`` task) writes these files. The other
workers keep the backup Keras needs in a temporary folder of their own, deleted when the run finishes. A resumed
multi_worker run restarts every worker with ``resume=True``; each reads ``run_config.json`` and ``backup/`` from
``out``, so ``out`` must be the same folder for all of them (one machine, or a shared filesystem), and all resume
from the chief's last finished epoch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile

import squeezekit
import squeezekit.data
import squeezekit.train
from squeezekit.errors import DataError, RunError
from converters.files import publish, save_model_atomic, write_atomic
from squeezekit.runs import LABELS, MODEL, RUN_CONFIG, RunConfig, write_labels
from squeezekit.train import finetune
from squeezekit.train.revive import ReviveDeadClasses, has_relu_head

SMALL_DATA = ("digits", "mnist5k")


def defaults_for(config: RunConfig) -> RunConfig:
    """Fill in what the user left out: recipe, epochs and input size depend on the data."""
    spec = squeezekit.models.get_spec(config.model, config.convention)
    small = squeezekit.data.builtin.base_name(config.data) in SMALL_DATA
    tuning = config.weights is not None  # fine-tuning: the papers' ImageNet schedules do not apply
    if config.recipe is None:
        config.recipe = "sgd_cosine" if small or tuning else spec.family
    if (small or tuning) and config.recipe == "sgd_cosine" and config.lr is None and spec.family == "squeezenet":
        # SqueezeNet has no BatchNorm: at lr >= 0.02 (batch 64) its ReLU'd conv10 head dies on digits
        # (measured: stuck at 10% for 0.02, 0.05 and 0.1, and once for 0.01 over 60 epochs). At 0.005 classes
        # still died on 3 of 4 seeds (squeezenet1_1, digits, seeds 0-3: 0.783, 0.986, 0.100, 0.756): half the
        # class channels are dead at initialization, and at the end of warmup a gradient spike can collapse the
        # whole net. So train_run revives dead conv10 channels (squeezekit.train.revive), and the lr is halved:
        # revival alone at 0.005 still collapsed 2 of 8 runs, 0.0025 alone lost 5 classes on 1 of 4 seeds. Both
        # (the CLI defaults, 60 epochs, 42-49 s each here): seeds 0-7 0.978, 0.972, 0.961, 0.972, 0.983, 0.986,
        # 0.975, 0.969; squeezenet1_0 seed 0 0.989.
        config.lr = 0.0025 * config.batch_size / 64
    if config.epochs is None:
        if small:
            config.epochs = 60 if spec.family == "squeezenet" else 40
        elif tuning:
            config.epochs = finetune.FINETUNE_EPOCHS
        else:
            config.epochs = squeezekit.train.RECIPES[config.recipe].epochs or 30
    if config.input_size is None:
        config.input_size = 32 if small else spec.default_size
    if config.label_smoothing is None:
        config.label_smoothing = 0.1 if small else 0.0
    return config


STRATEGIES = ("default", "mirrored", "multi_worker")  # the tf.distribute strategies a run can use


def make_strategy(name: str):
    import tensorflow as tf

    from squeezekit.train.distribute import check_backend

    check_backend(name)  # tf.distribute does nothing for Keras' JAX and PyTorch backends
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise RunError("the multi_worker strategy needs the TF_CONFIG environment variable (cluster and task) "
                           "on every worker", "set it as BUILD.md shows.", param="strategy")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise RunError(f"unknown strategy {name!r}", f"choose one of {', '.join(STRATEGIES)}.", param="strategy")


def is_chief() -> bool:
    """Whether this process writes the run's files (always, unless TF_CONFIG makes it a non-chief worker)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task")
    if not task or task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index") == 0 and "chief" not in tf_config.get("cluster", {})


BACKUP_METADATA = "training_metadata.json"  # the name keras.callbacks.BackupAndRestore gives it


def read_backup(backup_dir) -> tuple[int, str | None]:
    """(epochs finished, weights file) of the backup in ``backup_dir``; (0, None) when there is none.

    squeezekit's backups name their weights file in the metadata; an older run's (plain BackupAndRestore)
    keep them in latest.weights.h5, with a .bkp copy of both files from the epoch before."""
    for suffix in ("", ".bkp"):
        try:
            with open(os.path.join(backup_dir, BACKUP_METADATA + suffix)) as f:
                meta = json.load(f)
            return int(meta["epoch"]), meta.get("weights")
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0, None


def _keras_callbacks():
    import keras

    class Backup(keras.callbacks.BackupAndRestore):
        """``BackupAndRestore`` that ``kill -9`` cannot damage: each epoch's state goes to a new weights file
        (written and fsynced under a temporary name), then the metadata, replaced atomically, names it; only
        then are older weights files removed. The backup is kept at the end: ``train_run`` removes it once
        model.keras is written."""

        def __init__(self, backup_dir):
            super().__init__(backup_dir, delete_checkpoint=False)

        def on_train_begin(self, logs=None):
            epoch, weights = read_backup(self.backup_dir)
            if weights is None:  # no backup yet, or an older run's: BackupAndRestore's own format
                return super().on_train_begin(logs)
            path = os.path.join(self.backup_dir, weights)
            if not os.path.isfile(path):
                raise RunError(f"the backup in {self.backup_dir} names {weights}, which is not there",
                               "restore the folder, or start the run again in a new out folder.")
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)  # so its state loads too
            self.model.load_weights(path)
            self.model._initial_epoch = epoch  # what BackupAndRestore sets: fit starts there

        def _save_model(self):
            os.makedirs(self.backup_dir, exist_ok=True)
            name = f"epoch-{self._current_epoch:04d}.weights.h5"
            publish(os.path.join(self.backup_dir, name), lambda tmp: self.model.save_weights(tmp))
            write_atomic(os.path.join(self.backup_dir, BACKUP_METADATA), json.dumps(
                {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}) + "\n")
            for old in os.listdir(self.backup_dir):
                if old != name and (old.endswith(".weights.h5") or old.endswith(".bkp")) \
                        and not old.startswith("."):
                    os.remove(os.path.join(self.backup_dir, old))

    class History(keras.callbacks.Callback):
        """history.csv, one row per finished epoch, rewritten whole and atomically (no torn last line)."""

        def __init__(self, path, rows):
            super().__init__()
            self.path, self.rows = path, [dict(r) for r in rows]

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            fields = list(self.rows[0]) if self.rows else ["epoch"] + sorted(logs)
            self.rows.append({"epoch": epoch, **{k: logs.get(k, "NA") for k in fields if k != "epoch"}})
            write_atomic(self.path, _csv(self.rows, fields))

    class BestModel(keras.callbacks.Callback):
        """Save an optimizer-free copy of the model whenever val_accuracy improves (atomically)."""

        def __init__(self, shadow, path, best):
            super().__init__()
            self.shadow, self.path, self.best = shadow, path, best

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_accuracy")
            if value is not None and (self.best is None or value > self.best):
                self.best = value
                self.shadow.set_weights(self.model.get_weights())
                save_model_atomic(self.shadow, self.path)

    return BestModel, Backup, History


def _csv(rows, fields) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _history_rows(path):
    """The complete rows of history.csv, in order. Rows after the first incomplete one (a torn line that an
    older squeezekit's per-epoch append could leave) are dropped."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                complete = None not in row and None not in row.values() and int(row["epoch"]) == len(rows)
                complete = complete and all(v == "NA" or float(v) is not None for k, v in row.items() if k != "epoch")
            except (ValueError, KeyError):
                complete = False
            if not complete:
                break
            rows.append(row)
    return rows


def train_run(config: RunConfig, resume: bool = False, verbose="auto", log=print):
    """Train as ``config`` says (or resume the run in ``config.out``); return (model, history, files)."""
    import keras

    out = config.out
    chief = is_chief()
    if resume:
        if not RunConfig.exists(out) and not chief:
            raise RunError(f"nothing to resume: {RunConfig.path(out)} does not exist on this worker",
                           "every worker resumes from the chief's run folder: give all workers the same run "
                           "folder, on a filesystem they share.", param="shared_out")
        if not RunConfig.exists(out):
            raise RunError(f"nothing to resume: {RunConfig.path(out)} does not exist",
                           "start the run with resume=False.", param="resume")
        config = RunConfig.load(out)
        if os.path.exists(os.path.join(out, MODEL)):  # written once, atomically, after the last epoch
            shutil.rmtree(os.path.join(out, "backup"), ignore_errors=True)  # left if killed right after it
            raise RunError(f"nothing to resume: the run in {out} finished all {config.epochs} epochs.")
    else:
        if RunConfig.exists(out):
            raise RunError(f"{out} already holds a run", "resume it (resume=True) or choose another out folder.",
                           param="out")
        start = None
        if config.weights is not None:
            start = finetune.resolve(config.weights, config.model or None, config.convention)
            config.model, config.convention = start.model, start.convention
            if config.input_size is None and start.input_size is not None:
                config.input_size = start.input_size  # what the weights' run was trained (or imported) at
        squeezekit.models.resolve_name(config.model)
        config = defaults_for(config)

    # MultiWorkerMirroredStrategy must exist before the first TensorFlow op of the process. Its constructor waits
    # for every worker, so no worker checks ``out`` above after the chief has written run_config.json below.
    strategy = make_strategy(config.strategy)
    spec = squeezekit.models.get_spec(config.model, config.convention)
    if resume:
        preprocessing = config.preprocessing
    else:
        preprocessing = start.preprocessing if start is not None else spec.preprocessing
    data = squeezekit.data.load(
        config.data, config.input_size, preprocessing, batch_size=config.batch_size, val_split=config.val_split,
        val_source=config.val_data, data_dir=config.data_dir, seed=config.seed, augment="default" if config.augment else None,
        class_names=config.extra.get("class_names") if resume else None,
    )
    log(data.describe())
    if chief:
        os.makedirs(out, exist_ok=True)
    backup = os.path.join(out, "backup")
    first_epoch = read_backup(backup)[0] if resume else 0  # the chief's backup: every worker resumes from it
    tuned = config.extra.get("fine_tuned_from") if resume else None
    if config.weights is not None and not resume:
        keep = start.class_names is not None and list(start.class_names) == list(data.class_names)
        tuned = dict(start.source, classifier="kept" if keep else "new")
        if config.freeze_epochs is None:
            config.freeze_epochs = finetune.default_freeze_epochs(config.epochs, tuned["classifier"])
        log(f"{start.describe()}; classifier {tuned['classifier']}, {config.freeze_epochs} epoch(s) training it "
            f"alone, then everything but BatchNorm at {finetune.FINETUNE_LR_FACTOR:g}x the rate")
    if config.weights is not None and config.freeze_epochs is not None \
            and not 0 <= config.freeze_epochs < max(config.epochs, 1):
        raise RunError(f"freeze_epochs is {config.freeze_epochs}, but the run has {config.epochs} epochs",
                       "freeze fewer epochs than the run trains, leaving at least one for the whole network.",
                       param="freeze_epochs")
    config.extra = dict(
        class_names=data.class_names, preprocessing=preprocessing.to_dict(), convention=spec.convention,
        paper_name=spec.paper_name, recipe=squeezekit.train.get_recipe(
            config.recipe, label_smoothing=config.label_smoothing).to_dict(),
        augment=data.augment.to_dict() if data.augment else None, squeezekit_version=squeezekit.__version__,
    )
    if tuned:
        config.extra["fine_tuned_from"] = tuned
    if chief and not resume:
        config.save()
    if chief and (not resume or not os.path.exists(os.path.join(out, LABELS))):  # killed between the two
        write_labels(out, data.class_names)

    keras.utils.set_random_seed(config.seed)
    build_args = dict(convention=config.convention, classes=data.num_classes,
                      input_shape=(config.input_size, config.input_size, 3))
    freeze = config.freeze_epochs or 0  # None unless fine-tuning
    with strategy.scope():
        model = squeezekit.build(config.model, **build_args)
        if config.weights is not None:
            if first_epoch == 0:  # else the backup holds the weights
                if start is None:  # resuming a run killed before its first epoch finished
                    start = finetune.resolve(config.weights, config.model, config.convention)
                loaded = finetune.load_into(model, start, data.class_names)
                log(f"loaded {loaded['layers']} layers from {start.path}; classifier {loaded['classifier']}")
        phases = (freeze, finetune.FINETUNE_LR_FACTOR) if config.weights is not None else None
        squeezekit.train.compile_model(model, data, config.recipe, config.epochs, config.lr, config.label_smoothing,
                                       phases=phases)
        if config.weights is not None:
            # The backbone is frozen by the optimizer, not by trainable = False: one optimizer layout in both
            # phases (backups load into either; JAX's trainer requires it). Read when fit traces its step.
            finetune.set_phase(model, head_only=first_epoch < freeze)
    # An uncompiled twin that carries the weights to disk: files without the optimizer (and its squeezekit
    # schedule) load anywhere with plain keras.
    shadow = squeezekit.build(config.model, **build_args)

    scratch = None
    if not chief:
        # A worker's own backup, outside the run folder. Resuming, it starts from a copy of the chief's, so that
        # every worker restores the same epoch and weights.
        scratch = tempfile.mkdtemp(prefix="squeezekit-worker-")
        if resume and os.path.isdir(backup):
            shutil.copytree(backup, scratch, dirs_exist_ok=True)
        backup = scratch
    history_path = os.path.join(out, "history.csv")
    rows = [r for r in _history_rows(history_path) if int(r["epoch"]) < first_epoch] if chief else []
    if resume:
        log(f"resuming {out} at epoch {first_epoch + 1} of {config.epochs}")
        if chief and os.path.exists(history_path):
            # Drop rows of epochs that the backup does not include (killed between the two writes).
            write_atomic(history_path, _csv(rows, list(rows[0])) if rows else "")
    best = max((float(r["val_accuracy"]) for r in rows if r.get("val_accuracy") not in (None, "NA")), default=None)
    BestModel, Backup, History = _keras_callbacks()
    # The backup last: history.csv and best.keras never lag behind it, so a kill between the writes costs
    # at most a rerun of the epoch (whose history row resume drops).
    callbacks = [
        History(history_path, rows),
        keras.callbacks.TensorBoard(os.path.join(out, "logs"), write_graph=False, profile_batch=0),
        BestModel(shadow, os.path.join(out, "best.keras"), best),
        Backup(backup),
    ] if chief else [Backup(backup)]  # a non-chief's in its scratch folder: the same format as the chief's
    revive = None
    if has_relu_head(model) and config.strategy != "multi_worker":
        # First, so that backups hold the revived weights. Not under multi_worker: each worker would revive on
        # its own.
        revive = ReviveDeadClasses(data.train, at_start=not resume, log=log)
        callbacks.insert(0, revive)
    try:
        history = None
        if first_epoch < freeze:  # fine-tuning's first phase: the classifier alone
            history = model.fit(data.train, validation_data=data.val, epochs=freeze, callbacks=callbacks,
                                verbose=verbose)
            finetune.set_phase(model, head_only=False)
            squeezekit.train.compile_model(model, data, config.recipe, config.epochs,
                                           label_smoothing=config.label_smoothing, optimizer=model.optimizer)
            if revive is not None:
                revive.at_start = False  # checked after the last epoch already
        rest = model.fit(data.train, validation_data=data.val, epochs=config.epochs, callbacks=callbacks,
                         verbose=verbose, initial_epoch=max(first_epoch, freeze))
        if history is not None:
            for key, values in rest.history.items():
                history.history.setdefault(key, []).extend(values)
        else:
            history = rest
    except Exception as err:  # a damaged TFRecord shard found mid-epoch: one line naming it, not a traceback
        from squeezekit.data.records import explain_error

        found = explain_error(err) if type(err).__module__.startswith("tensorflow") else None
        if found is None:
            raise
        raise found from None
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    files = {}
    if chief:
        shadow.set_weights(model.get_weights())
        save_model_atomic(shadow, os.path.join(out, MODEL))
        shutil.rmtree(backup, ignore_errors=True)  # only now: until model.keras exists, --resume needs it
        files = {name: os.path.join(out, name) for name in
                 (MODEL, "best.keras", LABELS, RUN_CONFIG, "history.csv", "logs")}
    return model, history, files


__all__ = ["DataError", "RunConfig", "RunError", "train_run"]
