package validator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of IntrospectionOptions.
const (
	// DefaultIntrospectionTimeout bounds one introspection call, so a hung server turns
	// into a 503 rather than a hung request.
	DefaultIntrospectionTimeout = 5 * time.Second
	// maxIntrospectionAnswer bounds what a call reads: a real answer is well under 4 KiB.
	maxIntrospectionAnswer = 64 << 10
)

// ErrRevoked is the cause of an InvalidToken refusal for a token found in the
// revocation feed, so the host can tell revoked tokens apart in metrics.
var ErrRevoked = errors.New("token revoked")

// Verifier checks a bearer token and returns who it speaks for; every failure is a
// *Refusal. JWTVerifier and Introspector both satisfy it.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Identity, error)
}

// IntrospectionOptions configures an Introspector.
type IntrospectionOptions struct {
	// URL is the RFC 7662 introspection endpoint; required, http or https.
	URL string
	// Credentials authenticate the guard to the endpoint; required.
	Credentials CallerCredentials
	// HTTPClient makes the calls (and the client-credentials token requests); default a
	// client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one call. Zero means DefaultIntrospectionTimeout.
	Timeout time.Duration
	// Cache, if set, remembers answers; without it every request is introspected.
	Cache *IntrospectionCache
	// CacheTTL is the longest an active answer is trusted (never past the token's exp).
	// Zero means DefaultIntrospectionCacheTTL.
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive answer is remembered. Zero means
	// DefaultNegativeCacheTTL; negative disables negative caching.
	NegativeTTL time.Duration
	// Issuer, when set, must equal the answer's iss if the answer names one.
	Issuer string
	// Audiences, when non-empty, requires the answer's aud to contain one of them.
	Audiences []string
	// Leeway is the clock skew allowed on exp and nbf. Zero means DefaultLeeway; negative
	// means none.
	Leeway time.Duration
	// Local, when set, verifies each token locally (a JWTVerifier) before it is
	// introspected: a token must pass both, the local check on every miss and the
	// server's word on first sight. The identity is then the locally verified one (the
	// signed claims), and the server's answer must name the same jti if it names one.
	Local Verifier
	// Revoked, when set, is asked about a locally verified token's jti before the
	// introspection call, so a token the revocation feed names costs no call.
	Revoked func(jti string) bool
	// RetryAfter is what an Unavailable refusal asks callers to wait. Zero means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// OnCall, if set, is told about every introspection call: how long it took and its
	// outcome ("active", "inactive" or "error"). For metrics; it must be cheap.
	OnCall func(took time.Duration, outcome string)
	// OnError, if set, is told why a call failed (never containing the token), for logs.
	OnError func(error)
	// Now overrides the clock; for tests.
	Now func() time.Time
}

// Introspector checks tokens by asking the authorization server (RFC 7662), caching
// answers so a token costs one call per cache period however many requests carry it.
// A server that cannot be asked yields an Unavailable refusal, never a pass.
type Introspector struct {
	url         string
	auth        *callerAuth
	client      *http.Client
	timeout     time.Duration
	cache       *IntrospectionCache
	cacheTTL    time.Duration
	negativeTTL time.Duration
	issuer      string
	audiences   []string
	leeway      time.Duration
	local       Verifier
	revoked     func(string) bool
	retryAfter  time.Duration
	onCall      func(time.Duration, string)
	onError     func(error)
	now         func() time.Time
}

// NewIntrospector checks opts and builds an introspector.
func NewIntrospector(opts IntrospectionOptions) (*Introspector, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("introspection endpoint %q: not an http(s) URL", opts.URL)
	}
	in := &Introspector{
		url:         opts.URL,
		client:      opts.HTTPClient,
		timeout:     opts.Timeout,
		cache:       opts.Cache,
		cacheTTL:    opts.CacheTTL,
		negativeTTL: opts.NegativeTTL,
		issuer:      opts.Issuer,
		audiences:   append([]string(nil), opts.Audiences...),
		leeway:      opts.Leeway,
		local:       opts.Local,
		revoked:     opts.Revoked,
		retryAfter:  opts.RetryAfter,
		onCall:      opts.OnCall,
		onError:     opts.OnError,
		now:         opts.Now,
	}
	if in.timeout <= 0 {
		in.timeout = DefaultIntrospectionTimeout
	}
	if in.client == nil {
		// Many requests may miss at once (one call per distinct token); the default
		// transport keeps only two idle connections per host and would reconnect for most.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		in.client = &http.Client{Timeout: in.timeout, Transport: tr}
	}
	if in.cacheTTL <= 0 {
		in.cacheTTL = DefaultIntrospectionCacheTTL
	}
	if in.negativeTTL == 0 {
		in.negativeTTL = DefaultNegativeCacheTTL
	}
	if in.leeway == 0 {
		in.leeway = DefaultLeeway
	} else if in.leeway < 0 {
		in.leeway = 0
	}
	if in.retryAfter <= 0 {
		in.retryAfter = DefaultRetryAfter
	}
	if in.now == nil {
		in.now = time.Now
	}
	in.auth, err = newCallerAuth(opts.Credentials, in.client)
	if err != nil {
		return nil, err
	}
	return in, nil
}

// Verify returns the identity of an active token. Cached answers are used while they
// last; a miss asks the server once however many requests wait on it. Refusals:
// InvalidToken for an inactive, expired or mismatched token, Unavailable when the server
// could not be asked (or gave no usable answer) and nothing is cached.
func (in *Introspector) Verify(ctx context.Context, token string) (*Identity, error) {
	// Refused before it is hashed for the cache or sent anywhere: real tokens are ~1 KiB.
	if len(token) > maxTokenSize {
		return nil, invalidToken("token too large", nil)
	}
	now := in.now()
	if in.cache != nil {
		if id, ok := in.cache.getActive(token); ok {
			// The cache TTL already stops at exp; this re-check covers clock precision and
			// keeps a hit exactly as strict as a fresh answer.
			if !now.Before(id.ExpiresAt().Add(in.leeway)) && !id.ExpiresAt().IsZero() {
				in.cache.active.Delete(token)
				return nil, invalidToken("token expired", nil)
			}
			return id, nil
		}
		if in.cache.isInactive(token) {
			return nil, invalidToken("token is not active", nil)
		}
	}
	var local *Identity
	if in.local != nil {
		id, err := in.local.Verify(ctx, token)
		if err != nil {
			return nil, err
		}
		if in.revoked != nil && id.TokenID != "" && in.revoked(id.TokenID) {
			return nil, invalidToken("token revoked", ErrRevoked)
		}
		local = id
	}
	if in.cache == nil {
		return in.introspect(ctx, token, local)
	}
	// One call per token however many requests miss at once. The call runs on a context
	// detached from the first caller's, so that caller hanging up does not fail the
	// others; each caller still stops waiting when its own context ends.
	ch := in.cache.flight.DoChan(flightKey(token), func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.timeout)
		defer cancel()
		return in.introspect(cctx, token, local)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Identity), nil
	case <-ctx.Done():
		return nil, RefuseUnavailable(in.retryAfter, ctx.Err())
	}
}

// introspectionAnswer is an RFC 7662 §2.2 response: active plus the token's claims.
type introspectionAnswer struct {
	Active    *bool      `json:"active"`
	TokenType flexString `json:"token_type"`
	// Aud shadows the claim set's, to accept a number (answerAudience); copied into it
	// after decoding.
	Aud answerAudience `json:"aud"`
	claimSet
}

// introspect asks the server about token and caches the answer.
func (in *Introspector) introspect(ctx context.Context, token string, local *Identity) (*Identity, error) {
	start := time.Now()
	body, err := in.call(ctx, token)
	if err != nil {
		in.report(start, "error")
		if in.onError != nil {
			in.onError(err)
		}
		return nil, RefuseUnavailable(in.retryAfter, err)
	}
	var ans introspectionAnswer
	err = json.Unmarshal(body, &ans)
	ans.claimSet.Aud = audience(ans.Aud)
	if err != nil || ans.Active == nil {
		// A 200 that is not an RFC 7662 answer says nothing about the token: neither
		// pass it nor call it bad.
		if err == nil {
			err = errors.New(`no boolean "active" member`)
		}
		err = fmt.Errorf("introspection endpoint %s gave an unusable answer: %w", in.url, err)
		in.report(start, "error")
		if in.onError != nil {
			in.onError(err)
		}
		return nil, RefuseUnavailable(in.retryAfter, err)
	}
	now := in.now()
	if !*ans.Active {
		in.report(start, "inactive")
		if in.cache != nil {
			in.cache.setInactive(token, in.negativeTTL)
		}
		return nil, invalidToken("token is not active", nil)
	}
	in.report(start, "active")
	id, err := in.accept(&ans, body, local, now)
	if err != nil {
		// A token active on the server but not acceptable here (wrong issuer, expired by
		// our clock, a refresh token) stays unacceptable: remember it like an inactive one.
		if in.cache != nil {
			in.cache.setInactive(token, in.negativeTTL)
		}
		return nil, err
	}
	if in.cache != nil {
		ttl := in.cacheTTL
		if !id.ExpiresAt().IsZero() {
			ttl = min(ttl, id.ExpiresAt().Add(in.leeway).Sub(now))
		}
		in.cache.setActive(token, id, ttl)
	}
	return id, nil
}

// accept applies this guard's checks to an active answer and builds the identity.
func (in *Introspector) accept(ans *introspectionAnswer, body []byte, local *Identity, now time.Time) (*Identity, error) {
	// A refresh token is not a bearer credential for APIs, whatever the server says about
	// it being active.
	if strings.EqualFold(string(ans.TokenType), "refresh_token") {
		return nil, invalidToken("not an access token", nil)
	}
	// RFC 9449 §6.2: a DPoP-bound token is introspected with token_type DPoP and cnf.jkt;
	// one without the jkt cannot be checked against its proof.
	if strings.EqualFold(string(ans.TokenType), "DPoP") && ans.Cnf.jkt == "" {
		return nil, invalidToken("the introspection answer calls the token DPoP-bound but names no key (cnf.jkt)", nil)
	}
	if ans.Cnf.set && !ans.Cnf.checkable() {
		return nil, uncheckableBinding
	}
	if ans.Exp.set && !now.Before(ans.Exp.time().Add(in.leeway)) {
		return nil, invalidToken("token expired", nil)
	}
	if ans.Nbf.set && now.Add(in.leeway).Before(ans.Nbf.time()) {
		return nil, invalidToken("token not yet valid", nil)
	}
	if in.issuer != "" && ans.Iss != "" && string(ans.Iss) != in.issuer {
		return nil, invalidToken("issuer mismatch", nil)
	}
	if len(in.audiences) > 0 && !audienceContains(in.audiences, ans.Aud) {
		return nil, invalidToken("audience mismatch", nil)
	}
	if local != nil {
		if ans.Jti != "" && local.TokenID != "" && string(ans.Jti) != local.TokenID {
			return nil, invalidToken("introspection answer names another token", nil)
		}
		if ans.Cnf.set {
			if local.bound() && (local.jkt != ans.Cnf.jkt || local.x5t != ans.Cnf.x5t) {
				return nil, invalidToken("the introspection answer binds the token to another key", nil)
			}
			if !local.bound() {
				// The server knows a binding the JWT does not carry: the server's word holds.
				local = withBinding(local, ans.Cnf)
			}
		}
		if ans.Exp.set && ans.Exp.time().Before(local.ExpiresAt()) {
			// The server may have shortened the token's life; never trust it longer.
			return localWithExpiry(local, ans.Exp.time()), nil
		}
		return local, nil
	}
	return ans.identity(body), nil
}

// withBinding copies id with its grant bound as cnf says.
func withBinding(id *Identity, cnf confirmation) *Identity {
	g := *id.Grant
	g.jkt, g.x5t = cnf.jkt, cnf.x5t
	return &Identity{Grant: &g, TokenID: id.TokenID, UserID: id.UserID, expires: id.expires}
}

// localWithExpiry copies a locally verified identity with an earlier expiry.
func localWithExpiry(id *Identity, exp time.Time) *Identity {
	return &Identity{Grant: id.Grant, TokenID: id.TokenID, UserID: id.UserID, expires: unixMicro(exp)}
}

// audienceContains reports whether got holds one of want; JWT and introspection
// audience checks share it.
func audienceContains(want, got []string) bool {
	for _, w := range want {
		for _, g := range got {
			if g == w {
				return true
			}
		}
	}
	return false
}

// call POSTs the token to the endpoint and returns the body of a 200 answer. With a
// client-credentials token, a 401 renews the token and tries once more, since the
// server may have revoked or forgotten the old one.
func (in *Introspector) call(ctx context.Context, token string) ([]byte, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if err := in.auth.authorize(req); err != nil {
			return nil, err
		}
		resp, err := in.client.Do(req)
		if err != nil {
			// *url.Error names the URL, not the form: the token is not in it.
			return nil, fmt.Errorf("calling introspection endpoint: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionAnswer+1))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading introspection answer from %s: %w", in.url, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			if len(body) > maxIntrospectionAnswer {
				return nil, fmt.Errorf("introspection answer from %s is too large", in.url)
			}
			return body, nil
		case resp.StatusCode == http.StatusUnauthorized && in.auth.usesToken() && attempt == 0:
			in.auth.rejected()
			continue
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("introspection endpoint %s refused the guard's credentials (%d)", in.url, resp.StatusCode)
		}
		return nil, fmt.Errorf("introspection endpoint %s answered %d", in.url, resp.StatusCode)
	}
}

func (in *Introspector) report(start time.Time, outcome string) {
	if in.onCall != nil {
		in.onCall(time.Since(start), outcome)
	}
}
