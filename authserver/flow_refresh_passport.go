package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/phpencryption"
	"github.com/caddyoauth/caddy-oauth/store"
)

// passportDecryptWait is how long a Passport refresh token waits for a decryption slot
// before the request is answered 503 with Retry-After.
const passportDecryptWait = 2 * time.Second

// passportRefreshTokens rotates the refresh tokens a Laravel Passport deployment handed
// out before its tokens were imported (caddy oauth import passport). league/oauth2-server
// encrypts each one with the application's APP_KEY (defuse/php-encryption, password
// based); the payload names the oauth_refresh_tokens row, imported as
// store.PassportRefreshPrefix + its id. Decrypting costs one PBKDF2 of 100,000 rounds
// (about 30 ms of CPU), so it runs only for an authenticated client (the token endpoint
// authenticates before any grant), only for text shaped like a ciphertext, and at most
// slots.cap() at once.
type passportRefreshTokens struct {
	appKey []byte
	slots  chan struct{}
	wait   time.Duration
	// decrypted counts decryptions, running those under way and peak the most at once:
	// what the tests that bound them read (export_test.go).
	decrypted, running, peak atomic.Int64
}

// newPassportRefreshTokens is nil without an APP_KEY. slots and wait, when not zero,
// replace the defaults (only tests set them).
func newPassportRefreshTokens(appKey []byte, slots int, wait time.Duration) *passportRefreshTokens {
	if len(appKey) == 0 {
		return nil
	}
	if slots <= 0 {
		// Half the CPUs, so a flood of forged tokens leaves the rest for everything else.
		slots = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if wait <= 0 {
		wait = passportDecryptWait
	}
	return &passportRefreshTokens{appKey: appKey, slots: make(chan struct{}, slots), wait: wait}
}

// passportRefreshPayload is the JSON league/oauth2-server encrypts into a refresh token.
// Its client_id is a string (the request's), its user_id Laravel's key: a number for
// integer ids, a string for UUIDs.
type passportRefreshPayload struct {
	ClientID       idValue `json:"client_id"`
	RefreshTokenID string  `json:"refresh_token_id"`
	AccessTokenID  string  `json:"access_token_id"`
	UserID         idValue `json:"user_id"`
	ExpireTime     int64   `json:"expire_time"`
}

// idValue is an identifier written as a JSON string or an integer.
type idValue string

func (v *idValue) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(v))
	}
	if bytes.Equal(b, []byte("null")) {
		*v = ""
		return nil
	}
	if _, err := strconv.ParseInt(string(b), 10, 64); err != nil {
		return errors.New("not a string or an integer id")
	}
	*v = idValue(b)
	return nil
}

// passportRefreshRecord returns the imported record of the Passport refresh token value
// presented by client, or invalid_grant. It checks what league checks before it looks
// the row up (the token's client, its expiry); the caller then checks the record as it
// checks its own (client, revoked, expiry, user) and rotates it.
func (s *Server) passportRefreshRecord(ctx context.Context, client *store.Client, value string) (*store.RefreshToken, *Error) {
	invalid := errInvalidGrant("the refresh token is invalid")
	p := s.passport
	if p == nil {
		return nil, invalid
	}
	ct, err := phpencryption.Parse(value)
	if err != nil {
		return nil, invalid
	}
	plain, oerr := p.decrypt(ctx, ct)
	if oerr != nil {
		return nil, oerr
	}
	if plain == nil {
		// Another key, or a modified or forged token: nothing to tell the caller apart.
		s.log.Info("refused a Passport refresh token that does not decrypt with the APP_KEY", zap.String("client_id", client.ID))
		return nil, invalid
	}
	var payload passportRefreshPayload
	if err := json.Unmarshal(plain, &payload); err != nil || payload.RefreshTokenID == "" {
		return nil, invalid
	}
	if string(payload.ClientID) != client.ID {
		return nil, errInvalidGrant("the refresh token was not issued to this client")
	}
	if !s.now().Before(time.Unix(payload.ExpireTime, 0)) {
		return nil, errInvalidGrant("the refresh token has expired")
	}
	rec, err := s.refreshStore.GetRefreshToken(ctx, store.PassportRefreshPrefix+payload.RefreshTokenID)
	if errors.Is(err, store.ErrNotFound) {
		// Encrypted with this APP_KEY but never imported (issued after the import ran).
		s.log.Warn("a Passport refresh token names a row that was not imported; run caddy oauth import passport again",
			zap.String("client_id", client.ID))
		return nil, invalid
	}
	if err != nil {
		return nil, errUnavailable("loading an imported Passport refresh token", err)
	}
	if rec.AccessTokenID != payload.AccessTokenID || rec.UserID != string(payload.UserID) {
		// The row and the token disagree: not the token that row was made for.
		return nil, invalid
	}
	return rec, nil
}

// decrypt waits for a slot and decrypts: the plaintext, nil for a ciphertext the APP_KEY
// does not open, or a 503 when no slot frees up in time.
func (p *passportRefreshTokens) decrypt(ctx context.Context, ct *phpencryption.Ciphertext) ([]byte, *Error) {
	wait := time.NewTimer(p.wait)
	defer wait.Stop()
	select {
	case p.slots <- struct{}{}:
	case <-wait.C:
		return nil, errBusy("too many Passport refresh tokens are being decrypted, retry shortly")
	case <-ctx.Done():
		return nil, errBusy("the request ended while waiting")
	}
	defer func() { <-p.slots }()
	p.decrypted.Add(1)
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for peak := p.peak.Load(); n > peak && !p.peak.CompareAndSwap(peak, n); peak = p.peak.Load() {
	}
	plain, err := ct.DecryptWithPassword(p.appKey)
	if err != nil {
		return nil, nil
	}
	return plain, nil
}
