// Package static embeds Gatehouse's CSS, icons and scripts and serves them under
// content-hashed URLs, so browsers may cache them for a year and a new release is
// fetched at once.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed assets
var files embed.FS

const prefix = "/static/"

type asset struct {
	name        string // file name inside assets/
	contentType string
}

var index = sync.OnceValues(func() (map[string]asset, map[string]string) {
	byURL := map[string]asset{}
	urls := map[string]string{}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	for _, e := range entries {
		b, err := files.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:6]) + ext
		byURL[hashed] = asset{name: e.Name(), contentType: contentTypes[ext]}
		urls[e.Name()] = prefix + hashed
	}
	return byURL, urls
})

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
	".ico": "image/x-icon",
}

// URL returns the content-hashed URL of an embedded asset, e.g. URL("style.css")
// is "/static/style.1a2b3c4d5e6f.css". It panics on an unknown name: that is a
// programming error caught by the first render in any test.
func URL(name string) string {
	_, urls := index()
	u, ok := urls[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return u
}

// Handler serves assets at their hashed URLs with immutable caching; anything else
// under /static/ goes to notFound, so a stale page never gets a mismatched asset.
func Handler(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		byURL, _ := index()
		a, ok := byURL[strings.TrimPrefix(r.URL.Path, prefix)]
		if !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		b, _ := files.ReadFile("assets/" + a.name)
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Write(b)
	})
}
