package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
)

// TestAxeFindsViolations: axe-core, injected under a Content-Security-Policy as
// strict as Gatehouse's (no inline or eval'd script), reports an image without
// alternative text and an unlabelled field, with their selectors, and nothing
// on a page that has both right.
func TestAxeFindsViolations(t *testing.T) {
	pages := map[string]string{
		"/bad":  `<!doctype html><html lang="en"><title>Bad</title><main><img src="/x.png"><input id="q" name="q"></main></html>`,
		"/good": `<!doctype html><html lang="en"><title>Good</title><main><img src="/x.png" alt="A cat"><label for="q">Search</label><input id="q" name="q"></main></html>`,
		// Readable in the light scheme only.
		"/dark":     `<!doctype html><html lang="en"><title>Dark</title><link rel="stylesheet" href="/dark.css"><main><p>Some text</p></main></html>`,
		"/dark.css": `p { color: #222; background: #fff } @media (prefers-color-scheme: dark) { p { color: #444; background: #333 } }`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if strings.HasSuffix(r.URL.Path, ".css") {
			w.Header().Set("Content-Type", "text/css")
		}
		w.Write([]byte(pages[r.URL.Path]))
	}))
	defer srv.Close()
	ctx := bt.New(t, 60*time.Second)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad"), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	var ids, targets []string
	for _, v := range bt.AxeCheck(t, ctx) {
		ids = append(ids, v.ID)
		for _, n := range v.Nodes {
			targets = append(targets, n.Target...)
		}
	}
	slices.Sort(ids)
	slices.Sort(targets)
	if !slices.Equal(ids, []string{"image-alt", "label"}) || !slices.Equal(targets, []string{"#q", "img"}) {
		t.Errorf("violations %v at %v, want image-alt and label at img and #q", ids, targets)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/good"), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	if vs := bt.AxeCheck(t, ctx); len(vs) != 0 {
		t.Errorf("violations on a good page: %v", vs)
	}

	// Axe checks the dark colour scheme too, and reports through t.Errorf.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/dark"), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		t.Fatal(err)
	}
	if vs := bt.AxeCheck(t, ctx); len(vs) != 0 {
		t.Errorf("violations in the light scheme: %v", vs)
	}
	rec := &recorder{TB: t}
	bt.Axe(rec, ctx)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "(dark)") || !strings.Contains(rec.errors[0], "color-contrast (serious)") {
		t.Errorf("Axe reported %q, want the dark scheme's contrast", rec.errors)
	}
}

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
