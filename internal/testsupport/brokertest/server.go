package brokertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/internal/testsupport/deps"
)

// TestServer is a Server over a fresh SQLite database, with its log captured.
type TestServer struct {
	*broker.Server
	DB     *sqlstore.DB
	DBPath string
	Cfg    *config.Config
	Log    *testsupport.LockedBuffer
	AW     *audit.Writer
	KM     *keys.Manager
}

// NewTestServer builds a Server for issuer with optional extra settings; extra
// routes are registered before the server is used (for mechanisms no production
// route exercises yet).
func NewTestServer(t testing.TB, issuer string, settings map[string]string, extra func(s *broker.Server)) *TestServer {
	t.Helper()
	d := deps.New(t, issuer, settings, settings["test-database-url"], audit.Options{})
	cfg, db, km, aw := d.Config, d.DB, d.Keys, d.Audit
	s, err := broker.New(broker.Options{Config: cfg, Store: db, Keys: km, Audit: aw, Logger: d.Log})
	if err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(s)
	}
	return &TestServer{Server: s, DB: db, DBPath: d.DBPath, Cfg: cfg, Log: d.Logs, AW: aw, KM: km}
}

func (ts *TestServer) Do(r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, r)
	return w.Result()
}

func Body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
