"""The README's "Archive of originals" section matches the archiver's settings and layout."""

from __future__ import annotations

import re
from pathlib import Path

from server.archive import layout

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SECTION = README.split("## Archive of originals", 1)[1].split("\n## ", 1)[0]


def test_every_archive_setting_the_code_reads_is_documented_and_no_other():
    code = (ROOT / "server/archive/settings.py").read_text()
    read = set(re.findall(r'get\("(ARCHIVE_\w+)"', code)) | set(re.findall(r'\("\w+", "(ARCHIVE_\w+)"', code))
    documented = set(re.findall(r"`(ARCHIVE_[A-Z0-9_]+)`", SECTION))
    assert read - {"ARCHIVE_URL"} and read == documented


def test_the_documented_layout_is_the_one_written():
    base = layout.base_name("garden:1763761138123-3fa2", "garden", 1763761138.123)
    documented = re.search(r"^(\S+\.jpg) += image:garden:1763761138123-3fa2$", SECTION, re.M)
    assert documented and documented[1] == layout.original_key(base, "image/jpeg")
