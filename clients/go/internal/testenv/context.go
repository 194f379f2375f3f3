package testenv

import (
	"context"
	"testing"
)

// Context returns a context cancelled when the test ends: testing.T.Context from Go 1.24,
// for the Go 1.23 the module supports.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return ctx
}
