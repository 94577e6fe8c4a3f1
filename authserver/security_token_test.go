package authserver_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// Client authentication confusion at the token endpoint (RFC 6749 §2.3, RFC 9700 §4.13):
// every mismatch between the ways a client may authenticate, a public client posing as
// confidential, a confidential one without its secret, another client's secret, and a
// grant the client may not use. Each is refused with no token and no store change.
func TestClientAuthenticationConfusionIsRefusedAndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		pwForm := func(extra ...string) url.Values {
			v := url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}
			for i := 0; i+1 < len(extra); i += 2 {
				v.Set(extra[i], extra[i+1])
			}
			return v
		}
		svcToken := f.ccToken("svc", ccSecret)
		before := f.dump()
		cases := []struct {
			name       string
			form       url.Values
			id, secret string // HTTP Basic when id is set
			auth       string // raw Authorization header, instead of Basic
			status     int
			code       string
		}{
			{"Basic and a different client_id in the form", pwForm("client_id", "other"), "app", pwSecret, "", 400, "invalid_request"},
			{"Basic and client_secret in the form", pwForm("client_secret", pwSecret), "app", pwSecret, "", 400, "invalid_request"},
			{"Basic of one client, client_secret of it in the form under another id", pwForm("client_id", "other", "client_secret", pwSecret), "app", pwSecret, "", 400, "invalid_request"},
			{"confidential client without its secret", pwForm("client_id", "app"), "", "", "", 401, "invalid_client"},
			{"confidential client with an empty Basic secret", pwForm(), "app", "", "", 401, "invalid_client"},
			{"confidential client with another client's secret", pwForm("client_id", "app", "client_secret", ccSecret), "", "", "", 401, "invalid_client"},
			{"client id in another case", pwForm(), "APP", pwSecret, "", 401, "invalid_client"},
			{"client id with a trailing space", pwForm(), "app ", pwSecret, "", 401, "invalid_client"},
			{"public client sending a secret (post)", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"pub"}, "client_secret": {"anything-0123456789"}}, "", "", "", 401, "invalid_client"},
			{"public client sending a secret (Basic)", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "pub", "anything-0123456789", "", 401, "invalid_client"},
			{"public client using the password grant", pwForm("client_id", "pub"), "", "", "", 400, "unauthorized_client"},
			{"public client using client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {"pub"}}, "", "", "", 400, "unauthorized_client"},
			{"client_credentials client using the password grant", pwForm(), "svc", ccSecret, "", 400, "unauthorized_client"},
			{"password client using client_credentials", url.Values{"grant_type": {"client_credentials"}}, "app", pwSecret, "", 400, "unauthorized_client"},
			{"a Bearer token instead of client credentials", url.Values{"grant_type": {"client_credentials"}}, "", "", "Bearer " + svcToken, 401, "invalid_client"},
			{"Basic without a colon", url.Values{"grant_type": {"client_credentials"}}, "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("svc")), 401, "invalid_client"},
			{"Basic that is not base64", url.Values{"grant_type": {"client_credentials"}}, "", "", "Basic %%%", 401, "invalid_client"},
			{"Basic with a bad percent-encoding", url.Values{"grant_type": {"client_credentials"}}, "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:%zz")), 401, "invalid_client"},
			{"unknown client", url.Values{"grant_type": {"client_credentials"}}, "nobody", ccSecret, "", 401, "invalid_client"},
		}
		for _, c := range cases {
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(c.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			switch {
			case c.auth != "":
				req.Header.Set("Authorization", c.auth)
			case c.id != "":
				req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
			}
			r := f.do(req)
			if r.Status != c.status || r.Body["error"] != c.code || r.Body["access_token"] != nil {
				t.Errorf("%s: %d %v, want %d %s", c.name, r.Status, r.Body, c.status, c.code)
			}
		}
		if f.dump() != before {
			t.Error("refused client authentications changed the store")
		}
	})
}

// A refresh may narrow the scopes granted, never widen them (RFC 6749 §6): not by asking
// for a scope it lacks, the wildcard, or an undefined scope, alone or mixed with granted
// ones. Refusals do not spend the refresh token.
func TestRefreshCannotWidenScopes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read"}}, "app", pwSecret)
		rt := first.Body["refresh_token"].(string)
		for _, scope := range []string{"orders:write", "orders:read orders:write", "*", "orders:read *", "admin", "orders:read\x00orders:write", "orders:*"} {
			r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}}, "app", pwSecret)
			if r.Status != 400 || r.Body["error"] != "invalid_scope" {
				t.Errorf("scope %q: %d %v, want 400 invalid_scope", scope, r.Status, r.Body)
			}
		}
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", pwSecret)
		if r.Status != 200 || r.Body["scope"] != "orders:read" {
			t.Fatalf("refresh after refusals: %d %v", r.Status, r.Body)
		}
		// The narrower grant is all the next refresh may have.
		narrowed := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read orders:write"}}, "app", pwSecret)
		n := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {narrowed.Body["refresh_token"].(string)}, "scope": {"orders:read"}}, "app", pwSecret)
		if n.Status != 200 || n.Body["scope"] != "orders:read" {
			t.Fatalf("narrowing: %d %v", n.Status, n.Body)
		}
		w := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {n.Body["refresh_token"].(string)}, "scope": {"orders:write"}}, "app", pwSecret)
		if w.Status != 400 || w.Body["error"] != "invalid_scope" {
			t.Fatalf("widening back after narrowing: %d %v", w.Status, w.Body)
		}
	})
}

// forge returns a compact JWS with the given header and claims, signed with HMAC-SHA256
// under key (or unsigned when key is nil).
func forge(header, claims map[string]any, key []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if key == nil {
		return input + "."
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Tokens that are not this server's, or are its own re-signed claims under another
// issuer, are inactive to introspection, cannot authenticate an introspecting caller,
// and revoking them leaves the genuine token alone: alg none, HS256 keyed with the
// server's public JWKS, another key under our kid, our key under another issuer.
func TestForgedAndForeignTokensAreInactiveEverywhere(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		real := f.ccToken("rs", rsSecret)
		_, claims := f.claims(real)
		kid := f.ring.Signer().KeyID()

		other := &keys.Ring{}
		rec, err := keys.Generate(keys.ES256, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rec.ID = kid // the attacker's key published under our kid
		if err := other.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(claims)
		otherKey, err := other.Signer().Sign(raw)
		if err != nil {
			t.Fatal(err)
		}
		foreignIss := map[string]any{}
		for k, v := range claims {
			foreignIss[k] = v
		}
		foreignIss["iss"] = "https://evil.test"
		rawForeign, _ := json.Marshal(foreignIss)
		ourKeyOtherIssuer, err := f.ring.Signer().Sign(rawForeign)
		if err != nil {
			t.Fatal(err)
		}
		forged := map[string]string{
			"alg none":                       forge(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, claims, nil),
			"alg None":                       forge(map[string]any{"alg": "None", "typ": "at+jwt", "kid": kid}, claims, nil),
			"HS256 keyed with the JWKS":      forge(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, f.ring.JWKS()),
			"another key under our kid":      otherKey,
			"our key, another issuer":        ourKeyOtherIssuer,
			"our token with its sig dropped": real[:strings.LastIndexByte(real, '.')+1],
		}
		for name, tok := range forged {
			wantInactive(t, name, f.introspect(tok, basic("rs", rsSecret)))
			if r := f.introspect(real, bearer(tok)); r.Status != http.StatusUnauthorized {
				t.Errorf("%s as the introspecting caller's token: %d %s", name, r.Status, r.Raw)
			}
			if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {tok}}, basic("rs", rsSecret)); r.Status != http.StatusOK {
				t.Errorf("%s revoked: %d %s", name, r.Status, r.Raw)
			}
			if r := f.introspect(real, basic("rs", rsSecret)); r.Body["active"] != true {
				t.Fatalf("revoking %s revoked the real token: %s", name, r.Raw)
			}
		}
		if r := f.introspect(real, basic("rs", rsSecret)); r.Body["active"] != true {
			t.Fatalf("revoking forged copies revoked the real token: %s", r.Raw)
		}
	})
}

// Cursors and waits of the revocation feed that are not numbers, are negative, huge, or
// carry SQL are answered without a server error: a bad wait is a 400, a bad cursor gets
// the full list with reset.
func TestRevocationFeedCursorInjectionIsHarmless(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		get := func(query string) rawReply {
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+authserver.PathRevocations+"?"+query, nil)
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return rawReply{Status: resp.StatusCode, Body: body}
		}
		for _, after := range []string{"1 OR 1=1", "1;DROP TABLE revocations", "-1", "99999999999999999999", "9223372036854775807", "1e3", "0x10", "%00", "\u0661"} {
			r := get(url.Values{"after": {after}}.Encode())
			if r.Status != 200 || r.Body["reset"] != true {
				t.Errorf("after=%q: %d %v, want 200 with reset", after, r.Status, r.Body)
			}
		}
		for _, wait := range []string{"-1", "1e9", "99999999999999999999", "1.5", "x"} {
			if r := get(url.Values{"after": {"0"}, "wait": {wait}}.Encode()); r.Status != 400 || r.Body["error"] != "invalid_request" {
				t.Errorf("wait=%q: %d %v, want 400 invalid_request", wait, r.Status, r.Body)
			}
		}
		// A huge but well-formed wait is cut to the feed's limit, which a revocation
		// ends at once: the long poll answers as soon as there is something to say.
		_, refresh := f.userTokens()
		done := make(chan rawReply, 1)
		go func() { done <- get("after=0&wait=2147483647") }()
		time.Sleep(100 * time.Millisecond)
		if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {refresh}}, basic("app", pwSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d", r.Status)
		}
		select {
		case r := <-done:
			if r.Status != 200 {
				t.Fatalf("long poll: %d %v", r.Status, r.Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll with a huge wait did not end on a revocation")
		}
	})
}
