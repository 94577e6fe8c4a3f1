package authserver_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/postgres"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// Introspection answers a token it has seen before from memory: its verified claims, the
// record read the first time, and the revocation mirror. These tests break that memory
// if it ever hides a revocation or an expiry.

// wantActive fails unless the answer says active.
func wantActive(t *testing.T, what string, r rawReply) {
	t.Helper()
	if r.Status != 200 || r.Body["active"] != true {
		t.Fatalf("%s: got %d %s, want active", what, r.Status, r.Raw)
	}
}

// A revocation made through this server must be seen by the very next introspection,
// on PostgreSQL too, where the store's own notification comes asynchronously. Each
// round revokes a remembered token and introspects it at once, many times over, so
// that a design leaning on the notification alone would lose the race at least once.
func TestIntrospectSeesRevocationOnThisNodeAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		for round := range 10 {
			access, refresh := f.userTokens()
			cc := f.ccToken("svc", ccSecret)
			for range 2 { // the second answer comes from memory
				wantActive(t, "access token", f.introspect(access, auth))
				wantActive(t, "client token", f.introspect(cc, auth))
			}
			if round%2 == 0 {
				// RFC 7009 revocation of the access token.
				if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {access}}, basic("app", pwSecret)); r.Status != 200 {
					t.Fatalf("revoke: %d %s", r.Status, r.Raw)
				}
			} else {
				// Revoking the refresh token revokes its family and the access token.
				if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {refresh}}, basic("app", pwSecret)); r.Status != 200 {
					t.Fatalf("revoke refresh token: %d %s", r.Status, r.Raw)
				}
				wantInactive(t, "revoked refresh token", f.introspect(refresh, auth))
			}
			wantInactive(t, "access token revoked on this node, introspected at once", f.introspect(access, auth))
			if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {cc}}, basic("svc", ccSecret)); r.Status != 200 {
				t.Fatalf("revoke client token: %d %s", r.Status, r.Raw)
			}
			wantInactive(t, "client token revoked on this node, introspected at once", f.introspect(cc, auth))
		}
	})
}

// A reused refresh token revokes its whole chain (RFC 6819 §5.2.2.3), through the
// refresh flow rather than the revocation endpoint: the access tokens of the chain must
// be inactive at once too.
func TestIntrospectSeesRefreshReuseRevocationAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		access, refresh := f.userTokens()
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret)
		if r.Status != 200 {
			t.Fatalf("refresh: %d %v", r.Status, r.Body)
		}
		newAccess := r.Body["access_token"].(string)
		wantActive(t, "rotated-away access token", f.introspect(access, auth))
		wantActive(t, "new access token", f.introspect(newAccess, auth))
		wantActive(t, "new access token, again", f.introspect(newAccess, auth))
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret); r.Status != 400 {
			t.Fatalf("reuse: %d %v", r.Status, r.Body)
		}
		wantInactive(t, "new access token after its chain was revoked", f.introspect(newAccess, auth))
	})
}

// Another node sharing the store revokes a token this node has answered for: this
// node must say inactive within authserver.RevocationLag. On PostgreSQL the other
// node's NOTIFY makes it at once in practice; two SQLite stores on one file do not
// notify each other, so there the bound itself is what is tested.
func TestIntrospectSeesRevocationThroughAnotherNodeWithinTheBound(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			var open func() (store.Store, error)
			switch driver {
			case "sqlite":
				path := testdb.SQLitePath(t)
				open = func() (store.Store, error) { return sqlite.Open(context.Background(), path) }
			case "postgres":
				dsn := testdb.PostgresDSN(t)
				open = func() (store.Store, error) { return postgres.Open(context.Background(), dsn) }
			}
			st, err := open()
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, st, nil)
			other, err := open()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			cfg := f.cfg
			cfg.Store = other
			node2, err := authserver.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ts2 := httptest.NewServer(node2)
			t.Cleanup(ts2.Close)

			auth := basic("rs", rsSecret)
			var worst time.Duration
			for round := range 3 {
				access, _ := f.userTokens()
				wantActive(t, "access token", f.introspect(access, auth))
				wantActive(t, "access token, from memory", f.introspect(access, auth))
				if r := send(t, ts2.URL, authserver.PathIntrospect, url.Values{"token": {access}}, auth); r.Body["active"] != true {
					t.Fatalf("node 2 does not know the token: %s", r.Raw)
				}
				if round == 2 {
					// Let the mirror go quiet for longer than the bound first: it must
					// still not answer from what it read before.
					time.Sleep(authserver.RevocationLag + 100*time.Millisecond)
					wantActive(t, "access token after a quiet while", f.introspect(access, auth))
				}
				if r := send(t, ts2.URL, authserver.PathRevoke, url.Values{"token": {access}}, basic("app", pwSecret)); r.Status != 200 {
					t.Fatalf("revoke on node 2: %d %s", r.Status, r.Raw)
				}
				revoked := time.Now()
				for {
					asked := time.Now()
					r := f.introspect(access, auth)
					if r.Status != 200 {
						t.Fatalf("introspect: %d %s", r.Status, r.Raw)
					}
					if r.Body["active"] == false {
						wantInactive(t, "revoked on node 2", r)
						break
					}
					// An introspection asked more than the bound after the revocation's
					// commit must not answer from a read that began before it. Judged by
					// when each request began, so a slow machine stretches the polling,
					// never the verdict.
					if asked.Sub(revoked) > authserver.RevocationLag {
						t.Fatalf("asked %v after another node revoked it, still active (bound %v)", asked.Sub(revoked), authserver.RevocationLag)
					}
					time.Sleep(5 * time.Millisecond)
				}
				worst = max(worst, time.Since(revoked))
			}
			t.Logf("%s: seen inactive at most %v after the other node's revocation", driver, worst)
		})
	}
}

// A remembered token must stop being active at its exp, with no store read to say so.
func TestIntrospectRememberedTokenExpires(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		c := &clock{t: time.Now().UTC()}
		cfg := f.cfg
		cfg.Now = c.now
		srv, err := authserver.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		auth := basic("rs", rsSecret)
		r := send(t, ts.URL, authserver.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("svc", ccSecret))
		if r.Status != 200 {
			t.Fatalf("token: %d %s", r.Status, r.Raw)
		}
		access := r.Body["access_token"].(string)
		first := send(t, ts.URL, authserver.PathIntrospect, url.Values{"token": {access}}, auth)
		wantActive(t, "fresh token", first)
		again := send(t, ts.URL, authserver.PathIntrospect, url.Values{"token": {access}}, auth)
		if again.Raw != first.Raw {
			t.Errorf("the remembered answer differs:\n%s\n%s", first.Raw, again.Raw)
		}
		c.advance(time.Hour - time.Second) // the default lifetime is an hour
		wantActive(t, "token a second before its exp", send(t, ts.URL, authserver.PathIntrospect, url.Values{"token": {access}}, auth))
		c.advance(time.Second)
		wantInactive(t, "token at its exp", send(t, ts.URL, authserver.PathIntrospect, url.Values{"token": {access}}, auth))
	})
}

// Refresh tokens are not remembered: each introspection reads the record, so a
// rotation or a revocation is seen at once.
func TestIntrospectRefreshTokenAfterItsFamilyIsRevoked(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		access, refresh := f.userTokens()
		for range 2 {
			wantActive(t, "refresh token", f.introspect(refresh, auth))
		}
		if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {access}}, basic("app", pwSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		wantInactive(t, "refresh token issued with a revoked access token", f.introspect(refresh, auth))
	})
}
