package caddyfile

import (
	"encoding/json"
	"strings"
	"testing"
)

// The line a Passport user writes: jwks naming oauth-public.key and `passport`, no issuer.
// It becomes "passport": true in JSON, and nothing else changes.
func TestGuardCaddyfilePassportLine(t *testing.T) {
	g, err := parseGuardConfig(t, `oauth_guard {
		jwks /var/www/app/storage/oauth-public.key
		passport
		scopes all orders:read
	}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(g)
	want := `{"jwks":"/var/www/app/storage/oauth-public.key","passport":true,"scopes":[{"mode":"all","scopes":["orders:read"]}]}`
	if string(raw) != want {
		t.Fatalf("JSON\n got %s\nwant %s", raw, want)
	}

	// With an issuer too (a guard taking both servers' tokens during a move).
	g, err = parseGuardConfig(t, "oauth_guard {\n\tpassport\n\tissuer https://auth.example.com\n}")
	if err != nil || !g.Passport || g.Issuer != "https://auth.example.com" {
		t.Fatalf("passport with issuer: %v, parsed %+v", err, g)
	}

	// Without the line, the option stays off and out of the JSON.
	g, err = parseGuardConfig(t, "oauth_guard {\n\tjwks /k\n\tissuer https://a\n}")
	if err != nil || g.Passport {
		t.Fatalf("no passport line: %v, parsed %+v", err, g)
	}
	if raw, _ := json.Marshal(g); strings.Contains(string(raw), "passport") {
		t.Fatalf("passport in JSON without the line: %s", raw)
	}
}

// `passport` is an on/off line: an argument (`passport true`, `passport off`) is refused
// rather than guessed at, and the error names the option.
func TestGuardCaddyfilePassportTakesNoArguments(t *testing.T) {
	for _, body := range []string{"passport true", "passport off", "passport /k"} {
		_, err := parseGuardConfig(t, "oauth_guard {\n"+body+"\n}")
		if err == nil || !strings.Contains(err.Error(), "passport") {
			t.Errorf("%q: err = %v, want it to name passport", body, err)
		}
	}
}
