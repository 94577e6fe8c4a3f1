// Command issue asks an oauth_server for n client-credentials tokens (8 requests at a
// time) and writes them one per line, for load scripts that need tokens a server of
// their own run issued.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

func main() {
	n := flag.Int("n", 1000, "number of tokens")
	endpoint := flag.String("url", "http://127.0.0.1:9206/oauth/token", "token endpoint")
	client := flag.String("client", "bench", "client id")
	secret := flag.String("secret", "", "client secret")
	scope := flag.String("scope", "", "scope to ask for")
	out := flag.String("out", "tokens.txt", "where to write the tokens")
	flag.Parse()

	tokens := make([]string, *n)
	var wg sync.WaitGroup
	next := make(chan int)
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {*scope}}.Encode()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				req, _ := http.NewRequest(http.MethodPost, *endpoint, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(*client, *secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					log.Fatal(err)
				}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				err = json.NewDecoder(resp.Body).Decode(&tok)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
					log.Fatalf("token request %d: status %d, %v", i, resp.StatusCode, err)
				}
				tokens[i] = tok.AccessToken
			}
		}()
	}
	for i := range tokens {
		next <- i
	}
	close(next)
	wg.Wait()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, t := range tokens {
		w.WriteString(t + "\n")
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
