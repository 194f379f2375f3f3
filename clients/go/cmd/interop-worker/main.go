// Command interop-worker is the Go worker of the cross-language lock interop test (protocol:
// clients/interop/README.md). It does --count read-modify-write increments of a Redis string,
// each under one streamgate lock: GET, pause, SET as separate commands, so two holders at once
// would lose an update and the driver's exact total would fail.
//
//	interop-worker --check
//	interop-worker --server HOST:PORT --redis-port P --lock NAME --count K \
//	               [--key KEY] [--pause-ms MS] [--id ID]
//
// Even-numbered increments take the lock with AcquireLock/Release (Client.Lock), odd ones with
// a Hold stream (Client.Hold), so both ways interoperate with the other languages' workers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// runTimeout bounds the whole run; the driver gives every worker 300 s.
const runTimeout = 290 * time.Second

// leaseTTL outlives any one increment by far, so a lease never expires under a live worker.
const leaseTTL = 30 * time.Second

type config struct {
	server    string
	redisPort int
	lock      string
	count     int
	key       string
	pause     time.Duration
	id        string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole worker; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("interop-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var pauseMS float64
	check := fs.Bool("check", false, "exit 0 when this worker can run here")
	fs.StringVar(&cfg.server, "server", "", "streamgate HOST:PORT (plain gRPC)")
	fs.IntVar(&cfg.redisPort, "redis-port", 0, "port of the redis-server on 127.0.0.1 holding the counter")
	fs.StringVar(&cfg.lock, "lock", "", "lock name")
	fs.IntVar(&cfg.count, "count", 0, "increments to do")
	fs.StringVar(&cfg.key, "key", "interop:counter", "Redis key of the counter")
	fs.Float64Var(&pauseMS, "pause-ms", 2, "pause between GET and SET, milliseconds")
	fs.StringVar(&cfg.id, "id", "go", "label for diagnostics, sent as the lock owner")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *check {
		// Built and started: everything this worker needs is compiled in.
		return 0
	}
	var missing []string
	if cfg.server == "" {
		missing = append(missing, "--server")
	}
	if cfg.redisPort <= 0 {
		missing = append(missing, "--redis-port")
	}
	if cfg.lock == "" {
		missing = append(missing, "--lock")
	}
	if cfg.count <= 0 {
		missing = append(missing, "--count")
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "go worker: required: %v\n", missing)
		return 2
	}
	cfg.pause = time.Duration(pauseMS * float64(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	if err := increments(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "go worker %s: %v\n", cfg.id, err)
		return 1
	}
	fmt.Fprintf(stdout, "go worker %s: %d increments done\n", cfg.id, cfg.count)
	return 0
}

func increments(ctx context.Context, cfg config) error {
	c, err := streamgate.Dial(ctx, cfg.server)
	if err != nil {
		return err
	}
	defer c.Close()
	store, err := dialRedis(ctx, "127.0.0.1:"+strconv.Itoa(cfg.redisPort))
	if err != nil {
		return err
	}
	defer store.Close()

	for i := range cfg.count {
		var err error
		if i%2 == 0 {
			err = incrementUnderLock(ctx, c, store, cfg)
		} else {
			err = incrementUnderHold(ctx, c, store, cfg)
		}
		if err != nil {
			return fmt.Errorf("increment %d: %w", i+1, err)
		}
	}
	return nil
}

func incrementUnderLock(ctx context.Context, c *streamgate.Client, store *redisConn, cfg config) error {
	lock, err := c.Lock(ctx, cfg.lock, streamgate.WithTTL(leaseTTL), streamgate.WithOwner("go-worker "+cfg.id))
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := readModifyWrite(ctx, store, cfg); err != nil {
		_ = lock.Release(ctx)
		return err
	}
	if err := lock.Release(ctx); err != nil {
		// ErrNotHeld here means the lease ran out mid-increment: the total can't be trusted.
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

func incrementUnderHold(ctx context.Context, c *streamgate.Client, store *redisConn, cfg config) error {
	held, err := c.Hold(ctx, cfg.lock, streamgate.WithTTL(leaseTTL), streamgate.WithOwner("go-worker "+cfg.id))
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	err = readModifyWrite(ctx, store, cfg)
	lost := held.Err()
	held.Release()
	if err != nil {
		return err
	}
	if lost != nil {
		return fmt.Errorf("hold ended during the increment: %w", lost)
	}
	return nil
}

// readModifyWrite is GET, pause, SET: deliberately not INCR.
func readModifyWrite(ctx context.Context, store *redisConn, cfg config) error {
	raw, err := store.get(cfg.key)
	if err != nil {
		return err
	}
	current := 0
	if raw != nil {
		if current, err = strconv.Atoi(string(raw)); err != nil {
			return fmt.Errorf("%s holds %q, not a number", cfg.key, raw)
		}
	}
	select {
	case <-time.After(cfg.pause):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := store.set(cfg.key, strconv.Itoa(current+1)); err != nil {
		return err
	}
	return nil
}
