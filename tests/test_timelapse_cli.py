"""`python -m server timelapse`: writes an MP4 with a progress bar, or fails in one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from pi.contract import ensure_index
from server.__main__ import main as server_main
from server.timelapse.cli import main
from server.tooling.embedded_redis import free_port
from tests.factories import store_image

T0 = 1_750_000_000.0
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stored(r, redis_url, monkeypatch):
    """Five images of camera `cam`, one second apart, and REDIS_URL pointing at them."""
    ensure_index(r)
    for i in range(5):
        store_image(r, camera="cam", timestamp=T0 + i, lux=30 + 40 * i)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("TIMELAPSE_MAX_FRAMES", raising=False)
    return r


def frame_count(path: Path) -> tuple[int, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), (stream.width, stream.height)


def args(out: Path, **overrides: str) -> list[str]:
    values = {"--since": "2025-06-15T15:06:00Z", "--until": "2025-06-15T15:08:00Z",
              "--camera": "cam", "--fps": "5", "--size": "320x180"}
    values.update({f"--{k.replace('_', '-')}": v for k, v in overrides.items()})
    return [item for pair in values.items() for item in pair] + ["-o", str(out)]


def test_writes_the_movie_with_a_progress_bar(stored, tmp_path, capsys):
    out = tmp_path / "out.mp4"

    assert server_main(["timelapse", *args(out)]) == 0

    assert frame_count(out) == (5, (320, 180))
    captured = capsys.readouterr()
    assert "5/5" in captured.err and "100%" in captured.err  # tqdm's bar
    assert f"Wrote {out}: 5 frames, 1.0 s at 5 fps, 320x180." in captured.out
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_relative_times_reach_back_from_now(r, redis_url, monkeypatch, tmp_path, capsys):
    ensure_index(r)
    now = time.time()
    for minutes in (90, 50, 20, 5):
        store_image(r, camera="cam", timestamp=now - minutes * 60)
    monkeypatch.setenv("REDIS_URL", redis_url)
    out = tmp_path / "last-hour.mp4"

    code = main(["--since", "-1h", "--until", "now", "--camera", "cam", "--size", "320x180",
                 "-q", "-o", str(out)])

    assert code == 0
    assert frame_count(out)[0] == 3


def test_skip_dark_and_burn_in_options(stored, tmp_path, capsys):
    out = tmp_path / "out.mp4"

    assert main([*args(out), "--skip-dark", "100", "--burn-in", "-q"]) == 0

    assert frame_count(out)[0] == 3
    assert "skipped: 2 darker than 100 lux" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (dict(since="2025-06-15T15:09:00Z"), "is after its end"),
        (dict(since="2025-06-15T15:08:00Z"), "holds no time"),
        (dict(since="2025-06-14T00:00:00Z", until="2025-06-14T01:00:00Z"), "no images"),
        (dict(camera="porch"), "no camera called 'porch'"),
        (dict(fps="0"), "frame rate 0 is out of bounds"),
        (dict(fps="500"), "frame rate 500 is out of bounds"),
        (dict(size="big"), "is not a size"),
        (dict(size="8000x720"), "out of bounds"),
        (dict(since="the dawn of time"), "is not a time for --since"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(stored, tmp_path, capsys, overrides, expected):
    out = tmp_path / "out.mp4"

    assert main([*args(out, **overrides), "-q"]) == 2

    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and expected in err
    assert "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_more_frames_than_the_configured_limit_is_refused(stored, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TIMELAPSE_MAX_FRAMES", "4")
    out = tmp_path / "out.mp4"

    assert main([*args(out), "-q"]) == 2

    err = capsys.readouterr().err
    assert "5 images, more than the limit of 4 frames (TIMELAPSE_MAX_FRAMES)" in err
    assert not out.exists()


def test_ctrl_c_leaves_no_file_and_exits_130(stored, tmp_path, capsys, monkeypatch):
    from server.timelapse import engine

    real, calls = engine.render_frame, []

    def interrupted(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(engine, "render_frame", interrupted)

    assert main([*args(tmp_path / "out.mp4"), "-q"]) == 130

    assert capsys.readouterr().err.strip() == "error: interrupted; no movie was written."
    assert list(tmp_path.iterdir()) == []


def test_unreachable_redis_is_one_line_and_exit_code_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2@127.0.0.1:{free_port()}")
    out = tmp_path / "out.mp4"

    assert main([*args(out), "-q"]) == 1

    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach Redis at redis://:***@127.0.0.1:")
    assert "hunter2" not in err and "\n" not in err
    assert not out.exists()


def test_missing_output_folder_is_a_usage_error(stored, tmp_path, capsys):
    assert main([*args(tmp_path / "nope" / "out.mp4"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_runs_as_python_dash_m_server(stored, redis_url, tmp_path):
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "server", "timelapse", *args(out), "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert frame_count(out)[0] == 5
