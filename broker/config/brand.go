package config

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// hexColor is the only colour syntax accepted: nothing else can reach the CSS
// built from it (no url(), no ; or }, no comments).
var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// minContrast is WCAG 2.1 SC 1.4.3's ratio for normal text: links and button
// labels are drawn in (or on) the primary colour.
const minContrast = 4.5

func brandColor(dst *string, v, against, againstName string) error {
	if v == "" {
		*dst = ""
		return nil
	}
	if !hexColor.MatchString(v) {
		return fmt.Errorf("must be a colour written #rrggbb, like #1f4b7a")
	}
	v = strings.ToLower(v)
	if r := ContrastRatio(v, against); r < minContrast {
		return fmt.Errorf("%s has contrast %.1f:1 against %s; text needs at least 4.5:1 (WCAG 1.4.3)", v, r, againstName)
	}
	*dst = v
	return nil
}

// ContrastRatio is WCAG 2.1's contrast ratio of two #rrggbb colours (1 to 21).
func ContrastRatio(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2.1's relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	var l [3]float64
	for i := range l {
		n, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(n) / 255
		if c <= 0.03928 {
			l[i] = c / 12.92
		} else {
			l[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

func isHTTPSURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.Host != ""
}
