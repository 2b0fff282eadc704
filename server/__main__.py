"""`python -m server serve|timelapse`: run the gallery, or make a time-lapse from the shell."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the `serve` or `timelapse` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"serve": "server.serve", "timelapse": "server.timelapse.cli"}
    if not argv or argv[0] not in commands:
        print("usage: python -m server {serve,timelapse} [options]   (-h after a command for help)",
              file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(commands[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
