package authserver_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

func TestNewClientBuildsTheRecord(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	for _, c := range []struct {
		name       string
		spec       authserver.ClientSpec
		wantGrants []string
		wantSecret string // "generated", "given" or ""
	}{
		{"declared service", authserver.ClientSpec{ID: "svc", Secret: "0123456789abcdef", Declarative: true,
			RedirectURIPolicy: authserver.OperatorRedirectURIs}, []string{"client_credentials"}, "given"},
		{"generated password client", authserver.ClientSpec{Name: "App", GenerateSecret: true, Provider: "admins",
			Grants: []string{authserver.GrantPassword, authserver.GrantRefreshToken}}, []string{"password", "refresh_token"}, "generated"},
		{"public code client", authserver.ClientSpec{Name: "SPA", Grants: []string{authserver.GrantAuthorizationCode, authserver.GrantRefreshToken},
			RedirectURIs: []string{"https://spa.example/cb"}, OwnerUserID: "u-1", FirstParty: true, Introspect: true},
			[]string{"authorization_code", "refresh_token"}, ""},
		{"personal access client", authserver.ClientSpec{Name: "PAC", GenerateSecret: true, Grants: []string{authserver.GrantPersonalAccess}},
			[]string{"personal_access"}, "generated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, secret, err := authserver.NewClient(c.spec, now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.Grants, c.wantGrants) {
				t.Errorf("grants %v, want %v", rec.Grants, c.wantGrants)
			}
			switch c.wantSecret {
			case "given":
				if secret != c.spec.Secret {
					t.Errorf("secret %q, want the given one", secret)
				}
			case "generated":
				if len(secret) < 40 {
					t.Errorf("generated secret %q is short", secret)
				}
			default:
				if secret != "" || rec.SecretHash != "" || rec.Confidential() {
					t.Errorf("public client has a secret: %q %q", secret, rec.SecretHash)
				}
			}
			if secret != "" {
				if ok, _ := authserver.VerifySecret(rec.SecretHash, secret); !ok || strings.Contains(rec.SecretHash, secret) {
					t.Errorf("stored %q does not verify the secret, or holds it in clear", rec.SecretHash)
				}
			}
			if c.spec.ID != "" && rec.ID != c.spec.ID || rec.ID == "" {
				t.Errorf("id %q", rec.ID)
			}
			if wantName := c.spec.Name; wantName == "" && rec.Name != rec.ID || wantName != "" && rec.Name != wantName {
				t.Errorf("name %q", rec.Name)
			}
			if rec.Provider != c.spec.Provider || rec.UserID != c.spec.OwnerUserID || rec.FirstParty != c.spec.FirstParty ||
				rec.Introspect != c.spec.Introspect || rec.Declarative != c.spec.Declarative || !slices.Equal(rec.RedirectURIs, c.spec.RedirectURIs) {
				t.Errorf("record %+v from %+v", rec, c.spec)
			}
			if !rec.CreatedAt.Equal(now) || rec.CreatedAt.Location() != time.UTC || !rec.UpdatedAt.Equal(now) {
				t.Errorf("times %v %v", rec.CreatedAt, rec.UpdatedAt)
			}
		})
	}
	a, _, _ := authserver.NewClient(authserver.ClientSpec{GenerateSecret: true}, now)
	b, _, _ := authserver.NewClient(authserver.ClientSpec{GenerateSecret: true}, now)
	if a.ID == b.ID {
		t.Error("two clients without an id got the same one")
	}
}

func TestNewClientRefusesNamingTheField(t *testing.T) {
	for _, c := range []struct {
		name string
		spec authserver.ClientSpec
		want string
	}{
		{"unknown grant", authserver.ClientSpec{Grants: []string{"hybrid"}, Secret: "0123456789abcdef"}, `grant "hybrid"`},
		{"short secret", authserver.ClientSpec{Secret: "short"}, "secret must be at least 16"},
		{"secret given and generated", authserver.ClientSpec{Secret: "0123456789abcdef", GenerateSecret: true}, "secret"},
		{"public client credentials", authserver.ClientSpec{Grants: []string{"client_credentials"}}, `grant "client_credentials" needs a secret`},
		{"public password", authserver.ClientSpec{Grants: []string{"password"}}, `grant "password" needs a secret`},
		{"public by default", authserver.ClientSpec{}, `grant "client_credentials" needs a secret`},
		{"confidential implicit", authserver.ClientSpec{Grants: []string{"implicit"}, GenerateSecret: true}, `grant "implicit" is for public clients only`},
		{"confidential implicit, given secret", authserver.ClientSpec{Grants: []string{"authorization_code", "implicit"}, Secret: "0123456789abcdef0123"}, `grant "implicit" is for public clients only`},
		{"implicit with require_dpop", authserver.ClientSpec{Grants: []string{"implicit"}, RedirectURIs: []string{"https://a.example/cb"}, RequireDPoP: true}, `grant "implicit" cannot give DPoP- or certificate-bound tokens`},
		{"implicit with certificate-bound tokens", authserver.ClientSpec{Grants: []string{"implicit"}, RedirectURIs: []string{"https://a.example/cb"}, CertBoundTokens: true}, `grant "implicit" cannot give DPoP- or certificate-bound tokens`},
		{"relative redirect", authserver.ClientSpec{Grants: []string{"authorization_code"}, RedirectURIs: []string{"/cb"},
			RedirectURIPolicy: authserver.OperatorRedirectURIs}, "redirect URI"},
		{"plain http for an end user", authserver.ClientSpec{Grants: []string{"authorization_code"}, RedirectURIs: []string{"http://evil.example/cb"}},
			"redirect URI"},
		{"script post-logout URI", authserver.ClientSpec{Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"},
			PostLogoutRedirectURIs: []string{"javascript:alert(1)"}, RedirectURIPolicy: authserver.OperatorRedirectURIs}, "post-logout redirect URI"},
		{"fragment in post-logout URI", authserver.ClientSpec{Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"},
			PostLogoutRedirectURIs: []string{"https://a.example/bye#x"}}, "post-logout redirect URI"},
	} {
		if _, _, err := authserver.NewClient(c.spec, time.Now()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// The operator may register what the end user may not.
	if _, _, err := authserver.NewClient(authserver.ClientSpec{Grants: []string{"authorization_code"}, RedirectURIs: []string{"http://evil.example/cb"},
		RedirectURIPolicy: authserver.OperatorRedirectURIs}, time.Now()); err != nil {
		t.Errorf("operator policy: %v", err)
	}
}
