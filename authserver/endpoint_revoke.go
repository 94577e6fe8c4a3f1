package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Why a token was revoked, in events (reason) and metrics.
const (
	reasonEndpoint   = "revoke_endpoint"
	reasonReuse      = "refresh_reuse"
	reasonRotated    = "rotated"
	reasonSuperseded = "superseded"
)

// serveRevoke is POST /oauth/revoke (RFC 7009). The client authenticates as at the token
// endpoint and may revoke only tokens issued to it. Revoking an access token revokes the
// refresh token issued with it; revoking a refresh token revokes every token of its grant
// (its rotation family) and the access tokens issued with them (RFC 7009 §2.1). A token
// the server does not know, or no longer honours, is answered 200 like a revoked one
// (§2.2), so the answer never says whether a token existed.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	client, oerr := s.revoke(r)
	allowClientOrigin(w, r, client)
	if oerr != nil {
		s.writeError(w, oerr)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
}

// revoke answers a revocation request; client is the client once it is authenticated
// (for CORS), nil before.
func (s *Server) revoke(r *http.Request) (*store.Client, *Error) {
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, oerr
	}
	cred, oerr := readClientCredentials(r, form)
	if oerr != nil {
		return nil, oerr
	}
	client, oerr := s.authenticateClient(r.Context(), cred)
	if oerr != nil {
		return nil, oerr
	}
	token := form.Get("token")
	if token == "" {
		return client, errInvalidRequest("token is required")
	}
	// As in introspection, the token's form tells its kind; the hint is not needed, and an
	// unknown hint is ignored (RFC 7009 §2.1).
	if strings.Contains(token, ".") {
		return client, s.revokeAccess(r.Context(), client, token)
	}
	return client, s.revokeRefresh(r.Context(), client, token)
}

func (s *Server) revokeAccess(ctx context.Context, client *store.Client, token string) *Error {
	payload, _, err := s.cfg.Keys.Verify(token)
	if err != nil {
		return nil // not ours: nothing to revoke
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		return nil
	}
	if s.cfg.Issuer != "" && c.Issuer != s.cfg.Issuer {
		// Signed with a key this server shares with another issuer: that issuer's token,
		// as introspection sees it too (verifyAccessToken), so nothing of ours to revoke.
		return nil
	}
	rec, err := s.revokeStore.GetAccessToken(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return errUnavailable("loading access token", err, zap.String("token_id", c.ID))
	}
	if rec.ClientID != client.ID {
		return errUnauthorizedClient("the token was not issued to this client")
	}
	if rec.Revoked || !s.now().Before(rec.ExpiresAt) {
		return nil
	}
	if err := s.revokeStore.RevokeAccessToken(ctx, rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return errUnavailable("revoking access token", err, zap.String("token_id", rec.ID))
	}
	s.revoked(ctx, reasonEndpoint, hintAccessToken, rec.ID, rec.ClientID, rec.UserID)
	return nil
}

func (s *Server) revokeRefresh(ctx context.Context, client *store.Client, token string) *Error {
	rt, err := s.revokeStore.GetRefreshToken(ctx, Digest(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return errUnavailable("loading refresh token", err)
	}
	if rt.ClientID != client.ID {
		return errUnauthorizedClient("the token was not issued to this client")
	}
	if err := s.revokeStore.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
		return errUnavailable("revoking refresh token family", err)
	}
	s.revoked(ctx, reasonEndpoint, hintRefreshToken, rt.AccessTokenID, rt.ClientID, rt.UserID)
	return nil
}

// revoked counts a revocation and announces it. tokenID is the access token id (jti) of
// the token pair; tokenType says which of the pair was presented or retired.
func (s *Server) revoked(ctx context.Context, reason, tokenType, tokenID, clientID, userID string) {
	s.metrics().Revoked(reason)
	if reason != reasonRotated {
		// The token may be a resource server's own: stop taking it at its word.
		s.callers.forget()
	}
	s.emit(ctx, EventTokenRevoked, map[string]any{
		"token_id": tokenID, "token_type": tokenType, "client_id": clientID, "user_id": userID, "reason": reason,
	})
}
