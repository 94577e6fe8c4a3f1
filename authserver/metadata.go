package authserver

import (
	"net/http"

	"github.com/caddyoauth/caddy-oauth/dpop"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// serverMetadata is the RFC 8414 document, which is also the OpenID Connect Discovery
// document (RFC 8414 §2 takes OpenID's fields as its own): the same JSON is served at
// both well-known paths. It lists only what this server really does.
type serverMetadata struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	ScopesSupported        []string `json:"scopes_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	ResponseModesSupported []string `json:"response_modes_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	// AuthorizationResponseIss says authorization responses carry iss (RFC 9207).
	AuthorizationResponseIss bool     `json:"authorization_response_iss_parameter_supported"`
	TokenAuthSigningAlgs     []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint"`
	IntrospectionAuth        []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint       string   `json:"revocation_endpoint"`
	RevocationAuth           []string `json:"revocation_endpoint_auth_methods_supported"`
	// The signing algorithms of private_key_jwt at introspection and revocation: RFC 8414
	// §2 requires them whenever private_key_jwt is listed for those endpoints.
	IntrospectionAuthSigningAlgs []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationAuthSigningAlgs    []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation         string   `json:"service_documentation,omitempty"`
	AccessTokenSigningAlgs       []string `json:"access_token_signing_alg_values_supported,omitempty"`

	// OpenID Connect Discovery 1.0 §3.
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	SubjectTypesSupported []string `json:"subject_types_supported"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported       []string `json:"claims_supported"`
	PromptValuesSupported []string `json:"prompt_values_supported"`
	// The request parameter is refused; request_uri is accepted for pushed requests
	// (RFC 9126) only. Both are stated, Discovery's defaults being false and true.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported     bool `json:"claims_parameter_supported"`
	// DeviceAuthorizationEndpoint is RFC 8628 §4's addition to the metadata.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	// PushedAuthorizationRequestEndpoint and RequirePushedAuthorizationRequests are RFC
	// 9126 §5's additions; pushing is required of clients that are registered so, not
	// server-wide.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`
	// DPoPSigningAlgs are the algorithms a DPoP proof may use (RFC 9449 §5.1).
	DPoPSigningAlgs []string `json:"dpop_signing_alg_values_supported"`
	// TLSClientCertificateBoundAccessTokens says the server binds tokens to TLS client
	// certificates (RFC 8705 §3.3). The same endpoints serve mutual TLS: there are no
	// mtls_endpoint_aliases.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens"`
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	iss := s.issuerFor(r)
	md := serverMetadata{
		Issuer:                   iss,
		AuthorizationEndpoint:    iss + PathAuthorize,
		TokenEndpoint:            iss + PathToken,
		JWKSURI:                  iss + PathJWKS,
		ScopesSupported:          append(s.cfg.Scopes.Names(), "*"),
		ResponseTypesSupported:   []string{responseCode},
		ResponseModesSupported:   responseModesSupported,
		GrantTypesSupported:      []string{GrantAuthorizationCode, GrantClientCredentials, GrantPassword, GrantRefreshToken, GrantDeviceCode},
		CodeChallengeMethods:     []string{"S256"},
		TokenAuthMethods:         []string{"client_secret_basic", "client_secret_post", store.TokenAuthPrivateKeyJWT, "none"},
		TokenAuthSigningAlgs:     ClientAssertionAlgs,
		AuthorizationResponseIss: true,
		IntrospectionEndpoint:    iss + PathIntrospect,
		// Besides Basic, a resource server may present a Bearer token it got by
		// client_credentials; RFC 8414 has no registered name for that, so only Basic is
		// listed.
		IntrospectionAuth:            []string{"client_secret_basic", store.TokenAuthPrivateKeyJWT},
		IntrospectionAuthSigningAlgs: ClientAssertionAlgs,
		RevocationEndpoint:           iss + PathRevoke,
		// Public clients revoke their own tokens by client_id alone (RFC 7009 §5).
		RevocationAuth:                     []string{"client_secret_basic", "client_secret_post", store.TokenAuthPrivateKeyJWT, "none"},
		RevocationAuthSigningAlgs:          ClientAssertionAlgs,
		DeviceAuthorizationEndpoint:        iss + PathDeviceAuthorization,
		PushedAuthorizationRequestEndpoint: iss + PathPAR,
		RequestURIParameterSupported:       true,
		DPoPSigningAlgs:                    dpop.Algorithms,

		UserinfoEndpoint:      iss + PathUserinfo,
		EndSessionEndpoint:    iss + PathLogout,
		SubjectTypesSupported: []string{"public"},
		IDTokenSigningAlgs:    []string{keys.IDTokenAlg},
		ClaimsSupported: append(append([]string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash"},
			ProfileClaimNames...), EmailClaimNames...),
		PromptValuesSupported: promptValuesSupported,
	}
	// Certificate authentication (RFC 8705 §2.3) is offered at every endpoint a client
	// authenticates at; tls_client_auth only when some CA is trusted for it.
	certMethods := []string{store.TokenAuthSelfSignedTLSClient}
	if s.cfg.TLSClientAuthCAs != nil {
		certMethods = append(certMethods, store.TokenAuthTLSClient)
	}
	md.TokenAuthMethods = append(md.TokenAuthMethods, certMethods...)
	md.IntrospectionAuth = append(md.IntrospectionAuth, certMethods...)
	md.RevocationAuth = append(md.RevocationAuth, certMethods...)
	md.TLSClientCertificateBoundAccessTokens = true
	if s.cfg.ImplicitGrant {
		md.ResponseTypesSupported = append(md.ResponseTypesSupported, responseToken)
		md.GrantTypesSupported = append(md.GrantTypesSupported, "implicit")
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
