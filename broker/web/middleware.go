package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/templates"
)

// RequestInfo is what the outermost middleware learns about a request and every
// later layer reads: its ID, the client's address and whether it arrived over TLS.
type RequestInfo struct {
	ID     string
	IP     string
	Secure bool
	Start  time.Time
	// Brand is the configured brand web.Render gives the pages; nil for none.
	Brand *templates.Brand
	// DefaultLocale is GATEHOUSE_DEFAULT_LOCALE, the page language when
	// nothing else decides (PageLocale).
	DefaultLocale language.Tag
}

type ctxKey int

const requestInfoKey ctxKey = iota

// InfoFrom returns what withRequestInfo learnt about the request ctx belongs to.
func InfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey).(RequestInfo)
	return ri
}

// RequestID returns the ID of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string { return InfoFrom(ctx).ID }

var wellFormedRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// WithRequestInfo assigns the request ID and works out the client address. Forwarded
// headers are believed only from configured proxies (X-Forwarded-For is trivially
// forged by anyone else).
func (c *Core) WithRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := RequestInfo{Start: c.Now(), Secure: r.TLS != nil, Brand: c.brand, DefaultLocale: c.Config.DefaultLocale}
		peer := remoteAddr(r)
		ri.IP = peer.String()
		if c.trustedProxy(peer) {
			if id := r.Header.Get("X-Request-ID"); wellFormedRequestID.MatchString(id) {
				ri.ID = id
			}
			if ip, ok := c.forwardedClient(r.Header.Values("X-Forwarded-For")); ok {
				ri.IP = ip.String()
			}
			if proto := r.Header.Get("X-Forwarded-Proto"); proto != "" {
				ri.Secure = strings.EqualFold(proto, "https")
			}
		}
		if ri.ID == "" {
			ri.ID = newRequestID()
		}
		w.Header().Set("X-Request-ID", ri.ID)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey, ri)))
	})
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, _ := netip.ParseAddr(r.RemoteAddr)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

func (c *Core) trustedProxy(a netip.Addr) bool {
	for _, p := range c.Config.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient walks X-Forwarded-For from the right and returns the first address
// that is not one of our proxies: everything left of it was written by the client.
func (c *Core) forwardedClient(values []string) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		if a = a.Unmap(); !c.trustedProxy(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// statusRecorder remembers the status and size a handler wrote, for the access log
// and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WithAccessLog writes one structured line per request. It logs the path, never the
// query: authorization requests carry codes and state there.
func (c *Core) WithAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		ri := InfoFrom(r.Context())
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		} else if rec.status >= 400 {
			level = slog.LevelWarn
		}
		c.Log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", ri.ID),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", c.Now().Sub(ri.Start)),
			slog.String("ip", ri.IP),
			slog.String("user_agent", r.UserAgent()),
		)
	})
}

// WithRecovery turns a panic into a logged 500 page; the process keeps serving (DOS-14).
func (c *Core) WithRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.Log.ErrorContext(r.Context(), "panic", "request_id", RequestID(r.Context()), "panic", v, "stack", string(debug.Stack()))
			c.Metrics.panics.Inc()
			c.RenderError(w, r, ErrInternal)
		}()
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere (WEB-13):
// pages are server-rendered, scripts and styles come from /static only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// WithSecurityHeaders sets the hardening headers on every response before any handler
// can write (WEB-12, WEB-13, WEB-15). Handlers may relax Cache-Control (static assets,
// discovery) but nothing else.
func (c *Core) WithSecurityHeaders(next http.Handler) http.Handler {
	hsts := c.Config.Issuer.Scheme == "https"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The keys are canonical already, so they are assigned directly, and the
		// values share one allocation per response instead of one each (Header.Set).
		// Each value gets a one-element slice of its own (cap 1), so a later Set or
		// Add of a handler changes this response's header only.
		vals := make([]string, len(securityHeaders)+1)
		h := w.Header()
		for i, kv := range securityHeaders {
			vals[i] = kv[1]
			h[kv[0]] = vals[i : i+1 : i+1]
		}
		if hsts || InfoFrom(r.Context()).Secure {
			vals[len(securityHeaders)] = "max-age=63072000; includeSubDomains"
			h["Strict-Transport-Security"] = vals[len(securityHeaders):]
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders are set on every response (canonical keys, see WithSecurityHeaders).
var securityHeaders = [...][2]string{
	{"Content-Security-Policy", contentSecurityPolicy},
	{"X-Frame-Options", "DENY"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"},
	{"Cache-Control", "no-store"},
}

// DefaultBodyLimit caps request bodies unless a route says otherwise (DOS-02).
const DefaultBodyLimit = 64 << 10

// LimitBody refuses a declared oversized body at once and caps an undeclared one
// (chunked) while it is read; reading past the cap fails with *http.MaxBytesError,
// which the error renderer turns into 413.
func (c *Core) LimitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			c.RenderError(w, r, &http.MaxBytesError{Limit: limit})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// IsBodyTooLarge reports whether err came from reading past a body limit.
func IsBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// SetFormAction widens the CSP form-action directive of this response to the
// given upstream origins. Pages whose forms lead to a provider (the SAML auto-POST
// form, and forms answered by a redirect to a provider: Chromium checks
// form-action on every redirect of a form submission) need it; nothing else does.
func SetFormAction(w http.ResponseWriter, origins ...string) {
	var extra []string
	for _, o := range origins {
		if o != "" && !strings.ContainsAny(o, " ;,'\"") {
			extra = append(extra, o)
		}
	}
	if len(extra) == 0 {
		return
	}
	w.Header().Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy,
		"form-action 'self'", "form-action 'self' "+strings.Join(extra, " "), 1))
}

// Origin returns the scheme://host of an absolute URL, "" otherwise.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
