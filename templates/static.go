package templates

import "github.com/gatehouse/gatehouse/static"

func staticURL(name string) string { return static.URL(name) }
