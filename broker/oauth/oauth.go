package oauth

import (
	"crypto/x509"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/broker/web"
)

// BodyLimit caps the body of the token, introspection and revocation
// endpoints (DOS-02): far more than any legitimate request (the largest field, a
// client assertion or a token, is capped at 8 KiB).
const BodyLimit = 64 << 10

// maxParamLen bounds each parameter (DOS-11); parameters not listed get
// defaultParamLen. Values that pass are still checked by their grant.
var maxParamLen = map[string]int{
	"scope":            1024,
	"client_assertion": 8 << 10,
	"token":            8 << 10,
	"code":             256,
	"refresh_token":    256,
	"device_code":      256,
	"code_verifier":    128,
	"client_id":        128,
	"client_secret":    256,
	// RFC 8693 §2.1: an upstream SAML assertion (base64url) is the largest
	// subject token; Gatehouse's own access tokens are under 8 KiB.
	"subject_token": 48 << 10,
	"actor_token":   8 << 10,
}

const formType = "application/x-www-form-urlencoded"

const (
	defaultParamLen = 2048
	maxParams       = 32
	// maxResources: RFC 8707 allows the resource parameter more than once; a
	// handful is plenty, thousands is an attack (DOS-11).
	maxResources = 8
)

// form is the parsed body of an OAuth request, with the TLS client certificate
// that came with it (RFC 8705; nil for none), which client authentication and
// token binding both read.
type form struct {
	v    url.Values
	cert *x509.Certificate
}

// get returns the parameter's value; a parameter sent without a value counts as
// omitted (RFC 6749 §3.1).
func (f form) get(name string) string {
	if vs := f.v[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// all returns every non-empty value of a repeatable parameter (resource).
func (f form) all(name string) []string {
	var out []string
	for _, v := range f.v[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// readForm parses an application/x-www-form-urlencoded body, refusing what RFC
// 6749 §3.2 and §3.1 forbid and what no client needs: repeated parameters ("MUST
// NOT be included more than once"), oversized values, and too many parameters.
// Query parameters are ignored: credentials and grants travel in the body only.
func readForm(r *http.Request) (form, error) {
	if ct := r.Header.Get("Content-Type"); ct != formType { // the exact value is the common case
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formType {
			return form{}, web.InvalidRequest("the body must be application/x-www-form-urlencoded")
		}
	}
	var b []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= BodyLimit {
		// A declared length is read in one allocation; ReadAll would start at 512
		// bytes for bodies that are mostly under 100.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = io.ReadAll(r.Body)
	}
	if err != nil {
		return form{}, err // a *http.MaxBytesError becomes 413
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return form{}, web.InvalidRequest("the body is not valid form encoding")
	}
	if len(v) > maxParams {
		return form{}, web.InvalidRequest("too many parameters")
	}
	for name, vs := range v {
		if name == "resource" || name == "audience" { // RFC 8707 §2, RFC 8693 §2.1: repeatable
			if len(vs) > maxResources {
				return form{}, web.InvalidTarget("too many resource parameters")
			}
		} else if len(vs) > 1 {
			return form{}, web.InvalidRequest("a parameter is repeated")
		}
		limit, ok := maxParamLen[name]
		if !ok {
			limit = defaultParamLen
		}
		for _, x := range vs {
			if len(x) > limit {
				return form{}, web.InvalidRequest("a parameter is too long")
			}
		}
	}
	return form{v: v}, nil
}
