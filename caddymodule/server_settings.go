package caddymodule

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/keyseal"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// serverSettings is an oauth_server configuration with its placeholders replaced, its
// defaults filled and every option checked. Provision and the command line both start
// from it (Server.settings), so an option means the same, and is refused with the same
// words, wherever the configuration is read. Building it does no I/O.
type serverSettings struct {
	issuer   string
	audience []string
	storage  storageLocation
	keysDir  string
	// keyPEM is the signing key given as PEM content in `keys` (usually through
	// {env.PASSPORT_PRIVATE_KEY}), parsed once here; nil when keys names a folder.
	keyPEM      *store.SigningKey
	signingAlg  string
	accessTTL   time.Duration
	refreshTTL  time.Duration
	personalTTL time.Duration
	sessionTTL  time.Duration
	// deviceCodeTTL and devicePollInterval are the device grant's (0: authserver's defaults).
	deviceCodeTTL, devicePollInterval time.Duration
	// keyRetention is how long a retired signing key stays published: as long as any
	// token it signed can still be valid.
	keyRetention  time.Duration
	implicitGrant bool
	scopes        *scopes.Catalog
	// users are the configured user providers in order, the default one added last if
	// none is configured under its name.
	users                []userProviderSettings
	loginThrottle        authserver.LoginThrottle
	tokenRateLimit       authserver.TokenRateLimit
	freshAPITokenCookie  string
	revokePreviousTokens bool
	requireDPoPNonce     bool
	purgeInterval        time.Duration
	// pages are the operator's page templates; nil for the built-in ones.
	pages *authserver.PageTemplates
	// passportAppKey is the decoded Laravel APP_KEY; nil when none is configured.
	passportAppKey []byte
	// sealer encrypts the signing keys in the store; nil without key_encryption_key.
	sealer *keyseal.Sealer
	// tlsClientAuthCAs are the CAs of tls_client_auth_trusted_ca; nil without it.
	tlsClientAuthCAs *x509.CertPool
}

// storageLocation names a database: its driver and resolved DSN.
type storageLocation struct{ driver, dsn string }

// String is how messages and pool keys name the database: the driver only, since the DSN
// may hold a password.
func (l storageLocation) String() string { return l.driver }

// userProviderSettings is one checked user provider.
type userProviderSettings struct {
	name string
	// kind is "builtin" or "sql".
	kind string
	// database is what a sql provider reads: its own database or the server's storage.
	database storageLocation
	query    string
	// nameQuery names a user from its id (UsernameQuery resolved); "" when none.
	nameQuery string
	// claimsQuery describes a user for OpenID Connect (ClaimsQuery resolved); "" when
	// none. claimsDefault marks the default one, which is dropped, not an error, when the
	// table lacks its columns.
	claimsQuery   string
	claimsDefault bool
}

// Defaults of the oauth_server options, as their doc comments on Server state them.
const (
	defaultAccessTTL   = time.Hour
	defaultRefreshTTL  = 30 * 24 * time.Hour
	defaultPersonalTTL = 365 * 24 * time.Hour
	defaultSessionTTL  = 2 * time.Hour
)

// defaultSQLiteFile is the store when the configuration names none, or names sqlite
// without a file: oauth.db in Caddy's data directory.
func defaultSQLiteFile() string {
	return filepath.Join(caddy.AppDataDir(), "oauth", "oauth.db")
}

// settings checks the configuration and resolves it: placeholders replaced by repl,
// defaults filled. storage, if not nil, replaces the configured storage (the command
// line's --storage); its DSN is taken as given. Errors name the option.
func (s *Server) settings(repl *caddy.Replacer, storage *StorageConfig) (*serverSettings, error) {
	set := &serverSettings{
		issuer:               repl.ReplaceKnown(s.Issuer, ""),
		audience:             s.Audience,
		implicitGrant:        s.ImplicitGrant,
		freshAPITokenCookie:  s.FreshAPITokenCookie,
		revokePreviousTokens: s.RevokePreviousTokens,
		requireDPoPNonce:     s.RequireDPoPNonce,
		loginThrottle:        s.LoginThrottle.throttle(),
		tokenRateLimit:       s.TokenRateLimit.limit(),
	}

	if err := set.resolveKeys(repl, s.KeysDir); err != nil {
		return nil, err
	}
	if s.Templates != "" {
		pages, err := authserver.LoadPageTemplates(repl.ReplaceKnown(s.Templates, ""))
		if err != nil {
			return nil, err // names the option, the file and the line
		}
		set.pages = pages
	}

	set.signingAlg = s.SigningAlg
	if set.signingAlg == "" {
		set.signingAlg = keys.ES256
	}
	if !keys.ValidAlg(set.signingAlg) {
		return nil, fmt.Errorf("signing_alg %q: must be ES256, RS256 or EdDSA", set.signingAlg)
	}

	var err error
	switch {
	case storage != nil:
		set.storage, err = checkStorage("storage", storage.Driver, storage.DSN)
	case s.Storage != nil:
		set.storage, err = checkStorage("storage", s.Storage.Driver, repl.ReplaceKnown(s.Storage.DSN, ""))
	default:
		set.storage = storageLocation{drivers.SQLite, defaultSQLiteFile()}
	}
	if err != nil {
		return nil, err
	}

	for _, d := range []struct {
		option string
		value  caddy.Duration
		dst    *time.Duration
		def    time.Duration
	}{
		{"access_token_ttl", s.AccessTokenTTL, &set.accessTTL, defaultAccessTTL},
		{"refresh_token_ttl", s.RefreshTokenTTL, &set.refreshTTL, defaultRefreshTTL},
		{"personal_token_ttl", s.PersonalTokenTTL, &set.personalTTL, defaultPersonalTTL},
		{"session_ttl", s.SessionTTL, &set.sessionTTL, defaultSessionTTL},
		{"device_code_ttl", s.DeviceCodeTTL, &set.deviceCodeTTL, 0},
		{"device_poll_interval", s.DevicePollInterval, &set.devicePollInterval, 0},
		{"purge_interval", s.PurgeInterval, &set.purgeInterval, 0},
	} {
		if d.value < 0 {
			return nil, fmt.Errorf("%s: must be positive", d.option)
		}
		*d.dst = time.Duration(d.value)
		if d.value == 0 {
			*d.dst = d.def
		}
	}
	set.keyRetention = max(set.accessTTL, set.personalTTL)

	defs := make([]scopes.Definition, 0, len(s.Scopes))
	for _, sc := range s.Scopes {
		defs = append(defs, scopes.Definition{Name: sc.Name, Description: sc.Description})
	}
	if set.scopes, err = scopes.NewCatalog(defs, s.DefaultScope); err != nil {
		return nil, fmt.Errorf("scope: %w", err)
	}

	if set.users, err = s.userSettings(repl, set.storage); err != nil {
		return nil, err
	}
	if set.sealer, err = sealerFor(repl, s.KeyEncryptionKeys); err != nil {
		return nil, err
	}
	if set.tlsClientAuthCAs, err = trustedCAs(repl, s.TLSClientAuthTrustedCA); err != nil {
		return nil, err
	}
	if s.PassportAppKey != "" {
		if set.passportAppKey, err = decodeAppKey(repl.ReplaceKnown(s.PassportAppKey, "")); err != nil {
			return nil, fmt.Errorf("passport_app_key: %w", err)
		}
	}
	return set, nil
}

// trustedCAs reads the PEM files of tls_client_auth_trusted_ca (placeholders replaced)
// into one pool; nil for none. A file without a CA certificate is refused, so a wrong
// path or file is noticed at load rather than as refused clients.
func trustedCAs(repl *caddy.Replacer, files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		name := repl.ReplaceKnown(f, "")
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("tls_client_auth_trusted_ca: %w", err)
		}
		n := 0
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			if block.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("tls_client_auth_trusted_ca %s: %w", name, err)
			}
			if !cert.IsCA {
				return nil, fmt.Errorf("tls_client_auth_trusted_ca %s: %q is not a CA certificate", name, cert.Subject)
			}
			pool.AddCert(cert)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("tls_client_auth_trusted_ca %s: no PEM certificate in the file", name)
		}
	}
	return pool, nil
}

// sealerFor builds the sealer of key_encryption_key's values (placeholders replaced);
// nil for none.
func sealerFor(repl *caddy.Replacer, values []string) (*keyseal.Sealer, error) {
	if len(values) == 0 {
		return nil, nil
	}
	kek := make([][]byte, len(values))
	for i, v := range values {
		k, err := keyseal.ParseKey(repl.ReplaceKnown(v, ""))
		if err != nil {
			return nil, fmt.Errorf("key_encryption_key #%d: %w", i+1, err)
		}
		kek[i] = k
	}
	return keyseal.New(kek[0], kek[1:]...)
}

// decodeAppKey reads a Laravel APP_KEY as Laravel does (Illuminate's
// EncryptionServiceProvider): "base64:" and the standard base64 of the key, or the key
// itself. Laravel's ciphers take 16 or 32 bytes, so any other length is a mistake (often
// the "base64:" prefix lost on the way). The key never appears in an error.
func decodeAppKey(value string) ([]byte, error) {
	if value == "" {
		return nil, errors.New("empty (is APP_KEY set in Caddy's environment?)")
	}
	key := []byte(value)
	if b64, ok := strings.CutPrefix(value, "base64:"); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, errors.New(`"base64:" is not followed by valid base64`)
		}
	}
	if len(key) != 16 && len(key) != 32 {
		return nil, fmt.Errorf("the key is %d bytes; a Laravel APP_KEY is 16 or 32 (\"base64:\" and its base64, as in .env)", len(key))
	}
	return key, nil
}

// checkStorage checks a driver and resolved DSN; option is what the configuration calls
// it (storage, or a sql provider's database). sqlite without a file is the default file.
func checkStorage(option, driver, dsn string) (storageLocation, error) {
	switch driver {
	case drivers.SQLite:
		if dsn == "" {
			dsn = defaultSQLiteFile()
		}
	case drivers.Postgres:
		if dsn == "" {
			return storageLocation{}, fmt.Errorf("%s postgres: a connection string is required", option)
		}
	default:
		return storageLocation{}, fmt.Errorf("%s: driver %q: must be sqlite or postgres", option, driver)
	}
	return storageLocation{driver, dsn}, nil
}

// checkUserDatabase checks the application database a sql provider names (its DSN is
// not empty): besides the store's drivers, MySQL/MariaDB, where most Laravel applications
// keep their users. A MySQL DSN is parsed here, so a mistake is reported at load, in
// words that never show it.
func checkUserDatabase(option, driver, dsn string) (storageLocation, error) {
	switch driver {
	case appdb.MySQL:
		if _, err := appdb.MySQLConfig(dsn); err != nil {
			return storageLocation{}, fmt.Errorf("%s %w", option, err)
		}
	case appdb.Postgres, appdb.SQLite:
	default:
		return storageLocation{}, fmt.Errorf("%s: driver %q: must be mysql, postgres or sqlite", option, driver)
	}
	return storageLocation{driver, dsn}, nil
}

// userSettings checks the user providers. A sql provider without a database reads the
// server's own storage.
func (s *Server) userSettings(repl *caddy.Replacer, storage storageLocation) ([]userProviderSettings, error) {
	var out []userProviderSettings
	seen := map[string]bool{}
	for i, u := range s.Users {
		p := userProviderSettings{name: u.ProviderName(), kind: u.Kind, query: u.Query, nameQuery: u.UsernameQuery,
			claimsQuery: u.ClaimsQuery}
		defaultQuery := u.Query == "" || u.Query == authserver.DefaultUserQuery
		switch {
		case p.nameQuery == "off":
			p.nameQuery = ""
		case p.nameQuery == "" && defaultQuery:
			p.nameQuery = authserver.DefaultUsernameQuery
		}
		switch {
		case p.claimsQuery == "off":
			p.claimsQuery = ""
		case p.claimsQuery == "" && defaultQuery:
			p.claimsQuery, p.claimsDefault = authserver.DefaultClaimsQuery, true
		}
		if seen[p.name] {
			return nil, fmt.Errorf("users %s (#%d): a provider of this name is already configured", p.name, i+1)
		}
		seen[p.name] = true
		switch u.Kind {
		case "builtin", "":
			p.kind = "builtin"
		case "sql":
			p.database = storage
			if u.Database != nil {
				dsn := repl.ReplaceKnown(u.Database.DSN, "")
				if dsn == "" {
					// Unlike the server's storage, a user database has no default file.
					return nil, fmt.Errorf("users %s sql: database %s: a connection string is required", p.name, u.Database.Driver)
				}
				loc, err := checkUserDatabase("users "+p.name+" sql: database", u.Database.Driver, dsn)
				if err != nil {
					return nil, err
				}
				p.database = loc
			}
		default:
			return nil, fmt.Errorf("users %s: kind %q: must be builtin or sql", p.name, u.Kind)
		}
		out = append(out, p)
	}
	if !seen[authserver.DefaultProvider] {
		out = append(out, userProviderSettings{name: authserver.DefaultProvider, kind: "builtin"})
	}
	return out, nil
}

// providerNames lists the user providers, the default one first.
func (set *serverSettings) providerNames() []string {
	names := []string{authserver.DefaultProvider}
	for _, u := range set.users {
		if u.name != authserver.DefaultProvider {
			names = append(names, u.name)
		}
	}
	return names
}

// hasProvider reports whether a user provider of this name is configured.
func (set *serverSettings) hasProvider(name string) bool {
	for _, u := range set.users {
		if u.name == name {
			return true
		}
	}
	return false
}

// resolveKeys reads the `keys` option after replacing placeholders: PEM content (it
// begins with -----BEGIN, as Passport's PASSPORT_PRIVATE_KEY does) is parsed now, anything
// else is a folder read at Provision. A value that had placeholders and came out empty is
// refused: an unset variable must not silently mean "make a new key".
func (set *serverSettings) resolveKeys(repl *caddy.Replacer, configured string) error {
	v := strings.TrimSpace(repl.ReplaceKnown(configured, ""))
	if configured != "" && v == "" {
		return fmt.Errorf("keys %q: empty after replacing placeholders", configured)
	}
	if !strings.HasPrefix(v, "-----BEGIN") {
		set.keysDir = v
		return nil
	}
	// A one-line .env value carries its line breaks as \n.
	if !strings.Contains(v, "\n") {
		v = strings.ReplaceAll(v, `\n`, "\n")
	}
	// The messages below never quote the value: it is a private key.
	priv, err := keys.ParsePrivatePEM([]byte(v))
	if err != nil {
		return fmt.Errorf("keys: PEM content: %w", err)
	}
	alg, err := keys.AlgFor(priv)
	if err != nil {
		return fmt.Errorf("keys: PEM content: %w", err)
	}
	if set.keyPEM, err = keys.Record(priv, alg, time.Unix(0, 0)); err != nil {
		return fmt.Errorf("keys: PEM content: %w", err)
	}
	return nil
}
