package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// deviceAuthorizationResponse is RFC 8628 §3.2's answer.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// userCodeAttempts is how many user codes are drawn before giving up: a draw collides
// with a live code only when billions of requests are live at once.
const userCodeAttempts = 5

// serveDeviceAuthorization is POST /oauth/device/code (RFC 8628 §3.1, §3.2): the client
// authenticates as at the token endpoint and gets a device code to poll with and a user
// code for the person to enter at the verification URI. Errors are RFC 6749 §5.2 JSON.
func (s *Server) serveDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.deviceAuthorization(r)
	if oerr != nil {
		s.writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deviceAuthorization(r *http.Request) (*deviceAuthorizationResponse, *Error) {
	// The token endpoint's rate limits: a device request costs a store write, as a token
	// request does.
	form, client, oerr := s.clientRequest(r)
	if oerr != nil {
		return nil, oerr
	}
	ctx := r.Context()
	if !client.HasGrant(GrantDeviceCode) {
		return nil, errUnauthorizedClient("the client may not use the device authorization grant")
	}
	if _, _, oerr := s.clientProvider(client); oerr != nil {
		return nil, oerr
	}
	// As at the authorization endpoint: a person consents to these scopes on a page, so
	// "*" (every scope, present and future) is not offered.
	granted, oerr := s.resolveScopes(form.Get("scope"), false)
	if oerr != nil {
		return nil, oerr
	}

	now := s.now().UTC().Truncate(time.Microsecond)
	deviceCode := NewSecret()
	rec := &store.DeviceCode{
		ID:        Digest(deviceCode),
		ClientID:  client.ID,
		Scopes:    granted,
		Interval:  s.cfg.DevicePollInterval,
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.DeviceCodeTTL),
	}
	var userCode string
	for attempt := 1; ; attempt++ {
		userCode = newUserCode()
		rec.UserCodeHash = userCodeDigest(userCode)
		err := s.deviceAuthStore.CreateDeviceCode(ctx, rec)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || attempt == userCodeAttempts {
			return nil, errUnavailable("recording device code", err, zap.String("client_id", client.ID))
		}
	}
	verify := s.issuerFor(r) + PathDevice
	return &deviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                formatUserCode(userCode),
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {formatUserCode(userCode)}}.Encode(),
		ExpiresIn:               int64(s.cfg.DeviceCodeTTL / time.Second),
		Interval:                int64((s.cfg.DevicePollInterval + time.Second - 1) / time.Second),
	}, nil
}
