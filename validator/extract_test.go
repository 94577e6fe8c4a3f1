package validator

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestExtractBearer(t *testing.T) {
	tests := []struct {
		name    string
		headers []string // Authorization header lines; nil means none
		url     string
		want    string
		kind    Kind
	}{
		{name: "bearer token is returned", headers: []string{"Bearer abc.DEF-ghi_jkl~m+n/o=="}, want: "abc.DEF-ghi_jkl~m+n/o=="},
		{name: "lowercase scheme is accepted", headers: []string{"bearer tok"}, want: "tok"},
		{name: "mixed-case scheme is accepted", headers: []string{"BeArEr tok"}, want: "tok"},
		{name: "several spaces after the scheme are accepted", headers: []string{"Bearer   tok"}, want: "tok"},
		{name: "missing header is no token", kind: NoToken},
		{name: "token in the query string is ignored", url: "/?access_token=abc", kind: NoToken},
		{name: "Basic credentials are no bearer token", headers: []string{"Basic dXNlcjpwYXNz"}, kind: NoToken},
		{name: "two Authorization headers are an invalid request", headers: []string{"Bearer a", "Bearer b"}, kind: InvalidRequest},
		{name: "two comma-separated credentials are an invalid request", headers: []string{"Bearer a, Bearer b"}, kind: InvalidRequest},
		{name: "comma after another scheme is an invalid request", headers: []string{"Basic x, Bearer b"}, kind: InvalidRequest},
		{name: "empty header is an invalid request", headers: []string{""}, kind: InvalidRequest},
		{name: "scheme without token is an invalid request", headers: []string{"Bearer"}, kind: InvalidRequest},
		{name: "scheme with only spaces is an invalid request", headers: []string{"Bearer   "}, kind: InvalidRequest},
		{name: "token with a space inside is an invalid request", headers: []string{"Bearer abc def"}, kind: InvalidRequest},
		{name: "token with a quote is an invalid request", headers: []string{`Bearer "abc"`}, kind: InvalidRequest},
		{name: "token with non-ASCII is an invalid request", headers: []string{"Bearer ab\xc3\xa9"}, kind: InvalidRequest},
		{name: "token of only padding is an invalid request", headers: []string{"Bearer =="}, kind: InvalidRequest},
		{name: "padding in the middle is an invalid request", headers: []string{"Bearer ab=cd"}, kind: InvalidRequest},
		{name: "scheme that is not a token is an invalid request", headers: []string{"Bea(rer tok"}, kind: InvalidRequest},
		{name: "scheme prefix is not enough", headers: []string{"Bearerx tok"}, kind: NoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = "/"
			}
			r := httptest.NewRequest(http.MethodGet, url, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := ExtractBearer(r)
			if tt.kind == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if got != "" {
				t.Fatalf("token %q returned with a refusal", got)
			}
			wantRefusal(t, err, tt.kind, "")
		})
	}
}

func TestExtractBearerDoesNotAllocate(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl")
	if n := testing.AllocsPerRun(100, func() { _, _ = ExtractBearer(r) }); n != 0 {
		t.Fatalf("ExtractBearer allocates %v times per call", n)
	}
}
