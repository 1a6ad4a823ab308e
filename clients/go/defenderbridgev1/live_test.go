package defenderbridgev1_test

// The Go client against a live server: health, CheckConnection and a failing call's details.

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/defender-bridge/defender-bridge/clients/go/defenderbridgev1"
)

func TestHealthReportsServingOverallAndPerService(t *testing.T) {
	health := healthpb.NewHealthClient(dial(t))
	for _, service := range []string{"", "defenderbridge.v1.RiskService", "defenderbridge.v1.ActionService"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		response, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err != nil {
			t.Fatalf("Health/Check(%q): %v", service, err)
		}
		if response.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Health/Check(%q) = %v, want SERVING", service, response.GetStatus())
		}
	}
}

func TestCheckConnectionIsReadyWithMachineReadPermission(t *testing.T) {
	risk := pb.NewRiskServiceClient(dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	response, err := risk.CheckConnection(ctx, &pb.CheckConnectionRequest{})
	if err != nil {
		t.Fatalf("CheckConnection: %v", err)
	}
	if !response.GetReady() {
		t.Errorf("ready = false: %v", response)
	}
	if !response.GetToken().GetOk() {
		t.Errorf("token not ok: %v", response.GetToken())
	}
	if !slices.Contains(response.GetGrantedPermissions(), "Machine.Read.All") {
		t.Errorf("granted_permissions %v lack Machine.Read.All", response.GetGrantedPermissions())
	}
}

// richError unpacks the google.rpc details of a failed call.
type richError struct {
	status     *status.Status
	errorInfo  *errdetails.ErrorInfo
	retryInfo  *errdetails.RetryInfo
	badRequest *errdetails.BadRequest
	resource   *errdetails.ResourceInfo
}

func unpackError(t *testing.T, err error) richError {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %v", err)
	}
	out := richError{status: st}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			out.errorInfo = d
		case *errdetails.RetryInfo:
			out.retryInfo = d
		case *errdetails.BadRequest:
			out.badRequest = d
		case *errdetails.ResourceInfo:
			out.resource = d
		}
	}
	return out
}

func (r richError) badFields() []string {
	var fields []string
	for _, violation := range r.badRequest.GetFieldViolations() {
		fields = append(fields, violation.GetField())
	}
	return fields
}

func TestUnknownTenantFailsWithInvalidFieldAndBadRequest(t *testing.T) {
	risk := pb.NewRiskServiceClient(dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := risk.CheckConnection(ctx, &pb.CheckConnectionRequest{Tenant: "other-tenant"})
	if err == nil {
		t.Fatal("CheckConnection(other-tenant) succeeded, want INVALID_ARGUMENT")
	}
	details := unpackError(t, err)
	if details.status.Code() != codes.InvalidArgument {
		t.Errorf("code = %v, want InvalidArgument", details.status.Code())
	}
	if details.errorInfo == nil {
		t.Fatalf("no google.rpc.ErrorInfo in %v", details.status.Details())
	}
	if details.errorInfo.GetDomain() != "defenderbridge" || details.errorInfo.GetReason() != "INVALID_FIELD" {
		t.Errorf("ErrorInfo = %v, want domain defenderbridge reason INVALID_FIELD", details.errorInfo)
	}
	if details.badRequest == nil || !slices.Contains(details.badFields(), "tenant") {
		t.Errorf("BadRequest %v does not name the field tenant", details.badRequest)
	}
}

// Health/Watch sends the current status, then waits for changes that never come: only the
// caller's deadline ends it. (A tiny deadline on a fast unary call is a race, not a test.)
func TestDeadlineEndsAnEndlessStreamWithDeadlineExceeded(t *testing.T) {
	health := healthpb.NewHealthClient(dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	stream, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Health/Watch: %v", err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first message = %v, %v; want SERVING", first, err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("after the deadline: %v, want DeadlineExceeded", err)
	}
}
