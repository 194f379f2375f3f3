package streamgate_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

const tlsTestToken = "go-ci-token"

// pki writes ca.pem, server.pem/.key (localhost, 127.0.0.1) and client.pem/.key
// (client.internal, a name the policy does not list, so the token is what authenticates).
func pki(t *testing.T) string {
	t.Helper()
	return pkiFor(t, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
}

// pkiFor is pki with a server certificate for the given names only.
func pkiFor(t *testing.T, serverDNS []string, serverIPs []net.IP) string {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "go-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, dns []string, ips []net.IP, usage x509.ExtKeyUsage) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			DNSNames: dns, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER)
	}
	leaf("server", 2, serverDNS, serverIPs, x509.ExtKeyUsageServerAuth)
	leaf("client", 3, []string{"client.internal"}, nil, x509.ExtKeyUsageClientAuth)
	digest := sha256.Sum256([]byte(tlsTestToken))
	policy := fmt.Sprintf("mode = \"enforce\"\n[principals.ci]\ntokens_sha256 = [%q]\n"+
		"services = [\"fetch\", \"lock\"]\nfetch_hosts = [\"127.0.0.1\"]\nlock_prefixes = [\"ci/\"]\n",
		hex.EncodeToString(digest[:]))
	if err := os.WriteFile(filepath.Join(dir, "policy.toml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtlsClient dials the server at localhost (the name its certificate carries) with the CA,
// the client certificate and, unless empty, the token.
func mtlsClient(t *testing.T, dir string, srv *testenv.Server, token string) *streamgate.Client {
	t.Helper()
	_, port, _ := net.SplitHostPort(srv.Addr)
	opts := []streamgate.DialOption{
		streamgate.WithCAFile(filepath.Join(dir, "ca.pem")),
		streamgate.WithClientCert(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")),
	}
	if token != "" {
		opts = append(opts, streamgate.WithToken(token))
	}
	c, err := streamgate.Dial(testContext(t), "localhost:"+port, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestMutualTLSAndATokenAgainstThePolicy(t *testing.T) {
	dir := pki(t)
	srv := testenv.StartServer(t,
		"--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server.key"),
		"--tls-client-ca", filepath.Join(dir, "ca.pem"), "--policy", filepath.Join(dir, "policy.toml"),
		"--allow-private-networks")
	up := testenv.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello over mtls"))
	}))

	t.Run("no token is unauthenticated", func(t *testing.T) {
		c := mtlsClient(t, dir, srv, "")
		_, err := c.Lock(testContext(t), "ci/no-token", streamgate.WithTTL(5*time.Second), streamgate.WithWaitTimeout(0))
		requireCode(t, err, codes.Unauthenticated, "")
	})

	c := mtlsClient(t, dir, srv, tlsTestToken)
	t.Run("a lock is acquired and released", func(t *testing.T) {
		ctx := testContext(t)
		l, err := c.Lock(ctx, "ci/go", streamgate.WithTTL(5*time.Second), streamgate.WithWaitTimeout(0))
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if l.FencingToken() == 0 {
			t.Fatal("grant without a fencing token")
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		// Released: a try-once acquire gets it at once, with a newer fencing token.
		again, err := c.Lock(ctx, "ci/go", streamgate.WithTTL(5*time.Second), streamgate.WithWaitTimeout(0))
		if err != nil {
			t.Fatalf("Lock after release: %v", err)
		}
		if again.FencingToken() <= l.FencingToken() {
			t.Fatalf("fencing token %d not above %d", again.FencingToken(), l.FencingToken())
		}
		_ = again.Release(ctx)
	})

	t.Run("a lock outside the policy is permission denied", func(t *testing.T) {
		_, err := c.Lock(testContext(t), "ops/x", streamgate.WithTTL(5*time.Second), streamgate.WithWaitTimeout(0))
		requireCode(t, err, codes.PermissionDenied, "lock_prefixes")
		if strings.Contains(err.Error(), tlsTestToken) {
			t.Fatalf("the refusal leaks the token: %v", err)
		}
	})

	t.Run("a fetch of a loopback upstream succeeds", func(t *testing.T) {
		resp, err := c.Fetch(testContext(t), up.URL+"/hello")
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if resp.StatusCode != 200 || string(resp.Body) != "hello over mtls" {
			t.Fatalf("got %d %q", resp.StatusCode, resp.Body)
		}
	})
}

func TestTLSOptionsAreCheckedAtDial(t *testing.T) {
	_, err := streamgate.Dial(testContext(t), "localhost:1", streamgate.WithClientCert("client.pem", ""))
	requireCode(t, err, codes.InvalidArgument, "cert and key")
	_, err = streamgate.Dial(testContext(t), "localhost:1", streamgate.WithCAFile(filepath.Join(t.TempDir(), "none.pem")))
	requireCode(t, err, codes.InvalidArgument, "none.pem")
	_, err = streamgate.Dial(testContext(t), "localhost:1", streamgate.WithToken("two words"))
	requireCode(t, err, codes.InvalidArgument, "whitespace")
	_, err = streamgate.Dial(testContext(t), "10.0.0.1:1", streamgate.WithToken(tlsTestToken))
	requireCode(t, err, codes.InvalidArgument, "only over TLS or to loopback")
}
