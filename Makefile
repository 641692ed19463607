# The two commands the README starts with, and a few helpers.
.PHONY: demo test down bench lint

demo:            ## set up (venv, deps, HAProxy) and run the demo
	bash scripts/setup.sh
	.venv/bin/python scripts/demo.py

test:            ## set up and run lint, types, unit and integration tests
	bash scripts/test.sh

down:            ## stop the demo's control plane, apps and HAProxy
	.venv/bin/shipyard --home .demo/home --app-dir .demo/notes down

bench:           ## zero-downtime and canary at 200 and 1000 connections; observe (logs, alerts); secrets; backup
	bash scripts/setup.sh
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	.venv/bin/python bench/zero_downtime.py --connections 200
	.venv/bin/python bench/zero_downtime.py --connections 1000
	.venv/bin/python bench/canary.py --connections 200
	.venv/bin/python bench/canary.py --connections 1000
	.venv/bin/python bench/observe.py
	.venv/bin/python bench/secrets.py
	.venv/bin/python bench/backup.py

lint:
	.venv/bin/ruff check src tests bench scripts examples
	.venv/bin/mypy
