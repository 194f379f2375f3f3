package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Redis is a redis-server process of the test's own, on a free loopback port.
type Redis struct {
	// URL is "redis://127.0.0.1:PORT", for --redis-url.
	URL  string
	Addr string
	cmd  *exec.Cmd
	log  *tail
	exit chan error
}

var redisReadyRe = regexp.MustCompile(`(Ready to accept connections)`)

// StartRedis runs redis-server without persistence on a free loopback port; the test fails
// saying "install redis-server" when it is not on PATH.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server not found on PATH: install redis-server (apt-get install -y redis-server); the lock tests need a real one")
	}
	port := freePort(tb)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no",
		"--logfile", "")
	r := &Redis{URL: "redis://" + addr, Addr: addr, cmd: cmd, log: newTail(), exit: make(chan error, 1)}
	ready := make(chan string, 1)
	startLogged(tb, cmd, r.log, redisReadyRe, ready, r.exit)
	tb.Cleanup(func() {
		_ = stopProcess(r.cmd, r.exit)
		if tb.Failed() {
			tb.Logf("redis-server log:\n%s", r.log.String())
		}
	})
	select {
	case <-ready:
	case err := <-r.exit:
		r.exit <- err
		tb.Fatalf("redis-server exited before it was ready (%v); its log:\n%s", err, r.log.String())
	case <-time.After(startTimeout):
		tb.Fatalf("redis-server not ready within %s; its log:\n%s", startTimeout, r.log.String())
	}
	r.ping(tb)
	return r
}

// ping checks with a real PING that the port is this server's.
func (r *Redis) ping(tb testing.TB) {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", r.Addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("connect to redis-server at %s: %v", r.Addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		tb.Fatalf("PING redis-server: %v", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		tb.Fatalf("redis-server at %s answered PING with %q (%v)", r.Addr, line, err)
	}
}

// freePort asks the kernel for a free loopback port. redis-server cannot take port 0 (it
// means "no TCP"), so the port is released and handed over: a tiny window another process
// could race for, which StartRedis would report as redis-server exiting.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
