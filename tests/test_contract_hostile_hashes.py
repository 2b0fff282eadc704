"""Every value read from an `image:` hash is input: another writer (redis-cli) may put
anything there. The contract reads it as "unknown" or refuses it, never crashes or
hands on a number JSON can't carry."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi.contract import (
    METADATA_FIELDS,
    CameraStatus,
    ImageRecord,
    MalformedImage,
    parse_timestamp,
)

GOOD_TS = "1795960000.097"


@pytest.mark.parametrize("value", ["1795960000000", "1e20", "inf", "-inf", "nan", "-1e12", "abc", "",
                                   "0", "-62135596800", "1e300"])
def test_a_timestamp_no_camera_can_have_taken_is_refused_by_name(value) -> None:
    with pytest.raises(MalformedImage, match="timestamp"):
        ImageRecord.from_hash({"timestamp": value, "image_data": b"x"})
    assert parse_timestamp(value) is None


@pytest.mark.parametrize("name", ["lux", "analogue_gain", "lens_position", "size_bytes", "width", "height",
                                  "exposure_time", "colour_temperature"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", "1e30", "-1e30", "twelve", "0x10"])
def test_out_of_range_numbers_read_as_unknown(name, value) -> None:
    record = ImageRecord.from_hash({"timestamp": GOOD_TS, name: value})
    assert getattr(record, name) is None


def test_plausible_values_are_kept_as_written() -> None:
    record = ImageRecord.from_hash({"timestamp": GOOD_TS, "lux": "0.4", "width": "4608", "height": "2592",
                                    "size_bytes": "2570000", "exposure_time": "12000",
                                    "analogue_gain": "2.25", "colour_temperature": "5100",
                                    "lens_position": "1.5", "camera": "garden", "trigger": "motion"})
    assert (record.timestamp, record.lux, record.width, record.size_bytes) == (1795960000.097, 0.4, 4608,
                                                                               2570000)
    assert (record.camera, record.trigger, record.lens_position) == ("garden", "motion", 1.5)


def test_text_loses_control_characters_and_is_cut_to_a_sane_length() -> None:
    record = ImageRecord.from_hash({"timestamp": GOOD_TS, "camera": "door\r\nSet-Cookie: x" + "y" * 2_000_000,
                                    b"\xff\xfe": b"\xff"})
    assert "\r" not in record.camera and "\n" not in record.camera
    assert len(record.camera) <= 256
    assert all(len(k) <= 256 and len(v) <= 256 for k, v in record.extra.items())


def test_a_heartbeat_with_garbage_reads_as_unknown_times() -> None:
    status = CameraStatus.from_hash({b"camera": b"garden", b"started_at": b"inf",
                                     b"last_capture": b"\xff\xfe", b"host": b"pi\x00"})
    assert (status.started_at, status.last_capture, status.host) == (0.0, None, "pi")


values = st.one_of(st.text(max_size=40), st.binary(max_size=40),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.integers(min_value=-(10**30), max_value=10**30).map(str))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*METADATA_FIELDS, "thumbnail", "image_data", "other"]), values,
                       max_size=16))
def test_any_hash_reads_as_a_json_safe_record_or_a_named_refusal(fields) -> None:
    try:
        record = ImageRecord.from_hash(fields)
    except MalformedImage as exc:
        assert "timestamp" in str(exc)
        return
    out = {name: getattr(record, name) for name in ("timestamp", "lux", "width", "height", "size_bytes",
                                                    "exposure_time", "analogue_gain", "colour_temperature",
                                                    "lens_position", "camera", "trigger", "mime_type")}
    out["captured_at"] = record.captured_at
    json.dumps(out, allow_nan=False)  # raises on Infinity/NaN
    assert math.isfinite(record.timestamp)
