package streamgate

import (
	"context"
	"iter"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// PagesOption sets one field of the ListPagesRequest that Pages sends, as FetchOption does
// for Fetch and LockOption for Lock.
type PagesOption func(*ListPagesRequest)

// WithPageSize asks the API for n items per page (0: the server's 20).
func WithPageSize(n uint32) PagesOption {
	return func(r *ListPagesRequest) { r.PageSize = n }
}

// WithStartPage starts page-number pagination at page n (0: page 1).
func WithStartPage(n uint32) PagesOption {
	return func(r *ListPagesRequest) { r.StartPage = n }
}

// WithMaxPages stops after n pages (0: until the API's end).
func WithMaxPages(n uint32) PagesOption {
	return func(r *ListPagesRequest) { r.MaxPages = n }
}

// WithItemsPointer reads each page's items at an RFC 6901 JSON pointer ("": the body is the
// array).
func WithItemsPointer(pointer string) PagesOption {
	return func(r *ListPagesRequest) { r.ItemsPointer = pointer }
}

// WithPageHeader sends a header with every page request; repeatable, order kept.
func WithPageHeader(name, value string) PagesOption {
	return func(r *ListPagesRequest) { r.Headers = append(r.Headers, &pb.Header{Name: name, Value: value}) }
}

// WithPageToken resumes after the page that returned token (Page.NextPageToken).
func WithPageToken(token string) PagesOption {
	return func(r *ListPagesRequest) { r.PageToken = token }
}

// WithStyle picks the pagination style (PageNumber, OffsetLimit, Cursor, LinkHeader).
func WithStyle(style pb.PaginationStyle) PagesOption {
	return func(r *ListPagesRequest) { r.Style = style }
}

// Pages reads the collection at url lazily, as ListPages does, with the request built from
// options like every other call of the client:
//
//	for page, err := range c.Pages(ctx, url, streamgate.WithPageSize(50), streamgate.WithMaxPages(3)) {
//		if err != nil { return err }
//		...
//	}
//
// ListPages (the whole ListPagesRequest, for fields no option covers) stays as it is.
func (c *Client) Pages(ctx context.Context, url string, opts ...PagesOption) iter.Seq2[*Page, error] {
	req := &ListPagesRequest{Url: url}
	for _, o := range opts {
		o(req)
	}
	return c.ListPages(ctx, req)
}

// PagesAs is Pages with each page's items decoded into T, as ListPagesAs.
func PagesAs[T any](ctx context.Context, c *Client, url string, opts ...PagesOption) iter.Seq2[TypedPage[T], error] {
	req := &ListPagesRequest{Url: url}
	for _, o := range opts {
		o(req)
	}
	return ListPagesAs[T](ctx, c, req)
}
