package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// dpop_nonce on oauth_server becomes require_dpop_nonce in the JSON config and
// RequireDPoPNonce in the running server; require_dpop in a client block becomes
// dpop_bound_access_tokens and the stored client's RequireDPoP. Without them, neither.
func TestDPoPOptionsReachTheServerAndTheStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "oauth.db")
	cf := fmt.Sprintf(`{
	admin off
	persist_config off
}
http://127.0.0.1:0 {
	oauth_server {
		storage sqlite %q
		dpop_nonce
		client bound {
			secret bound-secret-0123456789
			require_dpop
		}
		client plain {
			secret plain-secret-0123456789
		}
	}
}
`, db)
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"require_dpop_nonce":true`, `"dpop_bound_access_tokens":true`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the JSON config lacks %s: %s", want, raw)
		}
	}
	if cfg := runAndFindServerConfig(t, cf); !cfg.RequireDPoPNonce {
		t.Error("dpop_nonce did not reach the server's config")
	}
	st, err := drivers.Open(context.Background(), "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]bool{"bound": true, "plain": false} {
		c, err := st.GetClient(context.Background(), id)
		if err != nil || c.RequireDPoP != want {
			t.Errorf("client %s: %+v %v, want RequireDPoP %v", id, c, err, want)
		}
	}

	// Off unless named.
	plain, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf("http://127.0.0.1:0 {\n\toauth_server {\n\t\tstorage sqlite %q\n\t}\n}\n", db)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plain, []byte("dpop")) {
		t.Errorf("DPoP options appear unasked: %s", plain)
	}
}
