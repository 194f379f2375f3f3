// Package testenv starts the real parts the Go client's tests run against: the streamgate
// binary on a free port, a redis-server on a free port, and (through net/http/httptest)
// loopback HTTP upstreams. Nothing is mocked; a missing binary fails the test and says what to
// install or build.
package testenv

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// startTimeout bounds how long a server or redis-server may take to start listening.
const startTimeout = 30 * time.Second

// stopTimeout bounds a graceful stop before the process is killed.
const stopTimeout = 10 * time.Second

// logLines is how many stderr lines of a process are kept for a failing test's log.
const logLines = 200

var (
	listeningRe = regexp.MustCompile(`listening on (\S+)`)
	ansiRe      = regexp.MustCompile(`\x1b\[[0-9;]*m`)
)

// Server is a running streamgate process.
type Server struct {
	// Addr is the address it listens on ("127.0.0.1:PORT").
	Addr string
	cmd  *exec.Cmd
	log  *tail
	exit chan error
}

// RepoRoot is the streamgate repository holding this module (the folder with proto/).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "proto", "streamgate", "v1", "fetch.proto")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no proto/streamgate/v1/fetch.proto above the working directory: run the tests inside the streamgate repository")
		}
		dir = parent
	}
}

// ServerBinary is $STREAMGATE_BIN, else <repo>/target/debug/streamgate; the test fails when
// it does not exist.
func ServerBinary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("STREAMGATE_BIN")
	if bin == "" {
		bin = filepath.Join(RepoRoot(tb), "target", "debug", "streamgate")
	}
	if info, err := os.Stat(bin); err != nil || info.IsDir() {
		tb.Fatalf("streamgate server binary not found at %s: build it with `cargo build --bin streamgate` in the repository root (or point STREAMGATE_BIN at one)", bin)
	}
	return bin
}

// StartServer runs the streamgate binary on a free loopback port with the given extra flags
// and waits for its `listening on ADDR` line. The test's cleanup stops it with SIGTERM.
func StartServer(tb testing.TB, args ...string) *Server {
	tb.Helper()
	return startBinary(tb, append([]string{"--listen", "127.0.0.1:0"}, args...))
}

// StartDemoAPI runs `streamgate demo-api --listen 127.0.0.1:0`, the getting-started pages'
// demo API (its base URL is "http://" + Addr); the test's cleanup stops it.
func StartDemoAPI(tb testing.TB) *Server {
	tb.Helper()
	return startBinary(tb, []string{"demo-api", "--listen", "127.0.0.1:0"})
}

// startBinary runs the streamgate binary with exactly args until it logs `listening on ADDR`.
func startBinary(tb testing.TB, args []string) *Server {
	tb.Helper()
	bin := ServerBinary(tb)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	s := &Server{cmd: cmd, log: newTail(), exit: make(chan error, 1)}
	addrCh := make(chan string, 1)
	startLogged(tb, cmd, s.log, listeningRe, addrCh, s.exit)
	tb.Cleanup(func() { s.stop(tb) })

	select {
	case addr := <-addrCh:
		s.Addr = addr
	case err := <-s.exit:
		s.exit <- err
		tb.Fatalf("streamgate exited before listening (%v); its log:\n%s", err, s.log.String())
	case <-time.After(startTimeout):
		tb.Fatalf("streamgate printed no `listening on` line within %s; its log:\n%s", startTimeout, s.log.String())
	}
	return s
}

// Dial connects a client to the server; the test's cleanup closes it.
func (s *Server) Dial(tb testing.TB, opts ...streamgate.DialOption) *streamgate.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := streamgate.Dial(ctx, s.Addr, opts...)
	if err != nil {
		tb.Fatalf("dial streamgate at %s: %v", s.Addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill ends the process at once (SIGKILL): a server that goes away mid-call.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		tb.Fatalf("kill streamgate: %v", err)
	}
	err := <-s.exit
	s.exit <- err
}

// Log is the server's recent stderr, for assertions about what it logged.
func (s *Server) Log() string { return s.log.String() }

// Stop sends SIGTERM and waits for the process to exit (killing it after 10 s); it returns
// the exit error (nil for a clean exit 0). Calling it again returns the same result.
func (s *Server) Stop() error {
	return stopProcess(s.cmd, s.exit)
}

func (s *Server) stop(tb testing.TB) {
	if err := s.Stop(); err != nil {
		tb.Logf("streamgate exit: %v", err)
	}
	if tb.Failed() {
		tb.Logf("streamgate log:\n%s", s.log.String())
	}
}

// stopProcess signals SIGTERM, waits, then kills; exit carries cmd.Wait's result and is
// refilled so later calls see it too.
func stopProcess(cmd *exec.Cmd, exit chan error) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exit:
		exit <- err
		return err
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		err := <-exit
		exit <- err
		return errors.Join(errors.New("did not stop within 10 s of SIGTERM: killed"), err)
	}
}

// startLogged starts cmd with stdout and stderr into one pipe read by log, and sends
// cmd.Wait's result on exit once the output is drained (Wait must not close the pipe while
// the reader still needs it, or the last lines of a crashing process are lost).
func startLogged(tb testing.TB, cmd *exec.Cmd, log *tail, want *regexp.Regexp, found chan<- string, exit chan<- error) {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatalf("pipe: %v", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		tb.Fatalf("start %s: %v", cmd.Path, err)
	}
	_ = w.Close() // the child holds its own copy; EOF comes when it exits
	go func() {
		log.read(r, want, found)
		_ = r.Close()
		exit <- cmd.Wait()
	}()
}

// tail keeps the last lines a process wrote, and reports the first match of a pattern.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func newTail() *tail { return &tail{} }

func (t *tail) read(r interface{ Read([]byte) (int, error) }, want *regexp.Regexp, found chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sent := false
	for sc.Scan() {
		line := ansiRe.ReplaceAllString(sc.Text(), "")
		t.mu.Lock()
		t.lines = append(t.lines, line)
		if len(t.lines) > logLines {
			t.lines = t.lines[len(t.lines)-logLines:]
		}
		t.mu.Unlock()
		if !sent && want != nil {
			if m := want.FindStringSubmatch(line); m != nil {
				found <- m[len(m)-1]
				sent = true
			}
		}
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
