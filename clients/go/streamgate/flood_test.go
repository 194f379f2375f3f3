package streamgate_test

// Full-speed clients: grpc-go puts every message in a DATA frame of its own and every stream
// of a client on one connection, the pattern that trips the server's HTTP/2 small-frame
// budget when the flow-control windows let more small frames wait than the budget covers
// (docs/sensor.md, "Full-speed streams"). These tests send as fast as Send allows and require
// every reading back.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// floodReadings is how many small readings one full-speed sender sends.
const floodReadings = 200_000

// floodTimeout bounds one flood, so a stalled or killed connection fails the test instead of
// hanging it (a debug server on a shared machine takes a few seconds per 200,000).
const floodTimeout = 3 * time.Minute

// flood sends n readings on one new feed of c as fast as Send allows while another goroutine
// reads the answers; it returns how many processed readings came back, and the first error.
func flood(ctx context.Context, c *streamgate.Client, sensor string, n int) (int, error) {
	feed, err := c.SensorFeed(ctx)
	if err != nil {
		return 0, fmt.Errorf("SensorFeed: %w", err)
	}
	defer feed.Close()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			// 20-24 °C stays below the default threshold: one answer per reading, no alerts.
			if err := feed.Send(&streamgate.SensorReading{SensorId: sensor, Temperature: 20 + float64(i%5), Humidity: 50}); err != nil {
				sent <- fmt.Errorf("Send of reading %d: %w", i, err)
				return
			}
		}
		sent <- feed.CloseSend()
	}()
	got := 0
	for resp, err := range feed.Responses() {
		if err != nil {
			return got, fmt.Errorf("after %d of %d readings: %w", got, n, err)
		}
		if resp.GetReading() != nil {
			got++
		}
	}
	if err := <-sent; err != nil {
		return got, err
	}
	return got, nil
}

func TestAFullSpeedSenderGetsEveryReadingProcessedTwice(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(testenv.Context(t), floodTimeout)
		got, err := flood(ctx, c, "flood", floodReadings)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if got != floodReadings {
			t.Fatalf("run %d: %d of %d readings came back", run, got, floodReadings)
		}
	}
}

func TestThirtyTwoFullSpeedStreamsOnOneConnectionGetEveryReadingProcessed(t *testing.T) {
	const streams = 32
	// One Client is one grpc-go connection: all 32 streams share it.
	c := testenv.StartServer(t).Dial(t)
	ctx, cancel := context.WithTimeout(testenv.Context(t), floodTimeout)
	defer cancel()
	per := floodReadings / streams
	var wg sync.WaitGroup
	errs := make([]error, streams)
	got := make([]int, streams)
	for s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[s], errs[s] = flood(ctx, c, fmt.Sprintf("s%02d", s), per)
		}()
	}
	wg.Wait()
	for s := range streams {
		if errs[s] != nil {
			t.Fatalf("stream %d: %v", s, errs[s])
		}
		if got[s] != per {
			t.Fatalf("stream %d: %d of %d readings came back", s, got[s], per)
		}
	}
}

func TestManyConcurrentSmallFetchesOnOneConnectionAllSucceed(t *testing.T) {
	const calls = 2_000
	const concurrency = 200
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	c := testenv.StartServer(t, "--allow-private-networks").Dial(t)
	ctx, cancel := context.WithTimeout(testenv.Context(t), floodTimeout)
	defer cancel()
	next := make(chan int, calls)
	for i := range calls {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resp, err := c.Fetch(ctx, fmt.Sprintf("%s/item/%d", up.URL, i), streamgate.WithBody([]byte("x")))
				if err == nil && (resp.StatusCode != http.StatusOK || string(resp.Body) != "ok") {
					err = fmt.Errorf("status %d body %q", resp.StatusCode, resp.Body)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Errorf("call %d: %w", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls failed; first: %v", len(failures), calls, failures[0])
	}
}
