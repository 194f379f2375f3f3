package streamgate_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

func TestFetchReturnsTheUpstreamStatusHeadersAndBody(t *testing.T) {
	type seen struct {
		method string
		values []string
		body   []byte
	}
	got := make(chan seen, 1)
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Values("X-Req"), body}
		w.Header().Add("X-Multi", "first")
		w.Header().Add("X-Multi", "second")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("created: " + string(body)))
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	resp, err := c.Fetch(testContext(t), up.URL+"/things",
		streamgate.WithMethod("POST"),
		streamgate.WithHeader("X-Req", "one"),
		streamgate.WithHeader("X-Req", "two"),
		streamgate.WithBody([]byte("payload")),
		streamgate.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	req := <-got
	if req.method != "POST" || !slices.Equal(req.values, []string{"one", "two"}) || string(req.body) != "payload" {
		t.Fatalf("upstream saw %s %v %q, want POST [one two] \"payload\"", req.method, req.values, req.body)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201", resp.StatusCode)
	}
	if v := resp.Header().Values("X-Multi"); !slices.Equal(v, []string{"first", "second"}) {
		t.Fatalf("X-Multi %v, want [first second] in order", v)
	}
	if string(resp.Body) != "created: payload" {
		t.Fatalf("body %q", resp.Body)
	}
	if resp.URL != up.URL+"/things" {
		t.Fatalf("url %q, want %q", resp.URL, up.URL+"/things")
	}
	if resp.Elapsed <= 0 {
		t.Fatalf("elapsed %s, want > 0", resp.Elapsed)
	}
}

func TestAnUpstream404IsASuccessfulFetchCarryingIt(t *testing.T) {
	up := testenv.Upstream(t, http.NotFoundHandler())
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	resp, err := c.Fetch(testContext(t), up.URL+"/missing")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}

func TestFetchFollowsRedirectsAndReportsTheFinalURL(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusFound))
	mux.HandleFunc("/new", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("moved here")) })
	up := testenv.Upstream(t, mux)
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	resp, err := c.Fetch(testContext(t), up.URL+"/old")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if resp.StatusCode != 200 || string(resp.Body) != "moved here" || resp.URL != up.URL+"/new" {
		t.Fatalf("got %d %q from %q, want 200 \"moved here\" from %s/new", resp.StatusCode, resp.Body, resp.URL, up.URL)
	}
}

func TestConcurrentFetchesThroughOneClientAllSucceed(t *testing.T) {
	var hits atomic.Int32
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(r.URL.Path))
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	ctx := testContext(t)

	const n = 20
	errs := make(chan error, n)
	bodies := make(chan string, n)
	for i := range n {
		go func() {
			resp, err := c.Fetch(ctx, up.URL+"/item/"+string(rune('a'+i)))
			if err == nil {
				bodies <- string(resp.Body)
			}
			errs <- err
		}()
	}
	seen := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Fetch: %v", err)
		}
	}
	for range n {
		seen[<-bodies] = true
	}
	if len(seen) != n || hits.Load() != n {
		t.Fatalf("%d distinct bodies and %d upstream hits, want %d of each", len(seen), hits.Load(), n)
	}
}

func TestFetchOfAMalformedURLIsInvalidArgumentNamingTheURL(t *testing.T) {
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	_, err := c.Fetch(testContext(t), "not a url")
	requireCode(t, err, codes.InvalidArgument, "url")

	_, err = c.Fetch(testContext(t), "ftp://127.0.0.1/file")
	requireCode(t, err, codes.InvalidArgument, "url")
}

func TestFetchOfLoopbackIsPermissionDeniedWithoutAllowPrivateNetworks(t *testing.T) {
	hit := make(chan struct{}, 1)
	up := testenv.Upstream(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit <- struct{}{} }))
	c := testenv.StartServer(t).Dial(t)

	_, err := c.Fetch(testContext(t), up.URL)
	requireCode(t, err, codes.PermissionDenied, "")
	select {
	case <-hit:
		t.Fatal("the refused upstream was reached")
	default:
	}
}

func TestFetchOfAPortNobodyListensOnIsUnavailable(t *testing.T) {
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	_, err := c.Fetch(testContext(t), "http://"+testenv.ClosedPort(t)+"/")
	requireCode(t, err, codes.Unavailable, "")
}

func TestFetchThatOutlivesItsTimeoutIsDeadlineExceeded(t *testing.T) {
	up := testenv.Upstream(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	_, err := c.Fetch(testContext(t), up.URL, streamgate.WithTimeout(200*time.Millisecond))
	requireCode(t, err, codes.DeadlineExceeded, "")
}

func TestFetchOfABodyOverTheCapIsResourceExhausted(t *testing.T) {
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 64*1024))
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)

	_, err := c.Fetch(testContext(t), up.URL, streamgate.WithMaxBodyBytes(1024))
	requireCode(t, err, codes.ResourceExhausted, "")

	resp, err := c.Fetch(testContext(t), up.URL, streamgate.WithMaxBodyBytes(64*1024))
	if err != nil || len(resp.Body) != 64*1024 {
		t.Fatalf("a body exactly at the cap: %v", err)
	}
}
