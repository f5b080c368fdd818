package templates

import (
	"context"
	"time"
)

// When is a moment a page shows relative to the page's now ("5 minutes ago"),
// with the exact time in the <time> element's datetime (HTML §4.5.14) and its
// title. The phrases are catalogue entries with their plural forms.
type When struct {
	At, Now time.Time
}

// ISO is the machine-readable time for datetime.
func (w When) ISO() string { return w.At.UTC().Format(time.RFC3339) }

// Exact is the time in full, for people, in ctx's language.
func (w When) Exact(ctx context.Context) string { return DateTime(ctx, w.At) }

// Ago says how long before Now the moment was. A moment after Now (clock skew
// between replicas) reads as "just now".
func (w When) Ago(ctx context.Context) string {
	d := w.Now.Sub(w.At)
	switch {
	case d < time.Minute:
		return T(ctx, "just now")
	case d < time.Hour:
		return T(ctx, "%d minutes ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return T(ctx, "%d hours ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return T(ctx, "yesterday")
	case d < 31*24*time.Hour:
		return T(ctx, "%d days ago", int(d/(24*time.Hour)))
	default:
		return T(ctx, "on %s", Date(ctx, w.At))
	}
}
