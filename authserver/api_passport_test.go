package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// passportClient is a client as Laravel Passport's Clients.vue and scripts read it.
type passportClient struct {
	ID                   string `json:"id"`
	UserID               string `json:"user_id"`
	Name                 string `json:"name"`
	Secret               string `json:"secret"`
	PlainSecret          string `json:"plainSecret"`
	Provider             string `json:"provider"`
	Redirect             string `json:"redirect"`
	PersonalAccessClient bool   `json:"personal_access_client"`
	PasswordClient       bool   `json:"password_client"`
	Revoked              bool   `json:"revoked"`
	CreatedAt            string `json:"created_at"`
	UpdatedAt            string `json:"updated_at"`
}

// The bodies below are the form objects Passport's published Vue components send whole
// (resources/js/components/Clients.vue: createForm {errors, name, redirect, confidential},
// editForm {errors, name, redirect}; PersonalAccessTokens.vue: form {name, scopes, errors}).
func TestClientAPIAcceptsPassportsBodiesAndAnswersPassportsFields(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		ctx := context.Background()

		r := a.call("POST", authserver.PathClients, map[string]any{"errors": []string{}, "name": "Passport app", "redirect": "https://my.app/cb, https://my.app/cb2", "confidential": true}, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		var made passportClient
		r.into(t, &made)
		if made.Name != "Passport app" || made.Redirect != "https://my.app/cb,https://my.app/cb2" || made.UserID != f.userID ||
			made.Provider != authserver.DefaultProvider || made.PersonalAccessClient || made.PasswordClient || made.Revoked ||
			len(made.Secret) != 43 || made.PlainSecret != made.Secret || made.CreatedAt == "" || made.UpdatedAt == "" {
			t.Fatalf("created %s", r.raw)
		}
		var ours clientOut
		r.into(t, &ours)
		if len(ours.RedirectURIs) != 2 || !ours.Confidential {
			t.Fatalf("our own fields are gone: %s", r.raw)
		}
		rec, err := f.st.GetClient(ctx, made.ID)
		if err != nil || strings.Join(rec.RedirectURIs, " ") != "https://my.app/cb https://my.app/cb2" {
			t.Fatalf("record %+v %v", rec, err)
		}

		// Passport's public client: confidential false, one redirect.
		pub := a.call("POST", authserver.PathClients, map[string]any{"errors": []string{}, "name": "SPA", "redirect": "https://spa.app/cb", "confidential": false}, nil)
		var spa passportClient
		pub.into(t, &spa)
		if pub.status != http.StatusCreated || spa.Secret != "" || spa.PlainSecret != "" || spa.Redirect != "https://spa.app/cb" {
			t.Fatalf("public client: %d %s", pub.status, pub.raw)
		}

		var list []passportClient
		lr := a.call("GET", authserver.PathClients, nil, nil)
		lr.into(t, &list)
		if lr.status != 200 || len(list) != 2 || list[0].Redirect != made.Redirect || list[0].Secret != "" || strings.Contains(lr.raw, made.Secret) {
			t.Fatalf("list: %d %s", lr.status, lr.raw)
		}

		up := a.call("PUT", authserver.PathClients+"/"+made.ID, map[string]any{"errors": []string{}, "name": "Renamed", "redirect": "https://my.app/callback"}, nil)
		var upd passportClient
		up.into(t, &upd)
		if up.status != 200 || upd.Name != "Renamed" || upd.Redirect != "https://my.app/callback" || strings.Contains(up.raw, `"secret"`) {
			t.Fatalf("update: %d %s", up.status, up.raw)
		}
		if rec, _ := f.st.GetClient(ctx, made.ID); strings.Join(rec.RedirectURIs, ",") != "https://my.app/callback" || !rec.Confidential() {
			t.Fatalf("after update %+v", rec)
		}
	})
}

// Passport's components show error.response.data.errors, flattened; a bad redirect in
// Passport's shape is named under redirect, and changes nothing.
func TestClientAPIRefusesBadPassportBodiesWith422UnderPassportsFieldNames(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		good := a.call("POST", authserver.PathClients, map[string]any{"name": "Mine", "redirect": "https://ok.example/cb"}, nil)
		var mine passportClient
		good.into(t, &mine)
		before := f.dump()
		for _, c := range []struct {
			method, path string
			body         map[string]any
			field        string
		}{
			{"POST", authserver.PathClients, map[string]any{"name": "x", "redirect": ""}, "redirect"},
			{"POST", authserver.PathClients, map[string]any{"name": "x", "redirect": " , "}, "redirect"},
			{"POST", authserver.PathClients, map[string]any{"name": "x", "redirect": "javascript:alert(1)"}, "redirect"},
			{"POST", authserver.PathClients, map[string]any{"name": "x", "redirect": "https://a.example/cb,https://a.example/cb"}, "redirect"},
			{"POST", authserver.PathClients, map[string]any{"name": "x", "redirect": "https://a.example/cb#frag"}, "redirect"},
			{"POST", authserver.PathClients, map[string]any{"name": "x", "redirect": "https://a.example/cb", "redirect_uris": []string{"https://a.example/cb"}}, "redirect"},
			{"POST", authserver.PathClients, map[string]any{"name": "", "redirect": "https://a.example/cb", "errors": []string{"old"}}, "name"},
			{"PUT", authserver.PathClients + "/" + mine.ID, map[string]any{"name": "x", "redirect": "http://evil.example/cb"}, "redirect"},
		} {
			r := a.call(c.method, c.path, c.body, nil)
			var body struct {
				Message string              `json:"message"`
				Errors  map[string][]string `json:"errors"`
			}
			r.into(t, &body)
			if r.status != 422 || body.Message == "" || len(body.Errors[c.field]) == 0 {
				t.Errorf("%s %v: %d %s", c.method, c.body, r.status, r.raw)
			}
		}
		// Mass assignment through Passport's fields: an owner, flags or a secret in the body
		// are unknown fields, refused.
		for _, extra := range []string{"user_id", "personal_access_client", "password_client", "revoked", "secret", "provider"} {
			r := a.call("POST", authserver.PathClients, map[string]any{"name": "x", "redirect": "https://a.example/cb", extra: true}, nil)
			if r.status != 400 {
				t.Errorf("%s accepted: %d %s", extra, r.status, r.raw)
			}
		}
		if f.dump() != before {
			t.Fatal("refused requests changed the store")
		}
	})
}

func TestPersonalTokensAndTokensAPIAnswerPassportsShapes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		ctx := context.Background()
		a := apiAs(t, s, userEmail, userPass)
		if err := f.st.CreateClient(ctx, &store.Client{ID: "pac", Name: "Personal Access Client", Grants: []string{authserver.GrantPersonalAccess}}); err != nil {
			t.Fatal(err)
		}
		r := a.call("POST", authserver.PathPersonalAccessTokens, map[string]any{"name": "deploy", "scopes": []string{"orders:read"}, "errors": []string{}}, nil)
		var made struct {
			AccessToken  string `json:"accessToken"`
			AccessToken2 string `json:"access_token"`
			Token        struct {
				ID       string   `json:"id"`
				UserID   string   `json:"user_id"`
				ClientID string   `json:"client_id"`
				Name     string   `json:"name"`
				Scopes   []string `json:"scopes"`
				Revoked  *bool    `json:"revoked"`
				Created  string   `json:"created_at"`
				Updated  string   `json:"updated_at"`
				Expires  string   `json:"expires_at"`
			} `json:"token"`
		}
		r.into(t, &made)
		if r.status != 201 || made.AccessToken == "" || made.AccessToken != made.AccessToken2 || made.Token.UserID != f.userID ||
			made.Token.ClientID != "pac" || made.Token.Name != "deploy" || strings.Join(made.Token.Scopes, " ") != "orders:read" ||
			made.Token.Revoked == nil || *made.Token.Revoked || made.Token.Updated == "" || made.Token.Expires == "" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		_, cl := f.claims(made.AccessToken)
		if cl["jti"] != made.Token.ID {
			t.Fatalf("claims %v", cl)
		}

		// AuthorizedClients.vue lists token.client.name and token.scopes.
		f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:write"}}, "app", pwSecret)
		var apps []struct {
			ID      string   `json:"id"`
			Scopes  []string `json:"scopes"`
			Revoked bool     `json:"revoked"`
			UserID  string   `json:"user_id"`
			Client  struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"client"`
		}
		lr := a.call("GET", authserver.PathTokens, nil, nil)
		lr.into(t, &apps)
		if len(apps) != 1 || apps[0].Client.ID != "app" || apps[0].Client.Name == "" || apps[0].UserID != f.userID ||
			strings.Join(apps[0].Scopes, " ") != "orders:write" || apps[0].Revoked {
			t.Fatalf("tokens: %s", lr.raw)
		}
		var personal []struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Client struct {
				Name string `json:"name"`
			} `json:"client"`
		}
		a.call("GET", authserver.PathPersonalAccessTokens, nil, nil).into(t, &personal)
		if len(personal) != 1 || personal[0].ID != made.Token.ID || personal[0].Client.Name != "Personal Access Client" {
			t.Fatalf("personal tokens: %+v", personal)
		}
	})
}

// Passport's front ends and league/oauth2-server's clients often send scope= empty; it
// means no scope asked for, as if absent, at every grant.
func TestTokenEndpointTakesPassportsEmptyScopeAsNone(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		pw := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {""}}, "app", pwSecret)
		if pw.Status != 200 {
			t.Fatalf("password grant with scope=: %d %v", pw.Status, pw.Body)
		}
		rt := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.Body["refresh_token"].(string)}, "scope": {""}}, "app", pwSecret)
		if rt.Status != 200 || rt.Body["scope"] != pw.Body["scope"] {
			t.Fatalf("refresh with scope=: %d %v (first %v)", rt.Status, rt.Body, pw.Body["scope"])
		}
	})
}
