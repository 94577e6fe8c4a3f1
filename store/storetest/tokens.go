package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// revoked returns a copy of a record with Revoked set.
func revokedAccess(a *store.AccessToken) *store.AccessToken {
	c := *a
	c.Revoked = true
	return &c
}

func revokedRefresh(r *store.RefreshToken) *store.RefreshToken {
	c := *r
	c.Revoked = true
	return &c
}

// checkAccess fails unless the stored access token equals want.
func checkAccess(t *testing.T, s store.Store, want *store.AccessToken) {
	t.Helper()
	got, err := s.GetAccessToken(t.Context(), want.ID)
	wantErr(t, "GetAccessToken", err, nil)
	same(t, "access token "+want.ID, got, want)
}

// checkRefresh fails unless the stored refresh token equals want.
func checkRefresh(t *testing.T, s store.Store, want *store.RefreshToken) {
	t.Helper()
	got, err := s.GetRefreshToken(t.Context(), want.ID)
	wantErr(t, "GetRefreshToken", err, nil)
	same(t, "refresh token "+want.ID, got, want)
}

func accessTokenCases() []Case {
	return []Case{
		{"CreateAccessTokenWithoutRefreshTokenThenGetReturnsEveryField", func(t *testing.T, s store.Store) {
			a := newAccess(withClient(t, s), "", t0) // client credentials: no user
			a.Name = "deploy bot"
			a.Provider = ""
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a, nil), nil)
			want := *a
			checkAccess(t, s, &want)
		}},
		{"CreateAccessTokenWithRefreshTokenStoresBoth", func(t *testing.T, s store.Store) {
			a, r := issue(t, s, withClient(t, s), "u1", "fam", t0)
			checkAccess(t, s, a)
			checkRefresh(t, s, r)
		}},
		{"CreateAccessTokenLinksRefreshTokenWithoutAccessTokenID", func(t *testing.T, s store.Store) {
			a := newAccess(withClient(t, s), "u1", t0)
			r := newRefresh(a, "fam")
			r.AccessTokenID = ""
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a, r), nil)
			got, err := s.GetRefreshToken(t.Context(), r.ID)
			wantErr(t, "GetRefreshToken", err, nil)
			if got.AccessTokenID != a.ID {
				t.Fatalf("AccessTokenID %q, want %q", got.AccessTokenID, a.ID)
			}
		}},
		{"CreateAccessTokenFillsZeroCreatedAt", func(t *testing.T, s store.Store) {
			before := time.Now().Add(-time.Second)
			a := newAccess(withClient(t, s), "u1", time.Time{})
			a.ExpiresAt = t0
			r := newRefresh(a, "fam")
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a, r), nil)
			if a.CreatedAt.Before(before) || r.CreatedAt.Before(before) {
				t.Fatalf("CreatedAt %v and %v: not set to now", a.CreatedAt, r.CreatedAt)
			}
		}},
		{"CreateAccessTokenWithExistingIDFailsWithConflictAndStoresNoRefreshToken", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			a, _ := issue(t, s, client, "u1", "", t0)
			dup := newAccess(client, "u2", at(time.Minute))
			dup.ID = a.ID
			r := newRefresh(dup, "fam")
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), dup, r), store.ErrConflict)
			checkAccess(t, s, a)
			_, err := s.GetRefreshToken(t.Context(), r.ID)
			wantErr(t, "GetRefreshToken of failed pair", err, store.ErrNotFound)
		}},
		{"CreateAccessTokenWithExistingRefreshIDFailsWithConflictAndStoresNoAccessToken", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			_, r := issue(t, s, client, "u1", "fam", t0)
			a2 := newAccess(client, "u1", t0)
			r2 := newRefresh(a2, "fam2")
			r2.ID = r.ID
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a2, r2), store.ErrConflict)
			_, err := s.GetAccessToken(t.Context(), a2.ID)
			wantErr(t, "GetAccessToken of failed pair", err, store.ErrNotFound)
			checkRefresh(t, s, r)
		}},
		{"CreateAccessTokenForUnknownClientFailsWithNotFound", func(t *testing.T, s store.Store) {
			a := newAccess("no-such-client", "u1", t0)
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a, newRefresh(a, "fam")), store.ErrNotFound)
			wantErr(t, "CreateAccessToken without refresh", s.CreateAccessToken(t.Context(), a, nil), store.ErrNotFound)
		}},
		// Drivers gather concurrent creates into one commit (group commit): every token
		// must land, and a refused pair must fail its own caller only.
		{"ConcurrentCreateAccessTokensAllLand", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			const n = 200
			tokens := make([]*store.AccessToken, n)
			refreshes := make([]*store.RefreshToken, n)
			for i := range n {
				tokens[i] = newAccess(client, fmt.Sprintf("u%d", i%7), t0)
				if i%2 == 0 {
					refreshes[i] = newRefresh(tokens[i], newID("fam-"))
				}
			}
			errs := concurrently(n, func(i int) error { return s.CreateAccessToken(t.Context(), tokens[i], refreshes[i]) })
			for i, err := range errs {
				wantErr(t, fmt.Sprintf("CreateAccessToken %d", i), err, nil)
			}
			for i := range n {
				checkAccess(t, s, tokens[i])
				if refreshes[i] != nil {
					checkRefresh(t, s, refreshes[i])
				}
			}
		}},
		{"ConcurrentCreateAccessTokensFailOnlyTheRefusedCallers", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			existing, existingRefresh := issue(t, s, client, "u1", "fam", t0)
			const n = 200
			tokens := make([]*store.AccessToken, n)
			refreshes := make([]*store.RefreshToken, n)
			want := make([]error, n)
			for i := range n {
				tokens[i] = newAccess(client, "u2", t0)
				refreshes[i] = newRefresh(tokens[i], newID("fam-"))
				switch i % 10 {
				case 3: // an access token id that exists
					tokens[i].ID, refreshes[i].AccessTokenID = existing.ID, existing.ID
					want[i] = store.ErrConflict
				case 6: // a refresh token id that exists
					refreshes[i].ID = existingRefresh.ID
					want[i] = store.ErrConflict
				case 9: // a client that does not exist
					tokens[i].ClientID, refreshes[i].ClientID = "no-such-client", "no-such-client"
					want[i] = store.ErrNotFound
				}
			}
			errs := concurrently(n, func(i int) error { return s.CreateAccessToken(t.Context(), tokens[i], refreshes[i]) })
			for i, err := range errs {
				wantErr(t, fmt.Sprintf("CreateAccessToken %d", i), err, want[i])
			}
			checkAccess(t, s, existing)
			checkRefresh(t, s, existingRefresh)
			for i := range n {
				_, errA := s.GetAccessToken(t.Context(), tokens[i].ID)
				_, errR := s.GetRefreshToken(t.Context(), refreshes[i].ID)
				switch {
				case want[i] == nil:
					checkAccess(t, s, tokens[i])
					checkRefresh(t, s, refreshes[i])
				case i%10 == 6: // the failed pair's access token was not stored either
					wantErr(t, "GetAccessToken of failed pair", errA, store.ErrNotFound)
				case i%10 == 9:
					wantErr(t, "GetAccessToken of failed pair", errA, store.ErrNotFound)
					wantErr(t, "GetRefreshToken of failed pair", errR, store.ErrNotFound)
				case i%10 == 3:
					wantErr(t, "GetRefreshToken of failed pair", errR, store.ErrNotFound)
				}
			}
		}},
		{"GetAccessTokenMissingFailsWithNotFound", func(t *testing.T, s store.Store) {
			_, err := s.GetAccessToken(t.Context(), "nope")
			wantErr(t, "GetAccessToken", err, store.ErrNotFound)
		}},
		{"ListAccessTokensReturnsTheUsersTokensOfEveryClientInCreationOrder", func(t *testing.T, s store.Store) {
			c1, c2 := withClient(t, s), withClient(t, s)
			third, _ := issue(t, s, c1, "u1", "", at(2*time.Minute))
			first, _ := issue(t, s, c2, "u1", "f", t0)
			issue(t, s, c1, "u2", "", at(time.Minute)) // another user's
			second, _ := issue(t, s, c1, "u1", "", at(time.Minute))
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), second.ID), nil)
			second.Revoked = true // revoked tokens are listed too
			got, err := s.ListAccessTokens(t.Context(), "u1")
			wantErr(t, "ListAccessTokens", err, nil)
			same(t, "tokens of u1", got, []*store.AccessToken{first, second, third})
		}},
		{"ListAccessTokensOfUserWithoutTokensReturnsNone", func(t *testing.T, s store.Store) {
			issue(t, s, withClient(t, s), "u1", "", t0)
			got, err := s.ListAccessTokens(t.Context(), "u2")
			wantErr(t, "ListAccessTokens", err, nil)
			if len(got) != 0 {
				t.Fatalf("got %d tokens, want 0", len(got))
			}
		}},
		{"RevokeAccessTokenRevokesItsRefreshTokensOnly", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			a, r := issue(t, s, client, "u1", "fam", t0)
			otherA, otherR := issue(t, s, client, "u1", "fam2", t0)
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
			checkAccess(t, s, revokedAccess(a))
			checkRefresh(t, s, revokedRefresh(r))
			checkAccess(t, s, otherA)
			checkRefresh(t, s, otherR)
			wantErr(t, "RevokeAccessToken again", s.RevokeAccessToken(t.Context(), a.ID), nil)
		}},
		{"RevokeAccessTokenMissingFailsWithNotFound", func(t *testing.T, s store.Store) {
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), "nope"), store.ErrNotFound)
		}},
	}
}

func refreshTokenCases() []Case {
	return []Case{
		{"GetRefreshTokenMissingFailsWithNotFound", func(t *testing.T, s store.Store) {
			_, err := s.GetRefreshToken(t.Context(), "nope")
			wantErr(t, "GetRefreshToken", err, store.ErrNotFound)
		}},
		{"RotateRefreshTokenRevokesOldTokenAndStoresNewPair", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			oldA, oldR := issue(t, s, client, "u1", "fam", t0)
			newA := newAccess(client, "u1", at(time.Hour))
			newR := newRefresh(newA, "fam")
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), oldR.ID, newA, newR), nil)
			checkRefresh(t, s, revokedRefresh(oldR))
			checkAccess(t, s, oldA) // rotation does not revoke the old access token
			checkAccess(t, s, newA)
			checkRefresh(t, s, newR)
		}},
		{"RotateRefreshTokenWithoutNewRefreshTokenStoresAccessTokenOnly", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			_, oldR := issue(t, s, client, "u1", "fam", t0)
			newA := newAccess(client, "u1", at(time.Hour))
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), oldR.ID, newA, nil), nil)
			checkRefresh(t, s, revokedRefresh(oldR))
			checkAccess(t, s, newA)
		}},
		{"RotateRefreshTokenTwiceFailsSecondTimeWithAlreadyUsed", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			_, oldR := issue(t, s, client, "u1", "fam", t0)
			a1 := newAccess(client, "u1", at(time.Hour))
			wantErr(t, "first RotateRefreshToken", s.RotateRefreshToken(t.Context(), oldR.ID, a1, newRefresh(a1, "fam")), nil)
			a2 := newAccess(client, "u1", at(time.Hour))
			r2 := newRefresh(a2, "fam")
			wantErr(t, "second RotateRefreshToken", s.RotateRefreshToken(t.Context(), oldR.ID, a2, r2), store.ErrAlreadyUsed)
			_, err := s.GetAccessToken(t.Context(), a2.ID)
			wantErr(t, "GetAccessToken of losing rotation", err, store.ErrNotFound)
			_, err = s.GetRefreshToken(t.Context(), r2.ID)
			wantErr(t, "GetRefreshToken of losing rotation", err, store.ErrNotFound)
		}},
		{"RotateRevokedRefreshTokenFailsWithAlreadyUsed", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			oldA, oldR := issue(t, s, client, "u1", "fam", t0)
			// Revoking the access token revokes the refresh token issued with it.
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), oldA.ID), nil)
			a := newAccess(client, "u1", at(time.Hour))
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), oldR.ID, a, newRefresh(a, "fam")), store.ErrAlreadyUsed)
		}},
		{"RotateMissingRefreshTokenFailsWithNotFoundAndStoresNothing", func(t *testing.T, s store.Store) {
			a := newAccess(withClient(t, s), "u1", t0)
			r := newRefresh(a, "fam")
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), "nope", a, r), store.ErrNotFound)
			_, err := s.GetAccessToken(t.Context(), a.ID)
			wantErr(t, "GetAccessToken", err, store.ErrNotFound)
		}},
		{"RotateRefreshTokenWithConflictingNewIDChangesNothing", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			taken, _ := issue(t, s, client, "u1", "", t0)
			_, oldR := issue(t, s, client, "u1", "fam", t0)
			a := newAccess(client, "u1", at(time.Hour))
			a.ID = taken.ID
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), oldR.ID, a, newRefresh(a, "fam")), store.ErrConflict)
			checkRefresh(t, s, oldR) // still usable: the failed rotation left it alone
		}},
		{"ConcurrentRotationsOfOneRefreshTokenHaveExactlyOneWinner", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			_, oldR := issue(t, s, client, "u1", "fam", t0)
			const n = 8
			pairs := make([]*store.AccessToken, n)
			refreshes := make([]*store.RefreshToken, n)
			for i := range n {
				pairs[i] = newAccess(client, "u1", at(time.Hour))
				refreshes[i] = newRefresh(pairs[i], "fam")
			}
			errs := concurrently(n, func(i int) error {
				return s.RotateRefreshToken(t.Context(), oldR.ID, pairs[i], refreshes[i])
			})
			winner := exactlyOneWinner(t, errs, store.ErrAlreadyUsed)
			for i := range n {
				_, errA := s.GetAccessToken(t.Context(), pairs[i].ID)
				_, errR := s.GetRefreshToken(t.Context(), refreshes[i].ID)
				want := store.ErrNotFound
				if i == winner {
					want = nil
				}
				wantErr(t, fmt.Sprintf("GetAccessToken of rotation %d", i), errA, want)
				wantErr(t, fmt.Sprintf("GetRefreshToken of rotation %d", i), errR, want)
			}
		}},
		{"RevokeRefreshFamilyRevokesEveryTokenOfTheFamilyAndTheirAccessTokens", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			a1, r1 := issue(t, s, client, "u1", "fam", t0)
			a2 := newAccess(client, "u1", at(time.Hour))
			r2 := newRefresh(a2, "fam")
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), r1.ID, a2, r2), nil)
			a3 := newAccess(client, "u1", at(2*time.Hour))
			r3 := newRefresh(a3, "fam")
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), r2.ID, a3, r3), nil)
			otherA, otherR := issue(t, s, client, "u1", "other", t0)

			wantErr(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(t.Context(), "fam"), nil)

			for _, a := range []*store.AccessToken{a1, a2, a3} {
				checkAccess(t, s, revokedAccess(a))
			}
			for _, r := range []*store.RefreshToken{r1, r2, r3} {
				checkRefresh(t, s, revokedRefresh(r))
			}
			checkAccess(t, s, otherA)
			checkRefresh(t, s, otherR)
		}},
		{"RevokeRefreshFamilyWithoutTokensSucceeds", func(t *testing.T, s store.Store) {
			wantErr(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(t.Context(), "nope"), nil)
		}},
	}
}

func authCodeCases() []Case {
	return []Case{
		{"CreateAuthCodeWithExistingIDFailsWithConflict", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			dup := newCode(client)
			dup.ID = c.ID
			wantErr(t, "second CreateAuthCode", s.CreateAuthCode(t.Context(), dup), store.ErrConflict)
		}},
		{"CreateAuthCodeForUnknownClientFailsWithNotFound", func(t *testing.T, s store.Store) {
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), newCode("no-such-client")), store.ErrNotFound)
		}},
	}
}
