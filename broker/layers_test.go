package broker

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The import rules of DESIGN.md "Layout" and STYLE.md "Layout": imports point one
// way, broker (wiring) → capabilities → the web layer, operations and domain
// packages → store. This test reads the import lists of the production (non-test)
// files, so the next feature cannot break the layering without failing here.

const modulePath = "github.com/gatehouse/gatehouse"

// capabilities are the packages that serve one capability each. None may import
// another: what two of them share moves down into broker/web or a domain package.
// Add a capability here when its package is created.
var capabilities = []string{
	"broker/signin",
	"broker/oauth",
	"broker/exchange",
	"broker/delegation",
	"broker/admin",
	"broker/passkeys",
}

// sqlPackages are database/sql and its drivers: only broker/store speaks SQL.
var sqlPackages = []string{
	"database/sql",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/lib/pq",
	"github.com/mattn/go-sqlite3",
}

func TestLayersImportRules(t *testing.T) {
	pkgs := importLists(t, "..")
	for _, want := range []string{"broker", "broker/web", "broker/signin", "broker/oauth", "broker/store", "broker/store/sqlstore", "cmd/gatehouse"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("package %s not found: the test reads the wrong tree", want)
		}
	}
	for _, v := range layerViolations(pkgs) {
		t.Error(v)
	}
}

// TestLayersRulesCatchViolations: each rule reports a package that breaks it, and
// a tree that keeps them all passes.
func TestLayersRulesCatchViolations(t *testing.T) {
	ok := map[string][]string{
		"broker":                {modulePath + "/broker/web", modulePath + "/broker/oauth", modulePath + "/broker/store"},
		"broker/oauth":          {modulePath + "/broker/web", modulePath + "/broker/token"},
		"broker/signin":         {modulePath + "/broker/web", modulePath + "/providers"},
		"broker/web":            {modulePath + "/broker/audit", modulePath + "/templates", "net/http"},
		"broker/store/sqlstore": {"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib"},
		"cmd/gatehouse":         {modulePath + "/broker", modulePath + "/broker/rs"},
		"broker/rs":             {"net/http", "github.com/go-jose/go-jose/v4", modulePath + "/broker/dpop", modulePath + "/broker/mtls"},
	}
	if v := layerViolations(ok); len(v) != 0 {
		t.Fatalf("a well-layered tree was refused: %q", v)
	}
	for _, tc := range []struct {
		name, pkg, imports string
	}{
		{"web imports broker", "broker/web", modulePath + "/broker"},
		{"web imports a capability", "broker/web", modulePath + "/broker/signin"},
		{"web imports cmd", "broker/web", modulePath + "/cmd/gatehouse"},
		{"domain package imports broker", "broker/token", modulePath + "/broker"},
		{"domain package imports a capability", "broker/audit", modulePath + "/broker/oauth"},
		{"capability imports another", "broker/oauth", modulePath + "/broker/signin"},
		{"capability imports broker", "broker/signin", modulePath + "/broker"},
		{"SQL outside the store", "broker/web", "database/sql"},
		{"a driver outside the store", "cmd/gatehouse", "github.com/jackc/pgx/v5/stdlib"},
		{"the wiring imports rs", "broker", modulePath + "/broker/rs"},
		{"a capability imports rs", "broker/oauth", modulePath + "/broker/rs"},
		{"rs imports the token package", "broker/rs", modulePath + "/broker/token"},
		{"rs imports a library", "broker/rs", "github.com/coreos/go-oidc/v3/oidc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := map[string][]string{}
			for k, v := range ok {
				pkgs[k] = slices.Clone(v)
			}
			pkgs[tc.pkg] = append(pkgs[tc.pkg], tc.imports)
			if v := layerViolations(pkgs); len(v) != 1 || !strings.Contains(v[0], tc.pkg+" ") {
				t.Errorf("violations = %q, want one naming %s", v, tc.pkg)
			}
		})
	}
}

// layerViolations checks pkgs (module-relative directory → imported paths) against
// the rules and describes every breach.
func layerViolations(pkgs map[string][]string) []string {
	var out []string
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, dir := range dirs {
		own := capabilityOf(dir)
		for _, imp := range pkgs[dir] {
			rel, inModule := strings.CutPrefix(imp, modulePath+"/")
			switch {
			case dir == "broker/rs" && !rsMayImport(imp):
				out = append(out, dir+" imports "+imp+": the resource-server library imports only the standard library, go-jose, broker/dpop and broker/mtls")
			case rel == "broker/rs" && inModule && (dir == "broker" || strings.HasPrefix(dir, "broker/")):
				out = append(out, dir+" imports broker/rs: the resource-server library is for the APIs behind Gatehouse, never the server")
			case isSQL(imp) && dir != "broker/store" && !strings.HasPrefix(dir, "broker/store/"):
				out = append(out, dir+" imports "+imp+": only broker/store speaks SQL")
			case !inModule || !strings.HasPrefix(dir, "broker/"):
				// Only packages below broker are layered.
			case rel == "broker":
				out = append(out, dir+" imports broker: only cmd imports the wiring")
			case rel == "cmd" || strings.HasPrefix(rel, "cmd/"):
				out = append(out, dir+" imports "+rel+": nothing below cmd imports it")
			case capabilityOf(rel) != "" && own == "":
				out = append(out, dir+" imports capability "+rel+": capabilities sit above the web and domain layers")
			case capabilityOf(rel) != "" && capabilityOf(rel) != own:
				out = append(out, dir+" imports capability "+rel+": a capability never imports another; move what they share down")
			}
		}
	}
	return out
}

// capabilityOf returns the capability package dir is (or is inside), or "".
func capabilityOf(dir string) string {
	for _, c := range capabilities {
		if dir == c || strings.HasPrefix(dir, c+"/") {
			return c
		}
	}
	return ""
}

// rsMayImport: broker/rs is imported by third-party APIs, so it depends on
// nothing of the server: the standard library, go-jose, and the two protocol
// packages it shares with the server (DPoP proofs, client certificates).
func rsMayImport(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".") || imp == "github.com/go-jose/go-jose/v4" ||
		strings.HasPrefix(imp, "github.com/go-jose/go-jose/v4/") ||
		imp == modulePath+"/broker/dpop" || imp == modulePath+"/broker/mtls"
}

func isSQL(imp string) bool {
	for _, p := range sqlPackages {
		if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}

// importLists parses the imports of every non-test .go file under root (the module
// root) and returns them by module-relative directory.
func importLists(t *testing.T, root string) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			pkgs[rel] = append(pkgs[rel], p)
		}
		if _, ok := pkgs[rel]; !ok {
			pkgs[rel] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the module root: %v", root, err)
	}
	return pkgs
}
