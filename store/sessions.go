package store

import (
	"context"
	"time"
)

// Session is a browser's logged-in session, kept in the store so that any node can serve
// the next request. ID is the SHA-256 hex digest of the cookie value; the value itself is
// never stored, so reading the table does not let anyone act as the user.
type Session struct {
	ID string
	// UserID and Provider name the user, as the user provider returned them.
	UserID   string
	Provider string
	// Username is what the user typed to log in, shown on pages ("signed in as ...").
	Username string
	// CSRFToken is the value every state-changing request of this session must echo, in
	// a hidden _csrf form field or an X-CSRF-TOKEN header. It is useless without the
	// session cookie, which is HttpOnly.
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is when the session ends unless it is used again before then.
	ExpiresAt time.Time
}

// Consent records that a user approved a client for a set of scopes, so the consent
// screen is not shown again for the same scopes or fewer.
type Consent struct {
	Provider  string
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	// CreateSession inserts a session; ErrConflict if the id exists. A zero CreatedAt or
	// LastSeenAt is set to now.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns a session by id, expired or not; ErrNotFound if absent.
	GetSession(ctx context.Context, id string) (*Session, error)
	// TouchSession records that the session was used at lastSeen and moves its expiry;
	// ErrNotFound if absent.
	TouchSession(ctx context.Context, id string, lastSeen, expiresAt time.Time) error
	// DeleteSession removes a session (logout); ErrNotFound if absent.
	DeleteSession(ctx context.Context, id string) error
}

// ConsentStore keeps the scopes users approved for clients.
type ConsentStore interface {
	// GetConsent returns what the user approved for the client; ErrNotFound if nothing.
	GetConsent(ctx context.Context, provider, userID, clientID string) (*Consent, error)
	// SaveConsent inserts the consent, or replaces the scopes (and UpdatedAt) of the
	// existing one for the same provider, user and client, keeping its CreatedAt. Zero
	// times are set to now. ErrNotFound if the client does not exist.
	SaveConsent(ctx context.Context, c *Consent) error
	// DeleteConsent removes the user's consent for a client; ErrNotFound if absent. No
	// request calls it yet: revoking an application will withdraw its consent, so the
	// next authorization asks again, as Passport does (issue 10).
	DeleteConsent(ctx context.Context, provider, userID, clientID string) error
}

// AuthCodeExchangeStore is what the authorization code grant needs beyond TokenStore: a
// code is exchanged for tokens in one atomic step that remembers which tokens it gave,
// so that a second use of the code can revoke them (RFC 6749 §4.1.2, RFC 9700 §4.5).
type AuthCodeExchangeStore interface {
	// GetAuthCode returns a code by id (digest), used or not; ErrNotFound if absent.
	GetAuthCode(ctx context.Context, id string) (*AuthCode, error)
	// ExchangeAuthCode atomically marks the code used, records at.ID on it, and stores
	// the access token and, when refresh is not nil, the refresh token. If the code was
	// already used it stores nothing and returns ErrAlreadyUsed, so of two concurrent
	// exchanges exactly one wins; ErrNotFound if the code is absent.
	ExchangeAuthCode(ctx context.Context, codeID string, at *AccessToken, refresh *RefreshToken) error
	// RevokeAuthCodeTokens revokes the access token issued for the code, the refresh
	// tokens issued with it, and every token rotated from those (their whole refresh
	// families). A code with no tokens is not an error.
	RevokeAuthCodeTokens(ctx context.Context, codeID string) error
}
