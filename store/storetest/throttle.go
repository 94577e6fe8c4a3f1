package storetest

import (
	"sort"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

func loginThrottleCases() []Case {
	const window = 15 * time.Minute
	return []Case{
		{"RecordLoginFailureCountsWithinOneWindow", func(t *testing.T, s store.Store) {
			for i := 1; i <= 3; i++ {
				n, until, err := s.RecordLoginFailure(t.Context(), "k", at(time.Duration(i)*time.Minute), window)
				wantErr(t, "RecordLoginFailure", err, nil)
				same(t, "failures", n, i)
				same(t, "window end", until, at(time.Minute+window)) // the first failure opened it
			}
			n, until, err := s.LoginFailures(t.Context(), "k", at(5*time.Minute))
			wantErr(t, "LoginFailures", err, nil)
			same(t, "failures", n, 3)
			same(t, "window end", until, at(time.Minute+window))
		}},
		{"RecordLoginFailureAfterWindowEndsStartsAgainAtOne", func(t *testing.T, s store.Store) {
			for range 4 {
				_, _, err := s.RecordLoginFailure(t.Context(), "k", t0, window)
				wantErr(t, "RecordLoginFailure", err, nil)
			}
			n, until, err := s.RecordLoginFailure(t.Context(), "k", at(window), window)
			wantErr(t, "RecordLoginFailure at the window's end", err, nil)
			same(t, "failures", n, 1)
			same(t, "window end", until, at(2*window))
		}},
		{"LoginFailuresIsZeroForUnknownKeyAndEndedWindow", func(t *testing.T, s store.Store) {
			n, until, err := s.LoginFailures(t.Context(), "nobody", t0)
			wantErr(t, "LoginFailures", err, nil)
			if n != 0 || !until.IsZero() {
				t.Fatalf("unknown key: %d until %v", n, until)
			}
			_, _, err = s.RecordLoginFailure(t.Context(), "k", t0, window)
			wantErr(t, "RecordLoginFailure", err, nil)
			n, _, err = s.LoginFailures(t.Context(), "k", at(window))
			wantErr(t, "LoginFailures", err, nil)
			same(t, "failures after the window", n, 0)
		}},
		{"ClearLoginFailuresForgetsOnlyThatKey", func(t *testing.T, s store.Store) {
			for _, k := range []string{"a", "b", "b"} {
				_, _, err := s.RecordLoginFailure(t.Context(), k, t0, window)
				wantErr(t, "RecordLoginFailure", err, nil)
			}
			wantErr(t, "ClearLoginFailures", s.ClearLoginFailures(t.Context(), "b"), nil)
			wantErr(t, "ClearLoginFailures of nothing", s.ClearLoginFailures(t.Context(), "never"), nil)
			if n, _, _ := s.LoginFailures(t.Context(), "b", t0); n != 0 {
				t.Fatalf("cleared key has %d failures", n)
			}
			if n, _, _ := s.LoginFailures(t.Context(), "a", t0); n != 1 {
				t.Fatalf("other key has %d failures, want 1", n)
			}
		}},
		{"ConcurrentLoginFailuresAreAllCounted", func(t *testing.T, s store.Store) {
			const n = 16
			counts := make([]int, n)
			errs := concurrently(n, func(i int) error {
				var err error
				counts[i], _, err = s.RecordLoginFailure(t.Context(), "k", t0, window)
				return err
			})
			for i, err := range errs {
				wantErr(t, "RecordLoginFailure #"+string(rune('a'+i)), err, nil)
			}
			sort.Ints(counts)
			for i, c := range counts {
				if c != i+1 {
					t.Fatalf("counts returned %v, want 1..%d each once", counts, n)
				}
			}
			got, _, err := s.LoginFailures(t.Context(), "k", t0)
			wantErr(t, "LoginFailures", err, nil)
			same(t, "failures", got, n)
		}},
		{"DeleteExpiredLoginFailuresKeepsCurrentWindows", func(t *testing.T, s store.Store) {
			_, _, err := s.RecordLoginFailure(t.Context(), "old", t0, window)
			wantErr(t, "RecordLoginFailure", err, nil)
			_, _, err = s.RecordLoginFailure(t.Context(), "new", at(window), window)
			wantErr(t, "RecordLoginFailure", err, nil)
			n, err := s.DeleteExpiredLoginFailures(t.Context(), at(window+time.Second))
			wantErr(t, "DeleteExpiredLoginFailures", err, nil)
			same(t, "deleted", n, int64(1))
			if got, _, _ := s.LoginFailures(t.Context(), "new", at(window+time.Second)); got != 1 {
				t.Fatalf("current window lost: %d", got)
			}
		}},
	}
}
