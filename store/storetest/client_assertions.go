package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

func clientAssertionCases() []Case {
	return []Case{
		{"ClientAssertionIdIsAcceptedOnceUntilItExpires", func(t *testing.T, s store.Store) {
			c := withClient(t, s)
			ctx := t.Context()
			wantErr(t, "first use", s.UseClientAssertion(ctx, c, "jti-1", at(time.Minute), t0), nil)
			wantErr(t, "replay", s.UseClientAssertion(ctx, c, "jti-1", at(time.Minute), t0), store.ErrAlreadyUsed)
			wantErr(t, "replay just before expiry", s.UseClientAssertion(ctx, c, "jti-1", at(2*time.Minute), at(time.Minute-time.Microsecond)), store.ErrAlreadyUsed)
			// Once expired, the assertion itself is refused by its exp; the id may be reused.
			wantErr(t, "after expiry", s.UseClientAssertion(ctx, c, "jti-1", at(3*time.Minute), at(time.Minute)), nil)
			wantErr(t, "replay of the new one", s.UseClientAssertion(ctx, c, "jti-1", at(3*time.Minute), at(2*time.Minute)), store.ErrAlreadyUsed)
		}},
		{"ClientAssertionIdsAreKeptPerClient", func(t *testing.T, s store.Store) {
			a, b := withClient(t, s), withClient(t, s)
			ctx := t.Context()
			wantErr(t, "client a", s.UseClientAssertion(ctx, a, "same", at(time.Minute), t0), nil)
			wantErr(t, "client b", s.UseClientAssertion(ctx, b, "same", at(time.Minute), t0), nil)
			wantErr(t, "client a again", s.UseClientAssertion(ctx, a, "same", at(time.Minute), t0), store.ErrAlreadyUsed)
		}},
		{"ClientAssertionOfUnknownClientIsNotFound", func(t *testing.T, s store.Store) {
			wantErr(t, "UseClientAssertion", s.UseClientAssertion(t.Context(), "no-such-client", "j", at(time.Minute), t0), store.ErrNotFound)
		}},
		{"ConcurrentUsesOfOneClientAssertionLetExactlyOneThrough", func(t *testing.T, s store.Store) {
			c := withClient(t, s)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.UseClientAssertion(t.Context(), c, "raced", at(time.Minute), t0)
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrAlreadyUsed):
					t.Fatalf("UseClientAssertion: %v, want nil or ErrAlreadyUsed", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d concurrent uses succeeded, want exactly 1", ok, n)
			}
		}},
		{"ConcurrentUsesOfDifferentKindsEachGetTheirOwnVerdict", func(t *testing.T, s store.Store) {
			// Concurrent calls may share one commit (both drivers batch them): a replay,
			// a missing client and fresh ids in the same moment each get their own
			// answer, and one caller's failure costs the others nothing.
			c := withClient(t, s)
			ctx := t.Context()
			wantErr(t, "seen", s.UseClientAssertion(ctx, c, "seen", at(time.Minute), t0), nil)
			for round := range 20 {
				fresh := func(i int) string { return fmt.Sprintf("r%d-%d", round, i) }
				calls := []struct {
					client, jti string
					want        error
				}{
					{c, fresh(0), nil},
					{c, "seen", store.ErrAlreadyUsed},
					{"no-such-client", fresh(1), store.ErrNotFound},
					{c, fresh(2), nil},
					{c, "seen", store.ErrAlreadyUsed},
					{c, fresh(3), nil},
				}
				errs := make([]error, len(calls))
				var wg sync.WaitGroup
				for i, call := range calls {
					wg.Go(func() { errs[i] = s.UseClientAssertion(ctx, call.client, call.jti, at(time.Minute), t0) })
				}
				wg.Wait()
				for i, call := range calls {
					if !errors.Is(errs[i], call.want) || (call.want == nil && errs[i] != nil) {
						t.Fatalf("round %d, %s/%s: %v, want %v", round, call.client, call.jti, errs[i], call.want)
					}
				}
				// The fresh ids are recorded: each is now a replay.
				wantErr(t, "fresh again", s.UseClientAssertion(ctx, c, fresh(2), at(time.Minute), t0), store.ErrAlreadyUsed)
			}
		}},
		{"PurgeExpiredDeletesExpiredClientAssertionIds", func(t *testing.T, s store.Store) {
			c := withClient(t, s)
			ctx := t.Context()
			wantErr(t, "old", s.UseClientAssertion(ctx, c, "old", at(-time.Minute), at(-2*time.Minute)), nil)
			wantErr(t, "live", s.UseClientAssertion(ctx, c, "live", at(time.Minute), at(-2*time.Minute)), nil)
			n, err := s.Purge(ctx, store.PurgeOptions{Revoked: true, Now: t0})
			wantErr(t, "Purge revoked", err, nil)
			if n != 0 {
				t.Fatalf("Purge revoked deleted %d rows, want 0 (assertion ids are never revoked)", n)
			}
			n, err = s.Purge(ctx, store.PurgeOptions{Expired: true, Now: t0})
			wantErr(t, "Purge expired", err, nil)
			if n != 1 {
				t.Fatalf("Purge expired deleted %d rows, want 1", n)
			}
			// The live id is still refused; the purged one is simply gone.
			wantErr(t, "live replay", s.UseClientAssertion(ctx, c, "live", at(time.Minute), t0), store.ErrAlreadyUsed)
			wantErr(t, "old again", s.UseClientAssertion(ctx, c, "old", at(time.Minute), t0), nil)
		}},
	}
}
