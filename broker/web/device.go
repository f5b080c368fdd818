package web

import "strings"

// Device is a browser and operating system named in words for the account page,
// read from a User-Agent header. Either is "" when it is not recognised; the
// page then says "Unknown browser". The names are product names, not sentences,
// so a message catalogue needs none of them.
type Device struct {
	Browser, OS string
}

// browserRules are tried in order: the first token found names the browser.
// Order matters because User-Agents name their ancestors too: Edge and Opera
// say "Chrome", Chrome says "Safari", every browser says "Mozilla".
var browserRules = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"Opera", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Vivaldi/", "Vivaldi"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"HeadlessChrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Safari/", "Safari"},
	{"curl/", "curl"},
}

// osRules likewise: Android says "Linux", iOS says "like Mac OS X", ChromeOS
// says "X11".
var osRules = []struct{ token, name string }{
	{"Android", "Android"},
	{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"iPod", "iOS"},
	{"CrOS", "ChromeOS"},
	{"Windows", "Windows"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"Linux", "Linux"}, {"X11", "Linux"},
}

// ParseDevice names the browser and OS of a User-Agent header.
func ParseDevice(ua string) Device {
	var d Device
	// Safari's token alone is not enough: Chrome-based browsers carry it too,
	// so Safari is only Safari with a Version/ token (as Apple's Safari sends).
	for _, r := range browserRules {
		if strings.Contains(ua, r.token) {
			if r.name == "Safari" && !strings.Contains(ua, "Version/") {
				continue
			}
			d.Browser = r.name
			break
		}
	}
	for _, r := range osRules {
		if strings.Contains(ua, r.token) {
			d.OS = r.name
			break
		}
	}
	return d
}
