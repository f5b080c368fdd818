package templates

import "time"

// Views of the admin console's people, identity providers, test sign-in and
// security keys pages (part 2 of the console) for pagesForI18n: realistic
// data, free of the English words TestEveryPageInEveryLocale looks for.

func adminPersonView(now time.Time) AdminPersonView {
	return AdminPersonView{Page: Page{Title: "Person", SignedInAs: "Aled Jones"}, Heading: "Aled Jones", Notice: M("Disabled: their sessions ended and their tokens were revoked."),
		Base: "/admin/people/u1", Name: "Aled Jones", Email: "aled@gig.example", Created: now.AddDate(-1, -2, 0),
		Identities: []AdminPersonIdentity{{Provider: "GIG Cymru", Subject: "248289761001", Email: "aled@gig.example", Linked: now.AddDate(-1, 0, 0), LastSignIn: now.Add(-2 * time.Hour)},
			{Provider: "Prifysgol", Subject: "aled.jones", Email: "aled@prifysgol.example", Linked: now.AddDate(0, -3, 0)}},
		Roles: []AdminPersonRole{{Role: "admin", From: M("granted by %s on %s", "Bethan Huws (bethan@gig.example)", Moment{At: now.AddDate(0, -1, 0), Now: now}), Revoke: "/admin/people/u1/roles/admin/revoke"},
			{Role: "golygydd", From: M("role rules of %s (identity %s, its last sign-in's claims)", "gig", "248289761001")}},
		Sessions: []AdminPersonSession{{Provider: "gig", IP: "192.0.2.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
			Started: now.Add(-3 * time.Hour), LastSeen: now.Add(-5 * time.Minute)}},
		Consents: []AdminPersonConsent{{App: "Nodiadau", ClientID: "nodiadau", Scopes: "openid profile email", Since: now.AddDate(0, -2, 0), LastUsed: now.Add(-time.Hour)},
			{App: "Calendr", ClientID: "calendr", Scopes: "openid", Since: now.AddDate(0, -1, 0)}},
		Given: []AdminPersonDelegation{{Other: M("%s", "Dr Lewis (lewis@gig.example)"), Audience: "https://cynlluniau.example", Scopes: "darllen",
			Status: M("Active"), Expires: now.Add(48 * time.Hour)},
			{Other: M("app %s", "calendr"), Audience: "https://cynlluniau.example", Scopes: "darllen newid", Status: M("Active, expiring within a day"), Expires: now.Add(3 * time.Hour)},
			{Other: M("%s", "Dr Owen (owen@gig.example)"), Audience: "https://cynlluniau.example", Scopes: "darllen", Status: M("Expired"), Expires: now.AddDate(0, 0, -3)},
			{Other: M("%s", "Dr Owen (owen@gig.example)"), Audience: "https://cynlluniau.example", Scopes: "darllen", Status: M("Declined"), Expires: now.AddDate(0, 0, 3)},
			{Other: M("%s", "Dr Owen (owen@gig.example)"), Audience: "https://cynlluniau.example", Scopes: "darllen", Status: M("Revoked"), Expires: now.AddDate(0, 0, 3)}},
		Events: []AdminPersonEvent{{Time: now.Add(-time.Hour), Actor: "Bethan Huws (bethan@gig.example)", Action: "role.granted", Target: "u1", Details: `{"role":"admin","via":"console"}`}},
		Role:   "golygydd"}
}

func adminOIDCFields(change ...func(*AdminProviderFields)) AdminProviderFields {
	f := AdminProviderFields{ID: "gig", Kind: "oidc", Name: "GIG Cymru", Domains: "gig.example", TrustEmailLinking: true,
		RoleRules: "groups | gweinyddwyr | admin", MapSubject: "sub", MapEmail: "email", MapName: "name", MapGroups: "groups",
		ExchangeEnabled: true, ExchangeAudiences: "nodiadau", ExchangeOneTime: true, Issuer: "https://login.gig.example", ClientID: "gatehouse",
		Scopes: "openid email profile", AuthParams: "prompt=select_account", SigningAlgs: "RS256 ES256", UserinfoMerge: true}
	for _, c := range change {
		c(&f)
	}
	return f
}

func adminSAMLFields() AdminProviderFields {
	return AdminProviderFields{ID: "prifysgol", Kind: "saml", Name: "Prifysgol", Domains: "prifysgol.example", MetadataURL: "https://idp.prifysgol.example/metadata",
		AllowIDPInitiated: true, RequireSignedAssertion: true, EmailsVerified: true, SignRequests: true, RequireEncryptedAssertions: true}
}

func adminSAMLMetadata(now time.Time) *AdminSAMLMetadata {
	return &AdminSAMLMetadata{EntityID: "https://idp.prifysgol.example/idp", SSO: []string{"https://idp.prifysgol.example/sso (HTTP-Redirect)"},
		SLO: []string{"https://idp.prifysgol.example/slo (HTTP-POST)"}, Certs: []AdminCert{{Subject: "CN=idp.prifysgol.example", NotAfter: now.AddDate(0, 0, 20), Soon: true},
			{Subject: "CN=idp2.prifysgol.example", NotAfter: now.AddDate(2, 0, 0)}}}
}

func adminSPInfo() *AdminSPInfo {
	return &AdminSPInfo{MetadataURL: "https://id.example/saml/prifysgol/metadata", EntityID: "https://id.example/saml/prifysgol",
		ACS: "https://id.example/saml/prifysgol/acs", Certificate: "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----"}
}
