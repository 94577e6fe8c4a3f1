package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// refreshGrant is RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new
// refresh token and retires the old one; presenting a retired one again means it leaked,
// so the whole family is revoked.
func (s *Server) refreshGrant(ctx context.Context, client *store.Client, form url.Values, r *http.Request, cnf *confirmation) (*tokenResponse, *Error) {
	value := form.Get("refresh_token")
	if value == "" {
		return nil, errInvalidRequest("refresh_token is required")
	}
	old, err := s.refreshStore.GetRefreshToken(ctx, Digest(value))
	if errors.Is(err, store.ErrNotFound) {
		// Not one of ours: perhaps one Laravel Passport issued (flow_refresh_passport.go).
		var oerr *Error
		if old, oerr = s.passportRefreshRecord(ctx, client, value); oerr != nil {
			return nil, oerr
		}
	} else if err != nil {
		return nil, errUnavailable("loading refresh token", err)
	}
	if old.ClientID != client.ID {
		return nil, errInvalidGrant("the refresh token was not issued to this client")
	}
	// The binding first: whoever cannot prove a bound token's key or certificate is not
	// its holder, and its reuse must not revoke the holder's family (a stolen retired
	// token would otherwise sign the user out without the key).
	if oerr := checkRefreshBinding(old, cnf); oerr != nil {
		return nil, oerr
	}
	if old.Revoked {
		s.revokeFamily(ctx, old, "refresh token reused")
		return nil, errInvalidGrant("the refresh token was already used or revoked")
	}
	if !s.now().Before(old.ExpiresAt) {
		return nil, errInvalidGrant("the refresh token has expired")
	}
	if gone, oerr := s.userGone(ctx, old.Provider, old.UserID); oerr != nil {
		return nil, oerr
	} else if gone {
		if err := s.refreshStore.RevokeRefreshFamily(ctx, old.FamilyID); err != nil {
			s.log.Error("revoking the refresh tokens of a deleted user", zap.Error(err))
		} else {
			s.revoked(ctx, reasonUserGone, hintRefreshToken, old.AccessTokenID, old.ClientID, old.UserID)
		}
		return nil, errInvalidGrant("the refresh token's user no longer exists")
	}
	granted := old.Scopes
	if requested := scopes.Parse(form.Get("scope")); len(requested) > 0 {
		// A refresh may narrow the scopes, never widen them (RFC 6749 §6).
		for _, sc := range requested {
			if !scopes.Grants(old.Scopes, sc) || (sc != scopes.Wildcard && !s.cfg.Scopes.Defined(sc)) {
				return nil, errInvalidScope("scope " + quoteForError(sc) + " was not granted originally")
			}
		}
		granted = requested
	}
	// A refreshed sign-in gets a new ID token (OpenID Connect Core §12.2), without nonce,
	// with the auth_time of the original sign-in, which the new refresh token keeps too.
	sub := grantSubject{client: client, userID: old.UserID, provider: old.Provider, scopes: granted, grant: GrantRefreshToken, signIn: true,
		authTime: old.AuthTime, cnf: cnf}
	tok, oerr := s.mint(ctx, s.issuerFor(r), sub, s.cfg.AccessTokenTTL, true, old.FamilyID)
	if oerr != nil {
		return nil, oerr
	}
	err = s.refreshStore.RotateRefreshToken(ctx, old.ID, tok.access, tok.refresh)
	if errors.Is(err, store.ErrAlreadyUsed) {
		// A concurrent request rotated it first: the same token was used twice.
		s.revokeFamily(ctx, old, "refresh token used concurrently")
		return nil, errInvalidGrant("the refresh token was already used or revoked")
	}
	if err != nil {
		return nil, errUnavailable("rotating refresh token", err)
	}
	// The presented refresh token is retired by the rotation: say so, then announce the
	// new pair.
	s.revoked(ctx, reasonRotated, hintRefreshToken, old.AccessTokenID, old.ClientID, old.UserID)
	s.announce(ctx, tok)
	return tok.response, nil
}

func (s *Server) revokeFamily(ctx context.Context, rt *store.RefreshToken, why string) {
	if err := s.refreshStore.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
		s.log.Error("revoking refresh token family", zap.String("reason", why), zap.Error(err))
		return
	}
	s.log.Warn("revoked refresh token family", zap.String("reason", why), zap.String("client_id", rt.ClientID), zap.String("user_id", rt.UserID))
	s.revoked(ctx, reasonReuse, hintRefreshToken, rt.AccessTokenID, rt.ClientID, rt.UserID)
}
