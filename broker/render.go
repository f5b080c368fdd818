package broker

import (
	"net/http"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	page := templates.Page{Title: "Welcome"}
	if _, u, ok := s.web.CurrentSession(r); ok {
		page.SignedInAs = web.DisplayName(u)
	}
	return web.Render(w, r, http.StatusOK, templates.Home(templates.HomeView{Page: page, Issuer: s.cfg.Issuer.String(), Demo: s.demo}))
}
