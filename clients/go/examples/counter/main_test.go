package main

import (
	"io"
	"testing"
	"time"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

func TestTheCounterIsExactUnderTheLock(t *testing.T) {
	redis := testenv.StartRedis(t)
	srv := testenv.StartServer(t, "--redis-url", redis.URL)
	cfg := config{addr: srv.Addr, name: "counter_lock", workers: 3, increments: 20, held: 2 * time.Millisecond}
	total, err := run(testenv.Context(t), cfg, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if total != 60 {
		t.Fatalf("counter = %d, want exactly 60", total)
	}
}
