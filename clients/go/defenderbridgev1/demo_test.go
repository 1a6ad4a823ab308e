package defenderbridgev1_test

// Starts one `defender-bridge demo` on a free loopback port for the package's tests.
// DEFENDER_BRIDGE_ADDR (host:port) points the tests at a running server instead;
// DEFENDER_BRIDGE_BIN names the binary (default <repo>/target/debug/defender-bridge).

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

	listenPattern  = regexp.MustCompile(`gRPC service:\s+(\S+)`)
	machinePattern = regexp.MustCompile(`"machine_id":\s*"([0-9a-fA-F]{40})"`)
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("DEFENDER_BRIDGE_ADDR"); addr != "" {
		serverAddr = addr
		sampleMachineID = os.Getenv("DEFENDER_BRIDGE_MACHINE_ID")
		os.Exit(m.Run())
	}
	binary := os.Getenv("DEFENDER_BRIDGE_BIN")
	if binary == "" {
		binary = filepath.Join("..", "..", "..", "target", "debug", "defender-bridge")
	}
	var (
		demo *exec.Cmd
		err  error
	)
	// A free port can be taken between the probe and the bind: try a few.
	for attempt := 0; attempt < 3; attempt++ {
		if demo, err = startDemo(binary); err == nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = demo.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- demo.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = demo.Process.Kill()
		<-done
	}
	os.Exit(code)
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// startDemo starts the demo and waits for its banner; it sets serverAddr and sampleMachineID.
func startDemo(binary string) (*exec.Cmd, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "demo", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--machines", "300")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s (run `cargo build` or set DEFENDER_BRIDGE_BIN): %w", binary, err)
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
			return nil, fmt.Errorf("defender-bridge demo exited before it was ready:\n%s", logs.String())
		}
		listen := listenPattern.FindStringSubmatch(banner)
		if listen == nil {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("no address in the demo banner:\n%s", banner)
		}
		serverAddr = listen[1]
		if machine := machinePattern.FindStringSubmatch(banner); machine != nil {
			sampleMachineID = machine[1]
		}
		return cmd, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("defender-bridge demo not ready after 60s:\n%s", logs.String())
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
