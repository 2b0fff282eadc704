"""Shared fixtures: real Redis servers with the search module, started by the session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pi.redis_connection import connect
from server.core.services import services
from server.timelapse.jobs import TimelapseJobs
from server.tooling.embedded_redis import EmbeddedRedis, free_port
from tests.archive_support import backend, file_backend, moto_s3, s3_backend  # noqa: F401 (archive fixtures)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One throw-away Redis with the search module for the session, on a free port."""
    server = EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis"), port=free_port(), maxmemory="0")
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """The session server's URL, emptied and reset to defaults before each test."""
    client = redis_server.client()
    client.flushall()
    client.config_set("maxmemory", "0")
    client.config_set("maxmemory-policy", "volatile-ttl")
    client.close()
    yield redis_server.url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A client (as the app makes them) for the emptied session server."""
    client = connect(redis_url)
    yield client
    client.close()


class _EmbeddedRedisWithArgs(EmbeddedRedis):
    """An EmbeddedRedis with extra redis-server arguments, e.g. `--rename-command HPEXPIRE ""`."""

    def __init__(self, *args, extra_args: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.extra_args = list(extra_args)

    def command_line(self) -> list[str]:
        return super().command_line() + self.extra_args


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator:
    """Start private Redis servers a test may stop, kill or restart; all stopped at the end.

    Keyword arguments as EmbeddedRedis's, plus `extra_args` for redis-server (for example
    `("--rename-command", "HPEXPIRE", "")` makes a server without hash-field expiry, like
    Redis Stack 7.2).
    """
    started: list[EmbeddedRedis] = []

    def make(**kwargs) -> EmbeddedRedis:
        kwargs.setdefault("data_dir", tmp_path / f"redis{len(started)}")
        kwargs.setdefault("port", free_port())
        server = _EmbeddedRedisWithArgs(**kwargs)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests write screenshots and other files for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def chromium_available() -> bool:
    """Tell whether Debian's Chromium is installed for the browser tests."""
    return shutil.which(CHROMIUM) is not None


def pytest_report_header(config: pytest.Config) -> str:
    if chromium_available():
        return f"browser tests: {CHROMIUM}"
    return f"browser tests: SKIPPED, {CHROMIUM} is not installed (apt-get install chromium)"


# --- Capture daemon -------------------------------------------------------------------


@pytest.fixture
def run_daemon(tmp_path: Path) -> Iterator:
    """Run the capture daemon in a thread: `d = run_daemon(url, "--interval", "0.2")`.

    Flags as for pi/capture.py; by default a simulated 320x180 camera named testcam, its
    spool in tmp_path. `camera=` passes a camera object instead, `pin_factory=` a gpiozero
    factory, `replay_backoff=` a redis-py backoff. `d.daemon` is the CaptureDaemon;
    `d.stop()` stops it (also done at the end of the test).
    """
    import threading

    from pi.cameras import make_camera
    from pi.daemon import CaptureDaemon
    from pi.settings import load_settings

    class Running:
        def __init__(self, daemon: CaptureDaemon, camera, client: redis.Redis) -> None:
            self.daemon, self.camera, self.client, self.error = daemon, camera, client, None
            self.thread = threading.Thread(target=self._run, daemon=True)

        def _run(self) -> None:
            try:
                self.daemon.run()
            except BaseException as exc:
                self.error = exc

        def stop(self) -> None:
            self.daemon.request_stop()
            self.thread.join(5)
            self.camera.close()
            self.client.close()

    running: list[Running] = []

    def start(url: str, *flags: str, camera=None, pin_factory=None, replay_backoff=None) -> Running:
        argv = ["--camera-backend", "simulated", "--camera-name", "testcam", "--resolution",
                "320x180", "--spool-dir", str(tmp_path / "spool"), "--env-file", "",
                "--redis-url", url, *flags]
        settings = load_settings(argv, environ={})
        camera = camera or make_camera(settings)
        camera.open()
        client = connect(url, retries=1, socket_timeout=5)
        daemon = CaptureDaemon(settings, camera, client, where=url, pin_factory=pin_factory,
                               replay_backoff=replay_backoff)
        handle = Running(daemon, camera, client)
        running.append(handle)
        handle.thread.start()
        return handle

    yield start
    for handle in running:
        handle.stop()


# --- Gallery ----------------------------------------------------------------------------

GALLERY_CSRF = "test-csrf-token"


@pytest.fixture
def app(redis_url: str) -> Iterator:
    """The gallery app on the emptied session Redis: login off, fixed secret key."""
    from server import create_app

    gallery = create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PASSWORD": None,
                          "SECRET_KEY": "test-secret-key", "GALLERY_SSE_SECONDS": 1})
    yield gallery
    services(gallery).redis.close()


@pytest.fixture
def client(app):
    """A test client of the gallery whose session holds a CSRF token.

    Send `headers=client.csrf_headers` with POST and DELETE requests.
    """
    test_client = app.test_client()
    with test_client.session_transaction() as session:
        session["csrf"] = GALLERY_CSRF
    test_client.csrf_headers = {"X-CSRF-Token": GALLERY_CSRF}
    return test_client


# --- Browser tests -----------------------------------------------------------------------


@pytest.fixture
def gallery(redis_url: str, tmp_path: Path) -> Iterator:
    """The gallery on the emptied session Redis, served by waitress in a thread as in production."""
    from server import create_app
    from tests.browser import ServerThread

    app = create_app({"REDIS_URL": redis_url, "GALLERY_PASSWORD": None, "SECRET_KEY": "browser-test",
                      "GALLERY_SSE_SECONDS": 30, "TIMELAPSE_TMPDIR": str(tmp_path)})
    with ServerThread(app) as server:
        yield server
    jobs = services(app).peek(TimelapseJobs)
    if jobs is not None:
        jobs.wait(10)
    services(app).redis.close()


@pytest.fixture
def browser() -> Iterator:
    """Headless Debian Chromium, driven by Playwright."""
    from tests.browser import launch_browser

    with launch_browser() as launched:
        yield launched


@pytest.fixture
def page(browser) -> Iterator:
    """A desktop-sized page that fails the test on any script error or dialog."""
    from tests.browser import DESKTOP, ConsoleErrors

    page = browser.new_page(viewport=DESKTOP)
    # Failed requests are judged by the tests (a 400 is expected in some); script errors never.
    errors = ConsoleErrors(page, failed_requests_ok=True)
    yield page
    errors.assert_none()


# --- Notifier (issue 14) -------------------------------------------------------------------


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Debian's mosquitto for the session, anonymous, on a free loopback port."""
    from tests.notify_support import Mosquitto

    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(mosquitto_server) -> Iterator:
    """The session's mosquitto, its retained messages cleared after each test."""
    from tests.notify_support import clear_retained

    yield mosquitto_server
    clear_retained(mosquitto_server.port)


@pytest.fixture
def run_notifier(r) -> Iterator:
    """Run Notifiers in threads on the emptied session Redis: `run_notifier(targets, **kwargs)`."""
    import time

    from tests.notify_support import Running

    running: list[Running] = []

    def start(targets, **kwargs) -> Running:
        handle = Running(r, targets, **kwargs)
        running.append(handle)
        # The group starts at "$": wait until it exists, so the test's pictures are seen.
        deadline = time.monotonic() + 5
        while not handle.notifier.group_ready and time.monotonic() < deadline:
            time.sleep(0.01)
        return handle

    yield start
    for handle in running:
        handle.stop()
