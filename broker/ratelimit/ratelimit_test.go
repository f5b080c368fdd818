package ratelimit

import (
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTakeAndRefill(t *testing.T) {
	c := &clock{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := PerSecond(2, c.now) // bursts of 4
	for i := range 4 {
		if ok, _ := l.Take("ip", 1); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Take("ip", 1)
	if ok || wait != 1 {
		t.Fatalf("fifth request: ok %v, retry after %d s, want refused and 1", ok, wait)
	}
	if ok, _ := l.Take("other", 1); !ok {
		t.Fatal("another key shares the bucket")
	}
	c.t = c.t.Add(500 * time.Millisecond) // one token back
	if ok, _ := l.Take("ip", 1); !ok {
		t.Fatal("no refill after half a second")
	}
}

// TestChargeLeavesDebt: a charged failure costs more than the burst holds, and the
// caller waits until the debt is paid back, however many times it asks meanwhile.
func TestChargeLeavesDebt(t *testing.T) {
	c := &clock{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(rate.Limit(1), 10, c.now)
	l.Charge("ip", 100) // at most a burst: the full bucket is empty
	l.Charge("ip", 100) // and now 10 tokens in debt
	ok, wait := l.Take("ip", 1)
	if ok || wait != 11 {
		t.Fatalf("after two failures: ok %v, retry after %d s, want refused and 11", ok, wait)
	}
	c.t = c.t.Add(11 * time.Second)
	if ok, _ := l.Take("ip", 1); !ok {
		t.Fatal("still refused once the debt is paid")
	}
}

func TestNilAllowsEverything(t *testing.T) {
	l := New(0, 10, time.Now)
	if l != nil {
		t.Fatal("a zero limit should switch limiting off")
	}
	l.Charge("ip", 1000)
	if ok, _ := l.Take("ip", 1000); !ok {
		t.Fatal("a nil limiter refused")
	}
}

// TestBucketsStayBounded: random keys never grow the set beyond MaxBuckets; a sweep
// drops the idle (full again) buckets and keeps the busy ones, and if every bucket
// is busy it starts over.
func TestBucketsStayBounded(t *testing.T) {
	c := &clock{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(rate.Limit(1), 5, c.now)
	for i := range MaxBuckets - 1 {
		l.Take("idle-"+strconv.Itoa(i), 1)
	}
	c.t = c.t.Add(time.Minute) // the idle buckets are full again
	l.Take("busy", 5)
	if n := l.size(); n != MaxBuckets {
		t.Fatalf("%d buckets, want %d", n, MaxBuckets)
	}
	l.Take("new", 1) // the set is full: the sweep drops the idle buckets
	if n := l.size(); n != 2 {
		t.Fatalf("%d buckets after the sweep, want busy and new", n)
	}
	if ok, _ := l.Take("busy", 1); ok {
		t.Fatal("the busy key's bucket was dropped with the idle ones")
	}
	for i := range MaxBuckets + 100 { // every bucket busy
		l.Take("flood-"+strconv.Itoa(i), 5)
		if n := l.size(); n > MaxBuckets {
			t.Fatalf("%d buckets, want at most %d", n, MaxBuckets)
		}
	}
}
