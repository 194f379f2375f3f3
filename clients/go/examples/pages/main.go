// Command pages is the seed's second case, lazy paginated reading: a collection read page by
// page through streamgate's ListPages, each page fetched only as the loop asks for it.
//
//	go run ./examples/pages -addr 127.0.0.1:50051 [-url URL] [-size 10] [-first-only]
//
// Without -url it reads /users (45 users) from a loopback stand-in API started in this
// process (run the server with --allow-private-networks).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/streamgate/streamgate/clients/go/examples/internal/demo"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

type config struct {
	addr      string
	url       string
	size      uint
	firstOnly bool
	timeout   time.Duration
}

type result struct {
	pages, items int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:50051", "streamgate address")
	flag.StringVar(&cfg.url, "url", "", "collection URL (page-number pagination: ?page=N&size=M); default: a local demo API")
	flag.UintVar(&cfg.size, "size", 10, "items per page")
	flag.BoolVar(&cfg.firstOnly, "first-only", false, "stop after the first page (the stream is cancelled)")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "whole run time-out")
	flag.Parse()
	if cfg.url == "" {
		up := demo.Upstream(45)
		defer up.Close()
		cfg.url = up.URL + "/users"
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) (result, error) {
	c, err := streamgate.Dial(ctx, cfg.addr)
	if err != nil {
		return result{}, err
	}
	defer c.Close()

	var res result
	req := &streamgate.ListPagesRequest{Url: cfg.url, PageSize: uint32(cfg.size)}
	for page, err := range c.ListPages(ctx, req) {
		if err != nil {
			return res, err
		}
		res.pages++
		res.items += len(page.GetItems())
		fmt.Fprintf(out, "page %d: received %d records\n", page.GetNumber(), len(page.GetItems()))
		if cfg.firstOnly {
			break // cancels the stream: the server stops fetching
		}
	}
	fmt.Fprintf(out, "%d pages, %d records\n", res.pages, res.items)
	return res, nil
}
