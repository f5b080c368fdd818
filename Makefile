# Developer tasks. `make load` needs wrk, jq and curl (Debian packages).
.PHONY: test bench load

test:
	go test ./...

# Go benchmarks of the token paths (no timing assertions anywhere).
bench:
	go test -run '^$$' -bench 'Token|Introspect|Refresh|ClientCredentials|IssueAccess' -benchmem ./broker/

# Starts Gatehouse on a fresh SQLite database and drives it with wrk (tools/load.sh).
load:
	tools/load.sh
