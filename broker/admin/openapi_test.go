package admin

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestOpenAPIFragmentsDoNotOverlap: the fragments are merged into base.json,
// and a path or schema two fragments both define is refused, not overwritten.
func TestOpenAPIFragmentsDoNotOverlap(t *testing.T) {
	base := `{"openapi":"3.1.0","paths":{},"components":{"schemas":{"Problem":{}}}}`
	ok := fstest.MapFS{
		"openapi/base.json": {Data: []byte(base)},
		"openapi/a.json":    {Data: []byte(`{"paths":{"/a":{}},"components":{"schemas":{"A":{}}}}`)},
		"openapi/b.json":    {Data: []byte(`{"paths":{"/b":{}}}`)},
	}
	doc, err := assemble(ok)
	if err != nil || !strings.Contains(string(doc), `"/a"`) || !strings.Contains(string(doc), `"/b"`) || !strings.Contains(string(doc), `"A"`) {
		t.Fatalf("assemble: %v\n%s", err, doc)
	}
	for name, frag := range map[string]string{
		"path":   `{"paths":{"/a":{}}}`,
		"schema": `{"components":{"schemas":{"Problem":{}}}}`,
	} {
		bad := fstest.MapFS{"openapi/base.json": ok["openapi/base.json"], "openapi/a.json": ok["openapi/a.json"],
			"openapi/c.json": {Data: []byte(frag)}}
		if _, err := assemble(bad); err == nil || !strings.Contains(err.Error(), "defined twice") {
			t.Errorf("a %s defined twice: %v", name, err)
		}
	}
}
