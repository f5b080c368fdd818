package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/gatehouse/gatehouse/broker/store/pgtest"
)

// dbHandle is the harness's PostgreSQL: a cluster it can stop and start, a
// proxy in front of it that can freeze, and a direct connection for the checks.
type dbHandle struct {
	cluster *pgtest.Cluster
	proxy   *pgtest.Proxy
	direct  string // the database, straight to the server
	proxied string // the same through the proxy
	sql     *sql.DB
	name    string
}

func newDB(t *testing.T) *dbHandle {
	c := pgtest.NewCluster(t)
	direct := c.URL(t)
	proxy, proxied := pgtest.NewProxy(t, direct)
	db, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	u, _ := url.Parse(direct) // c.URL made it
	return &dbHandle{cluster: c, proxy: proxy, direct: direct, proxied: proxied, sql: db, name: u.Path[1:]}
}

// replicaURL is the proxied URL naming replica n's process started the
// start-th time in pg_stat_activity: a killed process's connections linger on
// the server until it sees them closed, beside its successor's.
func (d *dbHandle) replicaURL(n, start int) string {
	u, _ := url.Parse(d.proxied) // NewProxy made it
	q := u.Query()
	q.Set("application_name", fmt.Sprintf("%s-start-%d", appName(n), start))
	u.RawQuery = q.Encode()
	return u.String()
}

func appName(n int) string { return fmt.Sprint("gatehouse-replica-", n) }

// poolWatch samples how many server connections each replica process holds
// (pg_stat_activity, by application_name) and keeps the most seen, and when.
type poolWatch struct {
	mu      sync.Mutex
	samples []poolSample
}

// poolSample is how many connections one replica process held at a moment.
type poolSample struct {
	at  time.Time
	app string
	n   int
}

func (d *dbHandle) watchPools(ctx context.Context) *poolWatch {
	pw := &poolWatch{}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			rows, err := d.sql.QueryContext(qctx,
				`SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = $1 GROUP BY application_name`, d.name)
			if err != nil {
				cancel()
				continue // stopped, or starting again
			}
			seen := map[string]int{}
			for rows.Next() {
				var app string
				var n int
				if rows.Scan(&app, &n) == nil {
					seen[app] = n
				}
			}
			rows.Close()
			cancel()
			now := time.Now()
			pw.mu.Lock()
			for app, n := range seen {
				pw.samples = append(pw.samples, poolSample{now, app, n})
			}
			pw.mu.Unlock()
		}
	}()
	return pw
}
