package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// intermediate is a CA signed by ca.
func (ca *certAuthority) intermediate(t *testing.T, name string) *certAuthority {
	t.Helper()
	key := newP256(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certAuthority{cert: cert, key: key}
}

func TestMTLSTLSClientAuthFollowsTheChainTheClientSends(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		name := pkix.Name{CommonName: "mtls-app", Organization: []string{"Example Corp"}, Country: []string{"DE"}}
		mid := m.ca.intermediate(t, "Issuing CA")
		leaf := mid.issue(t, x509.Certificate{Subject: name})
		withChain := leaf
		withChain.Certificate = append(withChain.Certificate[:1:1], mid.cert.Raw)
		if r := mtlsPost(t, m.tls, &withChain, authserver.PathToken, ccWithID("mtls"), ""); r.Status != http.StatusOK {
			t.Fatalf("leaf and intermediate: %d %s", r.Status, r.Raw)
		}
		// Without the intermediate the leaf does not chain to the trusted CA.
		if r := mtlsPost(t, m.tls, &leaf, authserver.PathToken, ccWithID("mtls"), ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("leaf alone: %d %s", r.Status, r.Raw)
		}
		// A certificate without an extended key usage may be used for anything (RFC 5280
		// §4.2.1.12), client authentication included.
		noEKU := m.ca.issue(t, x509.Certificate{Subject: name, ExtKeyUsage: []x509.ExtKeyUsage{}})
		if r := mtlsPost(t, m.tls, &noEKU, authserver.PathToken, ccWithID("mtls"), ""); r.Status != http.StatusOK {
			t.Fatalf("no extended key usage: %d %s", r.Status, r.Raw)
		}
	})
}

func TestMTLSCertificateClientMayNotSendAnAssertion(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		k := newAssertionKey(t, "ES256", "k1")
		now := time.Now().UTC()
		// Even a key the client registered: a self_signed client's JWK Set is for its
		// certificate, not for assertions.
		if err := m.st.UpsertClient(context.Background(), &store.Client{ID: "selfsigned", Name: "Self-signed",
			TokenAuthMethod: store.TokenAuthSelfSignedTLSClient, JWKS: jwksOf(t, k), Grants: []string{"client_credentials"},
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		before := m.dump()
		for _, id := range []string{"mtls", "selfsigned"} {
			form := assertionForm(k.sign(t, claimsFor(id, tokenAud)), ccWithID(id))
			r := mtlsPost(t, m.tls, &m.good, authserver.PathToken, form, "")
			if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
				t.Errorf("%s with an assertion: %d %s", id, r.Status, r.Raw)
			}
		}
		if m.dump() != before {
			t.Fatal("a refused request changed the store")
		}
	})
}

func TestMTLSRefusalReasonIsLoggedForTheOperator(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		core, logs := observer.New(zap.DebugLevel)
		cfg := m.cfg
		cfg.Logger = zap.New(core)
		srv, err := authserver.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := mtlsServer(t, srv)
		expired := m.ca.issue(t, x509.Certificate{Subject: m.good.Leaf.Subject, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		if r := mtlsPost(t, ts, &expired, authserver.PathToken, ccWithID("mtls"), ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("expired: %d %s", r.Status, r.Raw)
		}
		found := false
		for _, e := range logs.FilterMessage("TLS client certificate authentication refused").All() {
			fields := e.ContextMap()
			found = found || (e.Level == zap.DebugLevel && fields["client_id"] == "mtls" && strings.Contains(fields["reason"].(string), "expired"))
		}
		if !found {
			t.Fatalf("no debug line naming the client and the reason: %v", logs.All())
		}
	})
}

func TestMTLSClientAuthenticatesAtThePushedAndDeviceAuthorizationEndpoints(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		now := time.Now().UTC()
		if err := m.st.CreateClient(context.Background(), &store.Client{ID: "mtls-web", Name: "mTLS web", TokenAuthMethod: store.TokenAuthTLSClient,
			TLSClientAuthAttribute: store.TLSClientAuthSubjectDN, TLSClientAuthValue: mtlsSubject, RedirectURIs: []string{webCB},
			Grants: []string{"authorization_code", authserver.GrantDeviceCode}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		stranger := selfSignedCert(t, newP256(t))
		for _, e := range []struct {
			path   string
			form   url.Values
			status int
			field  string
		}{
			{authserver.PathPAR, url.Values{"response_type": {"code"}, "client_id": {"mtls-web"}, "redirect_uri": {webCB}, "scope": {"orders:read"}},
				http.StatusCreated, "request_uri"},
			{authserver.PathDeviceAuthorization, url.Values{"client_id": {"mtls-web"}, "scope": {"orders:read"}}, http.StatusOK, "device_code"},
		} {
			before := m.dump()
			for name, c := range map[string]*tls.Certificate{"another certificate": &stranger, "none": nil} {
				if r := mtlsPost(t, m.tls, c, e.path, e.form, ""); r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
					t.Errorf("%s, %s: %d %s", e.path, name, r.Status, r.Raw)
				}
			}
			if m.dump() != before {
				t.Fatalf("%s: a refused request changed the store", e.path)
			}
			if r := mtlsPost(t, m.tls, &m.good, e.path, e.form, ""); r.Status != e.status || r.Body[e.field] == nil {
				t.Fatalf("%s with the client's certificate: %d %s", e.path, r.Status, r.Raw)
			}
		}
	})
}

func TestMTLSConfidentialClientsRefreshTokenIsNotBoundButItsNewTokensAre(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		app, err := m.st.GetClient(context.Background(), "app")
		if err != nil {
			t.Fatal(err)
		}
		app.CertBoundTokens = true
		if err := m.st.UpsertClient(context.Background(), app); err != nil {
			t.Fatal(err)
		}
		certA, certB := selfSignedCert(t, newP256(t)), selfSignedCert(t, newP256(t))
		r := mtlsPost(t, m.tls, &certA, authserver.PathToken, url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, basic("app", pwSecret))
		if r.Status != http.StatusOK {
			t.Fatalf("password grant: %d %s", r.Status, r.Raw)
		}
		refresh := r.Body["refresh_token"].(string)
		if in := m.introspect(refresh, basic("rs", rsSecret)); in.Body["active"] != true || in.Body["cnf"] != nil {
			t.Fatalf("a confidential client's refresh token is bound: %s", in.Raw)
		}
		r = mtlsPost(t, m.tls, &certB, authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, basic("app", pwSecret))
		if r.Status != http.StatusOK {
			t.Fatalf("refresh with another certificate: %d %s", r.Status, r.Raw)
		}
		if _, cl := m.claims(r.Body["access_token"].(string)); cl["cnf"].(map[string]any)["x5t#S256"] != x5tS256(certB) {
			t.Fatalf("refreshed token's cnf %v, want the refresh request's certificate", cl["cnf"])
		}
	})
}

func TestMTLSSelfSignedKeyLookupComparesAtMostFourKeysOfOneAlgorithm(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		keys := append(manyKeys(t, 3), m.selfKey)
		now := time.Now().UTC()
		for id, set := range map[string]string{"four": jwksOfKeys(t, keys...), "five": jwksOfKeys(t, append(manyKeys(t, 1), keys...)...)} {
			if err := m.st.CreateClient(context.Background(), &store.Client{ID: id, Name: id, TokenAuthMethod: store.TokenAuthSelfSignedTLSClient,
				JWKS: set, Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		mine := selfSignedCert(t, m.selfKey)
		if r := mtlsPost(t, m.tls, &mine, authserver.PathToken, ccWithID("four"), ""); r.Status != http.StatusOK {
			t.Fatalf("four P-256 keys: %d %s", r.Status, r.Raw)
		}
		if r := mtlsPost(t, m.tls, &mine, authserver.PathToken, ccWithID("five"), ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("five P-256 keys: %d %s", r.Status, r.Raw)
		}
	})
}

func manyKeys(t *testing.T, n int) []*ecdsa.PrivateKey {
	var out []*ecdsa.PrivateKey
	for range n {
		out = append(out, newP256(t))
	}
	return out
}
