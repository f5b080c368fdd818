package admin_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestConsolePeopleAndProvidersInWelsh: a browser asking for Welsh
// (Accept-Language: cy) gets a person's page, the disable confirmation and
// the identity providers in Welsh, lang="cy", dates and counts included; the
// same pages without the header stay in English.
func TestConsolePeopleAndProvidersInWelsh(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, bobID := w.signIn("bob@uni.example")

	get := func(path, lang string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, w.Abs(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s (%s): %d\n%s", path, lang, res.StatusCode, b)
		}
		return string(b)
	}
	for _, tc := range []struct {
		path        string
		welsh, gone []string
		english     string
	}{
		{"/admin/people/" + bobID, []string{"Hunaniaethau cysylltiedig", "Sesiynau gweithredol", "Rhoi rôl", "Dod â phob sesiwn i ben…"},
			[]string{"Linked identities", "Active sessions", "Grant a role"}, "Linked identities"},
		{"/admin/people/" + bobID + "/disable", []string{"Analluogi’r person hwn?", "Daw eu 1 sesiwn weithredol i ben nawr", "Ni ellir analluogi’r gweinyddwr olaf."},
			[]string{"can no longer sign in", "active session"}, "Their 1 active session ends now"},
		{"/admin/providers", []string{"Darparwyr hunaniaeth", "Pobl gysylltiedig", "Ychwanegu darparwr hunaniaeth"},
			[]string{"Identity providers", "Linked people"}, "Add an identity provider"},
	} {
		page := get(tc.path, "cy-GB,cy;q=0.9,en;q=0.5")
		if !strings.Contains(page, `<html lang="cy">`) {
			t.Errorf("%s in Welsh: no <html lang=\"cy\">", tc.path)
		}
		for _, s := range tc.welsh {
			if !strings.Contains(page, s) {
				t.Errorf("%s in Welsh lacks %q", tc.path, s)
			}
		}
		for _, s := range tc.gone {
			if strings.Contains(page, s) {
				t.Errorf("%s in Welsh still shows %q", tc.path, s)
			}
		}
		if page := get(tc.path, ""); !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, tc.english) {
			t.Errorf("%s without Accept-Language is not the English page", tc.path)
		}
	}
}
