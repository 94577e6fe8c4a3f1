package validator

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWriteRefusal(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		realm      string
		status     int
		challenge  string
		retryAfter string
		body       string
	}{
		{
			name: "no token gets a bare challenge", err: Refuse(NoToken, "bearer token required"), realm: "api",
			status: 401, challenge: `Bearer realm="api"`,
			body: `{"error":"unauthorized","error_description":"bearer token required"}`,
		},
		{
			name: "no token without realm is just Bearer", err: Refuse(NoToken, "bearer token required"),
			status: 401, challenge: `Bearer`,
			body: `{"error":"unauthorized","error_description":"bearer token required"}`,
		},
		{
			name: "invalid request is 400", err: Refuse(InvalidRequest, "more than one Authorization header"), realm: "api",
			status: 400, challenge: `Bearer realm="api", error="invalid_request", error_description="more than one Authorization header"`,
			body: `{"error":"invalid_request","error_description":"more than one Authorization header"}`,
		},
		{
			name: "invalid token is 401", err: invalidToken("token expired", errors.New("cause stays in logs")), realm: "api",
			status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="token expired"`,
			body: `{"error":"invalid_token","error_description":"token expired"}`,
		},
		{
			name: "insufficient scope is 403 and names the required scopes", err: RefuseScope([]string{"orders:read", "orders:write"}), realm: "api",
			status: 403, challenge: `Bearer realm="api", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders:read orders:write"`,
			body: `{"error":"insufficient_scope","error_description":"the token lacks a required scope"}`,
		},
		{
			name: "unavailable is 503 with Retry-After and no challenge", err: RefuseUnavailable(1500*time.Millisecond, errors.New("dial tcp: refused")), realm: "api",
			status: 503, retryAfter: "2",
			body: `{"error":"temporarily_unavailable","error_description":"the token cannot be checked right now"}`,
		},
		{
			name: "unavailable without a delay uses the default", err: RefuseUnavailable(0, nil),
			status: 503, retryAfter: "5",
			body: `{"error":"temporarily_unavailable","error_description":"the token cannot be checked right now"}`,
		},
		{
			name: "a wrapped refusal is found", err: wrap{Refuse(InvalidToken, "token revoked")}, realm: "api",
			status: 401, challenge: `Bearer realm="api", error="invalid_token", error_description="token revoked"`,
			body: `{"error":"invalid_token","error_description":"token revoked"}`,
		},
		{
			name: "quotes and control characters cannot break the header", err: Refuse(InvalidToken, "bad \"x\"\r\nSet-Cookie: a=b \\ é"), realm: "my \"realm\"\\\r\n",
			status: 401, challenge: `Bearer realm="my \"realm\"\\", error="invalid_token", error_description="bad xSet-Cookie: a=b  "`,
			body: `{"error":"invalid_token","error_description":"bad xSet-Cookie: a=b  "}`,
		},
		{
			name: "an error that is not a refusal is a 500", err: errors.New("boom"), realm: "api",
			status: 500, body: `{"error":"server_error","error_description":"the token could not be checked"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteRefusal(w, tt.err, tt.realm)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %s\n                  want %s", got, tt.challenge)
			}
			if _, ok := w.Header()["Www-Authenticate"]; tt.challenge == "" && ok {
				t.Errorf("WWW-Authenticate set for %s", tt.name)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("body = %s\n want %s", got, tt.body)
			}
		})
	}
}

type wrap struct{ err error }

func (w wrap) Error() string { return "wrapped: " + w.err.Error() }
func (w wrap) Unwrap() error { return w.err }

func TestKindStatus(t *testing.T) {
	want := map[Kind]int{NoToken: 401, InvalidRequest: 400, InvalidToken: 401, InsufficientScope: 403, Unavailable: 503}
	for k, s := range want {
		if k.Status() != s {
			t.Errorf("%v.Status() = %d, want %d", k, k.Status(), s)
		}
	}
}

func TestRefusalErrorIncludesTheCause(t *testing.T) {
	err := invalidToken("invalid signature", errors.New("ecdsa: verification error"))
	if got := err.Error(); got != "invalid_token: invalid signature: ecdsa: verification error" {
		t.Fatalf("Error() = %q", got)
	}
	if errors.Unwrap(err) == nil {
		t.Fatal("Unwrap lost the cause")
	}
}
