package streamgate

import (
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// address is a checked server address: HOST:PORT, http://HOST:PORT or https://HOST:PORT
// (docs/clients.md, "Addresses"). parseAddress is the one place that reads it, so later
// connection options (client certificates, tokens) have one place to extend.
type address struct {
	// authority is host:port as written (brackets kept for IPv6): the gRPC target, and the
	// name used in error messages.
	authority string
	// tls is true for https://.
	tls bool
}

// parseAddress checks addr, or returns an InvalidArgument status quoting it and saying what
// is wrong.
func parseAddress(addr string) (address, error) {
	a, reason := parse(addr)
	if reason != "" {
		return address{}, status.Errorf(codes.InvalidArgument,
			"server address %q is not HOST:PORT, http://HOST:PORT or https://HOST:PORT: %s", addr, reason)
	}
	return a, nil
}

func parse(addr string) (address, string) {
	tls := false
	rest := addr
	switch {
	case strings.HasPrefix(addr, "https://"):
		tls, rest = true, strings.TrimPrefix(addr, "https://")
	case strings.HasPrefix(addr, "http://"):
		rest = strings.TrimPrefix(addr, "http://")
	case strings.Contains(addr, "://"):
		return address{}, "unknown scheme (use http:// or https://)"
	}
	// One trailing slash is what a pasted base URL often has; anything after it is a path.
	authority := strings.TrimSuffix(rest, "/")
	if authority == "" {
		return address{}, "empty"
	}
	if strings.ContainsAny(authority, "/?#") {
		return address{}, "a path, query or fragment is not allowed"
	}
	if strings.Contains(authority, "@") {
		return address{}, "user info is not allowed"
	}
	var host, port string
	if bracketed, ok := strings.CutPrefix(authority, "["); ok {
		h, after, closed := strings.Cut(bracketed, "]")
		if !closed {
			return address{}, "unclosed '[' in an IPv6 host"
		}
		p, hasPort := strings.CutPrefix(after, ":")
		if !hasPort {
			return address{}, "missing port"
		}
		if ip, err := netip.ParseAddr(h); err != nil || !ip.Is6() {
			return address{}, "invalid IPv6 address"
		}
		host, port = h, p
	} else {
		i := strings.LastIndex(authority, ":")
		if i < 0 {
			return address{}, "missing port"
		}
		host, port = authority[:i], authority[i+1:]
		if strings.Contains(host, ":") {
			return address{}, "an IPv6 host must be in brackets, as in [::1]:50051"
		}
	}
	if host == "" {
		return address{}, "missing host"
	}
	if strings.ContainsAny(host, " \t\r\n") {
		return address{}, "whitespace in the host"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.HasPrefix(port, "+") {
		return address{}, "the port must be a number from 1 to 65535"
	}
	return address{authority: authority, tls: tls}, ""
}
