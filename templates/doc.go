// Package templates holds Gatehouse's server-rendered pages as templ components.
// Each component takes a typed view struct built by the broker, never a store or a
// request, so a page can be rendered and tested on its own.
//
// # Languages
//
// Every string a page shows comes from the message catalogues in locales/
// (en.json, cy.json; i18n.go loads them into golang.org/x/text's catalog). The
// key is the English text. How to add a string:
//
//   - In a .templ file write { T(ctx, "Sign in") }, or with values
//     { T(ctx, "Continue with %s", p.Name) }. A sentence with markup inside uses
//     @TC("You will be signed in as %s.", strong("who", v.Who)); the translator
//     places the %s.
//   - A sentence the broker composes in Go goes in the view as a Msg:
//     templates.M("%s can now %s in %s until %s.", who, list, api, moment), where
//     an argument may be a List, a Moment (a time) or a Span (a length of time);
//     the page says it with { v.Notice.In(ctx) }. Page titles and web.UserError
//     titles and messages stay plain English strings: the page translates them.
//     Put a name in UserError.MessageArgs, never into Message itself.
//   - Add the key to locales/en.json (a counted message has plural forms:
//     {"one": "%d day", "other": "%d days"}) and its translation to every other
//     catalogue (Welsh needs zero, one, two, few, many and other).
//   - Run go test ./templates: TestEveryPageInEveryLocale renders every page in
//     every language and names any string missing from a catalogue or left in
//     English on a Welsh page (add a new page to pagesForI18n);
//     TestErrorPagesInCatalogues finds UserErrors, page titles and templates.M
//     keys missing; TestCatalogues and TestCataloguesHaveNoDeadStrings keep the
//     catalogues complete and free of strings nothing uses.
//
// A new language is a new locales/<tag>.json with every key of en.json.
package templates
