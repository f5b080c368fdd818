package oauth

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// authzRequest is a validated authorization request (RFC 6749 §4.1.1, OIDC Core
// §3.1.2.1). It travels sealed between the authorize request, the sign-in hop and
// the consent decision (pendingAuthz), so its JSON names are short.
type authzRequest struct {
	ClientID string `json:"c"`
	// RedirectURI is the redirect_uri as sent ("" when omitted): the token request
	// must repeat it exactly (RFC 6749 §4.1.3). Redirect is where responses go.
	RedirectURI  string   `json:"r,omitempty"`
	Redirect     string   `json:"d"`
	ResponseMode string   `json:"m,omitempty"`
	State        string   `json:"s,omitempty"`
	Nonce        string   `json:"n,omitempty"`
	Scope        []string `json:"o,omitempty"`
	ScopeGiven   bool     `json:"g,omitempty"`
	Resource     []string `json:"e,omitempty"`
	Challenge    string   `json:"p"`
	Prompt       []string `json:"q,omitempty"`
	MaxAge       int64    `json:"a"` // -1: none
	LoginHint    string   `json:"h,omitempty"`
	// ACRValues are acr_values, voluntary (OIDC Core §3.1.2.1); ACRRequired
	// the essential acr values of the claims parameter (§5.5.1.1), which the
	// sign-in must meet (sessionShortfall, authorize.go).
	ACRValues   []string `json:"v,omitempty"`
	ACRRequired []string `json:"w,omitempty"`
	// HintSubject is the user an id_token_hint names: only that user's session
	// gets a positive answer (authorize.go).
	HintSubject string `json:"u,omitempty"`
	// DPoPJKT is dpop_jkt (RFC 9449 §10): the code is bound to that DPoP key.
	DPoPJKT string `json:"k,omitempty"`
	// UILocales is ui_locales (OIDC Core §3.1.2.1): the languages the person
	// prefers for the pages of this request, carried through sign-in and
	// consent (web.WithUILocales).
	UILocales string `json:"l,omitempty"`
}

func (q *authzRequest) prompt(v string) bool { return slices.Contains(q.Prompt, v) }

// authzParamLen bounds each authorization parameter (DOS-11); state must still
// allow long but reasonable values. Unlisted parameters get defaultParamLen.
var authzParamLen = map[string]int{
	"client_id":             128,
	"state":                 512,
	"nonce":                 512,
	"scope":                 1024,
	"code_challenge":        128,
	"code_challenge_method": 16,
	"dpop_jkt":              64,
	"login_hint":            256,
	"acr_values":            512,
	"prompt":                64,
	"max_age":               12,
	"id_token_hint":         keys.MaxTokenSize,
}

const maxAuthzParams = 64

// authzParams reads the request's parameters: the query for GET, the form body for
// POST (OIDC Core §3.1.2.1). A request Gatehouse cannot even read is refused with
// a page: there is no validated redirect URI yet.
func authzParams(r *http.Request) (url.Values, error) {
	if r.Method == http.MethodGet {
		return r.URL.Query(), nil
	}
	if err := r.ParseForm(); err != nil {
		if web.IsBodyTooLarge(err) {
			return nil, err
		}
		return nil, errBadAuthzRequest(err)
	}
	return r.PostForm, nil
}

func errBadAuthzRequest(cause error) *web.UserError {
	return &web.UserError{Status: http.StatusBadRequest, Title: "Invalid sign-in request",
		Message: "The application sent a sign-in request that Gatehouse cannot accept.",
		Next:    "Go back to the application and try again. If it keeps happening, tell the application's owner.", Err: cause}
}

// single returns the one value of a parameter: a repeated parameter is refused
// (RFC 6749 §3.1: "MUST NOT be included more than once"), an oversized one too.
func single(v url.Values, name string) (string, bool) {
	vs := v[name]
	if len(vs) > 1 {
		return "", false
	}
	limit, ok := authzParamLen[name]
	if !ok {
		limit = defaultParamLen
	}
	if len(vs) == 1 && len(vs[0]) > limit {
		return "", false
	}
	if len(vs) == 0 {
		return "", true
	}
	return vs[0], true
}

// authzClient validates client_id and redirect_uri. Until both are known good
// nothing may be redirected (RFC 6749 §4.1.2.1, BCP §4.11.2): every failure here
// is an error page. The redirect URI must equal a registered one exactly
// (registry.MatchRedirectURI; AS-RED-01/02); it may be omitted only outside
// OpenID Connect by a client with a single registered URI (OIDC Core §3.1.2.1,
// AS-RED-03).
func (s *Server) authzClient(ctx context.Context, v url.Values) (*store.Client, string, error) {
	if len(v) > maxAuthzParams {
		return nil, "", errBadAuthzRequest(nil)
	}
	id, ok1 := single(v, "client_id")
	uri, ok2 := single(v, "redirect_uri")
	if !ok1 || !ok2 || id == "" {
		return nil, "", errBadAuthzRequest(nil)
	}
	c, err := s.registry.Client(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if c == nil {
		return nil, "", errUnknownClient
	}
	if uri == "" {
		scope, _ := single(v, "scope")
		if len(c.RedirectURIs) != 1 || slices.Contains(token.ParseScope(scope), "openid") {
			return nil, "", errUnregisteredRedirect
		}
		return c, c.RedirectURIs[0], nil
	}
	if !registry.MatchRedirectURI(c.RedirectURIs, uri, c.Public) {
		return nil, "", errUnregisteredRedirect
	}
	return c, uri, nil
}

var errUnknownClient = &web.UserError{Status: http.StatusBadRequest, Title: "Unknown application",
	Message: "The application that sent you here is not registered with Gatehouse.",
	Next:    "Go back to the application and tell its owner."}

// errUnregisteredRedirect is authzClient's refusal of a redirect URI.
var errUnregisteredRedirect = errBadRedirect(nil)

// AuthorizePath is the authorization endpoint, the target of its audit rows.
const AuthorizePath = "/oauth2/authorize"

func errBadRedirect(cause error) *web.UserError {
	return &web.UserError{Status: http.StatusBadRequest, Title: "Invalid return address",
		Message: "The application asked Gatehouse to send you back to an address it has not registered, so Gatehouse did not.",
		Next:    "Go back to the application and tell its owner.", Err: cause}
}

// parseAuthzRequest checks the rest of the request once the client and its
// redirect URI are known; its errors go back to the client (RFC 6749 §4.1.2.1).
// q arrives with ClientID, RedirectURI and Redirect set, and gets State and
// ResponseMode first so that even its own errors reach the client properly.
func parseAuthzRequest(v url.Values, c *store.Client, q *authzRequest) *web.OAuthError {
	state, stateOK := single(v, "state")
	q.State = state
	mode, ok := single(v, "response_mode")
	switch {
	case ok && (mode == "query" || mode == "form_post"):
		q.ResponseMode = mode
	case ok && mode == "":
	default:
		return web.InvalidRequest("response_mode must be query or form_post")
	}
	if !stateOK {
		return web.InvalidRequest("state is repeated or too long")
	}
	for name := range v {
		if name == "resource" {
			if len(v[name]) > maxResources {
				return web.InvalidTarget("too many resource parameters")
			}
			continue
		}
		if _, ok := single(v, name); !ok {
			return web.InvalidRequest("a parameter is repeated or too long")
		}
	}
	switch rt := v.Get("response_type"); rt {
	case "code":
	case "":
		return web.InvalidRequest("response_type is required")
	default:
		// Implicit and hybrid are disabled (BCP §2.1.2; AS-RED-07).
		return web.OAuthErr(0, "unsupported_response_type", "only response_type=code is supported", nil)
	}
	if !slices.Contains(c.GrantTypes, registry.GrantAuthorizationCode) {
		return web.UnauthorizedClient("the client may not use the authorization code grant")
	}
	// OIDC Core §6: request objects are not supported, and discovery says so.
	if v.Get("request") != "" {
		return web.OAuthErr(0, "request_not_supported", "request objects are not supported", nil)
	}
	if v.Get("request_uri") != "" {
		return web.OAuthErr(0, "request_uri_not_supported", "request_uri is not supported", nil)
	}
	// PKCE S256 for every client, public and confidential (BCP §2.1.1, RFC 7636
	// §4.3; AS-PKCE-01/02): a missing method means plain, which is refused.
	q.Challenge = v.Get("code_challenge")
	if q.Challenge == "" {
		return web.Rejected(web.InvalidRequest("code_challenge is required (PKCE)"), "pkce_missing", "", "", nil)
	}
	if v.Get("code_challenge_method") != "S256" {
		return web.Rejected(web.InvalidRequest("code_challenge_method must be S256"), "pkce_method", "", "", nil)
	}
	if len(q.Challenge) != 43 || !base64URL(q.Challenge) {
		return web.Rejected(web.InvalidRequest("code_challenge is malformed"), "pkce_malformed", "", "", nil)
	}
	// RFC 9449 §10: a JWK SHA-256 thumbprint, base64url (43 characters).
	q.DPoPJKT = v.Get("dpop_jkt")
	if q.DPoPJKT != "" && (len(q.DPoPJKT) != 43 || !base64URL(q.DPoPJKT)) {
		return web.Rejected(web.InvalidRequest("dpop_jkt is malformed"), "dpop_jkt_malformed", "", "", nil)
	}
	q.Nonce = v.Get("nonce")
	if raw, given := v["scope"]; given && raw[0] != "" {
		q.ScopeGiven = true
		q.Scope = token.ParseScope(raw[0])
		for _, sc := range q.Scope {
			if !registry.ValidScopeToken(sc) {
				return web.InvalidScope("the scope parameter is malformed")
			}
		}
	}
	q.Resource = nil
	for _, r := range v["resource"] {
		if len(r) > defaultParamLen {
			return web.InvalidTarget("the resource is too long")
		}
		if r != "" {
			q.Resource = append(q.Resource, r)
		}
	}
	if p := v.Get("prompt"); p != "" {
		q.Prompt = token.ParseScope(p)
		for _, x := range q.Prompt {
			if x != "none" && x != "login" && x != "consent" && x != "select_account" {
				return web.InvalidRequest("prompt has an unsupported value")
			}
		}
		// OIDC Core §3.1.2.1: none with any other value is an error.
		if slices.Contains(q.Prompt, "none") && len(q.Prompt) > 1 {
			return web.InvalidRequest("prompt=none cannot be combined with other values")
		}
	}
	q.MaxAge = -1
	if m := v.Get("max_age"); m != "" {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 0 {
			return web.InvalidRequest("max_age must be a non-negative integer")
		}
		q.MaxAge = n
	}
	q.LoginHint = strings.TrimSpace(v.Get("login_hint"))
	q.ACRValues = strings.Fields(v.Get("acr_values"))
	if len(q.ACRValues) > maxACRValues {
		return web.InvalidRequest("acr_values has too many values")
	}
	q.ACRRequired = essentialACR(v.Get("claims"))
	q.UILocales = strings.TrimSpace(v.Get("ui_locales"))
	// display, claims_locales, the rest of claims and unknown
	// parameters are accepted and ignored (OIDC Core §3.1.2.1, §3.1.2.2);
	// id_token_hint is read by HandleAuthorize, which holds the keys.
	return nil
}

// base64URL reports whether s is made of base64url characters only: an S256
// challenge is 43 of them (RFC 7636 §4.2).
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// pendingAuthz is an authorization request waiting for a sign-in or a consent
// decision. It is sealed with the master key (AES-256-GCM), so the browser that
// carries it can neither read nor change it, and it expires with web.FlowTTL. The
// sealing purpose is its associated data: a request sealed for the consent form is
// bound to the session it was shown to, and opens for no other.
type pendingAuthz struct {
	Req     authzRequest `json:"q"`
	ID      string       `json:"i"` // makes a consent decision single-use
	Created int64        `json:"t"`
	// ForceLogin (prompt=login or select_account, max_age exceeded, "not you?")
	// is satisfied only by a session other than PriorSession: a fresh sign-in.
	ForceLogin   bool   `json:"f,omitempty"`
	PriorSession string `json:"p,omitempty"`
	// Fresh (prompt=login, max_age exceeded) also needs the upstream IdP to
	// authenticate the person again, after Created (sessionShortfall, authorize.go).
	Fresh bool `json:"fr,omitempty"`
	// SelectAccount (prompt=select_account, "not you?") lets the person choose
	// the account on the sign-in page, and asks the IdP to let them choose
	// too; Chosen says the page was shown.
	SelectAccount bool `json:"sa,omitempty"`
	Chosen        bool `json:"ch,omitempty"`
	// LoginOffered says this request already sent the person to sign in.
	LoginOffered bool `json:"lo,omitempty"`
	// ActFor are the delegations the consent page offered to act under: the
	// form's choice must be one of them (AS-DEL-02).
	ActFor []string `json:"af,omitempty"`
}

const (
	purposeResume = "gatehouse authorize resume"
	ResumePath    = "/oauth2/authorize/resume"
	// maxResumeURL is what /login keeps of return_to (localReturnTo).
	maxResumeURL = 1024
)

func purposeConsent(sessionID string) string { return "gatehouse authorize consent " + sessionID }

var errPendingInvalid = errors.New("pending authorization request unreadable or expired")

// sealPending encodes p for the browser: JSON, deflated (the resume link must fit
// in /login's return_to), sealed, base64url.
func (s *Server) sealPending(p pendingAuthz, purpose string) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	zw.Write(b)
	zw.Close()
	sealed, err := s.ring.Seal(buf.Bytes(), []byte(purpose))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPending reverses sealPending and refuses an expired request.
func (s *Server) openPending(raw, purpose string) (pendingAuthz, error) {
	var p pendingAuthz
	if raw == "" || len(raw) > 8<<10 {
		return p, errPendingInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return p, errPendingInvalid
	}
	z, err := s.ring.Open(sealed, []byte(purpose))
	if err != nil {
		return p, errPendingInvalid
	}
	b, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 64<<10))
	if err != nil || json.Unmarshal(b, &p) != nil {
		return p, errPendingInvalid
	}
	if age := s.Now().Sub(time.Unix(p.Created, 0)); age > web.FlowTTL || age < -time.Minute {
		return p, errPendingInvalid
	}
	return p, nil
}

var errAuthzExpired = &web.UserError{Status: http.StatusBadRequest, Title: "Request expired",
	Message: "This sign-in request has expired or was already answered.",
	Next:    "Go back to the application and start again."}

// resumeURL is where sign-in returns to continue the authorization request.
func (s *Server) resumeURL(p pendingAuthz) (string, error) {
	sealed, err := s.sealPending(p, purposeResume)
	if err != nil {
		return "", err
	}
	return ResumePath + "?" + url.Values{"r": {sealed}}.Encode(), nil
}
