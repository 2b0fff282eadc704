"""The OpenAPI 3.1 document served at /api/openapi.json.

Other blueprints add their own routes by setting `bp.openapi_paths = {path: {method: ...}}`;
a test checks that every /api/ route of the app appears here, and nothing else.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask

from .settings import MAX_PAGE_SIZE


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": schema}


_ID = _param("image_id", "Image id: the key without `image:`, e.g. `garden:1700000000000-ab12` "
             "or the reference's `1700000000`.", {"type": "string"}, "path", True)
_FILTER = [
    _param("since", "Only images taken at or after this Unix time (seconds).", {"type": "number"}),
    _param("until", "Only images taken at or before this Unix time (seconds).", {"type": "number"}),
    _param("camera", "Only this camera.", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}),
    _param("trigger", "Only this trigger (interval, sensor, motion, manual).",
           {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}),
    _param("lux_min", "Only images at least this bright.", {"type": "number"}),
    _param("lux_max", "Only images at most this bright.", {"type": "number"}),
]
_SORT = _param("sort", "Order of the listing.",
               {"type": "string", "enum": ["newest", "oldest", "brightest", "darkest"],
                "default": "newest"})
_ERROR = {"description": "Error: `{\"error\": {\"code\", \"message\", \"parameter\"}}`.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_JSON = {"application/json": {"schema": {"type": "object"}}}
_CSRF = [{"csrfToken": []}]


#: What any Redis-backed route answers when Redis refuses (502) or is full (507).
REDIS_ERRORS: dict[str, Any] = {
    "502": {"description": "Redis refused the request; `message` says why and how to fix it.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "507": {"description": "Redis is full (maxmemory); `message` names the fixes.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
}


def _ok(description: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": content or _JSON}


def _op(summary: str, responses: dict[str, Any], parameters: list | None = None,
        **extra: Any) -> dict[str, Any]:
    out = {"summary": summary, "parameters": parameters or [], "responses": responses}
    out.update(extra)
    return out


PATHS: dict[str, dict[str, Any]] = {
    "/api/images": {"get": _op(
        "List images (keyset paging; never returns image data).",
        {"200": _ok("A page of images, the next cursor, and on the first page the count "
                    "(`exact` false means at least that many)."),
         "400": _ERROR, "503": _ERROR},
        [*_FILTER, _SORT,
         _param("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
         _param("cursor", "`next_cursor` of the previous page.", {"type": "string"})],
    )},
    "/api/images/{image_id}": {
        "get": _op("One image's metadata: every field, time to live, URLs.",
                   {"200": _ok("The image's metadata."), "404": _ERROR, "503": _ERROR}, [_ID]),
        "delete": _op("Delete an image.", {"200": _ok("Deleted."), "403": _ERROR, "404": _ERROR},
                      [_ID], security=_CSRF),
    },
    "/api/images/{image_id}/image": {"get": _op(
        "The full image, with ETag and immutable caching; 304 on a matching If-None-Match.",
        {"200": _ok("The image bytes.", {"image/jpeg": {}}), "304": {"description": "Not modified."},
         "404": _ERROR},
        [_ID, _param("download", "1 to download it with a file name.", {"type": "string"})],
    )},
    "/api/images/{image_id}/thumbnail": {"get": _op(
        "The thumbnail; made and cached on first request for hashes without one.",
        {"200": _ok("The thumbnail bytes.", {"image/jpeg": {}}), "304": {"description": "Not modified."},
         "404": _ERROR},
        [_ID],
    )},
    "/api/images/{image_id}/neighbors": {"get": _op(
        "The previous and next image under a filter and sort (for arrow keys).",
        {"200": _ok("`previous` and `next`, each an image or null."), "400": _ERROR, "404": _ERROR},
        [_ID, *_FILTER, _SORT],
    )},
    "/api/images/{image_id}/keep": {"post": _op(
        "Keep an image for ever (PERSIST).",
        {"200": _ok("Kept; `previous_expires_at` is when it would have expired."), "403": _ERROR,
         "404": _ERROR},
        [_ID], security=_CSRF,
    )},
    "/api/images/{image_id}/expire": {"post": _op(
        "Undo keep: expire the image at the given time again.",
        {"200": _ok("The expiry set."), "400": _ERROR, "403": _ERROR, "404": _ERROR},
        [_ID], security=_CSRF,
        requestBody={"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["expires_at"],
            "properties": {"expires_at": {"type": "number"}}}}}},
    )},
    "/api/stats": {"get": _op("Image count, Redis memory used and maxmemory, oldest and newest.",
                              {"200": _ok("The stats."), "503": _ERROR})},
    "/api/cameras": {"get": _op("Cameras with online state (heartbeat) and last capture.",
                                {"200": _ok("The cameras."), "503": _ERROR})},
    "/api/facets": {"get": _op("The camera and trigger values to filter on.",
                               {"200": _ok("The values."), "503": _ERROR})},
    "/api/chart": {"get": _op(
        "Average, min and max lux per time bucket (FT.AGGREGATE).",
        {"200": _ok("The buckets."), "400": _ERROR, "503": _ERROR},
        [*_FILTER, _param("buckets", "About how many buckets.",
                          {"type": "integer", "minimum": 2, "maximum": 500})],
    )},
    "/api/events": {"get": _op(
        "New images matching the filter as Server-Sent Events: each `image` event's data is an "
        "item as in /api/images; other new entries come as `other` events. Event ids are stream "
        "ids (send Last-Event-ID to resume).",
        {"200": _ok("An event stream.", {"text/event-stream": {}}), "400": _ERROR, "503": _ERROR},
        [*_FILTER,
         _param("after", "Stream id to resume after (the list's `stream_id`).", {"type": "string"}),
         _param("Last-Event-ID", "Stream id to resume after.", {"type": "string"}, "header")],
    )},
    "/api/openapi.json": {"get": _op("This document.", {"200": _ok("OpenAPI 3.1.")})},
    "/healthz": {"get": _op(
        "Health: Redis reachable, search module present, index present.",
        {"200": _ok("Healthy."), "503": _ok("Not healthy; `message` says why and how to fix it.")},
        security=[],
    )},
}


def document(app: Flask) -> dict[str, Any]:
    """Return the OpenAPI document: these paths plus those other blueprints declare."""
    paths = copy.deepcopy(PATHS)
    for blueprint in app.blueprints.values():
        for path, ops in copy.deepcopy(getattr(blueprint, "openapi_paths", {})).items():
            paths.setdefault(path, {}).update(ops)
    for path, ops in paths.items():
        if path.startswith("/api/"):  # every API route reads Redis, so may meet these
            for op in ops.values():
                for code, response in REDIS_ERRORS.items():
                    op["responses"].setdefault(code, response)
    security_schemes: dict[str, Any] = {
        "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                      "description": "The page's <meta name=\"csrf-token\">; needed for POST and DELETE."},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pi camera gallery API", "version": "1.0.0",
                 "description": "Images captured by Raspberry Pi cameras, stored in Redis. "
                                "When GALLERY_PASSWORD is set, log in at /login first."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": security_schemes,
            "schemas": {"Error": {"type": "object", "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "parameter": {"type": "string"}}}}}},
        },
    }
