package config

import "strings"

// Example renders the documentation of every setting in .env file syntax; the
// repository's .env.example is this text (a test keeps them equal).
func Example() string {
	var b strings.Builder
	b.WriteString("# Gatehouse configuration. Every setting, its default and what it does.\n")
	b.WriteString("# Copy to .env (read from the working directory) or set in the environment;\n")
	b.WriteString("# command-line flags (--listen-addr …) override both.\n")
	for _, s := range Settings {
		b.WriteString("\n# " + s.Help + "\n")
		b.WriteString("#" + s.Env + "=" + s.Default + "\n")
	}
	return b.String()
}
