//go:build demo

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/broker/rs"
	"github.com/gatehouse/gatehouse/templates"
)

// The Demo Notes API, served by the demo app at /api/notes through broker/rs as
// any API behind Gatehouse would be, and the demo app as a DPoP client (RFC
// 9449): it holds a key pair, sends a proof with every token request, so
// Gatehouse binds its access tokens to the key (cnf.jkt), and a proof with every
// use of such a token. The page's "Call the Demo Notes API" shows the API
// accepting the token with its proof and refusing the same token without one.

// demoDPoP is the demo app's DPoP key pair; the key lives as long as the
// process, like the app's client secret.
type demoDPoP struct {
	signer jose.Signer
	nonce  atomic.Pointer[string] // Gatehouse's latest DPoP-Nonce (RFC 9449 §8), when it sends them
}

func newDemoDPoP() (*demoDPoP, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// RFC 9449 §4.2: typ dpop+jwt, an asymmetric alg, and the public key as jwk.
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	return &demoDPoP{signer: s}, nil
}

// proof is a DPoP proof for method and target (without query and fragment,
// §4.2 htu), over accessToken when it is not "" (ath, §4.2).
func (d *demoDPoP) proof(method, target, accessToken string) (string, error) {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": target, "iat": time.Now().Unix()}
	if n := d.nonce.Load(); n != nil {
		c["nonce"] = *n
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	b, _ := json.Marshal(c)
	obj, err := d.signer.Sign(b)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// dpopTransport adds a proof to the demo app's requests to Gatehouse: every
// POST to the token endpoint (§5), and every request presenting a DPoP-bound
// token (§7.1, UserInfo).
type dpopTransport struct {
	key      *demoDPoP
	tokenURL *atomic.Pointer[string]
}

// dpopContext makes x/oauth2 and go-oidc use the DPoP transport.
func (a *demoApp) dpopContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: dpopTransport{key: a.dpop, tokenURL: &a.tokenURL},
		Timeout: 30 * time.Second})
}

func (t dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	target := r.URL.Scheme + "://" + r.URL.Host + r.URL.EscapedPath()
	var ath string
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP "); ok {
		ath = tok
	} else if u := t.tokenURL.Load(); r.Method != http.MethodPost || u == nil || target != *u {
		return http.DefaultTransport.RoundTrip(r)
	}
	res, err := t.send(r, target, ath)
	// RFC 9449 §8, §9: with GATEHOUSE_DPOP_NONCE=required, the first answer is
	// use_dpop_nonce with the nonce to put in the proof; keep it, try once more.
	if err != nil || res.Header.Get("DPoP-Nonce") == "" {
		return res, err
	}
	n := res.Header.Get("DPoP-Nonce")
	t.key.nonce.Store(&n)
	// Only that error is retried: another (invalid_grant for a code) sent
	// again would be a second redemption (RFC 6749 §4.1.2).
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	useNonce := strings.Contains(res.Header.Get("WWW-Authenticate"), "use_dpop_nonce") ||
		res.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte(`"use_dpop_nonce"`))
	if !useNonce || r.Body != nil && r.GetBody == nil {
		return res, nil
	}
	if r.GetBody != nil {
		if r.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.send(r, target, ath)
}

func (t dpopTransport) send(r *http.Request, target, ath string) (*http.Response, error) {
	p, err := t.key.proof(r.Method, target, ath)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("DPoP", p)
	return http.DefaultTransport.RoundTrip(r)
}

// demoNotesAPI is the Demo Notes API. Its Verifier is made on first use, when
// Gatehouse is listening.
type demoNotesAPI struct {
	issuer string
	mu     sync.Mutex
	v      *rs.Verifier
}

func (n *demoNotesAPI) verifier(ctx context.Context) (*rs.Verifier, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.v == nil {
		v, err := rs.New(ctx, rs.Config{Issuer: n.issuer, Audience: demoAPIAudience})
		if err != nil {
			return nil, err
		}
		n.v = v
	}
	return n.v, nil
}

// ServeHTTP is GET /api/notes: notes.read required, the caller named from the
// token the verifier accepted.
func (n *demoNotesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, err := n.verifier(r.Context())
	if err != nil {
		http.Error(w, "the Demo Notes API cannot reach Gatehouse", http.StatusServiceUnavailable)
		return
	}
	v.Require("notes.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := rs.TokenFrom(r.Context())
		out := map[string]any{"owner": tok.Subject, "client": tok.ClientID, "scheme": tok.Scheme,
			"notes": []string{"Buy milk", "Renew the TLS certificate"}}
		if tok.Confirmation != nil {
			out["bound_to_key"] = tok.Confirmation.JKT
		}
		if tok.Act != nil {
			out["acting"] = tok.Act.Subject
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})).ServeHTTP(w, r)
}

// demoAPICall is one call of the page's API demonstration.
type demoAPICall struct {
	Title           templates.Msg
	Authorization   templates.Msg // the scheme, and whether a proof went with it
	Status          int
	WWWAuthenticate []string
	Body            string
}

// handleCallAPI calls the Demo Notes API with the session's access token twice:
// as a DPoP client does (DPoP scheme and a fresh proof), then as a thief who
// copied the token would (Bearer, no key to sign a proof with).
func (a *demoApp) handleCallAPI(w http.ResponseWriter, r *http.Request) {
	_, sess := a.session(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	at := sess.token.AccessToken
	target := a.url + "/api/notes"
	call := func(title templates.Msg, scheme string, withProof bool) (demoAPICall, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		req.Header.Set("Authorization", scheme+" "+at)
		how := templates.M("%s scheme, no proof", scheme)
		if withProof {
			p, err := a.dpop.proof(http.MethodGet, target, at)
			if err != nil {
				return demoAPICall{}, err
			}
			req.Header.Set("DPoP", p)
			how = templates.M("%s scheme with a DPoP proof signed by the app's key", scheme)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return demoAPICall{}, err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return demoAPICall{Title: title, Authorization: how, Status: res.StatusCode,
			WWWAuthenticate: res.Header.Values("WWW-Authenticate"), Body: strings.TrimSpace(string(body))}, nil
	}
	scheme := "Bearer"
	if strings.EqualFold(sess.token.TokenType, "DPoP") {
		scheme = "DPoP"
	}
	v := a.view(ctx, sess)
	for _, c := range []struct {
		title  templates.Msg
		scheme string
		proof  bool
	}{{templates.M("The app, with its key"), scheme, scheme == "DPoP"}, {templates.M("A copy of the token, without the key"), "Bearer", false}} {
		res, err := call(c.title, c.scheme, c.proof)
		if err != nil {
			a.fail(w, r, http.StatusBadGateway, apiUnanswered(target))
			return
		}
		v.APICalls = append(v.APICalls, res)
	}
	a.render(w, r, http.StatusOK, v)
}
