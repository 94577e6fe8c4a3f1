package validator

import (
	"encoding/json"
	"errors"
)

// confirmation is a token's cnf claim (RFC 7800): the key its holder must prove it has.
// Two confirmation methods are checked by the guard: jkt, the RFC 7638 thumbprint of a
// DPoP key (RFC 9449 §6), and x5t#S256, the SHA-256 thumbprint of a TLS client
// certificate (RFC 8705 §3.1). A cnf that names neither (another method, or none) binds
// the token to something the guard cannot check, so such a token is refused.
type confirmation struct {
	jkt, x5t string
	set      bool
}

// errCnfMember: a jkt or x5t#S256 that is not a string.
var errCnfMember = errors.New("cnf: jkt and x5t#S256 must be strings")

func (c *confirmation) UnmarshalJSON(b []byte) error {
	// null is "absent", as encoding/json treats it; any other value binds the token.
	if string(b) == "null" {
		return nil
	}
	c.set = true
	if len(b) == 0 || b[0] != '{' {
		// Not an object: bound to nothing checkable (checkable reports false).
		return nil
	}
	// Only bound tokens take this path, so a map is cheap enough; names are matched
	// exactly, as every claim's is (a "JKT" is not a jkt).
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for name, dst := range map[string]*string{"jkt": &c.jkt, "x5t#S256": &c.x5t} {
		v, ok := m[name]
		if !ok || string(v) == "null" {
			continue
		}
		if len(v) == 0 || v[0] != '"' {
			return errCnfMember
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return err
		}
	}
	return nil
}

// checkable reports whether a present cnf names a binding the guard can check: a
// non-empty jkt or x5t#S256.
func (c *confirmation) checkable() bool { return c.jkt != "" || c.x5t != "" }

// uncheckableBinding refuses a token bound (cnf) by a method the guard cannot check:
// accepting it as a bearer token would drop the binding (RFC 9449 §7.2, RFC 8705 §3).
var uncheckableBinding = invalidToken("the token is bound (cnf claim) by a confirmation method this guard cannot check", nil)

// DPoPKey is the thumbprint of the DPoP key the token is bound to (cnf.jkt), or "" for a
// token not bound to one.
func (g *Grant) DPoPKey() string { return g.jkt }

// CertificateThumbprint is the SHA-256 thumbprint of the TLS client certificate the
// token is bound to (cnf.x5t#S256), or "" for a token not bound to one.
func (g *Grant) CertificateThumbprint() string { return g.x5t }

// bound reports whether the token carries a binding the guard checks per request.
func (g *Grant) bound() bool { return g.jkt != "" || g.x5t != "" }
