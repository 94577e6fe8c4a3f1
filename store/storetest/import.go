package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// passportFixture is an import as `caddy oauth import passport` builds one: two clients,
// a live token with its refresh token, a revoked unexpired one, a revoked expired one,
// and a key.
func passportFixture() *store.PassportImport {
	c1, c2 := newClient("1"), newClient("9b2f0c1e-uuid")
	c1.Declarative, c2.Declarative = false, false
	c2.SecretHash = "$2y$10$abcdefghijklmnopqrstuu5Z3b0jQn3sJ6m2yH0Xo8dY4nq1u7xWO"
	live := newAccess("1", "7", t0)
	revoked := newAccess("1", "7", t0)
	revoked.Revoked = true
	// Expired long ago: imported as it is, but nobody needs it on the log.
	old := newAccess("9b2f0c1e-uuid", "8", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	old.Revoked = true
	// Fixed ids: the fixture built twice is the same import.
	live.ID, revoked.ID, old.ID = "passport-live", "passport-revoked", "passport-old"
	rt := newRefresh(live, "")
	rt.ID, rt.FamilyID = "passport-refresh", "passport-refresh"
	return &store.PassportImport{
		Clients:       []*store.Client{c1, c2},
		AccessTokens:  []*store.AccessToken{live, revoked, old},
		RefreshTokens: []*store.RefreshToken{rt},
		SigningKey:    newKey("passport-kid", t0),
	}
}

func importCases() []Case {
	return []Case{
		{"ImportPassportWritesEverythingAndLogsRevokedLiveTokens", func(t *testing.T, s store.Store) {
			before := newKey("ours", at(-time.Hour))
			_, err := s.EnsureSigningKey(t.Context(), before)
			wantErr(t, "EnsureSigningKey", err, nil)
			imp := passportFixture()
			n, err := s.ImportPassport(t.Context(), imp)
			wantErr(t, "ImportPassport", err, nil)
			same(t, "counts", n, store.ImportCounts{Clients: 2, AccessTokens: 3, RefreshTokens: 1, Revocations: 1, SigningKey: true})
			for _, c := range imp.Clients {
				got, err := s.GetClient(t.Context(), c.ID)
				wantErr(t, "GetClient", err, nil)
				same(t, "client", got, c)
			}
			for _, a := range imp.AccessTokens {
				checkAccess(t, s, a)
			}
			checkRefresh(t, s, imp.RefreshTokens[0])
			sameSet(t, "revocation log", loggedIDs(t, s), []string{imp.AccessTokens[1].ID})
			if cur := oneCurrent(t, listKeys(t, s)); cur.ID != "passport-kid" {
				t.Fatalf("current key %s, want the imported one", cur.ID)
			}
			if n := len(listKeys(t, s)); n != 2 {
				t.Fatalf("%d keys, want ours (retired) and Passport's", n)
			}
		}},
		{"ImportPassportTwiceChangesNothing", func(t *testing.T, s store.Store) {
			_, err := s.ImportPassport(t.Context(), passportFixture())
			wantErr(t, "first ImportPassport", err, nil)
			log1, keys1 := loggedIDs(t, s), listKeys(t, s)
			n, err := s.ImportPassport(t.Context(), passportFixture())
			wantErr(t, "second ImportPassport", err, nil)
			same(t, "second counts", n, store.ImportCounts{})
			same(t, "log", loggedIDs(t, s), log1)
			same(t, "keys", listKeys(t, s), keys1)
		}},
		{"ImportPassportDryRunCountsAndChangesNothing", func(t *testing.T, s store.Store) {
			imp := passportFixture()
			imp.DryRun = true
			n, err := s.ImportPassport(t.Context(), imp)
			wantErr(t, "ImportPassport", err, nil)
			same(t, "counts", n, store.ImportCounts{Clients: 2, AccessTokens: 3, RefreshTokens: 1, Revocations: 1, SigningKey: true})
			clients, err := s.ListClients(t.Context())
			wantErr(t, "ListClients", err, nil)
			if len(clients) != 0 || len(listKeys(t, s)) != 0 || len(loggedIDs(t, s)) != 0 {
				t.Fatalf("dry run left %d clients, %d keys, %d log entries", len(clients), len(listKeys(t, s)), len(loggedIDs(t, s)))
			}
			_, err = s.GetAccessToken(t.Context(), imp.AccessTokens[0].ID)
			wantErr(t, "GetAccessToken after dry run", err, store.ErrNotFound)
		}},
		{"ImportPassportIsWholeOrAbsent", func(t *testing.T, s store.Store) {
			// A token of a client that exists nowhere fails the import after the
			// clients went in: none of them may stay.
			imp := passportFixture()
			imp.AccessTokens = append(imp.AccessTokens, newAccess("no-such-client", "7", t0))
			_, err := s.ImportPassport(t.Context(), imp)
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("ImportPassport: got %v, want ErrNotFound", err)
			}
			clients, err := s.ListClients(t.Context())
			wantErr(t, "ListClients", err, nil)
			if len(clients) != 0 || len(listKeys(t, s)) != 0 || len(loggedIDs(t, s)) != 0 {
				t.Fatal("a failed import left records behind")
			}
		}},
		{"RevokeTokensOfUserClientOrBothLogsEachOnce", func(t *testing.T, s store.Store) {
			c1, c2 := withClient(t, s), withClient(t, s)
			a1, r1 := issue(t, s, c1, "u1", "f1", t0)
			a2, _ := issue(t, s, c2, "u1", "f2", t0)
			a3, r3 := issue(t, s, c1, "u2", "f3", t0)
			a4, _ := issue(t, s, c2, "u2", "f4", t0)
			ids, err := s.RevokeTokensOf(t.Context(), "u1", c1)
			wantErr(t, "RevokeTokensOf(user, client)", err, nil)
			sameSet(t, "revoked", ids, []string{a1.ID})
			checkRefresh(t, s, revokedRefresh(r1))
			ids, err = s.RevokeTokensOf(t.Context(), "u1", "")
			wantErr(t, "RevokeTokensOf(user)", err, nil)
			sameSet(t, "revoked", ids, []string{a2.ID})
			ids, err = s.RevokeTokensOf(t.Context(), "", c1)
			wantErr(t, "RevokeTokensOf(client)", err, nil)
			sameSet(t, "revoked", ids, []string{a3.ID})
			checkRefresh(t, s, revokedRefresh(r3))
			checkAccess(t, s, a4)
			sameSet(t, "log", loggedIDs(t, s), []string{a1.ID, a2.ID, a3.ID})
			if _, err := s.RevokeTokensOf(t.Context(), "", ""); err == nil {
				t.Fatal("RevokeTokensOf with neither user nor client revoked something")
			}
			if c, err := s.GetClient(t.Context(), c1); err != nil || c.Revoked {
				t.Fatalf("client after revoking its tokens: %+v, %v", c, err)
			}
		}},
	}
}
