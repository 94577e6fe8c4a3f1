package keys

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Signer signs tokens of one type (access tokens or ID tokens) with one private key. Its protected header is encoded once,
// so signing a token costs one JSON encoding of the claims and one signature.
type Signer struct {
	kid    string
	alg    string
	key    crypto.Signer
	signer jws.Signer
	header string // base64url of the protected header, with the trailing "."
}

// NewSigner prepares a signer of tokens of type typ (TypAccessToken, TypIDToken) from a
// stored key.
func NewSigner(rec *store.SigningKey, typ string) (*Signer, error) {
	priv, err := ParsePrivatePEM(rec.PrivatePEM)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", rec.ID, err)
	}
	alg, err := AlgFor(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", rec.ID, err)
	}
	if rec.Alg != "" && rec.Alg != alg {
		return nil, fmt.Errorf("signing key %s: stored alg %s does not fit a %T", rec.ID, rec.Alg, priv)
	}
	s, err := jws.NewSigner(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", rec.ID, err)
	}
	hdr, err := protectedHeader(alg, typ, rec.ID)
	if err != nil {
		return nil, err
	}
	return &Signer{
		kid:    rec.ID,
		alg:    alg,
		key:    priv,
		signer: s,
		header: hdr + ".",
	}, nil
}

// KeyID returns the kid the signer puts in every token ("" for a nil Signer).
func (s *Signer) KeyID() string {
	if s == nil {
		return ""
	}
	return s.kid
}

// Alg returns the signing algorithm.
func (s *Signer) Alg() string { return s.alg }

// Public returns the public key of the signing key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Sign returns the compact JWS of the JSON claims.
func (s *Signer) Sign(claims []byte) (string, error) {
	buf := make([]byte, 0, len(s.header)+base64.RawURLEncoding.EncodedLen(len(claims))+1+344)
	buf = append(buf, s.header...)
	buf = base64.RawURLEncoding.AppendEncode(buf, claims)
	sig, err := s.signer.Sign(buf, s.key)
	if err != nil {
		return "", fmt.Errorf("signing token with key %s: %w", s.kid, err)
	}
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, sig)
	return string(buf), nil
}

// Ring is the key state a server serves from: the current signers (access tokens, ID
// tokens) and the JWKS document. It is swapped atomically when keys are reloaded, so
// readers take no lock.
type Ring struct {
	state atomic.Pointer[ringState]
}

type ringState struct {
	signer *Signer
	// idSigner signs ID tokens; nil when the store holds no current ID-token key.
	idSigner *Signer
	jwks     []byte
	kids     []string
	// verifiers maps the protected header segment each published access-token key writes
	// to the key; idVerifiers the same for ID-token keys.
	verifiers   map[string]*verifyKey
	idVerifiers map[string]*verifyKey
	// rsa lists the published RS256 keys, which also verify tokens with a kid-less
	// header: Laravel Passport's, once its key pair is imported (see kidless).
	rsa []*verifyKey
}

// Signer returns the current signer, or nil before the first Load.
func (r *Ring) Signer() *Signer {
	if st := r.state.Load(); st != nil {
		return st.signer
	}
	return nil
}

// IDTokenSigner returns the current signer of OpenID Connect ID tokens (RS256), or nil
// when none is loaded.
func (r *Ring) IDTokenSigner() *Signer {
	if st := r.state.Load(); st != nil {
		return st.idSigner
	}
	return nil
}

// JWKS returns the published JSON Web Key Set document.
func (r *Ring) JWKS() []byte {
	if st := r.state.Load(); st != nil {
		return st.jwks
	}
	return []byte(`{"keys":[]}`)
}

// PublishedKeyIDs lists the kids in the JWKS, current first.
func (r *Ring) PublishedKeyIDs() []string {
	if st := r.state.Load(); st != nil {
		return append([]string(nil), st.kids...)
	}
	return nil
}

// Load replaces the ring's state from stored keys. The current access key (RetiredAt nil)
// signs access tokens, the current ID-token key, if any, ID tokens; they and every key
// retired less than retain ago are published, so tokens signed before a rotation keep
// verifying until they expire. Verify accepts only access tokens: ID-token keys are
// published for relying parties, never taken for an access token's signature.
func (r *Ring) Load(records []*store.SigningKey, retain time.Duration, now time.Time) error {
	var current, currentID *store.SigningKey
	published := make([]*store.SigningKey, 0, len(records))
	for _, rec := range records {
		if rec.RetiredAt == nil {
			slot := &current
			if rec.KeyPurpose() == store.KeyPurposeIDToken {
				slot = &currentID
			}
			if *slot == nil || rec.CreatedAt.After((*slot).CreatedAt) {
				*slot = rec
			}
			continue
		}
		if rec.RetiredAt.Add(retain).After(now) {
			published = append(published, rec)
		}
	}
	if current == nil {
		return errors.New("no current signing key")
	}
	signer, err := NewSigner(current, TypAccessToken)
	if err != nil {
		return err
	}
	var idSigner *Signer
	if currentID != nil {
		if idSigner, err = NewSigner(currentID, TypIDToken); err != nil {
			return err
		}
		published = append([]*store.SigningKey{currentID}, published...)
	}
	published = append([]*store.SigningKey{current}, published...)
	set := jwk.NewSet()
	kids := make([]string, 0, len(published))
	verifiers := make(map[string]*verifyKey, len(published))
	idVerifiers := make(map[string]*verifyKey, 2)
	var rsaKeys []*verifyKey
	for _, rec := range published {
		priv, err := ParsePrivatePEM(rec.PrivatePEM)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		pub, err := jwk.FromRaw(priv.Public())
		if err != nil {
			return fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		alg, err := AlgFor(priv)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		for k, v := range map[string]any{jwk.KeyIDKey: rec.ID, jwk.AlgorithmKey: jwa.SignatureAlgorithm(alg), jwk.KeyUsageKey: "sig"} {
			if err := pub.Set(k, v); err != nil {
				return fmt.Errorf("signing key %s: setting %s: %w", rec.ID, k, err)
			}
		}
		if err := set.AddKey(pub); err != nil {
			return fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		kids = append(kids, rec.ID)
		vk, err := newVerifyKey(rec.ID, alg, priv.Public())
		if err != nil {
			return err
		}
		if rec.KeyPurpose() != store.KeyPurposeAccess {
			hdr, err := protectedHeader(alg, TypIDToken, rec.ID)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", rec.ID, err)
			}
			idVerifiers[hdr] = vk
			continue
		}
		hdr, err := protectedHeader(alg, TypAccessToken, rec.ID)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		verifiers[hdr] = vk
		if alg == RS256 {
			rsaKeys = append(rsaKeys, vk)
		}
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encoding JWKS: %w", err)
	}
	// A reload that finds the same keys (keys.Follow re-reads them every 30 seconds)
	// keeps the state: what was verified under it stays verified (the authorization
	// server's verified-token cache is keyed on the JWKS document), instead of every
	// remembered token meeting a signature check and a store read again.
	if old := r.state.Load(); old != nil && old.signer.kid == signer.kid && old.idSigner.KeyID() == idSigner.KeyID() &&
		bytes.Equal(old.jwks, doc) {
		return nil
	}
	r.state.Store(&ringState{signer: signer, idSigner: idSigner, jwks: doc, kids: kids, verifiers: verifiers,
		idVerifiers: idVerifiers, rsa: rsaKeys})
	return nil
}
