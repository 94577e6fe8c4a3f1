package caddymodule

import (
	"crypto"
	"sync"

	"github.com/caddyoauth/caddy-oauth/validator"
)

// issuedTokens connects the oauth_server handlers of this process to its oauth_guard
// handlers: a server announces every access token it records, and each guard of the
// token's issuer admits it into its token cache (validator.JWTVerifier.Admit), so the
// token's first request through the guard skips the signature check. Admit takes nothing
// on trust: the token's kid must name, in the guard's own key set, the public key that
// signed it, and its claims must pass the guard's issuer, audience and time rules.
//
// Guards subscribe per token cache: guards sharing a cache (same JWKS, issuer, audience,
// leeway, passport mode) admit a token once. A server whose issuer no guard of the
// process names pays one map lookup per token.
var issuedTokens = &issuedTokenFeed{subs: map[string]map[string]*issuedSub{}}

type issuedTokenFeed struct {
	mu   sync.RWMutex
	subs map[string]map[string]*issuedSub // issuer -> token cache key -> subscriber
}

type issuedSub struct {
	verifier *validator.JWTVerifier
	refs     int
}

// subscribe makes v admit the tokens of issuer; guards sharing cacheKey count as one.
func (f *issuedTokenFeed) subscribe(issuer, cacheKey string, v *validator.JWTVerifier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byCache := f.subs[issuer]
	if byCache == nil {
		byCache = map[string]*issuedSub{}
		f.subs[issuer] = byCache
	}
	if s := byCache[cacheKey]; s != nil {
		s.refs++
		return
	}
	byCache[cacheKey] = &issuedSub{verifier: v, refs: 1}
}

// unsubscribe undoes one subscribe.
func (f *issuedTokenFeed) unsubscribe(issuer, cacheKey string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.subs[issuer][cacheKey]
	if s == nil {
		return
	}
	if s.refs--; s.refs == 0 {
		delete(f.subs[issuer], cacheKey)
		if len(f.subs[issuer]) == 0 {
			delete(f.subs, issuer)
		}
	}
}

// issued is authserver.Config.OnAccessTokenIssued.
func (f *issuedTokenFeed) issued(issuer, token string, signer crypto.PublicKey) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, s := range f.subs[issuer] {
		s.verifier.Admit(token, signer)
	}
}
