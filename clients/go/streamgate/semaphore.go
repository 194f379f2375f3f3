package streamgate

import (
	"context"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// WithPermits makes a Semaphore grant take n of the semaphore's permits (default 1).
func WithPermits(n uint32) LockOption {
	return func(o *lockOptions) { o.permits = n }
}

// Semaphore takes one permit (or WithPermits) of the semaphore name, which has limit permits:
// at most limit are held at once across every client, each grant with its own fencing token,
// waiters served first come, first served. The returned *Lock is the guard: Release (or
// Extend) it as a lock's; Hold with the same options holds a permit for a stream's life.
// A name's limit is fixed while anyone holds or waits on it: another limit, or using the
// name as a mutex or read-write lock meanwhile, fails with FailedPrecondition.
func (c *Client) Semaphore(ctx context.Context, name string, limit uint32, opts ...LockOption) (*Lock, error) {
	return c.Lock(ctx, name, append(opts, func(o *lockOptions) { o.limit = limit })...)
}

// RLock takes a read share of the read-write lock name: with other readers, never beside a
// writer. A waiting writer stops new readers (they queue behind it), and when a writer is
// done every reader then queued goes in together (phase-fair).
func (c *Client) RLock(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	return c.Lock(ctx, name, append(opts, withMode(pb.LockMode_LOCK_MODE_SHARED))...)
}

// WLock takes the write side of the read-write lock name: alone, no readers.
func (c *Client) WLock(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	return c.Lock(ctx, name, append(opts, withMode(pb.LockMode_LOCK_MODE_EXCLUSIVE))...)
}

// Shared makes a Hold take a read share of a read-write lock (RLock's claim, held by a stream).
func Shared() LockOption { return withMode(pb.LockMode_LOCK_MODE_SHARED) }

// Exclusive makes a Hold take the write side of a read-write lock.
func Exclusive() LockOption { return withMode(pb.LockMode_LOCK_MODE_EXCLUSIVE) }

// OfSemaphore makes a Hold take a permit of a semaphore of limit permits.
func OfSemaphore(limit uint32) LockOption {
	return func(o *lockOptions) { o.limit = limit }
}

func withMode(m pb.LockMode) LockOption {
	return func(o *lockOptions) { o.mode = m }
}
