package admin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// apiOperation is one documented operation of the admin API.
type apiOperation struct {
	method, path string // path as documented, e.g. /providers/{id}
	op           map[string]any
	params       []map[string]any // the path item's and the operation's
}

func (o apiOperation) String() string { return strings.ToUpper(o.method) + " " + o.path }

// id is the operationId, or the method and path.
func (o apiOperation) id() string {
	if id, ok := o.op["operationId"].(string); ok {
		return id
	}
	return o.String()
}

// collection is the path up to its first parameter: where the resources whose
// IDs fill it are listed and created.
func (o apiOperation) collection() string {
	p, _, _ := strings.Cut(o.path, "/{")
	return p
}

func (o apiOperation) hasPathParams() bool { return strings.Contains(o.path, "{") }

// creates: a POST answering 201 Created.
func (o apiOperation) creates() bool {
	_, ok := o.responses()["201"]
	return o.method == "post" && ok
}

func (o apiOperation) responses() map[string]any {
	r, _ := o.op["responses"].(map[string]any)
	return r
}

func (o apiOperation) secured(doc map[string]any) bool {
	sec, ok := o.op["security"].([]any)
	if !ok {
		sec, _ = doc["security"].([]any)
	}
	return len(sec) > 0
}

// phase orders the operations so that each finds what it needs: creates,
// then reads and calls on collections, creates under a resource, then on
// each resource reads, updates, actions and last deletes.
func (o apiOperation) phase() int {
	switch {
	case o.creates() && !o.hasPathParams():
		return 0
	case !o.hasPathParams():
		return 1
	case o.creates():
		return 2
	case o.method == "get":
		return 3
	case o.method == "put":
		return 4
	case o.method == "post":
		return 5
	}
	return 6 // delete
}

// apiClient is a generic client of the admin API driven by its OpenAPI
// document: it knows no endpoint, only the document.
type apiClient struct {
	t    *testing.T
	w    *world
	doc  map[string]any
	sch  schemas
	base string
	tok  string
	// ids are the IDs of resources per collection path: created ones (where
	// the 201's Location says), or for a collection without a create, the
	// first one listed; created holds each created one's 201 body, by path.
	ids     map[string][]string
	created map[string]map[string]any
	// overrides replace a request body member's value wherever it appears
	// (URLs of the in-process IdPs instead of the documented examples').
	overrides map[string]any
	// succeeded are the operations that answered 2xx.
	succeeded map[string]bool
	// after, by operationId, does what the document says happens outside
	// the API after a call (an admin giving a SAML IdP the SP metadata).
	after map[string]func(res response)
	// outside, by operationId, gives the query parameters the document says
	// come from outside the API (a test sign-in's result code, shown in the
	// browser that ran it), from the created resource the call is on.
	outside map[string]func(created map[string]any) url.Values
}

// loadDocument fetches the served document, as a client would.
func loadDocument(t *testing.T, w *world) map[string]any {
	t.Helper()
	res, body := w.page(w.TS.Client(), "/api/admin/v1/openapi.json")
	var doc map[string]any
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatalf("openapi.json: %d %.200s", res.StatusCode, body)
	}
	return doc
}

func (c *apiClient) operations() []apiOperation {
	var ops []apiOperation
	paths, _ := c.doc["paths"].(map[string]any)
	for path, item := range paths {
		im := item.(map[string]any)
		shared := objects(im["parameters"])
		for method, op := range im {
			if !slices.Contains([]string{"get", "put", "post", "delete", "patch"}, method) {
				continue
			}
			om := op.(map[string]any)
			ops = append(ops, apiOperation{method: method, path: path, op: om, params: slices.Concat(shared, objects(om["parameters"]))})
		}
	}
	slices.SortFunc(ops, func(a, b apiOperation) int {
		if a.phase() != b.phase() {
			return a.phase() - b.phase()
		}
		return strings.Compare(a.path+" "+a.method, b.path+" "+b.method)
	})
	return ops
}

func objects(v any) []map[string]any {
	var out []map[string]any
	for _, x := range asList(v) {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// request is one call the client makes of an operation.
type request struct {
	what  string // for messages
	path  string // with parameters filled
	query url.Values
	body  any // nil: none
	tok   string
}

// response is what came back, decoded when JSON.
type response struct {
	status      int
	contentType string
	raw         []byte
	json        any
	header      http.Header
}

func (c *apiClient) do(o apiOperation, rq request) response {
	c.t.Helper()
	var rd io.Reader
	if rq.body != nil {
		b, err := json.Marshal(rq.body)
		brokertest.Must(c.t, err)
		rd = strings.NewReader(string(b))
	}
	u := c.w.Abs(c.base + rq.path)
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	req, _ := http.NewRequest(strings.ToUpper(o.method), u, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.tok != "" {
		req.Header.Set("Authorization", "Bearer "+rq.tok)
	}
	res, err := c.w.TS.Client().Do(req)
	brokertest.Must(c.t, err)
	defer res.Body.Close()
	out := response{status: res.StatusCode, header: res.Header}
	out.raw, _ = io.ReadAll(res.Body)
	out.contentType, _, _ = mime.ParseMediaType(res.Header.Get("Content-Type"))
	if strings.HasSuffix(out.contentType, "json") && len(out.raw) > 0 {
		if err := json.Unmarshal(out.raw, &out.json); err != nil {
			c.t.Errorf("%s %s: %s body is not JSON: %v", o, rq.what, out.contentType, err)
		}
	}
	return out
}

// validate holds res to the document: a documented status, a documented
// media type, and a body that matches that media type's schema (strictly).
func (c *apiClient) validate(o apiOperation, rq request, res response) {
	c.t.Helper()
	where := fmt.Sprintf("%s (%s) → %d", o, rq.what, res.status)
	doc, ok := c.responses(o)[strconv.Itoa(res.status)]
	if !ok {
		c.t.Errorf("%s: status not documented (documented: %v); body %.300s", where, slices.Sorted(maps.Keys(c.responses(o))), res.raw)
		return
	}
	content, _ := doc["content"].(map[string]any)
	if len(content) == 0 {
		if len(res.raw) > 0 {
			c.t.Errorf("%s: documented without a body, got %s %.200s", where, res.contentType, res.raw)
		}
		return
	}
	media, ok := content[res.contentType].(map[string]any)
	if !ok {
		c.t.Errorf("%s: Content-Type %q, documented %v", where, res.contentType, slices.Sorted(maps.Keys(content)))
		return
	}
	schema, ok := media["schema"].(map[string]any)
	if !ok {
		return // documented as any content (this document itself)
	}
	var v any = string(res.raw)
	if strings.HasSuffix(res.contentType, "+json") || res.contentType == "application/json" {
		v = res.json
	}
	for _, p := range c.sch.check("", schema, v, true) {
		c.t.Errorf("%s: body%s", where, p)
	}
}

// responses are the operation's documented responses, $refs resolved.
func (c *apiClient) responses(o apiOperation) map[string]map[string]any {
	out := map[string]map[string]any{}
	for code, r := range o.responses() {
		rm, _ := r.(map[string]any)
		resolved, err := c.sch.resolve(rm)
		if err != nil {
			c.t.Errorf("%s %s: %v", o, code, err)
		}
		out[code] = resolved
	}
	return out
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// fill gives the path's parameters: {id} an ID of the collection, any other
// its documented example.
func (c *apiClient) fill(o apiOperation, id string) (string, bool) {
	ok := true
	p := pathParam.ReplaceAllStringFunc(o.path, func(m string) string {
		name := m[1 : len(m)-1]
		if name == "id" {
			return url.PathEscape(id)
		}
		for _, prm := range o.params {
			if prm["name"] == name && prm["in"] == "path" {
				if ex, found := prm["example"].(string); found {
					return url.PathEscape(ex)
				}
			}
		}
		c.t.Errorf("%s: the path parameter %s has no example to call it with", o, name)
		ok = false
		return m
	})
	return p, ok
}

// query sends the query parameters given from outside, and those that
// document an example.
func (c *apiClient) query(o apiOperation, given url.Values) url.Values {
	q := url.Values{}
	for _, prm := range o.params {
		if prm["in"] != "query" {
			continue
		}
		if v := given.Get(prm["name"].(string)); v != "" {
			q.Set(prm["name"].(string), v)
		} else if ex, ok := prm["example"]; ok {
			q.Set(prm["name"].(string), fmt.Sprint(ex))
		} else if prm["required"] == true {
			c.t.Errorf("%s: the required query parameter %v has no example", o, prm["name"])
		}
	}
	return q
}

// jsonBody is the operation's JSON request body: its media type and schema.
func (o apiOperation) jsonBody() (media, schema map[string]any, required bool) {
	rb, _ := o.op["requestBody"].(map[string]any)
	content, _ := rb["content"].(map[string]any)
	media, _ = content["application/json"].(map[string]any)
	schema, _ = media["schema"].(map[string]any)
	required, _ = rb["required"].(bool)
	return media, schema, required
}

// bodies are the bodies to call the operation with: each documented example;
// for PUT, the resource as read (GET) cut to the input schema, its name
// changed: the read-modify-write the API asks of a client; for a required body without
// example, its required members' examples (or enums' first values); an
// optional body is not sent.
func (c *apiClient) bodies(o apiOperation, path string) []any {
	media, schema, required := o.jsonBody()
	if schema == nil {
		return []any{nil}
	}
	if o.method == "put" && required {
		get := apiOperation{method: "get", path: o.path}
		res := c.do(get, request{what: "read for PUT", path: path, tok: c.tok})
		if res.status != 200 {
			c.t.Errorf("%s: GET for the PUT body: %d %.200s", o, res.status, res.raw)
			return nil
		}
		body, _ := c.cut(schema, res.json).(map[string]any)
		if name, ok := body["name"].(string); ok {
			body["name"] = name + " (edited)" // a change, so that the version moves on
		}
		return []any{body}
	}
	var out []any
	if exs, ok := media["examples"].(map[string]any); ok {
		for _, name := range slices.Sorted(maps.Keys(exs)) {
			out = append(out, exs[name].(map[string]any)["value"])
		}
	} else if ex, ok := media["example"]; ok {
		out = append(out, ex)
	} else if required {
		out = append(out, c.sample(schema))
	} else {
		out = append(out, nil)
	}
	for i := range out {
		out[i] = c.override(out[i])
	}
	return out
}

// cut keeps of v what schema documents (recursively through objects and
// arrays), leaving out readOnly members.
func (c *apiClient) cut(schema map[string]any, v any) any {
	schema, err := c.sch.flatten(schema)
	if err != nil {
		c.t.Error(err)
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		if props == nil {
			return x
		}
		out := map[string]any{}
		for k, val := range x {
			if p, ok := props[k].(map[string]any); ok && p["readOnly"] != true {
				out[k] = c.cut(p, val)
			}
		}
		return out
	case []any:
		items, _ := schema["items"].(map[string]any)
		if items == nil {
			return x
		}
		out := make([]any, len(x))
		for i := range x {
			out[i] = c.cut(items, x[i])
		}
		return out
	}
	return v
}

// sample is a value of schema from its example, enum or type: required
// members only.
func (c *apiClient) sample(schema map[string]any) any {
	schema, err := c.sch.flatten(schema)
	if err != nil {
		c.t.Error(err)
		return nil
	}
	if ex, ok := schema["example"]; ok {
		return ex
	}
	if enum := asList(schema["enum"]); len(enum) > 0 {
		return enum[0]
	}
	switch t := types(schema); {
	case slices.Contains(t, "object"):
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			p, _ := props[r].(map[string]any)
			out[r] = c.sample(p)
		}
		return out
	case slices.Contains(t, "array"):
		items, _ := schema["items"].(map[string]any)
		return []any{c.sample(items)}
	case slices.Contains(t, "integer"), slices.Contains(t, "number"):
		return 1
	case slices.Contains(t, "boolean"):
		return false
	}
	return "sample"
}

func (c *apiClient) override(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if o, ok := c.overrides[k]; ok {
				out[k] = o
			} else {
				out[k] = c.override(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = c.override(x[i])
		}
		return out
	}
	return v
}

// remember keeps the IDs a create or a collection's list answered with.
func (c *apiClient) remember(o apiOperation, res response) {
	body, _ := res.json.(map[string]any)
	if o.creates() {
		loc := strings.TrimPrefix(res.header.Get("Location"), c.base)
		if loc == "" {
			c.t.Errorf("%s: 201 without a Location", o)
			return
		}
		coll, id := path.Dir(loc), path.Base(loc)
		c.ids[coll] = append(c.ids[coll], id)
		c.created[loc] = body
		return
	}
	if o.method != "get" || o.hasPathParams() || len(c.ids[o.path]) > 0 {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(body)) {
		if list := asList(body[k]); len(list) > 0 {
			if first, ok := list[0].(map[string]any); ok {
				if id, ok := first["id"].(string); ok {
					c.ids[o.path] = []string{id}
				}
			}
			return
		}
	}
}

// call runs o as documented, then probes its documented refusals: without a
// token (401), with a token lacking the scope (403), for an unknown resource
// (404), with a member the body's schema does not have (400), and after a
// create with the same ID (409) and after a PUT with the version it replaced
// (409). Every answer is validated against
// the document.
func (c *apiClient) call(o apiOperation, otherTok string) {
	c.t.Helper()
	ids := []string{""}
	if strings.Contains(o.path, "{id}") {
		if ids = c.ids[o.collection()]; len(ids) == 0 {
			c.t.Errorf("%s: no resource of %s to call it on", o, o.collection())
			return
		}
	}
	for _, id := range ids {
		path, ok := c.fill(o, id)
		if !ok {
			continue
		}
		var q url.Values
		if f, ok := c.outside[o.id()]; ok {
			q = f(c.created[o.collection()+"/"+id])
		}
		q = c.query(o, q)
		if o.secured(c.doc) {
			for _, probe := range []struct {
				what, tok string
				want      int
			}{{"no token", "", 401}, {"a token without " + admin.Scope, otherTok, 403}} {
				rq := request{what: probe.what, path: path, query: q, tok: probe.tok}
				res := c.do(o, rq)
				if res.status != probe.want {
					c.t.Errorf("%s with %s: %d, want %d", o, probe.what, res.status, probe.want)
				}
				c.validate(o, rq, res)
			}
		}
		if _, schema, _ := o.jsonBody(); schema != nil {
			rq := request{what: "an undocumented member", path: path, query: q, tok: c.tok,
				body: map[string]any{"not_in_the_document": true}}
			res := c.do(o, rq)
			if res.status != 400 {
				c.t.Errorf("%s with an undocumented member: %d, want 400 (ADM-03)", o, res.status)
			}
			c.validate(o, rq, res)
		}
		if id != "" {
			unknown, _ := c.fill(o, "no-such-"+strings.Trim(o.collection(), "/"))
			rq := request{what: "an unknown resource", path: unknown, query: q, tok: c.tok}
			if bodies := c.bodies(o, path); len(bodies) > 0 {
				rq.body = bodies[0]
				if m, ok := rq.body.(map[string]any); ok {
					delete(m, "id") // the known resource's, which the unknown path would contradict
				}
			}
			res := c.do(o, rq)
			if res.status != 404 {
				c.t.Errorf("%s on an unknown resource: %d %.200s, want 404", o, res.status, res.raw)
			}
			c.validate(o, rq, res)
		}
		for i, body := range c.bodies(o, path) {
			rq := request{what: fmt.Sprintf("as documented #%d", i+1), path: path, query: q, body: body, tok: c.tok}
			if _, schema, _ := o.jsonBody(); body != nil {
				for _, p := range c.sch.check("", schema, body, false) {
					c.t.Errorf("%s: the request body the document gives is invalid: %s", o, p)
				}
			}
			res := c.do(o, rq)
			if res.status < 200 || res.status > 299 {
				c.t.Errorf("%s %s: %d %.300s", o, rq.what, res.status, res.raw)
			} else {
				c.succeeded[o.id()] = true
			}
			c.validate(o, rq, res)
			c.remember(o, res)
			if f, ok := c.after[o.id()]; ok && res.status < 300 {
				f(res)
			}
			if m, ok := body.(map[string]any); ok && o.creates() && res.status == 201 && m["id"] != nil {
				// The same again: its ID is taken now.
				rq.what = "an ID taken"
				if res = c.do(o, rq); res.status != 409 {
					c.t.Errorf("%s with an ID taken: %d, want 409", o, res.status)
				}
				c.validate(o, rq, res)
			}
			if m, ok := body.(map[string]any); ok && o.method == "put" && m["version"] != nil && res.status == 200 {
				// DATA-11: the same change again is from a version no longer current.
				rq.what = "a stale version"
				if res = c.do(o, rq); res.status != 409 {
					c.t.Errorf("%s with a stale version: %d, want 409", o, res.status)
				}
				c.validate(o, rq, res)
			}
		}
	}
}

// TestAdminAPIThroughItsOpenAPIDocument is issue 12's "Admin API tests for
// every resource, through the OpenAPI document with a generic client": the
// client reads /api/admin/v1/openapi.json from the server and calls every
// documented operation from what the document says — path parameters from
// resources it created or listed, bodies from the documented examples (a PUT
// from the resource as read), query parameters from their examples — and
// checks every answer's status is documented for the operation and its body
// matches the documented schema, strictly: a required member missing or a
// member the document does not describe fails. Each operation is also called
// without a token (401), with a token lacking gatehouse:admin (403), on an
// unknown resource (404) and with an undocumented member (400, ADM-03), and a
// PUT again from the version it replaced (409, DATA-11).
func TestAdminAPIThroughItsOpenAPIDocument(t *testing.T) {
	w := newWorld(t)
	// People for the people operations: alice (listed first, so the one
	// called on) with a consent and a delegation given to bob, so that her
	// page has something in each list.
	_, alice := w.signIn("alice@corp.example")
	_, bob := w.signIn("bob@uni.example")
	now := w.Clk.Now()
	brokertest.Must(t, w.DB.Consents().Put(t.Context(), store.Consent{UserID: alice, ClientID: "svc",
		Scopes: []string{"notes.read"}, CreatedAt: now, UpdatedAt: now, LastUsedAt: now}))
	brokertest.Must(t, w.DB.Delegations().Create(t.Context(), store.Delegation{ID: "dlg-1", GrantorID: alice,
		GranteeUserID: bob, Audience: notesAudience, Scopes: []string{"notes.read"}, CreatedAt: now, ExpiresAt: now.Add(72 * time.Hour)}))
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s", Now: w.Clk.Now})
	t.Cleanup(iss.Close)
	k, cert := brokertest.SAMLKeys()
	idp := providertest.NewSAMLIdP(w.Clk.Now, k, cert, brokertest.Carol())
	t.Cleanup(idp.Close)

	doc := loadDocument(t, w)
	servers := asList(doc["servers"])
	if len(servers) != 1 {
		t.Fatalf("servers %v", servers)
	}
	c := &apiClient{t: t, w: w, doc: doc, sch: schemas{doc: doc}, base: servers[0].(map[string]any)["url"].(string),
		tok: w.token("robot", ""), ids: map[string][]string{}, created: map[string]map[string]any{}, succeeded: map[string]bool{},
		overrides: map[string]any{"issuer": iss.URL(), "metadata_url": idp.Server.URL + "/metadata", "client_secret": "s"}}
	c.after = map[string]func(response){
		// The admin gives the SAML IdP what the answer says: the SP metadata.
		"createProvider": func(res response) {
			body, _ := res.json.(map[string]any)
			if saml, ok := body["saml"].(map[string]any); ok {
				_, md := w.page(w.TS.Client(), saml["sp_metadata_url"].(string))
				brokertest.Must(t, idp.AddSP([]byte(md)))
			}
		},
	}
	c.outside = map[string]func(map[string]any) url.Values{
		// The test's sign-in, run in a browser, whose last page shows the result code.
		"getTestSignInResult": func(created map[string]any) url.Values {
			_, page, code := w.runTest(created["sign_in_url"].(string))
			if code == "" {
				t.Errorf("no result code on the test sign-in's last page:\n%s", page)
			}
			return url.Values{"result": {code}}
		},
	}
	otherTok := w.token("svc", w.Srv().Admin().Audience())
	ops := c.operations()
	for _, o := range ops {
		c.call(o, otherTok)
	}
	for _, o := range ops {
		if !c.succeeded[o.id()] {
			t.Errorf("%s (%s) never answered 2xx", o, o.id())
		}
	}
	if len(ops) < 20 {
		t.Errorf("only %d operations documented", len(ops))
	}
}

// TestOpenAPIClaimMappingAsValidated: a claim mapping replaces the kind's
// defaults whole, so the API refuses one without a subject (422, nothing
// stored); the document says so (ClaimMapping requires subject), so that a
// client built from it does not send what is refused. Each body is checked
// against the document and sent: valid there exactly when the API takes it.
func TestOpenAPIClaimMappingAsValidated(t *testing.T) {
	w := newWorld(t)
	doc := loadDocument(t, w)
	sch := schemas{doc: doc}
	input := map[string]any{"$ref": "#/components/schemas/ProviderInput"}
	tok := w.token("robot", "")
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s", Now: w.Clk.Now})
	t.Cleanup(iss.Close)
	for _, tc := range []struct {
		name    string
		mapping map[string]any
	}{
		{"groups only", map[string]any{"groups": []any{"roles"}}},
		{"assume_email_verified only", map[string]any{"assume_email_verified": true}},
		{"with a subject", map[string]any{"subject": []any{"sub"}, "groups": []any{"roles"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"id": "mapped", "kind": "oidc", "name": "Mapped", "client_secret": "s",
				"oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse", "mapping": tc.mapping}}
			problems := sch.check("", input, body, false)
			status, _, res := w.call("POST", "/api/admin/v1/providers", tok, body)
			if documented, accepted := len(problems) == 0, status == http.StatusCreated; documented != accepted {
				t.Fatalf("the document says valid=%v %v; the API answered %d %v", documented, problems, status, res)
			}
			if status == http.StatusCreated {
				status, _, _ = w.call("DELETE", "/api/admin/v1/providers/mapped", tok, nil)
				if status != http.StatusNoContent {
					t.Fatalf("delete: %d", status)
				}
			} else {
				if _, err := w.DB.Providers().Get(t.Context(), "mapped"); err == nil {
					t.Fatal("a refused provider was stored")
				}
				// The refusal reads as the admin's field, not Go's error chain.
				if msg := fmt.Sprint(res); !strings.Contains(msg, "mapping.subject is required") || strings.Contains(msg, "providers:") {
					t.Errorf("refusal does not name the field in plain words: %v", res)
				}
			}
		})
	}
}
