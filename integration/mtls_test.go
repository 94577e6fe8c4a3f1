package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const mtlsSecret = "mtls-secret-0123456789abcdef"

// pemCert is a certificate made in the test, with its key.
type pemCert struct {
	tls  tls.Certificate
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// makeCert signs tmpl with parent (self-signed when nil); unset validity is an hour
// either side of now.
func makeCert(t *testing.T, tmpl *x509.Certificate, parent *pemCert) *pemCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pemCert{tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert: cert, key: key}
}

// write puts the certificate and its key in PEM files and returns their paths.
func (c *pemCert) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// A site that asks for client certificates (client_auth mode request), in a real Caddy:
// a client declared with certificate_bound_tokens gets an access token whose cnf is its
// certificate's SHA-256 thumbprint, and none without a certificate; a tls_client_auth
// client authenticates with a certificate from the CA named by
// tls_client_auth_trusted_ca, and with no other.
func TestMutualTLSThroughCaddy(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		dir := t.TempDir()
		server := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil)
		serverCert, serverKey := server.write(t, dir, "server")
		ca := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Clients CA"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}, nil)
		caFile, _ := ca.write(t, dir, "ca")
		clientTmpl := func() *x509.Certificate {
			return &x509.Certificate{Subject: pkix.Name{CommonName: "billing", Organization: []string{"Example"}},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		}
		fromCA := makeCert(t, clientTmpl(), ca)
		selfSigned := makeCert(t, clientTmpl(), nil)

		t.Setenv("IT_MTLS_SECRET", mtlsSecret)
		// Both sites are the same server on one store (the plain HTTP one serves the guard
		// its JWKS), so they declare the same clients.
		clients := `client bound {
			secret {env.IT_MTLS_SECRET}
			grants client_credentials
			certificate_bound_tokens
		}
		client billing {
			auth_method tls_client_auth
			tls_client_auth_subject_dn "CN=billing, O=Example"
			grants client_credentials
		}`
		port := freePort(t)
		jport := freePort(t)
		base := fmt.Sprintf("https://localhost:%d", port)
		startCaddy(t, fmt.Sprintf(`{
	admin off
	auto_https off
}
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		%s
	}
}
%s {
	handle /api/* {
		oauth_guard {
			jwks http://127.0.0.1:%d/.well-known/jwks.json
			issuer %s
		}
		respond "api ok"
	}
	tls %q %q {
		client_auth {
			mode request
		}
	}
	oauth_server {
		issuer %s
		%s
		tls_client_auth_trusted_ca %q
		%s
	}
}
`, jport, base, sc.directive(), clients, base, jport, base, serverCert, serverKey, base, sc.directive(), caFile, clients))

		roots := x509.NewCertPool()
		roots.AddCert(server.cert)
		// send sends req over TLS presenting cert (no certificate when nil).
		send := func(cert *pemCert, req *http.Request) *http.Response {
			t.Helper()
			tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if cert == nil {
						return &tls.Certificate{}, nil
					}
					return &cert.tls, nil
				}}}
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		post := func(cert *pemCert, form url.Values, id, secret string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if secret != "" {
				req.SetBasicAuth(id, secret)
			}
			resp := send(cert, req)
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body
		}
		cc := url.Values{"grant_type": {"client_credentials"}}

		status, body := post(selfSigned, cc, "bound", mtlsSecret)
		if status != http.StatusOK {
			t.Fatalf("bound client: %d %v", status, body)
		}
		sum := sha256.Sum256(selfSigned.cert.Raw)
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if cnf := payloadOf(t, body["access_token"].(string))["cnf"]; fmt.Sprint(cnf) != fmt.Sprint(map[string]any{"x5t#S256": want}) {
			t.Fatalf("cnf = %v, want x5t#S256 %s", cnf, want)
		}
		token := body["access_token"].(string)
		get := func(cert *pemCert) int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, base+"/api/x", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp := send(cert, req)
			resp.Body.Close()
			return resp.StatusCode
		}
		if got := get(selfSigned); got != 200 {
			t.Fatalf("guard with the token's certificate: %d", got)
		}
		if got := get(fromCA); got != 401 {
			t.Fatalf("guard with another certificate: %d", got)
		}
		if got := get(nil); got != 401 {
			t.Fatalf("guard without a certificate: %d", got)
		}
		if status, body := post(nil, cc, "bound", mtlsSecret); status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("bound client without a certificate: %d %v", status, body)
		}

		withID := url.Values{"grant_type": {"client_credentials"}, "client_id": {"billing"}}
		if status, body := post(fromCA, withID, "", ""); status != http.StatusOK || payloadOf(t, body["access_token"].(string))["client_id"] != "billing" {
			t.Fatalf("tls_client_auth with the CA's certificate: %d %v", status, body)
		}
		for name, cert := range map[string]*pemCert{"self-signed, same subject": selfSigned, "none": nil} {
			if status, body := post(cert, withID, "", ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("tls_client_auth, certificate %s: %d %v", name, status, body)
			}
		}
	})
}

// payloadOf is a JWT's claims, unchecked (the server's own tests check signatures).
func payloadOf(t *testing.T, token string) map[string]any {
	t.Helper()
	_, claims := jwtClaims(t, token)
	return claims
}
