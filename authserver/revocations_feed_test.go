package authserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

type feed struct {
	Status      int
	Header      http.Header
	Revocations []struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	} `json:"revocations"`
	Cursor string `json:"cursor"`
	Reset  bool   `json:"reset"`
	Error  string `json:"error"`
}

func (f *fixture) feed(query, auth string) feed {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+authserver.PathRevocations+query, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out feed
	if err := json.Unmarshal(raw, &out); err != nil {
		f.t.Fatalf("feed body %q: %v", raw, err)
	}
	if resp.StatusCode == 200 && !strings.Contains(string(raw), `"revocations":[`) {
		f.t.Errorf("revocations is not a list: %s", raw)
	}
	out.Status, out.Header = resp.StatusCode, resp.Header
	return out
}

func (f *fixture) jtis(fd feed) []string {
	var ids []string
	for _, r := range fd.Revocations {
		ids = append(ids, r.JTI)
	}
	return ids
}

func (f *fixture) revokeOK(token string) {
	f.t.Helper()
	if r := f.revoke(url.Values{"token": {token}}, basic("app", pwSecret)); r.Status != 200 {
		f.t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
}

func TestRevocationFeedGivesASnapshotThenWhatFollowsInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		empty := f.feed("", auth)
		if empty.Status != 200 || len(empty.Revocations) != 0 || empty.Cursor == "" || empty.Reset ||
			empty.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(empty.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("empty feed: %+v", empty)
		}
		a1, _ := f.userTokens()
		a2, r2 := f.userTokens()
		f.revokeOK(a1)
		// Revoking a refresh token puts its access token in the feed.
		f.revokeOK(r2)
		snap := f.feed("", auth)
		sameSet(t, "snapshot", f.jtis(snap), []string{f.jtiOf(a1), f.jtiOf(a2)})
		_, cl := f.claims(a1)
		for _, r := range snap.Revocations {
			if r.JTI == f.jtiOf(a1) && float64(r.Exp) != cl["exp"] {
				t.Errorf("exp %d, token's exp %v", r.Exp, cl["exp"])
			}
		}
		a3, _ := f.userTokens()
		f.revokeOK(a3)
		next := f.feed("?after="+snap.Cursor, auth)
		if ids := f.jtis(next); len(ids) != 1 || ids[0] != f.jtiOf(a3) || next.Reset || next.Cursor == snap.Cursor {
			t.Fatalf("after %s: %+v", snap.Cursor, next)
		}
		none := f.feed("?after="+next.Cursor+"&wait=0", auth)
		if len(none.Revocations) != 0 || none.Cursor != next.Cursor {
			t.Fatalf("nothing new: %+v", none)
		}
		// From the start of the log, everything in order.
		all := f.feed("?after=0", auth)
		if ids := f.jtis(all); len(ids) != 3 || ids[0] != f.jtiOf(a1) || ids[2] != f.jtiOf(a3) {
			t.Fatalf("after=0: %v", ids)
		}
		// A client credentials token of the resource server authenticates too.
		if fd := f.feed("", bearer(f.ccToken("rs", rsSecret))); fd.Status != 200 || len(fd.Revocations) != 3 {
			t.Fatalf("bearer caller: %+v", fd)
		}
	})
}

// signalOnly is a store whose revocation feed never re-reads the log on its own (the
// periodic re-read is an hour away), so a long poll it answers in time was woken by the
// store's signal: the test asserts that without a timing threshold.
type signalOnly struct{ store.Store }

func (signalOnly) RevocationRecheck() time.Duration { return time.Hour }

func TestRevocationFeedLongPollAnswersAsSoonAsARevocationIsRecorded(t *testing.T) {
	eachStoreWith(t, func(c *authserver.Config) { c.Store = signalOnly{c.Store} }, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		cursor := f.feed("", auth).Cursor
		access, _ := f.userTokens()
		got := make(chan feed, 1)
		start := time.Now()
		go func() { got <- f.feed("?after="+cursor+"&wait=20", auth) }()
		time.Sleep(300 * time.Millisecond)
		select {
		case fd := <-got:
			t.Fatalf("answered before any revocation: %+v", fd)
		default:
		}
		revoked := time.Now()
		f.revokeOK(access)
		select {
		case fd := <-got:
			if ids := f.jtis(fd); len(ids) != 1 || ids[0] != f.jtiOf(access) {
				t.Fatalf("long poll: %+v", fd)
			}
			// The store re-reads nothing for an hour here: an answer at all means the
			// revocation's signal woke the long poll.
			t.Logf("answered %v after the revocation (%v after the request)", time.Since(revoked), time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatal("long poll not answered within 5s of a revocation")
		}
	})
}

func TestRevocationFeedLongPollEndsEmptyAfterWait(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		cursor := f.feed("", auth).Cursor
		start := time.Now()
		fd := f.feed("?after="+cursor+"&wait=1", auth)
		// At least the second asked for; the upper bound only catches a poll that ignores
		// wait, with room for a loaded machine.
		if took := time.Since(start); took < time.Second || took > 10*time.Second {
			t.Errorf("wait=1 took %v", took)
		}
		if fd.Status != 200 || len(fd.Revocations) != 0 || fd.Cursor != cursor {
			t.Fatalf("%+v", fd)
		}
	})
}

func TestRevocationFeedUnknownCursorResetsWithTheFullSet(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		access, _ := f.userTokens()
		f.revokeOK(access)
		for _, cursor := range []string{"999999", "not-a-cursor", "-1"} {
			fd := f.feed("?after="+cursor, auth)
			if fd.Status != 200 || !fd.Reset || len(fd.Revocations) != 1 || fd.Revocations[0].JTI != f.jtiOf(access) {
				t.Errorf("after=%s: %+v", cursor, fd)
			}
		}
		if fd := f.feed("?after=0&wait=x", auth); fd.Status != 400 || fd.Error != "invalid_request" {
			t.Errorf("bad wait: %+v", fd)
		}
	})
}

func TestRevocationFeedRefusesEveryoneButIntrospectingClients(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		userToken, _ := f.userTokens()
		for name, auth := range map[string]string{
			"no credentials":               "",
			"client without the flag":      basic("svc", ccSecret),
			"wrong secret":                 basic("rs", "wrong-secret-0123456789"),
			"client token without flag":    bearer(f.ccToken("svc", ccSecret)),
			"a user's token":               bearer(userToken),
			"public client with no secret": basic("pub", ""),
		} {
			fd := f.feed("", auth)
			if fd.Status != 401 || fd.Error == "" || len(fd.Header.Values("WWW-Authenticate")) == 0 {
				t.Errorf("%s: %d %+v", name, fd.Status, fd)
			}
		}
	})
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
	for _, n := range m {
		if n != 0 {
			t.Fatalf("%s: got %v, want %v (as sets)", what, got, want)
		}
	}
}
