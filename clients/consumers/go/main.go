// Command consumer is a program outside the client module that imports it the way the Go
// README's from-a-clone recipe says (a `replace` of the module path by the clone's clients/go),
// and calls a live server: health, CheckConnection and a failing call's google.rpc details.
//
// Usage: go run . host:port
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/defender-bridge/defender-bridge/clients/go/defenderbridgev1"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: consumer host:port")
	}
	conn, err := grpc.NewClient(os.Args[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		log.Fatalf("health: %v %v", health.GetStatus(), err)
	}

	risk := pb.NewRiskServiceClient(conn)
	connection, err := risk.CheckConnection(ctx, &pb.CheckConnectionRequest{})
	if err != nil || !connection.GetReady() {
		log.Fatalf("CheckConnection: ready=%v %v", connection.GetReady(), err)
	}

	_, err = risk.CheckConnection(ctx, &pb.CheckConnectionRequest{Tenant: "other-tenant"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		log.Fatalf("CheckConnection(other-tenant): want InvalidArgument, got %v", err)
	}
	reason := ""
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	if reason == "" {
		log.Fatalf("CheckConnection(other-tenant): no ErrorInfo in %v", st.Details())
	}
	fmt.Printf("go consumer: health SERVING, CheckConnection ready, error %v %s\n", st.Code(), reason)
}
