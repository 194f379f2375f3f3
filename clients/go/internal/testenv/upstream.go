package testenv

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// Upstream starts a loopback HTTP server (127.0.0.1 only) running handler; the test's cleanup
// closes it. Servers that fetch from it need --allow-private-networks.
func Upstream(tb testing.TB, handler http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(handler)
	tb.Cleanup(srv.Close)
	return srv
}

// ClosedPort is a loopback address nothing listens on (it was free a moment ago).
func ClosedPort(tb testing.TB) string {
	tb.Helper()
	return "127.0.0.1:" + strconv.Itoa(freePort(tb))
}
