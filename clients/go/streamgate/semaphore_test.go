package streamgate_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamgate/streamgate/clients/go/streamgate"
)

func TestASemaphoreNeverHasMoreThanLimitHolders(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	var inside, most atomic.Int32
	var mu sync.Mutex
	fences := map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				permit, err := c.Semaphore(ctx, "exports", 3, streamgate.WithTTL(10*time.Second))
				if err != nil {
					errs <- err
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				mu.Lock()
				fences[permit.FencingToken()] = true
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				if err := permit.Release(ctx); err != nil {
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
	if most.Load() != 3 {
		t.Fatalf("at most %d held at once, want exactly 3", most.Load())
	}
	if len(fences) != 30 {
		t.Fatalf("%d distinct fences for 30 grants", len(fences))
	}
}

func TestReadersShareAndAWriterWaitsForThem(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	r1, err := c.RLock(ctx, "catalog")
	if err != nil {
		t.Fatalf("RLock: %v", err)
	}
	r2, err := c.RLock(ctx, "catalog", streamgate.WithWaitTimeout(0))
	if err != nil {
		t.Fatalf("a second reader shares: %v", err)
	}
	if _, err := c.WLock(ctx, "catalog", streamgate.WithWaitTimeout(0)); err == nil {
		t.Fatal("a writer was granted beside readers")
	}
	for _, r := range []*streamgate.Lock{r1, r2} {
		if err := r.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	w, err := c.WLock(ctx, "catalog", streamgate.WithWaitTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("WLock: %v", err)
	}
	if w.FencingToken() <= r2.FencingToken() {
		t.Fatalf("writer fence %d not above reader fence %d", w.FencingToken(), r2.FencingToken())
	}
}

func TestAnotherLimitOnANameInUseIsFailedPrecondition(t *testing.T) {
	c := lockServer(t).Dial(t)
	ctx := testContext(t)
	if _, err := c.Semaphore(ctx, "pool", 5); err != nil {
		t.Fatalf("Semaphore: %v", err)
	}
	_, err := c.Semaphore(ctx, "pool", 3, streamgate.WithWaitTimeout(0))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("got %v, want FailedPrecondition", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "limit 5") || !strings.Contains(msg, "limit 3") {
		t.Fatalf("message names both limits? %q", msg)
	}
}
