// Command testsummary runs `go test -json …` and prints what a person reads of it:
// each package's result line, the output of every failed test, and at the end one
// line of counts (passed, failed, skipped). It is what `make test` runs:
//
//	go run ./tools/testsummary go test -count=1 -json -tags demo ./...
//
// It exits non-zero when go test does, when any test or package failed, and, with
// CI=true, when any test was skipped (in CI every dependency is installed, so a skip
// means a test silently did not run).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testsummary go test -json [flags] [packages]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	s := summarise(out, os.Stdout)
	runErr := cmd.Wait()
	os.Exit(s.exitCode(runErr, os.Getenv("CI") == "true", os.Stdout))
}

// event is one line of `go test -json` (go doc test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

// summary is what summarise counted.
type summary struct {
	passed, failed, skipped int
	// failedPackages failed without a failing test of their own: a build
	// failure, a panic outside a test, TestMain exiting non-zero.
	failedPackages []string
	skips          []string
}

// summarise reads go test -json events from r and writes a readable report to w.
func summarise(r io.Reader, w io.Writer) summary {
	var s summary
	// Output of each running test, kept until it ends: printed only if it failed.
	pending := map[string][]string{}
	// Packages with a failing test, so a package failure is not counted twice.
	testFailed := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event (go vet's or the go command's own messages): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "output":
			// Package-level lines: "ok  pkg 1.2s", "FAIL pkg", "?  pkg [no test
			// files]", a panic outside a test. The bare PASS/FAIL lines repeat
			// what the result line says.
			if t := strings.TrimSpace(e.Output); t != "PASS" && t != "FAIL" {
				fmt.Fprint(w, e.Output)
			}
		case e.Test == "" && e.Action == "fail":
			if !testFailed[e.Package] {
				s.failedPackages = append(s.failedPackages, e.Package)
			}
			unended(w, pending, e.Package)
		case e.Test == "":
		case e.Action == "output":
			pending[key] = append(pending[key], e.Output)
		case e.Action == "pass":
			s.passed++
			delete(pending, key)
		case e.Action == "fail":
			s.failed++
			testFailed[e.Package] = true
			fmt.Fprintf(w, "--- FAIL: %s (%s)\n", e.Test, e.Package)
			for _, o := range pending[key] {
				fmt.Fprint(w, "    ", o)
			}
			delete(pending, key)
		case e.Action == "skip":
			s.skipped++
			s.skips = append(s.skips, fmt.Sprintf("%s (%s): %s", e.Test, e.Package, skipReason(pending[key])))
			delete(pending, key)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testsummary: reading go test output:", err)
		s.failedPackages = append(s.failedPackages, "(unreadable test output)")
	}
	return s
}

// maxUnendedLines bounds what unended prints of one test: a timeout's
// goroutine dump of a busy package runs to thousands of lines, and its head
// (the test's log, "panic: test timed out", the running tests) says the most.
const maxUnendedLines = 300

// unended prints the output of pkg's tests that started but never ended, and
// forgets it: a package that panicked or ran past go test's -timeout fails
// without a fail event for the test that was running, whose output (its log,
// the panic, the goroutines) would otherwise be lost.
func unended(w io.Writer, pending map[string][]string, pkg string) {
	var keys []string
	for k := range pending {
		if strings.HasPrefix(k, pkg+" ") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out := pending[k]
		fmt.Fprintf(w, "--- DID NOT END: %s (%s)\n", strings.TrimPrefix(k, pkg+" "), pkg)
		for i, o := range out {
			if i == maxUnendedLines {
				fmt.Fprintf(w, "    … %d more lines\n", len(out)-i)
				break
			}
			fmt.Fprint(w, "    ", o)
		}
		delete(pending, k)
	}
}

// skipReason is the message a skipped test gave (its last line that is not
// the "--- SKIP" line itself).
func skipReason(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		t := strings.TrimSpace(out[i])
		if t != "" && !strings.HasPrefix(t, "--- SKIP") && !strings.HasPrefix(t, "=== ") {
			return t
		}
	}
	return "no reason given"
}

// exitCode prints the final count line and the verdict, and returns the exit
// status: non-zero if go test failed (runErr), a test or package failed, or, in
// CI, a test was skipped.
func (s summary) exitCode(runErr error, ci bool, w io.Writer) int {
	code := 0
	if len(s.failedPackages) > 0 {
		sort.Strings(s.failedPackages)
		fmt.Fprintf(w, "FAILED packages (build failure, panic, timeout or TestMain): %s\n", strings.Join(s.failedPackages, ", "))
		code = 1
	}
	if ci && s.skipped > 0 {
		fmt.Fprintln(w, "Skipped tests (CI=true: every test must run):")
		for _, sk := range s.skips {
			fmt.Fprintln(w, "  ", sk)
		}
		code = 1
	}
	if s.failed > 0 {
		code = 1
	}
	var exit *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &exit):
		code = 1
	default:
		fmt.Fprintln(w, "testsummary: go test:", runErr)
		code = 1
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return code
}
