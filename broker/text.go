package broker

import "unicode/utf8"

// truncate shortens untrusted text (from clients, upstream IdPs, browsers) to at
// most n bytes before it is stored, logged or audited, without splitting a
// UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
