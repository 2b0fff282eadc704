"""The gallery API's requests and answers, declared once with marshmallow (see core/openapi.py).

The query schemas are built from the query kit's declarations (`FILTERS`, `SORT_OPTIONS`),
so a filter or sort added there is read, validated and documented here without more code.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from server.core.openapi import Param
from server.core.services import services
from server.core.settings import MAX_PAGE_SIZE
from server.search import FILTERS, SORT_OPTIONS, BadParameter, ImageFilter
from server.search.filters import ORDERED_PAIRS, shown
from server.search.params import STREAM_ID_RE, parse_cursor, parse_int, parse_sort

# --- Requests ------------------------------------------------------------------------------


def _filter_fields() -> dict[str, ma.fields.Field]:
    return {f.name: Param(f.parse, f.schema(), description=f.description, data_key=f.name)
            for f in FILTERS}


def _sort_field() -> Param:
    names = [sort.name for sort in SORT_OPTIONS]
    return Param(lambda text: parse_sort({"sort": text})[0],
                 {"type": "string", "enum": names, "default": names[0]},
                 description="Order: " + ", ".join(f"{s.name} ({s.label.lower()})" for s in SORT_OPTIONS))


def _int_field(name: str, low: int, high: int, description: str) -> Param:
    return Param(lambda text: parse_int({name: text}, name, 0, low, high),
                 {"type": "integer", "minimum": low, "maximum": high}, description=description)


class _Query(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # e.g. a cache-busting `_=`


def _check_pairs(data: dict[str, Any]) -> None:
    for low, high, message in ORDERED_PAIRS:
        if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
            raise ma.ValidationError(message, field_name=low)


def _with_filter(data: dict[str, Any]) -> dict[str, Any]:
    data["filter"] = ImageFilter(**{f.name: data.get(f.name) for f in FILTERS})
    return data


class FilteredQuery(_Query):
    """The filters; validated together (since <= until, lux_min <= lux_max)."""

    @ma.validates_schema
    def _pairs(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_pairs(data)

    @ma.post_load
    def _make_filter(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _with_filter(data)


def _schema(name: str, extra: dict[str, ma.fields.Field], base: type[ma.Schema] = FilteredQuery
            ) -> type[ma.Schema]:
    return base.from_dict({**_filter_fields(), **extra}, name=name)


class _ListBase(FilteredQuery):
    @ma.post_load
    def _defaults(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        name = data.get("sort") or SORT_OPTIONS[0].name
        data["sort"], data["order"] = parse_sort({"sort": name})
        if data.get("limit") is None:
            data["limit"] = services().settings.page_size
        data["cursor"] = parse_cursor({"cursor": data.get("cursor") or ""}, data["order"])
        return data


ListQuery = _schema("ListQuery", {
    "sort": _sort_field(),
    "limit": _int_field("limit", 1, MAX_PAGE_SIZE, "Page size (default GALLERY_PAGE_SIZE)."),
    "cursor": Param(str, {"type": "string", "maxLength": 200},
                    description="`next_cursor` of the previous page."),
}, _ListBase)


class _SortedBase(FilteredQuery):
    @ma.post_load
    def _order(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["sort"], data["order"] = parse_sort({"sort": data.get("sort") or SORT_OPTIONS[0].name})
        return data


NeighborsQuery = _schema("NeighborsQuery", {"sort": _sort_field()}, _SortedBase)
ChartQuery = _schema("ChartQuery", {
    "buckets": _int_field("buckets", 2, 500, "About how many buckets (default 60)."),
})


def _since_or_stream_id(text: str) -> Any:
    if STREAM_ID_RE.match(text):
        return ("stream", text)
    return FILTERS[0].parse(text)


def _stream_id(text: str) -> str:
    if not STREAM_ID_RE.match(text):
        raise BadParameter("stream_id", f"stream_id must be a stream id like 1700000000000-0; got "
                                        f"{shown(text)}.")
    return text


class _EventsBase(FilteredQuery):
    @ma.validates_schema
    def _pairs(self, data: dict[str, Any], **kwargs: Any) -> None:
        since = data.get("since")
        _check_pairs({**data, "since": None if isinstance(since, tuple) else since})

    @ma.post_load
    def _make_filter(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        since = data.get("since")
        data["position"] = since[1] if isinstance(since, tuple) else None
        if isinstance(since, tuple):
            data["since"] = None
        return _with_filter(data)


EventsQuery = _EventsBase.from_dict({
    **_filter_fields(),
    "since": Param(_since_or_stream_id, {"type": "string"},
                   description="A Unix time filters as in the list; a stream id (the list's "
                               "`stream_id`, e.g. 1700000000000-0) is where to resume."),
    "stream_id": Param(_stream_id, {"type": "string", "pattern": STREAM_ID_RE.pattern},
                       description="Stream id to resume after (the list's `stream_id`)."),
}, name="EventsQuery")


class EventsHeaders(_Query):
    """Documents Last-Event-ID (beside the filter parameters, which a manual list would hide);
    `events.stream` reads and checks it."""

    last_event_id = fields.String(data_key="Last-Event-ID", metadata={
        "description": "Stream id to resume after (sent by EventSource)."})


class DownloadQuery(_Query):
    download = fields.String(metadata={"description": "1 to download it with a file name."})


def _grid_width(text: str) -> int:
    from .images import GRID_WIDTHS

    if not text.isdigit() or int(text) not in GRID_WIDTHS:
        raise BadParameter("w", f"w must be one of {', '.join(map(str, GRID_WIDTHS))} (pixels); "
                                f"got {shown(text)}.")
    return int(text)


class ThumbnailQuery(DownloadQuery):
    w = Param(_grid_width, {"type": "integer", "enum": [160, 240]},
              description="A smaller copy for the grid's cards, this many pixels wide.")


def _expires_at(value: Any) -> float:
    import math

    from pi.contract import TIMESTAMP_RANGE

    # A time in the past is fine (the expiry is never sooner than 10 s from now); one after
    # 2100 would overflow Redis's PEXPIREAT.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value > TIMESTAMP_RANGE[1]:
        raise BadParameter("expires_at", "expires_at must be a Unix time in seconds (before the "
                                         'year 2100) in a JSON body, e.g. {"expires_at": 1700003600}.')
    return float(value)


class ExpireBody(ma.Schema):
    """When the image should expire again."""

    class Meta:
        unknown = ma.EXCLUDE

    expires_at = Param(_expires_at, {"type": "number"}, strip=False,
                       description="Unix time in seconds, used only for a picture without a "
                                   "plan (the reference's); optional.")


# --- Answers -------------------------------------------------------------------------------


class Tier(ma.Schema):
    """Whether the full size is there (issue 9): `state` full, or why not."""

    state = fields.String(required=True, metadata={"enum": ["full", "expired", "trimmed", "unchanged",
                                                            "missing"]})
    full_until = fields.Float(required=True, allow_none=True, metadata={
        "description": "When the full size goes or went (Unix s); null: kept, or not recorded."})
    full_kept = fields.Boolean(required=True, metadata={"description": "The full size is kept for ever."})
    unchanged_since = fields.Float(required=True, allow_none=True, metadata={
        "description": "A near-duplicate: the time of the picture it is the same as."})
    same_as = fields.String(required=True, allow_none=True, metadata={
        "description": "A near-duplicate: the id of the picture it is the same as."})


class ImageItem(ma.Schema):
    """One picture, as the list, the neighbours and the event stream show it.

    When `tier.state` is not "full", `image_url` and `download_url` serve the thumbnail.
    """

    id = fields.String(required=True)
    timestamp = fields.Float(required=True)
    captured_at = fields.String(required=True)
    camera = fields.String(required=True, allow_none=True)
    trigger = fields.String(required=True, allow_none=True)
    lux = fields.Float(required=True, allow_none=True)
    mime_type = fields.String(required=True)
    width = fields.Integer(required=True, allow_none=True)
    height = fields.Integer(required=True, allow_none=True)
    size_bytes = fields.Integer(required=True, allow_none=True)
    exposure_time = fields.Integer(required=True, allow_none=True)
    analogue_gain = fields.Float(required=True, allow_none=True)
    colour_temperature = fields.Integer(required=True, allow_none=True)
    lens_position = fields.Float(required=True, allow_none=True)
    thumbnail_url = fields.String(required=True)
    image_url = fields.String(required=True)
    download_url = fields.String(required=True)
    download_name = fields.String(required=True)
    tier = fields.Nested(Tier, required=True)
    kept = fields.Boolean(metadata={"description": "In the list: kept for ever (no expiry)."})


class Count(ma.Schema):
    value = fields.Integer(required=True)
    exact = fields.Boolean(required=True, metadata={"description": "false: at least `value`"})
    total = fields.Integer(required=True)


class ImageList(ma.Schema):
    """A page of pictures, the next page's cursor, and on the first page the count."""

    images = fields.List(fields.Nested(ImageItem), required=True)
    next_cursor = fields.String(required=True, allow_none=True)
    sort = fields.String(required=True, metadata={"enum": [s.name for s in SORT_OPTIONS]})
    limit = fields.Integer(required=True)
    stream_id = fields.String(required=True)
    count = fields.Nested(Count, required=True, allow_none=True)


class ImageDetail(ImageItem):
    """Every stored field of a picture (in the contract's order), its time to live."""

    fields_ = fields.List(fields.List(fields.String()), data_key="fields", attribute="fields",
                          required=True)
    kept = fields.Boolean(required=True)
    ttl_seconds = fields.Float(required=True, allow_none=True)
    expires_at = fields.Float(required=True, allow_none=True)
    has_thumbnail = fields.Boolean(required=True)
    from_archive = fields.Boolean(required=True, metadata={
        "description": "The full size left Redis; `image_url` serves the original from the archive."})
    archive_note = fields.String(required=True, allow_none=True, metadata={
        "description": "Why the archived original can't be shown (gone from the archive, or the "
                       "archive unreachable); null when it can."})


class Deleted(ma.Schema):
    deleted = fields.String(required=True)


class Kept(ma.Schema):
    id = fields.String(required=True)
    kept = fields.Boolean(required=True)
    previous_expires_at = fields.Float(required=True, allow_none=True)
    full_size = fields.Boolean(required=True, metadata={"description": "It has its full size (kept too)."})


class Expiring(ma.Schema):
    id = fields.String(required=True)
    kept = fields.Boolean(required=True)
    expires_at = fields.Float(required=True)
    full_until = fields.Float(required=True, allow_none=True, metadata={
        "description": "When its full size goes; null: it has none any more."})


class Neighbors(ma.Schema):
    previous = fields.Nested(ImageItem, required=True, allow_none=True)
    next = fields.Nested(ImageItem, required=True, allow_none=True)


class Edge(ma.Schema):
    id = fields.String(required=True)
    timestamp = fields.Float(required=True)
    camera = fields.String(required=True, allow_none=True)


class Memory(ma.Schema):
    used_bytes = fields.Integer(required=True)
    max_bytes = fields.Integer(required=True, allow_none=True)
    policy = fields.String(required=True, allow_none=True)


class ArchiveState(ma.Schema):
    """The archive of originals and its archiver (`archive:status`, refreshed every few seconds)."""

    configured = fields.Boolean(required=True, metadata={"description": "The gallery has ARCHIVE_URL."})
    url = fields.String(required=True, allow_none=True)
    running = fields.Boolean(required=True, metadata={"description": "An archiver reports its state."})
    state = fields.String(required=True, metadata={
        "enum": ["starting", "ok", "retrying", "stopped", "absent"],
        "description": "The archiver's state; absent: no archiver runs."})
    last_ok = fields.Float(required=True, allow_none=True,
                           metadata={"description": "When the last picture was archived."})
    last_error = fields.String(required=True, allow_none=True)
    pending = fields.Integer(required=True, allow_none=True)
    backlog = fields.Integer(required=True, allow_none=True)
    missed = fields.Integer(required=True, allow_none=True)
    archived = fields.Integer(required=True, allow_none=True)
    gallery_error = fields.String(required=True, allow_none=True, metadata={
        "description": "The gallery's own last failure to read the archive (last 5 minutes)."})
    warning = fields.String(required=True, allow_none=True,
                            metadata={"description": "What needs fixing, if anything."})


class Stats(ma.Schema):
    count = fields.Integer(required=True)
    memory = fields.Nested(Memory, required=True)
    oldest = fields.Nested(Edge, required=True, allow_none=True)
    newest = fields.Nested(Edge, required=True, allow_none=True)
    archive = fields.Nested(ArchiveState, required=True)


class Camera(ma.Schema):
    name = fields.String(required=True)
    online = fields.Boolean(required=True)
    host = fields.String(required=True, allow_none=True)
    started_at = fields.Float(required=True, allow_none=True)
    triggers = fields.List(fields.String(), required=True)
    last_capture = fields.Float(required=True, allow_none=True)
    last_id = fields.String(required=True, allow_none=True)


class Cameras(ma.Schema):
    cameras = fields.List(fields.Nested(Camera), required=True)


class Facets(ma.Schema):
    cameras = fields.List(fields.String(), required=True)
    triggers = fields.List(fields.String(), required=True)


class Bucket(ma.Schema):
    start = fields.Float(required=True)
    end = fields.Float(required=True)
    avg = fields.Float(required=True)
    min = fields.Float(required=True)
    max = fields.Float(required=True)
    count = fields.Integer(required=True)


class Chart(ma.Schema):
    bucket_seconds = fields.Integer(required=True, allow_none=True)
    since = fields.Float(required=True, allow_none=True)
    until = fields.Float(required=True, allow_none=True)
    buckets = fields.List(fields.Nested(Bucket), required=True)


class NotifierHealth(ma.Schema):
    state = fields.String(required=True, metadata={"enum": ["ok", "retrying", "stale", "stopped", "absent"]})
    retrying = fields.List(fields.String(), required=True, metadata={"description": "Targets being retried."})
    message = fields.String(metadata={"description": "What is wrong and the fix."})


class Health(ma.Schema):
    redis = fields.Boolean(required=True)
    search_module = fields.Boolean(required=True)
    index = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"enum": ["ok", "degraded", "unavailable"]})
    notifier = fields.Nested(NotifierHealth, metadata={
        "description": "The notifier (when Redis answers). A stale, stopped or retrying "
                       "notifier makes `status` degraded, still 200."})
    error = fields.String(metadata={"description": "The Redis error's type, when one was met."})
    message = fields.String(metadata={"description": "Why it is unhealthy, and the fix."})
    archive = fields.Nested(ArchiveState, metadata={
        "description": "With ARCHIVE_URL or a running archiver. Only the archive failing (no "
                       "archiver, or it retries) makes `status` degraded, still 200."})
