"""Schemathesis over /api/openapi.json: generated requests to every documented operation get
no server error, and every answer matches the document (status, content type, schema).

Bounded (FUZZ_EXAMPLES examples per operation, derandomized) so it stays a few tens of
seconds in CI. The gallery runs with login off; POST and DELETE without the page's CSRF
token get the documented 403, so nothing is deleted. The store holds good pictures and
hostile hashes (tests/test_hostile_redis.py), so the answers are not just empty lists.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_hostile_redis import HOSTILE_HASHES, store_good, wait_indexed, write_hostile_hash

FUZZ_EXAMPLES = 15
#: Streams are not request/response: the event stream holds its connection for its lifetime.
STREAMING = "/api/events"


def test_every_operation_answers_as_documented_and_never_with_a_server_error(app, r) -> None:
    store_good(r)
    for name in ("ts-ms", "lux-inf", "camera-underscore", "camera-crlf", "width-inf"):
        assert name in HOSTILE_HASHES
        write_hostile_hash(r, name)
    wait_indexed(r, 3)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).exclude(path=STREAMING)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    tested, failures = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(operation.label)

        @given(operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.call_and_validate(checks=checks)

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert len(tested) >= 15, tested
    assert not failures, "\n\n".join(failures)
