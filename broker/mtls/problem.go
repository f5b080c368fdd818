package mtls

import "fmt"

// ProblemKind is what is wrong with a registered certificate subject. The
// broker says each kind in the page's language; this package, which broker/rs
// shares with the APIs behind Gatehouse, has only the English (Problem.Error).
type ProblemKind int

// The kinds of Problem. Value is what was registered; Detail is named where a
// kind has one.
const (
	NotOneSubject       ProblemKind = iota + 1 // not exactly one subject field set (RFC 8705 §2.1.2)
	NotAnIP                                    // the IP SAN is not an IP address
	DNNoEquals                                 // an attribute of the DN has no '='
	DNUnknownType                              // Detail: the attribute type, neither a known name nor an OID
	DNHexValue                                 // a #hex (BER) value, which is not supported
	DNEndsWithBackslash                        // the DN ends with an escape's '\'
	DNBadEscape                                // a '\' followed by neither a special character nor two hex digits
	DNUnescaped                                // Detail: the character, quoted as Go quotes a rune ('<'), that must be escaped
	DNNoValue                                  // Detail: the attribute type without a value
)

// Problem is what is wrong with a registered subject, or with a DN string
// ParseDN refused.
type Problem struct {
	Kind   ProblemKind
	Value  string // the subject DN or IP SAN as registered ("" for NotOneSubject)
	Detail string
}

// Error is the problem in English, as the command line, the admin API and the
// logs give it.
func (p *Problem) Error() string {
	switch p.Kind {
	case NotOneSubject:
		return "tls_client_auth needs exactly one certificate subject: a subject DN, or a DNS, URI, IP or email SAN"
	case NotAnIP:
		return fmt.Sprintf("certificate IP SAN %q is not an IP address", p.Value)
	case DNNoEquals:
		return fmt.Sprintf("subject DN %q: an attribute has no '='", p.Value)
	case DNUnknownType:
		return fmt.Sprintf("subject DN %q: unknown attribute type %q", p.Value, p.Detail)
	case DNHexValue:
		return fmt.Sprintf("subject DN %q: #hex values are not supported", p.Value)
	case DNEndsWithBackslash:
		return fmt.Sprintf("subject DN %q ends with '\\'", p.Value)
	case DNBadEscape:
		return fmt.Sprintf("subject DN %q: bad escape", p.Value)
	case DNUnescaped:
		return fmt.Sprintf("subject DN %q: %s must be escaped", p.Value, p.Detail)
	case DNNoValue:
		return fmt.Sprintf("subject DN %q: %s has no value", p.Value, p.Detail)
	}
	return fmt.Sprintf("certificate subject problem %d", int(p.Kind))
}
