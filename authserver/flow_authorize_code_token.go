package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// codeVerifier is the form RFC 7636 §4.1 gives a PKCE code verifier.
var codeVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636): the code must be
// unused, unexpired, issued to this client for this redirect URI, and come with the
// verifier of its challenge. Every check is a read; only a request that passes them all
// uses the code, so bad input changes nothing. A second use of a code means it leaked:
// the tokens issued for it are revoked (RFC 6749 §4.1.2).
func (s *Server) authorizationCodeGrant(ctx context.Context, client *store.Client, form url.Values, r *http.Request, cnf *confirmation) (*tokenResponse, *Error) {
	value := form.Get("code")
	if value == "" {
		return nil, errInvalidRequest("code is required")
	}
	code, err := s.codeGrantStore.GetAuthCode(ctx, Digest(value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("the authorization code is invalid")
	}
	if err != nil {
		return nil, errUnavailable("loading authorization code", err)
	}
	if code.ClientID != client.ID {
		// Code injection (RFC 9700 §4.5): a code stolen from one client is refused to
		// another, and left alone for its rightful owner.
		return nil, errInvalidGrant("the authorization code was not issued to this client")
	}
	if code.Revoked {
		s.revokeCodeTokens(ctx, code, "authorization code reused")
		return nil, errInvalidGrant("the authorization code was already used")
	}
	if !s.now().Before(code.ExpiresAt) {
		return nil, errInvalidGrant("the authorization code has expired")
	}
	// RFC 6749 §4.1.3: redirect_uri is required, and identical, when the authorization
	// request named one (code.RedirectURI set). When it named none (the client's only
	// registered URI was used), the token request may omit it, or name that URI.
	uri := form.Get("redirect_uri")
	switch {
	case code.RedirectURI != "" && uri != code.RedirectURI:
		return nil, errInvalidGrant("redirect_uri does not match the one the code was issued for")
	case code.RedirectURI == "" && uri != "" && (len(client.RedirectURIs) != 1 || uri != client.RedirectURIs[0]):
		return nil, errInvalidGrant("redirect_uri does not match the one the code was issued for")
	}
	verifier := form.Get("code_verifier")
	switch {
	case code.CodeChallenge == "" && verifier != "":
		// RFC 9700 §4.8.2: a verifier without a challenge is a PKCE downgrade attempt.
		return nil, errInvalidGrant("code_verifier was sent but the authorization request had no code_challenge")
	case code.CodeChallenge == "" && !client.Confidential():
		return nil, errInvalidGrant("a public client's code must be bound to a PKCE challenge")
	case code.CodeChallenge != "" && verifier == "":
		return nil, errInvalidGrant("code_verifier is required: the authorization request had a code_challenge")
	case code.CodeChallenge != "" && !codeVerifier.MatchString(verifier):
		return nil, errInvalidGrant("code_verifier is malformed")
	case code.CodeChallenge != "" && (code.CodeChallengeMethod != "S256" || !tokenEqual(s256(verifier), code.CodeChallenge)):
		return nil, errInvalidGrant("code_verifier does not match the code_challenge")
	}
	if oerr := checkCodeBinding(code, cnf); oerr != nil {
		return nil, oerr
	}

	if gone, oerr := s.userGone(ctx, code.Provider, code.UserID); oerr != nil {
		return nil, oerr
	} else if gone {
		return nil, errInvalidGrant("the authorization code's user no longer exists")
	}

	sub := grantSubject{client: client, userID: code.UserID, provider: code.Provider, scopes: code.Scopes,
		signIn: true, nonce: code.Nonce, authTime: code.AuthTime, cnf: cnf}
	tok, oerr := s.mint(ctx, s.issuerFor(r), sub, s.cfg.AccessTokenTTL, client.HasGrant(GrantRefreshToken), "")
	if oerr != nil {
		return nil, oerr
	}
	err = s.codeGrantStore.ExchangeAuthCode(ctx, code.ID, tok.access, tok.refresh)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		// Another request exchanged it first: the same code was used twice.
		s.revokeCodeTokens(ctx, code, "authorization code used concurrently")
		return nil, errInvalidGrant("the authorization code was already used")
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant("the authorization code is invalid")
	case err != nil:
		return nil, errUnavailable("exchanging authorization code", err)
	}
	s.announce(ctx, tok)
	return tok.response, nil
}

// s256 is the S256 code challenge of a verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// revokeCodeTokens revokes every token issued from a code that was presented again.
// code may be as read before the exchange that used it, so its AccessTokenID is read
// again for the event.
func (s *Server) revokeCodeTokens(ctx context.Context, code *store.AuthCode, why string) {
	if err := s.codeGrantStore.RevokeAuthCodeTokens(ctx, code.ID); err != nil {
		s.log.Error("revoking tokens of a reused authorization code", zap.String("reason", why), zap.Error(err))
		return
	}
	s.log.Warn("revoked tokens of a reused authorization code", zap.String("reason", why),
		zap.String("client_id", code.ClientID), zap.String("user_id", code.UserID))
	tokenID := code.AccessTokenID
	if tokenID == "" {
		if fresh, err := s.codeGrantStore.GetAuthCode(ctx, code.ID); err == nil {
			tokenID = fresh.AccessTokenID
		}
	}
	s.emit(ctx, EventTokenRevoked, map[string]any{
		"token_id": tokenID, "client_id": code.ClientID, "user_id": code.UserID, "reason": why,
	})
}
