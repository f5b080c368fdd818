package signin_test

import (
	"crypto/x509"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// base64Run is any run of base64 long enough to hold key material.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/=\s]{200,}`)

// TestADM13_SPMetadataPublicOnly: the SP metadata Gatehouse publishes for a
// SAML provider (signing key, and the encryption key when assertions must be
// encrypted) holds certificates and nothing that parses as a private key
// (SECURITY.md ADM-13; the JWKS half is TestASJWT11_JWKSHygiene).
func TestADM13_SPMetadataPublicOnly(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("plain", "plain.example", false, brokertest.Carol())
	e.AddSAML("enc", "enc.example", false, brokertest.Carol(), func(s *upstream.Spec) { s.SAML.RequireEncryptedAssertions = true })
	for _, id := range []string{"plain", "enc"} {
		md := spMetadata(e, id)
		if strings.Contains(strings.ToUpper(md), "PRIVATE") {
			t.Errorf("%s: metadata mentions a private key:\n%s", id, md)
		}
		certs := 0
		for _, run := range base64Run.FindAllString(md, -1) {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(run), ""))
			if err != nil {
				continue
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
				t.Errorf("%s: metadata holds a PKCS#8 private key", id)
			}
			if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
				t.Errorf("%s: metadata holds a PKCS#1 private key", id)
			}
			if _, err := x509.ParseECPrivateKey(der); err == nil {
				t.Errorf("%s: metadata holds an EC private key", id)
			}
			if _, err := x509.ParseCertificate(der); err == nil {
				certs++
			}
		}
		// The check above saw the key material: the certificates were found.
		if certs == 0 {
			t.Errorf("%s: no certificate found in the metadata; the scan proves nothing:\n%s", id, md)
		}
	}
}
