package templates

import (
	"fmt"
	"time"
)

// When is a moment a page shows relative to the page's now ("5 minutes ago"),
// with the exact time in the <time> element's datetime (HTML §4.5.14) and its
// title. The phrases are whole, one per plural form, ready for a catalogue.
type When struct {
	At, Now time.Time
}

// ISO is the machine-readable time for datetime.
func (w When) ISO() string { return w.At.UTC().Format(time.RFC3339) }

// Exact is the time in full, for people.
func (w When) Exact() string { return w.At.UTC().Format("2 January 2006, 15:04 UTC") }

// Ago says how long before Now the moment was. A moment after Now (clock skew
// between replicas) reads as "just now".
func (w When) Ago() string {
	d := w.Now.Sub(w.At)
	switch {
	case d < time.Minute:
		return "just now"
	case d < 2*time.Minute:
		return "1 minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d/time.Minute))
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 24*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return "yesterday"
	case d < 31*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	default:
		return fmt.Sprintf("on %s", w.At.UTC().Format("2 January 2006"))
	}
}
