# The README's two commands: `make callflow` and `make test`. Both set everything up first
# (containers/bootstrap.sh is idempotent: seconds on a ready machine).
PYTEST := .venv/bin/pytest

.PHONY: setup callflow test unit lint down clean

setup:
	bash containers/bootstrap.sh

# The gateway under test (harness/gateway/profiles.py): asterisk22-pjsip by default.
GATEWAY ?= asterisk22-pjsip
SECOND := asterisk16-chansip

callflow: setup
	$(PYTEST) -m callflow --gateway $(GATEWAY)

# Every test on the default gateway, then the gateway suites again on the seed's own
# chan_sip configuration (Asterisk 16), in reports/$(SECOND)/. Both run; either failing
# fails the target.
test: setup lint
	$(PYTEST); first=$$?; \
	$(PYTEST) -m "(callflow or integration) and not standalone" --gateway $(SECOND) \
	  --reports-dir reports/$(SECOND) --junitxml=reports/$(SECOND)/junit.xml \
	  --alluredir=reports/$(SECOND)/allure-results; second=$$?; \
	echo "make test: all tests on asterisk22-pjsip exit $$first; gateway suites on $(SECOND) exit $$second"; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ]

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
