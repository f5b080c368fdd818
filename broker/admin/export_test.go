package admin

import "testing"

// SetExportLimit lowers the export cap for t, so a test can pass it with a
// few events.
func SetExportLimit(t testing.TB, n int) {
	old := exportLimit
	exportLimit = n
	t.Cleanup(func() { exportLimit = old })
}
