package authserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// authenticateCertificate authenticates a tls_client_auth or self_signed_tls_client_auth
// client c by the certificate its request's TLS connection presented (RFC 8705 §2): the
// client_id names the client, the certificate proves it. Such a client authenticates no
// other way, so a secret sent with its id is refused, as an unknown client's is. Every
// refusal is the same invalid_client answer, so a caller learns nothing about which check
// failed; the reason is logged at debug level for the operator.
func (s *Server) authenticateCertificate(ctx context.Context, c *store.Client, cred clientCredentials) *Error {
	refuse := func(reason string) *Error {
		s.log.Debug("TLS client certificate authentication refused", zap.String("client_id", c.ID), zap.String("reason", reason))
		return errInvalidClient("client authentication failed", cred.basic)
	}
	if cred.basic || cred.secret != "" {
		VerifySecret(secretHashPrefix, cred.secret)
		return refuse("a secret was sent; the client authenticates with its certificate")
	}
	var chain []*x509.Certificate
	if cred.req != nil && cred.req.TLS != nil {
		chain = cred.req.TLS.PeerCertificates
	}
	if len(chain) == 0 {
		return refuse("the request came without a TLS client certificate")
	}
	if c.TokenAuthMethod == store.TokenAuthSelfSignedTLSClient {
		ok, err := s.certificateKeyRegistered(ctx, c, chain[0])
		if err != nil {
			s.log.Warn("loading a self_signed_tls_client_auth client's keys", zap.String("client_id", c.ID), zap.Error(err))
			return refuse("the client's keys could not be loaded")
		}
		if !ok {
			return refuse("the certificate's public key is not one of the client's registered keys")
		}
		return nil
	}
	if s.cfg.TLSClientAuthCAs == nil {
		s.log.Warn("a tls_client_auth client cannot authenticate: the server trusts no CA for it (tls_client_auth_trusted_ca)",
			zap.String("client_id", c.ID))
		return refuse("no trusted CA configured")
	}
	intermediates := x509.NewCertPool()
	for _, ic := range chain[1:] {
		intermediates.AddCert(ic)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         s.cfg.TLSClientAuthCAs,
		Intermediates: intermediates,
		CurrentTime:   s.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return refuse("the certificate does not verify: " + err.Error())
	}
	if !certificateNames(chain[0], c.TLSClientAuthAttribute, c.TLSClientAuthValue) {
		return refuse("the certificate's " + c.TLSClientAuthAttribute + " is not the registered one")
	}
	return nil
}

// certificateNames reports whether cert carries the registered attribute value (RFC 8705
// §2.1.2): the subject, compared as a distinguished name, or one of its subject
// alternative names of the kind registered.
func certificateNames(cert *x509.Certificate, attribute, value string) bool {
	switch attribute {
	case store.TLSClientAuthSubjectDN:
		want, err := parseDN(value)
		if err != nil {
			return false
		}
		var got pkix.RDNSequence
		if rest, err := asn1.Unmarshal(cert.RawSubject, &got); err != nil || len(rest) != 0 {
			return false
		}
		return sameDN(want, got)
	case store.TLSClientAuthSANDNS:
		for _, n := range cert.DNSNames {
			if strings.EqualFold(n, value) {
				return true
			}
		}
	case store.TLSClientAuthSANURI:
		for _, u := range cert.URIs {
			if u.String() == value {
				return true
			}
		}
	case store.TLSClientAuthSANIP:
		want := net.ParseIP(value)
		for _, ip := range cert.IPAddresses {
			if want != nil && want.Equal(ip) {
				return true
			}
		}
	case store.TLSClientAuthSANEmail:
		for _, e := range cert.EmailAddresses {
			if sameEmail(e, value) {
				return true
			}
		}
	}
	return false
}

// sameEmail compares addresses as mail does: the local part exactly, the domain without
// regard to case.
func sameEmail(a, b string) bool {
	al, ad, ok1 := strings.Cut(a, "@")
	bl, bd, ok2 := strings.Cut(b, "@")
	return ok1 && ok2 && al == bl && strings.EqualFold(ad, bd)
}

// certificateKeyRegistered reports whether cert's public key is one of client c's
// registered keys (jwks or jwks_uri, as private_key_jwt reads them): the self-signed
// method's check (RFC 8705 §2.2). TLS proved the caller holds the key's private half.
func (s *Server) certificateKeyRegistered(ctx context.Context, c *store.Client, cert *x509.Certificate) (bool, error) {
	src, err := s.clientKeys.source(ctx, c)
	if err != nil {
		return false, err
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false, nil
	}
	// Keys are found by the algorithm they are pinned to; the certificate carries no kid.
	for _, alg := range keyAlgorithms(cert.PublicKey) {
		keys, err := src.Lookup(ctx, "", alg)
		if err != nil {
			continue // no key of this algorithm
		}
		for _, k := range keys {
			var raw any
			if k.Raw(&raw) == nil && pub.Equal(raw) {
				return true, nil
			}
		}
	}
	return false, nil
}

// keyAlgorithms are the JWS algorithms a JWK of this public key may be pinned to.
func keyAlgorithms(pub any) []string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256":
			return []string{"ES256"}
		case "P-384":
			return []string{"ES384"}
		case "P-521":
			return []string{"ES512"}
		}
	case *rsa.PublicKey:
		return []string{"RS256", "PS256", "RS384", "PS384", "RS512", "PS512"}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// checkTLSClientAuthAttribute checks a tls_client_auth client's registered attribute and
// value, so a value that could never match is refused when the client is made.
func checkTLSClientAuthAttribute(attribute, value string) error {
	if value == "" {
		return fmt.Errorf("tls_client_auth_%s: a value is required", attribute)
	}
	switch attribute {
	case store.TLSClientAuthSubjectDN:
		if _, err := parseDN(value); err != nil {
			return fmt.Errorf("tls_client_auth_subject_dn %q: %w", value, err)
		}
	case store.TLSClientAuthSANDNS, store.TLSClientAuthSANEmail:
		if strings.ContainsAny(value, " \t\r\n") {
			return fmt.Errorf("tls_client_auth_%s %q: must not contain spaces", attribute, value)
		}
		if attribute == store.TLSClientAuthSANEmail && !strings.Contains(value, "@") {
			return fmt.Errorf("tls_client_auth_san_email %q: not an email address", value)
		}
	case store.TLSClientAuthSANURI:
		if u, err := url.Parse(value); err != nil || !u.IsAbs() {
			return fmt.Errorf("tls_client_auth_san_uri %q: must be an absolute URI", value)
		}
	case store.TLSClientAuthSANIP:
		if net.ParseIP(value) == nil {
			return fmt.Errorf("tls_client_auth_san_ip %q: not an IP address", value)
		}
	default:
		return fmt.Errorf("tls_client_auth attribute %q: must be one of %s", attribute, strings.Join(TLSClientAuthAttributes, ", "))
	}
	return nil
}

// TLSClientAuthAttributes are the certificate attributes a tls_client_auth client may be
// registered with (RFC 8705 §2.1.2, without the tls_client_auth_ prefix).
var TLSClientAuthAttributes = []string{store.TLSClientAuthSubjectDN, store.TLSClientAuthSANDNS,
	store.TLSClientAuthSANURI, store.TLSClientAuthSANIP, store.TLSClientAuthSANEmail}

// dnAttribute is one attribute of a relative distinguished name.
type dnAttribute struct {
	oid   asn1.ObjectIdentifier
	value string
}

// dnAttributeTypes are the attribute type names RFC 4514 §3 lists, and a few more that
// certificates commonly carry, by their upper-case short names.
var dnAttributeTypes = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SN":           {2, 5, 4, 4},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"TITLE":        {2, 5, 4, 12},
	"POSTALCODE":   {2, 5, 4, 17},
	"GIVENNAME":    {2, 5, 4, 42},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"E":            {1, 2, 840, 113549, 1, 9, 1},
}

// parseDN parses an RFC 4514 distinguished name ("CN=app,O=Example,C=US") into its
// relative distinguished names in ASN.1 order, the reverse of the string's (RFC 4514
// §2.1). Attribute types are short names or dotted OIDs; values may use \ escapes
// (a special character, or two hex digits of a UTF-8 byte). The #hex form of a value is
// not supported: it names an encoding, which a comparison of values does not need.
func parseDN(s string) ([][]dnAttribute, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty distinguished name")
	}
	var rdns [][]dnAttribute
	var rdn []dnAttribute
	i := 0
	for {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("%q: attribute without =", s[i:])
		}
		typ := strings.TrimSpace(s[i : i+eq])
		oid, err := dnAttributeType(typ)
		if err != nil {
			return nil, err
		}
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '#' {
			return nil, fmt.Errorf("%s: hex-encoded (#) values are not supported", typ)
		}
		var val []byte
		keep := 0 // length of val without unescaped trailing spaces
		var sep byte
		for ; i < len(s); i++ {
			ch := s[i]
			if ch == ',' || ch == '+' {
				sep = ch
				i++
				break
			}
			if ch == '\\' {
				if i+1 >= len(s) {
					return nil, fmt.Errorf("%s: value ends with a lone \\", typ)
				}
				if strings.IndexByte(`,=+<>#;\" `, s[i+1]) >= 0 {
					val = append(val, s[i+1])
					i++
				} else {
					if i+3 > len(s) {
						return nil, fmt.Errorf("%s: bad escape in value", typ)
					}
					n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
					if err != nil {
						return nil, fmt.Errorf("%s: bad escape in value", typ)
					}
					val = append(val, byte(n))
					i += 2
				}
				keep = len(val)
				continue
			}
			if ch == '"' || ch == ';' || ch == '<' || ch == '>' {
				return nil, fmt.Errorf("%s: %q must be escaped in a value", typ, ch)
			}
			val = append(val, ch)
			if ch != ' ' {
				keep = len(val)
			}
		}
		val = val[:keep]
		if len(val) == 0 {
			return nil, fmt.Errorf("%s: empty value", typ)
		}
		rdn = append(rdn, dnAttribute{oid: oid, value: string(val)})
		if sep != '+' {
			rdns = append(rdns, rdn)
			rdn = nil
		}
		if sep == 0 {
			break
		}
		if i >= len(s) {
			return nil, errors.New("the name ends with a separator")
		}
	}
	for l, r := 0, len(rdns)-1; l < r; l, r = l+1, r-1 {
		rdns[l], rdns[r] = rdns[r], rdns[l]
	}
	return rdns, nil
}

// dnAttributeType resolves an attribute type: a short name or a dotted OID.
func dnAttributeType(typ string) (asn1.ObjectIdentifier, error) {
	if oid, ok := dnAttributeTypes[strings.ToUpper(typ)]; ok {
		return oid, nil
	}
	parts := strings.Split(typ, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("attribute type %q: unknown (use a dotted OID)", typ)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for k, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("attribute type %q: unknown (use a dotted OID)", typ)
		}
		oid[k] = n
	}
	return oid, nil
}

// sameDN compares a parsed name with a certificate's, as LDAP's distinguishedNameMatch
// does: the same relative names in the same order, each the same set of attributes, and
// values equal ignoring case and repeated or surrounding spaces (caseIgnoreMatch).
func sameDN(want [][]dnAttribute, got pkix.RDNSequence) bool {
	if len(want) != len(got) {
		return false
	}
	for i, rdn := range want {
		if len(rdn) != len(got[i]) {
			return false
		}
		used := make([]bool, len(got[i]))
	attrs:
		for _, a := range rdn {
			for j, g := range got[i] {
				v, ok := g.Value.(string)
				if !used[j] && ok && a.oid.Equal(g.Type) && foldedValue(a.value) == foldedValue(v) {
					used[j] = true
					continue attrs
				}
			}
			return false
		}
	}
	return true
}

// foldedValue is a value as caseIgnoreMatch compares it: inner runs of spaces as one,
// none around, case folded.
func foldedValue(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), " "))
}
