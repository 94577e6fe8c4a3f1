package caddyfile

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGuardCaddyfileDPoPOptions(t *testing.T) {
	g, err := parseGuardConfig(t, `oauth_guard {
		jwks https://auth.example.com/.well-known/jwks.json
		issuer https://auth.example.com
		dpop_proof_window 30s
		dpop_nonce
	}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(g)
	if !strings.Contains(string(raw), `"dpop_proof_window":30000000000,"dpop_nonce":true`) {
		t.Fatalf("JSON %s", raw)
	}
	for src, want := range map[string]string{
		`oauth_guard { dpop_proof_window 0s }`:   "dpop_proof_window",
		`oauth_guard { dpop_proof_window soon }`: "dpop_proof_window",
		`oauth_guard { dpop_nonce on }`:          "dpop_nonce: takes no arguments",
	} {
		if _, err := parseGuardConfig(t, src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", src, err, want)
		}
	}
}
