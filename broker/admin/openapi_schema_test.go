package admin_test

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// schemas checks JSON values against the subset of JSON Schema (2020-12, as
// OpenAPI 3.1 uses it) that the admin API's fragments use: $ref, type (one or
// a list, "null" among them), nullable, enum, required, properties,
// additionalProperties, items, allOf, format date-time and uri, minimum,
// maximum, maxLength. A keyword outside the subset is itself a problem, so a
// fragment cannot use one that the check would silently ignore.
type schemas struct {
	// doc is the whole OpenAPI document, for $ref (#/components/…).
	doc map[string]any
}

// annotations are keywords that say nothing a value must satisfy here.
var annotations = []string{"description", "example", "examples", "default", "title", "readOnly", "writeOnly"}

// assertions are the keywords check implements.
var assertions = []string{"$ref", "type", "nullable", "enum", "required", "properties", "additionalProperties", "items",
	"allOf", "format", "minimum", "maximum", "maxLength"}

// resolve follows a local $ref (RFC 6901 JSON pointer into the document).
func (s schemas) resolve(schema map[string]any) (map[string]any, error) {
	for range 10 {
		ref, ok := schema["$ref"].(string)
		if !ok {
			return schema, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, fmt.Errorf("$ref %q is not local", ref)
		}
		var cur any = s.doc
		for _, tok := range strings.Split(ref[2:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			m, _ := cur.(map[string]any)
			if cur = m[tok]; cur == nil {
				return nil, fmt.Errorf("$ref %q does not resolve", ref)
			}
		}
		next, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q is not a schema", ref)
		}
		if len(schema) > 1 {
			return nil, fmt.Errorf("$ref %q has siblings, which this check does not merge", ref)
		}
		schema = next
	}
	return nil, fmt.Errorf("$ref chain too long")
}

// flatten resolves schema and merges its allOf branches into one schema
// (properties and required joined), so that a closed object (strict) knows
// every property its branches document.
func (s schemas) flatten(schema map[string]any) (map[string]any, error) {
	schema, err := s.resolve(schema)
	if err != nil {
		return nil, err
	}
	all, ok := schema["allOf"].([]any)
	if !ok {
		return schema, nil
	}
	out := maps.Clone(schema)
	delete(out, "allOf")
	props := map[string]any{}
	if p, ok := out["properties"].(map[string]any); ok {
		maps.Copy(props, p)
	}
	required, _ := out["required"].([]any)
	required = slices.Clone(required)
	for _, b := range all {
		bm, _ := b.(map[string]any)
		branch, err := s.flatten(bm)
		if err != nil {
			return nil, err
		}
		for k, v := range branch {
			switch k {
			case "properties":
				for name, p := range v.(map[string]any) {
					if _, dup := props[name]; dup {
						return nil, fmt.Errorf("allOf: property %s is documented twice", name)
					}
					props[name] = p
				}
			case "required":
				required = append(required, v.([]any)...)
			case "type":
				if t, ok := out["type"]; ok && t != v {
					return nil, fmt.Errorf("allOf: types %v and %v", t, v)
				}
				out["type"] = v
			case "additionalProperties":
				out[k] = v
			}
		}
	}
	out["properties"], out["required"] = props, required
	return out, nil
}

// check returns every way v fails schema, each naming where (a JSON pointer).
// strict (for responses) treats an object schema with properties and no
// additionalProperties as closed: a member the document does not name is a
// problem, so the document cannot fall behind what the API sends.
func (s schemas) check(at string, schema map[string]any, v any, strict bool) []string {
	schema, err := s.flatten(schema)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, args...)) }
	for k := range schema {
		if !slices.Contains(annotations, k) && !slices.Contains(assertions, k) {
			fail("schema keyword %q is outside the subset this check implements", k)
		}
	}
	if v == nil && (schema["nullable"] == true || slices.Contains(types(schema), "null")) {
		return problems
	}
	if ts := types(schema); len(ts) > 0 && !slices.ContainsFunc(ts, func(t string) bool { return isType(v, t) }) {
		fail("%s, want %s", jsonType(v), strings.Join(ts, " or "))
		return problems
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		fail("%v is not one of %v", v, enum)
	}
	switch x := v.(type) {
	case string:
		if max, ok := schema["maxLength"].(float64); ok && float64(utf8.RuneCountInString(x)) > max {
			fail("longer than %v", max)
		}
		switch schema["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339, x); err != nil {
				fail("%q is not an RFC 3339 date-time", x)
			}
		case "uri":
			if u, err := url.Parse(x); err != nil || u.Scheme == "" {
				fail("%q is not an absolute URI", x)
			}
		}
	case float64:
		if min, ok := schema["minimum"].(float64); ok && x < min {
			fail("%v is below %v", x, min)
		}
		if max, ok := schema["maximum"].(float64); ok && x > max {
			fail("%v is above %v", x, max)
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range x {
				problems = append(problems, s.check(fmt.Sprintf("%s/%d", at, i), items, item, strict)...)
			}
		}
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			if _, ok := x[r]; !ok {
				fail("the required member %q is missing", r)
			}
		}
		extra, hasExtra := schema["additionalProperties"]
		for _, name := range slices.Sorted(maps.Keys(x)) {
			sub := at + "/" + name
			if p, ok := props[name].(map[string]any); ok {
				problems = append(problems, s.check(sub, p, x[name], strict)...)
				continue
			}
			switch e := extra.(type) {
			case map[string]any:
				problems = append(problems, s.check(sub, e, x[name], strict)...)
			case bool:
				if !e {
					problems = append(problems, sub+": a member the schema does not allow")
				}
			default:
				if !hasExtra && strict && props != nil {
					problems = append(problems, sub+": a member the document does not describe")
				}
			}
		}
	}
	return problems
}

func types(schema map[string]any) []string {
	switch t := schema["type"].(type) {
	case string:
		return []string{t}
	case []any:
		return asStrings(t)
	}
	return nil
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func isType(v any, t string) bool {
	switch t {
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "number":
		_, ok := v.(float64)
		return ok
	}
	return jsonType(v) == t
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TestSchemaCheck: the check the generic client relies on finds each kind of
// mismatch it claims to, and passes what matches.
func TestSchemaCheck(t *testing.T) {
	doc := map[string]any{"components": map[string]any{"schemas": map[string]any{
		"Thing": map[string]any{"type": "object", "required": []any{"id", "kind"}, "properties": map[string]any{
			"id":    map[string]any{"type": "string"},
			"kind":  map[string]any{"type": "string", "enum": []any{"a", "b"}},
			"n":     map[string]any{"type": "integer", "minimum": 1.0, "maximum": 9.0},
			"at":    map[string]any{"type": "string", "format": "date-time"},
			"home":  map[string]any{"type": "string", "format": "uri", "maxLength": 30.0},
			"maybe": map[string]any{"type": []any{"string", "null"}},
			"old":   map[string]any{"type": "string", "nullable": true},
			"tags":  map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"attrs": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
			"any":   map[string]any{"type": "object"},
		}},
		"Closed": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"x": map[string]any{"type": "boolean"}}},
		"More": map[string]any{"allOf": []any{map[string]any{"$ref": "#/components/schemas/Thing"},
			map[string]any{"type": "object", "required": []any{"extra"}, "properties": map[string]any{"extra": map[string]any{"type": "string"}}}}},
	}}}
	s := schemas{doc: doc}
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	good := map[string]any{"id": "x", "kind": "a", "n": 3.0, "at": "2026-01-02T03:04:05Z", "home": "https://x.example",
		"maybe": nil, "old": nil, "tags": []any{"t"}, "attrs": map[string]any{"k": "v"}, "any": map[string]any{"whatever": 1.0}}
	with := func(k string, v any) map[string]any {
		m := maps.Clone(good)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		schema map[string]any
		v      any
		strict bool
		want   string // "" for no problem
	}{
		{"matches", ref("Thing"), good, true, ""},
		{"required missing", ref("Thing"), with("kind", nil), false, `required member "kind"`},
		{"wrong type", ref("Thing"), with("id", 1.0), false, "/id: number, want string"},
		{"not an integer", ref("Thing"), with("n", 1.5), false, "/n: number, want integer"},
		{"below minimum", ref("Thing"), with("n", 0.0), false, "below"},
		{"enum", ref("Thing"), with("kind", "c"), false, "not one of"},
		{"date-time", ref("Thing"), with("at", "yesterday"), false, "date-time"},
		{"uri", ref("Thing"), with("home", "/relative"), false, "absolute URI"},
		{"maxLength", ref("Thing"), with("home", "https://"+strings.Repeat("x", 30)), false, "longer"},
		{"null not allowed", ref("Thing"), map[string]any{"id": nil, "kind": "a"}, false, "/id: null, want string"},
		{"array item", ref("Thing"), with("tags", []any{1.0}), false, "/tags/0"},
		{"additionalProperties schema", ref("Thing"), with("attrs", map[string]any{"k": 1.0}), false, "/attrs/k"},
		{"undescribed member, strict", ref("Thing"), with("surprise", 1.0), true, "/surprise: a member the document does not describe"},
		{"undescribed member, lenient", ref("Thing"), with("surprise", 1.0), false, ""},
		{"closed object", ref("Closed"), map[string]any{"y": true}, false, "/y: a member the schema does not allow"},
		{"allOf joins", ref("More"), with("extra", "e"), true, ""},
		{"allOf required", ref("More"), good, true, `required member "extra"`},
		{"unknown keyword", map[string]any{"type": "string", "pattern": "^a"}, "a", false, `"pattern" is outside the subset`},
		{"dangling ref", ref("Nope"), "a", false, "does not resolve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := s.check("", tc.schema, tc.v, tc.strict)
			switch {
			case tc.want == "" && len(problems) > 0:
				t.Errorf("problems %v, want none", problems)
			case tc.want != "" && !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }):
				t.Errorf("problems %v, want one with %q", problems, tc.want)
			}
		})
	}
}
