package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// assertionKey is a client's key pair, made in the test.
type assertionKey struct {
	kid, alg string
	private  jwk.Key
	public   jwk.Key
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// newAssertionKey makes a key for alg (RS256, PS256, ES256, ES384, EdDSA).
func newAssertionKey(t testing.TB, alg, kid string) *assertionKey {
	t.Helper()
	var raw any
	var err error
	switch alg {
	case "RS256", "PS256":
		// RSA generation is slow on a loaded machine; one key serves both algs (each
		// JWK pins its own alg).
		rsaOnce.Do(func() { rsaKey, err = rsa.GenerateKey(rand.Reader, 2048) })
		raw = rsaKey
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.Set(jwk.KeyIDKey, kid)
	_ = priv.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg))
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &assertionKey{kid: kid, alg: alg, private: priv, public: pub}
}

// jwksOf returns the JWK Set document of the keys' public halves.
func jwksOf(t testing.TB, ks ...*assertionKey) string {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range ks {
		_ = set.AddKey(k.public)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sign makes a compact JWS of claims with the key.
func (k *assertionKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	// jwx writes the signing key's own kid into the header: sign with a copy carrying
	// the kid this assertion names.
	priv, err := k.private.Clone()
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.Set(jwk.KeyIDKey, k.kid)
	out, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.alg), priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// claimsFor are valid assertion claims of client for aud, with a new jti.
func claimsFor(client, aud string) map[string]any {
	now := time.Now()
	var b [12]byte
	_, _ = rand.Read(b[:])
	return map[string]any{
		"iss": client, "sub": client, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(b[:]),
	}
}

func with(c map[string]any, edits map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range edits {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// assertionForm is a token request form authenticated by assertion.
func assertionForm(assertion string, extra url.Values) url.Values {
	v := url.Values{
		"client_assertion_type": {authserver.ClientAssertionTypeJWT},
		"client_assertion":      {assertion},
	}
	for k, vals := range extra {
		v[k] = vals
	}
	return v
}

var ccForm = url.Values{"grant_type": {"client_credentials"}}

const tokenAud = testIssuer + "/oauth/token"

// keyClients adds private_key_jwt clients to f's store: kjwt (keys k1, introspects),
// kother (key k2), and klegacy (a private_key_jwt client still holding a secret).
func keyClients(t *testing.T, f *fixture, k1, k2 *assertionKey) {
	t.Helper()
	now := time.Now().UTC()
	for _, c := range []*store.Client{
		{ID: "kjwt", Name: "Key client", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKS: jwksOf(t, k1),
			Grants: []string{"client_credentials", "authorization_code", "refresh_token"}, RedirectURIs: []string{webCB}, Introspect: true},
		{ID: "kother", Name: "Other key client", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKS: jwksOf(t, k2),
			Grants: []string{"client_credentials"}},
		{ID: "klegacy", Name: "Switched client", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKS: jwksOf(t, k1),
			SecretHash: authserver.HashSecret(ccSecret), Grants: []string{"client_credentials"}},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := f.st.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPrivateKeyJWTClientCredentialsGetsATokenWithEveryAdvertisedAlg(t *testing.T) {
	var ks []*assertionKey
	for _, alg := range authserver.ClientAssertionAlgs {
		ks = append(ks, newAssertionKey(t, alg, "k-"+alg))
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		now := time.Now().UTC()
		if err := f.st.CreateClient(context.Background(), &store.Client{ID: "multi", Name: "Multi",
			TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKS: jwksOf(t, ks...), Grants: []string{"client_credentials"},
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			// aud as the token endpoint URL, as an array with the issuer, and as the issuer.
			for _, aud := range []any{tokenAud, []string{"https://elsewhere", testIssuer}, testIssuer} {
				r := f.post(assertionForm(k.sign(t, with(claimsFor("multi", ""), map[string]any{"aud": aud})), ccForm), "", "")
				if r.Status != http.StatusOK {
					t.Fatalf("%s, aud %v: %d %v", k.alg, aud, r.Status, r.Body)
				}
				_, cl := f.claims(r.Body["access_token"].(string))
				if cl["client_id"] != "multi" || cl["sub"] != "multi" {
					t.Fatalf("%s: token claims %v", k.alg, cl)
				}
			}
		}
		// client_id in the form may name the client too.
		r := f.post(assertionForm(ks[0].sign(t, claimsFor("multi", tokenAud)), url.Values{"grant_type": {"client_credentials"}, "client_id": {"multi"}}), "", "")
		if r.Status != http.StatusOK {
			t.Fatalf("with client_id: %d %v", r.Status, r.Body)
		}
	})
}

func TestPrivateKeyJWTExchangesAnAuthorizationCode(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	eachStore(t, func(t *testing.T, f *fixture) {
		keyClients(t, f, k1, k2)
		s := browserSite(t, f, nil)
		q := url.Values{"response_type": {"code"}, "client_id": {"kjwt"}, "redirect_uri": {webCB},
			"scope": {"orders:read"}, "state": {"st-k"}}
		// A private_key_jwt client is confidential: no PKCE is demanded of it.
		code := s.browser(t).codeFor(q)
		form := assertionForm(k1.sign(t, claimsFor("kjwt", s.url+authserver.PathToken)),
			url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}})
		r := s.exchange("kjwt", "", form)
		if r.Status != http.StatusOK || r.Body["refresh_token"] == nil {
			t.Fatalf("exchange: %d %v", r.Status, r.Body)
		}
		// Refreshing authenticates the same way, with a new assertion.
		rf := assertionForm(k1.sign(t, claimsFor("kjwt", s.url+authserver.PathToken)),
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Body["refresh_token"].(string)}})
		req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathToken, strings.NewReader(rf.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if rr := f.do(req); rr.Status != http.StatusOK {
			t.Fatalf("refresh: %d %v", rr.Status, rr.Body)
		}
	})
}

func TestPrivateKeyJWTReplayedAssertionIsRefused(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	eachStore(t, func(t *testing.T, f *fixture) {
		keyClients(t, f, k1, k2)
		a := k1.sign(t, claimsFor("kjwt", tokenAud))
		if r := f.post(assertionForm(a, ccForm), "", ""); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %v", r.Status, r.Body)
		}
		before := f.dump()
		r := f.post(assertionForm(a, ccForm), "", "")
		if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" || r.Body["error_description"] != "the client assertion was already used" {
			t.Fatalf("replay: %d %v, want 401 invalid_client", r.Status, r.Body)
		}
		if after := f.dump(); after != before {
			t.Fatalf("the replay changed the store:\nbefore %s\nafter  %s", before, after)
		}

		// Two requests racing with one new assertion: exactly one gets a token.
		a = k1.sign(t, claimsFor("kjwt", tokenAud))
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := assertionForm(a, ccForm)
				req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusUnauthorized:
					refused.Add(1)
				default:
					t.Errorf("racing request: status %d", resp.StatusCode)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 1 {
			t.Fatalf("%d succeeded and %d were refused, want exactly one of each", ok.Load(), refused.Load())
		}
	})
}

func TestPrivateKeyJWTRefusalsChangeNothing(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	// k2 under k1's kid: a key of another client presented as the client's own.
	impostor := &assertionKey{kid: "k1", alg: "ES256", private: k2.private, public: k2.public}
	eachStore(t, func(t *testing.T, f *fixture) {
		keyClients(t, f, k1, k2)
		now := time.Now()
		good := func() map[string]any { return claimsFor("kjwt", tokenAud) }
		pubJSON, _ := json.Marshal(k1.public)
		hs256 := func() string {
			payload, _ := json.Marshal(good())
			hk, _ := jwk.FromRaw(pubJSON)
			hdr := jws.NewHeaders()
			_ = hdr.Set(jws.KeyIDKey, "k1")
			out, err := jws.Sign(payload, jws.WithKey(jwa.HS256, hk, jws.WithProtectedHeaders(hdr)))
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}
		none := func() string {
			enc := base64.RawURLEncoding.EncodeToString
			hdr, _ := json.Marshal(map[string]string{"alg": "none", "kid": "k1"})
			payload, _ := json.Marshal(good())
			return enc(hdr) + "." + enc(payload) + "."
		}
		ahead := now.Add(10 * time.Minute).Unix()
		cases := []struct {
			name       string
			form       url.Values
			id, secret string
			status     int
			code       string
			desc       string // in error_description: refused for this reason, not another
		}{
			{"wrong aud", assertionForm(k1.sign(t, with(good(), map[string]any{"aud": "https://other.example/oauth/token"})), ccForm), "", "", 401, "invalid_client", "aud must name"},
			{"aud of the introspection endpoint at the token endpoint", assertionForm(k1.sign(t, with(good(), map[string]any{"aud": testIssuer + "/oauth/introspect"})), ccForm), "", "", 401, "invalid_client", "aud must name"},
			{"expired", assertionForm(k1.sign(t, with(good(), map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-3 * time.Minute).Unix()})), ccForm), "", "", 401, "invalid_client", "has expired"},
			{"exp too far ahead", assertionForm(k1.sign(t, with(good(), map[string]any{"exp": ahead})), ccForm), "", "", 401, "invalid_client", "too far ahead"},
			{"no exp", assertionForm(k1.sign(t, with(good(), map[string]any{"exp": nil})), ccForm), "", "", 401, "invalid_client", "needs an exp"},
			{"no jti", assertionForm(k1.sign(t, with(good(), map[string]any{"jti": nil})), ccForm), "", "", 401, "invalid_client", "needs a jti"},
			{"nbf in the future", assertionForm(k1.sign(t, with(good(), map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), ccForm), "", "", 401, "invalid_client", "nbf"},
			{"iat in the future", assertionForm(k1.sign(t, with(good(), map[string]any{"iat": now.Add(2 * time.Minute).Unix()})), ccForm), "", "", 401, "invalid_client", "(iat)"},
			{"iss is not sub", assertionForm(k1.sign(t, with(good(), map[string]any{"iss": "kother"})), ccForm), "", "", 401, "invalid_client", "iss and sub"},
			{"unknown kid", assertionForm((&assertionKey{kid: "nope", alg: "ES256", private: k1.private}).sign(t, good()), ccForm), "", "", 401, "invalid_client", "no key of the client"},
			{"alg none", assertionForm(none(), ccForm), "", "", 401, "invalid_client", "alg must be one of"},
			{"HS256 with the public key as secret", assertionForm(hs256(), ccForm), "", "", 401, "invalid_client", "alg must be one of"},
			{"key of another client under its kid", assertionForm(k2.sign(t, good()), ccForm), "", "", 401, "invalid_client", "no key of the client"},
			{"key of another client under the client's kid", assertionForm(impostor.sign(t, good()), ccForm), "", "", 401, "invalid_client", "signature is invalid"},
			{"signature tampered", assertionForm(tamperSignature(k1.sign(t, good())), ccForm), "", "", 401, "invalid_client", "signature is invalid"},
			{"client_id names another client", assertionForm(k1.sign(t, good()), url.Values{"grant_type": {"client_credentials"}, "client_id": {"kother"}}), "", "", 401, "invalid_client", "client_id does not match"},
			{"wrong assertion type", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, "client_assertion": {k1.sign(t, good())}}, "", "", 401, "invalid_client", "client_assertion_type must be"},
			{"assertion without its type", url.Values{"grant_type": {"client_credentials"}, "client_assertion": {k1.sign(t, good())}}, "", "", 400, "invalid_request", "go together"},
			{"assertion and Basic", assertionForm(k1.sign(t, good()), ccForm), "svc", ccSecret, 400, "invalid_request", "both"},
			{"assertion and client_secret", assertionForm(k1.sign(t, good()), url.Values{"grant_type": {"client_credentials"}, "client_secret": {ccSecret}}), "", "", 400, "invalid_request", "both"},
			{"secret of a private_key_jwt client by Basic", ccForm, "klegacy", ccSecret, 401, "invalid_client", "client authentication failed"},
			{"secret of a private_key_jwt client by post", url.Values{"grant_type": {"client_credentials"}, "client_id": {"klegacy"}, "client_secret": {ccSecret}}, "", "", 401, "invalid_client", "client authentication failed"},
			{"private_key_jwt client with no credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {"kjwt"}}, "", "", 401, "invalid_client", "client authentication failed"},
			{"assertion of a secret client", assertionForm(k1.sign(t, claimsFor("svc", tokenAud)), ccForm), "", "", 401, "invalid_client", "client authentication failed"},
			{"assertion of an unknown client", assertionForm(k1.sign(t, claimsFor("ghost", tokenAud)), ccForm), "", "", 401, "invalid_client", "client authentication failed"},
			{"not a JWT", assertionForm("not-a-jwt", ccForm), "", "", 401, "invalid_client", "not a signed JWT"},
		}
		before := f.dump()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := f.post(c.form, c.id, c.secret)
				desc, _ := r.Body["error_description"].(string)
				if r.Status != c.status || r.Body["error"] != c.code || !strings.Contains(desc, c.desc) {
					t.Fatalf("got %d %v, want %d %s saying %q", r.Status, r.Body, c.status, c.code, c.desc)
				}
			})
		}
		if after := f.dump(); after != before {
			t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
		}
		// The same client, key and claims, unaltered, do get a token: each refusal above
		// is for the one thing its case changed.
		if r := f.post(assertionForm(k1.sign(t, good()), ccForm), "", ""); r.Status != http.StatusOK {
			t.Fatalf("control: %d %v", r.Status, r.Body)
		}
	})
}

// tamperSignature changes one byte of a compact JWS's signature.
func tamperSignature(token string) string {
	i := strings.LastIndexByte(token, '.') + 2
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestPrivateKeyJWTKeysFromJWKSURIFollowRotationWithOneRefetch(t *testing.T) {
	k1, k2, k3 := newAssertionKey(t, "ES256", "r1"), newAssertionKey(t, "EdDSA", "r2"), newAssertionKey(t, "ES256", "r3")
	eachStore(t, func(t *testing.T, f *fixture) {
		var served atomic.Pointer[string]
		var fetches atomic.Int32
		set := jwksOf(t, k1)
		served.Store(&set)
		keysSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fetches.Add(1)
			w.Header().Set("Content-Type", "application/jwk-set+json")
			_, _ = w.Write([]byte(*served.Load()))
		}))
		t.Cleanup(keysSrv.Close)
		now := time.Now().UTC()
		if err := f.st.CreateClient(context.Background(), &store.Client{ID: "kuri", Name: "URI client",
			TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKSURI: keysSrv.URL + "/jwks.json", Grants: []string{"client_credentials"},
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if r := f.post(assertionForm(k1.sign(t, claimsFor("kuri", tokenAud)), ccForm), "", ""); r.Status != http.StatusOK {
				t.Fatalf("with r1, try %d: %d %v", i, r.Status, r.Body)
			}
		}
		if n := fetches.Load(); n != 1 {
			t.Fatalf("%d fetches for two assertions, want 1 (the set is cached)", n)
		}
		// The client rotates to r2: the first assertion naming it refetches once.
		rotated := jwksOf(t, k2)
		served.Store(&rotated)
		if r := f.post(assertionForm(k2.sign(t, claimsFor("kuri", tokenAud)), ccForm), "", ""); r.Status != http.StatusOK {
			t.Fatalf("with r2 after rotation: %d %v", r.Status, r.Body)
		}
		if n := fetches.Load(); n != 2 {
			t.Fatalf("%d fetches after rotation, want 2", n)
		}
		// r1 is gone from the set, and an unknown kid right after a refetch does not fetch
		// again: assertions naming made-up kids cannot flood the client's host.
		for _, a := range []string{k1.sign(t, claimsFor("kuri", tokenAud)), k3.sign(t, claimsFor("kuri", tokenAud))} {
			if r := f.post(assertionForm(a, ccForm), "", ""); r.Status != http.StatusUnauthorized {
				t.Fatalf("retired or unknown key: %d %v", r.Status, r.Body)
			}
		}
		if n := fetches.Load(); n != 2 {
			t.Fatalf("%d fetches after unknown kids, want still 2", n)
		}
	})
}

func TestPrivateKeyJWTAuthenticatesIntrospectionAndRevocation(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	eachStore(t, func(t *testing.T, f *fixture) {
		keyClients(t, f, k1, k2)
		introspectAud := testIssuer + authserver.PathIntrospect
		token := f.ccToken("svc", ccSecret)

		r := send(t, f.ts.URL, authserver.PathIntrospect, assertionForm(k1.sign(t, claimsFor("kjwt", introspectAud)), url.Values{"token": {token}}), "")
		if r.Status != http.StatusOK || r.Body["active"] != true {
			t.Fatalf("introspection by assertion: %d %s", r.Status, r.Raw)
		}
		// A private_key_jwt client not allowed to introspect, a replay, and an assertion
		// with a secret are refused.
		a := k2.sign(t, claimsFor("kother", introspectAud))
		if r := send(t, f.ts.URL, authserver.PathIntrospect, assertionForm(a, url.Values{"token": {token}}), ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("client without introspect: %d %s", r.Status, r.Raw)
		}
		a = k1.sign(t, claimsFor("kjwt", introspectAud))
		if r := send(t, f.ts.URL, authserver.PathIntrospect, assertionForm(a, url.Values{"token": {token}}), ""); r.Status != http.StatusOK {
			t.Fatalf("introspection: %d %s", r.Status, r.Raw)
		}
		if r := send(t, f.ts.URL, authserver.PathIntrospect, assertionForm(a, url.Values{"token": {token}}), ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("replayed assertion at introspection: %d %s", r.Status, r.Raw)
		}
		if r := send(t, f.ts.URL, authserver.PathIntrospect, assertionForm(k1.sign(t, claimsFor("kjwt", introspectAud)), url.Values{"token": {token}}), basic("rs", rsSecret)); r.Status != http.StatusBadRequest {
			t.Fatalf("assertion with Basic at introspection: %d %s", r.Status, r.Raw)
		}
		// Revocation: kjwt revokes its own token, authenticated by assertion.
		tr := f.post(assertionForm(k1.sign(t, claimsFor("kjwt", tokenAud)), ccForm), "", "")
		if tr.Status != http.StatusOK {
			t.Fatalf("token: %d %v", tr.Status, tr.Body)
		}
		own := tr.Body["access_token"].(string)
		rv := send(t, f.ts.URL, authserver.PathRevoke, assertionForm(k1.sign(t, claimsFor("kjwt", testIssuer+authserver.PathRevoke)), url.Values{"token": {own}}), "")
		if rv.Status != http.StatusOK {
			t.Fatalf("revocation by assertion: %d %s", rv.Status, rv.Raw)
		}
		r = f.introspect(own, basic("rs", rsSecret))
		if r.Status != http.StatusOK || r.Body["active"] != false {
			t.Fatalf("revoked token introspects as %d %s", r.Status, r.Raw)
		}
		// Revocation refuses a bad assertion before looking at the token.
		before := f.dump()
		rv = send(t, f.ts.URL, authserver.PathRevoke, assertionForm(k2.sign(t, claimsFor("kjwt", testIssuer+authserver.PathRevoke)), url.Values{"token": {token}}), "")
		if rv.Status != http.StatusUnauthorized {
			t.Fatalf("revocation with another client's key: %d %s", rv.Status, rv.Raw)
		}
		if after := f.dump(); after != before {
			t.Fatal("a refused revocation changed the store")
		}
	})
}

// Assertions are bearer credentials until they expire: no log line or event may hold one,
// whether it is accepted, replayed, refused, or its client's keys cannot be loaded.
func TestPrivateKeyJWTLogsNeverContainTheAssertion(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	rec := &recorded{}
	eachStoreWith(t, rec.configure, func(t *testing.T, f *fixture) {
		keyClients(t, f, k1, k2)
		var downFetches atomic.Int32
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			downFetches.Add(1)
			http.Error(w, "down", http.StatusInternalServerError)
		}))
		t.Cleanup(down.Close)
		now := time.Now().UTC()
		if err := f.st.CreateClient(context.Background(), &store.Client{ID: "kdown", Name: "Keys down",
			TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKSURI: down.URL, Grants: []string{"client_credentials"},
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		good := k1.sign(t, claimsFor("kjwt", tokenAud))
		sent := []string{good, k2.sign(t, claimsFor("kjwt", tokenAud)), k1.sign(t, claimsFor("kdown", tokenAud))}
		for i, a := range append(sent, good) { // the last is a replay
			r := f.post(assertionForm(a, ccForm), "", "")
			if (r.Status == http.StatusOK) != (i == 0) {
				t.Fatalf("assertion %d: %d %v", i, r.Status, r.Body)
			}
		}
		// A second assertion of the client whose keys are down is refused without another
		// fetch: the failure is remembered for a while.
		if r := f.post(assertionForm(k1.sign(t, claimsFor("kdown", tokenAud)), ccForm), "", ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("keys down: %d %v", r.Status, r.Body)
		}
		if n := downFetches.Load(); n != 1 {
			t.Fatalf("%d fetches of an unreachable jwks_uri, want 1", n)
		}
		logged := rec.text()
		if !strings.Contains(logged, "kdown") {
			t.Fatalf("the failed key fetch was not logged: %s", logged)
		}
		for _, a := range sent {
			sig := a[strings.LastIndexByte(a, '.')+1:]
			if strings.Contains(logged, sig) || strings.Contains(logged, a[:strings.IndexByte(a, '.')+20]) {
				t.Fatalf("an assertion reached the logs:\n%s", logged)
			}
		}
	})
}

// A jwks_uri that redirects is not followed (the keys are where the client registered
// them, nowhere else), and a key set larger than 1 MiB is not read: either way the
// assertion is refused.
func TestPrivateKeyJWTKeysFromJWKSURIAreNotFollowedOrOversized(t *testing.T) {
	k1 := newAssertionKey(t, "ES256", "r1")
	f := sqliteFixture(t)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(jwksOf(t, k1)))
	}))
	t.Cleanup(good.Close)
	redirecting := httptest.NewServer(http.RedirectHandler(good.URL+"/jwks.json", http.StatusFound))
	t.Cleanup(redirecting.Close)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := jwksOf(t, k1)
		// The same keys, padded past 1 MiB with white space before the closing brace.
		_, _ = w.Write([]byte(set[:len(set)-1] + strings.Repeat(" ", 1<<20) + "}"))
	}))
	t.Cleanup(huge.Close)
	now := time.Now().UTC()
	for id, uri := range map[string]string{"kgood": good.URL, "kredirect": redirecting.URL, "khuge": huge.URL} {
		if err := f.st.CreateClient(context.Background(), &store.Client{ID: id, Name: id, TokenAuthMethod: store.TokenAuthPrivateKeyJWT,
			JWKSURI: uri + "/jwks.json", Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]int{"kgood": http.StatusOK, "kredirect": http.StatusUnauthorized, "khuge": http.StatusUnauthorized} {
		if r := f.post(assertionForm(k1.sign(t, claimsFor(id, tokenAud)), ccForm), "", ""); r.Status != want {
			t.Errorf("%s: %d %v, want %d", id, r.Status, r.Body, want)
		}
	}
}
