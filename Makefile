# Convenience wrappers; tasks.py does the work (it needs only Python and pip).
PYTHON ?= python3

run:
	$(PYTHON) tasks.py run

test:
	$(PYTHON) tasks.py test

.PHONY: run test
