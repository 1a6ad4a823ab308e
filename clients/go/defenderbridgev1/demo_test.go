package defenderbridgev1_test

// Starts one `defender-bridge demo` on a free loopback port for the package's tests.
// DEFENDER_BRIDGE_ADDR (host:port) points the tests at a running server instead;
// DEFENDER_BRIDGE_BIN names the binary (default <repo>/target/debug/defender-bridge).
// The TLS tests get a second one, `demo --tls --tls-dir DIR` (TLS, client certificates
// required, an API key), unless DEFENDER_BRIDGE_TLS_ADDR (host:port) and DEFENDER_BRIDGE_TLS_DIR
// (the --tls-dir of a running `demo --tls`) are both set.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const readyLine = "Press Ctrl-C to stop."

var (
	// serverAddr is the address of the server under test.
	serverAddr string
	// sampleMachineID is a fleet machine named in the demo's banner ("" when unknown).
	sampleMachineID string
	// tlsAddr, tlsDir and tlsMachineID: the `demo --tls` server, the folder of its files
	// (ca.pem, client.pem, client.key, api-key, ...) and a machine of its fleet.
	tlsAddr, tlsDir, tlsMachineID string

	listenPattern  = regexp.MustCompile(`gRPC service:\s+(\S+)`)
	machinePattern = regexp.MustCompile(`"machine_id":\s*"([0-9a-fA-F]{40})"`)
)

func TestMain(m *testing.M) {
	binary := os.Getenv("DEFENDER_BRIDGE_BIN")
	if binary == "" {
		binary = filepath.Join("..", "..", "..", "target", "debug", "defender-bridge")
	}
	var demos []*exec.Cmd
	stopAll := func() {
		for _, demo := range demos {
			stop(demo)
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		stopAll()
		os.Exit(1)
	}
	if addr := os.Getenv("DEFENDER_BRIDGE_ADDR"); addr != "" {
		serverAddr = addr
		sampleMachineID = os.Getenv("DEFENDER_BRIDGE_MACHINE_ID")
	} else {
		demo, banner, err := startDemoRetrying(binary)
		if err != nil {
			fail(err)
		}
		demos = append(demos, demo)
		serverAddr, sampleMachineID = parseBanner(banner)
	}
	tlsAddr, tlsDir = os.Getenv("DEFENDER_BRIDGE_TLS_ADDR"), os.Getenv("DEFENDER_BRIDGE_TLS_DIR")
	if tlsAddr != "" && tlsDir != "" {
		tlsMachineID = os.Getenv("DEFENDER_BRIDGE_MACHINE_ID")
	} else {
		dir, err := os.MkdirTemp("", "defender-bridge-go-tls-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		demo, banner, err := startDemoRetrying(binary, "--tls", "--tls-dir", dir)
		if err != nil {
			fail(err)
		}
		demos = append(demos, demo)
		tlsDir = dir
		tlsAddr, tlsMachineID = parseBanner(banner)
	}
	// Returning (rather than os.Exit) runs the deferred clean-up; the test binary then exits
	// with m.Run's code.
	m.Run()
	stopAll()
}

// startDemoRetrying starts a demo with extra arguments: a free port can be taken between the
// probe and the bind, so it tries a few.
func startDemoRetrying(binary string, extra ...string) (demo *exec.Cmd, banner string, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		if demo, banner, err = startDemo(binary, extra...); err == nil {
			return demo, banner, nil
		}
	}
	return nil, "", err
}

// stop ends a demo with SIGTERM, and SIGKILL after 10 seconds.
func stop(demo *exec.Cmd) {
	_ = demo.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- demo.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = demo.Process.Kill()
		<-done
	}
}

// parseBanner returns the address and the machine id (or "") a demo's banner names.
func parseBanner(banner string) (addr, machineID string) {
	if listen := listenPattern.FindStringSubmatch(banner); listen != nil {
		addr = listen[1]
	}
	if machine := machinePattern.FindStringSubmatch(banner); machine != nil {
		machineID = machine[1]
	}
	return addr, machineID
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// startDemo starts a demo with extra arguments and waits for its banner, which names its address.
func startDemo(binary string, extra ...string) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := append([]string{"demo", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--machines", "300"}, extra...)
	cmd := exec.Command(binary, args...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("cannot start %s (run `cargo build` or set DEFENDER_BRIDGE_BIN): %w", binary, err)
	}
	bannerCh := make(chan string, 1)
	go func() {
		var banner strings.Builder
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			banner.WriteString(scanner.Text() + "\n")
			if strings.Contains(scanner.Text(), readyLine) {
				bannerCh <- banner.String()
				break
			}
		}
		// Drain whatever comes later so that the demo never blocks on a full pipe.
		for scanner.Scan() {
		}
		close(bannerCh)
	}()
	select {
	case banner, ok := <-bannerCh:
		if !ok {
			_ = cmd.Wait()
			return nil, "", fmt.Errorf("defender-bridge demo exited before it was ready:\n%s", logs.String())
		}
		if listenPattern.FindStringSubmatch(banner) == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, "", fmt.Errorf("no address in the demo banner:\n%s", banner)
		}
		return cmd, banner, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("defender-bridge demo not ready after 60s:\n%s", logs.String())
	}
}

// dial opens a plaintext connection to the server under test.
func dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(serverAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", serverAddr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
