// Package providertest runs in-process upstream identity providers for tests
// and the demo: an OIDC issuer with knobs for hostile ID tokens, a SAML IdP
// built on crewjam/saml, and a builder/signer for crafting hostile SAML
// responses. Everything is per instance: no package state, fixed clocks.
package providertest

import (
	"net"
	"net/http"
	"net/http/httptest"
)

// serverOn starts an httptest server for h on addr when addr is set and free,
// else on any free loopback port, as httptest.NewServer does.
func serverOn(addr string, h http.Handler) *httptest.Server {
	if addr == "" {
		return httptest.NewServer(h)
	}
	srv := httptest.NewUnstartedServer(h)
	if l, err := net.Listen("tcp", addr); err == nil {
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	return srv
}
