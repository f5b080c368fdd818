package broker

import (
	"net/http"

	"github.com/gatehouse/gatehouse/templates"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	return render(w, r, http.StatusOK, templates.Home(templates.HomeView{
		Page:   templates.Page{Title: "Welcome"},
		Issuer: s.cfg.Issuer.String(),
	}))
}
