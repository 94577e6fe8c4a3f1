package authserver

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Limits on what a user may register through the API.
const (
	maxClientNameLen   = 255
	maxRedirectURIs    = 10
	maxRedirectURILen  = 2000
	maxClientsPerOwner = 100
)

// clientJSON is a client as the API shows it; Secret is set only in the answer that
// created it, the one time it exists in clear.
type clientJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	RedirectURIs []string  `json:"redirect_uris"`
	Grants       []string  `json:"grants"`
	Confidential bool      `json:"confidential"`
	Secret       string    `json:"secret,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func toClientJSON(c *store.Client) clientJSON {
	uris := c.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	return clientJSON{ID: c.ID, Name: c.Name, RedirectURIs: uris, Grants: c.Grants,
		Confidential: c.Confidential(), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// clientInput is the body of POST and PUT /oauth/clients.
type clientInput struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	// Confidential, on creation only, gives the client a secret; false makes a public
	// client (a single-page or native app, which must use PKCE). Default: true.
	Confidential *bool `json:"confidential,omitempty"`
}

// validate trims the input and reports every problem.
func (in *clientInput) validate() validationErrors {
	errs := validationErrors{}
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
		errs.add("redirect_uris", "at least one redirect URI is required")
	case len(in.RedirectURIs) > maxRedirectURIs:
		errs.add("redirect_uris", "at most 10 redirect URIs are allowed")
	default:
		seen := map[string]bool{}
		for _, u := range in.RedirectURIs {
			if reason := redirectURIProblem(u); reason != "" {
				errs.add("redirect_uris", quoteForError(u)+": "+reason)
			} else if seen[u] {
				errs.add("redirect_uris", quoteForError(u)+": listed twice")
			}
			seen[u] = true
		}
	}
	return errs
}

// redirectURIProblem says why u cannot be a registered redirect URI, or "". Following
// RFC 9700 §2.1 and RFC 8252: https; http only to a loopback host (a native app's local
// listener); or a private-use scheme in reverse-domain form (com.example.app:/cb). That
// excludes javascript:, data: and the like. No fragment (RFC 6749 §3.1.2), no userinfo.
func redirectURIProblem(raw string) string {
	if len(raw) > maxRedirectURILen {
		return "longer than 2000 bytes"
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "contains spaces or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "not an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" {
			return "has no host"
		}
	case scheme == "http":
		if !isLoopbackHost(u.Hostname()) {
			return "http is allowed only for a loopback host; use https"
		}
	case strings.Contains(scheme, "."):
		// A private-use scheme of a native app (RFC 8252 §7.1).
	default:
		return "the scheme must be https, http on a loopback host, or a reverse-domain private-use scheme"
	}
	return ""
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
	now := s.now().UTC().Truncate(time.Microsecond)
	c := &store.Client{
		ID:           uuid.NewString(),
		Name:         in.Name,
		RedirectURIs: in.RedirectURIs,
		Grants:       []string{GrantAuthorizationCode, GrantRefreshToken},
		Provider:     u.provider,
		UserID:       u.id,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	var secret string
	if in.Confidential == nil || *in.Confidential {
		secret = NewSecret()
		c.SecretHash = HashSecret(secret)
	}
	if err := s.apiStore.CreateClient(ctx, c); err != nil {
		return errUnavailable("creating client", err)
	}
	out := toClientJSON(c)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// updateClient is PUT /oauth/clients/{id}: rename the user's client and replace its
// redirect URIs. The secret and grants do not change.
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
