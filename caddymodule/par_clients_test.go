package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// A declared client with require_pushed_authorization_requests is stored with RequirePAR,
// through the Caddyfile and the JSON config it becomes; one without it is not.
func TestDeclaredClientRequiringPARIsStoredSo(t *testing.T) {
	db := testdb.SQLitePath(t)
	cf := fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:1 {\n\toauth_server {\n\t\tstorage sqlite %q\n"+
		"\t\tclient strict {\n\t\t\tgrants authorization_code\n\t\t\tredirect_uri https://app.example/cb\n\t\t\trequire_pushed_authorization_requests\n\t\t}\n"+
		"\t\tclient loose {\n\t\t\tgrants authorization_code\n\t\t\tredirect_uri https://app.example/cb\n\t\t}\n\t}\n}\n", db)
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"require_pushed_authorization_requests":true`)) {
		t.Fatalf("the JSON config does not name the option: %s", raw)
	}
	if err := caddymodule.ValidateJSON(t, raw); err != nil {
		t.Fatal(err)
	}
	caddymodule.PoolsEmpty(t)
	st, err := drivers.Open(context.Background(), "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]bool{"strict": true, "loose": false} {
		c, err := st.GetClient(context.Background(), id)
		if err != nil || c.RequirePAR != want {
			t.Errorf("client %s: %+v %v, want RequirePAR %v", id, c, err, want)
		}
	}
}
