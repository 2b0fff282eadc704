"""JSON as browsers parse it: no Infinity or NaN out, no unbounded nesting in.

The contract already reads non-finite numbers from Redis as unknown; this is the backstop at
the edge. A non-finite float that still reaches a response becomes null (and is logged once),
so a page never gets a body JSON.parse refuses. A request body nested too deep for Python's
parser is a 400 like any other malformed JSON, not a 500.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

logger = logging.getLogger(__name__)

_warned: set[str] = set()


def finite(value: Any) -> Any:
    """Return `value` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps that writes null for non-finite floats instead of Infinity or NaN."""
    kwargs["allow_nan"] = False
    try:
        return json.dumps(obj, **kwargs)
    except ValueError:
        if "nan" not in _warned:
            _warned.add("nan")
            logger.warning("A response held a non-finite number; it was sent as null")
        return json.dumps(finite(obj), **kwargs)


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with the two rules above."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None
