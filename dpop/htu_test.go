package dpop

import "testing"

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example":                "https://api.example/",
		"HTTPS://Api.Example:443/a/b":        "https://api.example/a/b",
		"http://api.example:80/a?x=1#f":      "http://api.example/a",
		"http://api.example:8080/a":          "http://api.example:8080/a",
		"https://api.example:8443/a":         "https://api.example:8443/a",
		"https://api.example/%7euser/%2f%2F": "https://api.example/~user/%2F%2F",
		"https://api.example/a/./b/../c":     "https://api.example/a/c",
		"https://api.example/a/b/..":         "https://api.example/a/",
		"https://api.example/../../a":        "https://api.example/a",
		"https://[::1]:443/a":                "https://[::1]/a",
		"https://api.example/Case/Kept":      "https://api.example/Case/Kept",
		"https://api.example/a%20b":          "https://api.example/a%20b",
	} {
		got, err := NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/a", "ftp://x/a", "https:///a", "https://user:pw@api.example/a", "::", "https://api.example/a%zz"} {
		if got, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", bad, got)
		}
	}
	if got := RequestURL("https", "API.example:443", "/v1/%7ex"); got != "https://api.example/v1/~x" {
		t.Errorf("RequestURL: %q", got)
	}
}

func TestHasDotSegments(t *testing.T) {
	for p, want := range map[string]bool{
		"/a/b": false, "/": false, "": false, "/a.b/c": false, "/...": false, "/a/.b": false,
		"/a/%2e%2ex": false, "/a%2Fb": false,
		"/a/./b": true, "/a/../b": true, "/a/..": true, "/.": true, "./a": true, "..": true,
		"/admin/%2e%2e/public": true, "/admin/%2E%2e/public": true, "/a/%2e/b": true, "/a/.%2e": true,
	} {
		if got := HasDotSegments(p); got != want {
			t.Errorf("HasDotSegments(%q) = %v, want %v", p, got, want)
		}
	}
}
