package authserver_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// event is one announcement the server made through Config.OnEvent.
type event struct {
	name string
	data map[string]any
}

// eventLog collects events.
type eventLog struct {
	mu     sync.Mutex
	events []event
}

func (l *eventLog) record(_ context.Context, name string, data map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event{name, data})
}

func (l *eventLog) take() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// names lists the events as "name:token_type:reason".
func names(evs []event) []string {
	var out []string
	for _, e := range evs {
		n := e.name
		if tt, ok := e.data["token_type"]; ok {
			n += ":" + fmt.Sprint(tt) + ":" + fmt.Sprint(e.data["reason"])
		}
		out = append(out, n)
	}
	return out
}

func TestEventsAnnounceEveryTokenCreatedAndRevokedWithoutTheToken(t *testing.T) {
	log := &eventLog{}
	eachStoreWith(t, func(c *authserver.Config) { c.OnEvent = log.record }, func(t *testing.T, f *fixture) {
		log.take()
		var secrets []string
		check := func(step string, want ...string) []event {
			t.Helper()
			evs := log.take()
			if got := names(evs); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("%s: events %v, want %v", step, got, want)
			}
			for _, e := range evs {
				for k, v := range e.data {
					for _, s := range secrets {
						if strings.Contains(fmt.Sprint(v), s) || strings.Contains(fmt.Sprint(v), authserver.Digest(s)) {
							t.Fatalf("%s: event %s field %s holds a token", step, e.name, k)
						}
					}
				}
				if e.data["client_id"] == nil || e.data["token_id"] == "" || e.data["token_id"] == nil {
					t.Fatalf("%s: event %s lacks ids: %v", step, e.name, e.data)
				}
			}
			return evs
		}

		cc := f.ccToken("svc", ccSecret)
		secrets = append(secrets, cc)
		evs := check("client credentials", authserver.EventAccessTokenCreated)
		if evs[0].data["client_id"] != "svc" || evs[0].data["user_id"] != "" || evs[0].data["token_id"] != f.jtiOf(cc) {
			t.Errorf("client credentials event %v", evs[0].data)
		}

		access, refresh := f.userTokens()
		secrets = append(secrets, access, refresh)
		evs = check("password", authserver.EventAccessTokenCreated, authserver.EventRefreshTokenCreated)
		if evs[0].data["user_id"] != f.userID || evs[0].data["client_id"] != "app" || evs[1].data["token_id"] != f.jtiOf(access) {
			t.Errorf("password events %v", evs)
		}

		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret)
		secrets = append(secrets, r.Body["access_token"].(string), r.Body["refresh_token"].(string))
		evs = check("refresh", authserver.EventTokenRevoked+":refresh_token:rotated", authserver.EventAccessTokenCreated, authserver.EventRefreshTokenCreated)
		if evs[0].data["token_id"] != f.jtiOf(access) || evs[0].data["user_id"] != f.userID {
			t.Errorf("rotation event %v", evs[0].data)
		}

		// Reusing the rotated refresh token revokes the family.
		f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret)
		check("reuse", authserver.EventTokenRevoked+":refresh_token:refresh_reuse")

		a2, _ := f.userTokens()
		secrets = append(secrets, a2)
		log.take()
		f.revokeOK(a2)
		evs = check("revoke endpoint", authserver.EventTokenRevoked+":access_token:revoke_endpoint")
		if evs[0].data["token_id"] != f.jtiOf(a2) {
			t.Errorf("revoke event %v", evs[0].data)
		}
		// Revoking what is already revoked announces nothing.
		f.revokeOK(a2)
		check("revoke again")
	})
}

func TestRevokePreviousTokensLeavesOneGrantPerUserAndClient(t *testing.T) {
	log := &eventLog{}
	eachStoreWith(t, func(c *authserver.Config) {
		c.RevokePreviousTokens = true
		c.OnEvent = log.record
	}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first, firstRefresh := f.userTokens()
		// Another client's token for the same user, and a client credentials token, stay.
		other := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "other", pwSecret).Body["access_token"].(string)
		svc := f.ccToken("svc", ccSecret)
		log.take()
		second, secondRefresh := f.userTokens()
		evs := log.take()
		if got := names(evs); len(got) != 3 || got[0] != authserver.EventTokenRevoked+":access_token:superseded" || evs[0].data["token_id"] != f.jtiOf(first) {
			t.Fatalf("events %v", got)
		}
		if at, _ := f.st.GetAccessToken(ctx, f.jtiOf(first)); !at.Revoked {
			t.Fatal("the previous token is still valid")
		}
		if rt, _ := f.st.GetRefreshToken(ctx, authserver.Digest(firstRefresh)); !rt.Revoked {
			t.Fatal("the previous refresh token is still valid")
		}
		for _, tok := range []string{second, other, svc} {
			if at, _ := f.st.GetAccessToken(ctx, f.jtiOf(tok)); at.Revoked {
				t.Fatalf("token %s was revoked", f.jtiOf(tok))
			}
		}
		// A refresh supersedes the access token it replaces; the new pair lives.
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {secondRefresh}}, "app", pwSecret)
		if r.Status != 200 {
			t.Fatalf("refresh: %d %v", r.Status, r.Body)
		}
		if at, _ := f.st.GetAccessToken(ctx, f.jtiOf(second)); !at.Revoked {
			t.Fatal("the refreshed-away access token is still valid")
		}
		third := r.Body["access_token"].(string)
		if at, _ := f.st.GetAccessToken(ctx, f.jtiOf(third)); at.Revoked {
			t.Fatal("the new access token was revoked")
		}
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Body["refresh_token"].(string)}}, "app", pwSecret); r.Status != 200 {
			t.Fatalf("the new refresh token does not work: %d %v", r.Status, r.Body)
		}
	})
}
