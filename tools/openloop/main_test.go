package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheckArgsRefusesAllButBoundedLoopbackRuns(t *testing.T) {
	for _, tc := range []struct {
		url      string
		rate     int
		d        time.Duration
		conns    int
		wantFail bool
	}{
		{"http://127.0.0.1:8080/oauth2/introspect", 1000, 15 * time.Second, 64, false},
		{"http://localhost:8080/x", 1, time.Second, 1, false},
		{"http://[::1]:8080/x", 1, time.Second, 1, false},
		{"http://192.0.2.1/x", 1000, time.Second, 64, true},
		{"http://example.com/x", 1000, time.Second, 64, true},
		{"https://127.0.0.1/x", 1000, time.Second, 64, true},
		{"http://127.0.0.1/x", 0, time.Second, 64, true},
		{"http://127.0.0.1/x", 1000, time.Hour, 64, true},
		{"http://127.0.0.1/x", 1000, time.Second, 0, true},
	} {
		if err := checkArgs(tc.url, tc.rate, tc.d, tc.conns); (err != nil) != tc.wantFail {
			t.Errorf("checkArgs(%s, %d, %s, %d) = %v", tc.url, tc.rate, tc.d, tc.conns, err)
		}
	}
}

func TestRunSendsEveryRequestAndCountsFailures(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++ // one connection (conns 1), so no race
		if r.Header.Get("Authorization") != "Basic x" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("headers %v", r.Header)
		}
		if calls%4 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	l := &loader{client: srv.Client(), url: srv.URL, body: "token=a", auth: "Basic x", rate: 200, conns: 1}
	r := l.run(100 * time.Millisecond)
	if len(r.latencies) != 20 || r.non2xx != 5 || r.errs != 0 {
		t.Fatalf("%d requests, %d non-2xx, %d errors; want 20, 5, 0", len(r.latencies), r.non2xx, r.errs)
	}
	line := r.line("x", 200)
	for _, want := range []string{"RESULT label=x reqs=20 ", " non2xx=5 sockerr=0 offered_rps=200"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}

func TestPercentilesAreNearestRank(t *testing.T) {
	r := result{elapsed: time.Second}
	for i := 100; i >= 1; i-- {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	line := r.line("p", 100)
	for _, want := range []string{"p50_ms=50.000", "p90_ms=90.000", "p99_ms=99.000", "max_ms=100.000"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}
