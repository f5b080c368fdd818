// Command openloop sends POST requests to one loopback URL at a fixed rate, as wrk2
// does, and prints latency percentiles in which a stalled server is charged for the
// requests that queued behind it (coordinated omission): see loader.run. wrk, a closed loop, cannot
// hold a rate; tools/load.sh uses this for "introspection p99 at 1,000 requests/s".
// Every run is bounded in time and in connections.
//
// Output: one RESULT line in the format of ../shared/bench/post.lua.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	var (
		target   = flag.String("url", "", "loopback URL to POST to")
		rate     = flag.Int("rate", 1000, "requests per second")
		duration = flag.Duration("duration", 15*time.Second, "length of the measured run (at most 5m)")
		warmup   = flag.Duration("warmup", 3*time.Second, "length of an unmeasured run before it")
		body     = flag.String("body", "", "application/x-www-form-urlencoded request body")
		auth     = flag.String("auth", "", "Authorization header value")
		conns    = flag.Int("conns", 64, "most requests in flight (and connections)")
		label    = flag.String("label", "openloop", "label of the RESULT line")
	)
	flag.Parse()
	if err := checkArgs(*target, *rate, *duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(2)
	}
	l := &loader{
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true,
		}},
		url: *target, body: *body, auth: *auth, rate: *rate, conns: *conns,
	}
	l.run(*warmup)
	r := l.run(*duration)
	fmt.Println(r.line(*label, *rate))
}

// checkArgs refuses anything but a bounded run against the loopback interface.
func checkArgs(target string, rate int, d time.Duration, conns int) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" {
		return errors.New("-url must be an http:// URL")
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("refusing non-loopback URL %s", target)
	}
	if rate < 1 || rate > 100_000 || d <= 0 || d > 5*time.Minute || conns < 1 || conns > 1024 {
		return errors.New("want 1 <= -rate <= 100000, 0 < -duration <= 5m, 1 <= -conns <= 1024")
	}
	return nil
}

type loader struct {
	client          *http.Client
	url, body, auth string
	rate, conns     int
}

type result struct {
	latencies    []time.Duration
	non2xx, errs int
	elapsed      time.Duration
}

// run sends rate×d requests, the i-th due at start + i/rate. At most conns are in
// flight: when all are busy the next request waits, and from then on until the
// schedule is caught up, latency runs from when each request was due, so the wait
// counts. Otherwise it runs from when the request was sent: Go's timers wake up to
// a millisecond late (epoll's resolution), which is the load generator's delay,
// not the server's.
func (l *loader) run(d time.Duration) result {
	n := int(int64(l.rate) * int64(d) / int64(time.Second))
	interval := time.Second / time.Duration(l.rate)
	res := result{latencies: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, l.conns)
	behind := false // waited for a slot since the schedule was last caught up
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			behind = false
			time.Sleep(wait)
		}
		select {
		case slots <- struct{}{}:
		default:
			behind = true
			slots <- struct{}{}
		}
		from := due
		if !behind {
			from = time.Now()
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			status, err := l.post()
			lat := time.Since(from)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.errs++
			case status/100 != 2:
				res.non2xx++
			}
			res.latencies = append(res.latencies, lat)
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (l *loader) post() (int, error) {
	req, err := http.NewRequest(http.MethodPost, l.url, strings.NewReader(l.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if l.auth != "" {
		req.Header.Set("Authorization", l.auth)
	}
	res, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil { // read to the end, so the connection is reused
		return 0, err
	}
	return res.StatusCode, nil
}

// line formats r as post.lua's RESULT line, plus the offered rate.
func (r result) line(label string, rate int) string {
	slices.Sort(r.latencies)
	ms := func(q float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(q*float64(len(r.latencies))+0.999999) - 1 // nearest rank
		return float64(r.latencies[max(0, min(i, len(r.latencies)-1))]) / float64(time.Millisecond)
	}
	n := len(r.latencies)
	return fmt.Sprintf("RESULT label=%s reqs=%d dur_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d sockerr=%d offered_rps=%d",
		label, n, r.elapsed.Seconds(), float64(n)/r.elapsed.Seconds(), ms(0.5), ms(0.9), ms(0.99), ms(1), r.non2xx, r.errs, rate)
}
