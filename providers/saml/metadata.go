package saml

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse/gatehouse/providers"
)

// MaxMetadataBytes bounds IdP metadata documents.
const MaxMetadataBytes = 1 << 20

// MetadataOptions relax ParseIdPMetadata for tests and the demo.
type MetadataOptions struct {
	// AllowHTTP accepts http:// SSO/SLO locations (loopback IdPs).
	AllowHTTP bool
}

// ParseIdPMetadata parses and validates IdP metadata (the broker fetches it
// through safehttp, or the admin uploads it). It refuses metadata that
// Gatehouse could not safely use: a DOCTYPE, no IDPSSODescriptor, no
// usable signing certificate (SAML-13: never fail open), or an SSO
// location that is not http(s) or has an unknown binding (SAML-50).
// Parsing goes through samlsp.ParseMetadata, which runs crewjam's XML
// round-trip validator (SAML-42).
func ParseIdPMetadata(data []byte, o MetadataOptions) (*crewjam.EntityDescriptor, error) {
	if len(data) > MaxMetadataBytes {
		return nil, providers.Refuse(providers.MetadataTooLarge, nil, strconv.Itoa(MaxMetadataBytes))
	}
	if err := refuseDTD(data); err != nil {
		return nil, providers.Refuse(providers.MetadataDTD, err)
	}
	md, err := samlsp.ParseMetadata(data)
	if err != nil {
		return nil, providers.Refuse(providers.MetadataUnparsable, err, err.Error())
	}
	if err := checkIdPMetadata(md, o.AllowHTTP); err != nil {
		return nil, err
	}
	return md, nil
}

var spaces = regexp.MustCompile(`\s+`)

// checkIdPMetadata is the validation shared by ParseIdPMetadata and
// Config.Validate (which sees metadata built in code too).
func checkIdPMetadata(md *crewjam.EntityDescriptor, allowHTTP bool) error {
	bad := func(code providers.ConfigCode, args ...string) error { return providers.Refuse(code, nil, args...) }
	if md.EntityID == "" {
		return bad(providers.MetadataNoEntityID)
	}
	if len(md.IDPSSODescriptors) == 0 {
		return bad(providers.MetadataNoIDPSSODescriptor)
	}
	certs := 0
	sso := 0
	for _, d := range md.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(spaces.ReplaceAllString(c.Data, ""))
				if err != nil {
					return bad(providers.MetadataUndecodableCert)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return providers.Refuse(providers.MetadataUnparsableCert, err, err.Error())
				}
				if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok && cert.PublicKeyAlgorithm != x509.ECDSA {
					return bad(providers.MetadataUnsupportedKey)
				}
				certs++
			}
		}
		for _, s := range d.SingleSignOnServices {
			if s.Binding != crewjam.HTTPRedirectBinding && s.Binding != crewjam.HTTPPostBinding {
				continue
			}
			if !httpsLocation(s.Location, allowHTTP) {
				return bad(providers.MetadataSSOLocation, s.Location)
			}
			sso++
		}
		for _, s := range d.SingleLogoutServices {
			if !httpsLocation(s.Location, allowHTTP) {
				return bad(providers.MetadataSLOLocation, s.Location)
			}
		}
	}
	if certs == 0 {
		return bad(providers.MetadataNoSigningCert)
	}
	if sso == 0 {
		return bad(providers.MetadataNoSSO)
	}
	return nil
}

// httpsLocation reports whether loc is an https URL (or http, if allowHTTP).
func httpsLocation(loc string, allowHTTP bool) bool {
	u, err := url.Parse(loc)
	return err == nil && u.Host != "" && (u.Scheme == "https" || (allowHTTP && u.Scheme == "http"))
}

// refuseDTD refuses any document type declaration: SAML never needs one,
// and it is where external and recursive entities live (SAML-40, SAML-41).
func refuseDTD(data []byte) error {
	if bytes.Contains(bytes.ToUpper(data), []byte("<!DOCTYPE")) || bytes.Contains(bytes.ToUpper(data), []byte("<!ENTITY")) {
		return fmt.Errorf("document type declarations are not allowed")
	}
	return nil
}

// GenerateKeyPair creates a 2048-bit RSA key and a self-signed certificate
// for an SP, valid for ten years from now (SAML metadata uses certificates
// only as key containers; saml-metadata-interop §2.5.1).
func GenerateKeyPair(commonName string, now time.Time) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// Metadata implements providers.MetadataProvider: this provider's SP
// metadata, to give to the IdP.
func (p *Provider) Metadata() ([]byte, string, error) {
	md := p.sp.Metadata()
	// saml-metadata §2.3.2: validUntil (now + Config.SPMetadataValidity,
	// set on the ServiceProvider) bounds how long an IdP may use this copy;
	// cacheDuration asks it to fetch a fresh one daily well before then.
	md.CacheDuration = SPMetadataCacheDuration
	b, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		return nil, "", err
	}
	return append([]byte(xml.Header), b...), "application/samlmetadata+xml", nil
}
