package caddyfile

import (
	"github.com/caddyoauth/caddy-oauth/caddymodule"

	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestServerCaddyfileSetsEveryOption(t *testing.T) {
	d := cfparse.NewTestDispenser(`oauth_server {
		issuer https://auth.example.com
		storage postgres "postgres://u@db/oauth"
		keys /etc/oauth/keys
		signing_alg RS256
		access_token_ttl 15m
		refresh_token_ttl 720h
		personal_token_ttl 8760h
		device_code_ttl 15m
		device_poll_interval 3s
		audience api-a api-b
		scope orders:read Read your orders
		scope profile
		default_scope orders:read profile
		users builtin
		client svc {
			secret {env.SVC_SECRET}
			name Billing service
			grants client_credentials
		}
		client web {
			grants authorization_code refresh_token
			redirect_uri https://app.example.com/cb https://app.example.com/cb2
			post_logout_redirect_uri https://app.example.com/bye
			provider admins
			first_party
			introspect
			require_pushed_authorization_requests
		}
	}`)
	var s caddymodule.Server
	if err := unmarshalServer(&s, d); err != nil {
		t.Fatal(err)
	}
	want := caddymodule.Server{
		Issuer:             "https://auth.example.com",
		Storage:            &caddymodule.StorageConfig{Driver: "postgres", DSN: "postgres://u@db/oauth"},
		KeysDir:            "/etc/oauth/keys",
		SigningAlg:         "RS256",
		AccessTokenTTL:     caddy.Duration(15 * time.Minute),
		RefreshTokenTTL:    caddy.Duration(720 * time.Hour),
		PersonalTokenTTL:   caddy.Duration(8760 * time.Hour),
		DeviceCodeTTL:      caddy.Duration(15 * time.Minute),
		DevicePollInterval: caddy.Duration(3 * time.Second),
		Audience:           []string{"api-a", "api-b"},
		Scopes:             []caddymodule.ScopeConfig{{Name: "orders:read", Description: "Read your orders"}, {Name: "profile"}},
		DefaultScope:       []string{"orders:read", "profile"},
		Clients: []caddymodule.ClientConfig{
			{ID: "svc", Secret: "{env.SVC_SECRET}", Name: "Billing service", Grants: []string{"client_credentials"}},
			{ID: "web", Grants: []string{"authorization_code", "refresh_token"},
				RedirectURIs:           []string{"https://app.example.com/cb", "https://app.example.com/cb2"},
				PostLogoutRedirectURIs: []string{"https://app.example.com/bye"},
				Provider:               "admins", FirstParty: true, Introspect: true, RequirePAR: true},
		},
		Users: []caddymodule.UserProviderConfig{{Kind: "builtin"}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", s, want)
	}

	// The JSON config says the same thing as the Caddyfile.
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back caddymodule.Server
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("JSON round trip lost something:\n%s\n%+v", raw, back)
	}
	for _, key := range []string{`"issuer"`, `"storage"`, `"keys"`, `"signing_alg"`, `"access_token_ttl"`, `"refresh_token_ttl"`, `"personal_token_ttl"`, `"audience"`, `"scopes"`, `"default_scope"`, `"clients"`, `"redirect_uris"`, `"post_logout_redirect_uris"`, `"first_party"`, `"introspect"`, `"require_pushed_authorization_requests"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON has no %s: %s", key, raw)
		}
	}
}

func TestServerCaddyfileStorageForms(t *testing.T) {
	cases := map[string]*caddymodule.StorageConfig{
		"storage sqlite":             {Driver: "sqlite"},
		"storage sqlite /var/o.db":   {Driver: "sqlite", DSN: "/var/o.db"},
		"storage postgres {env.DSN}": {Driver: "postgres", DSN: "{env.DSN}"},
	}
	for line, want := range cases {
		var s caddymodule.Server
		if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n"+line+"\n}")); err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if !reflect.DeepEqual(s.Storage, want) {
			t.Errorf("%s: got %+v", line, s.Storage)
		}
	}
}

// Every mistake names the option it is about.
func TestServerCaddyfileErrorsNameTheOption(t *testing.T) {
	cases := []struct{ body, want string }{
		{"issuer", "issuer"},
		{"issuer a b", "issuer"},
		{"storage", "storage"},
		{"storage sqlite a b", "storage"},
		{"keys", "keys"},
		{"signing_alg", "signing_alg"},
		{"access_token_ttl soon", "access_token_ttl"},
		{"refresh_token_ttl -1h", "refresh_token_ttl"},
		{"personal_token_ttl 0s", "personal_token_ttl"},
		{"scope", "scope"},
		{"default_scope", "default_scope"},
		{"users ldap", "users"},
		{"client", "client"},
		{"client svc {\n secret a b\n}", "secret"},
		{"client svc {\n colour blue\n}", "client svc"},
		{"client svc {\n provider\n}", "provider"},
		{"client svc {\n grants\n}", "grants"},
		{"client svc {\n redirect_uri\n}", "redirect_uri"},
		{"frobnicate on", `unknown option "frobnicate"`},
	}
	for _, c := range cases {
		var s caddymodule.Server
		err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n"+c.body+"\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to name %q", c.body, err, c.want)
		}
	}
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server extra {\n}")); err == nil {
		t.Error("an argument on the directive line was accepted")
	}
}

// Values that are well-formed Caddyfile but wrong (an unknown driver or algorithm, a
// postgres storage without a DSN) parse: they are refused at provisioning, where the JSON
// config is checked too, naming the option (caddymodule's
// TestServerProvisionErrorsNameTheOption).
func TestServerCaddyfileLeavesValueChecksToProvisioning(t *testing.T) {
	for _, c := range []struct {
		body string
		want func(s caddymodule.Server) bool
	}{
		{"storage mysql x", func(s caddymodule.Server) bool { return s.Storage.Driver == "mysql" && s.Storage.DSN == "x" }},
		{"storage postgres", func(s caddymodule.Server) bool { return s.Storage.Driver == "postgres" && s.Storage.DSN == "" }},
		{"signing_alg HS256", func(s caddymodule.Server) bool { return s.SigningAlg == "HS256" }},
		{"users sql {\n\tdatabase mysql dsn\n}", func(s caddymodule.Server) bool { return s.Users[0].Database.Driver == "mysql" }},
	} {
		var s caddymodule.Server
		if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n"+c.body+"\n}")); err != nil || !c.want(s) {
			t.Errorf("%q: %v, parsed %+v", c.body, err, s)
		}
	}
}

// Values are checked at provisioning (caddymodule's provision tests pin those errors):
// parsing keeps what it read.
func TestGuardCaddyfileLeavesValueChecksToProvisioning(t *testing.T) {
	for _, c := range []struct {
		body string
		want func(g caddymodule.Guard) bool
	}{
		{"scopes some a", func(g caddymodule.Guard) bool { return g.Scopes[0].Mode == "some" }},
		{"subject robot", func(g caddymodule.Guard) bool { return g.Subject == "robot" }},
		{"introspect https://a/i", func(g caddymodule.Guard) bool {
			return g.Introspect.URL == "https://a/i" && g.Introspect.ClientID == ""
		}},
		{"introspect https://a/i {\n\tclient_id x\n}", func(g caddymodule.Guard) bool { return g.Introspect.ClientSecret == "" }},
	} {
		var g caddymodule.Guard
		if err := unmarshalGuard(&g, cfparse.NewTestDispenser("oauth_guard {\n"+c.body+"\n}")); err != nil || !c.want(g) {
			t.Errorf("%q: %v, parsed %+v", c.body, err, g)
		}
	}
}

func TestGuardCaddyfileSetsEveryOption(t *testing.T) {
	d := cfparse.NewTestDispenser(`oauth_guard {
		jwks https://auth.example.com/.well-known/jwks.json
		issuer https://auth.example.com
		audience api other
		scopes all orders:read orders:write
		scopes any admin support
		subject user
		provider admins
		header X-User-Email {oauth.claim.email}
		realm orders
		leeway 5s
		cache_size 5000
	}`)
	var g caddymodule.Guard
	if err := unmarshalGuard(&g, d); err != nil {
		t.Fatal(err)
	}
	lw := caddy.Duration(5 * time.Second)
	want := caddymodule.Guard{
		JWKS:     "https://auth.example.com/.well-known/jwks.json",
		Issuer:   "https://auth.example.com",
		Audience: []string{"api", "other"},
		Scopes: []caddymodule.ScopeRuleConfig{
			{Mode: "all", Scopes: []string{"orders:read", "orders:write"}},
			{Mode: "any", Scopes: []string{"admin", "support"}},
		},
		Subject:   "user",
		Provider:  "admins",
		Headers:   map[string]string{"X-User-Email": "{oauth.claim.email}"},
		Realm:     "orders",
		Leeway:    &lw,
		CacheSize: 5000,
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", g, want)
	}
	raw, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var back caddymodule.Guard
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("JSON round trip lost something:\n%s\n%+v", raw, back)
	}

	// leeway 0s is kept as an explicit zero, distinct from unset.
	var z caddymodule.Guard
	if err := unmarshalGuard(&z, cfparse.NewTestDispenser("oauth_guard {\nleeway 0s\n}")); err != nil || z.Leeway == nil || *z.Leeway != 0 {
		t.Fatalf("leeway 0s: %v %v", z.Leeway, err)
	}
	raw, _ = json.Marshal(z)
	if !strings.Contains(string(raw), `"leeway":0`) {
		t.Fatalf("leeway 0s lost in JSON: %s", raw)
	}
}

func TestGuardCaddyfileErrorsNameTheOption(t *testing.T) {
	cases := []struct{ body, want string }{
		{"jwks", "jwks"},
		{"jwks a b", "jwks"},
		{"issuer", "issuer"},
		{"audience", "audience"},
		{"scopes all", "scopes"},
		{"scopes", "scopes"},
		{"provider", "provider"},
		{"header X-A", "header"},
		{"realm", "realm"},
		{"leeway forever", "leeway"},
		{"leeway -5s", "leeway"},
		{"cache_size 0", "cache_size"},
		{"cache_size lots", "cache_size"},
		{"introspection http://x", `unknown option "introspection"`},
	}
	for _, c := range cases {
		var g caddymodule.Guard
		err := unmarshalGuard(&g, cfparse.NewTestDispenser("oauth_guard {\n"+c.body+"\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to name %q", c.body, err, c.want)
		}
	}
}

// Both directives work without an `order` option, the server's endpoints run before a
// guard of the same site, and a guard can take a matcher.
func TestDirectivesHaveADefaultOrder(t *testing.T) {
	cf := `http://localhost:9 {
	oauth_guard /api/* {
		jwks /tmp/jwks.json
		issuer http://localhost:9
	}
	respond "ok"
	oauth_server {
		storage sqlite /tmp/never-opened.db
	}
}`
	raw, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	for _, w := range warnings {
		t.Logf("warning: %s", w.String())
	}
	js := string(raw)
	srv, guard, respond := strings.Index(js, `"handler":"oauth_server"`), strings.Index(js, `"handler":"oauth_guard"`), strings.Index(js, `"handler":"static_response"`)
	if srv < 0 || guard < 0 || respond < 0 {
		t.Fatalf("handlers missing from %s", js)
	}
	if !(srv < guard && guard < respond) {
		t.Fatalf("order is not oauth_server, oauth_guard, respond: %s", js)
	}
	if !strings.Contains(js, `"/api/*"`) {
		t.Fatalf("the guard's matcher is lost: %s", js)
	}
}

// grants device_code is the device authorization grant's short name: the client gets the
// URN, which is also accepted as it is.
func TestClientGrantsDeviceCodeBecomesTheURN(t *testing.T) {
	d := cfparse.NewTestDispenser(`oauth_server {
		client tv {
			grants device_code refresh_token
		}
		client kiosk {
			grants urn:ietf:params:oauth:grant-type:device_code
		}
	}`)
	var s caddymodule.Server
	if err := unmarshalServer(&s, d); err != nil {
		t.Fatal(err)
	}
	const urn = "urn:ietf:params:oauth:grant-type:device_code"
	want := []caddymodule.ClientConfig{
		{ID: "tv", Grants: []string{urn, "refresh_token"}},
		{ID: "kiosk", Grants: []string{urn}},
	}
	if !reflect.DeepEqual(s.Clients, want) {
		t.Fatalf("clients %+v, want %+v", s.Clients, want)
	}
}
