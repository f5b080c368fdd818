// Package browsertest runs headless Chromium (Debian's /usr/bin/chromium) through
// chromedp for tests of flows a person clicks through (harness H5). Without
// Chromium a test skips, except in CI (CI=true), where it fails.
package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// ExecPath is the browser the tests drive.
const ExecPath = "/usr/bin/chromium"

// New returns a chromedp context on a fresh headless Chromium with its own
// user-data directory, closed when t ends. Each call is a separate browser
// profile: no cookies shared between calls.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	testsupport.RequireTools(t, ExecPath)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ExecPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// httptest's TLS certificate is self-signed.
		chromedp.Flag("ignore-certificate-errors", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: start chromium: %v", err)
	}
	return ctx
}

// WaitTestID waits until an element with data-testid=id is visible.
func WaitTestID(id string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(Sel(id)) }

// Sel selects the elements with data-testid=id (pages are asserted through
// stable test IDs, not CSS classes).
func Sel(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// Text returns the visible text of the element with data-testid=id.
func Text(ctx context.Context, id string) (string, error) {
	return chromedp.Run(ctx, chromedp.Text(Sel(id)))
}
