// Package templates holds Gatehouse's server-rendered pages as templ components.
// Each component takes a typed view struct built by the broker, never a store or a
// request, so a page can be rendered and tested on its own.
package templates
