package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// events is go test -json output of four packages: one passing with a skip,
// one with a failing test, one that did not build, one that ran past -timeout
// (go test reports no fail event for the test that was running).
const events = `{"Action":"start","Package":"ex/a"}
{"Action":"run","Package":"ex/a","Test":"TestOK"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"quiet output of a passing test\n"}
{"Action":"pass","Package":"ex/a","Test":"TestOK"}
{"Action":"run","Package":"ex/a","Test":"TestPG"}
{"Action":"output","Package":"ex/a","Test":"TestPG","Output":"    pg_test.go:9: PostgreSQL not installed\n"}
{"Action":"output","Package":"ex/a","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}
{"Action":"skip","Package":"ex/a","Test":"TestPG"}
{"Action":"output","Package":"ex/a","Output":"PASS\n"}
{"Action":"output","Package":"ex/a","Output":"ok  \tex/a\t0.01s\n"}
{"Action":"pass","Package":"ex/a"}
{"Action":"run","Package":"ex/b","Test":"TestBroken"}
{"Action":"output","Package":"ex/b","Test":"TestBroken","Output":"    b_test.go:12: got 1, want 2\n"}
{"Action":"fail","Package":"ex/b","Test":"TestBroken"}
{"Action":"output","Package":"ex/b","Output":"FAIL\n"}
{"Action":"output","Package":"ex/b","Output":"FAIL\tex/b\t0.02s\n"}
{"Action":"fail","Package":"ex/b"}
{"ImportPath":"ex/c","Action":"build-output","Output":"c.go:3:1: syntax error\n"}
{"ImportPath":"ex/c","Action":"build-fail"}
{"Action":"output","Package":"ex/c","Output":"FAIL\tex/c [build failed]\n"}
{"Action":"fail","Package":"ex/c"}
{"Action":"run","Package":"ex/d","Test":"TestHangs"}
{"Action":"output","Package":"ex/d","Test":"TestHangs","Output":"    d_test.go:4: waiting for the writer\n"}
{"Action":"output","Package":"ex/d","Test":"TestHangs","Output":"panic: test timed out after 10m0s\n"}
{"Action":"output","Package":"ex/d","Output":"FAIL\tex/d\t600.5s\n"}
{"Action":"fail","Package":"ex/d"}
`

func TestSummaryCountsAndShowsFailures(t *testing.T) {
	var out bytes.Buffer
	s := summarise(strings.NewReader(events), &out)
	if s.passed != 1 || s.failed != 1 || s.skipped != 1 {
		t.Errorf("counts: %+v", s)
	}
	code := s.exitCode(&exec.ExitError{}, false, &out)
	text := out.String()
	for _, want := range []string{
		"ok  \tex/a\t0.01s\n",
		"--- FAIL: TestBroken (ex/b)\n    " + "    b_test.go:12: got 1, want 2\n",
		"c.go:3:1: syntax error\n",
		"--- DID NOT END: TestHangs (ex/d)\n    " + "    d_test.go:4: waiting for the writer\n    panic: test timed out after 10m0s\n",
		"FAILED packages (build failure, panic, timeout or TestMain): ex/c, ex/d\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "quiet output of a passing test") {
		t.Errorf("a passing test's output was printed:\n%s", text)
	}
	if !strings.HasSuffix(text, "1 passed, 1 failed, 1 skipped\n") {
		t.Errorf("the last line is not the counts:\n%s", text)
	}
	if code == 0 {
		t.Error("exit status 0 with a failure")
	}
}

func TestSummaryExitStatus(t *testing.T) {
	const passing = `{"Action":"pass","Package":"ex/a","Test":"TestOK"}
{"Action":"pass","Package":"ex/a"}
`
	const skipping = passing + `{"Action":"output","Package":"ex/a","Test":"TestPG","Output":"    x_test.go:1: no chromium\n"}
{"Action":"skip","Package":"ex/a","Test":"TestPG"}
`
	const panicking = `{"Action":"output","Package":"ex/p","Output":"panic: boom\n"}
{"Action":"fail","Package":"ex/p"}
`
	for _, tc := range []struct {
		name   string
		events string
		runErr error
		ci     bool
		want   int
		says   string
	}{
		{"all passed", passing, nil, false, 0, "1 passed, 0 failed, 0 skipped\n"},
		{"all passed in CI", passing, nil, true, 0, "1 passed, 0 failed, 0 skipped\n"},
		{"a skip locally", skipping, nil, false, 0, "1 passed, 0 failed, 1 skipped\n"},
		{"a skip in CI", skipping, nil, true, 1, "TestPG (ex/a): x_test.go:1: no chromium"},
		{"a package panicked outside a test", panicking, &exec.ExitError{}, false, 1, "panic: boom\n"},
		{"go test failed though every event passed", passing, &exec.ExitError{}, false, 1, "1 passed, 0 failed, 0 skipped\n"},
		{"go test did not start", "", errors.New("exec: not found"), false, 1, "testsummary: go test: exec: not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := summarise(strings.NewReader(tc.events), &out).exitCode(tc.runErr, tc.ci, &out)
			if code != tc.want || !strings.Contains(out.String(), tc.says) {
				t.Errorf("exit %d (want %d), output:\n%s", code, tc.want, out.String())
			}
		})
	}
}
