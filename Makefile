# tokengate: the two commands a fresh clone needs are `make run` and `make test`.
GO ?= go

.PHONY: run test vet bench build

## run: the server on the embedded SQLite default, in development mode.
run:
	$(GO) run ./cmd/tokengate serve --dev

## test: everything CI runs — vet, formatting, and every test with the race detector.
test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

build:
	$(GO) build -o bin/tokengate ./cmd/tokengate

## bench: the load benchmark; rewrites BENCHMARKS.md.
bench:
	$(GO) run ./bench -out BENCHMARKS.md
