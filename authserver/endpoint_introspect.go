package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// Token type hints of RFC 7009 §2.1 and RFC 7662 §2.1.
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// TokenTypeRefresh is the token_type an introspection answer gives a refresh token, so a
// resource server can never take one for an access token (whose token_type is Bearer).
const TokenTypeRefresh = "refresh_token"

// introspection is the RFC 7662 §2.2 answer for an active token. An inactive token is
// answered with inactiveAnswer and nothing else.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type"`
	Expires   int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti,omitempty"`
	Issuer    string   `json:"iss"`
	Audience  []string `json:"aud"`
	// Provider is the user provider of a user's token (an extension, as in the JWT), so
	// a guard in introspection mode can apply its provider rule.
	Provider string `json:"provider,omitempty"`
	// Confirmation is the token's cnf: the DPoP key or client certificate it is bound to,
	// so a resource server can check the binding (RFC 9449 §8, RFC 8705 §3.2).
	Confirmation *confirmation `json:"cnf,omitempty"`
}

// inactiveAnswer is the whole answer for an unknown, expired, revoked or foreign token:
// RFC 7662 §2.2 says nothing more may be revealed about it.
var inactiveAnswer = struct {
	Active bool `json:"active"`
}{false}

// serveIntrospect is POST /oauth/introspect (RFC 7662). The caller is a resource server:
// a client allowed to introspect (see authenticateResourceServer). An access token is
// verified locally with the server's own keys and, the first time, looked up by its jti;
// after that its answer is kept and only revocation is checked, in memory
// (verifyAccessToken). A refresh token is looked up by its digest every time.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	answer, oerr := s.introspect(r)
	if oerr != nil {
		s.writeError(w, oerr)
		return
	}
	if answer == nil {
		s.metrics().Introspected(false, time.Since(start))
		writeJSON(w, http.StatusOK, inactiveAnswer)
		return
	}
	s.metrics().Introspected(true, time.Since(start))
	writeEncodedJSON(w, http.StatusOK, answer)
}

// introspect returns the encoded answer for an active token, nil for an inactive one.
func (s *Server) introspect(r *http.Request) ([]byte, *Error) {
	if _, oerr := s.authenticateResourceServer(r); oerr != nil {
		return nil, oerr
	}
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, oerr
	}
	token := form.Get("token")
	if token == "" {
		return nil, errInvalidRequest("token is required")
	}
	// The hint only says where to look first (RFC 7662 §2.1); our two kinds of token
	// cannot be mistaken for each other, a JWT having dots and a refresh token none, so
	// the token's form decides and any hint value is accepted.
	var (
		answer []byte
		err    error
	)
	if strings.Contains(token, ".") {
		answer, err = s.introspectAccess(r, token)
	} else {
		answer, err = s.introspectRefresh(r, token)
	}
	if err != nil {
		return nil, errUnavailable("introspecting a token", err)
	}
	return answer, nil
}

// introspectAccess answers for an access token. The encoded answer is kept with the
// verified token and reused until the username in it is due to be looked up again, so
// a token introspected again costs a hash, a map lookup and a write.
func (s *Server) introspectAccess(r *http.Request, token string) ([]byte, error) {
	v, err := s.verifyAccessToken(r.Context(), token, true)
	if v == nil || err != nil {
		return nil, err
	}
	now := s.now()
	if v.answer != nil && now.Before(v.answerUntil) {
		return v.answer, nil
	}
	c := v.claims
	name, until := s.username(r.Context(), v.record.Provider, v.record.UserID)
	answer, err := encodeAnswer(&introspection{
		Active:       true,
		Scope:        c.Scope,
		ClientID:     c.ClientID,
		Subject:      c.Subject,
		Username:     name,
		TokenType:    accessTokenType(c.Confirmation),
		Expires:      c.Expires,
		IssuedAt:     c.IssuedAt,
		NotBefore:    c.NotBefore,
		ID:           c.ID,
		Issuer:       c.Issuer,
		Audience:     c.Audience,
		Provider:     c.Provider,
		Confirmation: c.Confirmation,
	})
	if err != nil {
		return nil, err
	}
	if until.After(now) {
		s.verified.setAnswer(v.key, v.gen, answer, until)
	}
	return answer, nil
}

// encodeAnswer encodes an answer as writeJSON would.
func encodeAnswer(answer *introspection) ([]byte, error) {
	b, err := json.Marshal(answer)
	if err != nil {
		return nil, fmt.Errorf("encoding introspection answer: %w", err)
	}
	return append(b, '\n'), nil
}

func (s *Server) introspectRefresh(r *http.Request, token string) ([]byte, error) {
	rt, err := s.introspectStore.GetRefreshToken(r.Context(), Digest(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading refresh token: %w", err)
	}
	if rt.Revoked || !s.now().Before(rt.ExpiresAt) {
		return nil, nil
	}
	name, _ := s.username(r.Context(), rt.Provider, rt.UserID)
	subject := rt.UserID
	if subject == "" {
		subject = rt.ClientID
	}
	// A refresh token has no public id: its stored id is a digest of its value and is
	// not given out, so the answer carries no jti.
	return encodeAnswer(&introspection{
		Active:       true,
		Scope:        scopes.Format(rt.Scopes),
		ClientID:     rt.ClientID,
		Subject:      subject,
		Username:     name,
		TokenType:    TokenTypeRefresh,
		Expires:      rt.ExpiresAt.Unix(),
		IssuedAt:     rt.CreatedAt.Unix(),
		NotBefore:    rt.CreatedAt.Unix(),
		Issuer:       s.issuerFor(r),
		Audience:     s.audienceFor(rt.ClientID),
		Provider:     rt.Provider,
		Confirmation: refreshConfirmation(rt.DPoPJKT, rt.CertThumbprint),
	})
}

// audienceFor is the aud the server puts in a client's tokens.
func (s *Server) audienceFor(clientID string) []string {
	if len(s.cfg.Audience) > 0 {
		return s.cfg.Audience
	}
	return []string{clientID}
}

// usernameTTL is how long a looked-up username is reused, and so an access token's
// encoded answer. Introspection must not read a store per request; a name changed or a
// user deleted shows within this time, while the token's revocation is checked on every
// request (verifyAccessToken).
const usernameTTL = time.Minute

// maxUsernames bounds the username cache; when full it is emptied, which is cheap and
// only costs lookups.
const maxUsernames = 10000

// usernameCache remembers usernames by provider and user id for usernameTTL.
type usernameCache struct {
	mu      sync.Mutex
	entries map[string]usernameEntry
}

type usernameEntry struct {
	name  string
	until time.Time
}

// username returns the user's name when the user's provider can tell it ("where known",
// RFC 7662 §2.2), or "", and until when that answer may be reused: the end of its time
// in the cache; forever when there is no user or no way to know the name; never
// (zero) after a failed lookup.
func (s *Server) username(ctx context.Context, provider, userID string) (string, time.Time) {
	if userID == "" {
		return "", forever
	}
	provider, p := s.userProvider(provider)
	resolver, ok := p.(UsernameResolver)
	if !ok {
		return "", forever
	}
	key := provider + "\x00" + userID
	now := s.now()
	s.usernames.mu.Lock()
	e, hit := s.usernames.entries[key]
	s.usernames.mu.Unlock()
	if hit && now.Before(e.until) {
		return e.name, e.until
	}
	name, err := resolver.Username(ctx, userID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("looking up a username for introspection", zap.String("provider", provider), zap.Error(err))
		}
		return "", time.Time{}
	}
	s.usernames.mu.Lock()
	if s.usernames.entries == nil || len(s.usernames.entries) >= maxUsernames {
		s.usernames.entries = make(map[string]usernameEntry)
	}
	until := now.Add(usernameTTL)
	s.usernames.entries[key] = usernameEntry{name: name, until: until}
	s.usernames.mu.Unlock()
	return name, until
}

// forever is a time after any token's expiry.
var forever = time.Unix(1<<62, 0)
