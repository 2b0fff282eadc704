"""Time-lapse inputs and output: unknown request keys are refused naming the accepted ones,
the CLI checks -o and gives the movie the usual file mode, and the burn-in caption sits at
the top of the frame, clear of a player's controls, readable on bright and dark frames."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import av
import pytest
from PIL import ImageChops, ImageStat

from pi.contract import ensure_index
from server import create_app
from server.core.services import services
from server.timelapse.cli import main
from server.timelapse.engine import TimelapseOptions, make_timelapse
from server.timelapse.jobs import TimelapseJobs
from tests.factories import store_image

T0 = 1_750_000_000.0
SINCE, UNTIL = "2025-06-15T15:06:00Z", "2025-06-15T15:10:00Z"  # T0 - 40 s .. T0 + 200 s
ACCEPTED = ["since", "until", "camera", "fps", "size", "width", "height", "burn_in", "min_lux"]


@pytest.fixture
def stored(r):
    """Five images of camera `cam`, one second apart, from dark to bright."""
    ensure_index(r)
    for i, lux in enumerate([5, 60, 120, 200, 250]):
        store_image(r, camera="cam", timestamp=T0 + i, lux=lux)
    return r


# --- 2. Unknown keys in POST /api/timelapse ---------------------------------------------------


@pytest.fixture
def api(redis_url, tmp_path):
    """A test client of the gallery and the headers its page sends with a POST."""
    tmp = tmp_path / "movies"
    tmp.mkdir()
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "TIMELAPSE_MAX_FRAMES": 40,
                      "TIMELAPSE_TTL": 600, "TIMELAPSE_TMPDIR": str(tmp)})
    client = app.test_client()
    page = client.get("/")
    match = re.search(rb'<meta name="csrf-token" content="([^"]*)"', page.data)
    client.csrf = {"X-CSRF-Token": match.group(1).decode() if match else ""}
    yield client
    jobs = services(app).peek(TimelapseJobs)
    if jobs is not None:
        jobs.wait(20)


def post(api, **body):
    values = {"since": SINCE, "until": UNTIL, "camera": "cam", "fps": 6, "size": "320x180"}
    values.update(body)
    return api.post("/api/timelapse", json=values, headers=api.csrf)


def test_an_unknown_key_is_refused_naming_it_and_the_accepted_ones(api, stored):
    response = post(api, skip_dark=-5)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "unknown_parameter"
    assert error["parameter"] == "skip_dark"
    assert "'skip_dark' is not a time-lapse setting (did you mean min_lux?)" in error["message"]
    assert "Accepted settings: " + ", ".join(ACCEPTED) + "." in error["message"]
    assert error["accepted"] == ACCEPTED
    assert stored.keys("timelapse:*") == []  # no job was started


def test_a_misspelt_key_gets_a_suggestion_and_several_are_all_named(api, stored):
    response = post(api, burnin=True, colour="red")

    error = response.get_json()["error"]
    assert response.status_code == 400
    assert error["parameter"] == "burnin"
    assert error["message"].startswith(
        "'burnin', 'colour' are not time-lapse settings (did you mean burn_in for 'burnin'?).")
    assert stored.keys("timelapse:*") == []


def test_every_accepted_key_is_still_accepted(api, stored):
    response = post(api, size=None, width=320, height=180, burn_in=True, min_lux=1)

    assert response.status_code == 202, response.get_json()


def test_a_form_posts_csrf_field_is_not_an_unknown_key(api, stored):
    form = {"since": SINCE, "until": UNTIL, "camera": "cam", "size": "320x180",
            "csrf_token": api.csrf["X-CSRF-Token"]}

    response = api.post("/api/timelapse", data=form)

    assert response.status_code == 202, response.get_json()


def test_the_openapi_document_lists_the_keys_and_refuses_others(api):
    doc = api.get("/api/openapi.json").get_json()
    schema = doc["paths"]["/api/timelapse"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert sorted(schema["properties"]) == sorted(ACCEPTED)
    assert schema["additionalProperties"] is False


# --- 3. The command line's -o ------------------------------------------------------------------


@pytest.fixture
def cli_env(stored, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("TIMELAPSE_MAX_FRAMES", raising=False)
    return stored


def cli_args(out: Path | str) -> list[str]:
    return ["--since", SINCE, "--until", UNTIL, "--camera", "cam", "--fps", "5",
            "--size", "320x180", "-q", "-o", str(out)]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_a_folder_for_output_is_a_usage_error(cli_env, tmp_path, capsys):
    folder = tmp_path / "movies"
    folder.mkdir()

    assert main(cli_args(folder)) == 2

    err = one_error_line(capsys)
    assert f"-o '{folder}' is a folder; give the movie's file name" in err
    assert str(folder / "timelapse.mp4") in err
    assert list(folder.iterdir()) == []


def test_a_missing_folder_for_output_is_a_usage_error(cli_env, tmp_path, capsys):
    assert main(cli_args(tmp_path / "nope" / "out.mp4")) == 2

    assert "for -o does not exist" in one_error_line(capsys)


@pytest.mark.parametrize("name", ["x.avi", "x.MOV", "x"])
def test_an_output_not_named_mp4_is_a_usage_error(cli_env, tmp_path, capsys, name):
    assert main(cli_args(tmp_path / name)) == 2

    err = one_error_line(capsys)
    assert "this command writes MP4 (H.264) movies only" in err
    assert f"name it '{tmp_path / Path(name).stem}.mp4'" in err
    assert list(tmp_path.iterdir()) == []


def test_an_upper_case_mp4_suffix_is_fine(cli_env, tmp_path):
    assert main(cli_args(tmp_path / "OUT.MP4")) == 0
    assert (tmp_path / "OUT.MP4").stat().st_size > 0


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_the_movie_gets_the_usual_mode_for_a_new_file(cli_env, tmp_path, umask):
    out = tmp_path / "out.mp4"
    previous = os.umask(umask)
    try:
        assert main(cli_args(out)) == 0
    finally:
        os.umask(previous)

    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_an_overwritten_movie_keeps_its_mode(cli_env, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    out.chmod(0o640)

    assert main(cli_args(out)) == 0

    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.stat().st_size > 3


# --- 4. Burn-in at the top left ------------------------------------------------------------


def frames_of(path: Path) -> list:
    with av.open(str(path)) as container:
        return [f.to_image().convert("L") for f in container.decode(container.streams.video[0])]


def band_change(plain, stamped, box: tuple[int, int, int, int]) -> float:
    """Return the mean absolute difference of two frames within box (0-255)."""
    return ImageStat.Stat(ImageChops.difference(plain.crop(box), stamped.crop(box))).mean[0]


def test_burn_in_is_at_the_top_left_clear_of_player_controls(stored, tmp_path):
    options = dict(since=T0 - 10, until=T0 + 10, camera="cam", fps=4, width=320, height=180)
    plain, stamped = tmp_path / "plain.mp4", tmp_path / "stamped.mp4"
    make_timelapse(stored, TimelapseOptions(**options), plain)
    make_timelapse(stored, TimelapseOptions(**options, burn_in=True), stamped)
    width, height = 320, 180
    band = height // 5  # where a player's controls sit, and its mirror at the top

    pairs = list(zip(frames_of(plain), frames_of(stamped), strict=True))
    assert len(pairs) == 5
    for i, (before, after) in enumerate(pairs):
        top_left = band_change(before, after, (0, 0, width // 2, band))
        top_right = band_change(before, after, (width * 3 // 4, 0, width, band))
        bottom = band_change(before, after, (0, height - band, width, height))
        # Measured: the top left changes by 17 (darkest frame) to 67 (brightest), the
        # rest by 0.0. The caption at the bottom used to change that band by 7 to 16.
        assert top_left > 8, f"frame {i}: no caption at the top left ({top_left:.1f})"
        assert top_right < 1, f"frame {i}: the top right changed ({top_right:.1f})"
        assert bottom < 1, f"frame {i}: the bottom band changed ({bottom:.1f})"


def test_burn_in_reads_on_bright_and_dark_frames(stored, tmp_path):
    options = TimelapseOptions(since=T0 - 10, until=T0 + 10, camera="cam", fps=4, width=320,
                               height=180, burn_in=True)
    out = tmp_path / "stamped.mp4"
    make_timelapse(stored, options, out)
    frames = frames_of(out)
    darkest, brightest = frames[0], frames[-1]  # 5 lux and 250 lux
    caption = (4, 4, 150, 22)  # inside the box, over the first characters

    for frame in (darkest, brightest):
        low, high = frame.crop(caption).getextrema()
        assert high > 200, "the text is not white"
        assert low < 110, "no dark backing behind the text"
    # On the bright frame the backing is darker than the picture around it.
    assert ImageStat.Stat(brightest.crop(caption)).median[0] < 140
    assert ImageStat.Stat(brightest.crop((200, 60, 300, 120))).median[0] > 200
