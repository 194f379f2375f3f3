package streamgate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// LostError ends a HeldLock whose lease the server could not renew.
type LostError struct {
	// Reason is the server's explanation.
	Reason string
}

func (e *LostError) Error() string { return "streamgate: lock lost: " + e.Reason }

// HeldLock is a lock held for as long as its Hold stream is open: the server renews the lease
// by itself, and releases the lock as soon as the stream ends (the ctx given to Hold is
// cancelled, Release is called, or the client process dies).
type HeldLock struct {
	name         string
	token        string
	fencingToken uint64
	expiresAt    time.Time

	cancel context.CancelFunc
	done   chan struct{}
	err    error // written once by watch before done is closed
}

// Hold takes the named lock and keeps it until ctx is cancelled (or Release is called):
// no TTL to choose against the work's length, no renewal loop to write. It waits for the
// grant like Lock does and returns a *NotAcquiredError (errors.Is ErrNotAcquired) when the
// wait passes.
func (c *Client) Hold(ctx context.Context, name string, opts ...LockOption) (*HeldLock, error) {
	o := newLockOptions(opts)
	plan, started := o.plan(), time.Now()
	for {
		wait, last := plan.next(ctx)
		held, err := c.openHold(ctx, name, o, wait)
		if err != nil || held != nil {
			return held, err
		}
		if last {
			return nil, plan.notAcquired(name, started)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// openHold opens one Hold stream and reads its first event; a nil HeldLock with a nil error
// means the wait passed without a grant (and the stream is closed).
func (c *Client) openHold(ctx context.Context, name string, o lockOptions, wait time.Duration) (*HeldLock, error) {
	streamCtx, cancel := context.WithCancel(ctx)
	// The stream lives as long as the hold; only the wait for its first event is bounded,
	// like one AcquireLock call.
	firstEvent := time.AfterFunc(wait+lockDeadlineMargin, cancel)
	defer firstEvent.Stop()
	stream, err := c.lock.Hold(streamCtx, &pb.HoldRequest{
		Name:        name,
		Ttl:         o.ttl,
		WaitTimeout: durationpb.New(wait),
		Owner:       o.owner,
		Limit:       o.limit,
		Mode:        o.mode,
		Permits:     o.permits,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if !firstEvent.Stop() && ctx.Err() == nil {
		cancel()
		return nil, status.Errorf(codes.DeadlineExceeded, "no answer to Hold(%q) within %s", name, wait+lockDeadlineMargin)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	grant := first.GetAcquired()
	if grant == nil {
		cancel()
		if lost := first.GetLost(); lost != nil {
			return nil, &LostError{Reason: lost.GetReason()}
		}
		return nil, fmt.Errorf("streamgate: Hold stream began with an unknown event")
	}
	if !grant.GetAcquired() {
		cancel()
		return nil, nil
	}
	h := &HeldLock{
		name:         name,
		token:        grant.GetToken(),
		fencingToken: grant.GetFencingToken(),
		expiresAt:    grant.GetExpiresAt().AsTime(),
		cancel:       cancel,
		done:         make(chan struct{}),
	}
	go h.watch(streamCtx, stream)
	return h, nil
}

// watch reads the stream until it ends; its lifetime is the stream's, which streamCtx bounds.
func (h *HeldLock) watch(ctx context.Context, stream pb.LockService_HoldClient) {
	defer close(h.done)
	for {
		ev, err := stream.Recv()
		switch {
		case err != nil && ctx.Err() != nil:
			h.err = ctx.Err()
			return
		case err != nil:
			h.err = err
			return
		case ev.GetLost() != nil:
			h.err = &LostError{Reason: ev.GetLost().GetReason()}
			h.cancel()
			return
		}
	}
}

// Name is the lock's name.
func (h *HeldLock) Name() string { return h.name }

// Token is the grant's proof of ownership.
func (h *HeldLock) Token() string { return h.token }

// FencingToken is strictly greater than every earlier grant of the same name.
func (h *HeldLock) FencingToken() uint64 { return h.fencingToken }

// ExpiresAt is the end of the first lease; the server keeps pushing it back while the hold
// lasts.
func (h *HeldLock) ExpiresAt() time.Time { return h.expiresAt }

// Done is closed when the hold has ended: ctx cancelled, Release called, or the lock lost.
// Work guarded by the lock should stop when it is.
func (h *HeldLock) Done() <-chan struct{} { return h.done }

// Err is nil while the lock is held; once Done is closed it says why the hold ended: a
// *LostError, the context's error (context.Canceled after Release), or the stream's gRPC
// error.
func (h *HeldLock) Err() error {
	select {
	case <-h.done:
		return h.err
	default:
		return nil
	}
}

// Release ends the hold (the server frees the lock at once) and waits until the stream is
// closed on this side.
func (h *HeldLock) Release() {
	h.cancel()
	<-h.done
}

// IsLost reports whether err says a held lock was lost.
func IsLost(err error) bool {
	var lost *LostError
	return errors.As(err, &lost)
}
