package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// clientCredentials is what a request presented to authenticate its client.
type clientCredentials struct {
	id, secret string
	basic      bool // sent with HTTP Basic (client_secret_basic)
}

// readClientCredentials takes the client id and secret from HTTP Basic or the form, never
// both (RFC 6749 §2.3.1).
func readClientCredentials(r *http.Request, form url.Values) (clientCredentials, *Error) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if id, secret, ok := r.BasicAuth(); ok {
		if formSecret != "" {
			return clientCredentials{}, errInvalidRequest("client authentication used both HTTP Basic and client_secret")
		}
		// Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1).
		uid, err1 := url.QueryUnescape(id)
		usecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return clientCredentials{}, errInvalidClient("malformed client credentials", true)
		}
		if formID != "" && formID != uid {
			return clientCredentials{}, errInvalidRequest("client_id does not match the authenticated client")
		}
		return clientCredentials{id: uid, secret: usecret, basic: true}, nil
	}
	if r.Header.Get("Authorization") != "" {
		// The client tried the Authorization header, so the 401 must carry a challenge
		// (RFC 6749 §5.2); Basic is the scheme we accept there.
		return clientCredentials{}, errInvalidClient("unsupported client authentication scheme", true)
	}
	return clientCredentials{id: formID, secret: formSecret}, nil
}

// authenticateClient finds the client and checks its secret. Public clients (no secret)
// authenticate by id alone and may only use the grants that allow it.
func (s *Server) authenticateClient(ctx context.Context, cred clientCredentials) (*store.Client, *Error) {
	if cred.id == "" {
		return nil, errInvalidClient("client authentication required", cred.basic)
	}
	if !storableText(cred.id) {
		VerifySecret(secretHashPrefix, cred.secret)
		return nil, errInvalidClient("client authentication failed", cred.basic)
	}
	c, err := s.clientStore.GetClient(ctx, cred.id)
	if errors.Is(err, store.ErrNotFound) {
		// Spend a digest on unknown clients too, so timing does not reveal client ids.
		VerifySecret(secretHashPrefix, cred.secret)
		return nil, errInvalidClient("client authentication failed", cred.basic)
	}
	if err != nil {
		return nil, errUnavailable("loading client", err, zap.String("client_id", cred.id))
	}
	if c.Revoked {
		return nil, errInvalidClient("client authentication failed", cred.basic)
	}
	if !c.Confidential() {
		if cred.secret != "" {
			return nil, errInvalidClient("client authentication failed", cred.basic)
		}
		return c, nil
	}
	ok, rehash := VerifySecret(c.SecretHash, cred.secret)
	if !ok {
		return nil, errInvalidClient("client authentication failed", cred.basic)
	}
	if rehash {
		if err := s.clientStore.UpdateClientSecretHash(ctx, c.ID, HashSecret(cred.secret)); err != nil {
			s.log.Warn("re-storing imported client secret as a digest", zap.String("client_id", c.ID), zap.Error(err))
		}
	}
	return c, nil
}
