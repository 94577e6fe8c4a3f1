package authserver

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// tokenResponse is the successful token endpoint answer (RFC 6749 §5.1).
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	// IDToken is the OpenID Connect ID token, for a sign-in with the openid scope.
	IDToken string `json:"id_token,omitempty"`
}

// accessClaims are the claims of an RFC 9068 JWT access token.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	ID        string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expires   int64    `json:"exp"`
	Provider  string   `json:"provider,omitempty"`
	// CSRF is set only in first-party cookie tokens (fresh_api_token.go): the value a
	// request sending the cookie must repeat in a header.
	CSRF string `json:"csrf,omitempty"`
	// Confirmation binds the token to a DPoP key or a client certificate (cnf, RFC 9449
	// §6, RFC 8705 §3); absent from a bearer token.
	Confirmation *confirmation `json:"cnf,omitempty"`
	// UserClaims are the user's standard claims the token's profile and email scopes
	// release, so a guard can hand them to the API behind it ({oauth.claim.email}).
	*UserClaims
}

// grantSubject is who an access token is for.
type grantSubject struct {
	client   *store.Client
	userID   string // empty for client tokens
	provider string
	scopes   []string
	name     string // personal access token name
	csrf     string // the csrf claim of a first-party cookie token
	grant    string // the grant type it comes through, for metrics
	// signIn marks a flow in which OpenID Connect defines an ID token (authorization code,
	// refresh, device code): with the openid scope, one is issued beside the access token.
	signIn bool
	// nonce and authTime go in the ID token: the authorization request's nonce and when
	// the user signed in (zero: unknown, left out, as after a refresh).
	nonce    string
	authTime time.Time
	// cnf binds the access token to the DPoP key or client certificate the token request
	// proved (nil: a bearer token). A public client's refresh token is bound to it too
	// (RFC 9449 §5, RFC 8705 §4): a confidential client's is already bound to the
	// client's own credentials.
	cnf *confirmation
}

// issued is a minted token pair ready to be recorded.
type issued struct {
	grant    string
	response *tokenResponse
	access   *store.AccessToken
	refresh  *store.RefreshToken
	// issuer and signer are the access token's iss and the public key that verifies it,
	// for Config.OnAccessTokenIssued.
	issuer string
	signer crypto.PublicKey
}

// mint signs an access token for sub and, when withRefresh, makes a refresh token in
// family (a new family when empty), and an ID token for a sign-in with the openid scope.
// Nothing is stored yet.
func (s *Server) mint(ctx context.Context, issuer string, sub grantSubject, ttl time.Duration, withRefresh bool, family string) (*issued, *Error) {
	signer := s.cfg.Keys.Signer()
	if signer == nil {
		return nil, errUnavailable("no signing key loaded", nil)
	}
	userClaims, oerr := s.userClaims(ctx, sub.provider, sub.userID, sub.scopes)
	if oerr != nil {
		return nil, oerr
	}
	now := s.now().UTC().Truncate(time.Second)
	at := &store.AccessToken{
		ID:        newID(),
		ClientID:  sub.client.ID,
		UserID:    sub.userID,
		Provider:  sub.provider,
		Name:      sub.name,
		Scopes:    sub.scopes,
		KeyID:     signer.KeyID(),
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
	}
	subject := sub.userID
	if subject == "" {
		subject = sub.client.ID
	}
	aud := s.cfg.Audience
	if len(aud) == 0 {
		aud = []string{sub.client.ID}
	}
	scope := scopes.Format(sub.scopes)
	claims, err := json.Marshal(accessClaims{
		Issuer:       issuer,
		Subject:      subject,
		Audience:     aud,
		ClientID:     sub.client.ID,
		Scope:        scope,
		ID:           at.ID,
		IssuedAt:     now.Unix(),
		NotBefore:    now.Unix(),
		Expires:      at.ExpiresAt.Unix(),
		Provider:     sub.provider,
		CSRF:         sub.csrf,
		Confirmation: sub.cnf,
		UserClaims:   userClaims,
	})
	if err != nil {
		return nil, errUnavailable("encoding claims", err)
	}
	jwt, err := signer.Sign(claims)
	if err != nil {
		return nil, errUnavailable("signing access token", err)
	}
	out := &issued{
		grant:  sub.grant,
		issuer: issuer,
		signer: signer.Public(),
		access: at,
		response: &tokenResponse{
			TokenType:   accessTokenType(sub.cnf),
			ExpiresIn:   int64(ttl / time.Second),
			AccessToken: jwt,
			Scope:       scope,
		},
	}
	if sub.signIn && sub.userID != "" && hasScope(sub.scopes, ScopeOpenID) {
		if out.response.IDToken, oerr = s.idToken(issuer, sub, now, jwt, userClaims); oerr != nil {
			return nil, oerr
		}
	}
	if withRefresh {
		value := NewSecret()
		if family == "" {
			family = newID()
		}
		out.refresh = &store.RefreshToken{
			ID:            Digest(value),
			AccessTokenID: at.ID,
			FamilyID:      family,
			ClientID:      sub.client.ID,
			UserID:        sub.userID,
			Provider:      sub.provider,
			Scopes:        sub.scopes,
			CreatedAt:     now,
			ExpiresAt:     now.Add(s.cfg.RefreshTokenTTL),
			AuthTime:      sub.authTime,
		}
		if sub.cnf != nil && !sub.client.Confidential() {
			out.refresh.DPoPJKT, out.refresh.CertThumbprint = sub.cnf.JKT, sub.cnf.X5TS256
		}
		out.response.RefreshToken = value
	}
	return out, nil
}

// issue mints and records a token pair in one store write.
func (s *Server) issue(r *http.Request, sub grantSubject, ttl time.Duration, withRefresh bool) (*tokenResponse, *Error) {
	tok, oerr := s.record(r.Context(), s.issuerFor(r), sub, ttl, withRefresh)
	if oerr != nil {
		return nil, oerr
	}
	return tok.response, nil
}

// record mints a token pair, stores it in one write and announces it.
func (s *Server) record(ctx context.Context, issuer string, sub grantSubject, ttl time.Duration, withRefresh bool) (*issued, *Error) {
	tok, oerr := s.mint(ctx, issuer, sub, ttl, withRefresh, "")
	if oerr != nil {
		return nil, oerr
	}
	if err := s.issueStore.CreateAccessToken(ctx, tok.access, tok.refresh); err != nil {
		return nil, errUnavailable("recording access token", err, zap.String("client_id", sub.client.ID))
	}
	s.announce(ctx, tok)
	return tok, nil
}

// announce counts and emits the creation events of a recorded token pair, after
// revoking the tokens it supersedes when so configured.
func (s *Server) announce(ctx context.Context, tok *issued) {
	s.metrics().TokenIssued(tok.grant)
	if s.cfg.OnAccessTokenIssued != nil {
		s.cfg.OnAccessTokenIssued(tok.issuer, tok.response.AccessToken, tok.signer)
	}
	if s.cfg.RevokePreviousTokens && tok.access.UserID != "" && tok.access.Name == "" {
		s.supersede(ctx, tok.access)
	}
	s.emit(ctx, EventAccessTokenCreated, map[string]any{
		"token_id": tok.access.ID, "client_id": tok.access.ClientID, "user_id": tok.access.UserID,
	})
	if tok.refresh != nil {
		s.emit(ctx, EventRefreshTokenCreated, map[string]any{
			"token_id": tok.access.ID, "client_id": tok.access.ClientID, "user_id": tok.access.UserID,
		})
	}
}

// resolveScopes turns the request's scope parameter into the scopes to grant.
func (s *Server) resolveScopes(requested string, allowWildcard bool) ([]string, *Error) {
	granted, err := s.cfg.Scopes.Resolve(scopes.Parse(requested), allowWildcard)
	var undefined *scopes.UndefinedError
	switch {
	case errors.As(err, &undefined):
		return nil, errInvalidScope("scope " + quoteForError(undefined.Scope) + " is not defined")
	case err != nil:
		return nil, errInvalidScope(err.Error())
	}
	return granted, nil
}

// supersede revokes the user's other tokens for the client of at (RevokePreviousTokens).
// The new token is already stored and is answered either way: a failure here leaves the
// older tokens as valid as they were, which is logged.
func (s *Server) supersede(ctx context.Context, at *store.AccessToken) {
	ids, err := s.issueStore.RevokeOtherTokens(ctx, at.UserID, at.ClientID, at.ID)
	if err != nil {
		s.log.Error("revoking the tokens a new token supersedes", zap.String("client_id", at.ClientID),
			zap.String("user_id", at.UserID), zap.Error(err))
		return
	}
	for _, id := range ids {
		s.revoked(ctx, reasonSuperseded, hintAccessToken, id, at.ClientID, at.UserID)
	}
}
