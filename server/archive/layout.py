"""Object names in the archive, and the JSON sidecar that can rebuild a picture's hash.

    <camera>/<YYYY>/<MM>/<DD>/<HH-MM-SS.mmm>-<nonce>.jpg    the original, byte for byte
    <camera>/<YYYY>/<MM>/<DD>/<HH-MM-SS.mmm>-<nonce>.json   its sidecar

Times are UTC. The names sort in time order, so a file browser, `ls`, `aws s3 ls` or `mc ls`
shows a camera's pictures oldest first, and retention deletes in key order. The nonce is
the image id's random suffix; pictures with other ids (the reference's `image:<seconds>`)
use the whole id instead. Hashes without a camera go under `_unnamed/`.

The sidecar holds every text field of the hash, the thumbnail (base64, it is small),
the original's size and SHA-256, when the key and the full size would have expired
(null when kept), and whether the picture is kept.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pi import contract

ORIGINAL_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
SIDECAR_EXT = "json"
UNNAMED_CAMERA = "_unnamed"
#: The gallery's finished time-lapse movies, `<folder>/<job id>.mp4`: the dot keeps the folder
#: from ever being a camera's (camera names are letters, digits, '_' and '-').
MOVIES_FOLDER = "timelapse.movies"
SIDECAR_FORMAT = "redis-pi-camera archive sidecar"
SIDECAR_VERSION = 1
_OUR_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}:\d+-(?P<nonce>[A-Za-z0-9]{1,16})$")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def movie_key(job_id: str) -> str:
    """Return the archive key of a time-lapse job's movie."""
    return f"{MOVIES_FOLDER}/{job_id}.mp4"


def camera_folder(camera: str | None) -> str:
    """Return the top-level folder of a camera's pictures."""
    return camera if camera and contract.CAMERA_NAME_RE.match(camera) else UNNAMED_CAMERA


def base_name(image_id: str, camera: str | None, timestamp: float) -> str:
    """Return the object name of a picture without its extension."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    match = _OUR_ID.match(image_id)
    nonce = match["nonce"] if match else "id-" + _SAFE.sub("_", image_id)
    return (f"{camera_folder(camera)}/{when:%Y/%m/%d}/{when:%H-%M-%S}.{when.microsecond // 1000:03d}"
            f"-{nonce}")


def original_key(base: str, mime_type: str) -> str:
    """Return the key of the original, with an extension a file browser understands."""
    return f"{base}.{ORIGINAL_EXTENSIONS.get(mime_type, 'bin')}"


def sidecar_key(base: str) -> str:
    return f"{base}.{SIDECAR_EXT}"


def split_key(key: str) -> tuple[str, str]:
    """Return (base, extension) of an object key."""
    base, _, ext = key.rpartition(".")
    return base, ext


def time_key(camera: str, when: datetime) -> str:
    """Return a key that sorts just before every picture of `camera` taken at or after `when`."""
    when = when.astimezone(UTC)
    return f"{camera}/{when:%Y/%m/%d}/{when:%H-%M-%S}.{when.microsecond // 1000:03d}"


def time_of_key(key: str) -> datetime | None:
    """Return the UTC time an object's name says, or None for names not in the layout."""
    match = re.match(r"^[^/]+/(\d{4})/(\d{2})/(\d{2})/(\d{2})-(\d{2})-(\d{2})\.(\d{3})-", key)
    if not match:
        return None
    y, mo, d, h, mi, s, ms = (int(g) for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class Sidecar:
    """What the archive knows about one picture besides its original."""

    id: str
    original: str  # key of the original
    size: int
    sha256: str
    fields: dict[str, str]  # the hash's text fields
    thumbnail: bytes | None
    expires_at: float | None  # when the key would expire; None: no TTL (kept)
    image_data_expires_at: float | None  # when the full size would leave Redis, if earlier
    kept: bool
    archived_at: float

    @property
    def timestamp(self) -> float:
        return float(self.fields[contract.F_TIMESTAMP])

    def to_json(self) -> bytes:
        thumb = None
        if self.thumbnail is not None:
            thumb = {"base64": base64.b64encode(self.thumbnail).decode("ascii")}
        return json.dumps({
            "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, "id": self.id,
            "key": contract.KEY_PREFIX + self.id, "original": self.original, "size": self.size,
            "sha256": self.sha256, "kept": self.kept, "expires_at": self.expires_at,
            "image_data_expires_at": self.image_data_expires_at, "archived_at": self.archived_at,
            "fields": self.fields, "thumbnail": thumb,
        }, indent=1, sort_keys=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Sidecar:
        """Parse a sidecar; ValueError names what is wrong with it."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(doc, Mapping) or doc.get("format") != SIDECAR_FORMAT:
            raise ValueError("not a sidecar of this archive")
        fields = doc.get("fields")
        image_id = doc.get("id")
        if not isinstance(fields, Mapping) or not isinstance(image_id, str):
            raise ValueError("sidecar without id or fields")
        if not contract.is_valid_image_id(image_id):
            raise ValueError(f"invalid image id {image_id!r}")
        fields = {str(k): str(v) for k, v in fields.items() if k not in contract.BINARY_FIELDS}
        try:
            float(fields[contract.F_TIMESTAMP])
        except (KeyError, ValueError):
            raise ValueError("sidecar without a valid timestamp") from None
        thumb = doc.get("thumbnail")
        thumbnail = None
        if isinstance(thumb, Mapping) and isinstance(thumb.get("base64"), str):
            try:
                thumbnail = base64.b64decode(thumb["base64"], validate=True)
            except ValueError:
                raise ValueError("sidecar with a broken thumbnail") from None
        return cls(id=image_id, original=str(doc.get("original", "")), size=_num(doc.get("size"), int) or 0,
                   sha256=str(doc.get("sha256", "")), fields=fields, thumbnail=thumbnail,
                   expires_at=_num(doc.get("expires_at"), float),
                   image_data_expires_at=_num(doc.get("image_data_expires_at"), float),
                   kept=doc.get("kept") is True, archived_at=_num(doc.get("archived_at"), float) or 0.0)


def _num(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def text_fields(hash_: Mapping[str, Any]) -> dict[str, str]:
    """Return a hash's text fields (not the JPEGs, not `archived`), decoded."""
    out = {}
    for name, value in hash_.items():
        if name in contract.BINARY_FIELDS or name == contract.F_ARCHIVED:
            continue
        out[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return out
