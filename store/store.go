// Package store declares the persistent state of the authorization server: its records,
// Store, the one interface both drivers (store/sqlite, store/postgres) implement, and the
// rules both drivers follow alike (rules.go: filling times, linking a refresh token to its
// access token, turning database refusals into ErrNotFound and ErrConflict), written once
// here so the drivers keep only their SQL.
//
// Caddy and the `caddy oauth` commands open one Store and pass it around. Code that uses
// part of it names only that part: each authserver flow declares the few methods it calls
// in a *_storage.go file beside it (as fosite does), keys takes a KeyStore, and the
// methods only the commands call are grouped in OperatorStore. The interfaces below group
// Store by record, so each method is documented once.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a record with the same identity already exists.
var ErrConflict = errors.New("store: already exists")

// ErrAlreadyUsed is returned when a one-use record (a refresh token being rotated, an
// authorization code being exchanged) was already consumed or revoked.
var ErrAlreadyUsed = errors.New("store: already used or revoked")

// Client is an OAuth client application.
type Client struct {
	ID   string
	Name string
	// SecretHash is the stored form of the secret: "sha256:<hex>" for secrets we generate,
	// or an imported bcrypt hash ("$2y$..."). Empty for public clients.
	SecretHash   string
	RedirectURIs []string
	// PostLogoutRedirectURIs are where RP-initiated logout (OpenID Connect) may send the
	// browser afterwards; matched exactly.
	PostLogoutRedirectURIs []string
	// Grants lists the grant types the client may use.
	Grants []string
	// Provider is the user provider a password client authenticates against.
	Provider string
	// UserID is the owner of a client made through the JSON API; empty otherwise.
	UserID string
	// TokenAuthMethod is the one way the client authenticates at the token, introspection,
	// revocation and pushed authorization endpoints (RFC 7591 token_endpoint_auth_method:
	// "private_key_jwt", ...); empty: what SecretHash implies (client_secret_basic or
	// client_secret_post with a secret, none without).
	TokenAuthMethod string
	// JWKS (a JWK Set document) or JWKSURI holds the public keys a private_key_jwt client
	// signs its assertions with (RFC 7523 §2.2).
	JWKS    string
	JWKSURI string
	// RequirePAR makes the authorization endpoint refuse the client's requests unless
	// they were pushed first (RFC 9126 §5, require_pushed_authorization_requests).
	RequirePAR bool
	// RequireDPoP makes the token endpoint refuse the client's requests that carry no DPoP
	// proof, so every token it gets is DPoP-bound (RFC 9449 §5.2,
	// dpop_bound_access_tokens).
	RequireDPoP bool
	// CertBoundTokens binds the client's tokens to the TLS client certificate of its token
	// request (RFC 8705 §3, tls_client_certificate_bound_access_tokens); a request without
	// one is refused.
	CertBoundTokens bool
	// TLSClientAuthAttribute and TLSClientAuthValue are, for TokenAuthMethod
	// tls_client_auth, the one certificate attribute that must match and its value
	// (RFC 8705 §2.1.2: "subject_dn", "san_dns", "san_uri", "san_ip" or "san_email").
	TLSClientAuthAttribute string
	TLSClientAuthValue     string
	// FirstParty clients skip the consent screen.
	FirstParty bool
	// Introspect allows the client to call the introspection endpoint and revocation feed.
	Introspect bool
	// Declarative marks a client declared in the Caddyfile (updated on every start).
	Declarative bool
	// DeclaredBy is the issuer of the oauth_server whose configuration declares the
	// client ("" when that server has no issuer configured); empty for other clients.
	DeclaredBy string
	Revoked    bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Confidential reports whether the client can authenticate: it has a secret, signs
// assertions with a key of its own (private_key_jwt), or presents a TLS client
// certificate (tls_client_auth, self_signed_tls_client_auth).
func (c *Client) Confidential() bool {
	switch c.TokenAuthMethod {
	case TokenAuthPrivateKeyJWT, TokenAuthTLSClient, TokenAuthSelfSignedTLSClient:
		return true
	}
	return c.SecretHash != ""
}

// TokenAuthPrivateKeyJWT is the TokenAuthMethod of a client that authenticates with a
// JWT signed by its own key (RFC 7523 §2.2, OpenID Connect Core §9).
const TokenAuthPrivateKeyJWT = "private_key_jwt"

// TokenAuthTLSClient is the TokenAuthMethod of a client that authenticates with a TLS
// client certificate issued by a CA the server trusts, naming it by the one attribute
// TLSClientAuthAttribute (RFC 8705 §2.1, PKI method).
const TokenAuthTLSClient = "tls_client_auth"

// TokenAuthSelfSignedTLSClient is the TokenAuthMethod of a client that authenticates with
// a TLS client certificate whose public key is one of its registered JWKS or JWKSURI keys
// (RFC 8705 §2.2); the certificate's chain is not checked.
const TokenAuthSelfSignedTLSClient = "self_signed_tls_client_auth"

// TLS client certificate attributes a tls_client_auth client is named by
// (TLSClientAuthAttribute, RFC 8705 §2.1.2).
const (
	TLSClientAuthSubjectDN = "subject_dn"
	TLSClientAuthSANDNS    = "san_dns"
	TLSClientAuthSANURI    = "san_uri"
	TLSClientAuthSANIP     = "san_ip"
	TLSClientAuthSANEmail  = "san_email"
)

// HasGrant reports whether the client may use the grant type.
func (c *Client) HasGrant(grant string) bool {
	for _, g := range c.Grants {
		if g == grant {
			return true
		}
	}
	return false
}

// User is a built-in user.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	CreatedAt    time.Time
}

// AccessToken is the record of an issued access token; the token itself is a JWT whose
// jti is ID, and is never stored.
type AccessToken struct {
	ID       string
	ClientID string
	// UserID is empty for client credentials tokens.
	UserID   string
	Provider string
	// Name is set for personal access tokens.
	Name      string
	Scopes    []string
	KeyID     string
	Revoked   bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshToken is the record of an issued refresh token. ID is the SHA-256 hex digest of
// the token value; the value itself is never stored.
type RefreshToken struct {
	ID            string
	AccessTokenID string
	// FamilyID is shared by every refresh token rotated from the same original grant, so
	// reuse of a rotated token can revoke the whole chain.
	FamilyID  string
	ClientID  string
	UserID    string
	Provider  string
	Scopes    []string
	Revoked   bool
	CreatedAt time.Time
	ExpiresAt time.Time
	// DPoPJKT is the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key the token is bound
	// to, CertThumbprint the SHA-256 thumbprint (x5t#S256, RFC 8705) of the client
	// certificate; each is set only for a bound token of a public client, and its use
	// must prove the same key or present the same certificate.
	DPoPJKT        string
	CertThumbprint string
	// AuthTime is when the user signed in for the grant the token continues (zero:
	// unknown), the auth_time of the ID tokens its refreshes issue; kept to the second.
	AuthTime time.Time
}

// AuthCode is a one-use authorization code. ID is the SHA-256 hex digest of the code.
type AuthCode struct {
	ID                  string
	ClientID            string
	UserID              string
	Provider            string
	Scopes              []string
	RedirectURI         string
	CodeChallenge       string
	CodeChallengeMethod string
	// Nonce is the OpenID Connect nonce of the authorization request, echoed in the ID
	// token; AuthTime is when the user signed in (the session's start), its auth_time, kept to
	// the second.
	Nonce    string
	AuthTime time.Time
	// DPoPJKT is the dpop_jkt of the authorization request (RFC 9449 §10): the exchange
	// must carry a DPoP proof of that key. Empty when the request named none.
	DPoPJKT   string
	Revoked   bool
	CreatedAt time.Time
	ExpiresAt time.Time
	// AccessTokenID is the access token the code was exchanged for, recorded by
	// ExchangeAuthCode; empty until then.
	AccessTokenID string
}

// Purposes of signing keys (SigningKey.Purpose). Each purpose has its own current key.
const (
	// KeyPurposeAccess keys sign access tokens, with the configured signing_alg.
	KeyPurposeAccess = "access"
	// KeyPurposeIDToken keys sign OpenID Connect ID tokens, always RS256 (the algorithm
	// OpenID Connect requires every provider to support, and clients expect by default).
	KeyPurposeIDToken = "id_token"
)

// SigningKey is a private signing key kept in the store so every node signs with it.
type SigningKey struct {
	ID  string // the JWK kid
	Alg string // ES256, RS256 or EdDSA
	// Purpose is KeyPurposeAccess or KeyPurposeIDToken; "" is read as KeyPurposeAccess.
	Purpose string
	// PrivatePEM is the PKCS#8 PEM encoding of the private key.
	PrivatePEM []byte
	CreatedAt  time.Time
	// RetiredAt is set when a newer key replaced this one; nil for the current key.
	RetiredAt *time.Time
}

// KeyPurpose returns the key's purpose, KeyPurposeAccess when unset.
func (k *SigningKey) KeyPurpose() string {
	if k.Purpose == "" {
		return KeyPurposeAccess
	}
	return k.Purpose
}

// PurgeOptions selects what Purge deletes.
type PurgeOptions struct {
	// Revoked deletes revoked tokens and codes.
	Revoked bool
	// Expired deletes tokens, codes and sessions that expired before Now.
	Expired bool
	Now     time.Time
}

// Store is everything the server keeps. Implementations are safe for concurrent use and
// for several processes sharing one database.
type Store interface {
	ClientStore
	UserStore
	TokenStore
	AuthCodeExchangeStore
	KeyStore
	SessionStore
	ConsentStore
	LoginThrottleStore
	DashboardStore
	RevocationStore
	OperatorStore
	ImportStore
	DeviceCodeStore
	PushedAuthorizationRequestStore
	ClientAssertionStore
	// Purge deletes revoked and/or expired tokens and codes (with Expired, also expired
	// sessions and revocation log entries of expired tokens) and returns how many rows went.
	Purge(ctx context.Context, opts PurgeOptions) (int64, error)
	// Close releases the connection pool. It is idempotent: calls after the first do
	// nothing and return what the first returned.
	Close() error
}

// OperatorStore is what only the operator's `caddy oauth` commands call: managing built-in
// users, replacing the signing keys, and listings for the terminal. No request served by
// the authorization server reaches these methods.
type OperatorStore interface {
	// CreateUser inserts a user; ErrConflict if the id or email (case-insensitive) exists.
	CreateUser(ctx context.Context, u *User) error
	// ListUsers lists users ordered by creation time.
	ListUsers(ctx context.Context) ([]*User, error)
	// DeleteUser removes a user and revokes nothing else; ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of a user and returns how many went.
	DeleteUserSessions(ctx context.Context, provider, userID string) (int64, error)
	// ListAccessTokens lists a user's tokens (all clients) ordered by creation time.
	ListAccessTokens(ctx context.Context, userID string) ([]*AccessToken, error)
	// ReplaceSigningKeys deletes every key of k's purpose and stores k as the only one of
	// it (keys --force).
	ReplaceSigningKeys(ctx context.Context, k *SigningKey) error
}

// ClientStore keeps clients.
type ClientStore interface {
	// CreateClient inserts a new client; ErrConflict if the id exists.
	CreateClient(ctx context.Context, c *Client) error
	// UpsertClient inserts or replaces a client by id (declarative clients).
	UpsertClient(ctx context.Context, c *Client) error
	// GetClient returns a client by id, revoked or not; ErrNotFound if absent.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients lists all clients ordered by creation time.
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClientSecretHash replaces the stored secret hash (re-hashing an imported bcrypt secret).
	UpdateClientSecretHash(ctx context.Context, id, secretHash string) error
}

// UserStore reads built-in users, as `users builtin` logs them in and names them (the
// commands that add and delete them use OperatorStore).
type UserStore interface {
	// GetUser returns a user by id; ErrNotFound if absent.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail returns a user by email, compared case-insensitively; ErrNotFound if absent.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
}

// TokenStore keeps access tokens, refresh tokens and authorization codes.
type TokenStore interface {
	// CreateAccessToken records an issued access token, and the refresh token issued with
	// it when refresh is not nil, atomically.
	CreateAccessToken(ctx context.Context, at *AccessToken, refresh *RefreshToken) error
	// GetAccessToken returns an access token record by id (jti); ErrNotFound if absent.
	GetAccessToken(ctx context.Context, id string) (*AccessToken, error)
	// RevokeAccessToken revokes an access token and the refresh tokens issued with it.
	// ErrNotFound if absent.
	RevokeAccessToken(ctx context.Context, id string) error
	// GetRefreshToken returns a refresh token record by id (digest); ErrNotFound if absent.
	GetRefreshToken(ctx context.Context, id string) (*RefreshToken, error)
	// RotateRefreshToken atomically marks the refresh token oldID revoked and records the
	// new access token and refresh token. If oldID was already revoked it changes nothing
	// and returns ErrAlreadyUsed, so of two concurrent rotations exactly one wins.
	RotateRefreshToken(ctx context.Context, oldID string, at *AccessToken, refresh *RefreshToken) error
	// RevokeRefreshFamily revokes every refresh token of the family and every access token
	// issued with them.
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	// CreateAuthCode records an authorization code.
	CreateAuthCode(ctx context.Context, c *AuthCode) error
}

// KeyStore keeps signing keys.
type KeyStore interface {
	// ListSigningKeys lists every key of every purpose, newest first. The current key of a
	// purpose has RetiredAt nil.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// EnsureSigningKey stores k as the current key of its purpose only if the store has no
	// current key of that purpose, and returns the current key of it either way. Safe
	// when several nodes start at once: exactly one key wins.
	EnsureSigningKey(ctx context.Context, k *SigningKey) (*SigningKey, error)
	// RotateSigningKey retires the current key of k's purpose (RetiredAt = k.CreatedAt)
	// and stores k as the new current key of it, atomically.
	RotateSigningKey(ctx context.Context, k *SigningKey) error
	// ResealSigningKey replaces the stored PrivatePEM of key id with to, if it still
	// equals from, and reports whether it did: encrypting a key stored in the clear, or
	// under a retired encryption key, once, however many nodes try at the same time.
	ResealSigningKey(ctx context.Context, id string, from, to []byte) (bool, error)
}

// PassportImport is what `caddy oauth import passport` brings over from a Laravel
// Passport database, already mapped to the store's records.
type PassportImport struct {
	Clients       []*Client
	AccessTokens  []*AccessToken
	RefreshTokens []*RefreshToken
	// SigningKey is Passport's key pair (PKCS#8 PEM, kid its thumbprint); nil for none.
	SigningKey *SigningKey
	// DryRun rolls the transaction back at the end: the counts say what a real import
	// would write, and nothing changes.
	DryRun bool
}

// ImportCounts says what an import wrote (or, for a dry run, would write).
type ImportCounts struct {
	Clients       int
	AccessTokens  int
	RefreshTokens int
	// Revocations is how many revoked, unexpired access tokens went on the revocation log.
	Revocations int
	// SigningKey is true when the imported key became the current signing key.
	SigningKey bool
}

// ImportStore is the one-shot import of another server's state.
type ImportStore interface {
	// ImportPassport writes imp in one transaction, so an import is whole or absent. A
	// record whose id already exists is left as it is (a second import changes nothing).
	// Revoked access tokens it inserts that have not expired go on the revocation log, so
	// the feed and guards refuse them. The signing key, unless a key with its id exists,
	// becomes the current key and the current one is retired (it stays published until its
	// tokens expire). A token naming a client neither in imp nor in the store fails with
	// ErrNotFound.
	ImportPassport(ctx context.Context, imp *PassportImport) (ImportCounts, error)
	// RevokeTokensOf revokes every access token and refresh token of the user (userID not
	// empty), of the client (clientID not empty), or of that user with that client (both),
	// logs the revoked access tokens, and returns their ids. The client itself stays.
	RevokeTokensOf(ctx context.Context, userID, clientID string) ([]string, error)
}

// PassportRefreshPrefix begins the id of a refresh token imported from Laravel Passport:
// its record's id is this prefix and the oauth_refresh_tokens id, where ours are SHA-256
// digests of the token value, so no presented value can ever hash to an imported id and
// the rotation of a decrypted Passport refresh token finds its row by that id.
const PassportRefreshPrefix = "passport:"
