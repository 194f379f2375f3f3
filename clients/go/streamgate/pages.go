package streamgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

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

// PageItems is the page's items as plain Go JSON values (map[string]any, []any, string,
// float64, bool, nil).
func PageItems(p *Page) []any {
	items := make([]any, len(p.GetItems()))
	for i, item := range p.GetItems() {
		items[i] = item.AsInterface()
	}
	return items
}

// TypedPage is one page whose items are decoded into T.
type TypedPage[T any] struct {
	// Number is the API's page number, or the 1-based index of the page for styles
	// without numbers.
	Number uint32
	// Items are the page's items decoded into T.
	Items []T
	// NextPageToken resumes after this page (ListPagesRequest.PageToken); "" on the last.
	NextPageToken string
	// URL is where the page was read from.
	URL string
}

// DecodeItems decodes the page's items into T with encoding/json; an item that does not fit
// is an InvalidArgument error naming its page and index.
func DecodeItems[T any](p *Page) ([]T, error) {
	items := make([]T, len(p.GetItems()))
	for i, item := range p.GetItems() {
		raw, err := protojson.Marshal(item)
		if err == nil {
			err = json.Unmarshal(raw, &items[i])
		}
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("page %d item %d: %v", p.GetNumber(), i, err))
		}
	}
	return items, nil
}

// ListPagesAs is ListPages with each page's items decoded into T (see DecodeItems):
//
//	type User struct{ ID int `json:"id"` }
//	for page, err := range streamgate.ListPagesAs[User](ctx, c, req) { ... page.Items[0].ID ... }
func ListPagesAs[T any](ctx context.Context, c *Client, req *ListPagesRequest) iter.Seq2[TypedPage[T], error] {
	return func(yield func(TypedPage[T], error) bool) {
		for page, err := range c.ListPages(ctx, req) {
			if err != nil {
				yield(TypedPage[T]{}, err)
				return
			}
			items, err := DecodeItems[T](page)
			if err != nil {
				yield(TypedPage[T]{}, err)
				return
			}
			typed := TypedPage[T]{Number: page.GetNumber(), Items: items, NextPageToken: page.GetNextPageToken(), URL: page.GetUrl()}
			if !yield(typed, nil) {
				return
			}
		}
	}
}
