package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

// Four Go workers on two servers sharing one Redis, as the interop driver runs them: the
// counter must come out exact.
func TestWorkersOnTwoServersCountExactly(t *testing.T) {
	redis := testenv.StartRedis(t)
	servers := []*testenv.Server{
		testenv.StartServer(t, "--redis-url", redis.URL),
		testenv.StartServer(t, "--redis-url", redis.URL),
	}
	port := redis.Addr[strings.LastIndex(redis.Addr, ":")+1:]
	const workers, count = 4, 15

	var wg sync.WaitGroup
	codes := make([]int, workers)
	outs := make([]bytes.Buffer, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[w] = run([]string{
				"--server", servers[w%2].Addr, "--redis-port", port, "--lock", "interop-lock",
				"--count", fmt.Sprint(count), "--key", "interop:counter", "--pause-ms", "1.5",
				"--id", fmt.Sprintf("go-%d", w),
			}, &outs[w], &outs[w])
		}()
	}
	wg.Wait()
	for w, code := range codes {
		if code != 0 {
			t.Fatalf("worker %d exited %d:\n%s", w, code, outs[w].String())
		}
	}
	store, err := dialRedis(context.Background(), redis.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := store.get("interop:counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != fmt.Sprint(workers*count) {
		t.Fatalf("counter = %s, want exactly %d", got, workers*count)
	}
}

func TestCheckSucceedsAndMissingArgumentsAreRefused(t *testing.T) {
	if code := run([]string{"--check"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("--check exited %d", code)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--server", "127.0.0.1:1"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("missing arguments exited %d, want 2", code)
	}
	for _, flag := range []string{"--redis-port", "--lock", "--count"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Fatalf("%q does not name %s", stderr.String(), flag)
		}
	}
}
