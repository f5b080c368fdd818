package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
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
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
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
}
