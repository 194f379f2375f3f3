package streamgate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// WithCAFile checks the server's certificate against the PEM roots in path instead of the
// system's, and turns TLS on as an https:// address does (docs/clients.md, "TLS and tokens").
func WithCAFile(path string) DialOption {
	return func(d *dialConfig) { d.caFile = path }
}

// WithClientCert presents the certificate and key in certFile and keyFile (PEM) for mutual
// TLS, and turns TLS on.
func WithClientCert(certFile, keyFile string) DialOption {
	return func(d *dialConfig) { d.certFile, d.keyFile = certFile, keyFile }
}

// WithToken sends `authorization: Bearer token` with every call, as gRPC per-call
// credentials: only over TLS, or on a plaintext connection to a loopback address.
func WithToken(token string) DialOption {
	return func(d *dialConfig) { d.token = token }
}

// transport builds the TLS credentials the options and the address ask for, or nil for
// plaintext. Files are read here, so a bad one fails Dial with InvalidArgument naming it.
func (d *dialConfig) transport(a address) (credentials.TransportCredentials, error) {
	if (d.certFile == "") != (d.keyFile == "") {
		return nil, status.Error(codes.InvalidArgument, "a client certificate needs both its cert and key files")
	}
	if !a.tls && d.caFile == "" && d.certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.caFile != "" {
		pem, err := os.ReadFile(d.caFile)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "cannot read CA file %q: %v", d.caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, status.Errorf(codes.InvalidArgument, "CA file %q holds no PEM certificate", d.caFile)
		}
		cfg.RootCAs = pool
	}
	if d.certFile != "" {
		pair, err := tls.LoadX509KeyPair(d.certFile, d.keyFile)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "cannot load client certificate %q / key %q: %v", d.certFile, d.keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

// bearer is the PerRPCCredentials of WithToken.
type bearer struct {
	header string
	// requireTLS is false only for a loopback server, where a plaintext token stays on the host.
	requireTLS bool
}

func newBearer(token string, a address) (*bearer, error) {
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return nil, status.Error(codes.InvalidArgument, "token must be non-empty, without whitespace")
	}
	return &bearer{header: "Bearer " + token, requireTLS: !isLoopback(a.authority)}, nil
}

func (b *bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if b.requireTLS {
		ri, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, fmt.Errorf("a bearer token is sent only over TLS or to loopback: %w", err)
		}
	}
	return map[string]string{"authorization": b.header}, nil
}

func (b *bearer) RequireTransportSecurity() bool { return b.requireTLS }

// isLoopback reports whether authority's host is localhost or a loopback IP.
func isLoopback(authority string) bool {
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
