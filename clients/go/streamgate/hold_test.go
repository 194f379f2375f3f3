package streamgate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// requireHeld fails unless a try-once Lock of name is refused.
func requireHeld(t *testing.T, c *streamgate.Client, name string) {
	t.Helper()
	l, err := c.Lock(testContext(t), name, streamgate.WithWaitTimeout(0))
	if err == nil {
		_ = l.Release(testContext(t))
		t.Fatalf("%s was free while it should be held", name)
	}
	if !errors.Is(err, streamgate.ErrNotAcquired) {
		t.Fatalf("try-once Lock of %s: %v, want ErrNotAcquired", name, err)
	}
}

// Three TTLs pass while the lock is held: the server keeps renewing the lease. Cancelling the
// Hold's context releases it, so a waiter gets it without waiting for any lease to run out.
func TestHoldKeepsTheLockUntilItsContextIsCancelled(t *testing.T) {
	c := lockServer(t).Dial(t)
	holdCtx, cancel := context.WithCancel(testContext(t))
	defer cancel()

	held, err := c.Hold(holdCtx, "leader", streamgate.WithTTL(300*time.Millisecond))
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if held.FencingToken() == 0 || held.Token() == "" {
		t.Fatalf("grant without tokens: %d %q", held.FencingToken(), held.Token())
	}
	time.Sleep(time.Second)
	requireHeld(t, c, "leader")
	if err := held.Err(); err != nil {
		t.Fatalf("Err while held: %v", err)
	}

	waiter := make(chan error, 1)
	go func() {
		l, err := c.Lock(testContext(t), "leader", streamgate.WithTTL(time.Minute), streamgate.WithWaitTimeout(15*time.Second))
		if err == nil {
			if l.FencingToken() <= held.FencingToken() {
				err = errors.New("fencing token did not grow past the hold's")
			}
			_ = l.Release(testContext(t))
		}
		waiter <- err
	}()
	cancel()
	select {
	case err := <-waiter:
		if err != nil {
			t.Fatalf("waiter after the hold was cancelled: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not free within 5 s of cancelling the hold (its 1 min lease would be far longer)")
	}
	select {
	case <-held.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the context was cancelled")
	}
	if !errors.Is(held.Err(), context.Canceled) {
		t.Fatalf("Err after cancel: %v, want context.Canceled", held.Err())
	}
}

func TestHoldReleaseFreesTheLockAtOnce(t *testing.T) {
	c := lockServer(t).Dial(t)
	held, err := c.Hold(testContext(t), "job", streamgate.WithTTL(time.Minute))
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	requireHeld(t, c, "job")
	held.Release()
	l, err := c.Lock(testContext(t), "job", streamgate.WithWaitTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("Lock after Release of the hold: %v", err)
	}
	_ = l.Release(testContext(t))
}

func TestHoldOfAHeldLockReturnsNotAcquiredAfterItsWait(t *testing.T) {
	c := lockServer(t).Dial(t)
	first, err := c.Hold(testContext(t), "single")
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	defer first.Release()
	if _, err := c.Hold(testContext(t), "single", streamgate.WithWaitTimeout(100*time.Millisecond)); !errors.Is(err, streamgate.ErrNotAcquired) {
		t.Fatalf("second Hold: %v, want ErrNotAcquired", err)
	}
}

func TestHoldIsReleasedWhenItsServerConnectionCloses(t *testing.T) {
	srv := lockServer(t)
	holder, other := srv.Dial(t), srv.Dial(t)
	if _, err := holder.Hold(testContext(t), "session", streamgate.WithTTL(time.Minute)); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	requireHeld(t, other, "session")
	_ = holder.Close()
	l, err := other.Lock(testContext(t), "session", streamgate.WithWaitTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("Lock after the holder disconnected: %v", err)
	}
	_ = l.Release(testContext(t))
}

func TestHoldWaitsInTheQueueAndIsGrantedOnRelease(t *testing.T) {
	c := lockServer(t).Dial(t)
	first, err := c.Lock(testContext(t), "handover")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	got := make(chan *streamgate.HeldLock, 1)
	errs := make(chan error, 1)
	go func() {
		h, err := c.Hold(testContext(t), "handover", streamgate.WithWaitTimeout(15*time.Second))
		if err != nil {
			errs <- err
			return
		}
		got <- h
	}()
	if err := first.Release(testContext(t)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	select {
	case h := <-got:
		defer h.Release()
		if h.FencingToken() <= first.FencingToken() {
			t.Fatalf("hold's fencing token %d after %d", h.FencingToken(), first.FencingToken())
		}
	case err := <-errs:
		t.Fatalf("Hold: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the hold was not granted within 10 s of the release")
	}
}
