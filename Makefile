# Gatehouse's two everyday commands, and the checks CI runs.
#
# The Go toolchain is pinned: go1.27.3 carries the standard-library security fixes
# (see cmd/gatehouse/deps_test.go, DEP-07). The go command downloads it from the
# module proxy on first use.
export GOTOOLCHAIN := go1.27.3
# Gatehouse needs no cgo (the SQLite driver is pure Go): build it as deployed, static.
export CGO_ENABLED := 0
# The demo (in-process demo IdPs and app) is built only with this tag, so the server
# binary carries no test identity providers; tests and checks cover it.
DEMO := -tags demo

.PHONY: demo test check bench load load-exchange fuzz scale chaos

## demo: run Gatehouse locally with a demo setup (http://localhost:8080; PORT=9000 for
## another port): builds with -tags demo, showing its progress, and runs `gatehouse demo`
demo:
	@tools/demo.sh

## test: run every test (PostgreSQL and Chromium tests skip locally when not installed);
## tools/testsummary prints failed tests' output and ends with one line of counts. Its exit
## status is go test's, and under CI=true a skipped test fails too. -timeout 20m per package:
## broker/store/sqlstore (both databases) ran past go test's default 10m on a machine at
## load average 20; a test that hangs still fails, and prints what it was doing.
test:
	go run ./tools/testsummary go test -count=1 -timeout 20m -json $(DEMO) ./...

## check: formatting, vet, staticcheck, generated code in sync, known vulnerabilities
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	go vet ./...
	go vet $(DEMO) ./...
	go tool staticcheck ./...
	go tool staticcheck $(DEMO) ./cmd/...
	go tool templ generate >/dev/null
	@git diff --exit-code -- '*_templ.go' || { echo 'templ generate changed generated files: commit them'; exit 1; }
	.ci/vulncheck $(DEMO)

## bench: Go benchmarks of the hot paths
bench:
	go test -run '^$$' -bench . -benchmem ./...

## load: build Gatehouse, start it on a fresh SQLite database and drive the token and
## introspection endpoints with wrk (needs the Debian packages wrk, jq, curl)
load:
	tools/load.sh

## load-exchange: the same for token exchange of an upstream ID token (../shared/bench/mockissuer
## as the IdP), with the server's CPU per exchange against the bare crypto and Dex's figures
load-exchange:
	tools/load-exchange.sh

## scale: seed an empty and a full database (SCALE=0.01 by default; 1.0 is issue 14's
## production size) for SQLite and PostgreSQL, measure the hot requests on both in one
## sitting and a sweep of the expired backlog under load, print the README's table
scale:
	tools/scale.sh

## fuzz: run every fuzz target in turn for FUZZTIME each (default 10m; FUZZ=regexp picks
## targets) and print executions and failures per target; a failing input is kept in the
## package's testdata/fuzz as a regression test
fuzz:
	tools/fuzz.sh

## chaos: the fault harness (tools/chaos) for CHAOS_DURATION (default 5m): two replicas on
## one PostgreSQL under load, replicas killed, PostgreSQL stopped and frozen, the upstream IdP
## slow and cut off; prints the counts and fails on any violation. CHAOS_SEED repeats a
## schedule (every run prints its seed). `make test` runs a short form of it.
CHAOS_DURATION ?= 5m
chaos:
	CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_SEED=$(CHAOS_SEED) go test -count=1 -timeout 30m ./tools/chaos -run 'TestChaos$$' -v
