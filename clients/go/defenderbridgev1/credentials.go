package defenderbridgev1

// Hand-written (clients/generate.sh replaces only the *.pb.go files): the credentials a caller
// needs for a server that serves TLS, requires client certificates (mTLS) or API keys.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// TLSFiles names the PEM files of a TLS connection to defender-bridge. Every field is optional.
type TLSFiles struct {
	// RootCA is the CA bundle that signed the server's certificate; empty uses the system's
	// trusted roots.
	RootCA string
	// Cert and Key are the client certificate (leaf first, chain allowed) and its private key,
	// for a server that requires client certificates (mTLS). Give both or neither.
	Cert string
	Key  string
}

// NewTLSCredentials reads the files now and returns transport credentials for
// grpc.WithTransportCredentials: TLS 1.2 or later, verifying the server's certificate against
// files.RootCA (or the system roots) and presenting the client certificate when one is given.
// Files are read once: after a rotation, make new credentials and a new connection.
func NewTLSCredentials(files TLSFiles) (credentials.TransportCredentials, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if files.RootCA != "" {
		pem, err := os.ReadFile(files.RootCA)
		if err != nil {
			return nil, fmt.Errorf("root CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("root CA %s: no PEM certificate in it", files.RootCA)
		}
		config.RootCAs = pool
	}
	if (files.Cert == "") != (files.Key == "") {
		return nil, errors.New("a client certificate needs both Cert and Key")
	}
	if files.Cert != "" {
		pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

// BearerToken is an API key or a JWT sent on every call as `authorization: Bearer <token>`.
// Use it with grpc.WithPerRPCCredentials. It is sent only over TLS: on a plaintext connection
// every call fails before it is sent. Its String and GoString never show the token.
type BearerToken string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t BearerToken) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if t == "" {
		return nil, errors.New("empty bearer token")
	}
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: the token is a secret.
func (BearerToken) RequireTransportSecurity() bool { return true }

// String hides the token from logs and error messages.
func (BearerToken) String() string { return "BearerToken(redacted)" }

// GoString hides the token from %#v.
func (BearerToken) GoString() string { return "BearerToken(redacted)" }

var _ credentials.PerRPCCredentials = BearerToken("")
