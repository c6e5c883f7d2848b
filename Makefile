# The README's two commands: `make callflow` and `make test`. Both set everything up first
# (containers/bootstrap.sh is idempotent: seconds on a ready machine).
PYTEST := .venv/bin/pytest
# pytest rewrites the asserts of every test module it imports and caches the result beside
# it; with PYTHONDONTWRITEBYTECODE set, every pytest process (each -n worker, each inner
# run of the integration tests) does it again: collecting took 3.8 s instead of 1.0 s.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup callflow test unit lint down clean

setup:
	bash containers/bootstrap.sh

# The gateway under test (harness/gateway/profiles.py): asterisk22-pjsip by default.
GATEWAY ?= asterisk22-pjsip
SECOND := asterisk16-chansip

# The softphone in X-Lite's place: sipp (default) or baresip.
SOFTPHONE ?= sipp

callflow: setup
	$(PYTEST) -m callflow --gateway $(GATEWAY) --softphone $(SOFTPHONE)

# Every test on the default gateway with SIPp as the softphone; then the gateway suites
# (call flows, integration, security) again on the seed's own chan_sip configuration
# (Asterisk 16), in reports/$(SECOND)/; then
# the call flows with baresip, a real phone, in X-Lite's place, in reports/baresip/. All
# three run; any failing fails the target, and the failed tests of all three are listed at
# the end (harness failures: first failing step and pcap).
test: setup lint
	$(PYTEST); first=$$?; \
	$(PYTEST) -m "(callflow or integration or security) and not standalone" --gateway $(SECOND) \
	  --reports-dir=reports/$(SECOND) --junitxml=reports/$(SECOND)/junit.xml \
	  --alluredir=reports/$(SECOND)/allure-results; second=$$?; \
	$(PYTEST) -m callflow --softphone baresip --reports-dir=reports/baresip \
	  --junitxml=reports/baresip/junit.xml --alluredir=reports/baresip/allure-results; third=$$?; \
	echo "make test: all tests (asterisk22-pjsip, SIPp) exit $$first; gateway suites on $(SECOND) exit $$second; call flows with baresip exit $$third"; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ] && [ $$third -eq 0 ] || \
	  .venv/bin/harness failures $$(for f in reports/junit.xml reports/$(SECOND)/junit.xml \
	    reports/baresip/junit.xml; do [ -f $$f ] && echo $$f; done); \
	[ $$first -eq 0 ] && [ $$second -eq 0 ] && [ $$third -eq 0 ]

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
