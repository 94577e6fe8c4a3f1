package storetest

import (
	"sort"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// ownedClient is a client made through the JSON API by userID of provider.
func ownedClient(id, provider, userID string, created time.Time) *store.Client {
	c := newClient(id)
	c.Provider, c.UserID, c.Declarative = provider, userID, false
	c.CreatedAt, c.UpdatedAt = created, created
	return c
}

func dashboardCases() []Case {
	return []Case{
		{"ListClientsByOwnerReturnsOnlyTheUsersLiveClientsInOrder", func(t *testing.T, s store.Store) {
			ctx := t.Context()
			second := ownedClient("mine-2", "users", "u1", at(2*time.Minute))
			first := ownedClient("mine-1", "users", "u1", at(time.Minute))
			revoked := ownedClient("mine-revoked", "users", "u1", at(3*time.Minute))
			revoked.Revoked = true
			for _, c := range []*store.Client{
				second, first, revoked,
				ownedClient("other-user", "users", "u2", t0),
				ownedClient("other-provider", "customers", "u1", t0),
				ownedClient("nobodys", "", "", t0),
			} {
				wantErr(t, "CreateClient "+c.ID, s.CreateClient(ctx, c), nil)
			}
			got, err := s.ListClientsByOwner(ctx, "users", "u1")
			wantErr(t, "ListClientsByOwner", err, nil)
			same(t, "clients", got, []*store.Client{first, second})
			none, err := s.ListClientsByOwner(ctx, "users", "nobody")
			wantErr(t, "ListClientsByOwner of nobody", err, nil)
			same(t, "clients of nobody", len(none), 0)
		}},
		{"ListUserTokensNamesClientsAndSkipsRevokedExpiredAndOthers", func(t *testing.T, s store.Store) {
			ctx := t.Context()
			app := ownedClient("app", "", "", t0)
			app.Name, app.Grants = "Orders app", []string{"password", "refresh_token"}
			pac := ownedClient("pac", "", "", t0)
			pac.Name, pac.Grants = "Personal Access Client", []string{"personal_access"}
			wantErr(t, "CreateClient", s.CreateClient(ctx, app), nil)
			wantErr(t, "CreateClient", s.CreateClient(ctx, pac), nil)
			now := at(30 * time.Minute)
			mk := func(client, provider, user string, created time.Time, revoked bool, name string) *store.AccessToken {
				a := newAccess(client, user, created)
				a.Provider, a.Revoked, a.Name = provider, revoked, name
				wantErr(t, "CreateAccessToken", s.CreateAccessToken(ctx, a, nil), nil)
				return a
			}
			live := mk("app", "users", "u1", at(time.Minute), false, "")
			personal := mk("pac", "users", "u1", at(2*time.Minute), false, "ci")
			mk("app", "users", "u1", at(3*time.Minute), true, "")    // revoked
			mk("app", "users", "u1", at(-time.Hour), false, "")      // expired at now
			mk("app", "users", "u2", at(time.Minute), false, "")     // another user
			mk("app", "customers", "u1", at(time.Minute), false, "") // same id, another provider
			got, err := s.ListUserTokens(ctx, "users", "u1", now)
			wantErr(t, "ListUserTokens", err, nil)
			same(t, "tokens", got, []*store.UserToken{
				{AccessToken: *live, ClientName: "Orders app"},
				{AccessToken: *personal, ClientName: "Personal Access Client", Personal: true},
			})
		}},
		{"RevokeClientRevokesEveryTokenAndCodeOfThatClientOnly", func(t *testing.T, s store.Store) {
			ctx := t.Context()
			victim, other := withClient(t, s), withClient(t, s)
			a1, r1 := issue(t, s, victim, "u1", "fam-1", t0)
			a2, _ := issue(t, s, victim, "u2", "", t0)
			code := newCode(victim)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(ctx, code), nil)
			oa, or := issue(t, s, other, "u1", "fam-2", t0)
			ids, err := s.RevokeClient(ctx, victim)
			wantErr(t, "RevokeClient", err, nil)
			sort.Strings(ids)
			want := []string{a1.ID, a2.ID}
			sort.Strings(want)
			same(t, "revoked ids", ids, want)
			c, err := s.GetClient(ctx, victim)
			wantErr(t, "GetClient", err, nil)
			if !c.Revoked {
				t.Fatal("client not revoked")
			}
			checkAccess(t, s, revokedAccess(a1))
			checkAccess(t, s, revokedAccess(a2))
			checkRefresh(t, s, revokedRefresh(r1))
			// The client's code no longer works.
			wantErr(t, "ExchangeAuthCode of the client's code",
				s.ExchangeAuthCode(ctx, code.ID, newAccess(victim, "u1", t0), nil), store.ErrAlreadyUsed)
			checkAccess(t, s, oa)
			checkRefresh(t, s, or)
			// Guards following the revocation feed learn of both access tokens.
			entries, _, err := s.RevocationsAfter(ctx, 0, 100)
			wantErr(t, "RevocationsAfter", err, nil)
			logged := map[string]bool{}
			for _, e := range entries {
				logged[e.TokenID] = true
			}
			if !logged[a1.ID] || !logged[a2.ID] || logged[oa.ID] || len(entries) != 2 {
				t.Fatalf("revocation log %+v, want %s and %s", entries, a1.ID, a2.ID)
			}
			_, err = s.RevokeClient(ctx, "nope")
			wantErr(t, "RevokeClient of a missing client", err, store.ErrNotFound)
		}},
	}
}
