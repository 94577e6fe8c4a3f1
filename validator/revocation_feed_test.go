package validator

import (
	"sync/atomic"
	"testing"
	"time"
)

func newFeed(t testing.TB, srv *authServer, mutate func(*RevocationFeedOptions)) *RevocationFeed {
	t.Helper()
	opts := RevocationFeedOptions{
		URL:         srv.feedURL(),
		Credentials: srv.creds(),
		Wait:        2 * time.Second,
		MinBackoff:  20 * time.Millisecond,
		MaxBackoff:  100 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&opts)
	}
	f, err := NewRevocationFeed(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// eventually polls cond every 5 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("after %v: %s", d, what)
	return 0
}

func TestFeedSnapshotThenLongPollDeliversRevocationsQuickly(t *testing.T) {
	srv := newAuthServer(t)
	exp := time.Now().Add(time.Hour).Unix()
	srv.recordRevocation("old-1", exp)
	srv.recordRevocation("expired", time.Now().Add(-time.Hour).Unix())
	f := newFeed(t, srv, nil)
	eventually(t, 2*time.Second, "first snapshot", f.Synced)
	if !f.Revoked("old-1") || f.Revoked("expired") || f.Revoked("never") {
		t.Fatalf("snapshot: old-1 %v expired %v never %v", f.Revoked("old-1"), f.Revoked("expired"), f.Revoked("never"))
	}
	// Wait for the subscriber's long poll (the one after the snapshot) to reach the
	// server, then revoke: it must learn within a second, well before the poll's 2 s wait
	// ends, so the held request answered rather than a later poll.
	eventually(t, 5*time.Second, "the long poll after the snapshot", func() bool { return srv.feedPolls.Load() >= 2 })
	polls := srv.feedPolls.Load()
	srv.recordRevocation("new-1", exp)
	took := eventually(t, time.Second, "new-1 revoked", func() bool { return f.Revoked("new-1") })
	t.Logf("revocation reached the subscriber in %v", took)
	// The held request answered; at most the next poll has started since.
	if n := srv.feedPolls.Load(); n > polls+1 {
		t.Fatalf("%d polls during the revocation: the subscriber polled rather than waited", n-polls)
	}
	if f.Cursor() != "3" {
		t.Fatalf("cursor = %q, want 3", f.Cursor())
	}
	afters := srv.afterValues()
	if afters[0] != "" || afters[1] != "2" {
		t.Fatalf("after values %q: want a snapshot then the snapshot's cursor", afters)
	}
}

func TestFeedResetReplacesTheSet(t *testing.T) {
	srv := newAuthServer(t)
	exp := time.Now().Add(time.Hour).Unix()
	srv.recordRevocation("a", exp)
	srv.recordRevocation("b", exp)
	f := newFeed(t, srv, nil)
	eventually(t, 2*time.Second, "snapshot", func() bool { return f.Revoked("a") && f.Revoked("b") })
	// The server purges its log past the subscriber's cursor and forgets "a" (say its
	// token was deleted). The next answer is a reset snapshot; "a" must go.
	srv.purge(5, "a")
	srv.recordRevocation("c", exp) // wakes the held poll: its cursor (2) is now unknown
	eventually(t, time.Second, "reset applied", func() bool { return f.Revoked("c") && !f.Revoked("a") })
	if !f.Revoked("b") {
		t.Fatal("reset dropped an id the snapshot still lists")
	}
	if f.Size() != 2 {
		t.Fatalf("size = %d, want 2", f.Size())
	}
}

func TestFeedResumesFromItsCursorAfterAnOutageAndSaysWhenBehind(t *testing.T) {
	srv := newAuthServer(t)
	exp := time.Now().Add(time.Hour).Unix()
	srv.recordRevocation("a", exp)
	var behind, caughtUp atomic.Int32
	f := newFeed(t, srv, func(o *RevocationFeedOptions) {
		o.Wait = time.Second
		o.BehindAfter = 300 * time.Millisecond
		o.OnBehind = func(time.Duration, error) { behind.Add(1) }
		o.OnCaughtUp = func(time.Duration) { caughtUp.Add(1) }
	})
	eventually(t, 2*time.Second, "snapshot", func() bool { return f.Revoked("a") })
	cursor := f.Cursor()
	srv.feedDown.Store(true)
	// The held poll ends within its 1 s wait; then polls fail until BehindAfter passes.
	// The feed says it is behind just before it calls OnBehind: wait for both.
	eventually(t, 3*time.Second, "behind, and OnBehind called", func() bool { return f.Behind() && behind.Load() >= 1 })
	if behind.Load() != 1 {
		t.Fatalf("OnBehind called %d times, want 1", behind.Load())
	}
	if f.Lag() < 300*time.Millisecond {
		t.Fatalf("lag %v while behind", f.Lag())
	}
	srv.recordRevocation("during-outage", exp)
	srv.feedDown.Store(false)
	// The revocation is applied before the feed stops saying it is behind and calls
	// OnCaughtUp: wait for all of it, then check each happened exactly once.
	eventually(t, 2*time.Second, "caught up", func() bool {
		return f.Revoked("during-outage") && !f.Behind() && caughtUp.Load() >= 1 && f.Lag() == 0
	})
	if caughtUp.Load() != 1 || behind.Load() != 1 {
		t.Fatalf("after recovery: caught-up calls %d, OnBehind calls %d, want 1 each", caughtUp.Load(), behind.Load())
	}
	if !f.Revoked("a") {
		t.Fatal("resuming lost what was known before the outage")
	}
	// Every poll after the snapshot resumed from the last cursor (the snapshot's until
	// the outage ended, then the newer one); none started over.
	afters := srv.afterValues()
	for i, a := range afters[1:] {
		if a != cursor && a != f.Cursor() || (a == cursor && afters[i] == f.Cursor()) {
			t.Fatalf("after values %q: a poll did not resume from cursor %q", afters, cursor)
		}
	}
}

func TestFeedUnreachableFromStartIsBehindAndPassesNothingRevoked(t *testing.T) {
	srv := newAuthServer(t)
	var behind atomic.Int32
	f := newFeed(t, srv, func(o *RevocationFeedOptions) {
		o.URL = closedURL(t)
		o.BehindAfter = 100 * time.Millisecond
		o.OnBehind = func(time.Duration, error) { behind.Add(1) }
	})
	eventually(t, 2*time.Second, "behind, and OnBehind called", func() bool { return f.Behind() && behind.Load() >= 1 })
	if f.Synced() || behind.Load() != 1 {
		t.Fatalf("synced %v, OnBehind calls %d", f.Synced(), behind.Load())
	}
}

func TestFeedRefusedCredentialsNeverSync(t *testing.T) {
	srv := newAuthServer(t)
	srv.recordRevocation("a", time.Now().Add(time.Hour).Unix())
	f := newFeed(t, srv, func(o *RevocationFeedOptions) {
		o.Credentials.ClientSecret = "wrong"
		o.BehindAfter = 100 * time.Millisecond
	})
	eventually(t, 2*time.Second, "behind", f.Behind)
	if f.Synced() || f.Revoked("a") {
		t.Fatal("a feed answer was used without valid credentials")
	}
}

func TestFeedWithTokenURLUsesAndRenewsABearerToken(t *testing.T) {
	srv := newAuthServer(t)
	srv.recordRevocation("a", time.Now().Add(time.Hour).Unix())
	f := newFeed(t, srv, func(o *RevocationFeedOptions) {
		o.Credentials.TokenURL = srv.tokenURL()
		o.Wait = time.Second
	})
	eventually(t, 2*time.Second, "snapshot", func() bool { return f.Revoked("a") })
	srv.revokeGuardTokens()
	// A poll already held open was authenticated before the revocation and may still
	// deliver what is recorded now; so wait for the renewal before recording "b", which
	// must then arrive over a poll made with the new token.
	eventually(t, 5*time.Second, "token renewal", func() bool { return srv.tokenRequests.Load() >= 2 })
	srv.recordRevocation("b", time.Now().Add(time.Hour).Unix())
	eventually(t, 5*time.Second, "b after token renewal", func() bool { return f.Revoked("b") })
	if n := srv.tokenRequests.Load(); n != 2 {
		t.Fatalf("%d guard tokens fetched, want 2", n)
	}
}

func TestFeedDropsIDsAfterTheirTokensExpire(t *testing.T) {
	srv := newAuthServer(t)
	clk := newClock(time.Now())
	soon := time.Now().Add(time.Minute).Unix()
	later := time.Now().Add(time.Hour).Unix()
	srv.recordRevocation("soon", soon)
	srv.recordRevocation("later", later)
	f := newFeed(t, srv, func(o *RevocationFeedOptions) {
		o.Now = clk.now
		o.Wait = time.Second
		o.Retention = 10 * time.Second
	})
	eventually(t, 2*time.Second, "snapshot", func() bool { return f.Revoked("soon") && f.Revoked("later") })
	// Past "soon"'s exp but within retention: kept (verifiers allow leeway past exp).
	clk.set(time.Unix(soon, 0).Add(5 * time.Second))
	time.Sleep(1200 * time.Millisecond) // one poll ends and sweeps
	if !f.Revoked("soon") {
		t.Fatal("dropped within retention")
	}
	clk.set(time.Unix(soon, 0).Add(time.Minute))
	eventually(t, 3*time.Second, "soon dropped", func() bool { return !f.Revoked("soon") })
	if !f.Revoked("later") || f.Size() != 1 {
		t.Fatalf("later revoked %v, size %d", f.Revoked("later"), f.Size())
	}
}

func TestNewRevocationFeedChecksOptions(t *testing.T) {
	for name, o := range map[string]RevocationFeedOptions{
		"no url":    {Credentials: CallerCredentials{ClientID: "a", ClientSecret: "b"}},
		"no creds":  {URL: "http://127.0.0.1:1/oauth/revocations"},
		"bad token": {URL: "http://127.0.0.1:1/x", Credentials: CallerCredentials{ClientID: "a", ClientSecret: "b", TokenURL: ":"}},
	} {
		if f, err := NewRevocationFeed(o); err == nil {
			f.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
