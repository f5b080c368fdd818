package exchange_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse/gatehouse/broker/registry"
)

// TestDPoPBindsExchangedToken: a token exchange with a DPoP proof (RFC 9449
// §5, any grant) issues a token bound to the proof's key, token_type DPoP; a
// bad proof issues nothing.
func TestDPoPBindsExchangedToken(t *testing.T) {
	fx := newFixture(t)
	k := dpoptest.NewKey(t)
	tokenURL := fx.TS.URL + "/oauth2/token"
	call := func(proof string) (int, map[string]any) {
		f := url.Values{"grant_type": {registry.GrantTokenExchange}, "subject_token": {fx.userToken("web1", rs1, "read")},
			"subject_token_type": {typeAT}, "audience": {rs2}}
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		req.SetBasicAuth("svc1", fx.secrets["svc1"])
		res, err := fx.TS.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return res.StatusCode, out
	}
	before := fx.exchanged()
	if status, out := call(k.Proof(t, "POST", tokenURL+"/other", fx.Clk.Now())); status != 400 || out["error"] != "invalid_dpop_proof" ||
		out["access_token"] != nil || fx.exchanged() != before {
		t.Fatalf("proof for another URL: %d %v", status, out)
	}
	status, out := call(k.Proof(t, "POST", tokenURL, fx.Clk.Now()))
	at, _ := out["access_token"].(string)
	if status != 200 || out["token_type"] != "DPoP" {
		t.Fatalf("exchange with a proof: %d %v", status, out)
	}
	if cl := decode(t, at); cl.Confirmation == nil || cl.Confirmation.JKT != k.JKT {
		t.Fatalf("cnf = %+v, want jkt %s", cl.Confirmation, k.JKT)
	}
}
