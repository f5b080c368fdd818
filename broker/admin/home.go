package admin

import (
	"net/http"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// HandleHome is the console's home: its sections and who is signed in.
func (a *Server) HandleHome(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		charts, err := a.homeCharts(r.Context())
		if err != nil {
			return err
		}
		return web.Render(w, r, http.StatusOK, templates.AdminHome(templates.AdminHomeView{Page: a.page("Administration", p), Charts: charts,
			Admin: p.Name, Sections: []templates.AdminSection{
				{ID: "providers", Name: templates.M("Identity providers"), Href: "/admin/providers", Ready: true,
					About: templates.M("The organisations people sign in with.")},
				{ID: "apps", Name: templates.M("Apps"), Href: "/admin/apps", Ready: true,
					About: templates.M("The applications (OAuth clients) that use Gatehouse.")},
				{ID: "apis", Name: templates.M("APIs"), Href: "/admin/apis", Ready: true,
					About: templates.M("The APIs tokens are issued for, their scopes and delegation policy.")},
				{ID: "people", Name: templates.M("People"), Href: "/admin/people", Ready: true,
					About: templates.M("Accounts, their roles, sessions and delegations.")},
				{ID: "audit", Name: templates.M("Audit log"), Href: "/admin/audit", Ready: true,
					About: templates.M("Who did what, when: filter, page through and export.")},
			}}))
	})
}
