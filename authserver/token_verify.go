package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// nbfLeeway is how far in the future a token's nbf may be: the clock skew tolerated
// between the nodes of one store.
const nbfLeeway = 5 * time.Second

// verifiedAccess is an access token of ours whose signature, times, issuer and store
// record all check out.
type verifiedAccess struct {
	claims accessClaims
	record *store.AccessToken
}

// verifyAccessToken checks an access token the way a resource server would, with the
// server's own key ring, and then its record by jti: one indexed lookup, no hashing of
// secrets. It returns nil (and no error) for a token that is not ours, malformed,
// expired, not yet valid, of another issuer, revoked or unknown; an error only when the
// store cannot answer.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (*verifiedAccess, error) {
	payload, _, err := s.cfg.Keys.Verify(token)
	if err != nil {
		return nil, nil
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" || c.ClientID == "" {
		return nil, nil
	}
	now := s.now()
	// nbf is the issuing node's clock; another node sharing the store may run a little
	// behind it. exp needs no leeway: it is checked against the stored expiry too.
	if c.Expires <= now.Unix() || c.NotBefore > now.Add(nbfLeeway).Unix() {
		return nil, nil
	}
	// With a configured issuer, a token naming another one (signed with a key shared by
	// several sites) is not this server's. Without one, the issuer follows each request's
	// host, so the token's own iss is all there is to go by.
	if s.cfg.Issuer != "" && c.Issuer != s.cfg.Issuer {
		return nil, nil
	}
	rec, err := s.cfg.Store.GetAccessToken(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		s.log.Error("loading access token", zap.String("token_id", c.ID), zap.Error(err))
		return nil, err
	}
	if rec.Revoked || rec.ClientID != c.ClientID || !s.now().Before(rec.ExpiresAt) {
		return nil, nil
	}
	return &verifiedAccess{claims: c, record: rec}, nil
}
