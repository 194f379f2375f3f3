// Command pooledfetch is the seed's first case, a pooled HTTP client: several URLs fetched
// concurrently through streamgate's shared connection pool, at most -max-connections at a
// time from this process.
//
//	go run ./examples/pooledfetch -addr 127.0.0.1:50051 [-url URL ...]
//
// Without -url it fetches /delay/1, /delay/2 and /delay/0.5 from a loopback stand-in for
// httpbin started in this process (run the server with --allow-private-networks).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streamgate/streamgate/clients/go/examples/internal/demo"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

type config struct {
	addr           string
	urls           []string
	maxConnections int
	timeout        time.Duration
}

func main() {
	var cfg config
	var urls demo.URLs
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:50051", "streamgate address")
	flag.Var(&urls, "url", "URL to fetch (repeatable); default: a local httpbin stand-in")
	flag.IntVar(&cfg.maxConnections, "max-connections", 5, "fetches in flight at once from this process")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "whole run time-out")
	flag.Parse()
	cfg.urls = urls
	if len(cfg.urls) == 0 {
		up := demo.Upstream(0)
		defer up.Close()
		cfg.urls = []string{up.URL + "/delay/1", up.URL + "/delay/2", up.URL + "/delay/0.5"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run fetches every URL and returns the body sizes in the order of cfg.urls.
func run(ctx context.Context, cfg config, out io.Writer) ([]int, error) {
	fmt.Fprintf(out, "connecting to streamgate at %s (at most %d fetches in flight)\n", cfg.addr, cfg.maxConnections)
	c, err := streamgate.Dial(ctx, cfg.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	sizes := make([]int, len(cfg.urls))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.maxConnections)
	for i, url := range cfg.urls {
		g.Go(func() error {
			resp, err := c.Fetch(ctx, url)
			if err != nil {
				return fmt.Errorf("%s: %w", url, err)
			}
			sizes[i] = len(resp.Body)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, url := range cfg.urls {
		fmt.Fprintf(out, "%s: received %d bytes\n", url, sizes[i])
	}
	fmt.Fprintln(out, "connection closed")
	return sizes, nil
}
