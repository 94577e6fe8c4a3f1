package validator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// CallerCredentials is how the guard authenticates itself to the authorization server's
// introspection endpoint and revocation feed: as an OAuth client allowed to introspect.
type CallerCredentials struct {
	// ClientID and ClientSecret are the guard's client credentials; both required.
	ClientID     string
	ClientSecret string
	// TokenURL, when set, makes the guard get an access token from this token endpoint by
	// the client_credentials grant and send it as a Bearer token, renewing it before it
	// expires. When empty, the credentials go in HTTP Basic on every call.
	TokenURL string
	// Scopes are asked for in the client_credentials request; optional.
	Scopes []string
}

// callerAuth adds the guard's credentials to outgoing requests.
type callerAuth struct {
	creds  CallerCredentials
	client *http.Client

	mu  sync.Mutex
	src oauth2.TokenSource // nil until first use; replaced when the server rejects its token
}

func newCallerAuth(creds CallerCredentials, client *http.Client) (*callerAuth, error) {
	if creds.ClientID == "" {
		return nil, errors.New("client_id is required")
	}
	if creds.ClientSecret == "" {
		return nil, errors.New("client_secret is required")
	}
	if creds.TokenURL != "" {
		u, err := url.Parse(creds.TokenURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("token_url %q: not an http(s) URL", creds.TokenURL)
		}
	}
	return &callerAuth{creds: creds, client: client}, nil
}

// tokenSource returns the current client-credentials token source, making one if needed.
// clientcredentials' source caches the token and fetches a new one shortly before expiry;
// concurrent callers share one fetch because the reuse source locks around it.
func (a *callerAuth) tokenSource() oauth2.TokenSource {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.src == nil {
		cfg := clientcredentials.Config{
			ClientID:     a.creds.ClientID,
			ClientSecret: a.creds.ClientSecret,
			TokenURL:     a.creds.TokenURL,
			Scopes:       a.creds.Scopes,
			AuthStyle:    oauth2.AuthStyleInHeader,
		}
		// The token source outlives any one request, so it gets a background context; the
		// HTTP client carries the timeout.
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, a.client)
		a.src = cfg.TokenSource(ctx)
	}
	return a.src
}

// authorize sets the Authorization header of req.
func (a *callerAuth) authorize(req *http.Request) error {
	if a.creds.TokenURL == "" {
		// RFC 6749 §2.3.1: form-urlencode both parts before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(a.creds.ClientID), url.QueryEscape(a.creds.ClientSecret))
		return nil
	}
	tok, err := a.tokenSource().Token()
	if err != nil {
		return fmt.Errorf("getting the guard's access token from %s: %w", a.creds.TokenURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// rejected is told that the server answered 401 to a request authorized by src's token,
// so the next call fetches a fresh token instead of reusing one the server revoked.
// With Basic credentials there is nothing to renew.
func (a *callerAuth) rejected() {
	if a.creds.TokenURL == "" {
		return
	}
	a.mu.Lock()
	a.src = nil
	a.mu.Unlock()
}

// usesToken reports whether calls carry a client-credentials token that may be renewed.
func (a *callerAuth) usesToken() bool { return a.creds.TokenURL != "" }
