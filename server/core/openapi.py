"""The API's one declaration: marshmallow schemas read requests, shape responses, and make
the OpenAPI 3.1 document served at /api/openapi.json (flask-smorest + apispec).

Why flask-smorest: it keeps plain Flask blueprints, error handlers and `url_for` names (the
gallery's login, CSRF and error pages stay as they are), and builds the document from the
same marshmallow schemas that parse the arguments (webargs) and dump the responses, so the
document cannot drift from the code. APIFlask would replace the app class and its error
format, and pydantic-based tools would add a second modelling library beside marshmallow.

Parameters are read by `Param` fields that call the project's own parse functions, so an
error still names the parameter and the fix (`?limit=0`: "limit must be a whole number
from 1 to 100; got '0'."), as a 400 `{"error": {"code", "message", "parameter"}}`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

import flask
import marshmallow as ma
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from server.search import BadParameter

#: Error statuses and what each means for any /api/ route (see core/errors.py).
ERROR_DESCRIPTIONS = {
    400: "A parameter is wrong; `parameter` names it and `message` says how to fix it.",
    401: "A password protects the gallery (GALLERY_PASSWORD): log in at /login first.",
    403: "The request lacks the page's CSRF token (X-CSRF-Token).",
    404: "No such image, job or camera (expired, deleted, or never there).",
    410: "The picture is there but its full size is gone (expired, trimmed by its camera's "
         "budget, or stored as a near-duplicate); `message` says which and names the thumbnail.",
    409: "The request conflicts with the current state; `message` says which.",
    413: "The request's body is over 1 MB; the API's bodies are a few hundred bytes.",
    502: "Redis refused the request; `message` says why and how to fix it.",
    503: "Redis is unreachable, loading, or lacks the search module; or (event streams, live "
         "video) the gallery's stream budget is spent, with Retry-After. `message` names the fix.",
    507: "Redis is full (maxmemory); `message` names the fixes.",
}
#: Every /api/ route may meet these (login, a body over 1 MB, Redis away, refusing or full).
ALWAYS = (401, 413, 502, 503, 507)


class ErrorBody(ma.Schema):
    """What went wrong: a short code, one sentence naming the fix, and the parameter."""

    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    parameter = ma.fields.String()
    accepted = ma.fields.List(ma.fields.String(), metadata={
        "description": "For an unknown setting: the settings that are accepted."})


class Error(ma.Schema):
    """`{"error": {...}}`, the body of every error answer."""

    error = ma.fields.Nested(ErrorBody, required=True)


class Param(ma.fields.Field):
    """A parameter read by one of the project's parse functions.

    `parse` gets the value (stripped text for query parameters; empty means absent) and
    returns it parsed, raising BadParameter with the message users see. `schema` is its
    JSON schema for the document.
    """

    def __init__(self, parse: Callable[[Any], Any], schema: Mapping[str, Any], *,
                 description: str = "", strip: bool = True, **kwargs: Any) -> None:
        metadata = {**schema, "description": description, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
        self.parse = parse
        self.strip = strip

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if self.strip:
            value = str(value).strip()
            if not value:
                return None
        try:
            return self.parse(value)
        except BadParameter as exc:
            raise ma.ValidationError(exc.message, field_name=exc.parameter) from None


class Parser(FlaskParser):
    """webargs' parser, but a bad parameter is the API's 400 naming the first bad one."""

    def handle_error(self, error: ma.ValidationError, req: flask.Request, schema: ma.Schema, *,
                     error_status_code: int | None, error_headers: Mapping[str, str] | None
                     ) -> NoReturn:
        messages: Any = error.messages
        while isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in (
                "query", "json", "headers", "form"):
            messages = next(iter(messages.values()))
        order = list(schema.fields)
        if isinstance(messages, dict) and messages:
            name = min(messages, key=lambda n: order.index(n) if n in order else len(order))
            if name == "_schema" and order:
                # Not an object at all (e.g. a JSON list): name the first setting it needs.
                first = schema.fields[order[0]]
                message = first.error_messages.get("required") or _first(messages[name])
                raise BadParameter(first.data_key or order[0], str(message).format())
            raise BadParameter(str(name), _first(messages[name]))
        raise BadParameter("body", _first(messages))


def _first(messages: Any) -> str:
    while isinstance(messages, list | tuple | dict) and messages:
        messages = messages[0] if not isinstance(messages, dict) else next(iter(messages.values()))
    return str(messages)


class Blueprint(SmorestBlueprint):
    """A flask-smorest blueprint whose argument errors are the API's 400s."""

    ARGUMENTS_PARSER = Parser()

    def errors(self, *codes: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document these error answers (besides those every route may give)."""
        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            for code in codes:
                func = self.alt_response(code, schema=Error, description=ERROR_DESCRIPTIONS[code])(func)
            return func
        return decorate

    def undocumented(self, rule: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a route that is not part of the JSON API (pages, media streams)."""
        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            flask.Blueprint.add_url_rule(self, rule, options.pop("endpoint", None), func, **options)
            return func
        return decorate


class _Api(Api):
    DEFAULT_ERROR_RESPONSE_NAME = None  # errors are documented per route (see `document`)
    ERROR_SCHEMA = Error


def init_app(app: flask.Flask) -> Api:
    """Create the app's API (document only; /api/openapi.json is served by the gallery)."""
    app.config.setdefault("API_TITLE", "Pi camera gallery API")
    app.config.setdefault("API_VERSION", "1.0.0")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    api = _Api(app, spec_kwargs={"info": {
        "description": "Images captured by Raspberry Pi cameras, stored in Redis. When "
                       "GALLERY_PASSWORD is set, log in at /login first."}})
    api.spec.components.security_scheme("csrfToken", {
        "type": "apiKey", "in": "header", "name": "X-CSRF-Token",
        "description": "The page's <meta name=\"csrf-token\">; needed for POST and DELETE."})
    app.extensions["pi_camera_api"] = api
    return api


def register(app: flask.Flask, blueprints: Iterable[SmorestBlueprint]) -> None:
    """Register blueprints with the app and the document."""
    api: Api = app.extensions["pi_camera_api"]
    for blueprint in blueprints:
        api.register_blueprint(blueprint)


def document(app: flask.Flask) -> dict[str, Any]:
    """Return the OpenAPI document, with the answers every /api/ route may give."""
    api: Api = app.extensions["pi_camera_api"]
    doc = copy.deepcopy(api.spec.to_dict())
    doc.setdefault("components", {}).setdefault("schemas", {})
    for path, ops in doc.get("paths", {}).items():
        shared = ops.pop("parameters", [])  # path parameters: into each operation
        for method, op in ops.items():
            op["parameters"] = [*shared, *op.get("parameters", [])]
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            op.pop("tags", None)
            for content in op.get("requestBody", {}).get("content", {}).values():
                ref = content.get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):  # request bodies read inline
                    content["schema"] = copy.deepcopy(doc["components"]["schemas"][ref.split("/")[-1]])
            responses = op.setdefault("responses", {})
            # webargs' 422 never happens here: a bad argument is the 400 documented per route.
            for code in [c for c, r in responses.items() if c in ("default", "422")
                         or "$ref" in r and r["$ref"].startswith("#/components/responses/")]:
                del responses[code]
            if not path.startswith("/api/"):
                op["security"] = []
                continue
            codes = list(ALWAYS) + ([403] if method in ("post", "delete") else [])
            for code in codes:
                responses.setdefault(str(code), {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
            if method in ("post", "delete"):
                op.setdefault("security", [{"csrfToken": []}])
    doc["paths"] = dict(sorted(doc.get("paths", {}).items()))
    doc["components"].pop("responses", None)
    doc["components"]["schemas"].pop("PaginationMetadata", None)
    doc.pop("tags", None)
    return doc
