package authserver

import "net/http"

// serverMetadata is the RFC 8414 document; it lists only what this server really does.
type serverMetadata struct {
	Issuer                 string   `json:"issuer"`
	TokenEndpoint          string   `json:"token_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	ScopesSupported        []string `json:"scopes_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs   []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation   string   `json:"service_documentation,omitempty"`
	AccessTokenSigningAlgs []string `json:"access_token_signing_alg_values_supported,omitempty"`
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	iss := s.issuerFor(r)
	md := serverMetadata{
		Issuer:          iss,
		TokenEndpoint:   iss + PathToken,
		JWKSURI:         iss + PathJWKS,
		ScopesSupported: append(s.cfg.Scopes.Names(), "*"),
		// No authorization endpoint is served yet, so no response type is supported.
		ResponseTypesSupported: []string{},
		GrantTypesSupported:    []string{grantClientCC, grantPassword, grantRefresh},
		// "none": a public client (no secret) presents only its client_id.
		TokenAuthMethods: []string{"client_secret_basic", "client_secret_post", "none"},
	}
	if signer := s.cfg.Keys.Signer(); signer != nil {
		md.AccessTokenSigningAlgs = []string{signer.Alg()}
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, md)
}

// serveJWKS publishes the current and recently retired public keys (RFC 7517).
func (s *Server) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Access-Control-Allow-Origin", "*")
	// Short caching: guards refetch on an unknown kid anyway, and rotation must show quickly.
	h.Set("Cache-Control", "public, max-age=60")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.cfg.Keys.JWKS())
}
