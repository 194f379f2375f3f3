package streamgate

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// ErrNotAcquired is returned by Lock and Hold when the lock was not granted within the wait
// (WithWaitTimeout, or ctx's deadline). It is an answer, not a failure of the server, so it
// carries no gRPC status.
var ErrNotAcquired = errors.New("streamgate: lock not acquired within the wait")

// ErrNotHeld is returned by Release and Extend when the lock's token no longer holds it: the
// lease expired, it was released already, or it was never held.
var ErrNotHeld = errors.New("streamgate: lock not held by this token")

// waitChunk bounds one AcquireLock call when the caller's ctx has no deadline: Lock then asks
// again and again, so it waits as long as ctx allows without ever asking the server for more
// than its --lock-max-wait.
const waitChunk = time.Minute

// deadlineMargin is left between the server's wait_timeout and ctx's deadline, so the server
// answers acquired = false before the call itself runs out of time.
const deadlineMargin = 50 * time.Millisecond

// releaseTimeout bounds a Release whose ctx was already cancelled (see Lock.Release).
const releaseTimeout = 5 * time.Second

type lockOptions struct {
	ttl     *durationpb.Duration
	wait    time.Duration
	waitSet bool
	owner   string
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

// nextWait is the wait_timeout of the next request, and whether it is the last one Lock may
// make (true when the caller bounded the wait, or ctx's deadline does).
func (o lockOptions) nextWait(ctx context.Context) (time.Duration, bool) {
	if o.waitSet {
		return o.wait, true
	}
	if deadline, ok := ctx.Deadline(); ok {
		remaining := time.Until(deadline) - deadlineMargin
		if remaining <= waitChunk {
			return max(remaining, 0), true
		}
	}
	return waitChunk, false
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
// polling) until it is granted, WithWaitTimeout passes (ErrNotAcquired) or ctx is done.
// Server errors keep their gRPC code: InvalidArgument for a bad name or TTL, Unavailable when
// the server's Redis is down.
func (c *Client) Lock(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	o := newLockOptions(opts)
	for {
		wait, last := o.nextWait(ctx)
		resp, err := c.lock.AcquireLock(ctx, &pb.AcquireLockRequest{
			Name:        name,
			Ttl:         o.ttl,
			WaitTimeout: durationpb.New(wait),
			Owner:       o.owner,
		})
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
			return nil, ErrNotAcquired
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
