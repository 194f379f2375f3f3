package streamgate_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// pagedAPI serves `total` items as {"data":{"items":[{"id":N},...]}} (or the bare array when
// bare), page-number style, counting every request.
type pagedAPI struct {
	total int
	bare  bool
	hits  atomic.Int32
}

func (a *pagedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.hits.Add(1)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size, _ := strconv.Atoi(r.URL.Query().Get("size"))
	items := []map[string]int{}
	for id := (page-1)*size + 1; page > 0 && size > 0 && id <= min(page*size, a.total); id++ {
		items = append(items, map[string]int{"id": id})
	}
	w.Header().Set("Content-Type", "application/json")
	if a.bare {
		_ = json.NewEncoder(w).Encode(items)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"items": items}})
}

// ids flattens the items' "id" fields.
func ids(t *testing.T, pages []*streamgate.Page) []int {
	t.Helper()
	var out []int
	for _, p := range pages {
		for _, item := range p.GetItems() {
			id, ok := item.GetStructValue().AsMap()["id"].(float64)
			if !ok {
				t.Fatalf("item %v has no numeric id", item)
			}
			out = append(out, int(id))
		}
	}
	return out
}

func collect(t *testing.T, c *streamgate.Client, req *streamgate.ListPagesRequest) []*streamgate.Page {
	t.Helper()
	var pages []*streamgate.Page
	for page, err := range c.ListPages(testContext(t), req) {
		if err != nil {
			t.Fatalf("ListPages: %v", err)
		}
		pages = append(pages, page)
	}
	return pages
}

func requireSequence(t *testing.T, got []int, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("got ids %v, want %d..%d", got, from, to)
	}
	for i, id := range got {
		if id != from+i {
			t.Fatalf("got ids %v, want %d..%d in order", got, from, to)
		}
	}
}

func TestListPagesReadsEveryPageInOrderUntilAnEmptyPage(t *testing.T) {
	api := &pagedAPI{total: 25, bare: true}
	up := testenv.Upstream(t, api)
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	pages := collect(t, c, &streamgate.ListPagesRequest{Url: up.URL + "/users", PageSize: 10})
	if len(pages) != 3 {
		t.Fatalf("%d pages, want 3 (10 + 10 + 5 items)", len(pages))
	}
	for i, p := range pages {
		if p.GetNumber() != uint32(i+1) {
			t.Fatalf("page %d has number %d", i+1, p.GetNumber())
		}
	}
	requireSequence(t, ids(t, pages), 1, 25)
}

func TestListPagesFindsItemsAtTheItemsPointer(t *testing.T) {
	up := testenv.Upstream(t, &pagedAPI{total: 7})
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	pages := collect(t, c, &streamgate.ListPagesRequest{Url: up.URL, PageSize: 3, ItemsPointer: "/data/items"})
	requireSequence(t, ids(t, pages), 1, 7)
}

func TestListPagesStopsAfterMaxPagesAndResumesFromAToken(t *testing.T) {
	up := testenv.Upstream(t, &pagedAPI{total: 100, bare: true})
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	first := collect(t, c, &streamgate.ListPagesRequest{Url: up.URL, PageSize: 5, MaxPages: 2})
	if len(first) != 2 {
		t.Fatalf("%d pages, want max_pages = 2", len(first))
	}
	requireSequence(t, ids(t, first), 1, 10)
	token := first[1].GetNextPageToken()
	if token == "" {
		t.Fatal("page 2 of 20 has no next_page_token")
	}

	rest := collect(t, c, &streamgate.ListPagesRequest{Url: up.URL, PageSize: 5, MaxPages: 1, PageToken: token})
	if len(rest) != 1 || rest[0].GetNumber() != 3 {
		t.Fatalf("resumed at %v, want page 3", rest)
	}
	requireSequence(t, ids(t, rest), 11, 15)
}

func TestListPagesFollowsLinkHeadersToTheEnd(t *testing.T) {
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("p"))
		if n == 0 {
			n = 1
		}
		if n < 3 {
			w.Header().Set("Link", fmt.Sprintf(`<%s?p=%d>; rel="next"`, r.URL.Path, n+1))
		}
		_ = json.NewEncoder(w).Encode([]map[string]int{{"id": 2*n - 1}, {"id": 2 * n}})
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	pages := collect(t, c, &streamgate.ListPagesRequest{Url: up.URL + "/events", Style: streamgate.LinkHeader})
	if len(pages) != 3 {
		t.Fatalf("%d pages, want 3", len(pages))
	}
	requireSequence(t, ids(t, pages), 1, 6)
}

func TestListPagesFollowsCursorsReadFromTheBody(t *testing.T) {
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cursor := r.URL.Query().Get("cursor")
		body := map[string]any{}
		switch cursor {
		case "":
			body = map[string]any{"items": []map[string]int{{"id": 1}, {"id": 2}}, "next": "c2"}
		case "c2":
			body = map[string]any{"items": []map[string]int{{"id": 3}}, "next": nil}
		default:
			http.Error(w, "unknown cursor", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	pages := collect(t, c, &streamgate.ListPagesRequest{
		Url: up.URL, Style: streamgate.Cursor, ItemsPointer: "/items", CursorPointer: "/next",
	})
	if len(pages) != 2 {
		t.Fatalf("%d pages, want 2", len(pages))
	}
	requireSequence(t, ids(t, pages), 1, 3)
}

// The upstream answers page 1 and then hangs on every later page until the server drops the
// request. The loop takes page 1, sees the server prefetch, and breaks: every request in
// flight must then be dropped, none may follow, and no more than prefetch pages past the
// next one may ever have been asked for.
func TestBreakingOutOfListPagesStopsTheServerFetching(t *testing.T) {
	const prefetch = 1
	var hits atomic.Int32
	hung := make(chan struct{}, 16)      // a request for a page past 1 arrived
	cancelled := make(chan struct{}, 16) // ...and the server dropped it
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Query().Get("page") == "1" {
			_ = json.NewEncoder(w).Encode([]int{1, 2, 3})
			return
		}
		hung <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(30 * time.Second):
		}
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	inFlight := 0
	read := 0
	for page, err := range c.ListPages(testContext(t), &streamgate.ListPagesRequest{Url: up.URL, PageSize: 3, Prefetch: prefetch}) {
		if err != nil {
			t.Fatalf("ListPages: %v", err)
		}
		read++
		if page.GetNumber() != 1 {
			t.Fatalf("got page %d first", page.GetNumber())
		}
		// The server fetches ahead while this loop still holds page 1.
		select {
		case <-hung:
			inFlight++
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not fetch ahead within 10 s")
		}
		break
	}
	if read != 1 {
		t.Fatalf("read %d pages, want 1", read)
	}
	// Every request that arrives from now on must be dropped too; wait until none is left.
	deadline := time.After(10 * time.Second)
	var quiet <-chan time.Time // armed while nothing is in flight: no new request may follow
	for done := false; !done; {
		select {
		case <-hung:
			inFlight++
			quiet = nil
		case <-cancelled:
			if inFlight--; inFlight == 0 {
				quiet = time.After(300 * time.Millisecond)
			}
		case <-quiet:
			done = true
		case <-deadline:
			t.Fatalf("%d upstream requests still in flight 10 s after the break", inFlight)
		}
	}
	if n := hits.Load(); n < 2 || n > 2+prefetch {
		t.Fatalf("%d upstream requests, want page 1, the next page and at most %d prefetched", n, prefetch)
	}
}

func TestListPagesWithoutAURLIsInvalidArgumentNamingTheURL(t *testing.T) {
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	errs := 0
	for page, err := range c.ListPages(testContext(t), &streamgate.ListPagesRequest{}) {
		if page != nil {
			t.Fatalf("got a page %v from a request without url", page)
		}
		requireCode(t, err, codes.InvalidArgument, "url")
		errs++
	}
	if errs != 1 {
		t.Fatalf("%d errors yielded, want exactly 1", errs)
	}
}

func TestListPagesOfLoopbackIsPermissionDeniedWithoutAllowPrivateNetworks(t *testing.T) {
	api := &pagedAPI{total: 3, bare: true}
	up := testenv.Upstream(t, api)
	c := testenv.StartServer(t).Dial(t)
	errs := 0
	for _, err := range c.ListPages(testContext(t), &streamgate.ListPagesRequest{Url: up.URL}) {
		requireCode(t, err, codes.PermissionDenied, "")
		errs++
	}
	if errs != 1 {
		t.Fatalf("%d errors yielded, want exactly 1", errs)
	}
	if api.hits.Load() != 0 {
		t.Fatal("the refused upstream was reached")
	}
}

func TestPagesTakesOptionsLikeTheOtherCalls(t *testing.T) {
	up := testenv.Upstream(t, &pagedAPI{total: 7})
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	var pages []*streamgate.Page
	for page, err := range c.Pages(testContext(t), up.URL+"/users",
		streamgate.WithPageSize(2), streamgate.WithStartPage(2), streamgate.WithMaxPages(2),
		streamgate.WithItemsPointer("/data/items")) {
		if err != nil {
			t.Fatalf("Pages: %v", err)
		}
		pages = append(pages, page)
	}
	if len(pages) != 2 || pages[0].GetNumber() != 2 {
		t.Fatalf("got %d pages from %d, want 2 from page 2", len(pages), pages[0].GetNumber())
	}
	requireSequence(t, ids(t, pages), 3, 6)
	type item struct {
		ID int `json:"id"`
	}
	var got []int
	for page, err := range streamgate.PagesAs[item](testContext(t), c, up.URL+"/users",
		streamgate.WithPageSize(5), streamgate.WithItemsPointer("/data/items")) {
		if err != nil {
			t.Fatalf("PagesAs: %v", err)
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
	}
	requireSequence(t, got, 1, 7)
}
