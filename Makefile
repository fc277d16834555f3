# The README's two commands. Each sets up what it needs first (idempotent).
STACK ?= phase1-sg

.PHONY: plan test setup
plan:
	@scripts/setup.sh
	.venv/bin/strait plan --stack $(STACK)

test:
	@scripts/setup.sh --test
	.venv/bin/python -m pytest

setup:
	@scripts/setup.sh --test
