package storetest

import (
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

func newDeviceCode(clientID string) *store.DeviceCode {
	return &store.DeviceCode{
		ID:           newID("dc-"),
		UserCodeHash: newID("uc-"),
		ClientID:     clientID,
		Scopes:       []string{"orders:read", "orders:write"},
		Interval:     5 * time.Second,
		CreatedAt:    t0,
		ExpiresAt:    at(10 * time.Minute),
	}
}

// withDeviceCode stores a pending device code of a new client and returns it.
func withDeviceCode(t *testing.T, s store.Store) *store.DeviceCode {
	t.Helper()
	d := newDeviceCode(withClient(t, s))
	wantErr(t, "CreateDeviceCode", s.CreateDeviceCode(t.Context(), d), nil)
	return d
}

func deviceCodeCases() []Case {
	return []Case{
		{"DeviceCodeIsFoundByIdAndByUserCodeWithEveryField", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			got, err := s.GetDeviceCode(t.Context(), d.ID)
			wantErr(t, "GetDeviceCode", err, nil)
			same(t, "device code", got, d)
			got, err = s.GetDeviceCodeByUserCode(t.Context(), d.UserCodeHash)
			wantErr(t, "GetDeviceCodeByUserCode", err, nil)
			same(t, "device code by user code", got, d)
			_, err = s.GetDeviceCode(t.Context(), "nope")
			wantErr(t, "GetDeviceCode of a missing code", err, store.ErrNotFound)
			_, err = s.GetDeviceCodeByUserCode(t.Context(), "nope")
			wantErr(t, "GetDeviceCodeByUserCode of a missing code", err, store.ErrNotFound)
		}},
		{"CreateDeviceCodeRefusesALiveUserCodeAndReplacesAnExpiredOne", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			live := newDeviceCode(d.ClientID)
			live.UserCodeHash, live.CreatedAt = d.UserCodeHash, at(time.Minute)
			wantErr(t, "CreateDeviceCode with a live user code", s.CreateDeviceCode(t.Context(), live), store.ErrConflict)
			_, err := s.GetDeviceCode(t.Context(), live.ID)
			wantErr(t, "GetDeviceCode of the refused one", err, store.ErrNotFound)

			later := newDeviceCode(d.ClientID)
			later.UserCodeHash, later.CreatedAt, later.ExpiresAt = d.UserCodeHash, d.ExpiresAt, d.ExpiresAt.Add(10*time.Minute)
			wantErr(t, "CreateDeviceCode once the first expired", s.CreateDeviceCode(t.Context(), later), nil)
			_, err = s.GetDeviceCode(t.Context(), d.ID)
			wantErr(t, "GetDeviceCode of the expired one", err, store.ErrNotFound)
			got, err := s.GetDeviceCodeByUserCode(t.Context(), d.UserCodeHash)
			wantErr(t, "GetDeviceCodeByUserCode", err, nil)
			same(t, "device code holding the user code", got, later)

			dup := newDeviceCode(d.ClientID)
			dup.ID = later.ID
			wantErr(t, "CreateDeviceCode with an existing id", s.CreateDeviceCode(t.Context(), dup), store.ErrConflict)
		}},
		{"CreateDeviceCodeForAMissingClientFailsWithNotFound", func(t *testing.T, s store.Store) {
			d := newDeviceCode("no-such-client")
			wantErr(t, "CreateDeviceCode", s.CreateDeviceCode(t.Context(), d), store.ErrNotFound)
		}},
		{"DecideDeviceCodeRecordsTheFirstAnswerOnly", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			login := at(-time.Hour)
			wantErr(t, "approve", s.DecideDeviceCode(t.Context(), d.ID, store.DeviceApproved, "user-1", "users", login, at(time.Minute)), nil)
			wantErr(t, "deny after approve", s.DecideDeviceCode(t.Context(), d.ID, store.DeviceDenied, "user-2", "users", login, at(2*time.Minute)), store.ErrAlreadyUsed)
			got, err := s.GetDeviceCode(t.Context(), d.ID)
			wantErr(t, "GetDeviceCode", err, nil)
			want := *d
			want.Decision, want.UserID, want.Provider, want.AuthTime = store.DeviceApproved, "user-1", "users", login
			same(t, "approved device code", got, &want)
			wantErr(t, "decide a missing code", s.DecideDeviceCode(t.Context(), "nope", store.DeviceApproved, "u", "users", login, t0), store.ErrNotFound)
		}},
		{"DecideDeviceCodeRefusesAnExpiredCode", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			err := s.DecideDeviceCode(t.Context(), d.ID, store.DeviceApproved, "user-1", "users", t0, d.ExpiresAt)
			wantErr(t, "approve at expiry", err, store.ErrAlreadyUsed)
			got, _ := s.GetDeviceCode(t.Context(), d.ID)
			same(t, "expired device code", got, d)
		}},
		{"ConcurrentDecisionsOnADeviceCodeHaveExactlyOneWinner", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			const n = 8
			errs := concurrently(n, func(i int) error {
				decision := store.DeviceApproved
				if i%2 == 1 {
					decision = store.DeviceDenied
				}
				return s.DecideDeviceCode(t.Context(), d.ID, decision, newID("user-"), "users", t0, t0)
			})
			exactlyOneWinner(t, errs, store.ErrAlreadyUsed)
		}},
		{"PollDeviceCodeReturnsTheCodeAsItWasBeforeThePoll", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			first, err := s.PollDeviceCode(t.Context(), d.ID, at(time.Second))
			wantErr(t, "first PollDeviceCode", err, nil)
			same(t, "before the first poll", first, d)
			second, err := s.PollDeviceCode(t.Context(), d.ID, at(7*time.Second))
			wantErr(t, "second PollDeviceCode", err, nil)
			same(t, "previous poll", second.LastPolledAt, at(time.Second))
			got, _ := s.GetDeviceCode(t.Context(), d.ID)
			same(t, "last poll", got.LastPolledAt, at(7*time.Second))
			_, err = s.PollDeviceCode(t.Context(), "nope", t0)
			wantErr(t, "PollDeviceCode of a missing code", err, store.ErrNotFound)
		}},
		{"ConcurrentPollsOfADeviceCodeSeeEachOther", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			const n = 8
			prev := make([]time.Time, n)
			errs := concurrently(n, func(i int) error {
				p, err := s.PollDeviceCode(t.Context(), d.ID, at(time.Duration(i+1)*time.Millisecond))
				if err == nil {
					prev[i] = p.LastPolledAt
				}
				return err
			})
			// Serialised polls: exactly one saw no earlier poll, and no two saw the same one.
			seen := map[time.Time]bool{}
			for i, err := range errs {
				wantErr(t, "PollDeviceCode", err, nil)
				if seen[prev[i]] {
					t.Fatalf("two polls saw the same previous poll %v: %v", prev[i], prev)
				}
				seen[prev[i]] = true
			}
			if !seen[time.Time{}] {
				t.Fatalf("every poll saw an earlier one: %v", prev)
			}
		}},
		{"SlowDownDeviceCodeRaisesTheInterval", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			for i, want := range []time.Duration{10 * time.Second, 15 * time.Second} {
				got, err := s.SlowDownDeviceCode(t.Context(), d.ID, 5*time.Second)
				wantErr(t, "SlowDownDeviceCode", err, nil)
				if got != want {
					t.Fatalf("slow down #%d: interval %v, want %v", i+1, got, want)
				}
			}
			got, _ := s.GetDeviceCode(t.Context(), d.ID)
			same(t, "stored interval", got.Interval, 15*time.Second)
			_, err := s.SlowDownDeviceCode(t.Context(), "nope", time.Second)
			wantErr(t, "SlowDownDeviceCode of a missing code", err, store.ErrNotFound)
		}},
		{"ExchangeDeviceCodeGivesTokensOnceAndOnlyWhenApproved", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			pending := newAccess(d.ClientID, "user-1", t0)
			wantErr(t, "exchange a pending code", s.ExchangeDeviceCode(t.Context(), d.ID, pending, nil), store.ErrAlreadyUsed)
			_, err := s.GetAccessToken(t.Context(), pending.ID)
			wantErr(t, "GetAccessToken of the pending exchange", err, store.ErrNotFound)

			wantErr(t, "approve", s.DecideDeviceCode(t.Context(), d.ID, store.DeviceApproved, "user-1", "users", t0, t0), nil)
			a := newAccess(d.ClientID, "user-1", t0)
			r := newRefresh(a, newID("fam-"))
			wantErr(t, "ExchangeDeviceCode", s.ExchangeDeviceCode(t.Context(), d.ID, a, r), nil)
			checkAccess(t, s, a)
			checkRefresh(t, s, r)
			got, _ := s.GetDeviceCode(t.Context(), d.ID)
			if !got.Used || got.AccessTokenID != a.ID {
				t.Fatalf("after the exchange: used %v, access token %q, want %q", got.Used, got.AccessTokenID, a.ID)
			}

			a2 := newAccess(d.ClientID, "user-1", t0)
			r2 := newRefresh(a2, newID("fam-"))
			wantErr(t, "second ExchangeDeviceCode", s.ExchangeDeviceCode(t.Context(), d.ID, a2, r2), store.ErrAlreadyUsed)
			_, err = s.GetAccessToken(t.Context(), a2.ID)
			wantErr(t, "GetAccessToken of the second exchange", err, store.ErrNotFound)
			_, err = s.GetRefreshToken(t.Context(), r2.ID)
			wantErr(t, "GetRefreshToken of the second exchange", err, store.ErrNotFound)
			wantErr(t, "exchange a missing code", s.ExchangeDeviceCode(t.Context(), "nope", newAccess(d.ClientID, "u", t0), nil), store.ErrNotFound)
		}},
		{"ExchangeDeviceCodeRefusesADeniedCode", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			wantErr(t, "deny", s.DecideDeviceCode(t.Context(), d.ID, store.DeviceDenied, "user-1", "users", t0, t0), nil)
			a := newAccess(d.ClientID, "user-1", t0)
			wantErr(t, "exchange a denied code", s.ExchangeDeviceCode(t.Context(), d.ID, a, nil), store.ErrAlreadyUsed)
			_, err := s.GetAccessToken(t.Context(), a.ID)
			wantErr(t, "GetAccessToken", err, store.ErrNotFound)
		}},
		{"ConcurrentExchangesOfADeviceCodeHaveExactlyOneWinner", func(t *testing.T, s store.Store) {
			d := withDeviceCode(t, s)
			wantErr(t, "approve", s.DecideDeviceCode(t.Context(), d.ID, store.DeviceApproved, "user-1", "users", t0, t0), nil)
			const n = 8
			tokens := make([]*store.AccessToken, n)
			for i := range tokens {
				tokens[i] = newAccess(d.ClientID, "user-1", t0)
			}
			errs := concurrently(n, func(i int) error {
				return s.ExchangeDeviceCode(t.Context(), d.ID, tokens[i], newRefresh(tokens[i], newID("fam-")))
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
		{"PurgeDeletesSpentAndExpiredDeviceCodes", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			mk := func(expires time.Time, decision string, used bool) string {
				d := newDeviceCode(client)
				d.CreatedAt, d.ExpiresAt = expires.Add(-10*time.Minute), expires
				wantErr(t, "CreateDeviceCode", s.CreateDeviceCode(t.Context(), d), nil)
				if decision != store.DevicePending {
					wantErr(t, "DecideDeviceCode", s.DecideDeviceCode(t.Context(), d.ID, decision, "user-1", "users", d.CreatedAt, d.CreatedAt), nil)
				}
				if used {
					wantErr(t, "ExchangeDeviceCode", s.ExchangeDeviceCode(t.Context(), d.ID, newAccess(client, "user-1", d.CreatedAt), nil), nil)
				}
				return d.ID
			}
			live := mk(at(time.Hour), store.DevicePending, false)
			approved := mk(at(time.Hour), store.DeviceApproved, false)
			used := mk(at(time.Hour), store.DeviceApproved, true)
			denied := mk(at(time.Hour), store.DeviceDenied, false)
			expired := mk(at(-time.Minute), store.DevicePending, false)
			exists := func(id string) bool {
				_, err := s.GetDeviceCode(t.Context(), id)
				return err == nil
			}
			_, err := s.Purge(t.Context(), store.PurgeOptions{Revoked: true, Now: t0})
			wantErr(t, "Purge revoked", err, nil)
			if exists(used) || exists(denied) || !exists(live) || !exists(approved) || !exists(expired) {
				t.Fatalf("after purging revoked: used %v denied %v live %v approved %v expired %v",
					exists(used), exists(denied), exists(live), exists(approved), exists(expired))
			}
			_, err = s.Purge(t.Context(), store.PurgeOptions{Expired: true, Now: t0})
			wantErr(t, "Purge expired", err, nil)
			if exists(expired) || !exists(live) || !exists(approved) {
				t.Fatalf("after purging expired: expired %v live %v approved %v", exists(expired), exists(live), exists(approved))
			}
		}},
	}
}
