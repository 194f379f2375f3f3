package streamgate_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

func TestDialWaitingForReadyFailsWithinItsContextWhenNothingListens(t *testing.T) {
	ctx, cancel := context.WithTimeout(testenv.Context(t), 500*time.Millisecond)
	defer cancel()
	addr := testenv.ClosedPort(t)
	c, err := streamgate.Dial(ctx, addr, streamgate.WithWaitForReady())
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial succeeded with nothing listening")
	}
	requireCode(t, err, codes.Unavailable, addr)
}

func TestTheServerReportsEveryServiceServingOverTheClientsConnection(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	health := grpc_health_v1.NewHealthClient(c.Conn())
	for _, service := range []string{"", "streamgate.v1.FetchService", "streamgate.v1.LockService", "streamgate.v1.SensorService"} {
		resp, err := health.Check(testContext(t), &grpc_health_v1.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health of %q: %v", service, err)
		}
		if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %s", service, resp.GetStatus())
		}
	}
}

func TestCallsAfterCloseFailWithoutReachingTheServer(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.Lock(testContext(t), "closed", streamgate.WithWaitTimeout(0)); err == nil {
		t.Fatal("Lock on a closed client succeeded")
	}
}
