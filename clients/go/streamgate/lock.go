package streamgate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// ErrNotAcquired matches (errors.Is) the error Lock and Hold return when the lock was not
// granted within the wait (WithWaitTimeout, or ctx's deadline): a *NotAcquiredError, whose
// gRPC code is Aborted, as in every streamgate client (docs/clients.md, "Locks").
var ErrNotAcquired = errors.New("streamgate: lock not acquired within the wait")

// NotAcquiredError says which lock was not granted within which wait. status.Code(err) is
// codes.Aborted and errors.Is(err, ErrNotAcquired) is true.
type NotAcquiredError struct {
	// Name is the lock's name.
	Name string
	// Wait is how long the call waited.
	Wait time.Duration
}

func (e *NotAcquiredError) message() string {
	return fmt.Sprintf("lock %q not acquired within %s", e.Name, e.Wait)
}

func (e *NotAcquiredError) Error() string {
	return "rpc error: code = Aborted desc = " + e.message()
}

// GRPCStatus lets status.Code and status.FromError see the Aborted code.
func (e *NotAcquiredError) GRPCStatus() *status.Status {
	return status.New(codes.Aborted, e.message())
}

// Is makes errors.Is(err, ErrNotAcquired) true.
func (e *NotAcquiredError) Is(target error) bool { return target == ErrNotAcquired }

// ErrNotHeld is returned by Release and Extend when the lock's token no longer holds it: the
// lease expired, it was released already, or it was never held.
var ErrNotHeld = errors.New("streamgate: lock not held by this token")

// waitForeverChunk bounds the wait of one AcquireLock or Hold call: longer and unbounded
// waits are rounds of it, so a request never asks the server for more than its
// --lock-max-wait (docs/clients.md, "Locks").
const waitForeverChunk = time.Minute

// lockDeadlineMargin is added to the wait of one call for its deadline: the server's
// acquired = false at the end of the wait arrives, and a server that hangs cannot hang the
// caller.
const lockDeadlineMargin = 5 * time.Second

// lockDeadlineHeadroom is left between the server's wait_timeout and ctx's deadline, so the
// server answers acquired = false before the call itself runs out of time.
const lockDeadlineHeadroom = 100 * time.Millisecond

// releaseTimeout bounds a Release whose ctx was already cancelled (see Lock.Release).
const releaseTimeout = 5 * time.Second

type lockOptions struct {
	ttl     *durationpb.Duration
	wait    time.Duration
	waitSet bool
	owner   string
	// What a grant takes (semaphore.go); all zero = a mutex.
	limit   uint32
	permits uint32
	mode    pb.LockMode
}

// LockOption changes one Lock or Hold request.
type LockOption func(*lockOptions)

// WithTTL sets the lease length (default 10 s on the server). A lock not released or extended
// within it expires, so a crashed holder cannot block everybody forever.
func WithTTL(d time.Duration) LockOption {
	return func(o *lockOptions) { o.ttl = durationpb.New(d) }
}

// WithWaitTimeout bounds the wait in the lock's FIFO queue; 0 tries once and returns at
// once. Without it, Lock and Hold wait as long as ctx allows.
func WithWaitTimeout(d time.Duration) LockOption {
	return func(o *lockOptions) { o.wait, o.waitSet = d, true }
}

// WithOwner labels the request for the server's diagnostics (host, process, job name).
func WithOwner(owner string) LockOption {
	return func(o *lockOptions) { o.owner = owner }
}

func newLockOptions(opts []LockOption) lockOptions {
	var o lockOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// waitPlan is the rounds of one lock wait.
type waitPlan struct {
	end   time.Time // zero: until granted
	total time.Duration
}

func (o lockOptions) plan() waitPlan {
	if !o.waitSet {
		return waitPlan{}
	}
	return waitPlan{end: time.Now().Add(o.wait), total: o.wait}
}

// next is the wait_timeout of the next request, and whether it is the last one (the
// caller's wait, or ctx's deadline, ends with it).
func (p waitPlan) next(ctx context.Context) (time.Duration, bool) {
	wait, last := waitForeverChunk, false
	if !p.end.IsZero() {
		if remaining := max(time.Until(p.end), 0); remaining <= waitForeverChunk {
			wait, last = remaining, true
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		if clipped := max(time.Until(deadline)-lockDeadlineHeadroom, 0); clipped < wait {
			wait, last = clipped, true
		}
	}
	return wait, last
}

// notAcquired is the error of a wait that passed without a grant.
func (p waitPlan) notAcquired(name string, started time.Time) error {
	// The caller's own wait when it ran out, else the time until ctx's deadline ended it.
	wait := time.Since(started).Round(time.Millisecond)
	if !p.end.IsZero() && wait >= p.total {
		wait = p.total
	}
	return &NotAcquiredError{Name: name, Wait: wait}
}

// Lock is a granted lease on a named lock. Release it when done (defer lock.Release(ctx));
// pass FencingToken to the resource it guards so a stale holder can be refused.
type Lock struct {
	c            *Client
	name         string
	token        string
	fencingToken uint64

	mu        sync.Mutex
	expiresAt time.Time
}

// Lock takes the named lock, waiting in the server's FIFO queue (woken on release, never
// polling) until it is granted, WithWaitTimeout or ctx's deadline passes (a
// *NotAcquiredError: errors.Is(err, ErrNotAcquired), code Aborted) or ctx is cancelled.
// Without WithWaitTimeout it waits, in 60 s rounds, as long as ctx allows.
// Server errors keep their gRPC code: InvalidArgument for a bad name or TTL, Unavailable when
// the server's Redis is down.
func (c *Client) Lock(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	o := newLockOptions(opts)
	plan, started := o.plan(), time.Now()
	for {
		wait, last := plan.next(ctx)
		callCtx, cancel := context.WithTimeout(ctx, wait+lockDeadlineMargin)
		resp, err := c.lock.AcquireLock(callCtx, &pb.AcquireLockRequest{
			Name:        name,
			Ttl:         o.ttl,
			WaitTimeout: durationpb.New(wait),
			Owner:       o.owner,
			Limit:       o.limit,
			Mode:        o.mode,
			Permits:     o.permits,
		})
		cancel()
		if err != nil {
			return nil, err
		}
		if resp.GetAcquired() {
			return &Lock{
				c:            c,
				name:         name,
				token:        resp.GetToken(),
				fencingToken: resp.GetFencingToken(),
				expiresAt:    resp.GetExpiresAt().AsTime(),
			}, nil
		}
		if last {
			return nil, plan.notAcquired(name, started)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Name is the lock's name.
func (l *Lock) Name() string { return l.name }

// Token is the proof of ownership that Release and Extend send.
func (l *Lock) Token() string { return l.token }

// FencingToken is strictly greater than every earlier grant of the same name.
func (l *Lock) FencingToken() uint64 { return l.fencingToken }

// ExpiresAt is when the lease ends unless extended.
func (l *Lock) ExpiresAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expiresAt
}

// Release gives the lock back, waking the next waiter. It returns ErrNotHeld when the lease
// had expired or the lock was released already. Release still runs when ctx is already
// cancelled (bounded by 5 s), so a deferred Release frees the lock on the error path too.
func (l *Lock) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	resp, err := l.c.lock.Release(ctx, &pb.ReleaseRequest{Name: l.name, Token: l.token})
	if err != nil {
		return err
	}
	if !resp.GetReleased() {
		return ErrNotHeld
	}
	return nil
}

// Extend renews the lease to ttl from now. It returns ErrNotHeld when the lease had already
// expired (another holder may have the lock now).
func (l *Lock) Extend(ctx context.Context, ttl time.Duration) error {
	resp, err := l.c.lock.Extend(ctx, &pb.ExtendRequest{Name: l.name, Token: l.token, Ttl: durationpb.New(ttl)})
	if err != nil {
		return err
	}
	if !resp.GetExtended() {
		return ErrNotHeld
	}
	l.mu.Lock()
	l.expiresAt = resp.GetExpiresAt().AsTime()
	l.mu.Unlock()
	return nil
}
