package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// mtlsSubject is the subject the tls_client_auth client "mtls" is registered with,
// written differently from the certificate's own (spacing, case): names are compared
// parsed, not as strings.
const mtlsSubject = "CN=mtls-app, O=example  corp,C=de"

// mtlsSetup is a fixture whose server trusts ca for tls_client_auth, served over TLS
// too, with certificate clients in its store.
type mtlsSetup struct {
	*fixture
	tls     *httptest.Server
	ca      *certAuthority
	good    tls.Certificate // the certificate of "mtls": subject CN=mtls-app,O=Example Corp,C=DE
	selfKey *ecdsa.PrivateKey
}

func eachMTLSStore(t *testing.T, body func(t *testing.T, m *mtlsSetup)) {
	ca := newCertAuthority(t, "Test Client CA")
	good := ca.issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "mtls-app", Organization: []string{"Example Corp"}, Country: []string{"DE"}}})
	selfKey := newP256(t)
	eachStoreWith(t, func(c *authserver.Config) { c.TLSClientAuthCAs = ca.pool() }, func(t *testing.T, f *fixture) {
		now := time.Now().UTC()
		cc := []string{"client_credentials"}
		for _, c := range []*store.Client{
			{ID: "mtls", Name: "mTLS", TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: store.TLSClientAuthSubjectDN,
				TLSClientAuthValue: mtlsSubject, Grants: cc, Introspect: true},
			{ID: "mtls-dns", Name: "mTLS DNS", TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: store.TLSClientAuthSANDNS,
				TLSClientAuthValue: "app.example.com", Grants: cc},
			{ID: "mtls-uri", Name: "mTLS URI", TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: store.TLSClientAuthSANURI,
				TLSClientAuthValue: "spiffe://example.org/app", Grants: cc},
			{ID: "mtls-ip", Name: "mTLS IP", TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: store.TLSClientAuthSANIP,
				TLSClientAuthValue: "192.0.2.7", Grants: cc},
			{ID: "mtls-email", Name: "mTLS email", TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: store.TLSClientAuthSANEmail,
				TLSClientAuthValue: "app@Example.com", Grants: cc},
			{ID: "selfsigned", Name: "Self-signed", TokenAuthMethod: store.TokenAuthSelfSignedTLSClient, JWKS: jwksOfKeys(t, selfKey),
				Grants: cc, Introspect: true},
			// A client with a secret whose tokens are bound to its certificate.
			{ID: "bound", Name: "Bound", SecretHash: authserver.HashSecret(ccSecret), Grants: cc, CertBoundTokens: true},
		} {
			c.CreatedAt, c.UpdatedAt = now, now
			if err := f.st.CreateClient(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		body(t, &mtlsSetup{fixture: f, tls: mtlsServer(t, f.srv), ca: ca, good: good, selfKey: selfKey})
	})
}

func ccWithID(id string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
}

func TestMTLSCertificateBoundTokenCarriesTheCertificateThumbprint(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		cert := selfSignedCert(t, newP256(t)) // any certificate binds: TLS proved its key
		r := mtlsPost(t, m.tls, &cert, authserver.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("bound", ccSecret))
		if r.Status != http.StatusOK {
			t.Fatalf("token: %d %s", r.Status, r.Raw)
		}
		if r.Body["token_type"] != "Bearer" {
			t.Errorf("token_type %v: a certificate-bound token is still used with the Bearer scheme (RFC 8705 §3)", r.Body["token_type"])
		}
		access := r.Body["access_token"].(string)
		_, cl := m.claims(access)
		cnf, _ := cl["cnf"].(map[string]any)
		if cnf == nil || cnf["x5t#S256"] != x5tS256(cert) || len(cnf) != 1 {
			t.Fatalf("cnf = %v, want x5t#S256 %s", cl["cnf"], x5tS256(cert))
		}
		in := m.introspect(access, basic("rs", rsSecret))
		icnf, _ := in.Body["cnf"].(map[string]any)
		if in.Body["active"] != true || icnf == nil || icnf["x5t#S256"] != x5tS256(cert) {
			t.Fatalf("introspection: %s", in.Raw)
		}

		// A client whose tokens are not bound gets no cnf, certificate or not.
		r = mtlsPost(t, m.tls, &cert, authserver.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("svc", ccSecret))
		if _, cl := m.claims(r.Body["access_token"].(string)); r.Status != http.StatusOK || cl["cnf"] != nil {
			t.Fatalf("unbound client: %d, cnf %v", r.Status, cl["cnf"])
		}
	})
}

func TestMTLSCertificateBoundClientWithoutACertificateIsRefusedAndNothingIsStored(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		before := m.dump()
		for name, r := range map[string]rawReply{
			"TLS without a certificate": mtlsPost(t, m.tls, nil, authserver.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("bound", ccSecret)),
			"plain http":                send(t, m.ts.URL, authserver.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("bound", ccSecret)),
		} {
			if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" || r.Body["error_description"] == "" {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		if after := m.dump(); after != before {
			t.Fatal("a refused request changed the store")
		}
	})
}

func TestMTLSPublicClientsBoundRefreshTokenNeedsTheSameCertificate(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		ctx := context.Background()
		s := browserSite(t, m.fixture, nil)
		spa, err := m.st.GetClient(ctx, "spa")
		if err != nil {
			t.Fatal(err)
		}
		setBound := func(on bool) {
			spa.CertBoundTokens = on
			if err := m.st.UpsertClient(ctx, spa); err != nil {
				t.Fatal(err)
			}
		}
		setBound(true)
		code := s.browser(t).codeFor(spaQuery())
		certA, certB := selfSignedCert(t, newP256(t)), selfSignedCert(t, newP256(t))
		r := mtlsPost(t, m.tls, &certA, authserver.PathToken, url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"},
			"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}}, "")
		if r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %s", r.Status, r.Raw)
		}
		refresh := r.Body["refresh_token"].(string)
		in := m.introspect(refresh, basic("rs", rsSecret))
		if cnf, _ := in.Body["cnf"].(map[string]any); cnf == nil || cnf["x5t#S256"] != x5tS256(certA) {
			t.Fatalf("introspection of the refresh token: %s", in.Raw)
		}
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {refresh}}

		before := m.dump()
		if r := mtlsPost(t, m.tls, &certB, authserver.PathToken, form, ""); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
			t.Errorf("another certificate: %d %s", r.Status, r.Raw)
		}
		// Without one, the client's binding refuses the request first...
		if r := mtlsPost(t, m.tls, nil, authserver.PathToken, form, ""); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" {
			t.Errorf("no certificate: %d %s", r.Status, r.Raw)
		}
		// ...and once the client no longer binds new tokens, the stored binding still
		// holds the old refresh token to its certificate.
		setBound(false)
		before = m.dump()
		for name, r := range map[string]rawReply{
			"no certificate":      mtlsPost(t, m.tls, nil, authserver.PathToken, form, ""),
			"plain http":          send(t, m.ts.URL, authserver.PathToken, form, ""),
			"another certificate": mtlsPost(t, m.tls, &certB, authserver.PathToken, form, ""),
		} {
			if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
				t.Errorf("unbound client now, %s: %d %s", name, r.Status, r.Raw)
			}
		}
		if m.dump() != before {
			t.Fatal("a refused refresh changed the store")
		}
		setBound(true)
		r = mtlsPost(t, m.tls, &certA, authserver.PathToken, form, "")
		if r.Status != http.StatusOK {
			t.Fatalf("the same certificate: %d %s", r.Status, r.Raw)
		}
		if _, cl := m.claims(r.Body["access_token"].(string)); cl["cnf"].(map[string]any)["x5t#S256"] != x5tS256(certA) {
			t.Fatalf("refreshed token cnf %v", cl["cnf"])
		}
	})
}

func TestMTLSTLSClientAuthAcceptsOnlyTheRegisteredCertificate(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		// Each good case differs from its refusals in one thing.
		ok := func(name, id string, cert tls.Certificate) {
			t.Helper()
			r := mtlsPost(t, m.tls, &cert, authserver.PathToken, ccWithID(id), "")
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
			}
			if _, cl := m.claims(r.Body["access_token"].(string)); cl["client_id"] != id || cl["cnf"] != nil {
				t.Fatalf("%s: claims %v", name, cl)
			}
		}
		ok("subject_dn", "mtls", m.good)
		uri, _ := url.Parse("spiffe://example.org/app")
		ok("san_dns", "mtls-dns", m.ca.issue(t, x509.Certificate{DNSNames: []string{"other.example.com", "APP.example.com"}}))
		ok("san_uri", "mtls-uri", m.ca.issue(t, x509.Certificate{URIs: []*url.URL{uri}}))
		ok("san_ip", "mtls-ip", m.ca.issue(t, x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.7")}}))
		ok("san_email", "mtls-email", m.ca.issue(t, x509.Certificate{EmailAddresses: []string{"app@example.COM"}}))

		other := newCertAuthority(t, "Test Client CA") // same name, other key
		name := pkix.Name{CommonName: "mtls-app", Organization: []string{"Example Corp"}, Country: []string{"DE"}}
		otherURI, _ := url.Parse("spiffe://example.org/app2")
		type attempt struct {
			name, id string
			cert     *tls.Certificate
			form     url.Values
			auth     string
		}
		cert := func(c tls.Certificate) *tls.Certificate { return &c }
		withSecret := ccWithID("mtls")
		withSecret.Set("client_secret", ccSecret)
		cases := []attempt{
			{"wrong common name", "mtls", cert(m.ca.issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "mtls-app2", Organization: []string{"Example Corp"}, Country: []string{"DE"}}})), nil, ""},
			{"an extra subject attribute", "mtls", cert(m.ca.issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "mtls-app", OrganizationalUnit: []string{"x"}, Organization: []string{"Example Corp"}, Country: []string{"DE"}}})), nil, ""},
			{"subject missing an attribute", "mtls", cert(m.ca.issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "mtls-app", Organization: []string{"Example Corp"}}})), nil, ""},
			{"the subject as a SAN", "mtls-dns", cert(m.ca.issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "app.example.com"}})), nil, ""},
			{"wrong san_dns", "mtls-dns", cert(m.ca.issue(t, x509.Certificate{DNSNames: []string{"app.example.com.evil.test"}})), nil, ""},
			{"wrong san_uri", "mtls-uri", cert(m.ca.issue(t, x509.Certificate{URIs: []*url.URL{otherURI}})), nil, ""},
			{"wrong san_ip", "mtls-ip", cert(m.ca.issue(t, x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.8")}})), nil, ""},
			{"wrong san_email", "mtls-email", cert(m.ca.issue(t, x509.Certificate{EmailAddresses: []string{"App@example.com"}})), nil, ""},
			{"another client's certificate", "mtls-dns", &m.good, nil, ""},
			{"not from the trusted CA", "mtls", cert(other.issue(t, x509.Certificate{Subject: name})), nil, ""},
			{"self-signed with the right subject", "mtls", cert(signLeafSelf(t, name)), nil, ""},
			{"expired", "mtls", cert(m.ca.issue(t, x509.Certificate{Subject: name, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})), nil, ""},
			{"not yet valid", "mtls", cert(m.ca.issue(t, x509.Certificate{Subject: name, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)})), nil, ""},
			{"not for client authentication", "mtls", cert(m.ca.issue(t, x509.Certificate{Subject: name, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})), nil, ""},
			{"no certificate", "mtls", nil, nil, ""},
			{"a client_secret instead of a certificate", "mtls", nil, withSecret, ""},
			{"a client_secret with the certificate", "mtls", &m.good, withSecret, ""},
			{"HTTP Basic with the certificate", "mtls", &m.good, url.Values{"grant_type": {"client_credentials"}}, basic("mtls", ccSecret)},
			{"unknown client_id", "ghost", &m.good, nil, ""},
			{"no client_id", "", &m.good, url.Values{"grant_type": {"client_credentials"}}, ""},
		}
		before := m.dump()
		for _, c := range cases {
			form := c.form
			if form == nil {
				form = ccWithID(c.id)
			}
			r := mtlsPost(t, m.tls, c.cert, authserver.PathToken, form, c.auth)
			if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
				t.Errorf("%s: %d %s", c.name, r.Status, r.Raw)
			}
			// One answer for every refusal but the last, which names no client: which check
			// failed is for the operator's log, not the caller.
			if c.id != "" && r.Body["error_description"] != "client authentication failed" {
				t.Errorf("%s: description %q", c.name, r.Body["error_description"])
			}
		}
		if m.dump() != before {
			t.Fatal("a refused request changed the store")
		}
	})
}

// signLeafSelf is a self-signed client certificate with the given subject.
func signLeafSelf(t *testing.T, subject pkix.Name) tls.Certificate {
	k := newP256(t)
	return signLeaf(t, &x509.Certificate{Subject: subject}, nil, k, k)
}

func TestMTLSTLSClientAuthNeedsATrustedCA(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		cfg := m.cfg
		cfg.TLSClientAuthCAs = nil
		srv, err := authserver.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := mtlsServer(t, srv)
		if r := mtlsPost(t, ts, &m.good, authserver.PathToken, ccWithID("mtls"), ""); r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
			t.Fatalf("no trusted CA: %d %s", r.Status, r.Raw)
		}
		md := getJSON(t, ts, authserver.PathMetadata)
		if slices.Contains(anyStrings(md["token_endpoint_auth_methods_supported"]), "tls_client_auth") {
			t.Errorf("metadata offers tls_client_auth with no CA to check it: %v", md["token_endpoint_auth_methods_supported"])
		}
	})
}

func TestMTLSSelfSignedClientAuthMatchesTheRegisteredKey(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		mine := selfSignedCert(t, m.selfKey)
		r := mtlsPost(t, m.tls, &mine, authserver.PathToken, ccWithID("selfsigned"), "")
		if r.Status != http.StatusOK {
			t.Fatalf("registered key: %d %s", r.Status, r.Raw)
		}
		// The key decides, not who signed the certificate: one from the trusted CA for the
		// same key is accepted too, and one for another key is not, whatever its subject.
		caSigned := signLeaf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "self"}}, m.ca.cert, m.ca.key, m.selfKey)
		if r := mtlsPost(t, m.tls, &caSigned, authserver.PathToken, ccWithID("selfsigned"), ""); r.Status != http.StatusOK {
			t.Fatalf("registered key, CA-signed: %d %s", r.Status, r.Raw)
		}
		before := m.dump()
		for name, c := range map[string]*tls.Certificate{
			"another key":    ptr(selfSignedCert(t, newP256(t))),
			"no certificate": nil,
			"the tls_client_auth client's certificate": &m.good,
		} {
			if r := mtlsPost(t, m.tls, c, authserver.PathToken, ccWithID("selfsigned"), ""); r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		// The tls_client_auth client does not authenticate with a key in its name.
		if r := mtlsPost(t, m.tls, &mine, authserver.PathToken, ccWithID("mtls"), ""); r.Status != http.StatusUnauthorized {
			t.Errorf("self-signed certificate for the tls_client_auth client: %d %s", r.Status, r.Raw)
		}
		if m.dump() != before {
			t.Fatal("a refused request changed the store")
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestMTLSClientsAuthenticateAtIntrospectionAndRevocation(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		token := m.ccToken("svc", ccSecret)
		mine := selfSignedCert(t, m.selfKey)
		for name, c := range map[string]struct {
			id   string
			cert tls.Certificate
		}{"tls_client_auth": {"mtls", m.good}, "self_signed_tls_client_auth": {"selfsigned", mine}} {
			r := mtlsPost(t, m.tls, &c.cert, authserver.PathIntrospect, url.Values{"client_id": {c.id}, "token": {token}}, "")
			if r.Status != http.StatusOK || r.Body["active"] != true {
				t.Fatalf("%s introspects: %d %s", name, r.Status, r.Raw)
			}
		}
		stranger := selfSignedCert(t, newP256(t))
		for name, r := range map[string]rawReply{
			"wrong certificate": mtlsPost(t, m.tls, &stranger, authserver.PathIntrospect, url.Values{"client_id": {"selfsigned"}, "token": {token}}, ""),
			"no certificate":    mtlsPost(t, m.tls, nil, authserver.PathIntrospect, url.Values{"client_id": {"mtls"}, "token": {token}}, ""),
			// A public client is known by its id alone: a certificate proves nothing for it.
			"public client with a certificate": mtlsPost(t, m.tls, &stranger, authserver.PathIntrospect, url.Values{"client_id": {"pub"}, "token": {token}}, ""),
			// A secret client's certificate does not stand in for its secret.
			"secret client with a certificate": mtlsPost(t, m.tls, &stranger, authserver.PathIntrospect, url.Values{"client_id": {"rs"}, "token": {token}}, ""),
		} {
			if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
				t.Errorf("introspection, %s: %d %s", name, r.Status, r.Raw)
			}
		}

		// Revocation: the client revokes its own token, authenticated by certificate.
		own := mtlsPost(t, m.tls, &mine, authserver.PathToken, ccWithID("selfsigned"), "")
		if own.Status != http.StatusOK {
			t.Fatalf("token: %d %s", own.Status, own.Raw)
		}
		tok := own.Body["access_token"].(string)
		if r := mtlsPost(t, m.tls, &stranger, authserver.PathRevoke, url.Values{"client_id": {"selfsigned"}, "token": {tok}}, ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("revocation with a stranger's certificate: %d %s", r.Status, r.Raw)
		}
		if in := m.introspect(tok, basic("rs", rsSecret)); in.Body["active"] != true {
			t.Fatal("a refused revocation revoked the token")
		}
		if r := mtlsPost(t, m.tls, &mine, authserver.PathRevoke, url.Values{"client_id": {"selfsigned"}, "token": {tok}}, ""); r.Status != http.StatusOK {
			t.Fatalf("revocation: %d %s", r.Status, r.Raw)
		}
		if in := m.introspect(tok, basic("rs", rsSecret)); in.Body["active"] != false {
			t.Fatalf("after revocation: %s", in.Raw)
		}
	})
}

func TestMTLSMetadataAdvertisesCertificateMethodsAndBinding(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		md := getJSON(t, m.tls, authserver.PathMetadata)
		if md["tls_client_certificate_bound_access_tokens"] != true {
			t.Errorf("tls_client_certificate_bound_access_tokens = %v", md["tls_client_certificate_bound_access_tokens"])
		}
		for _, field := range []string{"token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
			got := anyStrings(md[field])
			if !slices.Contains(got, "tls_client_auth") || !slices.Contains(got, "self_signed_tls_client_auth") {
				t.Errorf("%s = %v", field, got)
			}
		}
		if _, ok := md["mtls_endpoint_aliases"]; ok {
			t.Error("mtls_endpoint_aliases is listed: one set of endpoints serves both")
		}
	})
}

func getJSON(t *testing.T, ts *httptest.Server, path string) map[string]any {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
