// Package web is the HTTP plumbing every capability shares: rendering, page and
// OAuth errors, cookies and CSRF, request info and the middleware chain, audit
// helpers. It imports no capability and not broker: what two capabilities share
// lives here, below both.
package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/templates"
)

// Core is the state the HTTP plumbing shares across capabilities. It is built
// once by NewCore and read-only afterwards.
type Core struct {
	Config *config.Config
	// Store is pinged to tell a broken request from an unreachable database.
	Store store.Store
	Audit *audit.Writer
	Log   *slog.Logger
	// Now is the clock.
	Now        func() time.Time
	Metrics    *Metrics
	Rejections *RejectionMetrics
	// Cookies is the browser cookie (pre-login state and the CSRF secret).
	Cookies *sessions.CookieStore
	CSRF    *http.CrossOriginProtection
	// brand is what pages show of the organisation (nil: Gatehouse's own), and
	// brandCSS its colours (HandleBrandCSS).
	brand    *templates.Brand
	brandCSS []byte
}

// Options are Core's dependencies.
type Options struct {
	Config *config.Config
	Store  store.Store
	Audit  *audit.Writer
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registry receives the metrics; nil means a new registry with the Go runtime
	// and process collectors.
	Registry *prometheus.Registry
}

// NewCore builds the shared state: metrics, the browser cookie store and the
// cross-origin protection trusting the issuer's own origin.
func NewCore(o Options) (*Core, error) {
	c := &Core{Config: o.Config, Store: o.Store, Audit: o.Audit, Log: o.Log, Now: o.Now}
	if c.Now == nil {
		c.Now = time.Now
	}
	var err error
	if c.Metrics, err = NewMetrics(o.Registry); err != nil {
		return nil, err
	}
	if c.Rejections, err = NewRejectionMetrics(c.Metrics.Registry); err != nil {
		return nil, err
	}
	if c.Cookies, err = NewCookieStore(o.Config); err != nil {
		return nil, err
	}
	c.brand, c.brandCSS = brandPages(o.Config.Brand)
	c.CSRF = http.NewCrossOriginProtection()
	c.CSRF.AddTrustedOrigin(o.Config.Issuer.Scheme + "://" + o.Config.Issuer.Host)
	return c, nil
}
