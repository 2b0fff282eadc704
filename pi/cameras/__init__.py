"""Camera backends behind one interface (base.Camera), chosen by CAMERA_BACKEND."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pi.cameras.base import Camera, CameraError, CameraUnsupported, Capture, SharedCamera

if TYPE_CHECKING:
    from pi.settings import Settings


def make_camera(settings: Settings) -> Camera:
    """Return the (unopened) camera the settings ask for."""
    preview_box = settings.preview_size if settings.preview_fps > 0 else settings.thumbnail_size
    if settings.camera_backend == "picamera2":
        from pi.cameras.picamera2_camera import Picamera2Camera
        idle_fps = settings.idle_fps
        if idle_fps and "motion" in settings.triggers:
            idle_fps = max(idle_fps, settings.motion_fps)  # motion reads need their frames
        return Picamera2Camera(
            resolution=settings.resolution, jpeg_quality=settings.jpeg_quality,
            thumbnail_size=settings.thumbnail_size, preview_size=preview_box,
            autofocus=settings.autofocus, timeout=settings.capture_timeout,
            camera_num=settings.camera_num, autofocus_timeout=settings.autofocus_timeout,
            main_format=settings.main_format, idle_fps=idle_fps)
    if settings.camera_backend == "directory":
        from pi.cameras.directory import DirectoryCamera
        assert settings.image_directory is not None
        return DirectoryCamera(settings.image_directory, thumbnail_size=settings.thumbnail_size,
                               preview_size=preview_box)
    from pi.cameras.simulated import SimulatedCamera
    from pi.settings import SIMULATED_DEFAULT_RESOLUTION
    return SimulatedCamera(
        resolution=settings.resolution or SIMULATED_DEFAULT_RESOLUTION,
        jpeg_quality=settings.jpeg_quality, thumbnail_size=settings.thumbnail_size,
        preview_size=preview_box, speedup=settings.simulated_speedup, label=settings.camera_name)


__all__ = ["Camera", "CameraError", "CameraUnsupported", "Capture", "SharedCamera", "make_camera"]
