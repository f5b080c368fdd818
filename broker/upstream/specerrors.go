package upstream

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// The problems of one providers-file entry, in the words of the file: each
// names the field as written there ("oidc.client_id"), never a Go type or
// field, and a field at the wrong level says where it belongs.

// specFields is every field path a Spec may hold ("oidc.client_id",
// "saml.mapping.email", "oidc.role_rules[].claim"), with its Go type, derived from the json tags so that
// a setting added to Spec or its settings is known here at once.
var specFields = func() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for name, ft := range jsonFields(t) {
			path := prefix + name
			out[path] = ft
			if st := structOf(ft); st != nil && ft.Kind() == reflect.Slice {
				walk(path+"[].", st)
			} else if st != nil {
				walk(path+".", st)
			}
		}
	}
	walk("", reflect.TypeFor[Spec]())
	return out
}()

// structOf is the struct type t holds (itself, through a pointer, or as a
// slice's element), or nil for anything with its own JSON form.
func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.Implements(reflect.TypeFor[json.Unmarshaler]()) ||
		reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) || t == reflect.TypeFor[json.RawMessage]() {
		return nil
	}
	if t.PkgPath() == "time" {
		return nil
	}
	return t
}

// jsonFields are the JSON names of t's fields, embedded structs flattened as
// encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, ft := range jsonFields(f.Type) {
				out[n] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// specProblems checks one entry's JSON against Spec field by field: unknown
// fields (with where they belong, or the near miss meant) and values of the
// wrong type, each with its path. It reports every problem, not the first.
func specProblems(raw json.RawMessage) []string {
	var problems []string
	var walk func(prefix string, t reflect.Type, raw json.RawMessage)
	walk = func(prefix string, t reflect.Type, raw json.RawMessage) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			problems = append(problems, fmt.Sprintf("%s: want an object of settings, got %s", strings.TrimSuffix(prefix, "."), jsonKind(raw)))
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := obj[k]
			ft, ok := fields[k]
			if !ok {
				problems = append(problems, unknownField(prefix, k, fields))
				continue
			}
			path := prefix + k
			if string(v) == "null" {
				continue
			}
			st := structOf(ft)
			switch {
			case st != nil && ft.Kind() == reflect.Slice:
				var items []json.RawMessage
				if err := json.Unmarshal(v, &items); err != nil {
					problems = append(problems, fmt.Sprintf("%s: want a list, got %s", path, jsonKind(v)))
					continue
				}
				for i, it := range items {
					walk(fmt.Sprintf("%s[%d].", path, i), st, it)
				}
			case st != nil:
				walk(path+".", st, v)
			default:
				if err := json.Unmarshal(v, reflect.New(ft).Interface()); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %s", path, typeProblem(ft, v, err)))
				}
			}
		}
	}
	walk("", reflect.TypeFor[Spec](), raw)
	return problems
}

// unknownField names field k found at prefix and suggests the right place:
// the same name at another level ("client_id belongs in oidc: oidc.client_id"),
// else a near miss among the fields of this level.
func unknownField(prefix, k string, here map[string]reflect.Type) string {
	msg := fmt.Sprintf("unknown field %q", prefix+k)
	if prefix == "" {
		msg = fmt.Sprintf("unknown field %q at the top level of the entry", k)
	}
	var elsewhere []string
	for path := range specFields {
		if path == k || strings.HasSuffix(path, "."+k) {
			if !strings.Contains(path, "[") {
				elsewhere = append(elsewhere, path)
			}
		}
	}
	sort.Strings(elsewhere)
	if len(elsewhere) > 0 {
		return msg + fmt.Sprintf(": it belongs at %s", strings.Join(elsewhere, " or "))
	}
	var near []string
	for name := range here {
		if editDistance(strings.ToLower(k), name) <= 2 || strings.ReplaceAll(strings.ToLower(k), "-", "_") == name {
			near = append(near, prefix+name)
		}
	}
	sort.Strings(near)
	if len(near) > 0 {
		return msg + fmt.Sprintf(": did you mean %s?", strings.Join(near, " or "))
	}
	names := make([]string, 0, len(here))
	for name := range here {
		names = append(names, name)
	}
	sort.Strings(names)
	return msg + "; fields here: " + strings.Join(names, ", ")
}

// typeProblem says what a value of type t looks like, and what was given.
func typeProblem(t reflect.Type, v json.RawMessage, err error) string {
	want := ""
	switch {
	case t == reflect.TypeFor[Duration]():
		return fmt.Sprintf("want a duration like \"6h\" or \"720h\", got %s", string(v))
	case t.Kind() == reflect.String:
		want = "a string"
	case t.Kind() == reflect.Bool:
		want = "true or false"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		want = "a list of strings"
	case t.Kind() == reflect.Map:
		want = "an object of name: value"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		want = "a number"
	default:
		return err.Error()
	}
	return fmt.Sprintf("want %s, got %s", want, jsonKind(v))
}

// jsonKind names the kind of a JSON value, for messages.
func jsonKind(v json.RawMessage) string {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return "invalid JSON"
	}
	switch x := x.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// editDistance is the Levenshtein distance of a and b (short field names).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev = cur
	}
	return prev[len(b)]
}

// SpecFieldPaths is every field a providers-file entry may hold, as written
// in the file ("oidc.client_id"), sorted: the reference documentation is
// checked against it.
func SpecFieldPaths() []string {
	out := make([]string, 0, len(specFields))
	for p := range specFields {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
