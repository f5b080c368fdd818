package broker

import (
	"net/http"
)

// The browser cookie and CSRF protection live in broker/web; these are the names
// the broker's handlers were written with.

func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request, action string) (string, error) {
	return s.web.CSRFToken(w, r, action)
}

func (s *Server) checkCSRF(r *http.Request) error { return s.web.CheckCSRF(r) }
