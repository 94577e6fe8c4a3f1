package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/validator"
)

// minDeclaredSecretLen is the shortest secret an operator may choose for a client;
// secrets the server generates are much longer (NewSecret).
const minDeclaredSecretLen = 16

// ClientSpec is a client to register, as every surface that makes clients describes it:
// Caddyfile `client` blocks, `caddy oauth client` and `install`, and the JSON API
// (POST /oauth/clients). NewClient turns it into the store record, so the rules of what
// a client may be are written once.
type ClientSpec struct {
	// ID is the client_id. Empty: a new random UUID.
	ID string
	// Name is shown on the consent screen. Empty: the ID.
	Name string
	// Secret is the client secret in clear, chosen by the operator; at least 16
	// characters. Stored hashed.
	Secret string
	// GenerateSecret makes a new random secret (NewSecret) instead of Secret. With
	// neither, the client is public (no secret: it must use PKCE).
	GenerateSecret bool
	// Grants are the grant types the client may use: GrantAuthorizationCode,
	// GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantImplicit (public
	// clients only), GrantPersonalAccess, GrantDeviceCode.
	// Empty: GrantClientCredentials.
	Grants []string
	// RedirectURIs are the exact redirect URIs of an authorization code client, each
	// checked by RedirectURIPolicy.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where OpenID Connect RP-initiated logout may send the
	// browser afterwards, matched exactly, each checked by RedirectURIPolicy.
	PostLogoutRedirectURIs []string
	// RedirectURIPolicy is who registers the client, and so which redirect URIs it may
	// have: StrictRedirectURIs (the zero value) for end users, OperatorRedirectURIs for
	// the configuration and the command line.
	RedirectURIPolicy RedirectURIPolicy
	// Provider is the user provider of the client's users. Empty: DefaultProvider.
	Provider string
	// FirstParty skips the consent screen.
	FirstParty bool
	// RequirePAR makes the authorization endpoint refuse the client's requests unless
	// they were pushed first (RFC 9126 require_pushed_authorization_requests).
	RequirePAR bool
	// RequireDPoP makes the token endpoint refuse the client's requests without a DPoP
	// proof, so every token it gets is bound to its key (RFC 9449 §5.2
	// dpop_bound_access_tokens).
	RequireDPoP bool
	// Introspect allows the client to call the introspection and revocation-feed
	// endpoints.
	Introspect bool
	// OwnerUserID is the user who registered the client through the JSON API, whose
	// dashboard lists it. Empty for operator clients.
	OwnerUserID string
	// Declarative marks a client declared in the configuration, written at every start.
	Declarative bool
	// TokenAuthMethod is how the client authenticates at the token, introspection and
	// revocation endpoints: empty for its secret (or nothing, for a public client),
	// store.TokenAuthPrivateKeyJWT for a JWT signed by its own key (RFC 7523 §2.2), in
	// which case JWKS or JWKSURI holds its public keys, store.TokenAuthTLSClient for a
	// TLS client certificate from a trusted CA naming it by TLSClientAuthAttribute (RFC
	// 8705 §2.1), or store.TokenAuthSelfSignedTLSClient for a TLS client certificate
	// whose key is in JWKS or JWKSURI (RFC 8705 §2.2). With any of these it has no secret.
	TokenAuthMethod string
	// JWKS is a private_key_jwt client's public keys, as a JWK Set document.
	JWKS string
	// JWKSURI is where a private_key_jwt client publishes its public keys: https, or
	// http on a loopback host. Fetched when needed and cached for a few minutes.
	JWKSURI string
	// TLSClientAuthAttribute and TLSClientAuthValue name a tls_client_auth client's
	// certificate (RFC 8705 §2.1.2): the attribute is one of TLSClientAuthAttributes
	// (subject_dn, compared as a distinguished name, or a subject alternative name:
	// san_dns, san_uri, san_ip, san_email) and the value what it must be. Exactly one,
	// and only for that method; a self_signed_tls_client_auth client's certificate is
	// named by its public key, in JWKS or JWKSURI.
	TLSClientAuthAttribute string
	TLSClientAuthValue     string
	// CertBoundTokens binds every token the client gets to the TLS client certificate of
	// its token request (RFC 8705 §3), whatever way it authenticates, public clients
	// included; a token request without a certificate is refused.
	CertBoundTokens bool
}

// knownGrants are the grant types a client record may hold.
var knownGrants = []string{GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantAuthorizationCode, GrantImplicit, GrantPersonalAccess, GrantDeviceCode}

// NewClient checks spec and returns the client record to store, created at now, and its
// secret in clear ("" for a public client), which exists nowhere else afterwards: the
// record holds its digest. Errors name the field that is wrong.
func NewClient(spec ClientSpec, now time.Time) (*store.Client, string, error) {
	grants := spec.Grants
	if len(grants) == 0 {
		grants = []string{GrantClientCredentials}
	}
	for _, g := range grants {
		if !isKnownGrant(g) {
			return nil, "", fmt.Errorf("grant %q: must be one of %s", g, strings.Join(knownGrants, ", "))
		}
	}
	for _, u := range spec.RedirectURIs {
		if err := spec.RedirectURIPolicy.Check(u); err != nil {
			return nil, "", err
		}
	}
	for _, u := range spec.PostLogoutRedirectURIs {
		if err := spec.RedirectURIPolicy.Check(u); err != nil {
			return nil, "", fmt.Errorf("post-logout %w", err)
		}
	}
	if err := checkClientKeys(spec); err != nil {
		return nil, "", err
	}
	keyAuth := spec.TokenAuthMethod != ""
	secret := spec.Secret
	switch {
	case keyAuth && (secret != "" || spec.GenerateSecret):
		return nil, "", fmt.Errorf("secret: a %s client authenticates with its key or certificate and has no secret", spec.TokenAuthMethod)
	case keyAuth:
	case spec.GenerateSecret && secret != "":
		return nil, "", errors.New("secret: give a secret or generate one, not both")
	case spec.GenerateSecret:
		secret = NewSecret()
	case secret != "" && len(secret) < minDeclaredSecretLen:
		return nil, "", fmt.Errorf("secret must be at least %d characters", minDeclaredSecretLen)
	case secret == "":
		// The token endpoint refuses these grants to public clients, so such a client
		// could never get a token: say so when it is made instead.
		for _, g := range grants {
			if g == GrantClientCredentials || g == GrantPassword {
				return nil, "", fmt.Errorf("grant %q needs a secret (a client without one is public)", g)
			}
		}
	}
	if (secret != "" || keyAuth) && hasGrant(grants, GrantImplicit) {
		// A client that can keep a secret has the code flow; the implicit grant exists for
		// browser apps that cannot, and hands tokens over the front channel.
		return nil, "", fmt.Errorf("grant %q is for public clients only (a client with a secret uses authorization_code)", GrantImplicit)
	}
	if (spec.RequireDPoP || spec.CertBoundTokens) && hasGrant(grants, GrantImplicit) {
		// A token handed over in the fragment is a bearer token: the authorization
		// endpoint refuses it to such a client, so say so when it is made.
		return nil, "", fmt.Errorf("grant %q cannot give DPoP- or certificate-bound tokens (require_dpop, certificate_bound_tokens)", GrantImplicit)
	}
	id := spec.ID
	if id == "" {
		id = uuid.NewString()
	}
	name := spec.Name
	if name == "" {
		name = id
	}
	now = now.UTC()
	rec := &store.Client{
		ID:                     id,
		Name:                   name,
		RedirectURIs:           spec.RedirectURIs,
		PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		Grants:                 grants,
		Provider:               spec.Provider,
		UserID:                 spec.OwnerUserID,
		FirstParty:             spec.FirstParty,
		RequirePAR:             spec.RequirePAR,
		RequireDPoP:            spec.RequireDPoP,
		Introspect:             spec.Introspect,
		Declarative:            spec.Declarative,
		TokenAuthMethod:        spec.TokenAuthMethod,
		JWKS:                   spec.JWKS,
		JWKSURI:                spec.JWKSURI,
		TLSClientAuthAttribute: spec.TLSClientAuthAttribute,
		TLSClientAuthValue:     spec.TLSClientAuthValue,
		CertBoundTokens:        spec.CertBoundTokens,
		CreatedAt:              now,
		UpdatedAt:              now,
	}
	if secret != "" {
		rec.SecretHash = HashSecret(secret)
	}
	return rec, secret, nil
}

func hasGrant(grants []string, g string) bool {
	for _, x := range grants {
		if x == g {
			return true
		}
	}
	return false
}

func isKnownGrant(g string) bool {
	for _, k := range knownGrants {
		if g == k {
			return true
		}
	}
	return false
}

// checkClientKeys checks the client authentication fields of spec: a private_key_jwt or
// self_signed_tls_client_auth client names its public keys one way, inline or by URI; a
// tls_client_auth client names the one certificate attribute it is known by; other
// clients name neither.
func checkClientKeys(spec ClientSpec) error {
	method := spec.TokenAuthMethod
	hasAttribute := spec.TLSClientAuthAttribute != "" || spec.TLSClientAuthValue != ""
	if hasAttribute && method != store.TokenAuthTLSClient {
		return fmt.Errorf("the tls_client_auth_* attributes are for %s clients only", store.TokenAuthTLSClient)
	}
	switch method {
	case "":
		if spec.JWKS != "" || spec.JWKSURI != "" {
			return fmt.Errorf("jwks and jwks_uri are for %s clients only, or %s ones", store.TokenAuthPrivateKeyJWT, store.TokenAuthSelfSignedTLSClient)
		}
		return nil
	case store.TokenAuthTLSClient:
		if spec.JWKS != "" || spec.JWKSURI != "" {
			return fmt.Errorf("a %s client is named by its certificate's attribute, not by jwks or jwks_uri", method)
		}
		if spec.TLSClientAuthAttribute == "" {
			return fmt.Errorf("a %s client needs one certificate attribute and its value (tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip or _san_email)", method)
		}
		return checkTLSClientAuthAttribute(spec.TLSClientAuthAttribute, spec.TLSClientAuthValue)
	case store.TokenAuthPrivateKeyJWT, store.TokenAuthSelfSignedTLSClient:
	default:
		return fmt.Errorf("token_endpoint_auth_method %q: must be %s, %s or %s (or unset: by the client's secret)",
			method, store.TokenAuthPrivateKeyJWT, store.TokenAuthTLSClient, store.TokenAuthSelfSignedTLSClient)
	}
	switch {
	case spec.JWKS != "" && spec.JWKSURI != "":
		return fmt.Errorf("a %s client has jwks or jwks_uri, not both", method)
	case spec.JWKSURI != "":
		return CheckJWKSURI(spec.JWKSURI)
	case spec.JWKS != "":
		return CheckClientJWKS([]byte(spec.JWKS))
	default:
		return fmt.Errorf("a %s client needs jwks or jwks_uri (its public keys)", method)
	}
}

// privateJWKMembers are the members that carry private or symmetric key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1, RFC 8037 §2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// CheckClientJWKS checks a client's JWK Set: a JSON object whose keys hold no private or
// symmetric material (a private key handed to the server is a leaked key, so it is
// refused rather than stripped), with at least one public key usable to verify a client
// assertion with one of ClientAssertionAlgs.
func CheckClientJWKS(data []byte) error {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("jwks: not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("jwks: the key set has no keys")
	}
	for i, k := range set.Keys {
		for _, m := range privateJWKMembers {
			if _, ok := k[m]; ok {
				return fmt.Errorf("jwks: key %d holds private or symmetric key material (%q): register public keys only", i, m)
			}
		}
	}
	src, err := validator.NewInlineKeySource(data)
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	for _, alg := range ClientAssertionAlgs {
		if _, err := src.Lookup(context.Background(), "", alg); err == nil {
			return nil
		}
	}
	return fmt.Errorf("jwks: no key usable with %s", strings.Join(ClientAssertionAlgs, ", "))
}
