package authserver_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// importPassportGrant imports, as caddy oauth import passport does, one Passport access
// token of the fixture's user for client app and its refresh token (row id rowID), and
// returns the refresh token Passport handed out for it, encrypted with appKey.
func importPassportGrant(t *testing.T, f *fixture, appKey []byte, rowID string, revoked bool) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	at := &store.AccessToken{ID: "at-" + rowID, ClientID: "app", UserID: f.userID, Provider: authserver.DefaultProvider,
		Scopes: []string{"orders:read"}, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
	rid := store.PassportRefreshPrefix + rowID
	rt := &store.RefreshToken{ID: rid, AccessTokenID: at.ID, FamilyID: rid, ClientID: "app", UserID: f.userID,
		Provider: authserver.DefaultProvider, Scopes: at.Scopes, Revoked: revoked, CreatedAt: at.CreatedAt, ExpiresAt: now.Add(30 * 24 * time.Hour)}
	if _, err := f.st.ImportPassport(context.Background(), &store.PassportImport{AccessTokens: []*store.AccessToken{at}, RefreshTokens: []*store.RefreshToken{rt}}); err != nil {
		t.Fatal(err)
	}
	return laravel.EncryptRefreshToken(appKey, laravel.RefreshToken{ClientID: "app", RefreshTokenID: rowID, AccessTokenID: at.ID,
		Scopes: at.Scopes, UserID: f.userID, ExpireTime: rt.ExpiresAt})
}

func refreshWith(f *fixture, token, client string) tokenReply {
	f.t.Helper()
	return f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, client, pwSecret)
}

func wantInvalidGrant(t *testing.T, what string, r tokenReply) {
	t.Helper()
	if r.Status != 400 || r.Body["error"] != "invalid_grant" {
		t.Fatalf("%s: %d %v, want invalid_grant", what, r.Status, r.Body)
	}
}

// A refresh token Passport issued, once its row is imported and the APP_KEY configured,
// rotates into one of ours; it works once, like ours, and a second use revokes what it
// became.
func TestPassportRefreshTokenRotatesOnce(t *testing.T) {
	_, appKey := laravel.NewAppKey()
	eachStoreWith(t, func(c *authserver.Config) { c.PassportAppKey = appKey }, func(t *testing.T, f *fixture) {
		old := importPassportGrant(t, f, appKey, "a1b2c3", false)

		// Another client holding it gets nothing, and does not use it up.
		wantInvalidGrant(t, "another client", refreshWith(f, old, "other"))

		r := refreshWith(f, old, "app")
		if r.Status != 200 {
			t.Fatalf("Passport refresh token: %d %v", r.Status, r.Body)
		}
		_, cl := f.claims(r.Body["access_token"].(string))
		if cl["sub"] != f.userID || cl["client_id"] != "app" || cl["scope"] != "orders:read" {
			t.Errorf("claims of the rotated grant: %v", cl)
		}
		ours := r.Body["refresh_token"].(string)
		if strings.HasPrefix(ours, "def50200") {
			t.Fatalf("the new refresh token is another Passport ciphertext: %s", ours)
		}
		rec, err := f.st.GetRefreshToken(context.Background(), store.PassportRefreshPrefix+"a1b2c3")
		if err != nil || !rec.Revoked {
			t.Fatalf("the imported row after rotation: %+v %v", rec, err)
		}

		// Reuse of the Passport token is reuse of a rotated token: the family dies.
		wantInvalidGrant(t, "reuse", refreshWith(f, old, "app"))
		wantInvalidGrant(t, "our token after the Passport one was reused", refreshWith(f, ours, "app"))
	})
}

// What the APP_KEY does not open, what it opens but does not match an imported row, what
// has expired: invalid_grant, as for any unknown token, and nothing changes. What was
// revoked in Passport: invalid_grant.
func TestPassportRefreshTokenRefusals(t *testing.T) {
	_, appKey := laravel.NewAppKey()
	_, otherKey := laravel.NewAppKey()
	eachStoreWith(t, func(c *authserver.Config) { c.PassportAppKey = appKey }, func(t *testing.T, f *fixture) {
		good := importPassportGrant(t, f, appKey, "live", false)
		revoked := importPassportGrant(t, f, appKey, "gone", true)
		later := time.Now().Add(24 * time.Hour)
		forge := func(rowID, accessID, clientID string, user any, expires time.Time) string {
			return laravel.EncryptRefreshToken(appKey, laravel.RefreshToken{ClientID: clientID, RefreshTokenID: rowID,
				AccessTokenID: accessID, UserID: user, ExpireTime: expires})
		}
		flipped := []byte(good)
		if flipped[200] = '0'; good[200] == '0' { // another hex digit
			flipped[200] = '1'
		}
		before := f.dump()
		for _, c := range []struct{ what, token string }{
			{"encrypted with another APP_KEY", laravel.EncryptRefreshToken(otherKey, laravel.RefreshToken{ClientID: "app", RefreshTokenID: "live", AccessTokenID: "at-live", UserID: f.userID, ExpireTime: later})},
			{"one hex digit changed", string(flipped)},
			{"cut short", good[:len(good)-2]},
			{"not a ciphertext", "def50200" + strings.Repeat("zz", 100)},
			{"a row that was never imported", forge("never", "at-never", "app", f.userID, later)},
			{"a payload naming another access token", forge("live", "at-gone", "app", f.userID, later)},
			{"a payload naming another user", forge("live", "at-live", "app", "user-2", later)},
			{"a payload naming another client", forge("live", "at-live", "other", f.userID, later)},
			{"an expired payload", forge("live", "at-live", "app", f.userID, time.Now().Add(-time.Second))},
		} {
			wantInvalidGrant(t, c.what, refreshWith(f, c.token, "app"))
			if after := f.dump(); after != before {
				t.Fatalf("%s changed the store:\n%s\n%s", c.what, before, after)
			}
		}
		// Passport revokes a refresh token when it rotates it, so a revoked one presented
		// is treated as reuse, as ours are: refused, and its grant revoked.
		wantInvalidGrant(t, "a token revoked in Passport", refreshWith(f, revoked, "app"))
		// The genuine one still works after all of that.
		if r := refreshWith(f, good, "app"); r.Status != 200 {
			t.Fatalf("the genuine token after the refusals: %d %v", r.Status, r.Body)
		}
	})
}

// Without the APP_KEY a Passport refresh token is an unknown token: nothing is decrypted.
func TestPassportRefreshTokenWithoutAppKey(t *testing.T) {
	_, appKey := laravel.NewAppKey()
	st, err := sqlite.Open(context.Background(), testdb.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, nil)
	wantInvalidGrant(t, "no APP_KEY configured", refreshWith(f, importPassportGrant(t, f, appKey, "r1", false), "app"))
	if n, _ := authserver.PassportDecryptions(f.srv); n != 0 {
		t.Fatalf("%d decryptions without a key", n)
	}
}

// Decryption is slow on purpose (100,000 PBKDF2 rounds), so nobody may make the server
// do it for free: only an authenticated client's token is decrypted, at most the
// configured number at once, and a token that waits too long for its turn gets 503
// temporarily_unavailable with Retry-After, not a queue without end.
func TestPassportRefreshTokenDecryptionIsBounded(t *testing.T) {
	_, appKey := laravel.NewAppKey()
	st, err := sqlite.Open(context.Background(), testdb.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, func(c *authserver.Config) {
		c.PassportAppKey = appKey
		authserver.SetPassportDecryption(c, 2, 40*time.Millisecond)
	})
	token := importPassportGrant(t, f, appKey, "r1", false)

	for _, secret := range []string{"", "wrong-secret-0123456789"} {
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"app"}, "client_secret": {secret}}, "", "")
		if r.Status != 401 || r.Body["error"] != "invalid_client" {
			t.Fatalf("unauthenticated (secret %q): %d %v", secret, r.Status, r.Body)
		}
	}
	if n, _ := authserver.PassportDecryptions(f.srv); n != 0 {
		t.Fatalf("%d decryptions for unauthenticated requests", n)
	}

	// 12 forged tokens at once: each decryption takes ~30 ms of CPU, two run at a time,
	// so the later ones cannot get a turn within 40 ms. Every answer is a refusal.
	forged := laravel.EncryptRefreshToken(appKey, laravel.RefreshToken{ClientID: "app", RefreshTokenID: "nope", AccessTokenID: "x", UserID: f.userID, ExpireTime: time.Now().Add(time.Hour)})
	const n = 12
	replies := make([]tokenReply, n)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = refreshWith(f, forged, "app")
		}()
	}
	wg.Wait()
	busy := 0
	for _, r := range replies {
		switch {
		case r.Status == 503 && r.Body["error"] == "temporarily_unavailable":
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", r.Header)
			}
			busy++
		case r.Status == 400 && r.Body["error"] == "invalid_grant":
		default:
			t.Errorf("forged token: %d %v", r.Status, r.Body)
		}
	}
	count, peak := authserver.PassportDecryptions(f.srv)
	if peak > 2 || busy == 0 || count != n-busy {
		t.Fatalf("peak %d decryptions at once (bound 2), %d decrypted, %d answered busy of %d", peak, count, busy, n)
	}
}
