package defenderbridgev1_test

// The Go client against a live `demo --tls`: TLS with the demo's CA, client certificates (mTLS)
// and an API key, over real handshakes. The server stamps the verified caller into the comment
// of every machine action, so an action's requestor_comment shows which credential was used.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/defender-bridge/defender-bridge/clients/go/defenderbridgev1"
)

const certIdentity = "cert:spiffe://defender-bridge.demo/client"

// demoFiles are the demo's CA and client certificate.
func demoFiles() pb.TLSFiles {
	return pb.TLSFiles{
		RootCA: filepath.Join(tlsDir, "ca.pem"),
		Cert:   filepath.Join(tlsDir, "client.pem"),
		Key:    filepath.Join(tlsDir, "client.key"),
	}
}

// demoAPIKey reads the demo's API key from its --tls-dir.
func demoAPIKey(t *testing.T) pb.BearerToken {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(tlsDir, "api-key"))
	if err != nil {
		t.Fatalf("api-key: %v", err)
	}
	return pb.BearerToken(strings.TrimSpace(string(key)))
}

// dialTLS connects to the `demo --tls` server with these files and options.
func dialTLS(t *testing.T, files pb.TLSFiles, options ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	creds, err := pb.NewTLSCredentials(files)
	if err != nil {
		t.Fatalf("NewTLSCredentials: %v", err)
	}
	conn, err := grpc.NewClient(tlsAddr, append(options, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		t.Fatalf("dial %s: %v", tlsAddr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func tlsMachine(t *testing.T) string {
	t.Helper()
	if tlsMachineID == "" {
		t.Fatal("the demo banner named no machine (set DEFENDER_BRIDGE_MACHINE_ID)")
	}
	return tlsMachineID
}

func TestMTLSWithTheClientCertificateActsAsItsIdentity(t *testing.T) {
	conn := dialTLS(t, demoFiles())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Health/Check over mTLS = %v, %v", health, err)
	}
	action, err := pb.NewActionServiceClient(conn).IsolateMachine(ctx, &pb.IsolateMachineRequest{
		MachineId: tlsMachine(t),
		Comment:   "go mTLS test",
		RequestId: fmt.Sprintf("go-mtls-%d", time.Now().UnixNano()),
	})
	if err != nil {
		t.Fatalf("IsolateMachine over mTLS: %v", err)
	}
	if !strings.Contains(action.GetRequestorComment(), "caller="+certIdentity+" ") {
		t.Errorf("requestor_comment %q does not name %s", action.GetRequestorComment(), certIdentity)
	}
}

func TestAnAPIKeyIsSentAsABearerTokenOnEveryCall(t *testing.T) {
	conn := dialTLS(t, demoFiles(), grpc.WithPerRPCCredentials(demoAPIKey(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready, err := pb.NewRiskServiceClient(conn).CheckConnection(ctx, &pb.CheckConnectionRequest{})
	if err != nil || !ready.GetReady() {
		t.Fatalf("CheckConnection with the key = %v, %v", ready, err)
	}
	action, err := pb.NewActionServiceClient(conn).RunAntivirusScan(ctx, &pb.RunAntivirusScanRequest{
		MachineId: tlsMachine(t),
		Comment:   "go API key test",
		RequestId: fmt.Sprintf("go-key-%d", time.Now().UnixNano()),
	})
	if err != nil {
		t.Fatalf("RunAntivirusScan with the key: %v", err)
	}
	// The key, not the certificate the connection also presents, names the caller.
	if !strings.Contains(action.GetRequestorComment(), "caller=key:demo ") {
		t.Errorf("requestor_comment %q does not name key:demo", action.GetRequestorComment())
	}
}

func TestAnUnknownAPIKeyIsUnauthenticated(t *testing.T) {
	conn := dialTLS(t, demoFiles(), grpc.WithPerRPCCredentials(pb.BearerToken("demo_not-the-key")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pb.NewRiskServiceClient(conn).CheckConnection(ctx, &pb.CheckConnectionRequest{})
	details := unpackError(t, err)
	if details.status.Code() != codes.Unauthenticated || details.errorInfo.GetReason() != "CALLER_NOT_AUTHENTICATED" {
		t.Errorf("got %v / %v, want Unauthenticated / CALLER_NOT_AUTHENTICATED", details.status.Code(), details.errorInfo)
	}
}

func TestWithoutAClientCertificateTheHandshakeFails(t *testing.T) {
	// A valid key does not replace the client certificate mTLS requires.
	conn := dialTLS(t, pb.TLSFiles{RootCA: filepath.Join(tlsDir, "ca.pem")}, grpc.WithPerRPCCredentials(demoAPIKey(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pb.NewRiskServiceClient(conn).CheckConnection(ctx, &pb.CheckConnectionRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("without a client certificate: %v, want Unavailable", err)
	}
}

func TestTheServerCertificateMustChainToTheGivenRoots(t *testing.T) {
	// The client's own certificate is not a CA: the server's certificate does not verify.
	files := demoFiles()
	files.RootCA = files.Cert
	conn := dialTLS(t, files)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pb.NewRiskServiceClient(conn).CheckConnection(ctx, &pb.CheckConnectionRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with the wrong roots: %v, want Unavailable naming the certificate", err)
	}
}

func TestABearerTokenIsNeverSentInPlaintext(t *testing.T) {
	conn, err := grpc.NewClient(serverAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(pb.BearerToken("secret")))
	if err == nil {
		conn.Close()
		t.Fatal("a plaintext connection with a bearer token was accepted")
	}
	if got := fmt.Sprintf("%v %#v", pb.BearerToken("secret"), pb.BearerToken("secret")); strings.Contains(got, "secret") {
		t.Errorf("the token shows in %q", got)
	}
}

func TestHalfAClientCertificateIsRefused(t *testing.T) {
	if _, err := pb.NewTLSCredentials(pb.TLSFiles{Cert: filepath.Join(tlsDir, "client.pem")}); err == nil {
		t.Error("Cert without Key accepted")
	}
}
