package streamgate

import (
	"context"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// Header is one HTTP header line; a header sent or received several times appears once per
// value, in order.
type Header struct {
	Name  string
	Value string
}

// Response is the upstream's answer to a Fetch. A 4xx or 5xx upstream status is a Response,
// not an error: only failing to get any response is an error.
type Response struct {
	// StatusCode is the upstream HTTP status.
	StatusCode int
	// Headers are the response headers in the order the upstream sent them.
	Headers []Header
	// Body is the whole response body (capped by WithMaxBodyBytes or the server's default).
	Body []byte
	// URL is the final URL after redirects.
	URL string
	// Elapsed is how long the upstream request took, as measured by the server.
	Elapsed time.Duration
	// CacheStatus is the RFC 9211 Cache-Status of the answer ("streamgate; hit; ttl=42");
	// empty when the server has no cache.
	CacheStatus string
}

// Header returns the headers as an http.Header (canonical names, values in order).
func (r *Response) Header() http.Header {
	h := make(http.Header, len(r.Headers))
	for _, kv := range r.Headers {
		h.Add(kv.Name, kv.Value)
	}
	return h
}

// FetchOption changes one Fetch request.
type FetchOption func(*pb.FetchRequest)

// WithMethod sets the HTTP method (default GET).
func WithMethod(method string) FetchOption {
	return func(r *pb.FetchRequest) { r.Method = method }
}

// WithHeader adds a request header; call it again with the same name to send several values.
func WithHeader(name, value string) FetchOption {
	return func(r *pb.FetchRequest) { r.Headers = append(r.Headers, &pb.Header{Name: name, Value: value}) }
}

// WithBody sets the request body.
func WithBody(body []byte) FetchOption {
	return func(r *pb.FetchRequest) { r.Body = body }
}

// fetchDeadlineMargin is how much longer than WithTimeout's timeout the call's deadline is,
// so that the server's timeout, with its message, is what the caller sees (docs/clients.md,
// "Deadlines").
const fetchDeadlineMargin = 2 * time.Second

// WithTimeout bounds the whole upstream request. The server never waits longer than the
// call's own deadline either, so a ctx deadline alone is enough to bound a Fetch.
func WithTimeout(d time.Duration) FetchOption {
	return func(r *pb.FetchRequest) { r.Timeout = durationpb.New(d) }
}

// WithMaxBodyBytes caps the response body; a larger body fails with codes.ResourceExhausted.
// The server's own cap still applies.
func WithMaxBodyBytes(n uint64) FetchOption {
	return func(r *pb.FetchRequest) { r.MaxBodyBytes = n }
}

// WithCacheMode sets how the server's shared HTTP cache treats the request (the Fetch
// standard's cache modes; default pb.CacheMode_CACHE_MODE_DEFAULT).
func WithCacheMode(mode pb.CacheMode) FetchOption {
	return func(r *pb.FetchRequest) { r.CacheMode = mode }
}

// WithoutRedirects returns a redirect (3xx) as the Response instead of following it.
func WithoutRedirects() FetchOption {
	return func(r *pb.FetchRequest) { r.NoFollowRedirects = true }
}

// Fetch sends one HTTP request through the server's pooled, guarded HTTP client. Errors carry
// the gRPC code: InvalidArgument for a malformed URL or option, PermissionDenied for a target
// the server's guard refuses, Unavailable when the upstream cannot be reached,
// DeadlineExceeded on time-out, ResourceExhausted when the body is over the cap.
func (c *Client) Fetch(ctx context.Context, url string, opts ...FetchOption) (*Response, error) {
	req := &pb.FetchRequest{Url: url}
	for _, o := range opts {
		o(req)
	}
	if req.GetTimeout() != nil {
		// A ctx deadline earlier than this one still wins (WithTimeout keeps the earlier).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.GetTimeout().AsDuration()+fetchDeadlineMargin)
		defer cancel()
	}
	resp, err := c.fetch.Fetch(ctx, req)
	if err != nil {
		return nil, err
	}
	headers := make([]Header, len(resp.GetHeaders()))
	for i, h := range resp.GetHeaders() {
		headers[i] = Header{Name: h.GetName(), Value: h.GetValue()}
	}
	return &Response{
		StatusCode:  int(resp.GetStatus()),
		Headers:     headers,
		Body:        resp.GetBody(),
		URL:         resp.GetUrl(),
		Elapsed:     resp.GetElapsed().AsDuration(),
		CacheStatus: resp.GetCacheStatus(),
	}, nil
}
