package admin_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/broker/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster a test may start.
func TestMain(m *testing.M) { pgtest.Main(m) }
