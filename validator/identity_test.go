package validator

import (
	"reflect"
	"sync"
	"testing"
)

func TestIdentityClaimReturnsAnyClaimAsText(t *testing.T) {
	id, err := IdentityFromClaims([]byte(`{"sub":"7","tenant":"acme \u00e9","level":3,"ratio":1.50,"admin":true,
		"roles":[ "a", "b" ],"org":{ "id": 1 },"gone":null}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, claim, want string
		ok                bool
	}{
		{"string as-is", "tenant", "acme é", true},
		{"integer as JSON text", "level", "3", true},
		{"float as sent", "ratio", "1.50", true},
		{"bool as JSON text", "admin", "true", true},
		{"array as compact JSON", "roles", `["a","b"]`, true},
		{"object as compact JSON", "org", `{"id":1}`, true},
		{"null is absent", "gone", "", false},
		{"missing is absent", "nope", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := id.ClaimsFor("").Get(tt.claim)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Claim(%q) = %q, %v; want %q, %v", tt.claim, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestIdentityClaimIsSafeConcurrently(t *testing.T) {
	id, err := IdentityFromClaims([]byte(`{"tenant":"acme"}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, ok := id.ClaimsFor("").Get("tenant"); !ok || v != "acme" {
				t.Errorf("Claim = %q, %v", v, ok)
			}
		}()
	}
	wg.Wait()
}

func TestIdentityFromClaims(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		client    string
		user      string
		aud       []string
		scopes    []string
		provider  string
		wantErr   bool
		scopeWire string
	}{
		{name: "client_id wins over azp and aud", json: `{"client_id":"c","azp":"z","aud":"a","sub":"u"}`, client: "c", user: "u", aud: []string{"a"}},
		{name: "azp is used without client_id", json: `{"azp":"z","aud":"a","sub":"u"}`, client: "z", user: "u", aud: []string{"a"}},
		{name: "a single aud is the client id (Passport)", json: `{"aud":["3"],"sub":"7"}`, client: "3", user: "7", aud: []string{"3"}},
		{name: "several aud values give no client id", json: `{"aud":["a","b"],"sub":"7"}`, client: "", user: "7", aud: []string{"a", "b"}},
		{name: "sub equal to the client id is a client token", json: `{"client_id":"svc","sub":"svc"}`, client: "svc"},
		{name: "empty sub is a client token", json: `{"client_id":"svc","sub":""}`, client: "svc"},
		{name: "numeric sub and client_id are kept as text", json: `{"client_id":12,"sub":7}`, client: "12", user: "7"},
		{name: "escaped strings are decoded", json: `{"client_id":"a\"b","sub":"\u0041"}`, client: `a"b`, user: "A"},
		{name: "provider is read", json: `{"sub":"7","provider":"admins"}`, user: "7", provider: "admins"},
		{name: "scope wins over scopes and scp", json: `{"scope":"a b","scopes":["x"],"scp":["y"]}`, scopes: []string{"a", "b"}, scopeWire: "a b"},
		{name: "scopes array is de-duplicated", json: `{"scopes":["a","b","a"]}`, scopes: []string{"a", "b"}, scopeWire: "a b"},
		{name: "an object aud is refused", json: `{"aud":{"x":1}}`, wantErr: true},
		{name: "a string exp is refused", json: `{"exp":"soon"}`, wantErr: true},
		{name: "a bool scope is refused", json: `{"scope":true}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := IdentityFromClaims([]byte(tt.json))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", id)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.ClientID != tt.client || id.UserID != tt.user || id.IsUser() != (tt.user != "") || id.Provider != tt.provider {
				t.Fatalf("identity = %+v", id)
			}
			if !reflect.DeepEqual(id.Audience, tt.aud) || !reflect.DeepEqual(id.Scopes, tt.scopes) || id.ScopeString != tt.scopeWire {
				t.Fatalf("identity = %+v", id)
			}
			if string(id.ClaimsFor("").raw) != tt.json {
				t.Fatal("raw claims not kept")
			}
		})
	}
}
