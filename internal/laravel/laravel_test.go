package laravel

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// The schema creates in all three databases, and a Passport-shaped row goes in.
func TestCreateSchemaInEveryDialect(t *testing.T) {
	for _, c := range []struct{ dialect, driver, dsn string }{
		{MySQL, "mysql", testdb.MySQLDSN(t)},
		{Postgres, "pgx", testdb.PostgresDSN(t)},
		{SQLite, "sqlite", testdb.SQLitePath(t)},
	} {
		db, err := sql.Open(c.driver, c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := CreateSchema(context.Background(), db, c.dialect); err != nil {
			t.Fatal(err)
		}
		q := Placeholders(c.dialect, `INSERT INTO oauth_access_tokens (id, user_id, client_id, name, scopes, revoked, created_at, updated_at, expires_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)`)
		now := time.Now().UTC().Truncate(time.Second)
		if _, err := db.Exec(q, NewTokenID(), 7, 1, `["orders:read"]`, false, now, now, now.Add(time.Hour)); err != nil {
			t.Fatalf("%s: %v", c.dialect, err)
		}
		db.Close()
	}
}

// A minted token has league/oauth2-server's exact shape and verifies with the public key
// as Passport's oauth-public.key holds it.
func TestMintWritesLeaguesTokenShape(t *testing.T) {
	k, err := NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Unix(1764000000, 123456000)
	tok := k.Mint(AccessToken{ID: "abc", ClientID: "3", UserID: "7", Scopes: []string{"orders:read"},
		IssuedAt: iat, ExpiresAt: time.Unix(1795536000, 0)})
	parts := strings.Split(tok, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if string(hdr) != `{"typ":"JWT","alg":"RS256"}` {
		t.Errorf("header %s", hdr)
	}
	want := `{"aud":"3","jti":"abc","iat":1764000000.123456,"nbf":1764000000.123456,"exp":1795536000,"sub":"7","scopes":["orders:read"]}`
	if string(payload) != want {
		t.Errorf("payload\n got %s\nwant %s", payload, want)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(k.PublicKeyPEM())
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil || block.Type != "PUBLIC KEY" {
		t.Fatal(block.Type, err)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		t.Fatal(err)
	}
	if len(NewTokenID()) != 80 {
		t.Error("token id is not 80 hex characters")
	}
	if numericDate(time.Unix(1, 500000000)) != "1.5" {
		t.Errorf("numericDate: %s", numericDate(time.Unix(1, 500000000)))
	}
}
