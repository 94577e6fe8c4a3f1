package storetest

import (
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// logged returns the whole revocation log, checking that seqs increase and that latest
// is the last one.
func logged(t *testing.T, s store.Store) []store.Revocation {
	t.Helper()
	got, latest, err := s.RevocationsAfter(t.Context(), 0, 1000)
	wantErr(t, "RevocationsAfter", err, nil)
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("seqs not increasing: %+v", got)
		}
	}
	if len(got) > 0 && latest != got[len(got)-1].Seq {
		t.Fatalf("latest %d, last entry %d", latest, got[len(got)-1].Seq)
	}
	return got
}

// loggedIDs returns the token ids of the log in order.
func loggedIDs(t *testing.T, s store.Store) []string {
	t.Helper()
	var ids []string
	for _, r := range logged(t, s) {
		ids = append(ids, r.TokenID)
	}
	return ids
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	m := map[string]int{}
	for _, g := range got {
		m[g]++
	}
	for _, w := range want {
		m[w]--
	}
	for k, n := range m {
		if n != 0 {
			t.Fatalf("%s: got %v, want %v (as a set, %q off by %d)", what, got, want, k, n)
		}
	}
}

// signalled reports whether ch closes within d.
func signalled(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func revocationCases() []Case {
	return []Case{
		{"RevocationLogOfNewStoreIsEmpty", func(t *testing.T, s store.Store) {
			got, latest, err := s.RevocationsAfter(t.Context(), 0, 10)
			wantErr(t, "RevocationsAfter", err, nil)
			if len(got) != 0 || latest != 0 {
				t.Fatalf("got %v latest %d", got, latest)
			}
			snap, latest, err := s.RevocationSnapshot(t.Context(), t0, 0)
			wantErr(t, "RevocationSnapshot", err, nil)
			if len(snap) != 0 || latest != 0 {
				t.Fatalf("snapshot %v latest %d", snap, latest)
			}
		}},
		{"RevokeAccessTokenLogsItOnceWithItsExpiry", func(t *testing.T, s store.Store) {
			a, _ := issue(t, s, withClient(t, s), "u1", "fam", t0)
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
			wantErr(t, "RevokeAccessToken again", s.RevokeAccessToken(t.Context(), a.ID), nil)
			got := logged(t, s)
			if len(got) != 1 || got[0].TokenID != a.ID || !got[0].ExpiresAt.Equal(a.ExpiresAt) {
				t.Fatalf("log %+v, want one entry for %s expiring %s", got, a.ID, a.ExpiresAt)
			}
			same(t, "expiry", got[0].ExpiresAt, a.ExpiresAt)
		}},
		{"RevokeAccessTokenMissingLogsNothing", func(t *testing.T, s store.Store) {
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), "nope"), store.ErrNotFound)
			if ids := loggedIDs(t, s); len(ids) != 0 {
				t.Fatalf("log %v", ids)
			}
		}},
		{"RevokeRefreshFamilyLogsEveryAccessTokenOfTheFamilyNotYetRevoked", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			a1, r1 := issue(t, s, client, "u1", "fam", t0)
			a2 := newAccess(client, "u1", at(time.Minute))
			r2 := newRefresh(a2, "fam")
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), r1.ID, a2, r2), nil)
			a3 := newAccess(client, "u1", at(2*time.Minute))
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), r2.ID, a3, newRefresh(a3, "fam")), nil)
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a2.ID), nil)
			other, _ := issue(t, s, client, "u1", "fam2", t0)
			wantErr(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(t.Context(), "fam"), nil)
			ids := loggedIDs(t, s)
			if len(ids) != 3 || ids[0] != a2.ID {
				t.Fatalf("log %v, want %s first, then %s and %s", ids, a2.ID, a1.ID, a3.ID)
			}
			sameSet(t, "family's entries", ids[1:], []string{a1.ID, a3.ID})
			checkAccess(t, s, other)
		}},
		{"RevokeAuthCodeTokensLogsTheCodesTokensSoGuardsRefuseThem", func(t *testing.T, s store.Store) {
			// A reused authorization code revokes what it gave; guards that follow the
			// feed must learn of it like of any other revocation.
			client := withClient(t, s)
			c := newCode(client)
			wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
			a := newAccess(client, "u1", t0)
			r := newRefresh(a, "fam")
			wantErr(t, "ExchangeAuthCode", s.ExchangeAuthCode(t.Context(), c.ID, a, r), nil)
			a2 := newAccess(client, "u1", at(time.Minute))
			wantErr(t, "RotateRefreshToken", s.RotateRefreshToken(t.Context(), r.ID, a2, newRefresh(a2, "fam")), nil)
			issue(t, s, client, "u1", "fam2", t0)
			wantErr(t, "RevokeAuthCodeTokens", s.RevokeAuthCodeTokens(t.Context(), c.ID), nil)
			sameSet(t, "logged ids", loggedIDs(t, s), []string{a.ID, a2.ID})
			wantErr(t, "RevokeAuthCodeTokens again", s.RevokeAuthCodeTokens(t.Context(), c.ID), nil)
			sameSet(t, "logged ids after a second call", loggedIDs(t, s), []string{a.ID, a2.ID})
		}},
		{"RevokeOtherTokensRevokesTheUsersOtherTokensOfTheClientOnly", func(t *testing.T, s store.Store) {
			client, otherClient := withClient(t, s), withClient(t, s)
			old1, oldR1 := issue(t, s, client, "u1", "f1", t0)
			old2, _ := issue(t, s, client, "u1", "", at(time.Minute))
			personal := newAccess(client, "u1", t0)
			personal.Name = "my token"
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), personal, nil), nil)
			otherUser, otherUserR := issue(t, s, client, "u2", "f2", t0)
			otherClientTok, _ := issue(t, s, otherClient, "u1", "", t0)
			keep, keepR := issue(t, s, client, "u1", "f3", at(time.Hour))

			ids, err := s.RevokeOtherTokens(t.Context(), "u1", client, keep.ID)
			wantErr(t, "RevokeOtherTokens", err, nil)
			sameSet(t, "revoked ids", ids, []string{old1.ID, old2.ID})
			sameSet(t, "log", loggedIDs(t, s), []string{old1.ID, old2.ID})
			checkAccess(t, s, revokedAccess(old1))
			checkAccess(t, s, revokedAccess(old2))
			checkRefresh(t, s, revokedRefresh(oldR1))
			for _, a := range []*store.AccessToken{personal, otherUser, otherClientTok, keep} {
				checkAccess(t, s, a)
			}
			checkRefresh(t, s, otherUserR)
			checkRefresh(t, s, keepR)

			ids, err = s.RevokeOtherTokens(t.Context(), "u1", client, keep.ID)
			wantErr(t, "RevokeOtherTokens again", err, nil)
			if len(ids) != 0 || len(loggedIDs(t, s)) != 2 {
				t.Fatalf("second call revoked %v", ids)
			}
		}},
		{"RevocationsAfterReturnsLaterEntriesInOrderUpToTheLimit", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			var want []string
			for i := range 5 {
				a, _ := issue(t, s, client, "u1", "", at(time.Duration(i)*time.Minute))
				wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
				want = append(want, a.ID)
			}
			all := logged(t, s)
			page, latest, err := s.RevocationsAfter(t.Context(), all[1].Seq, 2)
			wantErr(t, "RevocationsAfter", err, nil)
			if len(page) != 2 || page[0].TokenID != want[2] || page[1].TokenID != want[3] || latest != all[4].Seq {
				t.Fatalf("page %+v latest %d", page, latest)
			}
			rest, _, err := s.RevocationsAfter(t.Context(), page[1].Seq, 10)
			wantErr(t, "RevocationsAfter", err, nil)
			if len(rest) != 1 || rest[0].TokenID != want[4] {
				t.Fatalf("rest %+v", rest)
			}
			none, latest2, err := s.RevocationsAfter(t.Context(), latest, 10)
			wantErr(t, "RevocationsAfter", err, nil)
			if len(none) != 0 || latest2 != latest {
				t.Fatalf("after the end: %+v latest %d", none, latest2)
			}
		}},
		{"RevocationSnapshotListsRevokedTokensNotYetExpired", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			soon, _ := issue(t, s, client, "u1", "", t0) // expires t0+1h
			late, _ := issue(t, s, client, "u1", "", at(2*time.Hour))
			issue(t, s, client, "u1", "", t0) // not revoked
			for _, a := range []*store.AccessToken{soon, late} {
				wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
			}
			all := logged(t, s)
			snap, latest, err := s.RevocationSnapshot(t.Context(), at(90*time.Minute), 0)
			wantErr(t, "RevocationSnapshot", err, nil)
			if len(snap) != 1 || snap[0].TokenID != late.ID || latest != all[len(all)-1].Seq {
				t.Fatalf("snapshot %+v latest %d", snap, latest)
			}
			same(t, "expiry", snap[0].ExpiresAt, late.ExpiresAt)
			snap, _, err = s.RevocationSnapshot(t.Context(), t0, 0)
			wantErr(t, "RevocationSnapshot", err, nil)
			var ids []string
			for _, r := range snap {
				ids = append(ids, r.TokenID)
			}
			sameSet(t, "snapshot at t0", ids, []string{soon.ID, late.ID})
		}},
		{"RevocationRecheckIsBetweenZeroAndTheLongestLongPoll", func(t *testing.T, s store.Store) {
			// A waiter's fallback re-read must happen within a long poll (30 s at most),
			// or a missed signal would be noticed only by the next request.
			if d := s.RevocationRecheck(); d <= 0 || d > 30*time.Second {
				t.Fatalf("RevocationRecheck %v, want within (0, 30s]", d)
			}
		}},
		{"RevocationSnapshotPagesInSeqOrderAndRevocationsAfterGivesTheRest", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			var live []string
			for i := range 7 {
				issued := t0
				if i%3 == 1 {
					issued = at(-2 * time.Hour) // expired at t0: left out
				}
				a, _ := issue(t, s, client, "u1", "", issued)
				wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
				if i%3 != 1 {
					live = append(live, a.ID)
				}
			}
			page, latest, err := s.RevocationSnapshot(t.Context(), t0, 2)
			wantErr(t, "RevocationSnapshot", err, nil)
			if len(page) != 2 || page[0].Seq >= page[1].Seq || latest != logged(t, s)[6].Seq {
				t.Fatalf("first page %+v latest %d, want 2 entries in seq order", page, latest)
			}
			got := []string{page[0].TokenID, page[1].TokenID}
			rest, _, err := s.RevocationsAfter(t.Context(), page[1].Seq, 100)
			wantErr(t, "RevocationsAfter", err, nil)
			for _, r := range rest {
				if r.ExpiresAt.After(t0) {
					got = append(got, r.TokenID)
				}
			}
			sameSet(t, "first page and what follows it", got, live)
			all, _, err := s.RevocationSnapshot(t.Context(), t0, 0)
			wantErr(t, "RevocationSnapshot", err, nil)
			for i := 1; i < len(all); i++ {
				if all[i-1].Seq >= all[i].Seq {
					t.Fatalf("snapshot not in seq order: %+v", all)
				}
			}
			if len(all) != len(live) {
				t.Fatalf("unlimited snapshot has %d entries, want %d", len(all), len(live))
			}
		}},
		{"PurgeExpiredDeletesLogEntriesOfExpiredTokensButKeepsTheNewest", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			var toks []*store.AccessToken
			for i := range 3 {
				a, _ := issue(t, s, client, "u1", "", at(time.Duration(i)*time.Hour)) // expire t0+1h, +2h, +3h
				wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
				toks = append(toks, a)
			}
			latest := logged(t, s)[2].Seq
			// Revoked is not enough: entries stay until their token expires.
			_, err := s.Purge(t.Context(), store.PurgeOptions{Revoked: true, Now: at(90 * time.Minute)})
			wantErr(t, "Purge revoked", err, nil)
			if n := len(logged(t, s)); n != 3 {
				t.Fatalf("purge --revoked left %d log entries, want 3", n)
			}
			n, err := s.Purge(t.Context(), store.PurgeOptions{Expired: true, Now: at(90 * time.Minute)})
			wantErr(t, "Purge expired", err, nil)
			if n != 1 {
				t.Fatalf("Purge deleted %d rows, want 1 (the log entry of the first token)", n)
			}
			sameSet(t, "log", loggedIDs(t, s), []string{toks[1].ID, toks[2].ID})
			// Everything expired: the newest entry stays, so the latest cursor is known.
			_, err = s.Purge(t.Context(), store.PurgeOptions{Expired: true, Now: at(24 * time.Hour)})
			wantErr(t, "Purge expired", err, nil)
			got, l, err := s.RevocationsAfter(t.Context(), 0, 10)
			wantErr(t, "RevocationsAfter", err, nil)
			if len(got) != 1 || got[0].TokenID != toks[2].ID || l != latest {
				t.Fatalf("after purging all: %+v latest %d, want the newest entry and latest %d", got, l, latest)
			}
			// New entries continue after the old latest.
			a, _ := issue(t, s, client, "u1", "", t0)
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
			next, _, err := s.RevocationsAfter(t.Context(), latest, 10)
			wantErr(t, "RevocationsAfter", err, nil)
			if len(next) != 1 || next[0].TokenID != a.ID || next[0].Seq <= latest {
				t.Fatalf("new entry %+v after latest %d", next, latest)
			}
		}},
		{"RevocationSignalWakesWaitersWhenARevocationCommits", func(t *testing.T, s store.Store) {
			a, _ := issue(t, s, withClient(t, s), "u1", "", t0)
			// A driver may wake waiters once when it starts following the log; let that pass.
			signalled(s.RevocationSignal(), time.Second)
			ch := s.RevocationSignal()
			if signalled(ch, 100*time.Millisecond) {
				t.Fatal("signalled without a revocation")
			}
			wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(t.Context(), a.ID), nil)
			if !signalled(ch, 5*time.Second) {
				t.Fatal("not signalled within 5s of a revocation")
			}
		}},
	}
}
