package defenderbridgev1_test

// GetEndpointRisk, StreamFleetRisk and the action RPCs against a live server. The assertions
// follow the documented contract (proto comments, docs/risk-model.md, docs/errors.md).

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/defender-bridge/defender-bridge/clients/go/defenderbridgev1"
)

// fleetMachineID returns a fleet machine: the banner's, else the first the fleet stream sends.
func fleetMachineID(t *testing.T, risk pb.RiskServiceClient) string {
	t.Helper()
	if sampleMachineID != "" {
		return sampleMachineID
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := risk.StreamFleetRisk(ctx, &pb.StreamFleetRiskRequest{MaxMachines: 1})
	if err != nil {
		t.Fatalf("StreamFleetRisk: %v", err)
	}
	for {
		message, err := stream.Recv()
		if err != nil {
			t.Fatalf("no machine in the fleet stream: %v", err)
		}
		if r := message.GetRisk(); r != nil {
			return r.GetMachine().GetId()
		}
	}
}

func TestGetEndpointRiskOfAFleetMachine(t *testing.T) {
	risk := pb.NewRiskServiceClient(dial(t))
	machineID := fleetMachineID(t, risk)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := risk.GetEndpointRisk(ctx, &pb.GetEndpointRiskRequest{
		Endpoint: &pb.GetEndpointRiskRequest_MachineId{MachineId: machineID},
	})
	if err != nil {
		t.Fatalf("GetEndpointRisk: %v", err)
	}
	if !strings.EqualFold(got.GetMachine().GetId(), machineID) {
		t.Errorf("machine id = %q, want %q", got.GetMachine().GetId(), machineID)
	}
	if got.GetRiskLevel() == pb.RiskLevel_RISK_LEVEL_UNSPECIFIED {
		t.Error("risk_level is UNSPECIFIED")
	}
	highest := max(got.GetDefenderRiskScore(), got.GetExposureRiskLevel(), got.GetAlertRiskLevel())
	if got.GetRiskLevel() < highest {
		t.Errorf("risk_level %v below the highest part %v", got.GetRiskLevel(), highest)
	}
	if got.GetEvaluatedAt() == nil || got.GetLinks().GetOverviewUrl() == "" {
		t.Errorf("evaluated_at or links.overview_url missing: %v", got)
	}
}

func TestGetEndpointRiskRejectsAMalformedMachineID(t *testing.T) {
	risk := pb.NewRiskServiceClient(dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := risk.GetEndpointRisk(ctx, &pb.GetEndpointRiskRequest{
		Endpoint: &pb.GetEndpointRiskRequest_MachineId{MachineId: "not-a-machine-id"},
	})
	details := unpackError(t, err)
	if details.status.Code() != codes.InvalidArgument || details.errorInfo.GetReason() != "INVALID_FIELD" {
		t.Errorf("got %v / %v, want InvalidArgument / INVALID_FIELD", details.status.Code(), details.errorInfo)
	}
	if !slices.Contains(details.badFields(), "machine_id") {
		t.Errorf("BadRequest %v does not name machine_id", details.badRequest)
	}
}

func TestGetEndpointRiskOfAnUnknownMachineIsNotFound(t *testing.T) {
	risk := pb.NewRiskServiceClient(dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := risk.GetEndpointRisk(ctx, &pb.GetEndpointRiskRequest{
		Endpoint: &pb.GetEndpointRiskRequest_MachineId{MachineId: strings.Repeat("0", 40)},
	})
	details := unpackError(t, err)
	if details.status.Code() != codes.NotFound || details.errorInfo.GetReason() != "NOT_FOUND" {
		t.Errorf("got %v / %v, want NotFound / NOT_FOUND", details.status.Code(), details.errorInfo)
	}
	if details.resource == nil {
		t.Error("no google.rpc.ResourceInfo")
	}
}

func TestStreamFleetRiskSendsEachMachineOnceThenASummary(t *testing.T) {
	risk := pb.NewRiskServiceClient(dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := risk.StreamFleetRisk(ctx, &pb.StreamFleetRiskRequest{})
	if err != nil {
		t.Fatalf("StreamFleetRisk: %v", err)
	}
	seen := map[string]bool{}
	var summaries []*pb.FleetSummary
	for {
		message, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if r := message.GetRisk(); r != nil {
			if len(summaries) > 0 {
				t.Fatal("a risk came after the summary")
			}
			if seen[r.GetMachine().GetId()] {
				t.Errorf("machine %s sent twice", r.GetMachine().GetId())
			}
			seen[r.GetMachine().GetId()] = true
		} else {
			summaries = append(summaries, message.GetSummary())
		}
	}
	if len(summaries) != 1 {
		t.Fatalf("%d summaries, want exactly 1 at the end", len(summaries))
	}
	if len(seen) == 0 || summaries[0].GetMachineCount() != int64(len(seen)) || !summaries[0].GetComplete() {
		t.Errorf("summary %v after %d machines, want a complete count of them", summaries[0], len(seen))
	}
}

// watchToTerminal follows an action until the server ends the stream.
func watchToTerminal(t *testing.T, actions pb.ActionServiceClient, actionID string) []pb.MachineActionStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream, err := actions.WatchMachineAction(ctx, &pb.WatchMachineActionRequest{
		ActionId:     actionID,
		PollInterval: durationpb.New(2 * time.Second),
	})
	if err != nil {
		t.Fatalf("WatchMachineAction: %v", err)
	}
	var statuses []pb.MachineActionStatus
	for {
		action, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return statuses
		}
		if err != nil {
			t.Fatalf("Recv after %v: %v", statuses, err)
		}
		if action.GetId() != actionID {
			t.Errorf("watch of %s sent action %s", actionID, action.GetId())
		}
		statuses = append(statuses, action.GetStatus())
	}
}

func TestIsolateWithRequestIDIsIdempotentAndWatchEndsTerminal(t *testing.T) {
	conn := dial(t)
	machineID := fleetMachineID(t, pb.NewRiskServiceClient(conn))
	actions := pb.NewActionServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	request := &pb.IsolateMachineRequest{
		MachineId:     machineID,
		Comment:       "client test: isolate",
		IsolationType: pb.IsolationType_ISOLATION_TYPE_SELECTIVE,
		RequestId:     rand.Text(),
	}
	first, err := actions.IsolateMachine(ctx, request)
	if err != nil {
		t.Fatalf("IsolateMachine: %v", err)
	}
	retried, err := actions.IsolateMachine(ctx, request)
	if err != nil {
		t.Fatalf("IsolateMachine retry: %v", err)
	}
	if first.GetId() == "" || retried.GetId() != first.GetId() {
		t.Fatalf("retry with the same request_id returned action %q, first %q", retried.GetId(), first.GetId())
	}
	statuses := watchToTerminal(t, actions, first.GetId())
	if len(statuses) == 0 || statuses[len(statuses)-1] != pb.MachineActionStatus_MACHINE_ACTION_STATUS_SUCCEEDED {
		t.Fatalf("statuses %v, want to end with SUCCEEDED", statuses)
	}
	for i := 1; i < len(statuses); i++ {
		if statuses[i] == statuses[i-1] {
			t.Errorf("status %v sent twice in a row: %v", statuses[i], statuses)
		}
	}
	release, err := actions.ReleaseMachine(ctx, &pb.ReleaseMachineRequest{
		MachineId: machineID, Comment: "client test: release", RequestId: rand.Text(),
	})
	if err != nil {
		t.Fatalf("ReleaseMachine: %v", err)
	}
	if got := watchToTerminal(t, actions, release.GetId()); len(got) == 0 ||
		got[len(got)-1] != pb.MachineActionStatus_MACHINE_ACTION_STATUS_SUCCEEDED {
		t.Errorf("release statuses %v, want to end with SUCCEEDED", got)
	}
}
