"""The README's data-model documentation matches the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from pi import contract
from tests.factories import store_image

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def readme_commands(prefix: str) -> list[str]:
    return [line.strip() for line in README.splitlines() if line.strip().startswith(prefix)]


def test_documented_ft_create_builds_the_same_index_as_ensure_index(r, redis_server):
    (create,) = readme_commands("FT.CREATE idx:images")
    r.execute_command(*shlex.split(create))
    documented = contract.index_fields(r)
    r.flushall()
    contract.ensure_index(r)
    assert documented == contract.index_fields(r)


def test_every_documented_query_runs_and_finds_our_images(r):
    contract.ensure_index(r)
    store_image(r, camera="garden", timestamp=1_700_000_000, lux=110, trigger="motion")
    for command in readme_commands("FT.SEARCH") + readme_commands("FT.AGGREGATE"):
        result = r.execute_command(*shlex.split(command))
        assert result[0] >= 1, command


def test_reference_examples_are_quoted_verbatim():
    assert ('FT.SEARCH idx:images "*" RETURN 3 timestamp mime_type lux SORTBY timestamp DESC LIMIT 0 9'
            in README)
    assert ('FT.SEARCH idx:images "@lux:[100 120]" RETURN 3 timestamp mime_type lux SORTBY timestamp '
            "DESC LIMIT 0 9" in README)


def test_every_hash_field_is_documented():
    table = README.split("### Image hash fields", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", table, re.M))
    names = {name for pair in documented for name in pair if name}
    assert set(contract.METADATA_FIELDS) | contract.BINARY_FIELDS <= names
