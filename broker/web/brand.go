package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/templates"
)

// BrandCSSPath serves the stylesheet of the configured brand colours. A file
// rather than an inline <style> keeps the CSP's style-src 'self' (WEB-13).
const BrandCSSPath = "/brand.css"

// brandPages builds the brand every page shows from the settings, and the
// stylesheet of its colours: nil and nil when nothing is configured, so the
// default pages are exactly Gatehouse's. The colours are #rrggbb, validated by
// config, so the CSS holds nothing but them.
func brandPages(b config.Brand) (*templates.Brand, []byte) {
	if b == (config.Brand{}) {
		return nil, nil
	}
	out := &templates.Brand{Name: b.Name, LogoURL: b.LogoURL}
	if out.Name == "" {
		out.Name = "Gatehouse"
	}
	if b.Support != "" {
		out.SupportURL, out.SupportText = b.Support, b.Support
		if !strings.HasPrefix(b.Support, "https://") {
			out.SupportURL = "mailto:" + b.Support
		}
	}
	var css strings.Builder
	if b.Color != "" {
		css.WriteString(":root { --brand: " + b.Color + "; --brand-ink: #ffffff; }\n")
	}
	if b.ColorDark != "" {
		css.WriteString("@media (prefers-color-scheme: dark) {\n  :root { --brand: " + b.ColorDark + "; --brand-ink: #0f1318; }\n}\n")
	} else if b.Color != "" {
		// The light colour need not read on the dark background: keep Gatehouse's there.
		css.WriteString("@media (prefers-color-scheme: dark) {\n  :root { --brand: #7fb0e6; --brand-ink: #0f1318; }\n}\n")
	}
	if css.Len() == 0 {
		return out, nil
	}
	sum := sha256.Sum256([]byte(css.String()))
	out.StyleURL = BrandCSSPath + "?v=" + hex.EncodeToString(sum[:6])
	return out, []byte(css.String())
}

// HandleBrandCSS serves the brand colours' stylesheet; its URL changes with
// its content, so browsers may keep it a year.
func (c *Core) HandleBrandCSS(w http.ResponseWriter, r *http.Request) error {
	if c.brandCSS == nil {
		return ErrNotFound
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, err := w.Write(c.brandCSS)
	return err
}
