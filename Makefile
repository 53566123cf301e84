# tokengate: `make test` runs every test (the README's test command); `make run` is the dev server.
GO ?= go

.PHONY: run test vet bench build

## run: the server on the embedded SQLite default, in development mode.
run:
	$(GO) run ./cmd/tokengate serve --dev

## test: everything CI runs — vet, formatting, and every test with the race detector.
## The PostgreSQL tests run against a throwaway server that scripts/with-postgres.sh
## installs (when missing), starts and stops; only TOKENGATE_SKIP_POSTGRES=1 skips them.
## scripts/with-python-peers.sh installs the real Django OAuth Toolkit and FastAPI for the
## contract differential tests, which then must run (TOKENGATE_TEST_PEERS=1).
## scripts/with-chromium.sh installs Debian's chromium and the npm package oauth4webapi for
## the real-browser tests in e2e/browser, which then must run (TOKENGATE_TEST_BROWSER=1).
test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	bash scripts/with-chromium.sh bash scripts/with-python-peers.sh bash scripts/with-postgres.sh $(GO) test -race -count=1 -timeout 30m ./...
	# Login timing is measured without the race detector, which slows argon2id tenfold.
	$(GO) test -count=1 -run 'TestLoginTimingDoesNotRevealUsers|TestImportedHashLoginCostsTheFormatsOwn' ./internal/server

## build: bin/tokengate, stamped with the version and commit (tokengate version).
build:
	$(GO) build -trimpath -buildvcs=auto -o bin/tokengate ./cmd/tokengate

## bench: the load benchmark; rewrites BENCHMARKS.md.
bench:
	bash scripts/with-postgres.sh sh -c '$(GO) run ./bench -out BENCHMARKS.md -postgres "$$TOKENGATE_TEST_POSTGRES"'
