package templates

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Msg is a sentence the broker composes for a page in no language yet: a
// catalogue key and what fills its verbs. Pages say it with In, in their
// language. An argument may itself be a Msg, a List, a Moment, a Span or a
// ShortDay, each said in the same language; anything else is shown as it is
// (a name).
type Msg struct {
	Key  string
	Args []any
}

// M is Msg{key, args}. The key is a literal, so the catalogue tests find it.
func M(key string, args ...any) Msg { return Msg{Key: key, Args: args} }

// In says m in ctx's language; the zero Msg says nothing.
func (m Msg) In(ctx context.Context) string {
	if m.Key == "" {
		return ""
	}
	args := make([]any, len(m.Args))
	for i, a := range m.Args {
		switch a := a.(type) {
		case Msg:
			args[i] = a.In(ctx)
		case List:
			args[i] = a.In(ctx)
		case Moment:
			args[i] = a.In(ctx)
		case Span:
			args[i] = a.In(ctx)
		case ShortDay:
			args[i] = a.In(ctx)
		default:
			args[i] = a
		}
	}
	return T(ctx, m.Key, args...)
}

// English says m in English, whatever the page's language: the text the
// command line, the admin API and errors' messages give.
func (m Msg) English() string { return m.In(context.Background()) }

// English says each of msgs in English (Msg.English).
func English(msgs []Msg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.English()
	}
	return out
}

// List is things joined for a sentence: "a, b and c".
type List []string

// In joins l with the language's "and".
func (l List) In(ctx context.Context) string {
	switch len(l) {
	case 0:
		return ""
	case 1:
		return l[0]
	}
	return T(ctx, "%s and %s", strings.Join(l[:len(l)-1], ", "), l[len(l)-1])
}

var (
	dayAbbr   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	monthAbbr = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// Moment is a time said short, to the minute in UTC: "Fri 12 Dec, 17:00 UTC",
// with the year when it is not Now's; the zero time is "never".
type Moment struct{ At, Now time.Time }

// In says m in ctx's language.
func (m Moment) In(ctx context.Context) string {
	if m.At.IsZero() {
		return T(ctx, "never")
	}
	t := m.At.UTC()
	day, month := T(ctx, dayAbbr[t.Weekday()]), T(ctx, monthAbbr[t.Month()-1])
	if t.Year() != m.Now.UTC().Year() {
		return T(ctx, "%[1]s %[2]s %[3]s %[4]s, %[5]s UTC", day, strconv.Itoa(t.Day()), month, strconv.Itoa(t.Year()), t.Format("15:04"))
	}
	return T(ctx, "%[1]s %[2]s %[3]s, %[4]s UTC", day, strconv.Itoa(t.Day()), month, t.Format("15:04"))
}

// Span is a length of time in whole days or hours when it is one ("7 days",
// "12 hours"), with the language's plural forms.
type Span time.Duration

// In says s in ctx's language.
func (s Span) In(ctx context.Context) string {
	d := time.Duration(s)
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return T(ctx, "%d days", int(d/(24*time.Hour)))
	case d >= time.Hour && d%time.Hour == 0:
		return T(ctx, "%d hours", int(d/time.Hour))
	}
	return d.String()
}

// ShortDay is a day of the month said short, in UTC: "7 Dec", "7 Rhag" (a
// chart's axis and its bars).
type ShortDay time.Time

// In says d in ctx's language.
func (d ShortDay) In(ctx context.Context) string {
	t := time.Time(d).UTC()
	return T(ctx, "%[1]s %[2]s", strconv.Itoa(t.Day()), T(ctx, monthAbbr[t.Month()-1]))
}
