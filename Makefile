# The README's two commands: `make callflow` and `make test`. Both set everything up first
# (containers/bootstrap.sh is idempotent: seconds on a ready machine).
PYTEST := .venv/bin/pytest

.PHONY: setup callflow test unit lint down clean

setup:
	bash containers/bootstrap.sh

callflow: setup
	$(PYTEST) -m callflow

test: setup lint
	$(PYTEST)

# ruff and mypy (strict on sip/, capture/, analysis/ and the plugin: pyproject.toml).
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy

# Unit tests only: no Docker needed.
unit:
	bash containers/bootstrap.sh --no-images
	$(PYTEST) tests/unit

down:
	.venv/bin/harness topology down

clean: down
	rm -rf reports/pcaps reports/sipp reports/run reports/junit.xml
