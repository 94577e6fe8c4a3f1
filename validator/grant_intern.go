package validator

import (
	"slices"
	"strings"
	"sync"
)

// maxSharedGrants bounds the interner: past it, the table starts again empty (the
// grants already shared stay with the tokens that hold them), so tokens with ever-new
// scope sets cannot grow it without limit.
const maxSharedGrants = 1 << 16

// grantInterner gives tokens with equal grants one shared Grant: a million cached tokens
// of a few thousand clients and scope sets then hold a few thousand grants. It runs when
// a token enters the cache, never on a hit.
type grantInterner struct {
	mu sync.Mutex
	m  map[grantKey]*Grant
}

// grantKey is everything a shared Grant holds. Scopes follow from ScopeString (it is
// their canonical join); aud is joined with NUL, and since an audience value may itself
// hold a NUL, a found grant's audience list is compared too.
type grantKey struct {
	client, scope, provider, issuer, aud string
	subIsClient                          bool
}

// intern returns the shared grant equal to g, making one (without g's claims, and with
// copies of its strings, so that it pins nothing of the token it came from) if needed.
func (in *grantInterner) intern(g *Grant) *Grant {
	k := grantKey{client: g.ClientID, scope: g.ScopeString, provider: g.Provider, issuer: g.Issuer, subIsClient: g.subIsClient}
	switch len(g.Audience) {
	case 0:
	case 1:
		k.aud = g.Audience[0]
	default:
		k.aud = strings.Join(g.Audience, "\x00")
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.m[k]; ok && slices.Equal(s.Audience, g.Audience) {
		return s
	}
	if in.m == nil || len(in.m) >= maxSharedGrants {
		in.m = make(map[grantKey]*Grant)
	}
	s := &Grant{
		ClientID:    strings.Clone(g.ClientID),
		Scopes:      cloneStrings(g.Scopes),
		ScopeString: strings.Clone(g.ScopeString),
		Provider:    strings.Clone(g.Provider),
		Issuer:      strings.Clone(g.Issuer),
		Audience:    cloneStrings(g.Audience),
		subIsClient: g.subIsClient,
	}
	in.m[k] = s
	return s
}

func cloneStrings(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}
