package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/clients/go/examples/internal/demo"
	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

func TestPooledFetchReportsTheSizeOfEveryBody(t *testing.T) {
	up := demo.Upstream(0)
	t.Cleanup(up.Close)
	srv := testenv.StartServer(t, "--allow-private-networks")
	urls := []string{up.URL + "/delay/0.2", up.URL + "/delay/0.1", up.URL + "/delay/0", up.URL + "/delay/x"}

	var out bytes.Buffer
	_, err := run(testenv.Context(t), config{addr: srv.Addr, urls: urls[:3], maxConnections: 2, timeout: time.Minute}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, u := range urls[:3] {
		if !strings.Contains(out.String(), u+": received ") {
			t.Fatalf("no line for %s in:\n%s", u, out.String())
		}
	}
	sizes, err := run(testenv.Context(t), config{addr: srv.Addr, urls: urls[2:], maxConnections: 2}, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sizes[0] == 0 || !bytes.Contains(out.Bytes(), []byte("/delay/x: received ")) {
		t.Fatalf("sizes %v; an upstream 400 is still a response with a body", sizes)
	}
}
