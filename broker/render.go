package broker

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse/gatehouse/templates"
)

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	page := templates.Page{Title: "Welcome"}
	if _, u, ok := s.web.CurrentSession(r); ok {
		page.SignedInAs = displayName(u)
	}
	return render(w, r, http.StatusOK, templates.Home(templates.HomeView{Page: page, Issuer: s.cfg.Issuer.String()}))
}
