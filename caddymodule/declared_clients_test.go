package caddymodule_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// A client block removed from the configuration is revoked at the next load, with its
// tokens (on the revocation log, so guards refuse them); the clients still declared, those
// made by the API or the command line, and those another oauth_server (another issuer)
// declares on the same store stay. Declaring it again brings the client back, not its
// tokens.
func TestServerRevokesClientsNoLongerDeclared(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			var dsn string
			if driver == "sqlite" {
				dsn = testdb.SQLitePath(t)
			} else {
				dsn = testdb.PostgresDSN(t)
			}
			load := func(issuer string, clients ...string) {
				t.Helper()
				body := fmt.Sprintf("oauth_server {\n\tstorage %s %q\n\tissuer %s\n", driver, dsn, issuer)
				for _, id := range clients {
					body += fmt.Sprintf("\tclient %s {\n\t\tsecret %s-secret-0123456789\n\t}\n", id, id)
				}
				if err := validate(t, body+"}"); err != nil {
					t.Fatal(err)
				}
			}
			load("https://a.example", "keep", "drop")
			load("https://b.example", "other")
			caddymodule.PoolsEmpty(t)

			st, err := drivers.Open(ctx, driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			now := time.Now().UTC()
			if err := st.CreateClient(ctx, &store.Client{ID: "made-by-cli", Name: "CLI", SecretHash: authserver.HashSecret("cli-secret-0123456789"),
				Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			token := &store.AccessToken{ID: "drop-token", ClientID: "drop", Scopes: []string{}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := st.CreateAccessToken(ctx, token, nil); err != nil {
				t.Fatal(err)
			}

			load("https://a.example", "keep") // "drop" removed from the configuration
			for id, wantRevoked := range map[string]bool{"keep": false, "drop": true, "other": false, "made-by-cli": false} {
				c, err := st.GetClient(ctx, id)
				if err != nil || c.Revoked != wantRevoked {
					t.Errorf("client %s: %+v %v, want revoked=%v", id, c, err, wantRevoked)
				}
			}
			if at, err := st.GetAccessToken(ctx, "drop-token"); err != nil || !at.Revoked {
				t.Errorf("the dropped client's token: %+v %v", at, err)
			}
			entries, _, err := st.RevocationsAfter(ctx, 0, 10)
			if err != nil || len(entries) != 1 || entries[0].TokenID != "drop-token" {
				t.Errorf("revocation log: %+v %v", entries, err)
			}

			load("https://a.example", "keep", "drop")
			if c, _ := st.GetClient(ctx, "drop"); c == nil || c.Revoked {
				t.Errorf("declared again: %+v", c)
			}
			if at, _ := st.GetAccessToken(ctx, "drop-token"); at == nil || !at.Revoked {
				t.Errorf("declaring the client again brought its token back: %+v", at)
			}
			caddymodule.PoolsEmpty(t)
		})
	}
}
