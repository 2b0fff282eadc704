# The two commands a new user needs: `make run` and `make test`. Both create or
# refresh .venv first. See README.md.
.PHONY: run test setup lint bench clean-venv

setup:
	@bash scripts/setup.sh

run: setup
	@.venv/bin/python scripts/run_stack.py

test: setup
	@bash scripts/test.sh

lint: setup
	@.venv/bin/ruff check pi server tests bench scripts
	@node_modules/.bin/eslint --max-warnings 0 .

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

clean-venv:
	rm -rf .venv
