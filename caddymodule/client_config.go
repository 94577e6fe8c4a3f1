package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// ClientConfig declares a client in the config; it is created or updated at every start.
type ClientConfig struct {
	// ID is the client_id.
	ID string `json:"id"`
	// Name is shown on the consent screen. Default: the id.
	Name string `json:"name,omitempty"`
	// Secret is the client secret, usually a placeholder such as {env.API_CLIENT_SECRET};
	// it is stored hashed. Empty makes a public client.
	Secret string `json:"secret,omitempty"`
	// Grants lists the grant types the client may use: client_credentials, password,
	// refresh_token, authorization_code, implicit, and device_code (the device
	// authorization grant, RFC 8628; its URN
	// urn:ietf:params:oauth:grant-type:device_code is accepted too). Default:
	// client_credentials.
	Grants []string `json:"grants,omitempty"`
	// RedirectURIs are the exact redirect URIs of an authorization code client. They are
	// checked by the operator policy (authserver.OperatorRedirectURIs): plain http to any
	// host and any private-use scheme are accepted, unlike in the JSON API.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// PostLogoutRedirectURIs are where OpenID Connect RP-initiated logout may send the
	// browser afterwards (post_logout_redirect_uri), matched exactly; same policy as
	// RedirectURIs.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// Provider is the user provider a password client authenticates against. Default: users.
	Provider string `json:"provider,omitempty"`
	// FirstParty skips the consent screen.
	FirstParty bool `json:"first_party,omitempty"`
	// RequirePAR makes the authorization endpoint accept the client's requests only
	// through pushed authorization requests (RFC 9126): a request_uri from POST
	// /oauth/par. Named as RFC 9126 §6's client metadata. Default: off.
	RequirePAR bool `json:"require_pushed_authorization_requests,omitempty"`
	// RequireDPoP makes the token endpoint refuse the client's requests that carry no
	// DPoP proof (400 invalid_dpop_proof), so every token it gets is bound to its key
	// (RFC 9449). Named as RFC 9449 §5.2's client metadata. Default: off (a proof is used
	// when the client sends one).
	RequireDPoP bool `json:"dpop_bound_access_tokens,omitempty"`
	// Introspect allows the client to call the introspection endpoint.
	Introspect bool `json:"introspect,omitempty"`
	// AuthMethod is how the client authenticates at the token, introspection,
	// revocation, device authorization and pushed authorization endpoints: empty for its
	// secret (none for a public client); private_key_jwt (RFC 7523 §2.2): a JWT signed
	// with the client's own private key, verified with the public keys of JWKS, JWKSFile
	// or JWKSURI (exactly one); tls_client_auth (RFC 8705 §2.1): a TLS client certificate
	// from a CA of the server's tls_client_auth_trusted_ca carrying the one
	// TLSClientAuth* value given; or self_signed_tls_client_auth (RFC 8705 §2.2): a TLS
	// client certificate, self-signed or not, whose public key is in JWKS, JWKSFile or
	// JWKSURI. Such a client has no secret, and may authenticate no other way.
	AuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// TLSClientAuthSubjectDN is a tls_client_auth client's certificate subject, as an RFC
	// 4514 string ("CN=app,O=Example,C=DE"), compared as a distinguished name: the same
	// attributes in the same order, values ignoring case and extra spaces.
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	// TLSClientAuthSANDNS is a DNS name the certificate's subject alternative names must
	// hold (compared ignoring case). Give only one of the TLSClientAuth* values.
	TLSClientAuthSANDNS string `json:"tls_client_auth_san_dns,omitempty"`
	// TLSClientAuthSANURI is a URI the certificate's subject alternative names must hold
	// (e.g. a SPIFFE id), compared exactly.
	TLSClientAuthSANURI string `json:"tls_client_auth_san_uri,omitempty"`
	// TLSClientAuthSANIP is an IP address (v4 or v6) the certificate's subject
	// alternative names must hold.
	TLSClientAuthSANIP string `json:"tls_client_auth_san_ip,omitempty"`
	// TLSClientAuthSANEmail is an email address the certificate's subject alternative
	// names must hold (its domain compared ignoring case).
	TLSClientAuthSANEmail string `json:"tls_client_auth_san_email,omitempty"`
	// CertBoundTokens binds every token the client gets to the TLS client certificate of
	// its token request (RFC 8705 §3): the access token carries the certificate's
	// thumbprint in cnf.x5t#S256, and a request without a certificate is refused. Any
	// client may have it, public ones included; a public client's refresh token then
	// works only with the same certificate. Default: off.
	CertBoundTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// JWKS is a private_key_jwt or self_signed_tls_client_auth client's public keys, a
	// JWK Set JSON document, inline.
	JWKS string `json:"jwks,omitempty"`
	// JWKSFile is a file holding the JWK Set, read at every start (its content is stored
	// as if given in JWKS).
	JWKSFile string `json:"jwks_file,omitempty"`
	// JWKSURI is where the client publishes its JWK Set: https (http only on a loopback
	// host). Fetched when an assertion needs it and cached for 5 minutes; an unknown kid
	// refetches it at most once every 10 seconds.
	JWKSURI string `json:"jwks_uri,omitempty"`
}

// ClientGrant is the grant type a client declaration's grant name stands for: the URN
// of the device authorization grant for its short name device_code (the token endpoint
// knows it only by the URN, RFC 8628 §3.4), any other name as it is.
func ClientGrant(name string) string {
	if name == "device_code" {
		return authserver.GrantDeviceCode
	}
	return name
}

// spec resolves the declaration into what authserver.NewClient builds a client from.
// Secrets are resolved here, at each start, so they can come from the environment.
func (c ClientConfig) spec(repl *caddy.Replacer) (authserver.ClientSpec, error) {
	if c.ID == "" {
		return authserver.ClientSpec{}, errors.New("id is required")
	}
	for _, g := range c.Grants {
		if g == authserver.GrantPersonalAccess {
			// The server finds its personal access client by this grant; one per provider
			// is made by caddy oauth install, with a generated secret.
			return authserver.ClientSpec{}, fmt.Errorf("grant %q: cannot be declared; caddy oauth install makes the personal access clients", g)
		}
	}
	grants := make([]string, len(c.Grants))
	for i, g := range c.Grants {
		grants[i] = ClientGrant(g)
	}
	secret := repl.ReplaceKnown(c.Secret, "")
	if c.Secret != "" && secret == "" {
		return authserver.ClientSpec{}, fmt.Errorf("secret %q resolved to an empty value (is the environment variable set?)", c.Secret)
	}
	jwks := c.JWKS
	if c.JWKSFile != "" {
		if jwks != "" {
			return authserver.ClientSpec{}, errors.New("jwks and jwks_file: give one")
		}
		b, err := os.ReadFile(repl.ReplaceKnown(c.JWKSFile, ""))
		if err != nil {
			return authserver.ClientSpec{}, fmt.Errorf("jwks_file: %w", err)
		}
		jwks = string(b)
	}
	attribute, value, err := c.tlsClientAuthAttribute()
	if err != nil {
		return authserver.ClientSpec{}, err
	}
	return authserver.ClientSpec{
		TokenAuthMethod:        c.AuthMethod,
		TLSClientAuthAttribute: attribute,
		TLSClientAuthValue:     value,
		CertBoundTokens:        c.CertBoundTokens,
		JWKS:                   jwks,
		JWKSURI:                repl.ReplaceKnown(c.JWKSURI, ""),
		ID:                     c.ID,
		Name:                   c.Name,
		Secret:                 secret,
		Grants:                 grants,
		RedirectURIs:           c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		RedirectURIPolicy:      authserver.OperatorRedirectURIs,
		Provider:               c.Provider,
		FirstParty:             c.FirstParty,
		RequirePAR:             c.RequirePAR,
		RequireDPoP:            c.RequireDPoP,
		Introspect:             c.Introspect,
		Declarative:            true,
	}, nil
}

// tlsClientAuthAttribute is the one TLSClientAuth* value given, as the attribute name
// RFC 8705 §2.1.2 gives it without its tls_client_auth_ prefix; none is "", "".
func (c ClientConfig) tlsClientAuthAttribute() (string, string, error) {
	var attribute, value string
	for _, a := range []struct{ name, value string }{
		{store.TLSClientAuthSubjectDN, c.TLSClientAuthSubjectDN},
		{store.TLSClientAuthSANDNS, c.TLSClientAuthSANDNS},
		{store.TLSClientAuthSANURI, c.TLSClientAuthSANURI},
		{store.TLSClientAuthSANIP, c.TLSClientAuthSANIP},
		{store.TLSClientAuthSANEmail, c.TLSClientAuthSANEmail},
	} {
		if a.value == "" {
			continue
		}
		if attribute != "" {
			return "", "", fmt.Errorf("tls_client_auth_%s and tls_client_auth_%s: give one", attribute, a.name)
		}
		attribute, value = a.name, a.value
	}
	return attribute, value, nil
}

// writeDeclaredClients creates or updates the declared clients in the store. A client
// keeps its creation time, and its stored secret digest while the secret is unchanged.
func (s *Server) writeDeclaredClients(ctx context.Context, st store.ClientStore, set *serverSettings, repl *caddy.Replacer) error {
	// Every client's provider is checked before any client is written.
	for _, c := range s.Clients {
		if c.Provider != "" && !set.hasProvider(c.Provider) {
			return fmt.Errorf("client %q: provider %q is not configured (add `users %s builtin|sql`)", c.ID, c.Provider, c.Provider)
		}
	}
	for i, c := range s.Clients {
		spec, err := c.spec(repl)
		var rec *store.Client
		if err == nil {
			rec, _, err = authserver.NewClient(spec, time.Now())
			var badURI *authserver.RedirectURIError
			if errors.As(err, &badURI) {
				// Named as the Caddyfile and the JSON config name the option.
				err = fmt.Errorf("redirect_uri: %w", err)
			}
		}
		if err != nil {
			return fmt.Errorf("client %q (#%d): %w", c.ID, i+1, err)
		}
		rec.DeclaredBy = set.issuer
		if existing, err := st.GetClient(ctx, rec.ID); err == nil {
			rec.CreatedAt = existing.CreatedAt
			if existing.SecretHash != "" && rec.SecretHash != "" {
				if ok, _ := authserver.VerifySecret(existing.SecretHash, spec.Secret); ok {
					rec.SecretHash = existing.SecretHash
				}
			}
		}
		if err := st.UpsertClient(ctx, rec); err != nil {
			return fmt.Errorf("client %q: storing: %w", c.ID, err)
		}
	}
	return nil
}

// revokeUndeclaredClients revokes, with everything issued to them, the clients this
// server's configuration declared before (same issuer) and declares no more: a client
// block removed from the Caddyfile takes effect at the next load. Clients made by the
// JSON API, the command line or the import are not declarative and never touched; nor
// are those another oauth_server on the same store declares, told apart by its issuer.
// It returns the revoked clients' ids and how many access tokens each lost.
func (s *Server) revokeUndeclaredClients(ctx context.Context, st store.Store, set *serverSettings) (map[string]int, error) {
	declared := make(map[string]bool, len(s.Clients))
	for _, c := range s.Clients {
		declared[c.ID] = true
	}
	all, err := st.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	revoked := map[string]int{}
	for _, c := range all {
		if !c.Declarative || c.Revoked || c.DeclaredBy != set.issuer || declared[c.ID] {
			continue
		}
		tokens, err := st.RevokeClient(ctx, c.ID)
		if err != nil {
			return revoked, fmt.Errorf("client %q, no longer declared: revoking: %w", c.ID, err)
		}
		revoked[c.ID] = len(tokens)
	}
	return revoked, nil
}
