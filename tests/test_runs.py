"""squeezekit.runs: the one reader and writer of a run folder's run_config.json."""

import json

import pytest

from squeezekit.runs import RUN_CONFIG, RunConfig, RunError, read_labels, write_labels


def _config(out) -> RunConfig:
    return RunConfig(model="sqnxt23", data="digits", out=str(out), input_size=32, epochs=2,
                     extra=dict(class_names=["zero", "one"], preprocessing=dict(
                         channel_order="BGR", mean=[104.0, 117.0, 123.0], std=[1.0, 1.0, 1.0],
                         crop_fraction=0.88671875)))


def test_save_then_load_gives_the_same_config(tmp_path):
    config = _config(tmp_path)
    path = config.save()
    assert path == str(tmp_path / RUN_CONFIG)
    assert json.loads((tmp_path / RUN_CONFIG).read_text())["run"]["model"] == "sqnxt23"
    loaded = RunConfig.load(str(tmp_path))
    assert loaded == config
    assert loaded.class_names == ["zero", "one"]
    assert loaded.preprocessing.channel_order == "BGR" and loaded.preprocessing.mean == (104.0, 117.0, 123.0)
    assert not loaded.imported


def test_beside_a_model_file_finds_the_folder_config_or_none(tmp_path):
    assert RunConfig.beside(str(tmp_path / "model.keras")) is None
    _config(tmp_path).save()
    assert RunConfig.beside(str(tmp_path / "model.keras")).model == "sqnxt23"


@pytest.mark.parametrize("text, problem", [
    ('{"run": {"model": "sqnxt23",\n', "JSONDecodeError"),
    ('{"runs": {}}', "no 'run' in it"),
    ('{"run": {"model": "sqnxt23", "data": "digits", "out": ".", "colour": 1}}', "TypeError"),
    ('{"run": {"model": "sqnxt23", "data": "digits", "out": "."}}', "no 'class_names' in it"),
])
def test_a_malformed_config_is_one_line_naming_the_file(tmp_path, text, problem):
    (tmp_path / RUN_CONFIG).write_text(text)
    with pytest.raises(RunError) as err:
        RunConfig.load(str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / RUN_CONFIG) in message and problem in message


def test_a_missing_config_is_a_run_error(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        RunConfig.load(str(tmp_path))


def test_labels_round_trip(tmp_path):
    assert read_labels(str(tmp_path)) is None
    write_labels(str(tmp_path), ["cat", "dog"])
    assert read_labels(str(tmp_path)) == ["cat", "dog"]
