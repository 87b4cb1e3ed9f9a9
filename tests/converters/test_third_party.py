"""Vendored code stays as it was copied: a pinned checksum, its license and its origin beside it."""

import hashlib
from pathlib import Path

import converters.third_party.tflite_metadata as tflite_metadata

FOLDER = Path(tflite_metadata.__file__).parent
# flatc's output of metadata_schema.fbs 1.5.0 from tflite-support 0.4.4, with squeezekit's 5-line header.
SCHEMA_SHA256 = "674d2eae6791440780683029639e7322c474892db708fdef4692560c5a2e8da2"


def test_vendored_schema_is_unchanged():
    digest = hashlib.sha256((FOLDER / "metadata_schema_py_generated.py").read_bytes()).hexdigest()
    assert digest == SCHEMA_SHA256, ("metadata_schema_py_generated.py was edited; restore it, or replace it "
                                     "as its README.md says and pin the new hash here")


def test_license_and_origin_travel_with_it():
    license_text = (FOLDER / "LICENSE").read_text()
    assert "The TensorFlow Authors" in license_text and "Apache License" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text  # the whole license, not a pointer to it
    origin = (FOLDER / "README.md").read_text()
    assert "1.5.0" in origin and "tflite-support 0.4.4" in origin

