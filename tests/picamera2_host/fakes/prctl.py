"""Stand-in for python-prctl, which picamera2's FfmpegOutput imports at import time (Linux only)."""


def set_pdeathsig(signal_number: int) -> None:
    """Accept and ignore: the daemon never starts ffmpeg."""
