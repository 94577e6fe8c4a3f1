package storetest

import (
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

func newSession(userID string) *store.Session {
	return &store.Session{
		ID:         newID("sess-"),
		UserID:     userID,
		Provider:   "users",
		Username:   userID + "@example.com",
		CSRFToken:  newID("csrf-"),
		CreatedAt:  t0,
		LastSeenAt: at(time.Minute),
		ExpiresAt:  at(2 * time.Hour),
	}
}

func sessionCases() []Case {
	return []Case{
		{"CreateSessionThenGetReturnsEveryField", func(t *testing.T, s store.Store) {
			sess := newSession("u1")
			wantErr(t, "CreateSession", s.CreateSession(t.Context(), sess), nil)
			got, err := s.GetSession(t.Context(), sess.ID)
			wantErr(t, "GetSession", err, nil)
			same(t, "session", got, sess)
		}},
		{"CreateSessionFillsZeroCreatedAtAndLastSeenAt", func(t *testing.T, s store.Store) {
			before := time.Now().Add(-time.Second)
			sess := newSession("u1")
			sess.CreatedAt, sess.LastSeenAt = time.Time{}, time.Time{}
			wantErr(t, "CreateSession", s.CreateSession(t.Context(), sess), nil)
			if sess.CreatedAt.Before(before) || !sess.LastSeenAt.Equal(sess.CreatedAt) {
				t.Fatalf("CreatedAt %v, LastSeenAt %v: not set to now", sess.CreatedAt, sess.LastSeenAt)
			}
			got, err := s.GetSession(t.Context(), sess.ID)
			wantErr(t, "GetSession", err, nil)
			same(t, "session", got, sess)
		}},
		{"CreateSessionWithExistingIDFailsWithConflictAndKeepsTheFirst", func(t *testing.T, s store.Store) {
			first := newSession("u1")
			wantErr(t, "CreateSession", s.CreateSession(t.Context(), first), nil)
			dup := newSession("u2")
			dup.ID = first.ID
			wantErr(t, "second CreateSession", s.CreateSession(t.Context(), dup), store.ErrConflict)
			got, err := s.GetSession(t.Context(), first.ID)
			wantErr(t, "GetSession", err, nil)
			same(t, "session", got, first)
		}},
		{"GetMissingSessionFailsWithNotFound", func(t *testing.T, s store.Store) {
			_, err := s.GetSession(t.Context(), "nope")
			wantErr(t, "GetSession", err, store.ErrNotFound)
		}},
		{"TouchSessionMovesLastSeenAndExpiryOnly", func(t *testing.T, s store.Store) {
			sess := newSession("u1")
			wantErr(t, "CreateSession", s.CreateSession(t.Context(), sess), nil)
			wantErr(t, "TouchSession", s.TouchSession(t.Context(), sess.ID, at(time.Hour), at(3*time.Hour)), nil)
			want := *sess
			want.LastSeenAt, want.ExpiresAt = at(time.Hour), at(3*time.Hour)
			got, err := s.GetSession(t.Context(), sess.ID)
			wantErr(t, "GetSession", err, nil)
			same(t, "session", got, &want)
			wantErr(t, "TouchSession of missing session", s.TouchSession(t.Context(), "nope", t0, t0), store.ErrNotFound)
		}},
		{"DeleteSessionRemovesOnlyThatSession", func(t *testing.T, s store.Store) {
			a, b := newSession("u1"), newSession("u1")
			for _, sess := range []*store.Session{a, b} {
				wantErr(t, "CreateSession", s.CreateSession(t.Context(), sess), nil)
			}
			wantErr(t, "DeleteSession", s.DeleteSession(t.Context(), a.ID), nil)
			_, err := s.GetSession(t.Context(), a.ID)
			wantErr(t, "GetSession of deleted session", err, store.ErrNotFound)
			_, err = s.GetSession(t.Context(), b.ID)
			wantErr(t, "GetSession of other session", err, nil)
			wantErr(t, "second DeleteSession", s.DeleteSession(t.Context(), a.ID), store.ErrNotFound)
		}},
		{"DeleteUserSessionsRemovesEveryOneOfThatUserAndProviderOnly", func(t *testing.T, s store.Store) {
			mine1, mine2, other := newSession("u1"), newSession("u1"), newSession("u2")
			otherProvider := newSession("u1")
			otherProvider.Provider = "admins"
			for _, sess := range []*store.Session{mine1, mine2, other, otherProvider} {
				wantErr(t, "CreateSession", s.CreateSession(t.Context(), sess), nil)
			}
			n, err := s.DeleteUserSessions(t.Context(), "users", "u1")
			wantErr(t, "DeleteUserSessions", err, nil)
			if n != 2 {
				t.Fatalf("DeleteUserSessions deleted %d, want 2", n)
			}
			for _, sess := range []*store.Session{other, otherProvider} {
				_, err := s.GetSession(t.Context(), sess.ID)
				wantErr(t, "GetSession of a session that must stay", err, nil)
			}
		}},
		{"PurgeExpiredDeletesSessionsExpiredBeforeNowOnly", func(t *testing.T, s store.Store) {
			live, atNow, expired := newSession("u1"), newSession("u1"), newSession("u1")
			atNow.ExpiresAt, expired.ExpiresAt = t0, at(-time.Second)
			for _, sess := range []*store.Session{live, atNow, expired} {
				wantErr(t, "CreateSession", s.CreateSession(t.Context(), sess), nil)
			}
			n, err := s.Purge(t.Context(), store.PurgeOptions{Revoked: true, Now: t0})
			wantErr(t, "Purge revoked", err, nil)
			if n != 0 {
				t.Fatalf("Purge of revoked records deleted %d rows, want 0", n)
			}
			n, err = s.Purge(t.Context(), store.PurgeOptions{Expired: true, Now: t0})
			wantErr(t, "Purge expired", err, nil)
			if n != 1 {
				t.Fatalf("Purge deleted %d rows, want 1", n)
			}
			_, err = s.GetSession(t.Context(), expired.ID)
			wantErr(t, "GetSession of expired session", err, store.ErrNotFound)
			for _, sess := range []*store.Session{live, atNow} {
				_, err := s.GetSession(t.Context(), sess.ID)
				wantErr(t, "GetSession of unexpired session", err, nil)
			}
		}},
	}
}

func newConsent(clientID, userID string, scopes ...string) *store.Consent {
	return &store.Consent{
		Provider:  "users",
		UserID:    userID,
		ClientID:  clientID,
		Scopes:    scopes,
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

func consentCases() []Case {
	return []Case{
		{"SaveConsentThenGetReturnsEveryField", func(t *testing.T, s store.Store) {
			c := newConsent(withClient(t, s), "u1", "orders:read", "profile")
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), c), nil)
			got, err := s.GetConsent(t.Context(), "users", "u1", c.ClientID)
			wantErr(t, "GetConsent", err, nil)
			same(t, "consent", got, c)
		}},
		{"SaveConsentAgainReplacesScopesAndKeepsCreatedAt", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), newConsent(client, "u1", "a", "b")), nil)
			again := newConsent(client, "u1", "c")
			again.CreatedAt, again.UpdatedAt = at(time.Hour), at(time.Hour)
			wantErr(t, "second SaveConsent", s.SaveConsent(t.Context(), again), nil)
			got, err := s.GetConsent(t.Context(), "users", "u1", client)
			wantErr(t, "GetConsent", err, nil)
			want := newConsent(client, "u1", "c")
			want.UpdatedAt = at(time.Hour)
			same(t, "consent", got, want)
		}},
		{"SaveConsentForUnknownClientFailsWithNotFound", func(t *testing.T, s store.Store) {
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), newConsent("no-such-client", "u1", "a")), store.ErrNotFound)
		}},
		{"GetConsentIsPerProviderUserAndClient", func(t *testing.T, s store.Store) {
			client, other := withClient(t, s), withClient(t, s)
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), newConsent(client, "u1", "a")), nil)
			for _, k := range [][3]string{{"users", "u2", client}, {"admins", "u1", client}, {"users", "u1", other}} {
				_, err := s.GetConsent(t.Context(), k[0], k[1], k[2])
				wantErr(t, "GetConsent "+k[0]+"/"+k[1]+"/"+k[2], err, store.ErrNotFound)
			}
		}},
		{"DeleteConsentRemovesIt", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			wantErr(t, "SaveConsent", s.SaveConsent(t.Context(), newConsent(client, "u1", "a")), nil)
			wantErr(t, "DeleteConsent", s.DeleteConsent(t.Context(), "users", "u1", client), nil)
			_, err := s.GetConsent(t.Context(), "users", "u1", client)
			wantErr(t, "GetConsent", err, store.ErrNotFound)
			wantErr(t, "second DeleteConsent", s.DeleteConsent(t.Context(), "users", "u1", client), store.ErrNotFound)
		}},
	}
}

func authCodeExchangeCases() []Case {
	return []Case{
		{"GetAuthCodeReturnsEveryFieldWithoutUsingIt", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			got, err := s.GetAuthCode(t.Context(), c.ID)
			wantErr(t, "GetAuthCode", err, nil)
			same(t, "code", got, c)
			err = s.ExchangeAuthCode(t.Context(), c.ID, newAccess(client, "user-1", t0), nil)
			wantErr(t, "ExchangeAuthCode after GetAuthCode", err, nil)
			_, err = s.GetAuthCode(t.Context(), "nope")
			wantErr(t, "GetAuthCode of missing code", err, store.ErrNotFound)
		}},
		{"ExchangeAuthCodeMarksItUsedAndStoresTheTokens", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			a := newAccess(client, "user-1", t0)
			r := newRefresh(a, newID("fam-"))
			wantErr(t, "ExchangeAuthCode", s.ExchangeAuthCode(t.Context(), c.ID, a, r), nil)
			checkAccess(t, s, a)
			checkRefresh(t, s, r)
			got, err := s.GetAuthCode(t.Context(), c.ID)
			wantErr(t, "GetAuthCode", err, nil)
			want := *c
			want.Revoked, want.AccessTokenID = true, a.ID
			same(t, "code", got, &want)
		}},
		{"ExchangeAuthCodeTwiceFailsWithAlreadyUsedAndStoresNothing", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			a1 := newAccess(client, "user-1", t0)
			wantErr(t, "first ExchangeAuthCode", s.ExchangeAuthCode(t.Context(), c.ID, a1, nil), nil)
			a2 := newAccess(client, "user-1", t0)
			r2 := newRefresh(a2, newID("fam-"))
			wantErr(t, "second ExchangeAuthCode", s.ExchangeAuthCode(t.Context(), c.ID, a2, r2), store.ErrAlreadyUsed)
			_, err := s.GetAccessToken(t.Context(), a2.ID)
			wantErr(t, "GetAccessToken of the loser", err, store.ErrNotFound)
			_, err = s.GetRefreshToken(t.Context(), r2.ID)
			wantErr(t, "GetRefreshToken of the loser", err, store.ErrNotFound)
		}},
		{"ExchangeMissingAuthCodeFailsWithNotFoundAndStoresNothing", func(t *testing.T, s store.Store) {
			a := newAccess(withClient(t, s), "user-1", t0)
			wantErr(t, "ExchangeAuthCode", s.ExchangeAuthCode(t.Context(), "nope", a, nil), store.ErrNotFound)
			_, err := s.GetAccessToken(t.Context(), a.ID)
			wantErr(t, "GetAccessToken", err, store.ErrNotFound)
		}},
		{"ConcurrentExchangesOfOneAuthCodeHaveExactlyOneWinner", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			const n = 8
			tokens := make([]*store.AccessToken, n)
			errs := concurrently(n, func(i int) error {
				tokens[i] = newAccess(client, "user-1", t0)
				return s.ExchangeAuthCode(t.Context(), c.ID, tokens[i], newRefresh(tokens[i], newID("fam-")))
			})
			winner := exactlyOneWinner(t, errs, store.ErrAlreadyUsed)
			for i, a := range tokens {
				_, err := s.GetAccessToken(t.Context(), a.ID)
				if i == winner {
					wantErr(t, "GetAccessToken of the winner", err, nil)
				} else {
					wantErr(t, "GetAccessToken of a loser", err, store.ErrNotFound)
				}
			}
		}},
		{"RevokeAuthCodeTokensRevokesTheTokensAndEverythingRotatedFromThem", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			a := newAccess(client, "user-1", t0)
			fam := newID("fam-")
			r := newRefresh(a, fam)
			wantErr(t, "ExchangeAuthCode", s.ExchangeAuthCode(t.Context(), c.ID, a, r), nil)
			a2 := newAccess(client, "user-1", at(time.Minute))
			r2 := newRefresh(a2, fam)
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), r.ID, a2, r2), nil)
			// Tokens of the same user and client from elsewhere must stay valid.
			bystander, bystanderRefresh := issue(t, s, client, "user-1", newID("fam-"), t0)

			wantErr(t, "RevokeAuthCodeTokens", s.RevokeAuthCodeTokens(t.Context(), c.ID), nil)
			checkAccess(t, s, revokedAccess(a))
			checkAccess(t, s, revokedAccess(a2))
			checkRefresh(t, s, revokedRefresh(r))
			checkRefresh(t, s, revokedRefresh(r2))
			checkAccess(t, s, bystander)
			checkRefresh(t, s, bystanderRefresh)
		}},
		{"RevokeAuthCodeTokensOfAnUnexchangedOrMissingCodeChangesNothing", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			bystander, bystanderRefresh := issue(t, s, client, "user-1", newID("fam-"), t0)
			wantErr(t, "RevokeAuthCodeTokens", s.RevokeAuthCodeTokens(t.Context(), c.ID), nil)
			wantErr(t, "RevokeAuthCodeTokens of a missing code", s.RevokeAuthCodeTokens(t.Context(), "nope"), nil)
			checkAccess(t, s, bystander)
			checkRefresh(t, s, bystanderRefresh)
			got, err := s.GetAuthCode(t.Context(), c.ID)
			wantErr(t, "GetAuthCode", err, nil)
			same(t, "code", got, c)
		}},
	}
}
