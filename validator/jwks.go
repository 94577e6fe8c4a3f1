package validator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"golang.org/x/sync/singleflight"
)

// Defaults of KeySourceOptions.
const (
	DefaultMinRefetchInterval = 10 * time.Second
	DefaultRefreshInterval    = time.Hour
	defaultFetchTimeout       = 10 * time.Second
	// maxJWKSSize bounds what a fetch reads: a real key set is a few KiB.
	maxJWKSSize = 1 << 20
	// minRSABits refuses RSA keys too short to trust (RFC 7518 §3.3 requires 2048).
	minRSABits = 2048
)

var (
	// ErrUnknownKey means no key in the set matches the token's kid (or, for a token
	// without kid, no single key matches its alg), even after a refetch.
	ErrUnknownKey = errors.New("no matching verification key")
	// ErrKeysNotLoaded means the key set has not loaded yet (KeySourceOptions.RetryFirstLoad)
	// and a try made for this lookup failed too: the token can be neither accepted nor
	// called bad.
	ErrKeysNotLoaded = errors.New("verification keys not loaded yet")
	// ErrAlgorithmMismatch means the token's alg is not the algorithm pinned to the key it
	// names; this is what refuses `alg: none` and RS256/HS256 confusion.
	ErrAlgorithmMismatch = errors.New("token algorithm does not match the key's algorithm")
)

// FetchError reports that the key set could not be loaded from its location; the
// previous set, if any, stays in use.
type FetchError struct {
	Location string
	Err      error
}

// Error implements error.
func (e *FetchError) Error() string {
	return fmt.Sprintf("loading JWKS from %s: %v", e.Location, e.Err)
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// KeySourceOptions tunes a KeySource. The zero value gives the documented defaults.
type KeySourceOptions struct {
	// HTTPClient fetches URL locations; default a client with a 10 s timeout.
	HTTPClient *http.Client
	// MinRefetchInterval is the least time between two refetches caused by tokens naming
	// an unknown kid, so garbage tokens cannot turn the guard into a JWKS flooder.
	// Zero means 10 s; negative disables refetching on a miss.
	MinRefetchInterval time.Duration
	// RefreshInterval is how often the set is reloaded in the background, so a removed
	// key stops verifying. Zero means 1 h; negative disables background refresh.
	RefreshInterval time.Duration
	// OnRefreshError, if set, is told about failed background and miss refetches (the
	// old set stays in use), so the host can log them.
	OnRefreshError func(error)
	// RetryFirstLoad, for a URL location, lets the source start when its first load fails,
	// as when a guard and the server that publishes the keys share one Caddy that is not
	// listening yet. The source then retries in the background with backoff (50 ms,
	// doubling up to 5 s) until it loads, its context ends or Close; lookups meanwhile
	// make a try of their own (coalesced, at most one per 100 ms) and otherwise fail with
	// ErrKeysNotLoaded, which JWTVerifier answers as Unavailable (503, Retry-After 1 s):
	// never a pass. A file location must load at once: a missing file is a configuration
	// error, not a server still starting.
	RetryFirstLoad bool
	// OnLoaded, if set, is told once when a source that started unloaded loads its keys.
	OnLoaded func()
	// Now overrides the clock for the refetch interval; for tests.
	Now func() time.Time
}

// Timings of a source that started unloaded (RetryFirstLoad).
const (
	firstLoadMinBackoff = 50 * time.Millisecond
	firstLoadMaxBackoff = 5 * time.Second
	// failedLoadGap bounds lookup-driven loads while the location stays unreachable.
	failedLoadGap = 100 * time.Millisecond
	// KeysPendingRetryAfter is the Retry-After of a refusal for keys not loaded yet.
	KeysPendingRetryAfter = time.Second
)

// KeySource holds the verification keys of one JWKS location, a URL (http/https) or a
// local file (a JWK Set, a single JWK, or PEM public keys such as Passport's
// oauth-public.key). Reads take no lock: the key set is an immutable value swapped
// atomically on every reload.
type KeySource struct {
	location string
	url      bool
	client   *http.Client
	minGap   time.Duration
	onError  func(error)
	now      func() time.Time

	keys     atomic.Pointer[keySet]
	lastMiss atomic.Int64 // unix nanos of the last miss-triggered fetch
	flight   singleflight.Group
	fetchMu  sync.Mutex // serialises fetches so an older response never replaces a newer one

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// State of a source that started unloaded: the last load error, and when a
	// lookup-driven load last failed.
	pendingMu  sync.Mutex
	pendingErr error
	lastFail   time.Time
	onLoaded   func()
	loadedOnce sync.Once
}

// keyEntry is one usable verification key with its pinned algorithm.
type keyEntry struct {
	kid string
	alg string
	key jwk.Key
	// raw is the crypto public key, converted once here instead of on every verify.
	raw      any
	verifier jws.Verifier
}

// keySet is immutable once published.
type keySet struct {
	byKid map[string][]*keyEntry
	// byAlg lists the keys pinned to each alg, in the set's order, for tokens without a
	// kid (Laravel Passport's): such a token is checked against each, up to
	// maxKidlessCandidates.
	byAlg map[string][]*keyEntry
	size  int
}

// NewKeySource loads the key set at location and, unless disabled, refreshes it in the
// background until Close. The first load must succeed unless opts.RetryFirstLoad.
func NewKeySource(location string, opts KeySourceOptions) (*KeySource, error) {
	return NewKeySourceContext(context.Background(), location, opts)
}

// NewKeySourceContext is NewKeySource whose background work (refresh, and the retries of
// a first load that failed) also ends with ctx.
func NewKeySourceContext(ctx context.Context, location string, opts KeySourceOptions) (*KeySource, error) {
	s := &KeySource{
		onLoaded: opts.OnLoaded,
		location: location,
		client:   opts.HTTPClient,
		minGap:   opts.MinRefetchInterval,
		onError:  opts.OnRefreshError,
		now:      opts.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	switch {
	case location == "":
		return nil, errors.New("jwks: no location given")
	case strings.HasPrefix(location, "https://"), strings.HasPrefix(location, "http://"):
		s.url = true
	case strings.HasPrefix(location, "file://"):
		s.location = strings.TrimPrefix(location, "file://")
	case strings.Contains(location, "://"):
		return nil, fmt.Errorf("jwks: unsupported location %q: use an http(s) URL or a file path", location)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: defaultFetchTimeout}
	}
	if s.minGap == 0 {
		s.minGap = DefaultMinRefetchInterval
	}
	if s.now == nil {
		s.now = time.Now
	}
	refresh := opts.RefreshInterval
	if refresh == 0 {
		refresh = DefaultRefreshInterval
	}
	if err := s.Refresh(ctx); err != nil {
		if !opts.RetryFirstLoad || !s.url {
			return nil, err
		}
		s.pendingErr = err
		go s.background(ctx, refresh, true)
		return s, nil
	}
	if refresh > 0 {
		go s.background(ctx, refresh, false)
	} else {
		close(s.done)
	}
	return s, nil
}

// Location returns where the keys come from.
func (s *KeySource) Location() string { return s.location }

// Len returns how many usable keys the current set holds (0 before the first load).
func (s *KeySource) Len() int {
	if ks := s.keys.Load(); ks != nil {
		return ks.size
	}
	return 0
}

// Pending returns why a source that started unloaded has no keys yet, and nil once it
// has loaded them (always nil for a source whose first load succeeded).
func (s *KeySource) Pending() error {
	if s.keys.Load() != nil {
		return nil
	}
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	return s.pendingErr
}

// Close stops the background refresh. It is safe to call more than once.
func (s *KeySource) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
}

// background first loads the keys, when the source started without them, retrying with
// backoff; then it refreshes them every interval (if positive), until Close or ctx ends.
func (s *KeySource) background(ctx context.Context, every time.Duration, pending bool) {
	defer close(s.done)
	for wait := firstLoadMinBackoff; pending && s.keys.Load() == nil; wait = min(2*wait, firstLoadMaxBackoff) {
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.Refresh(ctx); err != nil {
			s.pendingMu.Lock()
			s.pendingErr = err
			s.pendingMu.Unlock()
			continue
		}
		s.announceLoaded()
	}
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && s.onError != nil {
				s.onError(err)
			}
		}
	}
}

// announceLoaded tells OnLoaded, once, that a source that started unloaded has keys.
func (s *KeySource) announceLoaded() {
	s.loadedOnce.Do(func() {
		if s.onLoaded != nil {
			s.onLoaded()
		}
	})
}

// loadForLookup makes a lookup's own try at a first load that has not succeeded yet:
// one try at a time (concurrent lookups share it), and none within failedLoadGap of a
// failed one, so a burst of requests makes one fetch. A try made right after start is
// allowed: the failure at start is often only this same server not listening yet.
func (s *KeySource) loadForLookup(ctx context.Context) error {
	ch := s.flight.DoChan("first load", func() (any, error) {
		if s.keys.Load() != nil {
			return nil, nil
		}
		s.pendingMu.Lock()
		if !s.lastFail.IsZero() && s.now().Sub(s.lastFail) < failedLoadGap {
			err := s.pendingErr
			s.pendingMu.Unlock()
			return nil, err
		}
		s.pendingMu.Unlock()
		// Not the caller's context: the try is shared.
		fctx, cancel := context.WithTimeout(context.Background(), defaultFetchTimeout)
		defer cancel()
		if err := s.Refresh(fctx); err != nil {
			s.pendingMu.Lock()
			s.pendingErr, s.lastFail = err, s.now()
			s.pendingMu.Unlock()
			return nil, err
		}
		s.announceLoaded()
		return nil, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%w: %w", ErrKeysNotLoaded, r.Err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxKidlessCandidates bounds the keys a token without kid is checked against, so a key
// set with many keys of one algorithm cannot make every such token cost many signature
// checks. A server publishes its current key and a retired one or two (and, for OpenID
// Connect, an ID-token key), which fits.
const maxKidlessCandidates = 4

// Lookup returns the keys that may verify a token with header kid and alg. A key's
// algorithm is pinned (its `alg` member, or the one its type and curve imply), and alg
// must equal it. A token with a kid matches only the key published with that kid; a token
// without kid matches every key pinned to its alg (up to maxKidlessCandidates; more is an
// error), and verifies if one of them checks its signature. An unknown key triggers one
// refetch, at most once per MinRefetchInterval, shared by all concurrent misses.
func (s *KeySource) Lookup(ctx context.Context, kid, alg string) ([]jwk.Key, error) {
	list, err := s.lookup(ctx, kid, alg)
	if err != nil {
		return nil, err
	}
	out := make([]jwk.Key, len(list))
	for i, e := range list {
		out[i] = e.key
	}
	return out, nil
}

func (s *KeySource) lookup(ctx context.Context, kid, alg string) ([]*keyEntry, error) {
	ks := s.keys.Load()
	if ks == nil {
		if err := s.loadForLookup(ctx); err != nil {
			return nil, err
		}
		ks = s.keys.Load()
	}
	e, err := ks.find(kid, alg)
	if !errors.Is(err, ErrUnknownKey) {
		return e, err
	}
	// Unknown: the signer may have rotated keys since our last load.
	fetched, ferr := s.refetchOnMiss(ctx)
	if ferr != nil {
		return nil, ferr
	}
	if !fetched {
		return nil, err
	}
	return s.keys.Load().find(kid, alg)
}

// refetchOnMiss reloads the set for a lookup that found no key. It reports whether a
// fetch completed (by this caller or by one it joined); false with no error means the
// rate limit held it back.
func (s *KeySource) refetchOnMiss(ctx context.Context) (bool, error) {
	if s.minGap < 0 {
		return false, nil
	}
	ch := s.flight.DoChan("miss", func() (any, error) {
		// Checked inside the flight: only one runs at a time, so the next flight sees the
		// time this one recorded.
		now := s.now().UnixNano()
		if last := s.lastMiss.Load(); last != 0 && now-last < int64(s.minGap) {
			return false, nil
		}
		s.lastMiss.Store(now)
		// Not the caller's context: the fetch is shared, and one caller giving up must not
		// fail the others.
		fctx, cancel := context.WithTimeout(context.Background(), defaultFetchTimeout)
		defer cancel()
		if err := s.Refresh(fctx); err != nil {
			if s.onError != nil {
				s.onError(err)
			}
			return true, err
		}
		return true, nil
	})
	select {
	case r := <-ch:
		fetched, _ := r.Val.(bool)
		return fetched, r.Err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (ks *keySet) find(kid, alg string) ([]*keyEntry, error) {
	if kid == "" {
		list := ks.byAlg[alg]
		switch {
		case len(list) == 0:
			return nil, ErrUnknownKey
		case len(list) > maxKidlessCandidates:
			return nil, fmt.Errorf("%w: token has no kid and %d keys use %s (at most %d are tried)",
				ErrUnknownKey, len(list), alg, maxKidlessCandidates)
		}
		return list, nil
	}
	list, ok := ks.byKid[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	for i, e := range list {
		if e.alg == alg {
			return list[i : i+1 : i+1], nil // the set's own slice: no allocation per token
		}
	}
	return nil, ErrAlgorithmMismatch
}

// Refresh loads the key set now. On failure the current set stays and the error, a
// *FetchError naming the location, is returned.
func (s *KeySource) Refresh(ctx context.Context) error {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	data, err := s.read(ctx)
	if err == nil {
		var ks *keySet
		ks, err = buildKeySet(data)
		if err == nil {
			s.keys.Store(ks)
			return nil
		}
	}
	return &FetchError{Location: s.location, Err: err}
}

func (s *KeySource) read(ctx context.Context) ([]byte, error) {
	if !s.url {
		return os.ReadFile(s.location)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.location, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("key set larger than %d bytes", maxJWKSSize)
	}
	return data, nil
}

// buildKeySet parses a JWK Set (or a single JWK, or PEM) and keeps the keys fit to verify
// signatures. Keys of unknown types are skipped rather than failing the whole set, so a
// server adding a new kind of key does not take the guard down; a set with no usable key
// is an error, because accepting it would refuse every token.
func buildKeySet(data []byte) (*keySet, error) {
	trimmed := bytes.TrimSpace(data)
	var set jwk.Set
	var err error
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		set, err = jwk.Parse(trimmed, jwk.WithPEM(true))
	} else {
		// jwk.Parse also takes a lone JWK object. Ignoring per-key parse errors skips
		// keys of types jwx does not know instead of rejecting the whole set.
		set, err = jwk.Parse(trimmed, jwk.WithIgnoreParseError(true))
	}
	if err != nil {
		return nil, fmt.Errorf("parsing key set: %w", err)
	}
	ks := &keySet{byKid: map[string][]*keyEntry{}, byAlg: map[string][]*keyEntry{}}
	var skipped []string
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		e, why := newKeyEntry(k)
		if e == nil {
			skipped = append(skipped, why)
			continue
		}
		ks.size++
		if e.kid != "" {
			ks.byKid[e.kid] = append(ks.byKid[e.kid], e)
		}
		ks.byAlg[e.alg] = append(ks.byAlg[e.alg], e)
	}
	if ks.size == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no usable signature key (%s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("no usable signature key")
	}
	return ks, nil
}

// newKeyEntry prepares one key, or says why it is not usable.
func newKeyEntry(k jwk.Key) (*keyEntry, string) {
	kid := k.KeyID()
	name := kid
	if name == "" {
		name = "key without kid"
	}
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return nil, name + ": use is not sig"
	}
	if ops := k.KeyOps(); len(ops) > 0 {
		verify := false
		for _, op := range ops {
			verify = verify || op == jwk.KeyOpVerify
		}
		if !verify {
			return nil, name + ": key_ops lacks verify"
		}
	}
	// Only public material is used, even if a file holds private keys by mistake.
	pub, err := jwk.PublicKeyOf(k)
	if err != nil {
		return nil, name + ": " + err.Error()
	}
	var raw any
	if err := pub.Raw(&raw); err != nil {
		return nil, name + ": " + err.Error()
	}
	alg, why := pinAlgorithm(k, raw)
	if alg == "" {
		return nil, name + ": " + why
	}
	v, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return nil, name + ": " + err.Error()
	}
	return &keyEntry{kid: kid, alg: alg, key: pub, raw: raw, verifier: v}, ""
}

// pinAlgorithm decides the one algorithm a key may verify. A declared alg must fit the
// key's type (an RSA key declared HS256 is refused, not trusted); without one, the alg is
// inferred only where the key type leaves no choice. Symmetric keys are never used: a
// guard holding a shared secret could mint tokens, and HS* is the classic confusion.
func pinAlgorithm(k jwk.Key, raw any) (string, string) {
	declared := ""
	if a := k.Algorithm(); a != nil {
		declared = a.String()
	}
	var allowed []string
	var inferred string
	switch pk := raw.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < minRSABits {
			return "", fmt.Sprintf("RSA key shorter than %d bits", minRSABits)
		}
		allowed = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		// RS256 is what JWT servers, Passport included, use with RSA keys.
		inferred = "RS256"
	case *ecdsa.PublicKey:
		switch pk.Curve.Params().Name {
		case "P-256":
			inferred = "ES256"
		case "P-384":
			inferred = "ES384"
		case "P-521":
			inferred = "ES512"
		default:
			return "", "unsupported curve " + pk.Curve.Params().Name
		}
		allowed = []string{inferred}
	case ed25519.PublicKey:
		inferred = "EdDSA"
		allowed = []string{inferred}
	default:
		return "", fmt.Sprintf("unsupported key type %s", k.KeyType())
	}
	if declared == "" {
		return inferred, ""
	}
	for _, a := range allowed {
		if a == declared {
			return declared, ""
		}
	}
	return "", fmt.Sprintf("alg %s does not fit a %s key", declared, k.KeyType())
}
