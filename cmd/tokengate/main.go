// Command tokengate is a token server for APIs: it issues, rotates,
// revokes and introspects OAuth 2.0 tokens, and administers the users,
// clients, API keys and signing keys it keeps.
//
// Usage:
//
//	tokengate serve   [--config FILE] [--addr HOST:PORT] [--db DSN] [--dev]
//	tokengate migrate [--config FILE] [--db DSN]
//	tokengate user    add|list|passwd|disable|enable|delete
//	tokengate client  add|list|delete
//	tokengate apikey  create|list|revoke
//	tokengate keys    list|rotate
//	tokengate token   [print|logout] --url URL   (credentials from TOKENGATE_* env)
//	tokengate token   revoke --user NAME
//
// Run "tokengate COMMAND -h" for a command's flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
