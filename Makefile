# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Daphne's listen queue: Twisted's default (50) overflows in a reconnect storm (docs/DEPLOYMENT.md)
BACKLOG ?= 4096

.PHONY: run test install migrate doctor bench check-deploy clean backup purge types

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py doctor || true
	$(BIN)/daphne -e tcp:port=$(PORT):interface=$(HOST):backlog=$(BACKLOG) config.asgi:application

test: install
	$(BIN)/lint-imports
	DJANGO_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

doctor: install
	$(BIN)/python manage.py doctor

# TypeScript types for front-ends (docs/CLIENT.md): static/campus/types/api.d.ts from the OpenAPI
# schema, ws.d.ts from the AsyncAPI document; then the SDK's JSDoc is type-checked against them.
# Generators pinned in package.json / package-lock.json (npm ci).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

types: install node_modules/.installed
	mkdir -p var/types
	$(BIN)/python manage.py spectacular --format openapi-json --fail-on-warn --file var/types/openapi.json
	$(BIN)/python manage.py asyncapi --file var/types/asyncapi.json
	node web/types.mjs var/types/openapi.json var/types/asyncapi.json static/campus/types
	node_modules/.bin/tsc -p tsconfig.json

check-deploy: install
	DJANGO_ENV=production SECRET_KEY=$$(head -c 48 /dev/urandom | base64) ALLOWED_HOSTS=example.com \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var/test_db.sqlite3*

# Operations (docs/DEPLOYMENT.md)
backup: install
	$(BIN)/python manage.py backup $(BACKUP_ARGS)

purge: install
	$(BIN)/python manage.py purge $(PURGE_ARGS)

