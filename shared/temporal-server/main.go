// Command nksr-temporal-server is the Temporal server of go.temporal.io/server with two things the
// stock binary takes only from code: a claim mapper that verifies the project's JWTs against a public
// key on disk (the stock key provider fetches JWKS over HTTP, which a loopback deployment has no
// server for) and the role authorizer in authorizer.go.
package main

import (
	"fmt"
	"os"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/temporal"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "--config-file" {
		fmt.Fprintln(os.Stderr, "usage: nksr-temporal-server --config-file <path>  (NKSR_JWT_PUBLIC_KEY names the token key)")
		os.Exit(2)
	}
	cfg, err := config.Load(config.WithConfigFile(os.Args[2]))
	if err != nil {
		fail("loading the configuration", err)
	}
	keyFile := os.Getenv("NKSR_JWT_PUBLIC_KEY")
	if keyFile == "" {
		fail("reading the token key", fmt.Errorf("NKSR_JWT_PUBLIC_KEY is not set"))
	}
	keys, err := loadTokenKey(keyFile)
	if err != nil {
		fail("reading the token key", err)
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	claims := claimMapper{
		jwt:             authorization.NewDefaultJWTClaimMapper(keys, &cfg.Global.Authorization, logger),
		readOnlySubject: os.Getenv("NKSR_READ_ONLY_CERT_CN"),
	}
	s, err := temporal.NewServer(
		// internal-frontend serves the server's own system workers (Worker Deployments run there)
		// without tokens; it listens on loopback only and takes no client of ours.
		temporal.ForServices(append([]string{"internal-frontend"}, temporal.DefaultServices...)),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.InterruptOn(temporal.InterruptCh()),
		temporal.WithAuthorizer(roleAuthorizer{}),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claims }),
	)
	if err != nil {
		fail("creating the server", err)
	}
	if err := s.Start(); err != nil {
		fail("starting the server", err)
	}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "nksr-temporal-server: %s: %v\n", what, err)
	os.Exit(1)
}
