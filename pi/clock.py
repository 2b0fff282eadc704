"""Whether the system clock has been set from the network yet (a Pi has no real-time clock).

A Pi boots with the time it last saved (fake-hwclock), which can be hours or months old,
until NTP (systemd-timesyncd, chrony, ntpd) sets it. The daemon does not wait for that:
a Pi booted without network must still take pictures and spool them. Instead each picture
taken before the clock is synchronized is marked (`clock: not synchronized` in its hash),
so a wrong time can be recognised. See pi/README.md, "Time and boot".

The kernel knows whether an NTP daemon has synchronized the clock: adjtimex(2) with no
changes requested returns TIME_ERROR (5) while it is not (this is what `timedatectl`
shows as "System clock synchronized"). Reading it needs no privileges.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: the fields up to `tai`, then padding (44 bytes of int).
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
                ("time_usec", ctypes.c_long), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11)]


_adjtimex = None


def clock_synchronized() -> bool | None:
    """Return True when NTP has synchronized the clock, False when not, None if unknown."""
    global _adjtimex
    if not sys.platform.startswith("linux"):
        return None
    try:
        if _adjtimex is None:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _adjtimex = libc.adjtimex
            _adjtimex.argtypes = [ctypes.POINTER(_Timex)]
            _adjtimex.restype = ctypes.c_int
        state = _adjtimex(ctypes.byref(_Timex()))  # modes 0: read only
    except (OSError, AttributeError) as exc:
        logger.debug("adjtimex is not available: %s", exc)
        return None
    if state < 0:
        return None
    return state != TIME_ERROR
