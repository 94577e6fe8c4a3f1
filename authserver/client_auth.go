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
	// assertion is a private_key_jwt client assertion (RFC 7523 §2.2); it never reaches
	// a log line.
	assertion string
	// req is the request the credentials came with: an assertion's aud is checked
	// against its endpoint.
	req *http.Request
}

// readClientCredentials takes the client's credentials from HTTP Basic, the form's
// client_secret, or the form's client_assertion; never two of them (RFC 6749 §2.3: one
// authentication method per request).
func readClientCredentials(r *http.Request, form url.Values) (clientCredentials, *Error) {
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return readClientAssertion(r, form)
	}
	cred, oerr := readClientSecret(r, form)
	cred.req = r
	return cred, oerr
}

// readClientAssertion reads a private_key_jwt client assertion (RFC 7521 §4.2).
func readClientAssertion(r *http.Request, form url.Values) (clientCredentials, *Error) {
	if r.Header.Get("Authorization") != "" || form.Has("client_secret") {
		return clientCredentials{}, errInvalidRequest("client authentication used both a client assertion and a client secret")
	}
	typ, assertion := form.Get("client_assertion_type"), form.Get("client_assertion")
	switch {
	case assertion == "" || typ == "":
		return clientCredentials{}, errInvalidRequest("client_assertion and client_assertion_type go together")
	case typ != ClientAssertionTypeJWT:
		return clientCredentials{}, errInvalidClient("client_assertion_type must be "+ClientAssertionTypeJWT, false)
	}
	return clientCredentials{id: form.Get("client_id"), assertion: assertion, req: r}, nil
}

// readClientSecret takes the client id and secret from HTTP Basic or the form, never
// both (RFC 6749 §2.3.1).
func readClientSecret(r *http.Request, form url.Values) (clientCredentials, *Error) {
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

// authenticateClient finds the client and checks its secret, its assertion or its TLS
// client certificate. Public clients (no secret) authenticate by id alone and may only
// use the grants that allow it. A private_key_jwt client authenticates only by
// assertion, and only it may; a tls_client_auth or self_signed_tls_client_auth client
// only by the certificate of the request's connection (client_auth_tls.go).
func (s *Server) authenticateClient(ctx context.Context, cred clientCredentials) (*store.Client, *Error) {
	if cred.assertion != "" {
		return s.authenticateAssertion(ctx, cred)
	}
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
	switch c.TokenAuthMethod {
	case store.TokenAuthPrivateKeyJWT:
		// Its registration names one way to authenticate; a secret it may still hold
		// (from before it switched) no longer speaks for it.
		VerifySecret(secretHashPrefix, cred.secret)
		return nil, errInvalidClient("client authentication failed", cred.basic)
	case store.TokenAuthTLSClient, store.TokenAuthSelfSignedTLSClient:
		if oerr := s.authenticateCertificate(ctx, c, cred); oerr != nil {
			return nil, oerr
		}
		return c, nil
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
