"""``weights="imagenet"``: a row's published file, fetched into Keras' cache as keras.applications does.

``fetch(spec)`` returns the path of the row's ``weights.file_name`` in Keras' cache (``$KERAS_HOME/models``, else
``~/.keras/models``), downloading it with ``keras.utils.get_file`` when it is not there yet and unzipping it when
the publisher zips it (tf2cv does). Every file, cached or new, is checked against the row's hashes; a file that
does not match is removed from the cache and refused. Offline, the error names the URL and the path to put the
file at, so a machine without internet works from a copy.
"""

from __future__ import annotations

import os
import shutil
import zipfile

from converters.files import publish, temp_dir
from squeezekit.weights.tf2cv import WeightsError, file_digest, looks_like_tf2cv

CACHE_SUBDIR = "models"  # keras.applications' subfolder of the Keras cache


def cache_dir() -> str:
    """The folder ``keras.utils.get_file`` caches into, read at call time (Keras reads KERAS_HOME at import)."""
    if "KERAS_HOME" in os.environ:
        base = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(base)
    if os.path.isdir(base) and not os.access(base, os.W_OK):  # get_file's own fallback
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, CACHE_SUBDIR)


def cache_path(weights) -> str:
    return os.path.join(cache_dir(), weights.file_name)


def in_format(weights, path) -> bool:
    """True if ``path`` is a file of the kind ``weights`` declares (by its published name, or by its layout)."""
    if os.path.basename(os.fspath(path)) == weights.file_name:
        return True
    return weights.format == "tf2cv" and looks_like_tf2cv(path)


def _check(spec, path: str) -> None:
    w = spec.weights
    for algorithm, want in (("sha256", w.sha256), ("sha1", w.sha1)):
        if want is None:
            continue
        got = file_digest(path, algorithm)
        if got != want:
            os.remove(path)
            raise WeightsError(f"{path} has {algorithm.upper()} {got}, not the published {want} of {w.file_name} "
                               f"({spec.name}); the file was removed from the cache: download {w.url} again.")


def _download(spec, target: str) -> None:
    """Download into a temporary folder, then publish ``target`` atomically: a killed download leaves no
    partial file in the cache (the folder goes with the next download)."""
    import keras

    w = spec.weights
    zipped = w.url.endswith(".zip")
    how = "download it, unzip it" if zipped else "download it"
    with temp_dir("squeezekit-download-") as folder:
        try:
            fetched = keras.utils.get_file(fname=w.file_name + (".zip" if zipped else ""), origin=w.url,
                                           cache_subdir="", cache_dir=folder)
        except Exception as err:  # get_file raises a bare Exception for every network failure
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise WeightsError(f"cannot download {spec.name}'s weights from {w.url} ({reason}); on a machine with "
                               f"internet {how} and put {w.file_name} at {target}.") from None
        if not zipped:
            publish(target, lambda part: shutil.copyfile(fetched, part))
            return
        try:
            with zipfile.ZipFile(fetched) as archive:
                members = [m for m in archive.namelist() if os.path.basename(m) == w.file_name]
                if not members:
                    raise WeightsError(f"{w.url} holds no {w.file_name}; download it by hand and put it at {target}.")

                def unzip(part):
                    with archive.open(members[0]) as src, open(part, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)

                publish(target, unzip)
        except zipfile.BadZipFile:
            raise WeightsError(f"{w.url} did not download as a zip file; download it by hand, unzip it and put "
                               f"{w.file_name} at {target}.") from None


def fetch(spec) -> str:
    """The local path of ``spec.weights``' file: from Keras' cache, else downloaded into it; hash-checked."""
    if spec.weights is None:
        raise WeightsError(f"{spec.name} ({spec.convention}) has no published weights.")
    target = cache_path(spec.weights)
    if not os.path.isfile(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _download(spec, target)
    _check(spec, target)
    return target
