// Package providertest runs in-process upstream identity providers for tests
// and the demo: an OIDC issuer with knobs for hostile ID tokens, a SAML IdP
// built on crewjam/saml, and a builder/signer for crafting hostile SAML
// responses. Everything is per instance: no package state, fixed clocks.
package providertest
