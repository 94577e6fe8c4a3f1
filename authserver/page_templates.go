package authserver

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
)

// templatePages are the pages a folder of templates may override, besides layout.html,
// the frame every page is rendered in (it defines "layout" and calls "content").
var templatePages = []string{"login", "consent", "error", "logout", "device"}

// PageTemplates are the HTML pages' templates: the built-in ones, some or all replaced
// by an operator's (LoadPageTemplates). A nil *PageTemplates means the built-in pages.
type PageTemplates struct {
	sets map[string]*template.Template
}

// builtinPages are the embedded pages.
var builtinPages = func() *PageTemplates {
	p, err := loadPageTemplates(func(string) ([]byte, string, error) { return nil, "", fs.ErrNotExist })
	if err != nil {
		panic(err)
	}
	return p
}()

// LoadPageTemplates reads layout.html, login.html, consent.html, error.html, logout.html and device.html
// from dir,
// each replacing the built-in file of that name; a file that is absent falls back to the
// built-in one. The files are Go html/template text (see docs/templates.md for the data
// each gets). A template that does not parse is refused, its error naming the file and
// line.
func LoadPageTemplates(dir string) (*PageTemplates, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("templates: %s is not a folder", dir)
	}
	return loadPageTemplates(func(file string) ([]byte, string, error) {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		return b, path, err
	})
}

// loadPageTemplates builds every page's set from the operator's files (read) where
// present, the embedded ones elsewhere.
func loadPageTemplates(read func(file string) ([]byte, string, error)) (*PageTemplates, error) {
	source := func(file string) ([]byte, string, error) {
		b, path, err := read(file)
		if err == nil {
			return b, path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("templates: %w", err)
		}
		b, err = templateFS.ReadFile("templates/" + file)
		return b, "", err
	}
	out := &PageTemplates{sets: map[string]*template.Template{}}
	for _, page := range templatePages {
		set := template.New(page)
		for _, file := range []string{"layout.html", page + ".html"} {
			text, path, err := source(file)
			if err != nil {
				return nil, err
			}
			if _, err := set.New(file).Parse(string(text)); err != nil {
				if path == "" {
					return nil, fmt.Errorf("built-in template %s: %w", file, err)
				}
				// html/template's error names the file and line ("template: login.html:3: ...").
				return nil, fmt.Errorf("templates: %s: %w", path, err)
			}
		}
		if set.Lookup("layout") == nil {
			return nil, fmt.Errorf("templates: layout.html must define the template \"layout\"")
		}
		out.sets[page] = set
	}
	return out, nil
}

// pages returns the server's page templates.
func (s *Server) pages() *PageTemplates {
	if s.cfg.Pages != nil {
		return s.cfg.Pages
	}
	return builtinPages
}
