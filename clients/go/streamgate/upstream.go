package streamgate

import (
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// errorDomain is the google.rpc.ErrorInfo domain of the server's error details.
const errorDomain = "streamgate"

// UpstreamError is a failure the server blames on the HTTP upstream of a Fetch or a page of
// ListPages: the upstream refused or dropped the connection, its name did not resolve, it kept
// answering 429/5xx through every retry (codes.Unavailable), or it did not answer in time
// (codes.DeadlineExceeded). The code is the one streamgate itself being down or slow would
// have; this type tells the two apart (docs/clients.md, "Upstream failures"):
//
//	var up *streamgate.UpstreamError
//	if errors.As(err, &up) { log.Printf("upstream %s is down", up.Upstream) }
//
// It keeps the server's status: status.Code(err) and status.FromError(err) see it unchanged.
type UpstreamError struct {
	// Upstream is the upstream's host:port (the port spelled out, IPv6 in brackets).
	Upstream string
	// Reason is the ErrorInfo reason: "UPSTREAM_UNAVAILABLE" or "UPSTREAM_TIMEOUT".
	Reason string
	// Metadata is the ErrorInfo metadata: "upstream", "url" (redacted), "httpStatus" when
	// the upstream answered with a status that kept failing.
	Metadata map[string]string

	st *status.Status
}

func (e *UpstreamError) Error() string { return e.st.Err().Error() }

// GRPCStatus lets status.Code and status.FromError see the server's status, details included.
func (e *UpstreamError) GRPCStatus() *status.Status { return e.st }

// UpstreamOf returns the upstream (host:port) the server blames err on, and whether it blames
// one. It is false for every other failure, including the server itself being unreachable,
// shutting down or slow. It reads errors from the raw generated clients too.
func UpstreamOf(err error) (string, bool) {
	up := asUpstreamError(err)
	if up == nil {
		return "", false
	}
	return up.Upstream, true
}

// asUpstreamError is err as an *UpstreamError: the one the client made, or one read from the
// status's google.rpc.ErrorInfo; nil when the status blames no upstream.
func asUpstreamError(err error) *UpstreamError {
	if err == nil {
		return nil
	}
	var up *UpstreamError
	if errors.As(err, &up) {
		return up
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain || !strings.HasPrefix(info.GetReason(), "UPSTREAM_") {
			continue
		}
		if u := info.GetMetadata()["upstream"]; u != "" {
			return &UpstreamError{Upstream: u, Reason: info.GetReason(), Metadata: info.GetMetadata(), st: st}
		}
	}
	return nil
}
