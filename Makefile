# The two commands a new user needs: `make run` and `make test`. Both create or
# refresh .venv first. See README.md.
.PHONY: run test setup lint bench clean-venv

setup:
	@bash scripts/setup.sh

run: setup
	@.venv/bin/python -m server.tooling.run_stack

test: setup
	@bash scripts/test.sh

lint: setup
	@.venv/bin/ruff check pi server tests bench scripts
	@.venv/bin/mypy
	@node_modules/.bin/eslint --max-warnings 0 .

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python -m bench.$$(basename $$b .py) || exit 1; done

clean-venv:
	rm -rf .venv
