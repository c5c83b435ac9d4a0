package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/cli"
	"github.com/etcdboot/etcdboot/internal/render"
)

func TestRemapFlagParsesEachAsGiven(t *testing.T) {
	var remaps []generate.Remap
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	addRemapFlag(cmd.Flags(), &remaps, "remap")
	if err := cmd.ParseFlags([]string{"--remap", "192.168.2.0/24=10.123.0.0/24", "--remap", "10.0.0.0/8=172.16.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if len(remaps) != 2 {
		t.Fatalf("remaps %v, want 2", remaps)
	}
	if err := cmd.ParseFlags([]string{"--remap", "192.168.2.0/24"}); err == nil || !strings.Contains(err.Error(), "want FROM=TO") {
		t.Errorf("bad remap: %v", err)
	}
}

func TestWriteOutEndsAFailedCommandWithCode2(t *testing.T) {
	cmd := &cobra.Command{Use: "x"}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	if err := cmd.ParseFlags([]string{"-w", "json"}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	cmd.SetOut(&b)
	ws := render.Writers{
		render.FormatTable: func(w io.Writer) error { _, err := io.WriteString(w, "table\n"); return err },
		render.FormatJSON:  func(w io.Writer) error { _, err := io.WriteString(w, "{}\n"); return err },
	}
	if err := writeOut(cmd, out, ws, false); err != nil || b.String() != "{}\n" {
		t.Errorf("healthy: %v, printed %q", err, b.String())
	}
	b.Reset()
	err := writeOut(cmd, out, ws, true)
	var ee *cli.ExitError
	if !errors.As(err, &ee) || ee.Code != 2 || b.String() != "{}\n" {
		t.Errorf("failed: %v, printed %q; want the output and exit code 2", err, b.String())
	}
	if err := cmd.ParseFlags([]string{"-w", "yaml"}); err == nil || !strings.Contains(err.Error(), "use table or json") {
		t.Errorf("-w yaml: %v", err)
	}
}
