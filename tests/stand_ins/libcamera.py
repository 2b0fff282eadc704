"""Stand-in for libcamera's Python bindings: the few names the capture daemon uses.

Names and values follow libcamera's control enums (libcamera.controls.AfModeEnum etc.).
Tests put tests/stand_ins on sys.path only where they need it.
"""

from enum import IntEnum
from types import SimpleNamespace


class AfModeEnum(IntEnum):
    Manual = 0
    Auto = 1
    Continuous = 2


class AfTriggerEnum(IntEnum):
    Start = 0
    Cancel = 1


class AfStateEnum(IntEnum):
    Idle = 0
    Scanning = 1
    Focused = 2
    Failed = 3


controls = SimpleNamespace(AfModeEnum=AfModeEnum, AfTriggerEnum=AfTriggerEnum, AfStateEnum=AfStateEnum)


class Transform:
    def __init__(self, hflip: int = 0, vflip: int = 0, transpose: int = 0) -> None:
        self.hflip, self.vflip, self.transpose = hflip, vflip, transpose


class ColorSpace:
    @staticmethod
    def Sycc() -> "ColorSpace":  # noqa: N802 - libcamera's name
        return ColorSpace()
