package main

import (
	"io"
	"testing"

	"github.com/streamgate/streamgate/clients/go/examples/internal/demo"
	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

func TestPagesReadsEveryUserAndStopsEarlyWhenAsked(t *testing.T) {
	up := demo.Upstream(45)
	t.Cleanup(up.Close)
	srv := testenv.StartServer(t, "--allow-private-networks")

	all, err := run(testenv.Context(t), config{addr: srv.Addr, url: up.URL + "/users", size: 10}, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if all.pages != 5 || all.items != 45 {
		t.Fatalf("%+v, want 5 pages of 45 users", all)
	}
	first, err := run(testenv.Context(t), config{addr: srv.Addr, url: up.URL + "/users", size: 10, firstOnly: true}, io.Discard)
	if err != nil {
		t.Fatalf("run -first-only: %v", err)
	}
	if first.pages != 1 || first.items != 10 {
		t.Fatalf("%+v, want the first page of 10 users only", first)
	}
}
