package authserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// recorded is what a server logged and announced during a test.
type recorded struct {
	logs   *observer.ObservedLogs
	mu     sync.Mutex
	events []string
}

func (r *recorded) configure(cfg *authserver.Config) {
	core, logs := observer.New(zapcore.DebugLevel)
	r.logs = logs
	cfg.Logger = zap.New(core)
	cfg.OnEvent = func(_ context.Context, name string, data map[string]any) {
		r.mu.Lock()
		r.events = append(r.events, fmt.Sprintf("%s %v", name, data))
		r.mu.Unlock()
	}
}

// text is every log line (message and fields, errors included) and every event.
func (r *recorded) text() string {
	var b strings.Builder
	for _, e := range r.logs.All() {
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteByte('\n')
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// Every flow, successful or refused, and every storage failure, is logged and announced
// without a client secret, password, token, code, verifier, session cookie or CSRF token
// in it.
func TestLogsAndEventsNeverContainASecret(t *testing.T) {
	rec := &recorded{}
	eachStoreWith(t, rec.configure, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		secrets := []string{ccSecret, pwSecret, rsSecret, webSecret, userPass, verifier}
		keep := func(vs ...any) {
			for _, v := range vs {
				if str, ok := v.(string); ok && str != "" {
					secrets = append(secrets, str)
				}
			}
		}

		// Token endpoint: every grant, then failures with real and wrong secrets.
		pw := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		keep(pw.Body["access_token"], pw.Body["refresh_token"])
		cc := f.post(url.Values{"grant_type": {"client_credentials"}}, "rs", rsSecret)
		keep(cc.Body["access_token"])
		rt := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.Body["refresh_token"].(string)}}, "app", pwSecret)
		keep(rt.Body["access_token"], rt.Body["refresh_token"])
		// Reuse of the rotated refresh token: logged as a warning, family revoked.
		f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.Body["refresh_token"].(string)}}, "app", pwSecret)
		f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass + "x"}}, "app", pwSecret)
		f.post(url.Values{"grant_type": {"client_credentials"}}, "svc", pwSecret)

		// Browser: login, consent, code, exchange, code reuse, logout.
		b := s.browser(t)
		b.login("")
		keep(b.sessionCookie())
		consent := b.authorize(spaQuery())
		keep(consent.csrf(t))
		p := b.decide(spaQuery(), consent, "approve")
		code := p.location(t).Query().Get("code")
		keep(code)
		tok := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})
		keep(tok.Body["access_token"], tok.Body["refresh_token"])
		s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})

		// Pushed authorization requests: push, use, reuse, another client's.
		parURI := s.pushed(webQuery(), "web", webSecret)
		keep(parURI, strings.TrimPrefix(parURI, requestURIPrefix))
		parConsent := b.authorize(byRequestURI("web", parURI))
		keep(b.decide(byRequestURI("web", parURI), parConsent, "approve").location(t).Query().Get("code"))
		b.authorize(byRequestURI("web", parURI))
		b.authorize(byRequestURI("web2", parURI))

		// Introspection and revocation.
		for _, token := range []string{cc.Body["access_token"].(string), rt.Body["refresh_token"].(string), "garbage"} {
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathIntrospect, strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+cc.Body["access_token"].(string))
			f.do(req)
		}
		req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathRevoke, strings.NewReader(url.Values{"token": {rt.Body["access_token"].(string)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", pwSecret)
		f.do(req)

		// The store goes away: every path that logs a storage error runs. (On PostgreSQL
		// only: a closed SQLite store is not safe to call, and its errors are its own.)
		if strings.HasSuffix(t.Name(), "/postgres") {
			_ = f.st.Close()
		}
		f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.Body["refresh_token"].(string)}}, "app", pwSecret)
		s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})
		b.authorize(spaQuery())
		s.push(webQuery(), "web", webSecret)
		b.authorize(byRequestURI("web", parURI))
		req, _ = http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathIntrospect, strings.NewReader(url.Values{"token": {rt.Body["access_token"].(string)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("rs", rsSecret)
		f.do(req)

		text := rec.text()
		if rec.logs.Len() == 0 || len(rec.events) == 0 {
			t.Fatalf("nothing was logged or announced (%d logs, %d events): the test proves nothing", rec.logs.Len(), len(rec.events))
		}
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("a secret (%.8s...) appears in the logs or events", secret)
			}
		}
		// Not even the first half of a token (JWT header and claims are not secret, so
		// only refresh tokens, codes and cookies are checked this way).
		for _, secret := range []string{b.sessionCookie(), code} {
			if secret != "" && strings.Contains(text, secret[:len(secret)/2]) {
				t.Errorf("part of a secret (%.8s...) appears in the logs or events", secret)
			}
		}
		rec.logs.TakeAll()
		rec.mu.Lock()
		rec.events = nil
		rec.mu.Unlock()
	})
}
