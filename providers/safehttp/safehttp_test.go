package safehttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		o    Options
		ok   bool
	}{
		{"93.184.216.34", Options{}, true},
		{"2606:2800:220:1::1", Options{}, true},
		{"169.254.169.254", Options{AllowLoopback: true, AllowPrivate: true}, false}, // cloud metadata
		{"fe80::1", Options{AllowLoopback: true, AllowPrivate: true}, false},
		{"::ffff:169.254.169.254", Options{AllowPrivate: true}, false},
		{"64:ff9b::a9fe:a9fe", Options{AllowPrivate: true}, false}, // NAT64 of 169.254.169.254
		{"0.0.0.0", Options{AllowLoopback: true, AllowPrivate: true}, false},
		{"::", Options{AllowLoopback: true, AllowPrivate: true}, false},
		{"224.0.0.1", Options{AllowLoopback: true, AllowPrivate: true}, false},
		{"ff02::1", Options{AllowLoopback: true, AllowPrivate: true}, false},
		{"255.255.255.255", Options{AllowLoopback: true, AllowPrivate: true}, false},
		{"127.0.0.1", Options{}, false},
		{"::1", Options{}, false},
		{"127.0.0.1", Options{AllowLoopback: true}, true},
		{"10.1.2.3", Options{}, false},
		{"172.16.0.1", Options{}, false},
		{"192.168.1.1", Options{AllowLoopback: true}, false},
		{"100.64.0.1", Options{}, false},
		{"fd00::1", Options{}, false},
		{"10.1.2.3", Options{AllowPrivate: true}, true},
	}
	for _, tt := range tests {
		err := CheckAddr(netip.MustParseAddr(tt.addr), tt.o)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("CheckAddr(%s, %+v) = %v, want ok=%v", tt.addr, tt.o, err, tt.ok)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func TestDialRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()

	t.Run("loopback refused by default", func(t *testing.T) {
		if _, err := get(t, NewClient(Options{}), srv.URL); !errors.Is(err, ErrForbiddenAddress) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("loopback allowed", func(t *testing.T) {
		b, err := get(t, NewClient(Options{AllowLoopback: true}), srv.URL)
		if err != nil || string(b) != "ok" {
			t.Fatalf("got %q, %v", b, err)
		}
	})
	// The guard runs before connect, so these fail without network access.
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:1/", "http://224.0.0.1:80/", "http://10.0.0.1:80/"} {
		t.Run(u, func(t *testing.T) {
			if _, err := get(t, NewClient(Options{AllowLoopback: true}), u); !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/meta", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := NewClient(Options{AllowLoopback: true})
	if _, err := get(t, c, srv.URL+"/loop"); !errors.Is(err, ErrRedirect) {
		t.Errorf("redirect loop: %v", err)
	}
	if _, err := get(t, c, srv.URL+"/meta"); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("redirect to metadata service: %v", err)
	}
	if _, err := get(t, c, srv.URL+"/file"); !errors.Is(err, ErrRedirect) {
		t.Errorf("redirect to file: %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	big := strings.Repeat("x", 2048)
	mux := http.NewServeMux()
	mux.HandleFunc("/len", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 4 {
			io.WriteString(w, big[:512])
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "y")
	})
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big[:1024]) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := NewClient(Options{AllowLoopback: true, MaxBodyBytes: 1024})
	for _, p := range []string{"/len", "/chunked"} {
		if _, err := get(t, c, srv.URL+p); !errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if b, err := get(t, c, srv.URL+"/exact"); err != nil || len(b) != 1024 {
		t.Errorf("exact: %d, %v", len(b), err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := NewClient(Options{AllowLoopback: true, Timeout: 200 * time.Millisecond})
	start := time.Now()
	if _, err := get(t, c, srv.URL); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// The whole call is bounded, the body included: an IdP that sends its headers
// and then trickles the body one byte at a time gets an error, not a hang.
func TestTrickledBodyTimesOut(t *testing.T) {
	if DefaultTimeout != 10*time.Second || NewClient(Options{}).Timeout != DefaultTimeout {
		t.Fatalf("default bound %v (client %v), want 10s", DefaultTimeout, NewClient(Options{}).Timeout)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		// 100 bytes at 50 ms: 5 s, long past the client's bound, but finite, so
		// an unbounded client makes this test fail rather than hang.
		for range 100 {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	c := NewClient(Options{AllowLoopback: true, Timeout: 300 * time.Millisecond})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("headers came at once, yet: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("read %d trickled bytes without an error", len(b))
	}
	t.Logf("after %d bytes: %v", len(b), err)
}
