package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Limits on what a user may register through the API.
const (
	maxClientNameLen   = 255
	maxRedirectURIs    = 10
	maxClientsPerOwner = 100
)

// clientJSON is a client as the API shows it, with Laravel Passport's fields beside ours
// (user_id, provider, redirect, personal_access_client, password_client, revoked,
// plainSecret) so Passport's Vue components and scripts read it unchanged. Secret and
// PlainSecret are set only in the answer that created it, the one time it exists in
// clear (Passport with hashed secrets answers plainSecret there too).
type clientJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	Grants       []string `json:"grants"`
	Confidential bool     `json:"confidential"`
	// DPoPBoundAccessTokens: the client's tokens are always DPoP-bound (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool      `json:"dpop_bound_access_tokens"`
	Secret                string    `json:"secret,omitempty"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`

	// Passport's names for the same client.
	UserID               string `json:"user_id"`
	Provider             string `json:"provider"`
	Redirect             string `json:"redirect"` // the redirect URIs, comma-separated
	PersonalAccessClient bool   `json:"personal_access_client"`
	PasswordClient       bool   `json:"password_client"`
	Revoked              bool   `json:"revoked"`
	PlainSecret          string `json:"plainSecret,omitempty"`
}

func toClientJSON(c *store.Client) clientJSON {
	uris := c.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	return clientJSON{ID: c.ID, Name: c.Name, RedirectURIs: uris, Grants: c.Grants,
		Confidential: c.Confidential(), DPoPBoundAccessTokens: c.RequireDPoP, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		UserID: c.UserID, Provider: c.Provider, Redirect: strings.Join(uris, ","),
		PersonalAccessClient: c.HasGrant(GrantPersonalAccess), PasswordClient: c.HasGrant(GrantPassword),
		Revoked: c.Revoked}
}

// clientInput is the body of POST and PUT /oauth/clients: ours ({name, redirect_uris})
// or Laravel Passport's ({name, redirect}, redirect one URL or several comma-separated).
type clientInput struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	// Redirect is Passport's field: one redirect URI, or several separated by commas.
	Redirect *string `json:"redirect"`
	// Confidential, on creation only, gives the client a secret; false makes a public
	// client (a single-page or native app, which must use PKCE). Default: true.
	Confidential *bool `json:"confidential,omitempty"`
	// DPoPBoundAccessTokens (RFC 9449 §5.2 client metadata) makes the token endpoint
	// refuse the client's requests without a DPoP proof, so each of its tokens is bound
	// to a key it holds. Absent: false on creation, unchanged on update.
	DPoPBoundAccessTokens *bool `json:"dpop_bound_access_tokens,omitempty"`
	// Errors is ignored: Passport's Vue components send their form object back whole,
	// its list of the last answer's errors included.
	Errors json.RawMessage `json:"errors,omitempty"`
}

// validate trims the input and reports every problem, under the redirect field the
// caller used (redirect_uris, or Passport's redirect).
func (in *clientInput) validate() validationErrors {
	errs := validationErrors{}
	uriField := "redirect_uris"
	if in.Redirect != nil {
		uriField = "redirect"
		if in.RedirectURIs != nil {
			errs.add("redirect", "give redirect or redirect_uris, not both")
			return errs
		}
		in.RedirectURIs = splitRedirect(*in.Redirect)
	}
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		errs.add("name", "the name is required")
	case len(in.Name) > maxClientNameLen:
		errs.add("name", "the name must be at most 255 bytes")
	case strings.IndexFunc(in.Name, unicode.IsControl) >= 0:
		errs.add("name", "the name must not contain control characters")
	}
	switch {
	case len(in.RedirectURIs) == 0:
		errs.add(uriField, "at least one redirect URI is required")
	case len(in.RedirectURIs) > maxRedirectURIs:
		errs.add(uriField, "at most 10 redirect URIs are allowed")
	default:
		seen := map[string]bool{}
		for _, u := range in.RedirectURIs {
			var bad *RedirectURIError
			if errors.As(StrictRedirectURIs.Check(u), &bad) {
				errs.add(uriField, quoteForError(u)+": "+bad.Reason)
			} else if seen[u] {
				errs.add(uriField, quoteForError(u)+": listed twice")
			}
			seen[u] = true
		}
	}
	return errs
}

// splitRedirect reads Passport's redirect field: URIs separated by commas, as Passport
// stores them, each trimmed; empty parts are dropped.
func splitRedirect(v string) []string {
	out := []string{}
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// ownedClient returns the user's live client id; a client that does not exist, is
// revoked or is someone else's is answered alike with 404.
func (s *Server) ownedClient(r *http.Request, u apiUser) (*store.Client, *Error) {
	c, err := s.apiStore.GetClient(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, errUnavailable("reading client", err)
	case c.UserID == u.id && c.Provider == u.provider && !c.Revoked:
		return c, nil
	}
	return nil, errAPI(http.StatusNotFound, "not_found", "no such client")
}

// listClients is GET /oauth/clients: the user's clients, oldest first.
func (s *Server) listClients(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	clients, err := s.apiStore.ListClientsByOwner(r.Context(), u.provider, u.id)
	if err != nil {
		return errUnavailable("listing clients", err)
	}
	out := make([]clientJSON, 0, len(clients))
	for _, c := range clients {
		out = append(out, toClientJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createClient is POST /oauth/clients: an authorization code client owned by the user.
// The secret is in this answer only; the store keeps its digest.
func (s *Server) createClient(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	var in clientInput
	if oerr := readJSON(w, r, &in); oerr != nil {
		return oerr
	}
	if oerr := in.validate().err(); oerr != nil {
		return oerr
	}
	ctx := r.Context()
	existing, err := s.apiStore.ListClientsByOwner(ctx, u.provider, u.id)
	if err != nil {
		return errUnavailable("listing clients", err)
	}
	if len(existing) >= maxClientsPerOwner {
		errs := validationErrors{}
		errs.add("name", "you have reached the limit of 100 clients; delete one first")
		return errs.err()
	}
	// validate has checked the redirect URIs with the same policy, to list every problem
	// in one answer; NewClient checks them again so no surface can skip the policy.
	c, secret, err := NewClient(ClientSpec{
		Name:              in.Name,
		RedirectURIs:      in.RedirectURIs,
		Grants:            []string{GrantAuthorizationCode, GrantRefreshToken},
		GenerateSecret:    in.Confidential == nil || *in.Confidential,
		RequireDPoP:       in.DPoPBoundAccessTokens != nil && *in.DPoPBoundAccessTokens,
		RedirectURIPolicy: StrictRedirectURIs,
		Provider:          u.provider,
		OwnerUserID:       u.id,
	}, s.now().Truncate(time.Microsecond))
	if err != nil {
		errs := validationErrors{}
		field := "redirect_uris"
		if in.Redirect != nil {
			field = "redirect"
		}
		errs.add(field, err.Error())
		return errs.err()
	}
	if err := s.apiStore.CreateClient(ctx, c); err != nil {
		return errUnavailable("creating client", err)
	}
	out := toClientJSON(c)
	out.Secret, out.PlainSecret = secret, secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// updateClient is PUT /oauth/clients/{id}: rename the user's client, replace its
// redirect URIs, and, when given, change whether its tokens must be DPoP-bound. The
// secret and grants do not change.
func (s *Server) updateClient(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	c, oerr := s.ownedClient(r, u)
	if oerr != nil {
		return oerr
	}
	var in clientInput
	if oerr := readJSON(w, r, &in); oerr != nil {
		return oerr
	}
	errs := in.validate()
	if in.Confidential != nil {
		errs.add("confidential", "a client's confidentiality cannot change; make a new client")
	}
	if oerr := errs.err(); oerr != nil {
		return oerr
	}
	c.Name, c.RedirectURIs = in.Name, in.RedirectURIs
	if in.DPoPBoundAccessTokens != nil {
		c.RequireDPoP = *in.DPoPBoundAccessTokens
	}
	c.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := s.apiStore.UpsertClient(r.Context(), c); err != nil {
		return errUnavailable("updating client", err)
	}
	writeJSON(w, http.StatusOK, toClientJSON(c))
	return nil
}

// deleteClient is DELETE /oauth/clients/{id}: the client is revoked with every token and
// code it was given, so guards following the revocation feed stop its tokens too.
func (s *Server) deleteClient(w http.ResponseWriter, r *http.Request, u apiUser) *Error {
	c, oerr := s.ownedClient(r, u)
	if oerr != nil {
		return oerr
	}
	ids, err := s.apiStore.RevokeClient(r.Context(), c.ID)
	if err != nil {
		return errUnavailable("revoking client", err)
	}
	for _, id := range ids {
		s.revoked(r.Context(), reasonClientDeleted, hintAccessToken, id, c.ID, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
