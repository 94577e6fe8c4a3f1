package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

func TestClientGrantMapsDeviceCodeToItsURN(t *testing.T) {
	for in, want := range map[string]string{
		"device_code":              authserver.GrantDeviceCode,
		authserver.GrantDeviceCode: authserver.GrantDeviceCode,
		"client_credentials":       "client_credentials",
		"refresh_token":            "refresh_token",
	} {
		if got := caddymodule.ClientGrant(in); got != want {
			t.Errorf("ClientGrant(%q) = %q, want %q", in, got, want)
		}
	}
}

// A declared client with the device grant, by its short name or its URN, in the
// Caddyfile or in the JSON config, is stored with the URN the token endpoint knows.
func TestDeclaredDeviceClientIsStoredWithTheGrantURN(t *testing.T) {
	db := testdb.SQLitePath(t)
	cf := fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:1 {\n\toauth_server {\n\t\tstorage sqlite %q\n"+
		"\t\tclient tv {\n\t\t\tgrants device_code refresh_token\n\t\t}\n"+
		"\t\tclient kiosk {\n\t\t\tsecret kiosk-secret-0123456789\n\t\t\tgrants %s\n\t\t}\n\t}\n}\n", db, authserver.GrantDeviceCode)
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"device_code"`)) {
		t.Fatalf("the Caddyfile's short name reached the JSON config: %s", raw)
	}
	// The JSON config accepts the short name too.
	raw = bytes.Replace(raw, []byte(`"`+authserver.GrantDeviceCode+`","refresh_token"`), []byte(`"device_code","refresh_token"`), 1)
	if !bytes.Contains(raw, []byte(`"device_code"`)) {
		t.Fatalf("could not write the short name into the JSON config: %s", raw)
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
	for id, want := range map[string][]string{
		"tv":    {authserver.GrantDeviceCode, "refresh_token"},
		"kiosk": {authserver.GrantDeviceCode},
	} {
		c, err := st.GetClient(context.Background(), id)
		if err != nil || !slices.Equal(c.Grants, want) {
			t.Errorf("client %s: %+v %v, want grants %v", id, c, err, want)
		}
	}
}
