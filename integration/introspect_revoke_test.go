package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

func init() {
	caddy.RegisterModule(eventRecorder{})
}

// recorded collects the events Caddy's events app delivered to eventRecorder.
var recorded struct {
	sync.Mutex
	events []recordedEvent
}

type recordedEvent struct {
	name string
	data map[string]any
}

func takeEvents() []recordedEvent {
	recorded.Lock()
	defer recorded.Unlock()
	out := recorded.events
	recorded.events = nil
	return out
}

// eventRecorder is an events handler module for tests, subscribed from the Caddyfile's
// events global option, so events are seen as any Caddy event handler sees them.
type eventRecorder struct{}

func (eventRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.oauth_test_recorder", New: func() caddy.Module { return new(eventRecorder) }}
}

func (*eventRecorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	return nil
}

func (*eventRecorder) Handle(_ context.Context, e caddy.Event) error {
	data := make(map[string]any, len(e.Data))
	for k, v := range e.Data {
		data[k] = v
	}
	recorded.Lock()
	recorded.events = append(recorded.events, recordedEvent{e.Name(), data})
	recorded.Unlock()
	return nil
}

const rsSecret = "rs-secret-0123456789abcdef"

// authSite is a running Caddy with an authorization server.
type authSite struct {
	issuer    string
	sc        storeCase
	caddyfile string
}

func (a *authSite) url(path string) string { return a.issuer + path }

func startAuthSite(t *testing.T, sc storeCase, extra string) *authSite {
	t.Helper()
	t.Setenv("IT_RS_SECRET", rsSecret)
	spec := sc.driver + ":" + sc.dsn
	addUser(t, spec)
	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	events {
		on oauth_access_token_created oauth_test_recorder
		on oauth_refresh_token_created oauth_test_recorder
		on oauth_token_revoked oauth_test_recorder
	}
}
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		%s
		scope orders:read Read your orders
		default_scope orders:read
		client svc {
			secret %s
			grants client_credentials
		}
		client rs {
			secret {env.IT_RS_SECRET}
			grants client_credentials
			introspect
		}
		client app {
			secret %s
			grants password refresh_token
		}
	}
}`, port, issuer, sc.directive(), extra, svcSecret, appSecret)
	takeEvents()
	startCaddy(t, cf)
	return &authSite{issuer: issuer, sc: sc, caddyfile: cf}
}

// form posts a form with an Authorization header and returns the status and raw body.
func form(t *testing.T, u string, v url.Values, auth func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func basicAuth(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(id, secret) }
}

func bearerAuth(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func (a *authSite) userToken(t *testing.T) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{ClientID: "app", ClientSecret: appSecret, Endpoint: oauth2.Endpoint{TokenURL: a.url("/oauth/token"), AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), userEmail, userPass)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	return tok
}

func (a *authSite) introspect(t *testing.T, token string, auth func(*http.Request)) (int, map[string]any, string) {
	t.Helper()
	status, raw := form(t, a.url("/oauth/introspect"), url.Values{"token": {token}}, auth)
	body := map[string]any{}
	_ = jsonUnmarshal(raw, &body)
	return status, body, raw
}

// metricValue sums a counter of the running config's metrics registry over the series
// whose labels include want.
func metricValue(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	ctx := caddy.ActiveContext()
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			sum += counterOrHistogramCount(m)
		}
	}
	return sum
}

func counterOrHistogramCount(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return 0
}

func TestIntrospectAndRevokeEndToEnd(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		a := startAuthSite(t, sc, "")
		user := a.userToken(t)
		rsCfg := clientcredentials.Config{ClientID: "rs", ClientSecret: rsSecret, TokenURL: a.url("/oauth/token"), AuthStyle: oauth2.AuthStyleInHeader}
		rsTok, err := rsCfg.Token(context.Background())
		if err != nil {
			t.Fatalf("rs client credentials: %v", err)
		}
		issuedBefore := metricValue(t, "caddy_oauth_tokens_issued_total", map[string]string{"grant": "password"})

		// Introspection by Basic credentials and by the resource server's own token.
		var jti string
		for name, auth := range map[string]func(*http.Request){"basic": basicAuth("rs", rsSecret), "bearer": bearerAuth(rsTok.AccessToken)} {
			status, body, raw := a.introspect(t, user.AccessToken, auth)
			if status != 200 || body["active"] != true || body["client_id"] != "app" || body["username"] != userEmail ||
				body["token_type"] != "Bearer" || body["iss"] != a.issuer || body["scope"] != "orders:read" {
				t.Fatalf("%s introspection: %d %s", name, status, raw)
			}
			jti = body["jti"].(string)
		}
		// A client without the introspect flag is refused.
		if status, _, raw := a.introspect(t, user.AccessToken, basicAuth("svc", svcSecret)); status != 401 || strings.Contains(raw, "active") {
			t.Fatalf("svc introspection: %d %s", status, raw)
		}
		if got := metricValue(t, "caddy_oauth_introspections_total", map[string]string{"result": "active"}); got < 2 {
			t.Errorf("introspections_total{result=active} = %v, want >= 2", got)
		}

		// Follow the revocation feed, then revoke through the revoke endpoint.
		feedURL := a.url("/oauth/revocations")
		snap := call(t, "GET", feedURL, rsTok.AccessToken, nil)
		if snap.status != 200 || snap.body["cursor"] == nil {
			t.Fatalf("feed snapshot: %d %v", snap.status, snap.body)
		}
		polled := make(chan reply, 1)
		go func() {
			polled <- call(t, "GET", fmt.Sprintf("%s?after=%s&wait=10", feedURL, snap.body["cursor"]), rsTok.AccessToken, nil)
		}()
		time.Sleep(200 * time.Millisecond)
		takeEvents()
		revokedAt := time.Now()
		if status, raw := form(t, a.url("/oauth/revoke"), url.Values{"token": {user.AccessToken}, "token_type_hint": {"access_token"}}, basicAuth("app", appSecret)); status != 200 {
			t.Fatalf("revoke: %d %s", status, raw)
		}
		select {
		case r := <-polled:
			items, _ := r.body["revocations"].([]any)
			if r.status != 200 || len(items) != 1 || items[0].(map[string]any)["jti"] != jti {
				t.Fatalf("feed after revocation: %d %v", r.status, r.body)
			}
			t.Logf("feed answered %v after the revocation", time.Since(revokedAt))
		case <-time.After(5 * time.Second):
			t.Fatal("the feed did not answer within 5s of the revocation")
		}

		// Revoked: inactive, nothing more; and its refresh token no longer works.
		if status, _, raw := a.introspect(t, user.AccessToken, basicAuth("rs", rsSecret)); status != 200 || strings.TrimSpace(raw) != `{"active":false}` {
			t.Fatalf("revoked token introspects as %d %s", status, raw)
		}
		if status, raw := form(t, a.url("/oauth/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user.RefreshToken}}, basicAuth("app", appSecret)); status != 400 {
			t.Fatalf("refresh after revocation: %d %s", status, raw)
		}

		// The events app saw the revocation, with ids and never the token.
		var sawRevoked bool
		for _, e := range takeEvents() {
			for k, v := range e.data {
				if s := fmt.Sprint(v); strings.Contains(s, user.AccessToken) || strings.Contains(s, user.RefreshToken) {
					t.Fatalf("event %s field %s holds a token", e.name, k)
				}
			}
			if e.name == "oauth_token_revoked" && e.data["token_id"] == jti && e.data["client_id"] == "app" && e.data["user_id"] != "" {
				sawRevoked = true
			}
		}
		if !sawRevoked {
			t.Error("no oauth_token_revoked event for the revoked token")
		}
		if got := metricValue(t, "caddy_oauth_revocations_total", map[string]string{"reason": "revoke_endpoint"}); got < 1 {
			t.Errorf("revocations_total{reason=revoke_endpoint} = %v", got)
		}
		a.userToken(t)
		if got := metricValue(t, "caddy_oauth_tokens_issued_total", map[string]string{"grant": "password"}); got != issuedBefore+1 {
			t.Errorf("tokens_issued_total{grant=password} went from %v to %v, want +1", issuedBefore, got)
		}
		var sawCreated bool
		for _, e := range takeEvents() {
			sawCreated = sawCreated || e.name == "oauth_access_token_created" && e.data["client_id"] == "app"
		}
		if !sawCreated {
			t.Error("no oauth_access_token_created event")
		}

		// The metadata names both endpoints.
		md := call(t, "GET", a.url("/.well-known/oauth-authorization-server"), "", nil)
		if md.body["introspection_endpoint"] != a.url("/oauth/introspect") || md.body["revocation_endpoint"] != a.url("/oauth/revoke") {
			t.Errorf("metadata %v", md.body)
		}
	})
}

func TestRevokePreviousTokensAndPurgeIntervalFromTheCaddyfile(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		a := startAuthSite(t, sc, "revoke_previous_tokens\n\t\taccess_token_ttl 3s\n\t\trefresh_token_ttl 3s\n\t\tpurge_interval 1s")
		first := a.userToken(t)
		second := a.userToken(t)
		if _, body, raw := a.introspect(t, first.AccessToken, basicAuth("rs", rsSecret)); body["active"] != false {
			t.Fatalf("the superseded token is still active: %s", raw)
		}
		if _, body, raw := a.introspect(t, second.AccessToken, basicAuth("rs", rsSecret)); body["active"] != true {
			t.Fatalf("the new token is not active: %s", raw)
		}
		// Once both expire, the purger deletes them. The TTLs are 3s because the server
		// truncates its clock to the second before setting exp, so a 1s token could be
		// expired by the time it is introspected on a busy machine.
		st, err := drivers.Open(context.Background(), sc.driver, sc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, cl := jwtClaims(t, second.AccessToken)
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := st.GetAccessToken(context.Background(), cl["jti"].(string))
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the expired token was not purged within 15s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func jsonUnmarshal(raw string, v any) error { return json.Unmarshal([]byte(raw), v) }

// jwtClaims decodes a JWT's payload without verifying it (the server has verified it).
func jwtClaims(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	var hdr, cl map[string]any
	for i, dst := range []*map[string]any{&hdr, &cl} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, cl
}

// A config reload registers the metrics again on Caddy's new registry and restarts the
// purger at its new interval; nothing may fail, and counts carry on.
func TestConfigReloadKeepsIntrospectionAndMetricsWorking(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		a := startAuthSite(t, sc, "purge_interval 1h")
		user := a.userToken(t)
		if _, body, raw := a.introspect(t, user.AccessToken, basicAuth("rs", rsSecret)); body["active"] != true {
			t.Fatalf("before reload: %s", raw)
		}
		before := metricValue(t, "caddy_oauth_introspections_total", map[string]string{"result": "active"})
		reloaded := strings.Replace(a.caddyfile, "purge_interval 1h", "purge_interval 2h\n\t\trevoke_previous_tokens", 1)
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(reloaded), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := caddy.Load(cfg, true); err != nil {
			t.Fatalf("reload: %v", err)
		}
		// The old config's server closed its keep-alive connections, and for a moment after
		// a reload Caddy's shared listener may still hand a new connection to the old
		// server, which closes it: a client-side race, not the handler's doing. So the
		// first request after the reload goes on connections of its own and is retried
		// on transport errors only.
		http.DefaultClient.CloseIdleConnections()
		fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var resp *http.Response
		for attempt := 0; ; attempt++ {
			req, _ := http.NewRequest(http.MethodPost, a.url("/oauth/introspect"), strings.NewReader(url.Values{"token": {user.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("rs", rsSecret)
			if resp, err = fresh.Do(req); err == nil {
				break
			}
			if attempt == 20 {
				t.Fatalf("first request after reload: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("first request after reload: %d", resp.StatusCode)
		}
		// The old server may take a new connection a little longer still: go on only once
		// fresh connections succeed several times in a row (at the JWKS, which no metric
		// counts), so the requests below meet the new server.
		for inARow, attempt := 0, 0; inARow < 5; attempt++ {
			if attempt == 200 {
				t.Fatal("new connections still fail 10 s after the reload")
			}
			r, err := fresh.Get(a.url("/.well-known/jwks.json"))
			if err != nil {
				inARow = 0
				time.Sleep(50 * time.Millisecond)
				continue
			}
			r.Body.Close()
			inARow++
		}
		afterFirst := metricValue(t, "caddy_oauth_introspections_total", map[string]string{"result": "active"})
		if afterFirst < before+1 {
			t.Fatalf("introspections_total went from %v to %v across the reload, want at least +1", before, afterFirst)
		}
		http.DefaultClient.CloseIdleConnections()
		if _, body, raw := a.introspect(t, user.AccessToken, basicAuth("rs", rsSecret)); body["active"] != true {
			t.Fatalf("after reload: %s", raw)
		}
		// The counter survives the reload and keeps counting exactly.
		if after := metricValue(t, "caddy_oauth_introspections_total", map[string]string{"result": "active"}); after != afterFirst+1 {
			t.Fatalf("introspections_total went from %v to %v with one introspection, want +1", afterFirst, after)
		}
		// The reloaded config's option is in force.
		second := a.userToken(t)
		if _, body, raw := a.introspect(t, user.AccessToken, basicAuth("rs", rsSecret)); body["active"] != false {
			t.Fatalf("revoke_previous_tokens not applied after reload: %s", raw)
		}
		if _, body, _ := a.introspect(t, second.AccessToken, basicAuth("rs", rsSecret)); body["active"] != true {
			t.Fatal("new token inactive")
		}
	})
}
