package broker

import (
	"net/http"

	"github.com/gatehouse/gatehouse/templates"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	page := templates.Page{Title: "Welcome"}
	if _, u, ok := s.currentSession(r); ok {
		page.SignedInAs = displayName(u)
	}
	return render(w, r, http.StatusOK, templates.Home(templates.HomeView{Page: page, Issuer: s.cfg.Issuer.String()}))
}
