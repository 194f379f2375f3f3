package streamgate_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// Transport failures (docs/clients.md, "Errors"): a server that cannot be reached or goes away
// is Unavailable naming the address, whatever broke; the message says the likely fix when the
// client recognises the mistake.

// requireUnavailableSaying fails unless err is Unavailable, names addr and says hint.
func requireUnavailableSaying(t *testing.T, err error, addr, hint string) {
	t.Helper()
	requireCode(t, err, codes.Unavailable, addr)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, hint) {
		t.Fatalf("message %q does not say %q", msg, hint)
	}
}

// tlsServer runs the server with TLS from dir's server.pem/.key.
func tlsServer(t *testing.T, dir string) *testenv.Server {
	return testenv.StartServer(t, "--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server.key"))
}

func TestAServerKilledMidUnaryIsUnavailableNamingIt(t *testing.T) {
	arrived := make(chan struct{}, 1)
	api := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	srv := testenv.StartServer(t, "--allow-private-networks")
	c := srv.Dial(t)
	failed := make(chan error, 1)
	go func() {
		_, err := c.Fetch(testContext(t), api.URL+"/stall")
		failed <- err
	}()
	select {
	case <-arrived:
	case <-time.After(testTimeout):
		t.Fatal("the fetch never reached the upstream")
	}
	srv.Kill(t)
	requireCode(t, <-failed, codes.Unavailable, srv.Addr)
}

func TestAServerKilledMidStreamIsUnavailableNamingIt(t *testing.T) {
	srv := testenv.StartServer(t)
	c := srv.Dial(t)
	feed, err := c.SensorFeed(testContext(t))
	if err != nil {
		t.Fatalf("SensorFeed: %v", err)
	}
	defer feed.Close()
	if err := feed.Send(&streamgate.SensorReading{SensorId: "s1", Temperature: 21, Humidity: 40}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	killed := false
	for _, err := range feed.Responses() {
		if !killed {
			if err != nil {
				t.Fatalf("first response: %v", err)
			}
			srv.Kill(t)
			killed = true
			continue
		}
		requireCode(t, err, codes.Unavailable, srv.Addr)
		return
	}
	t.Fatal("the stream ended without an error")
}

func TestPlaintextToATLSPortIsUnavailableSayingTheServerMaySpeakTLS(t *testing.T) {
	srv := tlsServer(t, pki(t))
	c, err := streamgate.Dial(testenv.Context(t), srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Fetch(testContext(t), "http://127.0.0.1:1/")
	requireUnavailableSaying(t, err, srv.Addr, "the server speaks TLS")
}

func TestTLSToAPlaintextPortIsUnavailableSayingTheServerDoesNotSpeakTLS(t *testing.T) {
	srv := testenv.StartServer(t)
	c, err := streamgate.Dial(testenv.Context(t), srv.Addr, streamgate.WithCAFile(filepath.Join(pki(t), "ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Fetch(testContext(t), "http://127.0.0.1:1/")
	requireUnavailableSaying(t, err, srv.Addr, "does not speak TLS")
}

func TestACertificateFromAnotherCAIsUnavailableSayingSo(t *testing.T) {
	srv := tlsServer(t, pki(t))
	c, err := streamgate.Dial(testenv.Context(t), srv.Addr, streamgate.WithCAFile(filepath.Join(pki(t), "ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Fetch(testContext(t), "http://127.0.0.1:1/")
	requireUnavailableSaying(t, err, srv.Addr, "not signed by the CA you gave")
}

func TestACertificateForAnotherNameIsUnavailableSayingSo(t *testing.T) {
	dir := pkiFor(t, []string{"elsewhere.test"}, nil)
	srv := tlsServer(t, dir)
	c, err := streamgate.Dial(testenv.Context(t), srv.Addr, streamgate.WithCAFile(filepath.Join(dir, "ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Fetch(testContext(t), "http://127.0.0.1:1/")
	requireUnavailableSaying(t, err, srv.Addr, "not valid for the name you connected to")
}

func TestStreamsBeyondTheServersLimitWaitOrAreUnavailableNeverAnotherCode(t *testing.T) {
	const limit, streams = 2, 8
	srv := testenv.StartServer(t, "--max-streams-per-connection", "2")
	c, err := streamgate.Dial(testenv.Context(t), srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	outcomes := make(chan error, streams)
	for i := range streams {
		go func() {
			// Each stream stays open (ctx) after its first answer, holding its slot; opening one
			// beyond the limit blocks until a slot frees.
			wait, stop := context.WithTimeout(ctx, 3*time.Second)
			defer stop()
			got := make(chan error, 1)
			go func() {
				feed, err := c.SensorFeed(ctx)
				if err != nil {
					got <- err
					return
				}
				if err := feed.Send(&streamgate.SensorReading{SensorId: fmt.Sprintf("s%d", i), Temperature: 21, Humidity: 40}); err != nil {
					got <- err
					return
				}
				// Reads on after the first answer: leaving the loop would end the stream.
				first := true
				for _, err := range feed.Responses() {
					if first {
						got <- err
						first = false
					}
				}
			}()
			select {
			case err := <-got:
				outcomes <- err
			case <-wait.Done():
				outcomes <- context.DeadlineExceeded // queued behind the open streams
			}
		}()
	}
	answered := 0
	for range streams {
		switch err := <-outcomes; {
		case err == nil:
			answered++
		case err == context.DeadlineExceeded:
		default:
			requireCode(t, err, codes.Unavailable, srv.Addr)
		}
	}
	if answered < 1 || answered > limit {
		t.Fatalf("%d streams answered with a limit of %d", answered, limit)
	}
}

func TestAnEmptyTokenIsNoToken(t *testing.T) {
	srv := testenv.StartServer(t)
	c := srv.Dial(t, streamgate.WithToken(""))
	lock, err := c.Lock(testContext(t), "empty-token", streamgate.WithWaitTimeout(0))
	if err != nil {
		t.Fatalf("Lock with an empty token: %v", err)
	}
	_ = lock.Release(testContext(t))
	// Not refused even for a plaintext address a real token could not go to.
	far, err := streamgate.Dial(testenv.Context(t), "10.0.0.1:1", streamgate.WithToken(""))
	if err != nil {
		t.Fatalf("Dial with an empty token: %v", err)
	}
	_ = far.Close()
}
