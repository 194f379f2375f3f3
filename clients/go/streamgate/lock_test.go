package streamgate_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// lockServer starts a server whose locks live in a fresh redis-server of the test's own.
func lockServer(t *testing.T) *testenv.Server {
	t.Helper()
	return testenv.StartServer(t, "--redis-url", testenv.StartRedis(t).URL)
}

func TestLockIsGrantedReleasedAndGrantedAgainWithAGreaterFencingToken(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)

	first, err := c.Lock(ctx, "orders", streamgate.WithTTL(5*time.Second), streamgate.WithOwner("go-test"))
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if first.Token() == "" || first.Name() != "orders" {
		t.Fatalf("grant without token or name: %q %q", first.Token(), first.Name())
	}
	if until := time.Until(first.ExpiresAt()); until <= 0 || until > 6*time.Second {
		t.Fatalf("lease ends in %s, want within the 5 s TTL", until)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	second, err := c.Lock(ctx, "orders")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	defer second.Release(ctx)
	if second.FencingToken() <= first.FencingToken() {
		t.Fatalf("fencing token %d after %d, want strictly greater", second.FencingToken(), first.FencingToken())
	}
}

func TestALockHeldElsewhereIsNotAcquiredWithinTheWait(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	held, err := c.Lock(ctx, "busy")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	defer held.Release(ctx)

	if _, err := c.Lock(ctx, "busy", streamgate.WithWaitTimeout(0)); !errors.Is(err, streamgate.ErrNotAcquired) {
		t.Fatalf("try-once Lock of a held lock: %v, want ErrNotAcquired", err)
	}
	if _, err := c.Lock(ctx, "busy", streamgate.WithWaitTimeout(100*time.Millisecond)); !errors.Is(err, streamgate.ErrNotAcquired) {
		t.Fatalf("Lock waiting 100 ms for a held lock: %v, want ErrNotAcquired", err)
	}
	short, cancel := contextWithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Lock(short, "busy"); !errors.Is(err, streamgate.ErrNotAcquired) {
		t.Fatalf("Lock bounded by a 300 ms ctx: %v, want ErrNotAcquired", err)
	}
}

func TestAWaiterGetsTheLockWhenTheHolderReleasesIt(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	held, err := c.Lock(ctx, "queue")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := c.Lock(ctx, "queue", streamgate.WithWaitTimeout(15*time.Second))
		if err == nil {
			err = l.Release(ctx)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the waiter returned (%v) while the lock was held", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := held.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not granted the lock within 5 s of the release")
	}
}

func TestReleasingTwiceReportsNotHeld(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	l, err := c.Lock(ctx, "twice")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("first Release: %v", err)
	}
	if err := l.Release(ctx); !errors.Is(err, streamgate.ErrNotHeld) {
		t.Fatalf("second Release: %v, want ErrNotHeld", err)
	}
	if err := l.Extend(ctx, time.Second); !errors.Is(err, streamgate.ErrNotHeld) {
		t.Fatalf("Extend after Release: %v, want ErrNotHeld", err)
	}
}

func TestExtendPushesTheLeaseBack(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	l, err := c.Lock(ctx, "long-job", streamgate.WithTTL(2*time.Second))
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	defer l.Release(ctx)
	before := l.ExpiresAt()
	if err := l.Extend(ctx, time.Minute); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if !l.ExpiresAt().After(before.Add(30 * time.Second)) {
		t.Fatalf("lease ends %s after Extend(1m), was %s", l.ExpiresAt(), before)
	}
}

// A lease that runs out frees the lock for the next waiter, and the stale holder can
// neither release nor extend it any more.
func TestAnExpiredLeaseIsGrantedToTheNextWaiterAndNoLongerHeld(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	stale, err := c.Lock(ctx, "lease", streamgate.WithTTL(200*time.Millisecond))
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	next, err := c.Lock(ctx, "lease", streamgate.WithWaitTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("waiter on an expiring lease: %v", err)
	}
	defer next.Release(ctx)
	if next.FencingToken() <= stale.FencingToken() {
		t.Fatalf("fencing token %d after %d", next.FencingToken(), stale.FencingToken())
	}
	if err := stale.Extend(ctx, time.Second); !errors.Is(err, streamgate.ErrNotHeld) {
		t.Fatalf("Extend of an expired lease: %v, want ErrNotHeld", err)
	}
	if err := stale.Release(ctx); !errors.Is(err, streamgate.ErrNotHeld) {
		t.Fatalf("Release of an expired lease: %v, want ErrNotHeld", err)
	}
}

// contend runs workers goroutines that each add 1 to a counter `rounds` times under the lock,
// with a separate load, sleep and store that lose updates without mutual exclusion (atomic
// only so that the race detector stays quiet), and returns the total and every fencing token
// in grant order.
func contend(t *testing.T, clients []*streamgate.Client, name string, workers, rounds int) (int, []uint64) {
	t.Helper()
	ctx := testContext(t)
	var counter atomic.Int64
	var tokensMu sync.Mutex
	var tokens []uint64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		c := clients[w%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				l, err := c.Lock(ctx, name, streamgate.WithTTL(10*time.Second))
				if err != nil {
					errs <- err
					return
				}
				current := counter.Load()
				tokensMu.Lock()
				tokens = append(tokens, l.FencingToken())
				tokensMu.Unlock()
				time.Sleep(time.Millisecond)
				counter.Store(current + 1)
				if err := l.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("worker: %v", err)
	}
	return int(counter.Load()), tokens
}

func requireIncreasing(t *testing.T, tokens []uint64) {
	t.Helper()
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("fencing token %d granted after %d", tokens[i], tokens[i-1])
		}
	}
}

func TestGoroutinesContendingForALockCountExactly(t *testing.T) {
	c := lockServer(t).Dial(t)
	total, tokens := contend(t, []*streamgate.Client{c}, "counter", 3, 40)
	if total != 120 {
		t.Fatalf("counter = %d, want exactly 120", total)
	}
	requireIncreasing(t, tokens)
}

func TestInProcessLocksCountExactlyToo(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	total, tokens := contend(t, []*streamgate.Client{c}, "counter", 3, 40)
	if total != 120 {
		t.Fatalf("counter = %d, want exactly 120", total)
	}
	requireIncreasing(t, tokens)
}

func TestTwoServersOnOneRedisExcludeEachOther(t *testing.T) {
	redis := testenv.StartRedis(t)
	a := testenv.StartServer(t, "--redis-url", redis.URL).Dial(t)
	b := testenv.StartServer(t, "--redis-url", redis.URL).Dial(t)
	total, tokens := contend(t, []*streamgate.Client{a, b}, "shared", 4, 25)
	if total != 100 {
		t.Fatalf("counter = %d, want exactly 100", total)
	}
	requireIncreasing(t, tokens)
}

func TestBadLockRequestsAreInvalidArgumentNamingTheField(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)

	_, err := c.Lock(ctx, "")
	requireCode(t, err, codes.InvalidArgument, "name")
	_, err = c.Lock(ctx, strings.Repeat("n", 257))
	requireCode(t, err, codes.InvalidArgument, "name")
	_, err = c.Lock(ctx, "ttl", streamgate.WithTTL(time.Microsecond))
	requireCode(t, err, codes.InvalidArgument, "ttl")
	_, err = c.Hold(ctx, "")
	requireCode(t, err, codes.InvalidArgument, "name")
}

func TestLocksAreUnavailableWhenRedisIsDown(t *testing.T) {
	c := testenv.StartServer(t, "--redis-url", "redis://"+testenv.ClosedPort(t)).Dial(t)
	_, err := c.Lock(testContext(t), "nowhere", streamgate.WithWaitTimeout(0))
	requireCode(t, err, codes.Unavailable, "")
}
