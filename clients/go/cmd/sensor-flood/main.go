// Command sensor-flood sends small SensorFeed readings through the Go client as fast as
// Feed.Send allows, on --streams streams that share one connection, reads every answer,
// and prints one line for the caller to parse (benches/sensor_flood.rs runs it beside the
// Rust client):
//
//	sensor-flood --server HOST:PORT [--streams S] [--readings N]
//	FLOOD events=<processed readings> expected=<S*N> seconds=<wall time>
//
// It exits 1 when a stream fails or fewer answers than readings come back.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// runTimeout bounds the whole run, so a stalled or killed connection ends it with an error.
const runTimeout = 5 * time.Minute

func main() {
	server := flag.String("server", "", "streamgate address, HOST:PORT")
	streams := flag.Int("streams", 1, "concurrent streams on one connection")
	readings := flag.Int("readings", 200_000, "readings per stream")
	flag.Parse()
	if *server == "" || *streams < 1 || *readings < 1 {
		fmt.Fprintln(os.Stderr, "usage: sensor-flood --server HOST:PORT [--streams S >= 1] [--readings N >= 1]")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	c, err := streamgate.Dial(ctx, *server)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dial %s: %v\n", *server, err)
		os.Exit(1)
	}
	defer c.Close()

	start := time.Now()
	var wg sync.WaitGroup
	got := make([]int, *streams)
	errs := make([]error, *streams)
	for s := range *streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[s], errs[s] = flood(ctx, c, fmt.Sprintf("sensor-%d", s), *readings)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	events := 0
	for s := range *streams {
		events += got[s]
		if errs[s] != nil {
			fmt.Fprintf(os.Stderr, "stream %d: %v\n", s, errs[s])
		}
	}
	expected := *streams * *readings
	fmt.Printf("FLOOD events=%d expected=%d seconds=%.6f\n", events, expected, elapsed.Seconds())
	if events != expected {
		os.Exit(1)
	}
}

// flood sends n readings on one new feed while this goroutine reads the answers; it returns
// how many processed readings came back.
func flood(ctx context.Context, c *streamgate.Client, sensor string, n int) (int, error) {
	feed, err := c.SensorFeed(ctx)
	if err != nil {
		return 0, err
	}
	defer feed.Close()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			// Below the 28 °C default threshold: one answer per reading, no alerts.
			r := &streamgate.SensorReading{SensorId: sensor, Temperature: 20 + float64(i%50)/10, Humidity: 50}
			if err := feed.Send(r); err != nil {
				sent <- fmt.Errorf("Send of reading %d: %w", i, err)
				return
			}
		}
		sent <- feed.CloseSend()
	}()
	got := 0
	for resp, err := range feed.Responses() {
		if err != nil {
			return got, err
		}
		if resp.GetReading() != nil {
			got++
		}
	}
	return got, <-sent
}
