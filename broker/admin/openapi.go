package admin

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"sync"
)

// The admin API's OpenAPI 3.1 document is written by hand, one fragment a
// resource (openapi/*.json: its paths and component schemas) over base.json
// (info, security, shared responses and schemas), and put together on first
// use: assembling it at package init cost every process, the CLI's included,
// 1.2 MB of allocations that an idle server kept as uncollected garbage. A test
// holds it to the routes: every routed path and method documented, every
// documented one routed.
//
//go:embed openapi/*.json
var openAPIFragments embed.FS

var openAPI = sync.OnceValue(func() []byte { return mustAssemble(openAPIFragments) })

// mustAssemble merges the fragments into base.json; a path or schema defined
// twice is a programming error.
func mustAssemble(fsys fs.FS) []byte {
	doc, err := assemble(fsys)
	if err != nil {
		panic("admin: OpenAPI document: " + err.Error())
	}
	return doc
}

func assemble(fsys fs.FS) ([]byte, error) {
	read := func(name string) (map[string]any, error) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return m, nil
	}
	doc, err := read("openapi/base.json")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	paths, _ := doc["paths"].(map[string]any)
	comps, _ := doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	for _, name := range slices.Sorted(slices.Values(names)) {
		if name == "openapi/base.json" {
			continue
		}
		frag, err := read(name)
		if err != nil {
			return nil, err
		}
		fp, _ := frag["paths"].(map[string]any)
		fc, _ := frag["components"].(map[string]any)
		fschemas, _ := fc["schemas"].(map[string]any)
		for _, part := range []struct {
			into, from map[string]any
			what       string
		}{{paths, fp, "path"}, {schemas, fschemas, "schema"}} {
			for k := range maps.Keys(part.from) {
				if _, dup := part.into[k]; dup {
					return nil, fmt.Errorf("%s: %s %s is defined twice", name, part.what, k)
				}
				part.into[k] = part.from[k]
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// OpenAPIDocument returns the document (for tests and tools).
func OpenAPIDocument() []byte { return openAPI() }

// HandleOpenAPI serves the document. It is public: it describes the API and
// holds nothing secret.
func (a *Server) HandleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI())
}
