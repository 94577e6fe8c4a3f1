package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in node_*_test.go drive oauth_server with OAuth and OpenID Connect clients
// nobody here wrote: oauth4webapi and openid-client from npm, pinned in
// integration/node/package-lock.json, run by Node.js scripts in integration/node. This
// file finds node and npm, installs the pinned packages once per test binary, and runs a
// script: the test writes the script's input as one JSON line on stdin, answers each
// step the script prints ({"step": "authorize", ...}) with one JSON line, and gets its
// closing {"step": "result", ...} line back (integration/node/io.mjs is the other side).

// nodeDir is the npm project the scripts live in.
const nodeDir = "node"

// nodeMinMajor is the oldest Node.js the pinned libraries support (openid-client 6 and
// oauth4webapi 3 rely on the global WebCrypto and fetch of Node 20).
const nodeMinMajor = 20

// nodeTools are the node and npm executables.
type nodeTools struct{ node, npm string }

// requireNode finds node and npm, of a version the libraries run on. Without them the
// third-party client tests are skipped locally but fail under CI=true, where a silently
// skipped suite would hide a break (.ci/run installs Debian's nodejs and npm).
func requireNode(t *testing.T) nodeTools {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: the third-party client tests must run)", why)
		}
		t.Skipf("%s; the third-party client tests need Node.js %d+ and npm", why, nodeMinMajor)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing("npm is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		missing(fmt.Sprintf("node --version: %v", err))
	}
	version := strings.TrimSpace(string(out))
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0])
	if err != nil || major < nodeMinMajor {
		missing(fmt.Sprintf("node %s is older than %d", version, nodeMinMajor))
	}
	return nodeTools{node: node, npm: npm}
}

// npmInstall guards the one `npm ci` of a test binary.
var npmInstall struct {
	sync.Mutex
	done bool
	err  error
}

// requireNodeClients makes sure integration/node/node_modules holds exactly what
// package-lock.json pins, running `npm ci` at most once per test binary and not at all
// when node_modules already matches the lock file, and returns the tools.
func requireNodeClients(t *testing.T) nodeTools {
	t.Helper()
	tools := requireNode(t)
	npmInstall.Lock()
	defer npmInstall.Unlock()
	if !npmInstall.done {
		npmInstall.done = true
		npmInstall.err = npmCI(tools)
	}
	if npmInstall.err != nil {
		t.Fatalf("installing the pinned npm packages: %v", npmInstall.err)
	}
	return tools
}

// npmCI installs the locked packages unless node_modules is already current.
func npmCI(tools nodeTools) error {
	if current, err := nodeModulesCurrent(); err != nil {
		return err
	} else if current {
		return nil
	}
	// A cold npm cache on a busy two-core machine takes a while; three packages should
	// never take five minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tools.npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = nodeDir
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci in integration/%s: %v\n%s", nodeDir, err, out)
	}
	if current, err := nodeModulesCurrent(); err != nil || !current {
		return fmt.Errorf("npm ci left node_modules unlike package-lock.json (%v)", err)
	}
	return nil
}

// nodeModulesCurrent tells whether node_modules holds the versions package-lock.json
// pins, by npm's own record of what it installed (node_modules/.package-lock.json).
func nodeModulesCurrent() (bool, error) {
	type lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	read := func(path string) (*lock, error) {
		raw, err := os.ReadFile(filepath.Join(nodeDir, path))
		if err != nil {
			return nil, err
		}
		var l lock
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		delete(l.Packages, "") // the project itself; npm's record leaves it out
		return &l, nil
	}
	want, err := read("package-lock.json")
	if err != nil {
		return false, err
	}
	have, err := read(filepath.Join("node_modules", ".package-lock.json"))
	if err != nil {
		return false, nil // none yet, or unreadable: npm ci (re)places it
	}
	return reflect.DeepEqual(want.Packages, have.Packages), nil
}

// nodeStep is one JSON line a script printed.
type nodeStep = map[string]any

// nodeScriptTimeout bounds a script that needs no browser; one that waits for a browser
// step gets more. Both are generous: the machine is a busy two-core VM.
const nodeScriptTimeout = 90 * time.Second

// runNodeScript runs integration/node/<script> with input as its first stdin line and
// returns its result line. answer is called for every other step the script prints and
// returns the JSON line written back to it, or nil for a step the script does not wait
// on (answer itself may be nil when the script prints no steps). A script's error line,
// exit or deadline fails the test. The script's lines are never logged whole: a step may
// carry a token (the end-session URL's id_token_hint).
func runNodeScript(t *testing.T, tools nodeTools, timeout time.Duration, script string, input any, answer func(nodeStep) any) nodeStep {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tools.node, script)
	cmd.Dir = nodeDir
	cmd.WaitDelay = 5 * time.Second
	// Read while the script may still write (a failure mid-run): hence the lock.
	var stderrMu sync.Mutex
	var stderrBuf bytes.Buffer
	cmd.Stderr = lockedWriter{&stderrMu, &stderrBuf}
	stderr := func() string {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		return stderrBuf.String()
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node %s: %v", script, err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	send := func(v any) {
		t.Helper()
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stdin.Write(append(line, '\n')); err != nil {
			t.Fatalf("writing to %s: %v", script, err)
		}
	}
	send(input)

	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for lines.Scan() {
		var step nodeStep
		if err := json.Unmarshal(lines.Bytes(), &step); err != nil {
			t.Fatalf("%s printed a line that is not JSON (%d bytes): %v", script, len(lines.Bytes()), err)
		}
		switch step["step"] {
		case "result":
			return step
		case "error":
			// The error line carries the library's error class, code, message and the OAuth
			// error, never its cause (io.mjs).
			t.Fatalf("%s failed: %s\nstderr: %s", script, mustJSON(step), stderr())
		default:
			if answer == nil {
				t.Fatalf("%s printed step %v, which this test does not answer", script, step["step"])
			}
			if reply := answer(step); reply != nil {
				send(reply)
			}
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %s\nstderr: %s", script, timeout, stderr())
	}
	_ = stdin.Close()
	err = cmd.Wait()
	t.Fatalf("%s ended without a result line (%v)\nstderr: %s", script, err, stderr())
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// field walks a decoded JSON value by object keys: field(v, "token", "scope").
func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str is field as a string ("" when absent or not a string).
func str(v any, path ...string) string {
	s, _ := field(v, path...).(string)
	return s
}

// jsonStrings reads a decoded JSON string array, or a space-separated string, as strings.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// appRedirect stands for the client application's web server: the redirect URIs the
// browser lands on (/callback after authorization, /logged-out after end session). It
// hands each full URL, as the browser requested it, to the test, which passes it to the
// library the way an application's route handler would.
type appRedirect struct {
	*httptest.Server
	got chan string
}

func newAppRedirect(t *testing.T) *appRedirect {
	a := &appRedirect{got: make(chan string, 4)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/callback", "/logged-out":
		default:
			http.NotFound(w, r)
			return
		}
		a.got <- "http://" + r.Host + r.URL.RequestURI()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>Done</title><p id="done">Back at the application.</p>`)
	}))
	t.Cleanup(a.Close)
	return a
}

// wait returns the next URL the browser reached at the application.
func (a *appRedirect) wait(t *testing.T, what string) string {
	t.Helper()
	select {
	case u := <-a.got:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("the browser never reached the application's %s", what)
		return ""
	}
}
