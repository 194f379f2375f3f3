package streamgate

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

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
	creds                     credentials.TransportCredentials
	extra                     []grpc.DialOption
	wait                      bool
	caFile, certFile, keyFile string
	token                     string
}

// DialOption changes how Dial connects.
type DialOption func(*dialConfig)

// WithTLS connects over TLS with the given configuration (an https:// address already
// implies TLS with the system's roots; this replaces that configuration). Without either the
// connection is plaintext HTTP/2, which is what `streamgate` itself serves.
func WithTLS(cfg *tls.Config) DialOption {
	return func(d *dialConfig) { d.creds = credentials.NewTLS(cfg) }
}

// WithGRPCOptions passes extra options to grpc.NewClient (interceptors, window sizes, ...).
func WithGRPCOptions(opts ...grpc.DialOption) DialOption {
	return func(d *dialConfig) { d.extra = append(d.extra, opts...) }
}

// WithWaitForReady makes Dial connect at once and wait, bounded by its ctx, until the
// connection is ready, so a dead address fails at Dial rather than at the first call.
func WithWaitForReady() DialOption {
	return func(d *dialConfig) { d.wait = true }
}

// Dial makes a client for the streamgate server at addr: "HOST:PORT", "http://HOST:PORT" or
// "https://HOST:PORT" (TLS with the system's roots; WithCAFile, WithClientCert and WithToken
// add TLS settings and a bearer token, docs/clients.md "TLS and tokens"). A malformed addr is an InvalidArgument
// error quoting it. Dial does not connect (grpc.NewClient): the first call does, and on a
// dead address it fails with Unavailable, the message naming addr. ctx only bounds the wait
// that WithWaitForReady asks for.
func Dial(ctx context.Context, addr string, opts ...DialOption) (*Client, error) {
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	var cfg dialConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.creds == nil {
		// WithTLS wins; otherwise https:// or a TLS option (no CA file: the system's roots).
		creds, err := cfg.transport(a)
		if err != nil {
			return nil, err
		}
		cfg.creds = creds
		if creds == nil {
			cfg.creds = insecure.NewCredentials()
		}
	}
	grpcOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(cfg.creds),
		grpc.WithChainUnaryInterceptor(unaryNamingServer(a.authority)),
		grpc.WithChainStreamInterceptor(streamNamingServer(a.authority)),
	}
	if cfg.token != "" {
		b, err := newBearer(cfg.token, a)
		if err != nil {
			return nil, err
		}
		if b.requireTLS && cfg.creds.Info().SecurityProtocol != "tls" {
			return nil, status.Errorf(codes.InvalidArgument,
				"a bearer token is sent only over TLS or to loopback, and %s is neither", a.authority)
		}
		grpcOpts = append(grpcOpts, grpc.WithPerRPCCredentials(b))
	}
	grpcOpts = append(grpcOpts, cfg.extra...)
	conn, err := grpc.NewClient("dns:///"+a.authority, grpcOpts...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "server address %q: %v", addr, err)
	}
	if cfg.wait {
		if err := waitReady(ctx, conn); err != nil {
			_ = conn.Close()
			return nil, status.Errorf(codes.Unavailable, "streamgate at %s: %v", a.authority, err)
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

// transportHints are the likely cause and fix of a connection failure, by the words grpc-go
// and crypto/tls use for it.
var transportHints = []struct{ text, hint string }{
	{"first record does not look like a TLS handshake", "the server does not speak TLS: use HOST:PORT or http://"},
	{"certificate signed by unknown authority", "the server's certificate is not signed by the CA you gave (without a CA file: by a root the system trusts)"},
	{"x509: certificate is valid for", "the server's certificate is not valid for the name you connected to: connect by a name it lists"},
	{"x509: certificate is not valid for any names", "the server's certificate is not valid for the name you connected to: connect by a name it lists"},
	{"x509: cannot validate certificate for", "the server's certificate is not valid for the name you connected to: connect by a name it lists"},
	// A TLS port closes a plaintext connection before its HTTP/2 preface.
	{"server preface", "the connection closed during set-up: if the server speaks TLS, use https:// or a CA file"},
}

// namingServer makes a transport failure honest (docs/clients.md, "Errors"): Canceled while
// the caller's ctx is live is the connection going away, so Unavailable; an Unavailable
// message gets the likely fix when the mistake is recognised, and names the server when it
// does not yet. Other errors pass unchanged.
//
// A status that blames an upstream is returned as an *UpstreamError, its message and details
// as the server sent them: it is the upstream that is down, not this server.
func namingServer(ctx context.Context, authority string, err error) error {
	if up := asUpstreamError(err); up != nil {
		return up
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	code := s.Code()
	if code == codes.Canceled && ctx.Err() == nil {
		code = codes.Unavailable
	}
	if code != codes.Unavailable {
		return err
	}
	msg := s.Message()
	for _, h := range transportHints {
		if strings.Contains(msg, h.text) {
			msg += "; " + h.hint
			break
		}
	}
	if !strings.Contains(msg, authority) {
		msg = fmt.Sprintf("%s (server %s)", msg, authority)
	}
	if msg == s.Message() && code == s.Code() {
		return err
	}
	return status.Error(code, msg)
}

func unaryNamingServer(authority string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return namingServer(ctx, authority, invoker(ctx, method, req, reply, cc, opts...))
	}
}

func streamNamingServer(authority string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, namingServer(ctx, authority, err)
		}
		return &namedStream{ClientStream: s, authority: authority}, nil
	}
}

// namedStream renames the errors a stream's RecvMsg returns (io.EOF is not a status and
// passes through).
type namedStream struct {
	grpc.ClientStream
	authority string
}

func (s *namedStream) RecvMsg(m any) error {
	return namingServer(s.ClientStream.Context(), s.authority, s.ClientStream.RecvMsg(m))
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
