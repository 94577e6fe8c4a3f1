package authserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/internal/certtest"
)

// certAuthority is a CA made in the test, ECDSA P-256.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCertAuthority(t testing.TB, name string) *certAuthority {
	t.Helper()
	key := newP256(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certAuthority{cert: cert, key: key}
}

// pool is a trust pool holding only this CA.
func (ca *certAuthority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a client certificate with the template's subject and names. Unset fields
// get a valid client certificate's: valid now, extended key usage clientAuth.
func (ca *certAuthority) issue(t testing.TB, tmpl x509.Certificate) tls.Certificate {
	t.Helper()
	return signLeaf(t, &tmpl, ca.cert, ca.key, newP256(t))
}

// selfSignedCert is a self-signed client certificate of key.
func selfSignedCert(t testing.TB, key *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	return signLeaf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self"}}, nil, key, key)
}

func signLeaf(t testing.TB, tmpl, parent *x509.Certificate, parentKey, key *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// x5tS256 is the certificate's SHA-256 thumbprint, computed apart from the server.
func x5tS256(c tls.Certificate) string { return certtest.Thumbprint(c.Certificate[0]) }

// jwksOfKeys is the JWK Set of the keys' public halves.
func jwksOfKeys(t testing.TB, ks ...*ecdsa.PrivateKey) string {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range ks {
		pub, err := jwk.FromRaw(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		_ = set.AddKey(pub)
	}
	b, _ := json.Marshal(set)
	return string(b)
}

// mtlsServer serves h over TLS, asking every client for a certificate without checking
// it (what Caddy's client_auth { mode request } does): the server's own checks decide.
func mtlsServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// mtlsPost posts form to path over a new TLS connection presenting cert (none if nil),
// with an Authorization header when auth is not "".
func mtlsPost(t testing.TB, ts *httptest.Server, cert *tls.Certificate, path string, form url.Values, auth string) rawReply {
	t.Helper()
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return doRaw(t, &http.Client{Transport: tr}, req)
}
