"""The GPIO sensor trigger, driven with gpiozero's own mock pin factory."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from pi.triggers import SensorTrigger
from tests.helpers import FakeClock, wait_until

PIN = 17


@pytest.fixture
def factory():
    mock = MockFactory()
    yield mock
    mock.reset()


def pulse(factory: MockFactory, pin: int = PIN) -> None:
    """A sensor pulse: the pulled-up line goes low, then rises again."""
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def test_a_rising_edge_fires_and_the_pin_is_pulled_up(factory):
    fired: list[str] = []
    trigger = SensorTrigger(PIN, 1000, fired.append, pin_factory=factory)
    trigger.start()
    try:
        assert factory.pin(PIN).pull == "up"
        factory.pin(PIN).drive_low()
        assert fired == []  # the falling edge does nothing
        factory.pin(PIN).drive_high()
        wait_until(lambda: fired == ["sensor"], 5.0)
    finally:
        trigger.close()


def test_edges_within_the_debounce_are_ignored_then_accepted_again(factory):
    fired: list[str] = []
    clock = FakeClock(1000.0)
    trigger = SensorTrigger(PIN, 10_000, fired.append, pin_factory=factory, clock=clock)
    trigger.start()
    try:
        pulse(factory)
        wait_until(lambda: len(fired) == 1, 5.0)
        clock.now += 9.9
        pulse(factory)
        pulse(factory)
        wait_until(lambda: trigger.ignored == 2, 5.0)
        assert len(fired) == 1
        clock.now += 0.2  # 10.1 s after the first accepted edge
        pulse(factory)
        wait_until(lambda: len(fired) == 2, 5.0)
    finally:
        trigger.close()


def test_close_releases_the_pin(factory):
    trigger = SensorTrigger(PIN, 0, lambda _: None, pin_factory=factory)
    trigger.start()
    trigger.close()
    again = SensorTrigger(PIN, 0, lambda _: None, pin_factory=factory)
    again.start()  # would raise GPIOPinInUse if the first had kept it
    again.close()


def test_the_sensor_alone_takes_pictures_marked_sensor(r, redis_url, run_daemon, factory):
    d = run_daemon(redis_url, "--sensor-pin", str(PIN), "--sensor-debounce-ms", "60000",
                   pin_factory=factory)
    assert d.daemon.settings.triggers == ("sensor",)
    wait_until(lambda: r.exists("camera:testcam"), 5.0)  # the heartbeat runs without captures
    assert not list(r.scan_iter("image:*"))
    pulse(factory)
    wait_until(lambda: len(list(r.scan_iter("image:*"))) == 1, 5.0)
    pulse(factory)  # within the debounce
    wait_until(lambda: d.daemon.sensor.ignored == 1, 5.0)
    assert r.hget("camera:testcam", "triggers") == b"sensor"
    d.stop()
    [key] = list(r.scan_iter("image:*"))
    assert r.hget(key, "trigger") == b"sensor"
