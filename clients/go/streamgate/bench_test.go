package streamgate_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

// Round-trip cost of one unary call from this client to the real server (the health check
// does no work of its own), and of an uncontended Lock + Release pair (in-process backend):
//
//	go test -run '^$' -bench . -benchtime 200x ./streamgate/
func BenchmarkUnaryHealthCheck(b *testing.B) {
	c := testenv.StartServer(b).Dial(b)
	health := grpc_health_v1.NewHealthClient(c.Conn())
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLockRelease(b *testing.B) {
	c := testenv.StartServer(b).Dial(b)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		l, err := c.Lock(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
