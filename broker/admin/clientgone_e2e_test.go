package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdminAPIClientGoneIsNotAServerError: an admin API call whose client
// disconnected (its context canceled, as net/http does) is recorded as 499
// at Info like a page or an OAuth endpoint, not as a 500 at Error; the same
// call with the client still there succeeds.
func TestAdminAPIClientGoneIsNotAServerError(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	call := func(ctx context.Context) int {
		req := httptest.NewRequest(http.MethodGet, w.Abs("/api/admin/v1/apis"), nil).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		w.Srv().ServeHTTP(rec, req)
		return rec.Code
	}
	if got := call(context.Background()); got != http.StatusOK {
		t.Fatalf("with the client there: %d", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client went away
	before := w.Logs.String()
	if got := call(ctx); got != 499 {
		t.Errorf("client gone: status %d, want 499", got)
	}
	logs := strings.TrimPrefix(w.Logs.String(), before)
	if strings.Contains(logs, "admin API call failed") || !strings.Contains(logs, "client went away") {
		t.Errorf("logs: %s", logs)
	}
}
