package operations

import (
	"context"
	"testing"
)

// TestProviderTested: a test sign-in's event names the admin, via how they
// ran it, and the outcome (with the reason of a refusal), nothing more.
func TestProviderTested(t *testing.T) {
	for _, tc := range []struct {
		name, refused string
		want          map[string]any
	}{
		{"succeeded", "", map[string]any{"result": "succeeded", "via": admin.Via}},
		{"refused", "invalid_response", map[string]any{"result": "refused", "reason": "invalid_response", "via": admin.Via}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.must(w.ops.ProviderTested(context.Background(), admin, "corp", tc.refused))
			d := w.audited(t, "provider.tested", "corp")
			if len(d) != len(tc.want) {
				t.Fatalf("details %v, want %v", d, tc.want)
			}
			for k, v := range tc.want {
				if d[k] != v {
					t.Errorf("details %v, want %v", d, tc.want)
				}
			}
		})
	}
}
