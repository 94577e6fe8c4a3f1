// Package cmd is the `caddy oauth ...` command line: install, keys, client, user, token
// and purge. Every command finds the store from --config or --storage, runs without
// prompts when its flags are given, and fails with one clear line.
package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth",
		Usage: "install|keys|client|user|token|purge|import [flags]",
		Short: "Manages the OAuth server's store: clients, users, keys and tokens",
		Long: `
Manages the state of oauth_server. Every subcommand finds the store from
--config <Caddyfile> (its first oauth_server's storage) or from
--storage sqlite:<file> | postgres:<dsn>; with neither it uses the default
SQLite file in Caddy's data directory.

  caddy oauth install                 schema, signing keys, a personal access client and a password client
  caddy oauth keys [--force|--rotate] make or rotate signing keys
  caddy oauth client [--password|--client|--personal|--public|--device] --name N [--redirect-uri U,...] [--post-logout-redirect-uri U,...]
                     [--provider P] [--introspect] [--first-party] [--require-par] [--require-dpop]
                     [--private-key-jwt|--self-signed-tls-client-auth --jwks-uri U | --jwks-file F]
                     [--tls-client-auth ATTRIBUTE=VALUE] [--certificate-bound-tokens] [--json]
  caddy oauth user add --email E [--password-stdin] | user list | user delete ID
  caddy oauth token --user ID --name N [--scopes a,b]
  caddy oauth token revoke <token-id> | --user ID | --client ID
  caddy oauth purge [--revoked] [--expired]
  caddy oauth import passport --from <driver>:<dsn> [--keys <dir>] [--dry-run] [--json]
`,
		CobraFunc: func(c *cobra.Command) {
			for _, sub := range Subcommands() {
				c.AddCommand(sub)
			}
		},
	})
}

// NewCommand returns the `oauth` command with its subcommands, for tests and embedding.
func NewCommand() *cobra.Command {
	c := &cobra.Command{Use: "oauth", SilenceUsage: true}
	for _, sub := range Subcommands() {
		c.AddCommand(sub)
	}
	return c
}

// Subcommands lists the `caddy oauth` subcommands.
func Subcommands() []*cobra.Command {
	return []*cobra.Command{installCmd(), keysCmd(), clientCmd(), userCmd(), tokenCmd(), purgeCmd(), importCmd()}
}

// withTarget wraps a command body with opening and closing the store.
func withTarget(run func(ctx context.Context, c *cobra.Command, args []string, t *target) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		ctx := c.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		t, err := openTarget(ctx, c)
		if err != nil {
			return oneLine(err)
		}
		defer t.close()
		return oneLine(run(ctx, c, args, t))
	}
}

// oneLine folds a multi-line error (pgx lists every address it tried, one per line) into
// one line, so a failed command prints one clear line.
func oneLine(err error) error {
	if err == nil || !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	fields := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return errors.New(strings.Join(fields, "; "))
}

func installCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "install",
		Short: "Creates the schema, signing keys, a personal access client and a password client",
		Long: `Creates the schema and the signing key if missing, a personal access client for
each user provider of the config (the default provider "users" without --config) unless
one exists, and a new password grant client of the default provider. New clients are
printed once with their secrets (--json: as a JSON array).`,
		Args: cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			ring := &keys.Ring{}
			if err := keys.Bootstrap(ctx, t.store, ring, t.alg(), time.Hour); err != nil {
				return err
			}
			asJSON, _ := c.Flags().GetBool("json")
			// With --json, stdout carries only the JSON, so scripts can parse it whole.
			note := c.OutOrStdout()
			if asJSON {
				note = c.ErrOrStderr()
			}
			fmt.Fprintf(note, "Signing key %s (%s) ready.\n", ring.Signer().KeyID(), ring.Signer().Alg())
			var made []clientOutput
			existing, err := t.store.ListClients(ctx)
			if err != nil {
				return err
			}
			// One personal access client per user provider; one already there is kept, so
			// install can run again after a provider is added.
			for _, provider := range t.server.ProviderNames() {
				if id := personalClientOf(existing, provider); id != "" {
					fmt.Fprintf(note, "Personal access client for provider %s exists: %s\n", provider, id)
					continue
				}
				spec := clientSpec{kind: "personal", name: "Personal Access Client"}
				if provider != authserver.DefaultProvider {
					spec.provider = provider
					spec.name += " (" + provider + ")"
				}
				out, err := createClient(ctx, t.store, spec)
				if err != nil {
					return err
				}
				made = append(made, out)
			}
			out, err := createClient(ctx, t.store, clientSpec{kind: "password", name: "Password Grant Client"})
			if err != nil {
				return err
			}
			made = append(made, out)
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(made)
			}
			for _, m := range made {
				printClient(c.OutOrStdout(), m)
			}
			return nil
		}),
	}
	addStoreFlags(c)
	c.Flags().Bool("json", false, "print the clients as a JSON array")
	return c
}

func keysCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Makes the signing keys, or rotates (--rotate) or replaces (--force) them",
		Long: `Makes the signing keys the store lacks: the access-token key (--alg, default the
config's signing_alg) and the OpenID Connect ID-token key (always RS256).
--rotate makes new current keys; the old public keys stay in the JWKS until the tokens
they signed have expired, so nothing breaks. --force deletes every key and makes new ones:
every token issued so far stops verifying.`,
		Args: cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			force, _ := c.Flags().GetBool("force")
			rotate, _ := c.Flags().GetBool("rotate")
			alg, _ := c.Flags().GetString("alg")
			if alg == "" {
				alg = t.alg()
			}
			if !keys.ValidAlg(alg) {
				return fmt.Errorf("--alg %q: must be ES256, RS256 or EdDSA", alg)
			}
			out := c.OutOrStdout()
			purposes := []struct{ purpose, alg, what string }{
				{store.KeyPurposeAccess, alg, "access-token"}, {store.KeyPurposeIDToken, keys.IDTokenAlg, "ID-token"},
			}
			switch {
			case force && rotate:
				return errors.New("use --rotate or --force, not both")
			case force:
				for _, p := range purposes {
					rec, err := keys.Generate(p.alg, time.Now())
					if err != nil {
						return err
					}
					rec.Purpose = p.purpose
					if err := t.store.ReplaceSigningKeys(ctx, rec); err != nil {
						return err
					}
					fmt.Fprintf(out, "Replaced every %s signing key with %s (%s); tokens issued before no longer verify.\n", p.what, rec.ID, rec.Alg)
				}
			case rotate:
				for _, p := range purposes {
					rec, err := keys.Rotate(ctx, t.store, p.alg, p.purpose)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "Rotated: new %s signing key %s (%s); the previous key stays published until its tokens expire.\n", p.what, rec.ID, rec.Alg)
				}
			default:
				list, err := t.store.ListSigningKeys(ctx)
				if err != nil {
					return err
				}
				existing := map[string]*store.SigningKey{}
				for _, k := range list {
					if k.RetiredAt == nil {
						existing[k.KeyPurpose()] = k
					}
				}
				ring := &keys.Ring{}
				if err := keys.Bootstrap(ctx, t.store, ring, alg, time.Hour); err != nil {
					return err
				}
				for _, p := range purposes {
					k := ring.Signer()
					if p.purpose == store.KeyPurposeIDToken {
						k = ring.IDTokenSigner()
					}
					if existing[p.purpose] != nil {
						fmt.Fprintf(out, "Signing key %s (%s, %s) already exists; use --rotate or --force to replace it.\n", k.KeyID(), k.Alg(), p.what)
					} else {
						fmt.Fprintf(out, "Made %s signing key %s (%s).\n", p.what, k.KeyID(), k.Alg())
					}
				}
			}
			return nil
		}),
	}
	addStoreFlags(c)
	c.Flags().Bool("force", false, "replace every key (breaks issued tokens)")
	c.Flags().Bool("rotate", false, "make new current keys, keeping the old ones published")
	c.Flags().String("alg", "", "algorithm of the new access-token key: ES256, RS256 or EdDSA (default: the config's signing_alg, else ES256)")
	return c
}

// personalClientOf returns the id of a live personal access client of provider, or "".
func personalClientOf(clients []*store.Client, provider string) string {
	for _, c := range clients {
		p := c.Provider
		if p == "" {
			p = authserver.DefaultProvider
		}
		if !c.Revoked && c.HasGrant(authserver.GrantPersonalAccess) && p == provider {
			return c.ID
		}
	}
	return ""
}

// clientSpec is what `caddy oauth client` was asked to make.
type clientSpec struct {
	kind         string // password, client, personal, public, device or "" (authorization code)
	name         string
	redirectURIs []string
	// postLogoutURIs are the OpenID Connect post-logout redirect URIs.
	postLogoutURIs []string
	provider       string
	introspect     bool
	firstParty     bool
	// requirePAR makes the client push its authorization requests (RFC 9126).
	requirePAR bool
	// requireDPoP makes the client's every token request carry a DPoP proof (RFC 9449
	// §5.2 dpop_bound_access_tokens).
	requireDPoP bool
	// privateKeyJWT makes a client that authenticates with a JWT signed by its own key
	// (RFC 7523), whose public keys are at jwksURI or, read from jwksFile, stored inline.
	privateKeyJWT bool
	jwksURI       string
	jwksFile      string
	// selfSignedTLS makes a client that authenticates with a TLS client certificate whose
	// key is in its jwksURI or jwksFile keys (RFC 8705 §2.2).
	selfSignedTLS bool
	// tlsClientAuth, ATTRIBUTE=VALUE, makes a client that authenticates with a TLS client
	// certificate from a trusted CA carrying that value (RFC 8705 §2.1).
	tlsClientAuth string
	// certBound binds the client's tokens to its TLS client certificate (RFC 8705 §3).
	certBound bool
}

// clientOutput is the one-time printout of a new client (the secret is never shown again).
type clientOutput struct {
	ClientID     string   `json:"client_id"`
	ClientSecret *string  `json:"client_secret"` // null for a public client
	Name         string   `json:"name"`
	Grants       []string `json:"grants"`
	RedirectURIs []string `json:"redirect_uris"`
}

// createClient makes the client the command was asked for, with a generated secret
// unless it is public. Its redirect URIs follow the operator policy
// (authserver.OperatorRedirectURIs), as the Caddyfile's client blocks do.
func createClient(ctx context.Context, st store.ClientStore, spec clientSpec) (clientOutput, error) {
	if strings.TrimSpace(spec.name) == "" {
		return clientOutput{}, errors.New("--name is required")
	}
	grants := []string{authserver.GrantAuthorizationCode, authserver.GrantRefreshToken}
	switch spec.kind {
	case "password":
		grants = []string{authserver.GrantPassword, authserver.GrantRefreshToken}
	case "client":
		grants = []string{authserver.GrantClientCredentials}
	case "personal":
		grants = []string{authserver.GrantPersonalAccess}
	case "device":
		// A device has no browser to redirect to and cannot keep a secret (RFC 8628 §3.1):
		// a public client, as Passport's passport:client --device makes.
		grants = []string{authserver.GrantDeviceCode, authserver.GrantRefreshToken}
	}
	if (spec.kind == "" || spec.kind == "public") && len(spec.redirectURIs) == 0 {
		return clientOutput{}, errors.New("--redirect-uri is required for an authorization code client")
	}
	authMethod, jwks, err := clientAuthMethod(spec)
	if err != nil {
		return clientOutput{}, err
	}
	var attribute, value string
	if spec.tlsClientAuth != "" {
		var ok bool
		if attribute, value, ok = strings.Cut(spec.tlsClientAuth, "="); !ok {
			return clientOutput{}, fmt.Errorf("--tls-client-auth %q: want ATTRIBUTE=VALUE, ATTRIBUTE one of %s",
				spec.tlsClientAuth, strings.Join(authserver.TLSClientAuthAttributes, ", "))
		}
	}
	rec, secret, err := authserver.NewClient(authserver.ClientSpec{
		TokenAuthMethod:        authMethod,
		JWKS:                   jwks,
		JWKSURI:                spec.jwksURI,
		TLSClientAuthAttribute: attribute,
		TLSClientAuthValue:     value,
		CertBoundTokens:        spec.certBound,
		Name:                   spec.name,
		GenerateSecret:         spec.kind != "public" && spec.kind != "device" && authMethod == "",
		Grants:                 grants,
		RedirectURIs:           spec.redirectURIs,
		PostLogoutRedirectURIs: spec.postLogoutURIs,
		RedirectURIPolicy:      authserver.OperatorRedirectURIs,
		Provider:               spec.provider,
		FirstParty:             spec.firstParty,
		Introspect:             spec.introspect,
		RequirePAR:             spec.requirePAR,
		RequireDPoP:            spec.requireDPoP,
	}, time.Now())
	if err != nil {
		return clientOutput{}, err
	}
	if err := st.CreateClient(ctx, rec); err != nil {
		return clientOutput{}, fmt.Errorf("creating client: %w", err)
	}
	out := clientOutput{ClientID: rec.ID, Name: rec.Name, Grants: rec.Grants, RedirectURIs: rec.RedirectURIs}
	if secret != "" {
		out.ClientSecret = &secret
	}
	if out.RedirectURIs == nil {
		out.RedirectURIs = []string{}
	}
	return out, nil
}

// clientAuthMethod is the token_endpoint_auth_method the flags ask for ("" for a secret,
// or none) and, for a key-based one, the JWK Set read from --jwks-file.
func clientAuthMethod(spec clientSpec) (string, string, error) {
	var method, flag string
	n := 0
	for _, m := range []struct {
		on           bool
		method, flag string
	}{
		{spec.privateKeyJWT, store.TokenAuthPrivateKeyJWT, "--private-key-jwt"},
		{spec.selfSignedTLS, store.TokenAuthSelfSignedTLSClient, "--self-signed-tls-client-auth"},
		{spec.tlsClientAuth != "", store.TokenAuthTLSClient, "--tls-client-auth"},
	} {
		if m.on {
			method, flag = m.method, m.flag
			n++
		}
	}
	keyed := method == store.TokenAuthPrivateKeyJWT || method == store.TokenAuthSelfSignedTLSClient
	switch {
	case n > 1:
		return "", "", errors.New("choose one of --private-key-jwt, --self-signed-tls-client-auth, --tls-client-auth")
	case keyed && spec.jwksURI != "" && spec.jwksFile != "":
		return "", "", fmt.Errorf("%s takes --jwks-uri or --jwks-file, not both", flag)
	case keyed && spec.jwksURI == "" && spec.jwksFile == "":
		return "", "", fmt.Errorf("%s needs --jwks-uri or --jwks-file (the client's public keys)", flag)
	case !keyed && (spec.jwksURI != "" || spec.jwksFile != ""):
		return "", "", errors.New("--jwks-uri and --jwks-file go with --private-key-jwt or --self-signed-tls-client-auth")
	case method != "" && (spec.kind == "public" || spec.kind == "device" || spec.kind == "personal"):
		return "", "", fmt.Errorf("%s does not go with --%s", flag, spec.kind)
	}
	if spec.jwksFile == "" {
		return method, "", nil
	}
	b, err := os.ReadFile(spec.jwksFile)
	if err != nil {
		return "", "", fmt.Errorf("--jwks-file: %w", err)
	}
	return method, string(b), nil
}

func printClient(w io.Writer, o clientOutput) {
	fmt.Fprintf(w, "%s created.\n  Client ID:     %s\n", o.Name, o.ClientID)
	if o.ClientSecret != nil {
		fmt.Fprintf(w, "  Client secret: %s\n  (the secret is stored hashed and will not be shown again)\n", *o.ClientSecret)
	}
}

func clientCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "client",
		Short: "Makes a client and prints its id and secret once",
		Long: `Makes a client and prints its id and secret once (the store keeps a digest).
--password, --client, --personal, --public and --device choose its grants; with none,
it is a confidential authorization code client. --device makes a public client for
the device authorization grant (RFC 8628: TVs, consoles, command-line tools), with
grants urn:ietf:params:oauth:grant-type:device_code and refresh_token, no secret and
no redirect URI; the person approves it at /oauth/device. Redirect URIs follow the operator's policy,
as Caddyfile client blocks do: anything but relative URIs, fragments, user parts,
spaces and script or local-file schemes (javascript:, data:, file:, ...) is accepted,
including plain http to any host, which the JSON API refuses to end users.
--private-key-jwt makes a client without a secret that authenticates with a JWT signed
by its own private key (RFC 7523 private_key_jwt, at the token, introspection and
revocation endpoints); its public keys are at --jwks-uri (https, or http on a loopback
host; fetched when needed) or in --jwks-file (a JWK Set, stored in the client record).
It goes with --client, --password or the default authorization code client.
--self-signed-tls-client-auth makes a client without a secret that authenticates with
a TLS client certificate whose public key is one of --jwks-uri or --jwks-file (RFC 8705
§2.2; the certificate may be self-signed). --tls-client-auth ATTRIBUTE=VALUE makes one
that authenticates with a TLS client certificate issued by a CA of oauth_server's
tls_client_auth_trusted_ca and carrying VALUE as ATTRIBUTE: subject_dn (e.g.
subject_dn=CN=app,O=Example), san_dns, san_uri, san_ip or san_email (RFC 8705 §2.1).
--certificate-bound-tokens binds every token of the client, of any kind, to the TLS
client certificate of its token request (RFC 8705 §3).`,
		Args: cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			f := c.Flags()
			spec := clientSpec{}
			n := 0
			for _, k := range []string{"password", "client", "personal", "public", "device"} {
				if v, _ := f.GetBool(k); v {
					spec.kind = k
					n++
				}
			}
			if n > 1 {
				return errors.New("choose one of --password, --client, --personal, --public, --device")
			}
			spec.name, _ = f.GetString("name")
			spec.redirectURIs, _ = f.GetStringSlice("redirect-uri")
			spec.postLogoutURIs, _ = f.GetStringSlice("post-logout-redirect-uri")
			spec.provider, _ = f.GetString("provider")
			if err := t.checkProvider(spec.provider); err != nil {
				return err
			}
			spec.introspect, _ = f.GetBool("introspect")
			spec.firstParty, _ = f.GetBool("first-party")
			spec.requirePAR, _ = f.GetBool("require-par")
			spec.requireDPoP, _ = f.GetBool("require-dpop")
			spec.privateKeyJWT, _ = f.GetBool("private-key-jwt")
			spec.jwksURI, _ = f.GetString("jwks-uri")
			spec.jwksFile, _ = f.GetString("jwks-file")
			spec.selfSignedTLS, _ = f.GetBool("self-signed-tls-client-auth")
			spec.tlsClientAuth, _ = f.GetString("tls-client-auth")
			spec.certBound, _ = f.GetBool("certificate-bound-tokens")
			out, err := createClient(ctx, t.store, spec)
			if err != nil {
				return err
			}
			if asJSON, _ := f.GetBool("json"); asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(out)
			}
			printClient(c.OutOrStdout(), out)
			return nil
		}),
	}
	addStoreFlags(c)
	f := c.Flags()
	f.Bool("password", false, "a password grant client")
	f.Bool("client", false, "a client credentials grant client")
	f.Bool("personal", false, "a personal access client")
	f.Bool("public", false, "a public authorization code client (PKCE, no secret)")
	f.Bool("device", false, "a public device authorization grant client (RFC 8628, no secret)")
	f.String("name", "", "the client's name, shown on the consent screen")
	f.StringSlice("redirect-uri", nil, "redirect URIs, comma-separated (authorization code clients)")
	f.StringSlice("post-logout-redirect-uri", nil, "where OpenID Connect logout may return to, comma-separated")
	f.String("provider", "", "user provider of a password client")
	f.Bool("introspect", false, "allow the client to call the introspection endpoint")
	f.Bool("first-party", false, "skip the consent screen")
	f.Bool("require-par", false, "accept the client's authorization requests only when pushed first (RFC 9126)")
	f.Bool("require-dpop", false, "refuse the client's token requests without a DPoP proof, so its tokens are all DPoP-bound (RFC 9449)")
	f.Bool("private-key-jwt", false, "authenticate with a JWT signed by the client's key (RFC 7523); no secret")
	f.String("jwks-uri", "", "with --private-key-jwt or --self-signed-tls-client-auth: where the client publishes its public keys (JWK Set)")
	f.String("jwks-file", "", "with --private-key-jwt or --self-signed-tls-client-auth: a file holding the client's public keys (JWK Set)")
	f.Bool("self-signed-tls-client-auth", false, "authenticate with a TLS client certificate whose key is in the client's JWK Set (RFC 8705); no secret")
	f.String("tls-client-auth", "", "ATTRIBUTE=VALUE: authenticate with a TLS client certificate from a trusted CA carrying it (subject_dn, san_dns, san_uri, san_ip, san_email; RFC 8705); no secret")
	f.Bool("certificate-bound-tokens", false, "bind the client's tokens to the TLS client certificate of its token requests (RFC 8705)")
	f.Bool("json", false, "print one JSON object")
	return c
}

func userCmd() *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "Manages built-in users"}
	add := &cobra.Command{
		Use:   "add",
		Short: "Adds a user; the password is read from stdin or prompted for without echo",
		Args:  cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			email, _ := c.Flags().GetString("email")
			if !strings.Contains(email, "@") {
				return errors.New("--email must be an email address")
			}
			fromStdin, _ := c.Flags().GetBool("password-stdin")
			pw, err := readPassword(c, fromStdin)
			if err != nil {
				return err
			}
			if len(pw) < 8 {
				return errors.New("the password must be at least 8 characters")
			}
			hash, err := passwords.Hash(pw)
			if err != nil {
				return err
			}
			u := &store.User{ID: uuid.NewString(), Email: email, PasswordHash: hash, CreatedAt: time.Now().UTC()}
			if err := t.store.CreateUser(ctx, u); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("a user with email %s already exists", email)
				}
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), u.ID)
			return nil
		}),
	}
	addStoreFlags(add)
	add.Flags().String("email", "", "the user's email, used as login")
	add.Flags().Bool("password-stdin", false, "read the password from standard input")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists users",
		Args:  cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			users, err := t.store.ListUsers(ctx)
			if err != nil {
				return err
			}
			for _, u := range users {
				fmt.Fprintf(c.OutOrStdout(), "%s\t%s\t%s\n", u.ID, u.Email, u.CreatedAt.Format(time.RFC3339))
			}
			return nil
		}),
	}
	addStoreFlags(list)

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Deletes a user, ends their browser sessions and revokes their tokens",
		Args:  cobra.ExactArgs(1),
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, args []string, t *target) error {
			if err := t.store.DeleteUser(ctx, args[0]); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no user with id %s", args[0])
				}
				return err
			}
			// A deleted user must not stay signed in anywhere.
			if _, err := t.store.DeleteUserSessions(ctx, authserver.DefaultProvider, args[0]); err != nil {
				return fmt.Errorf("user %s deleted, but ending their browser sessions failed: %w", args[0], err)
			}
			// Nor keep API access: every token of theirs is revoked (with the refresh tokens
			// issued with it), so introspection and the guards' revocation feed refuse it now
			// rather than at its expiry.
			if err := revokeUserTokens(ctx, t.store, args[0]); err != nil {
				return fmt.Errorf("user %s deleted, but revoking their tokens failed: %w", args[0], err)
			}
			fmt.Fprintf(c.OutOrStdout(), "Deleted user %s.\n", args[0])
			return nil
		}),
	}
	addStoreFlags(del)
	c.AddCommand(add, list, del)
	return c
}

// readPassword reads one line from stdin, or prompts without echo on a terminal.
func readPassword(c *cobra.Command, fromStdin bool) (string, error) {
	in := c.InOrStdin()
	if f, ok := in.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.ErrOrStderr(), "Password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.ErrOrStderr())
		return string(pw), err
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func tokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Issues a personal access token for a user and prints it once",
		Args:  cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			f := c.Flags()
			userID, _ := f.GetString("user")
			name, _ := f.GetString("name")
			scopeList, _ := f.GetStringSlice("scopes")
			issuer, _ := f.GetString("issuer")
			provider, _ := f.GetString("provider")
			if userID == "" || name == "" {
				return errors.New("--user and --name are required")
			}
			srv, err := t.authServer(ctx, issuer, provider)
			if err != nil {
				return err
			}
			tok, err := srv.IssuePersonalToken(ctx, userID, name, scopeList, provider)
			if err != nil {
				return err
			}
			if asJSON, _ := f.GetBool("json"); asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(map[string]any{
					"access_token": tok.Token, "token_id": tok.Record.ID, "expires_in": tok.ExpiresIn,
					"scopes": tok.Record.Scopes, "name": name,
				})
			}
			fmt.Fprintln(c.OutOrStdout(), tok.Token)
			return nil
		}),
	}
	addStoreFlags(c)
	f := c.Flags()
	f.String("user", "", "the user id")
	f.String("name", "", "a name for the token")
	f.StringSlice("scopes", nil, "scopes, comma-separated")
	f.String("issuer", "", "the iss of the token (default: the config's issuer)")
	f.String("provider", "", "the user provider (default: users)")
	f.Bool("json", false, "print a JSON object with the token and its id")
	c.AddCommand(tokenRevokeCmd())
	return c
}

func purgeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "purge",
		Short: "Deletes revoked and/or expired tokens and codes, and expired sessions (both when neither flag is given)",
		Args:  cobra.NoArgs,
		RunE: withTarget(func(ctx context.Context, c *cobra.Command, _ []string, t *target) error {
			revoked, _ := c.Flags().GetBool("revoked")
			expired, _ := c.Flags().GetBool("expired")
			if !revoked && !expired {
				revoked, expired = true, true
			}
			// With --expired, ended login-throttling windows go with the expired tokens.
			n, err := store.PurgeRecords(ctx, t.store, store.PurgeOptions{Revoked: revoked, Expired: expired})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Purged %d records.\n", n)
			return nil
		}),
	}
	addStoreFlags(c)
	c.Flags().Bool("revoked", false, "delete revoked tokens and codes")
	c.Flags().Bool("expired", false, "delete expired tokens, codes and browser sessions")
	return c
}

// revokeUserTokens revokes every live access token of a user, and the refresh tokens
// issued with them, which are the user's only live refresh tokens (rotation revokes the
// older ones).
func revokeUserTokens(ctx context.Context, st store.Store, userID string) error {
	tokens, err := st.ListAccessTokens(ctx, userID)
	if err != nil {
		return err
	}
	for _, tok := range tokens {
		if tok.Revoked {
			continue
		}
		if err := st.RevokeAccessToken(ctx, tok.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
