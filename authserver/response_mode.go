package authserver

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
)

// Response modes of the authorization endpoint (OAuth 2.0 Multiple Response Type
// Encoding Practices; OAuth 2.0 Form Post Response Mode). Metadata advertises these,
// and each is honoured.
const (
	// modeQuery puts the answer in the redirect URI's query: the default for
	// response_type=code.
	modeQuery = "query"
	// modeFragment puts it in the fragment: the default for response_type=token, and
	// allowed for code.
	modeFragment = "fragment"
	// modeFormPost makes the browser POST it to the redirect URI from an auto-submitting
	// form, so it appears in neither the URL nor the Referer (OpenID clients use it).
	modeFormPost = "form_post"
)

// responseModesSupported is what metadata lists as response_modes_supported.
var responseModesSupported = []string{modeQuery, modeFragment, modeFormPost}

// parseResponseMode checks the request's response_mode against its response_type. A
// token must never go in a query (it would land in logs and Referer headers), so
// response_type=token with response_mode=query is refused.
func parseResponseMode(raw, responseType string) (string, *Error) {
	switch raw {
	case "":
		if responseType == responseToken {
			return modeFragment, nil
		}
		return modeQuery, nil
	case modeQuery:
		if responseType == responseToken {
			return "", errInvalidRequest("response_mode query cannot carry a token; use fragment or form_post")
		}
		return modeQuery, nil
	case modeFragment, modeFormPost:
		return raw, nil
	}
	return "", errInvalidRequest("response_mode " + quoteForError(raw) + " is not supported")
}

// formPostPage auto-submits the answer to the redirect URI; a button does it where
// scripts do not run.
var formPostPage = template.Must(template.New("form_post").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Continue</title></head>
<body><form method="post" action="{{.Action}}">{{range $k, $vs := .Values}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<noscript><button type="submit">Continue</button></noscript></form>
<script nonce="{{.Nonce}}">document.forms[0].submit()</script></body></html>
`))

// writeFormPost answers with the form_post page for target and out. The page's CSP lets
// its one script run and its form go to the redirect URI's origin only.
func writeFormPost(w http.ResponseWriter, target *url.URL, out url.Values) {
	nonce := NewSecret()
	var buf bytes.Buffer
	if err := formPostPage.Execute(&buf, struct {
		Action string
		Values url.Values
		Nonce  string
	}{target.String(), out, nonce}); err != nil {
		http.Error(w, "could not render the response", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	origin := target.Scheme + "://" + target.Host
	if target.Host == "" { // a private-use scheme (com.example.app:/cb)
		origin = target.Scheme + ":"
	}
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; script-src 'nonce-"+nonce+"'; form-action "+origin)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
