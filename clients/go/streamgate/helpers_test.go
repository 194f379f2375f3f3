package streamgate_test

import (
	"context"
	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// testTimeout bounds every call of a test, so a server that never answers fails the test
// instead of hanging it.
const testTimeout = 20 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Context(t), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// requireCode fails unless err carries the gRPC code want and, when naming is not empty, a
// message mentioning it (the field the server blames).
func requireCode(t *testing.T, err error, want codes.Code, naming string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if got := status.Code(err); got != want {
		t.Fatalf("got code %s (%v), want %s", got, err, want)
	}
	if naming != "" && !strings.Contains(strings.ToLower(status.Convert(err).Message()), strings.ToLower(naming)) {
		t.Fatalf("message %q does not name %q", status.Convert(err).Message(), naming)
	}
}

func contextWithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}
