package streamgate_test

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed gen/ must be what regen.sh makes from proto/ today, so `go test ./...` alone
// catches a proto change nobody regenerated.
func TestGeneratedCodeMatchesTheProtos(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc not found: install protobuf-compiler and libprotobuf-dev (apt-get install -y protobuf-compiler libprotobuf-dev)")
	}
	script, err := filepath.Abs(filepath.Join("..", "check-generated.sh"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}
