package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// slowDownStep is what each slow_down answer adds to a device code's interval (RFC 8628
// §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
// requests").
const slowDownStep = 5 * time.Second

// pollSlack is the part of the interval a poll may come early by without being told to
// slow down: a client that polls on a timer from its previous request, rather than
// from the previous answer, arrives a little early now and then through network jitter.
func pollSlack(interval time.Duration) time.Duration { return interval / 10 }

func errAuthorizationPending() *Error {
	return &Error{Code: "authorization_pending", Description: "the user has not answered yet", Status: http.StatusBadRequest}
}

func errSlowDown(interval time.Duration) *Error {
	secs := int64((interval + time.Second - 1) / time.Second)
	return &Error{Code: "slow_down", Description: fmt.Sprintf("polling too fast; wait at least %d seconds between requests", secs),
		Status: http.StatusBadRequest}
}

func errDeviceAccessDenied() *Error {
	return &Error{Code: "access_denied", Description: "the user denied the request", Status: http.StatusBadRequest}
}

func errExpiredToken() *Error {
	return &Error{Code: "expired_token", Description: "the device code has expired; start again", Status: http.StatusBadRequest}
}

// deviceCodeGrant is RFC 8628 §3.4, §3.5: the device polls with its device code until
// the person answers. Every check that can refuse the request is a read, made before
// anything is written, so a request with another client's code or an unknown one
// changes nothing. While the code is pending each poll is recorded, and one sooner than
// the interval after the previous answers slow_down and raises the interval. Once
// approved the code is exchanged in one atomic step: of two concurrent polls one gets
// the tokens, the other invalid_grant, and the code is dead afterwards.
func (s *Server) deviceCodeGrant(ctx context.Context, client *store.Client, form url.Values, r *http.Request, cnf *confirmation) (*tokenResponse, *Error) {
	value := form.Get("device_code")
	if value == "" {
		return nil, errInvalidRequest("device_code is required")
	}
	d, err := s.deviceStore.GetDeviceCode(ctx, Digest(value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("the device code is invalid")
	}
	if err != nil {
		return nil, errUnavailable("loading device code", err)
	}
	// Compared as digests of 256-bit values looked up by digest: nothing secret is
	// compared here, only whose code it is.
	if d.ClientID != client.ID {
		return nil, errInvalidGrant("the device code was not issued to this client")
	}
	if d.Used {
		return nil, errInvalidGrant("the device code was already used")
	}
	now := s.now()
	if !now.Before(d.ExpiresAt) {
		return nil, errExpiredToken()
	}
	if d.Decision == store.DevicePending {
		// Only undecided codes are paced: once the person has answered, the next poll
		// ends the polling either way.
		prev, err := s.deviceStore.PollDeviceCode(ctx, d.ID, now.UTC())
		if err != nil {
			return nil, errUnavailable("recording device poll", err)
		}
		if !prev.LastPolledAt.IsZero() && now.Sub(prev.LastPolledAt) < prev.Interval-pollSlack(prev.Interval) {
			interval, err := s.deviceStore.SlowDownDeviceCode(ctx, d.ID, slowDownStep)
			if err != nil {
				return nil, errUnavailable("slowing device down", err)
			}
			return nil, errSlowDown(interval)
		}
		if prev.Decision == store.DevicePending {
			return nil, errAuthorizationPending()
		}
		d = prev // answered between the two reads
	}
	if d.Decision == store.DeviceDenied {
		return nil, errDeviceAccessDenied()
	}
	if gone, oerr := s.userGone(ctx, d.Provider, d.UserID); oerr != nil {
		return nil, oerr
	} else if gone {
		return nil, errInvalidGrant("the user who approved the device no longer exists")
	}
	// A device sign-in with the openid scope gets an ID token, as the code flow does; no
	// nonce (the device request has none), auth_time from the approving session.
	sub := grantSubject{client: client, userID: d.UserID, provider: d.Provider, scopes: d.Scopes, grant: GrantDeviceCode,
		signIn: true, authTime: d.AuthTime, cnf: cnf}
	tok, oerr := s.mint(ctx, s.issuerFor(r), sub, s.cfg.AccessTokenTTL, client.HasGrant(GrantRefreshToken), "")
	if oerr != nil {
		return nil, oerr
	}
	err = s.deviceStore.ExchangeDeviceCode(ctx, d.ID, tok.access, tok.refresh)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, errInvalidGrant("the device code was already used")
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant("the device code is invalid")
	case err != nil:
		return nil, errUnavailable("exchanging device code", err)
	}
	s.announce(ctx, tok)
	return tok.response, nil
}
