package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// tokenJSON is an access token as the API shows it: its record, never the token. Besides
// our fields it has Laravel Passport's (user_id, revoked, updated_at, and the client
// loaded as an object) so Passport's AuthorizedClients and PersonalAccessTokens
// components read it unchanged.
type tokenJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Name       string    `json:"name,omitempty"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`

	// Passport's names.
	UserID    string          `json:"user_id"`
	Revoked   bool            `json:"revoked"`
	UpdatedAt time.Time       `json:"updated_at"`
	Client    tokenClientJSON `json:"client"`
}

// tokenClientJSON is the client a token was issued to, as Passport loads it beside a
// token (its components read client.name).
type tokenClientJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func toTokenJSON(t *store.AccessToken, clientName string) tokenJSON {
	sc := t.Scopes
	if sc == nil {
		sc = []string{}
	}
	return tokenJSON{ID: t.ID, ClientID: t.ClientID, ClientName: clientName, Name: t.Name,
		Scopes: sc, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		UserID: t.UserID, Revoked: t.Revoked, UpdatedAt: t.CreatedAt,
		Client: tokenClientJSON{ID: t.ClientID, Name: clientName}}
}

// userTokens lists the user's live tokens, personal ones or authorized applications'.
func (s *Server) userTokens(w http.ResponseWriter, r *http.Request, u apiUser, personal bool) *Error {
	toks, err := s.apiStore.ListUserTokens(r.Context(), u.provider, u.id, s.now())
	if err != nil {
		return errUnavailable("listing tokens", err)
	}
	out := []tokenJSON{}
	for _, t := range toks {
		// A personal access client's tokens without a name are first-party cookie
		// tokens (fresh_api_token.go), not the user's personal tokens.
		if t.Personal == personal && (!personal || t.Name != "") {
			out = append(out, toTokenJSON(&t.AccessToken, t.ClientName))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listTokens is GET /oauth/tokens: the tokens of the applications the user authorized.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	return s.userTokens(w, r, u, false)
}

// listPersonalTokens is GET /oauth/personal-access-tokens.
func (s *Server) listPersonalTokens(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	return s.userTokens(w, r, u, true)
}

// deleteToken is DELETE /oauth/tokens/{id}: revoke one of the user's access tokens and the
// refresh token issued with it.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	return s.revokeUserToken(w, r, u, false)
}

// deletePersonalToken is DELETE /oauth/personal-access-tokens/{id}.
func (s *Server) deletePersonalToken(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	return s.revokeUserToken(w, r, u, true)
}

// revokeUserToken revokes a live token of the user; with personalOnly, only a personal
// access token. Anything else, someone else's token included, is 404.
func (s *Server) revokeUserToken(w http.ResponseWriter, r *http.Request, u apiUser, personalOnly bool) *Error {
	ctx := r.Context()
	t, err := s.apiStore.GetAccessToken(ctx, r.PathValue("id"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return errUnavailable("reading token", err)
	}
	if err != nil || t.UserID != u.id || t.Provider != u.provider || t.Revoked {
		return errAPI(http.StatusNotFound, "not_found", "no such token")
	}
	if personalOnly {
		c, err := s.apiStore.GetClient(ctx, t.ClientID)
		if err != nil {
			return errUnavailable("reading client", err)
		}
		if !c.HasGrant(GrantPersonalAccess) {
			return errAPI(http.StatusNotFound, "not_found", "no such personal access token")
		}
	}
	if err := s.apiStore.RevokeAccessToken(ctx, t.ID); err != nil {
		return errUnavailable("revoking token", err)
	}
	s.revoked(ctx, reasonUser, hintAccessToken, t.ID, t.ClientID, t.UserID)
	if !personalOnly {
		if oerr := s.withdrawConsentIfNoLiveToken(ctx, u, t.ClientID); oerr != nil {
			return oerr
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// withdrawConsentIfNoLiveToken forgets the user's consent for a client once the user has
// revoked its last live token, as Passport does (it skips the prompt only while a valid
// token exists): revoking an app on the dashboard means the next authorization asks again.
func (s *Server) withdrawConsentIfNoLiveToken(ctx context.Context, u apiUser, clientID string) *Error {
	live, err := s.apiStore.ListUserTokens(ctx, u.provider, u.id, s.now())
	if err != nil {
		return errUnavailable("listing tokens", err)
	}
	for _, t := range live {
		if t.ClientID == clientID && !t.Revoked {
			return nil
		}
	}
	if err := s.apiStore.DeleteConsent(ctx, u.provider, u.id, clientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return errUnavailable("withdrawing consent", err)
	}
	return nil
}

// personalTokenInput is the body of POST /oauth/personal-access-tokens.
type personalTokenInput struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// Errors is ignored: Passport's PersonalAccessTokens component sends its form object
	// back whole, its list of the last answer's errors included.
	Errors json.RawMessage `json:"errors,omitempty"`
}

// createPersonalToken is POST /oauth/personal-access-tokens: the token is in this answer
// only.
func (s *Server) createPersonalToken(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	var in personalTokenInput
	if oerr := readJSON(w, r, &in); oerr != nil {
		return oerr
	}
	errs := validationErrors{}
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		errs.add("name", "the name is required")
	case len(in.Name) > maxTokenNameLen:
		errs.add("name", "the name must be at most 255 bytes")
	}
	for _, sc := range cleanScopes(in.Scopes) {
		switch {
		case sc == scopes.Wildcard:
			errs.add("scopes", "the scope * cannot be given to a personal access token")
		case !s.cfg.Scopes.Defined(sc):
			errs.add("scopes", "the scope "+quoteForError(sc)+" is not defined")
		}
	}
	if oerr := errs.err(); oerr != nil {
		return oerr
	}
	tok, err := s.issuePersonalToken(r.Context(), s.issuerFor(r), u.id, in.Name, in.Scopes, u.provider)
	var oerr *Error
	switch {
	case errors.Is(err, ErrNoPersonalAccessClient):
		return errAPI(http.StatusServiceUnavailable, "temporarily_unavailable", "personal access tokens are not set up on this server").logged(
			"a user asked for a personal access token, but the provider has no personal access client; run `caddy oauth install`", nil)
	case errors.As(err, &oerr):
		return oerr // an outage while recording the token, logged where it is answered
	case err != nil:
		return errUnavailable("issuing personal access token", err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"access_token": tok.Token,
		"accessToken":  tok.Token, // Passport's name
		"expires_in":   tok.ExpiresIn,
		"token":        toTokenJSON(tok.Record, tok.ClientName),
	})
	return nil
}
