"""The server's wings: each imports only what sits below it, and `import server` needs no Flask."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"

#: What each wing may import from `server.*` (besides itself). No wing imports a wing
#: beside or above it, so there are no circles.
ALLOWED = {
    "search": set(),
    # The archive of originals is Flask-free and below the web wings: the gallery reads its
    # settings and serves originals from it, the time-lapse reads frames and stores movies.
    "archive": {"worker"},
    "core": {"search", "archive"},
    "gallery": {"core", "search", "archive"},
    "timelapse": {"core", "search", "archive"},
    "live": {"core", "search"},
    "tooling": {"core"},  # run_stack checks the gallery's settings before it starts anything
    "worker": set(),
}
#: Other packages are Flask-free worker processes (`python -m server.<worker>`): they may use
#: the query kit, the settings and the shared worker pieces (`server.worker`), never a web wing.
WORKER_ALLOWED = {"search", "core", "worker"}


def _packages() -> list[str]:
    return sorted(p.name for p in SERVER.iterdir() if (p / "__init__.py").exists())


def _server_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "server" and len(parts) > 1:
                found.add(parts[1])
            elif parts[0] == "server" and isinstance(node, ast.ImportFrom):
                found.update(alias.name for alias in node.names)
    return found


def test_every_wing_imports_only_the_wings_below_it() -> None:
    for wing in _packages():
        allowed = ALLOWED.get(wing, WORKER_ALLOWED)
        for path in sorted((SERVER / wing).glob("*.py")):
            imported = _server_imports(path) - {wing, "create_app"}
            assert imported <= allowed, f"{path.relative_to(SERVER.parent)} imports {imported - allowed}"


def test_every_module_belongs_to_a_wing() -> None:
    # The roots: the app factory (knows every wing) and the gallery process's entry point.
    loose = {p.name for p in SERVER.glob("*.py")} - {"__init__.py", "__main__.py", "app.py", "serve.py"}
    assert not loose, f"modules outside the wings: {sorted(loose)}"
    assert set(ALLOWED) <= set(_packages())


def test_importing_server_and_its_flask_free_parts_loads_no_flask() -> None:
    code = ("import sys, server, server.search, server.timelapse.engine, server.timelapse.cli, "
            "server.tooling.embedded_redis, server.notify.worker, server.worker.stream_group, "
            "server.archive.archiver, server.archive.restore; "
            "print('flask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
