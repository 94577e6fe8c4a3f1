package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// retired returns a copy of a key retired at when.
func retired(k *store.SigningKey, when time.Time) *store.SigningKey {
	c := *k
	c.RetiredAt = &when
	return &c
}

func listKeys(t *testing.T, s store.Store) []*store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context())
	wantErr(t, "ListSigningKeys", err, nil)
	return keys
}

// oneCurrent fails unless exactly one listed key is current, and returns it.
func oneCurrent(t *testing.T, keys []*store.SigningKey) *store.SigningKey {
	t.Helper()
	var cur *store.SigningKey
	for _, k := range keys {
		if k.RetiredAt == nil {
			if cur != nil {
				t.Fatalf("keys %s and %s are both current", cur.ID, k.ID)
			}
			cur = k
		}
	}
	if cur == nil {
		t.Fatalf("no current key among %d", len(keys))
	}
	return cur
}

func signingKeyCases() []Case {
	return []Case{
		{"ListSigningKeysOnEmptyStoreReturnsNone", func(t *testing.T, s store.Store) {
			if keys := listKeys(t, s); len(keys) != 0 {
				t.Fatalf("got %d keys, want 0", len(keys))
			}
		}},
		{"EnsureSigningKeyOnEmptyStoreStoresAndReturnsTheKey", func(t *testing.T, s store.Store) {
			k := newKey("k1", t0)
			got, err := s.EnsureSigningKey(t.Context(), k)
			wantErr(t, "EnsureSigningKey", err, nil)
			same(t, "returned key", got, newKey("k1", t0))
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k1", t0)})
		}},
		{"EnsureSigningKeyWithCurrentKeyReturnsItAndStoresNothing", func(t *testing.T, s store.Store) {
			_, err := s.EnsureSigningKey(t.Context(), newKey("k1", t0))
			wantErr(t, "first EnsureSigningKey", err, nil)
			got, err := s.EnsureSigningKey(t.Context(), newKey("k2", at(time.Hour)))
			wantErr(t, "second EnsureSigningKey", err, nil)
			same(t, "returned key", got, newKey("k1", t0))
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k1", t0)})
		}},
		{"EnsureSigningKeyAfterRotationReturnsTheNewKey", func(t *testing.T, s store.Store) {
			_, err := s.EnsureSigningKey(t.Context(), newKey("k1", t0))
			wantErr(t, "EnsureSigningKey", err, nil)
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k2", at(time.Hour))), nil)
			got, err := s.EnsureSigningKey(t.Context(), newKey("k3", at(2*time.Hour)))
			wantErr(t, "EnsureSigningKey", err, nil)
			same(t, "returned key", got, newKey("k2", at(time.Hour)))
		}},
		{"ConcurrentEnsureSigningKeyStoresExactlyOneKey", func(t *testing.T, s store.Store) {
			const n = 8
			got := make([]*store.SigningKey, n)
			errs := concurrently(n, func(i int) error {
				var err error
				got[i], err = s.EnsureSigningKey(t.Context(), newKey(fmt.Sprintf("k%d", i), t0))
				return err
			})
			for i, err := range errs {
				wantErr(t, fmt.Sprintf("EnsureSigningKey %d", i), err, nil)
			}
			keys := listKeys(t, s)
			if len(keys) != 1 {
				t.Fatalf("got %d keys, want 1", len(keys))
			}
			for i, k := range got {
				if k.ID != keys[0].ID {
					t.Fatalf("EnsureSigningKey %d returned %s, but the stored key is %s", i, k.ID, keys[0].ID)
				}
			}
		}},
		{"RotateSigningKeyRetiresCurrentKeyAtNewKeysCreation", func(t *testing.T, s store.Store) {
			_, err := s.EnsureSigningKey(t.Context(), newKey("k1", t0))
			wantErr(t, "EnsureSigningKey", err, nil)
			k2 := newKey("k2", at(time.Hour))
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), k2), nil)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{
				newKey("k2", at(time.Hour)),
				retired(newKey("k1", t0), at(time.Hour)),
			})
		}},
		{"RotateSigningKeyOnEmptyStoreStoresTheKey", func(t *testing.T, s store.Store) {
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k1", t0)), nil)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k1", t0)})
		}},
		{"RotateSigningKeyWithExistingIDFailsAndKeepsCurrentKey", func(t *testing.T, s store.Store) {
			_, err := s.EnsureSigningKey(t.Context(), newKey("k1", t0))
			wantErr(t, "EnsureSigningKey", err, nil)
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k1", at(time.Hour))), store.ErrConflict)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k1", t0)})
		}},
		{"ListSigningKeysListsNewestFirst", func(t *testing.T, s store.Store) {
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k1", t0)), nil)
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k2", at(time.Hour))), nil)
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k3", at(2*time.Hour))), nil)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{
				newKey("k3", at(2*time.Hour)),
				retired(newKey("k2", at(time.Hour)), at(2*time.Hour)),
				retired(newKey("k1", t0), at(time.Hour)),
			})
		}},
		{"ConcurrentRotateSigningKeyLeavesExactlyOneCurrentKey", func(t *testing.T, s store.Store) {
			_, err := s.EnsureSigningKey(t.Context(), newKey("k", t0))
			wantErr(t, "EnsureSigningKey", err, nil)
			const n = 8
			errs := concurrently(n, func(i int) error {
				return s.RotateSigningKey(t.Context(), newKey(fmt.Sprintf("k%d", i), at(time.Duration(i+1)*time.Minute)))
			})
			for i, err := range errs {
				wantErr(t, fmt.Sprintf("RotateSigningKey %d", i), err, nil)
			}
			keys := listKeys(t, s)
			if len(keys) != n+1 {
				t.Fatalf("got %d keys, want %d", len(keys), n+1)
			}
			oneCurrent(t, keys)
		}},
		{"ReplaceSigningKeysLeavesOnlyTheNewKey", func(t *testing.T, s store.Store) {
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k1", t0)), nil)
			wantErr(t, "RotateSigningKey", s.RotateSigningKey(t.Context(), newKey("k2", at(time.Hour))), nil)
			wantErr(t, "ReplaceSigningKeys", s.ReplaceSigningKeys(t.Context(), newKey("k3", at(2*time.Hour))), nil)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k3", at(2*time.Hour))})
			// Replacing may reuse the id of a deleted key.
			wantErr(t, "ReplaceSigningKeys", s.ReplaceSigningKeys(t.Context(), newKey("k3", at(3*time.Hour))), nil)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k3", at(3*time.Hour))})
		}},
		{"ReplaceSigningKeysOnEmptyStoreStoresTheKey", func(t *testing.T, s store.Store) {
			wantErr(t, "ReplaceSigningKeys", s.ReplaceSigningKeys(t.Context(), newKey("k1", t0)), nil)
			same(t, "keys", listKeys(t, s), []*store.SigningKey{newKey("k1", t0)})
		}},
		{"EachPurposeHasItsOwnCurrentKey", func(t *testing.T, s store.Store) {
			_, err := s.EnsureSigningKey(t.Context(), newKey("a1", t0))
			wantErr(t, "EnsureSigningKey access", err, nil)
			// An access key being current does not stop the first ID-token key.
			got, err := s.EnsureSigningKey(t.Context(), newIDTokenKey("i1", at(time.Minute)))
			wantErr(t, "EnsureSigningKey id_token", err, nil)
			same(t, "returned ID-token key", got, newIDTokenKey("i1", at(time.Minute)))
			got, err = s.EnsureSigningKey(t.Context(), newIDTokenKey("i2", at(2*time.Minute)))
			wantErr(t, "second EnsureSigningKey id_token", err, nil)
			same(t, "current ID-token key", got, newIDTokenKey("i1", at(time.Minute)))
			// Rotating one purpose retires only its own current key.
			wantErr(t, "RotateSigningKey access", s.RotateSigningKey(t.Context(), newKey("a2", at(time.Hour))), nil)
			same(t, "keys after rotating the access key", listKeys(t, s), []*store.SigningKey{
				newKey("a2", at(time.Hour)),
				newIDTokenKey("i1", at(time.Minute)),
				retired(newKey("a1", t0), at(time.Hour)),
			})
			wantErr(t, "RotateSigningKey id_token", s.RotateSigningKey(t.Context(), newIDTokenKey("i3", at(2*time.Hour))), nil)
			same(t, "keys after rotating the ID-token key", listKeys(t, s), []*store.SigningKey{
				newIDTokenKey("i3", at(2*time.Hour)),
				newKey("a2", at(time.Hour)),
				retired(newIDTokenKey("i1", at(time.Minute)), at(2*time.Hour)),
				retired(newKey("a1", t0), at(time.Hour)),
			})
			// Replacing the access keys leaves the ID-token keys alone.
			wantErr(t, "ReplaceSigningKeys access", s.ReplaceSigningKeys(t.Context(), newKey("a3", at(3*time.Hour))), nil)
			same(t, "keys after replacing the access keys", listKeys(t, s), []*store.SigningKey{
				newKey("a3", at(3*time.Hour)),
				newIDTokenKey("i3", at(2*time.Hour)),
				retired(newIDTokenKey("i1", at(time.Minute)), at(2*time.Hour)),
			})
		}},
		{"ResealSigningKeyReplacesOnlyTheExpectedValueOnce", func(t *testing.T, s store.Store) {
			k1 := newKey("k1", t0)
			_, err := s.EnsureSigningKey(t.Context(), k1)
			wantErr(t, "EnsureSigningKey", err, nil)
			sealed := []byte("sealed form")
			for _, c := range []struct {
				id         string
				from, to   []byte
				want       bool
				storedWant []byte
			}{
				{"k1", []byte("not what is stored"), sealed, false, k1.PrivatePEM},
				{"k2", k1.PrivatePEM, sealed, false, k1.PrivatePEM},
				{"k1", k1.PrivatePEM, sealed, true, sealed},
				{"k1", k1.PrivatePEM, []byte("another"), false, sealed}, // a second node, too late
			} {
				ok, err := s.ResealSigningKey(t.Context(), c.id, c.from, c.to)
				wantErr(t, "ResealSigningKey", err, nil)
				if ok != c.want {
					t.Errorf("ResealSigningKey(%s, %q, %q) = %v, want %v", c.id, c.from, c.to, ok, c.want)
				}
				if got := oneCurrent(t, listKeys(t, s)); string(got.PrivatePEM) != string(c.storedWant) {
					t.Errorf("stored %q, want %q", got.PrivatePEM, c.storedWant)
				}
			}
		}},
	}
}

// purgeFixture stores, for each of access tokens, refresh tokens and codes, one record in
// each state (live, revoked, expired, revoked and expired) relative to t0, plus one that
// expires exactly at t0, which "expired before Now" does not cover. It returns the ids
// by state.
func purgeFixture(t *testing.T, s store.Store) map[string][]string {
	t.Helper()
	client := withClient(t, s)
	ids := map[string][]string{}
	for _, st := range []struct {
		state   string
		revoked bool
		expires time.Time
	}{
		{"live", false, at(time.Hour)},
		{"at-now", false, t0},
		{"revoked", true, at(time.Hour)},
		{"expired", false, at(-time.Second)},
		{"revoked-expired", true, at(-time.Hour)},
	} {
		a := newAccess(client, "u1", at(-2*time.Hour))
		a.ExpiresAt, a.Revoked = st.expires, st.revoked
		wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a, nil), nil)
		// The refresh token comes with a live access token of its own, which no purge
		// deletes, so that what happens to a refresh token never depends on an access
		// token in the same state.
		ra := newAccess(client, "u1", at(-2*time.Hour))
		ra.ExpiresAt = at(24 * time.Hour)
		r := newRefresh(ra, newID("fam-"))
		r.ExpiresAt, r.Revoked = st.expires, st.revoked
		wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), ra, r), nil)
		c := newCode(client)
		c.ExpiresAt, c.Revoked = st.expires, st.revoked
		wantErr(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c), nil)
		ids[st.state] = []string{a.ID, r.ID, c.ID}
	}
	return ids
}

func purgeCases() []Case {
	type want struct {
		deleted int64
		gone    []string // states whose records are deleted
	}
	cases := []struct {
		name string
		opts store.PurgeOptions
		want want
	}{
		{"PurgeNothingSelectedDeletesNothing", store.PurgeOptions{Now: t0}, want{0, nil}},
		{"PurgeRevokedDeletesRevokedTokensAndCodes", store.PurgeOptions{Revoked: true, Now: t0},
			want{6, []string{"revoked", "revoked-expired"}}},
		{"PurgeExpiredDeletesTokensAndCodesExpiredBeforeNow", store.PurgeOptions{Expired: true, Now: t0},
			want{6, []string{"expired", "revoked-expired"}}},
		{"PurgeRevokedAndExpiredDeletesBoth", store.PurgeOptions{Revoked: true, Expired: true, Now: t0},
			want{9, []string{"revoked", "expired", "revoked-expired"}}},
	}
	var out []Case
	for _, tc := range cases {
		out = append(out, Case{tc.name, func(t *testing.T, s store.Store) {
			ids := purgeFixture(t, s)
			n, err := s.Purge(t.Context(), tc.opts)
			wantErr(t, "Purge", err, nil)
			if n != tc.want.deleted {
				t.Errorf("Purge deleted %d rows, want %d", n, tc.want.deleted)
			}
			gone := map[string]bool{}
			for _, st := range tc.want.gone {
				gone[st] = true
			}
			for state, recs := range ids {
				want := error(nil)
				if gone[state] {
					want = store.ErrNotFound
				}
				_, err := s.GetAccessToken(t.Context(), recs[0])
				wantErr(t, "GetAccessToken "+state, err, want)
				_, err = s.GetRefreshToken(t.Context(), recs[1])
				wantErr(t, "GetRefreshToken "+state, err, want)
				_, err = s.GetAuthCode(t.Context(), recs[2])
				wantErr(t, "GetAuthCode "+state, err, want)
			}
		}})
	}
	out = append(out, Case{"PurgeWithZeroNowUsesTheCurrentTime", func(t *testing.T, s store.Store) {
		client := withClient(t, s)
		old := newAccess(client, "u1", time.Now().Add(-2*time.Hour))
		old.ExpiresAt = time.Now().Add(-time.Hour)
		fresh := newAccess(client, "u1", time.Now())
		for _, a := range []*store.AccessToken{old, fresh} {
			wantErr(t, "CreateAccessToken", s.CreateAccessToken(t.Context(), a, nil), nil)
		}
		n, err := s.Purge(t.Context(), store.PurgeOptions{Expired: true})
		wantErr(t, "Purge", err, nil)
		if n != 1 {
			t.Fatalf("Purge deleted %d rows, want 1", n)
		}
		_, err = s.GetAccessToken(t.Context(), fresh.ID)
		wantErr(t, "GetAccessToken of fresh token", err, nil)
	}})
	return out
}
