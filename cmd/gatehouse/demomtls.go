//go:build demo

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// The demo's client certificates (RFC 8705; README "Client certificates (mTLS)"):
// a demo CA, a server certificate for the mTLS listener on port+4, and a client
// certificate for demo-mtls, a confidential app registered with tls_client_auth.
const (
	demoMTLSClientID = "demo-mtls"
	demoMTLSClientDN = "CN=demo-mtls,O=Gatehouse demo"
)

// demoMTLS is what the demo's mTLS setup made: the files in <data-dir>/mtls.
type demoMTLS struct {
	dir        string
	serverCert tls.Certificate
	clientCAs  *x509.CertPool
}

// prepareDemoMTLS creates <dataDir>/mtls with the demo CA, the server and the client
// certificates, once: they are kept across restarts (a client configured with them
// keeps working) and made again only when a file is missing or a certificate has
// expired.
func prepareDemoMTLS(dataDir string) (*demoMTLS, error) {
	dir := filepath.Join(dataDir, "mtls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	m := &demoMTLS{dir: dir}
	server, err := tls.LoadX509KeyPair(m.path("server.crt"), m.path("server.key"))
	caPEM, caErr := os.ReadFile(m.path("ca.crt"))
	_, clientErr := tls.LoadX509KeyPair(m.path("client.crt"), m.path("client.key"))
	if err != nil || caErr != nil || clientErr != nil || time.Now().After(server.Leaf.NotAfter.Add(-24*time.Hour)) {
		if server, caPEM, err = m.generate(); err != nil {
			return nil, fmt.Errorf("demo certificates: %w", err)
		}
	}
	m.serverCert, m.clientCAs = server, x509.NewCertPool()
	if !m.clientCAs.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("demo certificates: the CA file holds no certificate")
	}
	return m, nil
}

func (m *demoMTLS) path(name string) string { return filepath.Join(m.dir, name) }

// generate writes a new CA, server and client certificate (a year each).
func (m *demoMTLS) generate() (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Gatehouse demo CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := writeDemoFile(m.path("ca.crt"), caPEM); err != nil {
		return tls.Certificate{}, nil, err
	}
	issue := func(name string, serial int64, tmpl x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), now.Add(-time.Hour), now.AddDate(1, 0, 0)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writeDemoFile(m.path(name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
			return err
		}
		return writeDemoFile(m.path(name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	}
	if err := issue("server", 2, x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return tls.Certificate{}, nil, err
	}
	if err := issue("client", 3, x509.Certificate{Subject: pkix.Name{CommonName: "demo-mtls", Organization: []string{"Gatehouse demo"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return tls.Certificate{}, nil, err
	}
	server, err := tls.LoadX509KeyPair(m.path("server.crt"), m.path("server.key"))
	return server, caPEM, err
}

// writeDemoFile writes an owner-only file (keys among them).
func writeDemoFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600) // WriteFile keeps an existing file's mode
}

// curl is the one command that gets a certificate-bound token (cnf x5t#S256) as
// demo-mtls from the mTLS listener at base.
func (m *demoMTLS) curl(base string) string {
	return fmt.Sprintf("curl --cacert %s --cert %s --key %s -d grant_type=client_credentials -d client_id=%s %s/oauth2/token",
		m.path("ca.crt"), m.path("client.crt"), m.path("client.key"), demoMTLSClientID, base)
}

// registerDemoMTLSClient creates demo-mtls, or updates it to this version of the
// demo: a confidential app that authenticates with the demo client certificate
// (tls_client_auth, matched on its subject DN) and no secret.
func registerDemoMTLSClient(ctx context.Context, ops *operations.Service) error {
	c := store.Client{ID: demoMTLSClientID, Name: "Demo certificate client (mTLS)",
		GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"notes.read"}, DefaultAudience: demoAPIAudience,
		TokenEndpointAuthMethod: registry.AuthTLSClient, TLSClientAuthSubjectDN: demoMTLSClientDN}
	_, err := ops.GetClient(ctx, c.ID)
	switch {
	case errors.Is(err, operations.ErrNotFound):
		_, err = ops.CreateClient(ctx, demoActor, c)
	case err == nil:
		_, err = ops.UpdateClient(ctx, demoActor, c)
	}
	if err != nil {
		return fmt.Errorf("demo client %s: %w", c.ID, err)
	}
	return nil
}
