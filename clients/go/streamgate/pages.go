package streamgate

import (
	"context"
	"errors"
	"io"
	"iter"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// ListPagesRequest describes the collection to read and how it paginates; see the field
// comments of the generated type. Only URL is required.
type ListPagesRequest = pb.ListPagesRequest

// Page is one upstream page: its number, its items (JSON values; Item.AsInterface() gives
// plain Go values) and a token to resume after it.
type Page = pb.Page

// Pagination styles for ListPagesRequest.Style.
const (
	PageNumber  = pb.PaginationStyle_PAGINATION_STYLE_PAGE_NUMBER
	OffsetLimit = pb.PaginationStyle_PAGINATION_STYLE_OFFSET_LIMIT
	Cursor      = pb.PaginationStyle_PAGINATION_STYLE_CURSOR
	LinkHeader  = pb.PaginationStyle_PAGINATION_STYLE_LINK_HEADER
)

// ListPages reads a paginated HTTP collection lazily, one Page per upstream page, in order:
//
//	for page, err := range c.ListPages(ctx, &streamgate.ListPagesRequest{Url: u}) {
//		if err != nil { return err }
//		...
//	}
//
// The server fetches only a bounded number of pages ahead of the loop. Breaking out of the
// loop cancels the stream, and with it the upstream request in flight. An error ends the
// sequence: it is yielded once, with a nil page, and keeps its gRPC code.
func (c *Client) ListPages(ctx context.Context, req *ListPagesRequest) iter.Seq2[*Page, error] {
	return func(yield func(*Page, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		// Returning for any reason (break, error, end) ends the stream on the server too.
		defer cancel()
		stream, err := c.fetch.ListPages(ctx, req)
		if err != nil {
			yield(nil, err)
			return
		}
		for {
			page, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) {
				return
			}
		}
	}
}
