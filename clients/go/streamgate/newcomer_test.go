package streamgate_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

// What a newcomer does with docs/getting-started/go.md, done by a test: a new module in a
// temp folder outside the repository, the client through a replace as the page says, the
// page's two programs copied unchanged, built and run against the real server and its demo
// API (`streamgate demo-api`); then the two mistakes, with their errors.

// docClientPath is the checkout path the page's go mod edit line uses, replaced by the real one.
const docClientPath = "../streamgate/clients/go"

// snippet is the fenced block that follows `<!-- file: NAME -->` in the page.
func snippet(t *testing.T, doc, name string) string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- file: " + regexp.QuoteMeta(name) + " -->\n```\\w*\n(.*?)\n```")
	m := re.FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("the page has no block for %s", name)
	}
	return m[1] + "\n"
}

func goCmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOFLAGS=-mod=mod"}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestTheGettingStartedPageBuildsAndRunsInAFreshModule(t *testing.T) {
	repo := testenv.RepoRoot(t)
	docBytes, err := os.ReadFile(filepath.Join(repo, "docs", "getting-started", "go.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docBytes)
	editLine := regexp.MustCompile(`go mod edit -require=(\S+) \\\n\s+-replace=(\S+)`).FindStringSubmatch(doc)
	if editLine == nil {
		t.Fatal("the page has no `go mod edit -require=... -replace=...` step")
	}
	clientDir := filepath.Join(repo, "clients", "go")
	replace := strings.Replace(editLine[2], docClientPath, clientDir, 1)
	if replace == editLine[2] {
		t.Fatalf("the replace %q does not use %q", editLine[2], docClientPath)
	}

	dir := t.TempDir()
	if rel, err := filepath.Rel(repo, dir); err != nil || !strings.HasPrefix(rel, "..") {
		t.Fatalf("the module must live outside the repository: %s", dir)
	}
	goCmd(t, dir, nil, "go", "mod", "init", "example.com/hello")
	goCmd(t, dir, nil, "go", "mod", "edit", "-require="+editLine[1], "-replace="+replace)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(snippet(t, doc, "main.go")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "mistakes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mistakes", "main.go"), []byte(snippet(t, doc, "mistakes/main.go")), 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, nil, "go", "mod", "tidy")
	goCmd(t, dir, nil, "go", "build", "-o", "bin/", "./...")

	srv := testenv.StartServer(t, "--allow-private-networks")
	// The demo API the page tells the reader to start: `streamgate demo-api`.
	api := testenv.StartDemoAPI(t)
	env := []string{"STREAMGATE_ADDR=" + srv.Addr, "DEMO_API=http://" + api.Addr}

	out := goCmd(t, dir, env, filepath.Join(dir, "bin", "hello"))
	for _, want := range []string{
		"fetch: HTTP 200 hello\n",
		"page 1: ids 1,2\npage 2: ids 3,4\npage 3: ids 5,6\n",
		"lock: getting-started held, fencing token ",
		"reading s1: 21.5 °C = 70.7 °F\n",
		"reading s1: 31.0 °C = 87.8 °F\n",
		"alert s1: ",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in:\n%s", want, out)
		}
	}

	if conn, err := net.Dial("tcp", "127.0.0.1:1"); err == nil {
		_ = conn.Close()
		t.Fatal("something listens on 127.0.0.1:1, the page's dead port")
	}
	out = goCmd(t, dir, env, filepath.Join(dir, "bin", "mistakes"))
	if !strings.Contains(out, "empty name: InvalidArgument: name") {
		t.Fatalf("no InvalidArgument naming the field in:\n%s", out)
	}
	var dead string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "dead port: ") {
			dead = line
		}
	}
	if !strings.HasPrefix(dead, "dead port: Unavailable: ") || !strings.Contains(dead, "127.0.0.1:1") {
		t.Fatalf("no Unavailable naming the address in:\n%s", out)
	}
}
