package authserver_test

import (
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/validator"
)

// feedPageForTest is the page size these tests give the feed instead of 50,000.
const feedPageForTest = 3

// revokeMany revokes n user access tokens and returns their jtis.
func (f *fixture) revokeMany(n int) []string {
	f.t.Helper()
	var jtis []string
	for range n {
		access, _ := f.userTokens()
		f.revokeOK(access)
		jtis = append(jtis, f.jtiOf(access))
	}
	return jtis
}

// A snapshot larger than a page comes as the oldest page with a cursor at its end; the
// requests that follow the cursor bring the rest, so nothing is missed, and no answer
// is larger than a page. An unknown cursor's reset snapshot is paged the same way.
func TestRevocationFeedSnapshotIsPagedThroughTheCursor(t *testing.T) {
	eachStoreWith(t, func(c *authserver.Config) { authserver.SetFeedPage(c, feedPageForTest) }, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		want := f.revokeMany(7)
		for _, start := range []string{"", "?after=999999"} {
			fd := f.feed(start, auth)
			if fd.Status != 200 || len(fd.Revocations) != feedPageForTest || fd.Reset != (start != "") {
				t.Fatalf("first answer of %q: %+v, want %d entries", start, fd, feedPageForTest)
			}
			got := f.jtis(fd)
			for range 10 {
				next := f.feed("?after="+fd.Cursor, auth)
				if next.Status != 200 || next.Reset || len(next.Revocations) > feedPageForTest {
					t.Fatalf("after=%s: %+v", fd.Cursor, next)
				}
				if len(next.Revocations) == 0 {
					break
				}
				got = append(got, f.jtis(next)...)
				fd = next
			}
			sameSet(t, "snapshot pages of "+start, got, want)
		}
	})
}

// The guard's own feed client (validator.RevocationFeed, which replaces its set on a
// snapshot and extends it on what follows) ends up with every revoked id.
func TestGuardFeedGathersAPagedSnapshot(t *testing.T) {
	eachStoreWith(t, func(c *authserver.Config) { authserver.SetFeedPage(c, feedPageForTest) }, func(t *testing.T, f *fixture) {
		want := f.revokeMany(8)
		feed, err := validator.NewRevocationFeed(validator.RevocationFeedOptions{
			URL:         f.ts.URL + authserver.PathRevocations,
			Credentials: validator.CallerCredentials{ClientID: "rs", ClientSecret: rsSecret},
			Wait:        time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer feed.Close()
		deadline := time.Now().Add(10 * time.Second)
		for feed.Size() < int64(len(want)) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if feed.Size() != int64(len(want)) {
			t.Fatalf("guard holds %d ids, want %d", feed.Size(), len(want))
		}
		for _, jti := range want {
			if !feed.Revoked(jti) {
				t.Errorf("guard does not know %s is revoked", jti)
			}
		}
	})
}
