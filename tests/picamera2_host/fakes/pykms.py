"""Stand-in for libcamera's pykms (DRM/KMS bindings), which picamera2's DrmPreview imports.

The daemon never opens a DRM preview, so any use of a card fails as it would on a PC.
"""


class _Names:
    def __getattr__(self, name: str) -> str:
        return name


PixelFormat = PixelFormats = _Names()


class Card:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise OSError("no DRM device (test stand-in)")
