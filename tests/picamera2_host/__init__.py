"""Run the REAL picamera2 package from PyPI on a PC: only what needs a Pi is stood in for.

picamera2 is pure Python. What needs a Raspberry Pi is (1) libcamera's Python bindings
(fakes/libcamera, which follows them), (2) the DMA heap that DmaAllocator allocates from
(/dev/dma_heap: replaced by memfd buffers, keeping DmaAllocator's own code) and its
DMA_BUF_IOCTL_SYNC (counted, not issued), and (3) modules picamera2 imports at import
time for hardware it won't touch here (prctl, kms, pykms: fakes/). Everything else is
real: picamera2 itself and its PyPI dependencies (numpy, Pillow, simplejpeg, piexif,
videodev2 or v4l2, PiDNG, av), installed by `make setup` (the dev extra).

The releases tested are pinned in tests/picamera2-versions.txt. Each is installed with
`pip install --no-deps --target .cache/picamera2/<version>` (once; about a second each),
and `load(version)` imports it afresh in this process.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
FAKES = Path(__file__).resolve().parent / "fakes"
VERSIONS_FILE = REPO / "tests" / "picamera2-versions.txt"
CACHE = Path(os.environ.get("PICAMERA2_CACHE", REPO / ".cache" / "picamera2"))
#: Modules dropped from sys.modules between versions (the fakes included, so knobs reset).
_PURGE = ("picamera2", "libcamera", "prctl", "kms", "pykms")


@dataclass(frozen=True)
class Pinned:
    """One line of tests/picamera2-versions.txt."""

    version: str
    expect: str  # "works" or "refused"
    note: str


def pinned_versions() -> list[Pinned]:
    """Return the pinned releases: `0.3.22  works  # why` per line."""
    out = []
    for line in VERSIONS_FILE.read_text().splitlines():
        text, _, note = line.partition("#")
        if not text.strip():
            continue
        version, expect = text.split()
        out.append(Pinned(version, expect, note.strip()))
    return out


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def install_dir(version: str) -> Path:
    """Return the folder holding picamera2==version, installing it from PyPI if missing."""
    target = CACHE / version
    if (target / "picamera2" / "__init__.py").is_file():
        return target
    tmp = CACHE / f".{version}.partial"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--target", str(tmp), f"picamera2=={version}"],
                   check=True)
    tmp.rename(target)
    return target


class _CountingFcntl:
    """fcntl for DmaAllocator: DMA_BUF_IOCTL_SYNC is counted (memfd buffers need none)."""

    def __init__(self, sync_request: int, stats: SimpleNamespace) -> None:
        self._sync_request, self._stats = sync_request, stats

    def ioctl(self, fd: int, request: int, arg: object = 0, mutate_flag: bool = True) -> int:
        if request == self._sync_request:
            self._stats.syncs += 1
            return 0
        return fcntl.ioctl(fd, request, arg, mutate_flag)


def _memfd_heap(unique_fd: type, stats: SimpleNamespace) -> type:
    class MemfdHeap:
        """Stands in for picamera2.dma_heap.DmaHeap (/dev/dma_heap/*): memfd buffers, counted."""

        def __init__(self) -> None:
            self.heap = None

        def isValid(self) -> bool:  # noqa: N802 - DmaHeap's name
            return True

        def alloc(self, name: str, size: int):
            fd = os.memfd_create(name, os.MFD_CLOEXEC)
            os.ftruncate(fd, size)
            stats.cma_bytes += size
            stats.cma_buffers.append(size)
            return unique_fd(fd)

        def close(self) -> None:
            pass

    return MemfdHeap


@dataclass
class Host:
    """One loaded picamera2 release and the stand-ins under it."""

    version: str
    picamera2: ModuleType
    libcamera: ModuleType

    @property
    def knobs(self) -> SimpleNamespace:
        return self.libcamera.KNOBS

    @property
    def stats(self) -> SimpleNamespace:
        return self.libcamera.STATS

    @property
    def camera(self):
        """The stand-in libcamera Camera (its `applied` controls, `started`, ...)."""
        return self.libcamera.CameraManager.singleton().cameras[0]


def unload() -> None:
    """Forget every picamera2/libcamera module, so another release can be imported."""
    for name in list(sys.modules):
        if name.split(".")[0] in _PURGE:
            del sys.modules[name]
    for entry in list(sys.path):
        if entry == str(FAKES) or entry.startswith(str(CACHE)):
            sys.path.remove(entry)


def load(version: str) -> Host:
    """Import picamera2==version over the stand-ins; return the Host."""
    unload()
    sys.path[:0] = [str(FAKES), str(install_dir(version))]
    libcamera = importlib.import_module("libcamera")
    libcamera.reset()
    picamera2 = importlib.import_module("picamera2")
    dmaallocator = importlib.import_module("picamera2.allocators.dmaallocator")
    dma_heap = importlib.import_module("picamera2.dma_heap")
    dmaallocator.DmaHeap = _memfd_heap(dma_heap.UniqueFD, libcamera.STATS)
    dmaallocator.fcntl = _CountingFcntl(dma_heap.DMA_BUF_IOCTL_SYNC, libcamera.STATS)
    return Host(version, picamera2, libcamera)


__all__ = ["Host", "Pinned", "install_dir", "load", "pinned_versions", "unload", "version_tuple"]
