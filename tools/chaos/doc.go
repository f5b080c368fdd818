// Package chaos is Gatehouse's fault harness (issue 14): two `gatehouse serve`
// replicas on one PostgreSQL under a bounded load, with replicas killed, the
// database stopped and frozen and the upstream IdP slowed and cut off, then
// checks that nothing acknowledged was lost or doubled. It runs as a Go test
// (it reuses pgtest's throwaway cluster and the in-process IdPs):
//
//	go test ./tools/chaos -run TestChaos -chaos.duration=5m -chaos.seed=42 -v
//
// `make chaos` runs the long form; `make test` runs a short one.
package chaos
