// Command custody-oracle holds the sealed seeds of several agents and signs
// for them over a Unix socket, allowing each caller (identified with
// SO_PEERCRED) only root, the admin group, or the agent's owner.
//
//	custody-oracle --config /etc/anima/oracle.json
//
// The config is JSON: {"socket": PATH, "socket_mode": "0666",
// "admin_group": NAME|GID, "agents": [{"name", "seed_file",
// "passphrase_file", "owner_uid"}]}.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeos/life/anima/oracle"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "custody-oracle:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "", "path of the JSON configuration (required)")
	flag.Parse()
	if *configPath == "" || flag.NArg() != 0 {
		return fmt.Errorf("usage: custody-oracle --config FILE")
	}
	b, err := os.ReadFile(*configPath)
	if err != nil {
		return err
	}
	cfg, err := oracle.ParseConfig(b)
	if err != nil {
		return err
	}
	agents, err := cfg.OpenAgents()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := []oracle.ServerOption{oracle.WithLogger(log)}
	gid, ok, err := cfg.AdminGID()
	if err != nil {
		return err
	}
	if ok {
		opts = append(opts, oracle.WithAdminGroup(gid))
	}
	srv, err := oracle.NewServer(agents, opts...)
	if err != nil {
		return err
	}
	mode, _ := cfg.Mode()
	ln, err := oracle.Listen(cfg.Socket, mode)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("custody oracle listening", "socket", cfg.Socket, "agents", len(agents))
	err = srv.Serve(ctx, ln)
	os.Remove(cfg.Socket)
	return err
}
