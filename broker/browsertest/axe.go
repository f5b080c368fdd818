package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// AxeTags are the axe-core rule tags Axe runs: WCAG 2.0 and 2.1, levels A and
// AA (issue 12, "Pages … are accessible").
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// AxeViolation is one axe-core rule a page breaks, with the elements that
// break it.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target         []string `json:"target"`
		FailureSummary string   `json:"failureSummary"`
	} `json:"nodes"`
}

func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %s: %s", strings.Join(n.Target, " "), strings.ReplaceAll(n.FailureSummary, "\n", " "))
	}
	return b.String()
}

var axeSource struct {
	sync.Mutex
	js string
}

// axeScript returns axe.min.js of the pinned axe-core (testdata/axe-core beside
// this file), installing it with npm ci on first use. Without node and npm t
// skips, except under CI=true.
func axeScript(t testing.TB) string {
	t.Helper()
	axeSource.Lock()
	defer axeSource.Unlock()
	if axeSource.js == "" {
		_, file, _, _ := runtime.Caller(0)
		dir := testsupport.NPMCI(t, filepath.Join(filepath.Dir(file), "testdata", "axe-core"), "axe-core")
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
		if err != nil {
			t.Fatalf("browsertest: axe-core: %v", err)
		}
		axeSource.js = string(b)
	}
	return axeSource.js
}

// AxeCheck runs axe-core with AxeTags on the page ctx shows (loaded: wait for
// it first) and returns the violations.
func AxeCheck(t testing.TB, ctx context.Context) []AxeViolation {
	t.Helper()
	src := axeScript(t)
	// Injected through DevTools (Runtime.evaluate), which the pages'
	// Content-Security-Policy does not govern: nothing of the page changes.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src))
	}
	if err != nil {
		t.Fatalf("browsertest: inject axe-core: %v", err)
	}
	tags := `["` + strings.Join(AxeTags, `","`) + `"]`
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]AxeViolation](
		`axe.run(document, {runOnly: {type: "tag", values: `+tags+`}, resultTypes: ["violations"]}).then(r => r.violations)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browsertest: axe.run: %v", err)
	}
	return vs
}

// Axe fails t (without stopping it) with every WCAG 2.1 A/AA violation axe-core
// finds on the page ctx shows, in the light and in the dark colour scheme
// (the stylesheet has both: prefers-color-scheme): rule, impact, the
// elements' selectors, help. It leaves the colour scheme unemulated.
func Axe(t testing.TB, ctx context.Context) {
	t.Helper()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatalf("browsertest: emulate %s: %v", scheme, err)
		}
		vs := AxeCheck(t, ctx)
		if len(vs) == 0 {
			continue
		}
		var b strings.Builder
		for _, v := range vs {
			b.WriteString("\n  " + v.String())
		}
		t.Errorf("axe-core: %d accessibility violation(s) on %s (%s):%s", len(vs), loc, scheme, b.String())
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatalf("browsertest: reset the colour scheme: %v", err)
	}
}
