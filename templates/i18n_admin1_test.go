package templates

import "time"

// The admin console's pages (part 1: home, apps, APIs, audit log) for
// TestEveryPageInEveryLocale, with realistic data and each branch that shows
// its own text. Identifiers that are English words (the auth method none)
// are left out: they are data, and the English-word check would flag them.

func adminHomeView(now time.Time) AdminHomeView {
	today := now.UTC().Truncate(24 * time.Hour)
	chart := func(id string, title, desc Msg, series []AdminChartSeries) AdminChart {
		c := AdminChart{ID: id, Title: title, Description: desc, Width: 640, Height: 220, Left: 36, Top: 12, Base: 196, Peak: 1200,
			Series: series, RefusalColor: "#d64545"}
		for d := range 3 {
			day := today.AddDate(0, 0, d-2)
			row := AdminChartDay{Date: day.Format(time.DateOnly), Day: day, LabelX: 50 + 40*d, ShowLabel: true, Refused: 2}
			for i, s := range series {
				row.Values = append(row.Values, 1200*(i+1)/len(series))
				var what any = s.Name
				if s.Label.Key != "" {
					what = s.Label
				}
				row.Bars = append(row.Bars, AdminChartBar{X: 40 + 40*d, Y: 20, W: 20, H: 100, Color: s.Color, Label: M("%[1]s: %[2]d %[3]s", ShortDay(day), 1200, what)})
			}
			row.Bars = append(row.Bars, AdminChartBar{X: 61 + 40*d, Y: 180, W: 10, H: 16, Color: "#d64545", Label: M("%[1]s: %[2]d refused", ShortDay(day), 2)})
			c.Days = append(c.Days, row)
		}
		return c
	}
	return AdminHomeView{Page: Page{Title: "Administration", SignedInAs: "Aled Jones"}, Admin: "Aled Jones",
		Sections: []AdminSection{
			{ID: "apps", Name: M("Apps"), Href: "/admin/apps", Ready: true, About: M("The applications (OAuth clients) that use Gatehouse.")},
			{ID: "audit", Name: M("Audit log"), Href: "/admin/audit", About: M("Who did what, when: filter, page through and export.")},
		},
		Charts: []AdminChart{
			chart("signins", M("Sign-ins per provider per day"),
				M("Successful sign-ins stacked by provider, and refused sign-ins in red, for each of the last %d days (UTC).", 14),
				[]AdminChartSeries{{Name: "gig", Color: "#3b7dd8"}, {Name: "prifysgol", Color: "#2f9e5b"}}),
			chart("tokens", M("Tokens issued per day"),
				M("Access tokens issued (including token exchanges), and refused OAuth requests in red, for each of the last %d days (UTC).", 14),
				[]AdminChartSeries{{Name: "Issued", Label: M("Issued"), Color: "#3b7dd8"}}),
		}}
}

func adminAppsView(now time.Time) AdminAppsView {
	return AdminAppsView{Page: Page{Title: "Apps", SignedInAs: "Aled Jones"}, Notice: M("The app was saved."), Apps: []AdminAppRow{
		{ID: "nodiadau", Name: "Nodiadau", Type: M("confidential"), FirstParty: true, Grants: "authorization_code refresh_token",
			LastUse: Moment{At: now.Add(-3 * time.Hour), Now: now}},
		{ID: "calendr", Name: "Calendr", Type: M("public"), Grants: "authorization_code", LastUse: Moment{Now: now}},
	}}
}

func adminAppFormView(now time.Time, isNew bool) AdminAppFormView {
	v := AdminAppFormView{Page: Page{Title: "Add an app", SignedInAs: "Aled Jones"}, New: isNew, Action: "/admin/apps/new",
		Fields: AdminAppFields{ID: "nodiadau", Name: "Nodiadau", RedirectURIs: "https://nodiadau.example/cb", GrantTypes: "authorization_code refresh_token",
			Scopes: "openid profile", AccessTokenTTL: "15m", CertSubjectKind: "subject_dn", CertSubject: "CN=nodiadau,O=GIG"},
		GrantTypes:  "authorization_code refresh_token client_credentials urn:ietf:params:oauth:grant-type:token-exchange",
		AuthMethods: "client_secret_basic client_secret_post private_key_jwt tls_client_auth", IDTokenAlgs: "RS256 ES256 EdDSA",
		TokenTypes: "urn:ietf:params:oauth:token-type:access_token urn:ietf:params:oauth:token-type:id_token",
		Problems: []Msg{M("Certificate subject kind must be subject_dn, san_dns, san_uri, san_ip or san_email."),
			M("%s: %s is not a duration like 15m.", M("Access-token lifetime"), `"awr"`),
			M("An app with this client ID exists already: choose another, or leave it empty to have one generated.")}}
	if !isNew {
		v.Page.Title, v.Heading, v.Action, v.Version = "Edit an app", M("Edit %s", "Nodiadau"), "/admin/apps/nodiadau", 4
		v.SecretSet, v.LastUse, v.Conflict = true, Moment{At: now.AddDate(-1, 0, 0), Now: now}, true
		v.Problems = []Msg{M("Someone else changed this app meanwhile: open it again and repeat the change.")}
		v.Changes = []AdminAppChange{{Field: M("Name"), Stored: M("%s", "Nodiadau"), Yours: M("%s", "Nodiadau 2")},
			{Field: M("First-party"), Stored: M("yes"), Yours: M("no")}, {Field: M("Require DPoP"), Stored: M("no"), Yours: M("yes")},
			{Field: M("Redirect URIs"), Stored: M("%s", "https://nodiadau.example/cb"), Yours: M("%s", "")}}
	}
	return v
}

func adminAuditView(now time.Time) AdminAuditView {
	return AdminAuditView{Page: Page{Title: "Audit log", SignedInAs: "Aled Jones"},
		Filter: AdminAuditFilter{Person: "aled@gig.example", Outcome: "refusal", Since: "2026-12-01T00:00"}, ExportCSV: "/c", ExportJSONL: "/j",
		Events: []AdminAuditRow{
			{ID: "2", Time: now.Add(-time.Minute), Actor: "u-1", Action: "signin.refused", Target: "gig", IP: "192.0.2.7", Refusal: true, Details: `{"rheswm":"x"}`},
			{ID: "1", Time: now.Add(-time.Hour), Actor: "client:nodiadau", Action: "token.issued", Target: "u-1", Details: `{"scope":"openid"}`},
		},
		Older: "/admin/audit?after=1", Newest: "/admin/audit"}
}
