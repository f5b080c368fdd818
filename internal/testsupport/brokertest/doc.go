// Package brokertest holds the end-to-end harnesses every capability's tests
// share: the whole wired broker on httptest with real in-process IdPs (SigninEnv),
// the OAuth browser flows on top of it (AuthzEnv), and the SECURITY.md §4 OAuth
// fixture (OAuthFixture). Only tests import it; it is not part of the binary.
package brokertest
