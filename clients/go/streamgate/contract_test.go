package streamgate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// The rules of docs/clients.md, as the Go client follows them: addresses, errors, lock waits
// and not-acquired, against the real server.

func TestAMalformedAddressIsInvalidArgumentAtDialQuotingIt(t *testing.T) {
	for bad, reason := range map[string]string{
		"localhost":              "missing port",
		"":                       "empty",
		"http://127.0.0.1":       "missing port",
		"127.0.0.1:0":            "port",
		"127.0.0.1:99999":        "port",
		"grpc://127.0.0.1:1":     "scheme",
		"http://127.0.0.1:1/api": "path",
		"u@127.0.0.1:1":          "user info",
		"::1:50051":              "brackets",
	} {
		c, err := streamgate.Dial(testenv.Context(t), bad)
		if err == nil {
			_ = c.Close()
			t.Fatalf("Dial(%q) succeeded", bad)
		}
		requireCode(t, err, codes.InvalidArgument, fmt.Sprintf("%q", bad))
		if !strings.Contains(err.Error(), reason) {
			t.Fatalf("Dial(%q): %v does not say %q", bad, err, reason)
		}
	}
}

func TestEveryAddressFormReachesTheServer(t *testing.T) {
	srv := testenv.StartServer(t)
	for i, addr := range []string{srv.Addr, "http://" + srv.Addr, "http://" + srv.Addr + "/"} {
		c, err := streamgate.Dial(testenv.Context(t), addr)
		if err != nil {
			t.Fatalf("Dial(%q): %v", addr, err)
		}
		lock, err := c.Lock(testContext(t), fmt.Sprintf("forms-%d", i), streamgate.WithWaitTimeout(0))
		if err != nil {
			t.Fatalf("Lock via %q: %v", addr, err)
		}
		if err := lock.Release(testContext(t)); err != nil {
			t.Fatalf("Release via %q: %v", addr, err)
		}
		_ = c.Close()
	}
}

func TestTheFirstCallOnADeadAddressIsUnavailableNamingIt(t *testing.T) {
	addr := testenv.ClosedPort(t)
	c, err := streamgate.Dial(testenv.Context(t), addr)
	if err != nil {
		t.Fatalf("Dial does not connect, so it cannot fail here: %v", err)
	}
	defer c.Close()
	_, err = c.Fetch(testContext(t), "http://127.0.0.1:1/")
	requireCode(t, err, codes.Unavailable, addr)
	for _, err := range c.ListPages(testContext(t), &streamgate.ListPagesRequest{Url: "http://127.0.0.1:1/"}) {
		requireCode(t, err, codes.Unavailable, addr)
	}
}

func TestNotAcquiredIsOneAbortedError(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	held, err := c.Lock(testContext(t), "busy", streamgate.WithWaitTimeout(0))
	if err != nil {
		t.Fatalf("free lock: %v", err)
	}
	defer held.Release(testContext(t))

	_, err = c.Lock(testContext(t), "busy", streamgate.WithWaitTimeout(100*time.Millisecond))
	if !errors.Is(err, streamgate.ErrNotAcquired) {
		t.Fatalf("got %v, want ErrNotAcquired", err)
	}
	requireCode(t, err, codes.Aborted, `lock "busy" not acquired within 100ms`)
	var detail *streamgate.NotAcquiredError
	if !errors.As(err, &detail) || detail.Name != "busy" || detail.Wait != 100*time.Millisecond {
		t.Fatalf("got %#v", err)
	}

	// A ctx deadline shorter than the wait ends as "not acquired" too, not DeadlineExceeded.
	short, cancel := contextWithTimeout(testenv.Context(t), 400*time.Millisecond)
	defer cancel()
	_, err = c.Lock(short, "busy")
	requireCode(t, err, codes.Aborted, "not acquired")

	_, err = c.Hold(testContext(t), "busy", streamgate.WithWaitTimeout(50*time.Millisecond))
	if !errors.Is(err, streamgate.ErrNotAcquired) || status.Code(err) != codes.Aborted {
		t.Fatalf("Hold: got %v, want a not-acquired Aborted error", err)
	}
}

func TestAnUnsetWaitWaitsUntilTheLockIsReleased(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	held, err := c.Lock(testContext(t), "queue", streamgate.WithWaitTimeout(0))
	if err != nil {
		t.Fatalf("free lock: %v", err)
	}
	granted := make(chan error, 1)
	go func() {
		lock, err := c.Lock(testContext(t), "queue")
		if err == nil {
			err = lock.Release(testContext(t))
		}
		granted <- err
	}()
	select {
	case err := <-granted:
		t.Fatalf("Lock with no wait returned while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := held.Release(testContext(t)); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := <-granted; err != nil {
		t.Fatalf("the waiter: %v", err)
	}
}

func TestAnEmptyLockNameIsInvalidArgumentNamingTheField(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	_, err := c.Lock(testContext(t), "")
	requireCode(t, err, codes.InvalidArgument, "name")
}

// An upstream that is down is not the server being down (docs/clients.md, "Upstream
// failures"): both are Unavailable, and only the first names an upstream.
func TestAnUpstreamThatIsDownIsToldFromAServerThatIsDown(t *testing.T) {
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	upstream := testenv.ClosedPort(t)

	_, err := c.Fetch(testContext(t), "http://"+upstream+"/hello")
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if got, ok := streamgate.UpstreamOf(err); !ok || got != upstream {
		t.Fatalf("UpstreamOf = %q, %v; want %q: %v", got, ok, upstream, err)
	}
	var up *streamgate.UpstreamError
	if !errors.As(err, &up) || up.Reason != "UPSTREAM_UNAVAILABLE" || up.Metadata["upstream"] != upstream {
		t.Fatalf("errors.As(*UpstreamError) = %+v: %v", up, err)
	}
	pages := 0
	for _, err := range c.Pages(testContext(t), "http://"+upstream+"/items") {
		pages++
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v, want Unavailable", err)
		}
		if got, ok := streamgate.UpstreamOf(err); !ok || got != upstream {
			t.Fatalf("ListPages: UpstreamOf = %q, %v; want %q: %v", got, ok, upstream, err)
		}
	}
	if pages != 1 {
		t.Fatalf("the stream yielded %d items, want the one error", pages)
	}

	dead := testenv.ClosedPort(t)
	gone, err := streamgate.Dial(testenv.Context(t), dead)
	if err != nil {
		t.Fatalf("Dial does not connect, so it cannot fail here: %v", err)
	}
	defer gone.Close()
	_, err = gone.Fetch(testContext(t), "http://"+upstream+"/hello")
	requireCode(t, err, codes.Unavailable, dead)
	if got, ok := streamgate.UpstreamOf(err); ok {
		t.Fatalf("a server that is down blamed upstream %q: %v", got, err)
	}
	if errors.As(err, &up) {
		t.Fatalf("a server that is down is an *UpstreamError: %v", err)
	}
}
