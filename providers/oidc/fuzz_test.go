package oidc

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"
)

func FuzzCallbackParams(f *testing.F) {
	for _, s := range []string{
		"code=abc&state=xyz&iss=https%3A%2F%2Fop.example",
		"error=access_denied&error_description=no%00way&state=s",
		"state=a&state=b&code=c",
		"code=&state=",
		"error=%22bad&state=s",
		"iss=&iss=&code=c&state=s",
		"%zz",
		"error_description=%FF%FE&error=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "https://gatehouse.test/cb", nil)
		r.URL.RawQuery = raw
		v, err := callbackValues(r)
		if err != nil {
			return
		}
		cb, err := parseCallback(v)
		if err != nil {
			return
		}
		if cb.Error == "" && (cb.Code == "" || cb.State == "") {
			t.Fatalf("accepted callback without code/state: %+v", cb)
		}
		if len(cb.State) > maxStateLen || len(cb.Code) > maxCodeLen || len(cb.ErrorDescription) > maxErrorDescLen {
			t.Fatalf("limits exceeded: %+v", cb)
		}
		if !utf8.ValidString(cb.ErrorDescription) || !validErrorCode(cb.Error) {
			t.Fatalf("unsafe error text: %q %q", cb.Error, cb.ErrorDescription)
		}
	})
}
