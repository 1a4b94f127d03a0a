# The two commands that matter: `make run` and `make test` (see README.md).
.PHONY: run test setup services stop lint bench chaos fuzz

run:        ## install what is missing, start PostgreSQL + Redis, migrate, seed, run web/worker/beat
	@bin/dev run

test:       ## same set-up on separate ports, then ruff, ruff format --check, mypy, lint-imports and pytest
	@bin/dev test

setup:      ## idempotent install only (Debian packages, .venv, front-end packages)
	@bin/dev setup

services:   ## start PostgreSQL + Redis in the background; use with: eval "$$(make -s services)"
	@bin/dev services

stop:       ## stop the servers started by this checkout
	@bin/dev stop

bench:      ## run the benchmarks (JSON on stdout; the raw-PostgreSQL baseline and CPU per component as Markdown on stderr); needs `eval "$$(make -s services)"` first; not the fault rig (make chaos); fails if any failed
	@failed=; for b in bench/*.py; do [ "$$b" = bench/chaos.py ] && continue; .venv/bin/python $$b || failed="$$failed $$b"; done; [ -z "$$failed" ] || { echo "make bench: failed:$$failed" >&2; exit 1; }

chaos:      ## the fault rig (bench/chaos.py, docs/reliability.md): kills and restarts every process, PostgreSQL and Redis under load, then reconciles; not part of `make test`. CHAOS_ARGS=--quick for a smoke run
	@.venv/bin/python bench/chaos.py $(CHAOS_ARGS)

fuzz:       ## the long schemathesis run against the served OpenAPI document (docs/api.md; about an hour on 2 cores); make test runs a bounded one
	@OPSDUTY_FUZZ_LONG=1 bin/dev test tests/api/test_schemathesis.py -q -p no:warnings
