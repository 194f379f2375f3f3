package streamgate

import (
	"context"
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// Client is a connection to one streamgate server (or a load balancer in front of several).
// It is safe for concurrent use; share one per process, as it multiplexes every call over
// one HTTP/2 connection.
type Client struct {
	conn   *grpc.ClientConn
	fetch  pb.FetchServiceClient
	lock   pb.LockServiceClient
	sensor pb.SensorServiceClient
}

type dialConfig struct {
	creds  credentials.TransportCredentials
	extra  []grpc.DialOption
	noWait bool
}

// DialOption changes how Dial connects.
type DialOption func(*dialConfig)

// WithTLS connects over TLS with the given configuration. Without it the connection is
// plaintext HTTP/2, which is what `streamgate` itself serves; put TLS in front of it (a proxy
// or a mesh) for traffic that leaves the host.
func WithTLS(cfg *tls.Config) DialOption {
	return func(d *dialConfig) { d.creds = credentials.NewTLS(cfg) }
}

// WithGRPCOptions passes extra options to grpc.NewClient (interceptors, window sizes, ...).
func WithGRPCOptions(opts ...grpc.DialOption) DialOption {
	return func(d *dialConfig) { d.extra = append(d.extra, opts...) }
}

// WithoutWaitForReady makes Dial return at once without waiting for the connection to be up;
// the first call then connects. By default Dial waits, so a wrong address fails at Dial
// (bounded by ctx) rather than at the first call.
func WithoutWaitForReady() DialOption {
	return func(d *dialConfig) { d.noWait = true }
}

// Dial connects to the streamgate server at addr ("host:port") and, unless
// WithoutWaitForReady is given, waits until the connection is ready or ctx is done.
func Dial(ctx context.Context, addr string, opts ...DialOption) (*Client, error) {
	cfg := dialConfig{creds: insecure.NewCredentials()}
	for _, o := range opts {
		o(&cfg)
	}
	grpcOpts := append([]grpc.DialOption{grpc.WithTransportCredentials(cfg.creds)}, cfg.extra...)
	conn, err := grpc.NewClient(addr, grpcOpts...)
	if err != nil {
		return nil, fmt.Errorf("streamgate: dial %s: %w", addr, err)
	}
	if !cfg.noWait {
		if err := waitReady(ctx, conn); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("streamgate: dial %s: %w", addr, err)
		}
	}
	return NewClient(conn), nil
}

// NewClient wraps a grpc.ClientConn the caller made. Close then closes conn.
func NewClient(conn *grpc.ClientConn) *Client {
	return &Client{
		conn:   conn,
		fetch:  pb.NewFetchServiceClient(conn),
		lock:   pb.NewLockServiceClient(conn),
		sensor: pb.NewSensorServiceClient(conn),
	}
}

// waitReady drives the lazy grpc-go connection until it is READY. A refused connection only
// moves it to TRANSIENT_FAILURE and back, so the wait is bounded by ctx alone.
func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		state := conn.GetState()
		if state == connectivity.Ready {
			return nil
		}
		if state == connectivity.Shutdown {
			return fmt.Errorf("connection shut down")
		}
		if !conn.WaitForStateChange(ctx, state) {
			return fmt.Errorf("connection not ready (last state %s): %w", state, ctx.Err())
		}
	}
}

// Close closes the connection; calls in flight end with codes.Canceled.
func (c *Client) Close() error {
	return c.conn.Close()
}

// Conn is the underlying connection, for health checks or other services on the same server.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// FetchService is the generated FetchService stub, for fields the wrapper does not expose.
func (c *Client) FetchService() pb.FetchServiceClient { return c.fetch }

// LockService is the generated LockService stub.
func (c *Client) LockService() pb.LockServiceClient { return c.lock }

// SensorService is the generated SensorService stub.
func (c *Client) SensorService() pb.SensorServiceClient { return c.sensor }
