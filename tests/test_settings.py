"""Settings: the reference's names, new ones, flags over environment over .env, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pi.settings import DEFAULT_INTERVAL, OPTIONS, SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent
REFERENCE_ENV = """REDIS_URL=redis://default:password@host:6379/
IMAGE_EXPIRY=300
CAMERA_AUTOFOCUS=1
SOUND_SENSOR_PIN=17
SOUND_SENSOR_DEBOUNCE_MILLIS=10000
"""


def settings(argv=(), env=None, tmp_path: Path | None = None):
    return load_settings(list(argv) + ["--env-file", ""], environ=env or {}, cwd=tmp_path)


def test_a_seed_users_reference_env_file_means_the_sensor_trigger_only(tmp_path):
    (tmp_path / ".env").write_text(REFERENCE_ENV)
    s = load_settings([], environ={}, cwd=tmp_path)
    assert s.env_file == tmp_path / ".env"
    assert s.triggers == ("sensor",)
    assert s.interval is None
    assert (s.sensor_pin, s.sensor_debounce_ms, s.expiry, s.autofocus) == (17, 10000, 300, True)
    assert s.redis_url == "redis://default:password@host:6379/"


def test_with_neither_frequency_nor_sensor_the_interval_default_applies():
    s = settings()
    assert s.triggers == ("interval",) and s.interval == DEFAULT_INTERVAL


def test_frequency_accepts_fractions_and_turns_the_interval_on():
    s = settings(env={"IMAGE_CAPTURE_FREQUENCY": "0.2"})
    assert s.triggers == ("interval",) and s.interval == 0.2


def test_frequency_and_sensor_together_run_both_triggers():
    s = settings(env={"IMAGE_CAPTURE_FREQUENCY": "30", "SOUND_SENSOR_PIN": "4"})
    assert s.triggers == ("interval", "sensor")


def test_capture_triggers_names_them_explicitly():
    s = settings(env={"CAPTURE_TRIGGERS": "motion, interval"})
    assert s.triggers == ("motion", "interval") and s.interval == DEFAULT_INTERVAL


def test_flags_win_over_the_environment_which_wins_over_env_file(tmp_path):
    (tmp_path / ".env").write_text("IMAGE_EXPIRY=100\nJPEG_QUALITY=50\nCAMERA_NAME=fromfile\n")
    s = load_settings(["--expiry", "42"], environ={"IMAGE_EXPIRY": "77", "JPEG_QUALITY": "60"},
                      cwd=tmp_path)
    assert (s.expiry, s.jpeg_quality, s.camera_name) == (42, 60, "fromfile")


def test_the_lead_run_command_flags():
    s = settings(["--camera-backend", "simulated", "--camera-name", "demo", "--interval", "5",
                  "--expiry", "3600"])
    assert (s.camera_backend, s.camera_name, s.interval, s.expiry, s.triggers) == (
        "simulated", "demo", 5, 3600, ("interval",))


def test_sizes_accept_a_width_or_width_x_height():
    s = settings(env={"THUMBNAIL_SIZE": "200", "IMAGE_RESOLUTION": "1920x1080",
                      "PREVIEW_SIZE": "480x270"})
    assert s.thumbnail_size == (200, 200)
    assert s.resolution == (1920, 1080)
    assert s.preview_size == (480, 270)


def test_defaults_without_picamera2_are_the_simulated_camera_and_the_host_name():
    s = settings()
    assert s.camera_backend == "simulated"
    assert s.camera_name and len(s.camera_name) <= 32
    assert s.preview_fps == 2 and s.expiry == 3600


@pytest.mark.parametrize(("env", "names"), [
    ({"IMAGE_EXPIRY": "abc"}, ["IMAGE_EXPIRY='abc'", "number of seconds"]),
    ({"IMAGE_EXPIRY": "-5"}, ["IMAGE_EXPIRY", "greater than 0"]),
    ({"CAMERA_BACKEND": "webcam"}, ["CAMERA_BACKEND='webcam'", "picamera2, simulated, directory"]),
    ({"IMAGE_CAPTURE_FREQUENCY": "often"}, ["IMAGE_CAPTURE_FREQUENCY", "seconds"]),
    ({"CAMERA_AUTOFOCUS": "maybe"}, ["CAMERA_AUTOFOCUS", "1 or 0"]),
    ({"SOUND_SENSOR_PIN": "99"}, ["SOUND_SENSOR_PIN", "0 to 27"]),
    ({"CAMERA_NAME": "my camera!"}, ["CAMERA_NAME", "letters, digits"]),
    ({"IMAGE_RESOLUTION": "big"}, ["IMAGE_RESOLUTION", "WIDTHxHEIGHT"]),
    ({"JPEG_QUALITY": "101"}, ["JPEG_QUALITY", "1 to 100"]),
    ({"CAPTURE_TRIGGERS": "interval,timer"}, ["CAPTURE_TRIGGERS", "interval, sensor, motion"]),
    ({"CAPTURE_TRIGGERS": "sensor"}, ["SOUND_SENSOR_PIN must be set"]),
    ({"CAMERA_BACKEND": "directory"}, ["IMAGE_DIRECTORY"]),
    ({"IMAGE_DIRECTORY": "/no/such/folder"}, ["IMAGE_DIRECTORY", "existing folder"]),
    ({"REDIS_URL": "localhost:6379"}, ["REDIS_URL", "redis://"]),
    ({"PREVIEW_FPS": "-1"}, ["PREVIEW_FPS", "0 turns previews off"]),
    ({"LOG_LEVEL": "loud"}, ["LOG_LEVEL", "DEBUG, INFO"]),
])
def test_bad_values_name_the_variable_and_what_it_accepts(env, names):
    with pytest.raises(SettingsError) as info:
        settings(env=env)
    message = str(info.value)
    assert "\n" not in message
    for part in names:
        assert part in message


def test_a_bad_flag_value_names_the_flag_and_its_variable():
    with pytest.raises(SettingsError, match=r"--expiry \(IMAGE_EXPIRY\)='soon'"):
        settings(["--expiry", "soon"])


def run_capture(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "pi" / "capture.py"), *args], cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, capture_output=True,
                          text=True, timeout=60)


def test_bad_setting_exits_non_zero_with_one_line_and_no_traceback(tmp_path):
    result = run_capture(cwd=tmp_path, env={"IMAGE_EXPIRY": "abc"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "IMAGE_EXPIRY='abc'" in lines[0]
    assert "Traceback" not in result.stderr


def test_help_documents_every_setting(tmp_path):
    result = run_capture("--help", cwd=tmp_path)
    assert result.returncode == 0
    for opt in OPTIONS:
        assert opt.env in result.stdout and opt.flag in result.stdout
    assert "--once" in result.stdout


def test_env_example_and_readme_list_every_setting():
    example = (REPO / "pi" / "env.example").read_text()
    readme = (REPO / "pi" / "README.md").read_text()
    for opt in OPTIONS:
        assert f"{opt.env}=" in example, opt.env
        assert f"`{opt.env}`" in readme, opt.env
    reference_first = ["REDIS_URL", "IMAGE_CAPTURE_FREQUENCY", "IMAGE_EXPIRY", "CAMERA_AUTOFOCUS",
                       "SOUND_SENSOR_PIN", "SOUND_SENSOR_DEBOUNCE_MILLIS"]
    positions = [example.index(f"{name}=") for name in reference_first]
    assert positions == sorted(positions)
    assert max(positions) < example.index("CAMERA_BACKEND=")
