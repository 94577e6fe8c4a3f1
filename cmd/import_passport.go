package cmd

import (
	"context"
	"crypto"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

func importCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "import",
		Short: "Imports another OAuth server's state into the store",
	}
	c.AddCommand(importPassportCmd())
	return c
}

func importPassportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "passport --from <driver>:<dsn> [--keys <dir>] [--dry-run] [--json]",
		Short: "Imports a Laravel Passport database: clients, personal access clients, live tokens and the key pair",
		Long: `Reads a Laravel Passport (10.x table layout) database and writes, in one
transaction on the store, what moving the server over needs, so nobody logs in again:

  oauth_clients                  ids (integer or UUID) and secrets kept; bcrypt-hashed
                                 secrets are stored as they are and re-hashed on first use,
                                 plain ones are hashed; redirect, provider, owner, revoked;
                                 grants as Passport allows them
  oauth_personal_access_clients  those clients issue personal access tokens
  oauth_access_tokens            unexpired rows (and the rows live refresh tokens belong
                                 to); revoked ones stay revoked and go on the revocation feed
  oauth_refresh_tokens           unexpired rows, linked to their access token
  the key pair                   from --keys <dir> (oauth-private.key, oauth-public.key) or
                                 PASSPORT_PRIVATE_KEY / PASSPORT_PUBLIC_KEY; PKCS#1 or PKCS#8
                                 PEM; it becomes the current signing key

--from names the Laravel database as --storage names ours, driver first:
  mysql:mysql://user:pass@host:3306/db   (or mysql:user:pass@tcp(host:3306)/db)
  postgres:postgres://user:pass@host/db
  sqlite:/path/to/database.sqlite
Laravel's times are read as UTC (Laravel's default app timezone).

Records already in the store are kept, so a second import changes nothing. --dry-run
counts what would be written and changes nothing. A row that cannot be mapped stops the
import, named by its table and id, with nothing written.`,
		Args: cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			f := c.Flags()
			from, _ := f.GetString("from")
			keyDir, _ := f.GetString("keys")
			dryRun, _ := f.GetBool("dry-run")
			asJSON, _ := f.GetBool("json")
			driver, dsn, err := parseFrom(from)
			if err != nil {
				return err
			}
			key, keySource, err := passportKey(keyDir, os.Getenv)
			if err != nil {
				return err
			}
			db, err := appdb.Open(driver, dsn)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			defer db.Close()
			imp, err := readPassport(ctx, db, driver, time.Now().UTC())
			if err != nil {
				return err
			}
			imp.SigningKey, imp.DryRun = key, dryRun
			if key != nil {
				for _, at := range imp.AccessTokens {
					at.KeyID = key.ID
				}
			}
			n, err := t.store.ImportPassport(ctx, imp)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			return printImport(c.OutOrStdout(), imp, n, keySource, asJSON)
		}),
	}
	addStoreFlags(c)
	f := c.Flags()
	f.String("from", "", "the Laravel database: mysql:<dsn>, postgres:<dsn> or sqlite:<file>")
	f.String("keys", "", "folder with Passport's oauth-private.key (default: PASSPORT_PRIVATE_KEY)")
	f.Bool("dry-run", false, "print what would be imported and change nothing")
	f.Bool("json", false, "print the counts as one JSON object")
	return c
}

// parseFrom splits --from into an appdb driver and its DSN.
func parseFrom(from string) (driver, dsn string, err error) {
	driver, dsn, ok := strings.Cut(from, ":")
	switch {
	case from == "":
		return "", "", errors.New("--from is required: mysql:<dsn>, postgres:<dsn> or sqlite:<file>")
	case !ok || dsn == "":
		return "", "", errors.New("--from: want <driver>:<dsn> with driver mysql, postgres or sqlite")
	}
	switch driver {
	case appdb.MySQL, appdb.Postgres, appdb.SQLite:
		return driver, dsn, nil
	case "mariadb":
		return appdb.MySQL, dsn, nil
	case "pgsql", "postgresql":
		return appdb.Postgres, dsn, nil
	}
	// The DSN is not repeated: it may hold a password.
	return "", "", fmt.Errorf("--from: unknown driver %q (want mysql, postgres or sqlite)", driver)
}

// passportKey reads Passport's key pair from dir, or else from the PASSPORT_PRIVATE_KEY
// and PASSPORT_PUBLIC_KEY variables (getenv), as Passport itself looks for it. It returns
// nil and no error when there is none: clients and tokens still come over, but tokens
// Passport signed will not verify, which printImport says.
func passportKey(dir string, getenv func(string) string) (*store.SigningKey, string, error) {
	var privPEM, pubPEM []byte
	var source string
	if dir != "" {
		data, err := os.ReadFile(filepath.Join(dir, "oauth-private.key"))
		if err != nil {
			return nil, "", fmt.Errorf("--keys: %w", err)
		}
		privPEM, source = data, filepath.Join(dir, "oauth-private.key")
		if data, err := os.ReadFile(filepath.Join(dir, "oauth-public.key")); err == nil {
			pubPEM = data
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("--keys: %w", err)
		}
	} else if v := getenv("PASSPORT_PRIVATE_KEY"); v != "" {
		privPEM, pubPEM, source = []byte(envPEM(v)), []byte(envPEM(getenv("PASSPORT_PUBLIC_KEY"))), "PASSPORT_PRIVATE_KEY"
	} else {
		return nil, "", nil
	}
	priv, err := keys.ParsePrivatePEM(privPEM)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	if len(pubPEM) > 0 {
		if err := samePublicKey(priv, pubPEM); err != nil {
			return nil, "", fmt.Errorf("%s: %w", source, err)
		}
	}
	alg, err := keys.AlgFor(priv)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	rec, err := keys.Record(priv, alg, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	return rec, source, nil
}

// envPEM undoes the "\n" escapes a PEM key often carries in a one-line .env value.
func envPEM(v string) string {
	if !strings.Contains(v, "\n") {
		v = strings.ReplaceAll(v, `\n`, "\n")
	}
	return strings.TrimSpace(v) + "\n"
}

// samePublicKey refuses a public key that is not the private key's: Passport's resource
// servers verify with the public file, so a mismatch means the pair is not the one that
// signed the tokens in the field.
func samePublicKey(priv crypto.Signer, pubPEM []byte) error {
	pub, err := keys.ParsePublicPEM(pubPEM)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	eq, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(pub) {
		return errors.New("the public key is not the private key's")
	}
	return nil
}

// passportNow formats an instant as Laravel writes its DATETIME columns (UTC), which all
// three drivers compare correctly with the stored values.
func passportNow(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// readPassport reads Passport's tables and maps them to store records. now decides which
// tokens are live.
func readPassport(ctx context.Context, db *sql.DB, driver string, now time.Time) (*store.PassportImport, error) {
	imp := &store.PassportImport{}
	clients := map[string]*store.Client{}
	rows, err := db.QueryContext(ctx, `SELECT id, user_id, name, secret, provider, redirect,
		personal_access_client, password_client, revoked, created_at, updated_at FROM oauth_clients ORDER BY id`)
	if err != nil {
		return nil, tableErr("oauth_clients", err)
	}
	for rows.Next() {
		var r passportClientRow
		if err := rows.Scan(&r.ID, &r.UserID, &r.Name, &r.Secret, &r.Provider, &r.Redirect,
			flag{&r.Personal}, flag{&r.Password}, flag{&r.Revoked}, laravelTime{&r.CreatedAt}, laravelTime{&r.UpdatedAt}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("oauth_clients row %s: %w", r.ID.String, err)
		}
		c, err := mapPassportClient(r)
		if err != nil {
			rows.Close()
			return nil, err
		}
		clients[c.ID] = c
		imp.Clients = append(imp.Clients, c)
	}
	if err := closeRows(rows); err != nil {
		return nil, tableErr("oauth_clients", err)
	}

	rows, err = db.QueryContext(ctx, `SELECT id, client_id FROM oauth_personal_access_clients ORDER BY id`)
	if err != nil {
		return nil, tableErr("oauth_personal_access_clients", err)
	}
	for rows.Next() {
		var id, clientID sql.NullString
		if err := rows.Scan(&id, &clientID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("oauth_personal_access_clients row %s: %w", id.String, err)
		}
		c := clients[clientID.String]
		if c == nil {
			rows.Close()
			return nil, fmt.Errorf("oauth_personal_access_clients row %s: client %q is not in oauth_clients", id.String, clientID.String)
		}
		if !c.HasGrant(authserver.GrantPersonalAccess) {
			c.Grants = append(c.Grants, authserver.GrantPersonalAccess)
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, tableErr("oauth_personal_access_clients", err)
	}

	cutoff := passportNow(now)
	// Live tokens, and the (possibly expired) access tokens that live refresh tokens were
	// issued with, which the refresh records link to. In id order, which costs MySQL
	// nothing (its rows are stored in primary key order) and makes the store's inserts
	// append to its id index instead of landing all over it.
	q, order := appdb.Rebind(driver, `SELECT id, user_id, client_id, name, scopes, revoked, created_at, expires_at
		FROM oauth_access_tokens a WHERE a.expires_at > $1 OR EXISTS (SELECT 1 FROM oauth_refresh_tokens r
		WHERE r.access_token_id = a.id AND r.expires_at > $1) ORDER BY a.id`)
	rows, err = db.QueryContext(ctx, q, appdb.Args(order, cutoff)...)
	if err != nil {
		return nil, tableErr("oauth_access_tokens", err)
	}
	access := map[string]*store.AccessToken{}
	var r passportTokenRow
	for rows.Next() {
		if err := rows.Scan(&r.ID, &r.UserID, &r.ClientID, &r.Name, &r.Scopes, flag{&r.Revoked},
			laravelTime{&r.CreatedAt}, laravelTime{&r.ExpiresAt}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("oauth_access_tokens row %s: %w", r.ID, err)
		}
		at, err := mapPassportToken(r, clients)
		if err != nil {
			rows.Close()
			return nil, err
		}
		access[at.ID] = at
		imp.AccessTokens = append(imp.AccessTokens, at)
	}
	if err := closeRows(rows); err != nil {
		return nil, tableErr("oauth_access_tokens", err)
	}

	q, order = appdb.Rebind(driver, `SELECT id, access_token_id, revoked, expires_at FROM oauth_refresh_tokens WHERE expires_at > $1 ORDER BY id`)
	rows, err = db.QueryContext(ctx, q, appdb.Args(order, cutoff)...)
	if err != nil {
		return nil, tableErr("oauth_refresh_tokens", err)
	}
	for rows.Next() {
		var id, accessID string
		var revoked bool
		var expires time.Time
		if err := rows.Scan(&id, &accessID, flag{&revoked}, laravelTime{&expires}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("oauth_refresh_tokens row %s: %w", id, err)
		}
		rt, err := mapPassportRefresh(id, accessID, revoked, expires, access)
		if err != nil {
			rows.Close()
			return nil, err
		}
		imp.RefreshTokens = append(imp.RefreshTokens, rt)
	}
	if err := closeRows(rows); err != nil {
		return nil, tableErr("oauth_refresh_tokens", err)
	}
	return imp, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// tableErr names the table a query failed on; a missing table is the usual cause (not a
// Passport database, or a Passport version with other tables).
func tableErr(table string, err error) error {
	return fmt.Errorf("reading %s (is this a Laravel Passport database?): %w", table, err)
}

// passportClientRow is one row of oauth_clients as read.
type passportClientRow struct {
	ID, UserID, Secret, Provider sql.NullString
	Name, Redirect               sql.NullString
	Personal, Password, Revoked  bool
	CreatedAt, UpdatedAt         time.Time
}

// mapPassportClient turns an oauth_clients row into a client: the id and owner as text,
// the secret as Passport kept it (bcrypt, re-hashed at first use) or hashed now (plain),
// redirect split at commas, and the grants Passport's ClientRepository::handlesGrant
// allows such a client.
func mapPassportClient(r passportClientRow) (*store.Client, error) {
	if r.ID.String == "" {
		return nil, errors.New("oauth_clients: a row has no id")
	}
	c := &store.Client{
		ID:        r.ID.String,
		Name:      r.Name.String,
		Provider:  r.Provider.String,
		UserID:    r.UserID.String,
		Revoked:   r.Revoked,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
	}
	if c.Name == "" {
		c.Name = "Client " + c.ID
	}
	if s := r.Secret.String; s != "" {
		switch {
		case strings.HasPrefix(s, "$2y$") || strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$"):
			c.SecretHash = s
		case strings.HasPrefix(s, "$argon2"):
			// Laravel's argon hashing driver: taking it for a plain secret would lock the
			// client out for good, so the import stops instead.
			return nil, fmt.Errorf("oauth_clients row %s: the secret is an argon2 hash, which client secrets cannot be verified with here (bcrypt or plain only)", c.ID)
		default:
			c.SecretHash = authserver.HashSecret(s)
		}
	}
	for _, u := range strings.Split(r.Redirect.String, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.RedirectURIs = append(c.RedirectURIs, u)
		}
	}
	// Passport's first-party clients (personal access, password) may not use the
	// authorization code grant; client credentials and personal access need a secret.
	if !r.Personal && !r.Password {
		c.Grants = append(c.Grants, authserver.GrantAuthorizationCode)
	}
	if r.Password {
		c.Grants = append(c.Grants, authserver.GrantPassword)
	}
	if c.Confidential() {
		c.Grants = append(c.Grants, authserver.GrantClientCredentials)
		if r.Personal {
			c.Grants = append(c.Grants, authserver.GrantPersonalAccess)
		}
	}
	c.Grants = append(c.Grants, authserver.GrantRefreshToken)
	return c, nil
}

// passportTokenRow is one row of oauth_access_tokens as read.
type passportTokenRow struct {
	ID                   string
	UserID, ClientID     sql.NullString
	Name, Scopes         sql.NullString
	Revoked              bool
	CreatedAt, ExpiresAt time.Time
}

// mapPassportToken turns an oauth_access_tokens row into an access token record: scopes
// from Passport's JSON array, the name (personal tokens), the provider of its client.
func mapPassportToken(r passportTokenRow, clients map[string]*store.Client) (*store.AccessToken, error) {
	c := clients[r.ClientID.String]
	if c == nil {
		return nil, fmt.Errorf("oauth_access_tokens row %s: client %q is not in oauth_clients", r.ID, r.ClientID.String)
	}
	if r.ExpiresAt.IsZero() {
		return nil, fmt.Errorf("oauth_access_tokens row %s: no expires_at", r.ID)
	}
	at := &store.AccessToken{
		ID: r.ID, ClientID: c.ID, UserID: r.UserID.String, Name: r.Name.String,
		Revoked: r.Revoked, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
	}
	if at.UserID != "" {
		at.Provider = c.Provider
		if at.Provider == "" {
			at.Provider = authserver.DefaultProvider
		}
	}
	if s := strings.TrimSpace(r.Scopes.String); s != "" {
		if err := json.Unmarshal([]byte(s), &at.Scopes); err != nil {
			return nil, fmt.Errorf("oauth_access_tokens row %s: scopes are not a JSON array of strings", r.ID)
		}
	}
	return at, nil
}

// mapPassportRefresh turns an oauth_refresh_tokens row into a refresh token record of
// its own family, carrying its access token's client, user and scopes.
func mapPassportRefresh(id, accessID string, revoked bool, expires time.Time, access map[string]*store.AccessToken) (*store.RefreshToken, error) {
	at := access[accessID]
	if at == nil {
		return nil, fmt.Errorf("oauth_refresh_tokens row %s: access token %q is not in oauth_access_tokens", id, accessID)
	}
	rid := store.PassportRefreshPrefix + id
	return &store.RefreshToken{
		ID: rid, AccessTokenID: at.ID, FamilyID: rid, ClientID: at.ClientID, UserID: at.UserID,
		Provider: at.Provider, Scopes: at.Scopes, Revoked: revoked, CreatedAt: at.CreatedAt, ExpiresAt: expires,
	}, nil
}

// flag scans Laravel's boolean columns: TINYINT(1) in MySQL, boolean in PostgreSQL,
// integer in SQLite.
type flag struct{ b *bool }

func (f flag) Scan(src any) error {
	switch v := src.(type) {
	case bool:
		*f.b = v
	case int64:
		*f.b = v != 0
	case []byte:
		return f.Scan(string(v))
	case string:
		n, err := strconv.ParseBool(v)
		*f.b = n
		return err
	case nil:
		*f.b = false
	default:
		return fmt.Errorf("not a boolean: %T", src)
	}
	return nil
}

// laravelTime scans Laravel's nullable TIMESTAMP/DATETIME columns (a NULL is the zero
// time); text values are Laravel's "Y-m-d H:i:s" in UTC.
type laravelTime struct{ t *time.Time }

func (l laravelTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*l.t = v.UTC()
	case nil:
		*l.t = time.Time{}
	case []byte:
		return l.Scan(string(v))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
			if t, err := time.Parse(layout, v); err == nil {
				*l.t = t.UTC()
				return nil
			}
		}
		return fmt.Errorf("not a time: %q", v)
	default:
		return fmt.Errorf("not a time: %T", src)
	}
	return nil
}

// printImport says what was (or, for a dry run, would be) imported.
func printImport(w io.Writer, imp *store.PassportImport, n store.ImportCounts, keySource string, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{
			"dry_run": imp.DryRun, "clients": n.Clients, "access_tokens": n.AccessTokens,
			"refresh_tokens": n.RefreshTokens, "revocations": n.Revocations,
			"signing_key": n.SigningKey, "key_source": keySource,
			"read": map[string]int{"clients": len(imp.Clients), "access_tokens": len(imp.AccessTokens), "refresh_tokens": len(imp.RefreshTokens)},
		})
	}
	verb := "Imported"
	if imp.DryRun {
		verb = "Dry run, nothing changed; would import"
	}
	fmt.Fprintf(w, "%s %d of %d clients, %d of %d access tokens (%d revoked ones onto the revocation feed), %d of %d refresh tokens.\n",
		verb, n.Clients, len(imp.Clients), n.AccessTokens, len(imp.AccessTokens), n.Revocations, n.RefreshTokens, len(imp.RefreshTokens))
	switch {
	case imp.SigningKey == nil:
		fmt.Fprintln(w, "No key pair given (--keys or PASSPORT_PRIVATE_KEY): tokens Passport signed will not verify here.")
	case n.SigningKey:
		fmt.Fprintf(w, "Signing key %s from %s is the current signing key.\n", imp.SigningKey.ID, keySource)
	default:
		fmt.Fprintf(w, "Signing key %s from %s was already in the store.\n", imp.SigningKey.ID, keySource)
	}
	return nil
}
