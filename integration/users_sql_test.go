package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// laravelFactoryHash is the hash Laravel's UserFactory writes for the password
// "password": bcrypt, cost 10, $2y$, as PHP's password_hash makes it.
const laravelFactoryHash = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi"

const shopSecret = "shop-secret-0123456789abcdef"

// laravelUsersTable is what `php artisan migrate` makes from Laravel's
// 0001_01_01_000000_create_users_table migration on Postgres.
const laravelUsersTable = `CREATE TABLE users (
	id bigserial PRIMARY KEY,
	name varchar(255) NOT NULL,
	email varchar(255) NOT NULL,
	email_verified_at timestamp(0) without time zone NULL,
	password varchar(255) NOT NULL,
	remember_token varchar(100) NULL,
	created_at timestamp(0) without time zone NULL,
	updated_at timestamp(0) without time zone NULL,
	CONSTRAINT users_email_unique UNIQUE (email)
)`

// laravelApp creates a Laravel application's users table in a Postgres schema of its own
// and returns its DSN and the id of a user whose password is "password".
func laravelApp(t *testing.T) (dsn string, userID int64) {
	t.Helper()
	dsn = testdb.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, laravelUsersTable); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	// Rows as User::factory() leaves them; the first one is someone else.
	for i, u := range []struct{ name, email string }{{"Other Person", "other@laravel.test"}, {"Taylor", "taylor@laravel.test"}} {
		var id int64
		err := conn.QueryRow(ctx, `INSERT INTO users (name, email, email_verified_at, password, remember_token, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $3, $3) RETURNING id`, u.name, u.email, now, laravelFactoryHash, "AbCdEfGhIj").Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			userID = id
		}
	}
	return dsn, userID
}

// A Laravel application's users table works as it is: `users customers sql` with its
// DSN and the default query gives its users tokens through a password client bound to
// that provider, and a guard for that provider accepts them and nothing else.
func TestLaravelUsersTableLogsInThroughPasswordGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		appDSN, taylorID := laravelApp(t)
		t.Setenv("IT_APP_DATABASE_URL", appDSN)
		spec := sc.driver + ":" + sc.dsn
		addUser(t, spec)

		auth, api := freePort(t), freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		up := newUpstream(t)
		startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		default_scope orders:read
		users builtin
		users customers sql {
			database postgres {env.IT_APP_DATABASE_URL}
		}
		client shop {
			secret %s
			grants password refresh_token
			provider customers
		}
		client app {
			secret %s
			grants password refresh_token
		}
	}
}
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		subject user
		provider customers
	}
	reverse_proxy %s
}`, auth, issuer, sc.directive(), shopSecret, appSecret, api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))

		shop := oauth2.Config{ClientID: "shop", ClientSecret: shopSecret, Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
		tok, err := shop.PasswordCredentialsToken(context.Background(), "taylor@laravel.test", "password")
		if err != nil {
			t.Fatalf("password grant for the Laravel user: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", api), tok.AccessToken, nil)
		if r.status != 200 {
			t.Fatalf("guard refused the Laravel user's token: %d %v", r.status, r.body)
		}
		if h, _ := up.seen(); h.Get("X-Oauth-User-Id") != strconv.FormatInt(taylorID, 10) {
			t.Fatalf("upstream saw user %q, want the users.id %d", h.Get("X-Oauth-User-Id"), taylorID)
		}

		// Wrong password and unknown user: the same RFC 6749 error.
		for _, c := range []struct{ user, pass string }{{"taylor@laravel.test", "Password"}, {"nobody@laravel.test", "password"}} {
			_, err := shop.PasswordCredentialsToken(context.Background(), c.user, c.pass)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Errorf("%s/%s: %v", c.user, c.pass, err)
			}
		}
		// The Laravel user cannot log in through the default provider's client, nor the
		// built-in user through the shop's.
		app := oauth2.Config{ClientID: "app", ClientSecret: appSecret, Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
		if _, err := app.PasswordCredentialsToken(context.Background(), "taylor@laravel.test", "password"); err == nil {
			t.Error("the Laravel user logged in through the default provider")
		}
		if _, err := shop.PasswordCredentialsToken(context.Background(), userEmail, userPass); err == nil {
			t.Error("the built-in user logged in through the customers provider")
		}
		// A built-in user's token is refused by the customers guard.
		builtinTok, err := app.PasswordCredentialsToken(context.Background(), userEmail, userPass)
		if err != nil {
			t.Fatalf("built-in user: %v", err)
		}
		_, hits := up.seen()
		if r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", api), builtinTok.AccessToken, nil); r.status != 401 {
			t.Fatalf("customers guard let a users-provider token through: %d", r.status)
		}
		if _, after := up.seen(); after != hits {
			t.Fatal("the refused request reached the upstream")
		}
	})
}

// A client naming a provider that is not configured stops Caddy from starting, with an
// error naming the client and the provider.
func TestClientWithUnknownProviderFailsToStart(t *testing.T) {
	port := freePort(t)
	err := tryCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		storage sqlite %q
		client shop {
			secret %s
			grants password
			provider customers
		}
	}
}`, port, testdb.SQLitePath(t), shopSecret))
	if err == nil || !strings.Contains(err.Error(), `client "shop": provider "customers" is not configured`) {
		t.Fatalf("got %v", err)
	}
}

// tryCaddy adapts and loads a Caddyfile that is expected to fail, and returns the error;
// a config that loads anyway is stopped again.
func tryCaddy(t *testing.T, caddyfile string) error {
	t.Helper()
	caddyMu.Lock()
	defer caddyMu.Unlock()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	if err := caddy.Load(cfg, true); err != nil {
		return err
	}
	return caddy.Stop()
}
