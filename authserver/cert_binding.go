package authserver

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"

	"github.com/caddyoauth/caddy-oauth/store"
)

// peerCertificate is the client certificate of r's TLS connection, nil when r did not
// come over TLS or its client sent none. It is the connection's own: behind a proxy that
// ends TLS there is none (no header is trusted to carry one).
func peerCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// certThumbprint is the x5t#S256 of a certificate: the base64url (no padding) SHA-256 of
// its DER encoding (RFC 8705 §3.1).
func certThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// bindCertificate binds the tokens of a CertBoundTokens client to the TLS client
// certificate of its token request (RFC 8705 §3): cnf.X5TS256 is the certificate's
// thumbprint. TLS has already proved the client holds the certificate's key, so the
// certificate needs no chain: any certificate binds. RFC 8705 §3.4 leaves the answer to
// a request without one to the server; issuing an unbound token would quietly give the
// client less than it registered for, so it is refused (invalid_request: the request
// lacks what this client's requests must carry). Other clients are not touched.
func (s *Server) bindCertificate(r *http.Request, client *store.Client, cnf *confirmation) *Error {
	if !client.CertBoundTokens {
		return nil
	}
	cert := peerCertificate(r)
	if cert == nil {
		return errInvalidRequest("the client's tokens are bound to its TLS client certificate (RFC 8705): send the token request over TLS with a client certificate")
	}
	cnf.X5TS256 = certThumbprint(cert)
	return nil
}
