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


def test_retention_fields_keys_and_budget_fields_are_documented():
    table = README.split("### Image hash fields", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", table, re.M)
    documented = {name for pair in rows for name in pair if name}
    assert set(contract.RETENTION_FIELDS) <= documented
    keys = README.split("### Keys", 1)[1].split("###", 1)[0]
    assert f"`{contract.BUDGETS_KEY}`" in keys and f"`{contract.FULL_SET_PREFIX}<camera>`" in keys
    retention = README.split("### Retention", 1)[1].split("## Data model", 1)[0]
    for name in (contract.BUDGET_DEFAULT, contract.BUDGET_TOTAL, contract.BUDGET_MIN_AGE):
        assert f"| `{name}` |" in retention
    assert f"| `{contract.BUDGET_CAMERA_PREFIX}<name>` |" in retention
    assert "HTTL image:garden:1763761138123-3fa2 FIELDS 1 image_data" in README


def test_documented_budget_command_is_read_back_as_documented(r):
    (command,) = readme_commands("HSET retention:budgets")
    r.execute_command(*shlex.split(command))
    budgets, problems = contract.read_budgets(r)
    assert problems == []
    assert (budgets.total, budgets.cameras, budgets.min_age) == (128_000_000, {"porch": 16_000_000}, 1800)
