package authserver

import (
	"context"
	"errors"
	"slices"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// OpenID Connect scopes (Core §5.4). They are always defined: a configuration may give
// them its own descriptions with `scope`, but cannot lose them.
const (
	// ScopeOpenID asks for an ID token and gives access to the userinfo endpoint.
	ScopeOpenID = "openid"
	// ScopeProfile asks for the user's name and the like (UserClaims' profile fields).
	ScopeProfile = "profile"
	// ScopeEmail asks for the user's email address and whether it is verified.
	ScopeEmail = "email"
	// ScopeOfflineAccess asks for a refresh token (Core §11). Defined so that clients
	// that ask for it are not refused; whether a refresh token comes is still the client's
	// refresh_token grant, as for every other request.
	ScopeOfflineAccess = "offline_access"
)

// openIDScopes are the OpenID Connect scopes with the words the consent screen shows,
// unless the configuration describes them itself.
var openIDScopes = []scopes.Definition{
	{Name: ScopeOpenID, Description: "Sign you in with your account"},
	{Name: ScopeProfile, Description: "See your name and profile details"},
	{Name: ScopeEmail, Description: "See your email address"},
	{Name: ScopeOfflineAccess, Description: "Stay connected to your account while you are away"},
}

// UserClaims are the standard claims (OpenID Connect Core §5.1) a user provider knows of
// a user. Empty fields are left out of tokens and userinfo answers.
type UserClaims struct {
	// Profile scope.
	Name              string `json:"name,omitempty"`
	GivenName         string `json:"given_name,omitempty"`
	FamilyName        string `json:"family_name,omitempty"`
	MiddleName        string `json:"middle_name,omitempty"`
	Nickname          string `json:"nickname,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Profile           string `json:"profile,omitempty"`
	Picture           string `json:"picture,omitempty"`
	Website           string `json:"website,omitempty"`
	Gender            string `json:"gender,omitempty"`
	Birthdate         string `json:"birthdate,omitempty"`
	Zoneinfo          string `json:"zoneinfo,omitempty"`
	Locale            string `json:"locale,omitempty"`
	// UpdatedAt is Unix seconds; 0 is left out.
	UpdatedAt int64 `json:"updated_at,omitempty"`
	// Email scope.
	Email string `json:"email,omitempty"`
	// EmailVerified is nil when the provider cannot tell.
	EmailVerified *bool `json:"email_verified,omitempty"`
}

// ProfileClaimNames and EmailClaimNames list the claims each scope releases, as the
// metadata's claims_supported and users sql's column names spell them.
var (
	ProfileClaimNames = []string{"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"}
	EmailClaimNames = []string{"email", "email_verified"}
)

// UserClaimsSource is implemented by a UserProvider that can describe its users; without
// it, the profile and email scopes release nothing beyond sub.
type UserClaimsSource interface {
	// UserClaims returns what the provider knows of the user; ErrUnknownUser (also what a
	// personal access token for a missing user fails with) when the user does not exist.
	UserClaims(ctx context.Context, userID string) (*UserClaims, error)
}

// releasedTo keeps of c only what the granted scopes release: profile fields with
// profile, email fields with email. It returns nil when nothing is released.
func (c *UserClaims) releasedTo(granted []string) *UserClaims {
	if c == nil {
		return nil
	}
	profile, email := hasScope(granted, ScopeProfile), hasScope(granted, ScopeEmail)
	if !profile && !email {
		return nil
	}
	out := &UserClaims{}
	if profile {
		*out = *c
		out.Email, out.EmailVerified = "", nil
	}
	if email {
		out.Email, out.EmailVerified = c.Email, c.EmailVerified
	}
	if *out == (UserClaims{}) {
		return nil
	}
	return out
}

// hasScope reports whether granted holds scope by name (the wildcard does not count: a
// personal access token with * is not a sign-in).
func hasScope(granted []string, scope string) bool { return slices.Contains(granted, scope) }

// releasesUserClaims reports whether granted holds a scope that releases user claims.
func releasesUserClaims(granted []string) bool {
	return hasScope(granted, ScopeProfile) || hasScope(granted, ScopeEmail)
}

// userClaims asks the user's provider for the claims the scopes release, or returns nil
// when they release none, the token has no user, or the provider describes no one.
func (s *Server) userClaims(ctx context.Context, provider, userID string, granted []string) (*UserClaims, *Error) {
	if userID == "" || !releasesUserClaims(granted) {
		return nil, nil
	}
	_, p := s.userProvider(provider)
	source, ok := p.(UserClaimsSource)
	if !ok {
		return nil, nil
	}
	c, err := source.UserClaims(ctx, userID)
	switch {
	case errors.Is(err, ErrUnknownUser):
		return nil, nil
	case err != nil:
		return nil, errUnavailable("reading the user's claims", err)
	}
	return c.releasedTo(granted), nil
}

// UserClaims returns a built-in user's email (built-in users have no profile fields, and
// their addresses are not verified by this server, so email_verified is left out).
func (b *BuiltinUsers) UserClaims(ctx context.Context, userID string) (*UserClaims, error) {
	u, err := b.users.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, err
	}
	return &UserClaims{Email: u.Email}, nil
}
