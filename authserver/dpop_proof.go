package authserver

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/dpop"
	"github.com/caddyoauth/caddy-oauth/store"
)

// HeaderDPoP carries a DPoP proof (RFC 9449 §4.1); HeaderDPoPNonce a nonce the server
// hands out for the next proof (§8).
const (
	HeaderDPoP      = "DPoP"
	HeaderDPoPNonce = "DPoP-Nonce"
)

// dpopReplayPrefix begins the jti under which a DPoP proof is recorded in the store's
// client assertion table. Client assertions may not use it (checkAssertionClaims), so the
// two kinds never collide.
const dpopReplayPrefix = "dpop:"

// dpopNonceLabel names the nonce key among the secrets derived from the signing key.
const dpopNonceLabel = "dpop nonce"

// dpopProofs is the server's DPoP state: the verifier, which caches the proof keys it
// parsed, and the nonce keys of the current and previous signing keys.
type dpopProofs struct {
	verifier *dpop.Verifier
	st       dpopProofStorage

	mu     sync.Mutex // serialises deriving a new nonce key
	nonces atomic.Pointer[dpopNonceKeys]
}

// dpopNonceKeys are the nonce keys derived from one signing key (kid) and the one before
// it. Nonces are issued with cur; a nonce of prev is still accepted (for its life), so a
// key rotation seen by one node before another does not refuse the nonces the other
// still hands out, in either direction.
type dpopNonceKeys struct {
	kid       string
	cur, prev *dpop.Nonces
}

func newDPoPProofs(st dpopProofStorage) *dpopProofs {
	return &dpopProofs{verifier: dpop.NewVerifier(dpop.Options{}), st: st}
}

// valid reports whether nonce is one this server (or a node sharing its keys) issued
// and still accepts.
func (k *dpopNonceKeys) valid(nonce string, now time.Time) bool {
	return k.cur.Valid(nonce, now) || (k.prev != nil && k.prev.Valid(nonce, now))
}

// dpopNonceKeys returns the nonce keys of the current signing key. The HMAC key is
// derived from the signing key (keys.Signer.DeriveSecret), which every node sharing the
// store (or the same `keys` PEM) holds: they accept each other's nonces without sharing
// anything more. A rotation changes the key; a client holding an older nonce is told
// use_dpop_nonce with a fresh one, and retries.
func (s *Server) dpopNonceKeys() (*dpopNonceKeys, error) {
	signer := s.cfg.Keys.Signer()
	if signer == nil {
		return nil, errors.New("no signing key is loaded")
	}
	d := s.dpop
	if k := d.nonces.Load(); k != nil && k.kid == signer.KeyID() {
		return k, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.nonces.Load()
	if old != nil && old.kid == signer.KeyID() {
		return old, nil
	}
	secret, err := signer.DeriveSecret(dpopNonceLabel)
	if err != nil {
		return nil, err
	}
	n, err := dpop.NewNonces(secret, 0)
	if err != nil {
		return nil, err
	}
	next := &dpopNonceKeys{kid: signer.KeyID(), cur: n}
	if old != nil {
		next.prev = old.cur
	}
	d.nonces.Store(next)
	return next, nil
}

// errDPoP turns a refused proof into the token endpoint's answer: 400 with the RFC 9449
// code (invalid_dpop_proof, or use_dpop_nonce, §8) in the RFC 6749 §5.2 body.
func errDPoP(e *dpop.Error) *Error {
	return &Error{Code: e.Code, Description: e.Description, Status: http.StatusBadRequest}
}

// errInvalidDPoPProof is an invalid_dpop_proof answer (RFC 9449 §5).
func errInvalidDPoPProof(desc string) *Error {
	return errDPoP(&dpop.Error{Code: dpop.CodeInvalidProof, Description: desc})
}

// dpopProof checks the DPoP proof of r, a POST from the authenticated client to the
// endpoint at path (PathToken or PathPAR), as RFC 9449 §4.3 says: one DPoP header; htm
// POST; htu the endpoint's URL as the metadata publishes it (the issuer's origin, so it
// is the URL the client addressed, also behind a proxy); no ath; iat within a minute of
// now; a server nonce when the server requires one; and its jti never accepted before,
// on any node sharing the store. It returns nil, nil when r carries no proof.
func (s *Server) dpopProof(r *http.Request, client *store.Client, path string) (*dpop.Proof, *Error) {
	return s.verifyDPoPProof(r, client.ID, path, "")
}

// verifyDPoPProof is dpopProof for a request of any method to path, with, for a
// protected resource of this server (userinfo), the access token the proof must hash
// (ath); the proof is recorded as used under clientID (the token's client there).
func (s *Server) verifyDPoPProof(r *http.Request, clientID, path, accessToken string) (*dpop.Proof, *Error) {
	values := r.Header.Values(HeaderDPoP)
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, errInvalidDPoPProof("the request must carry one DPoP header, not several")
	}
	htu, err := dpop.NormalizeURL(s.issuerFor(r) + path)
	if err != nil {
		return nil, errInvalidDPoPProof("this server's own URL cannot be named by a DPoP proof")
	}
	now := s.now()
	req := &dpop.Request{Method: r.Method, URL: htu, AccessToken: accessToken, Now: now}
	if s.cfg.RequireDPoPNonce {
		keys, err := s.dpopNonceKeys()
		if err != nil {
			return nil, errUnavailable("deriving the DPoP nonce key", err)
		}
		req.Nonce = func(nonce string) bool { return keys.valid(nonce, now) }
	}
	p, err := s.dpop.verifier.Verify(values[0], req)
	if err != nil {
		var de *dpop.Error
		if errors.As(err, &de) {
			return nil, errDPoP(de)
		}
		return nil, errInvalidDPoPProof("the DPoP proof is invalid")
	}
	// Recorded until the verifier would refuse the proof anyway (iat + window; iat is
	// whole seconds, hence the extra second). The store's insert-if-absent makes the
	// check hold across nodes; the record is per client, and a proof replayed under
	// another client's credentials still binds tokens only its key's holder can use.
	expires := p.IssuedAt.Add(s.dpop.verifier.Window() + time.Second)
	switch err := s.dpop.st.UseClientAssertion(r.Context(), clientID, dpopReplayID(p), expires, now); {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, errDPoP(dpop.ErrReplayed)
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidClient("client authentication failed", false)
	case err != nil:
		return nil, errUnavailable("recording a DPoP proof", err, zap.String("client_id", clientID))
	}
	return p, nil
}

// dpopReplayID is the jti a proof is recorded under: its key's thumbprint and its own
// jti (unique per key, RFC 9449 §4.2), behind a prefix no client assertion may use.
func dpopReplayID(p *dpop.Proof) string {
	return dpopReplayPrefix + p.JKT + ":" + p.ID
}

// setDPoPNonce gives the answer to r a fresh DPoP-Nonce (RFC 9449 §8, §8.2) when the
// server requires nonces and r is part of a DPoP exchange: it carried a proof, or was
// refused for want of one. Successful answers carry one too, so a client always holds a
// recent nonce for its next request.
func (s *Server) setDPoPNonce(w http.ResponseWriter, r *http.Request, oerr *Error) {
	if !s.cfg.RequireDPoPNonce {
		return
	}
	dpopError := oerr != nil && (oerr.Code == dpop.CodeUseNonce || oerr.Code == dpop.CodeInvalidProof)
	if len(r.Header.Values(HeaderDPoP)) == 0 && !dpopError {
		return
	}
	keys, err := s.dpopNonceKeys()
	if err != nil {
		s.log.Error("deriving the DPoP nonce key", zap.Error(err))
		return
	}
	w.Header().Set(HeaderDPoPNonce, keys.cur.Issue(s.now()))
}
