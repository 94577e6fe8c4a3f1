package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/oauth2"

	oauthcmd "github.com/caddyoauth/caddy-oauth/cmd"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// laravelMySQLUsers are rows of a Laravel application's users table, one per hash
// Laravel's hashing drivers write, made by PHP 8.2's password_hash with Laravel's default
// options: `bcrypt` (cost 10, $2y$; the UserFactory's hash), `argon` (argon2i) and
// `argon2id` (m=65536, t=4, p=1).
var laravelMySQLUsers = []struct{ driver, email, password, hash string }{
	{"bcrypt", "taylor@laravel.test", "password", laravelFactoryHash},
	{"argon", "abigail@laravel.test", "password", "$argon2i$v=19$m=65536,t=4,p=1$cVJkei5xay5NamRpNmlPeg$M2Qv164J9/KYIHbZ1vg97jbZks07Ch+yf2wGq6SIYTQ"},
	{"argon2id", "dries@laravel.test", "password", "$argon2id$v=19$m=65536,t=4,p=1$bWxhUU13SVM4RnRma2hXdw$fMef9hnyn6+0qa1j13R72Qehw1JNiIGITjydaxNonNs"},
}

// laravelMySQLApp creates Laravel's users table (and Passport's tables) in a MariaDB
// database of its own, fills it with laravelMySQLUsers after someone else, and returns
// its DSN in go-sql-driver's form and the users' ids by email.
func laravelMySQLApp(t *testing.T) (string, map[string]int64) {
	t.Helper()
	dsn := testdb.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := laravel.CreateSchema(ctx, db, laravel.MySQL); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	now := time.Now().UTC()
	rows := append([]struct{ driver, email, password, hash string }{{"bcrypt", "other@laravel.test", "password", laravelFactoryHash}}, laravelMySQLUsers...)
	for _, u := range rows {
		res, err := db.ExecContext(ctx, `INSERT INTO users (name, email, email_verified_at, password, remember_token, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, "User "+u.driver, u.email, now, u.hash, "AbCdEfGhIj", now, now)
		if err != nil {
			t.Fatal(err)
		}
		if ids[u.email], err = res.LastInsertId(); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, ids
}

// mysqlURL writes a go-sql-driver DSN as the mysql:// URL Laravel's DB_URL holds.
func mysqlURL(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := "mysql://" + cfg.User
	if cfg.Passwd != "" {
		u += ":" + cfg.Passwd
	}
	return u + "@" + cfg.Addr + "/" + cfg.DBName
}

// A Laravel application's users table in MariaDB works as it is: `users sql { database
// mysql ... }` with the default query logs in users whose hashes Laravel's bcrypt, argon
// (argon2i) and argon2id drivers wrote; a wrong password and an unknown user get the
// same invalid_grant. Both DSN forms, the URL through a placeholder as Laravel's DB_URL.
func TestLaravelMySQLUsersLogInWithEveryLaravelHash(t *testing.T) {
	appDSN, ids := laravelMySQLApp(t)
	for _, form := range []struct{ name, directive string }{
		{"url", "{env.IT_MYSQL_URL}"},
		{"driver dsn", strconv.Quote(appDSN)},
	} {
		t.Run(form.name, func(t *testing.T) {
			t.Setenv("IT_MYSQL_URL", mysqlURL(t, appDSN))
			port := freePort(t)
			issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
			caddyfile := fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		storage sqlite %q
		scope orders:read Read your orders
		default_scope orders:read
		users sql {
			database mysql %s
		}
		client laravel-app {
			secret %s
			grants password refresh_token
		}
	}
}`, port, issuer, testdb.SQLitePath(t), form.directive, appSecret)
			startCaddy(t, caddyfile)
			app := oauth2.Config{ClientID: "laravel-app", ClientSecret: appSecret,
				Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
			ctx := context.Background()
			for _, u := range laravelMySQLUsers {
				tok, err := app.PasswordCredentialsToken(ctx, u.email, u.password)
				if err != nil {
					t.Fatalf("%s (%s hash): %v", u.email, u.driver, err)
				}
				if sub := tokenSub(t, tok.AccessToken); sub != strconv.FormatInt(ids[u.email], 10) {
					t.Errorf("%s: sub %v, want users.id %d", u.email, sub, ids[u.email])
				}
			}

			// A wrong password for each kind of hash, and an unknown user, are refused in
			// the same words.
			var refusals []string
			for _, c := range []struct{ user, pass string }{
				{laravelMySQLUsers[0].email, "Password"},
				{laravelMySQLUsers[1].email, "password "},
				{laravelMySQLUsers[2].email, "drowssap"},
				{"nobody@laravel.test", "password"},
				{"TAYLOR@laravel.test' OR '1'='1", "password"},
			} {
				_, err := app.PasswordCredentialsToken(ctx, c.user, c.pass)
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
					t.Fatalf("%s / %q: %v", c.user, c.pass, err)
				}
				refusals = append(refusals, re.ErrorCode+": "+re.ErrorDescription)
			}
			for _, r := range refusals[1:] {
				if r != refusals[0] {
					t.Errorf("refusals differ, so they tell which users exist: %q", refusals)
				}
			}
		})
	}
}

// The command line reads the same settings: `caddy oauth token --config` opens the MySQL
// provider as Caddy does. Neither it nor Caddy shows the DSN when the database refuses.
func TestMySQLUsersThroughTheCommandLineAndErrorsWithoutTheDSN(t *testing.T) {
	appDSN, ids := laravelMySQLApp(t)
	dir := t.TempDir()
	config := func(dsn string) string {
		t.Setenv("IT_MYSQL_URL", dsn)
		path := filepath.Join(dir, "Caddyfile")
		port := freePort(t)
		caddyfile := fmt.Sprintf(`http://127.0.0.1:%d {
	oauth_server {
		issuer http://127.0.0.1:%d
		storage sqlite %q
		users sql {
			database mysql {env.IT_MYSQL_URL}
		}
	}
}`, port, port, filepath.Join(dir, "oauth.db"))
		if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	taylor := strconv.FormatInt(ids["taylor@laravel.test"], 10)
	good := config(mysqlURL(t, appDSN))
	runCLI(t, "", "install", "--config", good)
	out := runCLI(t, "", "token", "--config", good, "--user", taylor, "--name", "cli", "--json")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v %q", err, out)
	}
	if sub := tokenSub(t, tok.AccessToken); sub != taylor {
		t.Fatalf("sub %v", sub)
	}

	// A wrong password: the command and Caddy both fail, naming the provider, not the DSN.
	cfg, _ := mysql.ParseDSN(appDSN)
	const secret = "n0t-the-Passw0rd"
	bad := "mysql://" + cfg.User + ":" + secret + "@" + cfg.Addr + "/" + cfg.DBName
	c := oauthcmd.NewCommand()
	var buf bytes.Buffer
	c.SetOut(&buf)
	c.SetErr(&buf)
	c.SetArgs([]string{"token", "--config", config(bad), "--user", taylor, "--name", "cli"})
	err := c.ExecuteContext(context.Background())
	if err == nil {
		t.Fatal("a wrong database password was accepted")
	}
	msg := err.Error() + buf.String()
	if !strings.Contains(msg, "users users sql") || strings.Contains(msg, secret) {
		t.Fatalf("command line error: %s", msg)
	}
	t.Logf("the command line says: %v", err)
	err = tryCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		storage sqlite %q
		users sql {
			database mysql %q
		}
	}
}`, freePort(t), testdb.SQLitePath(t), bad))
	if err == nil || !strings.Contains(err.Error(), "users users sql") || strings.Contains(err.Error(), secret) {
		t.Fatalf("Caddy's error: %v", err)
	}
	t.Logf("Caddy says: %v", err)
}

// tokenSub is an access token's sub claim.
func tokenSub(t *testing.T, token string) any {
	t.Helper()
	_, claims := jwtClaims(t, token)
	return claims["sub"]
}
