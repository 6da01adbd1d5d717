package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/tweezer-dev/tweezer/runners/emulator"
	"github.com/tweezer-dev/tweezer/runners/engine"
)

func init() {
	register("emulate", subcommand{
		summary: "emulate one sequence and print the result JSON",
		run:     runEmulate,
	})
}

func runEmulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seqPath := fs.String("sequence", "", "path to the Pulser abstract-repr sequence JSON (- for stdin)")
	vars := fs.String("variables", "", "the job's variables as a JSON object, e.g. '{\"t\":100}'")
	runs := fs.Int("runs", 500, "number of shots")
	seed := fs.Int64("seed", 0, "random seed (0 = random)")
	device := fs.String("device", "EMU_FREE", "device type (EMU_FREE, EMU_SV, EMU_FRESNEL, FRESNEL, ...; EMU_MPS and EMU_TN run the MPS engine)")
	cfg := fs.String("configuration", "", "batch configuration JSON, e.g. '{\"strict_validation\":true}'")
	probs := fs.Bool("probabilities", false, "print the exact final-state probabilities (p >= 1e-9) instead of shots (state-vector devices only)")
	backendCfg := fs.String("backend-configuration", "", "backend_configuration JSON: an EmulationConfig abstract repr, with the MPS options (dt, precision, max_bond_dim, ...) for EMU_MPS")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *seqPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "emulate: --sequence is required (and no positional arguments)")
		fs.Usage()
		return 2
	}
	var seq []byte
	var err error
	if *seqPath == "-" {
		seq, err = io.ReadAll(os.Stdin)
	} else {
		seq, err = os.ReadFile(*seqPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "emulate: %v\n", err)
		return 1
	}
	req := emulator.Request{
		Sequence:   seq,
		Runs:       *runs,
		Seed:       *seed,
		DeviceType: *device,
	}
	if *vars != "" {
		req.Variables = json.RawMessage(*vars)
	}
	if *cfg != "" {
		req.Configuration = json.RawMessage(*cfg)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var out any
	switch {
	case *probs && usesMPS(*device):
		fmt.Fprintln(stderr, "emulate: --probabilities is for the state-vector devices, not "+*device)
		return 2
	case *probs:
		out, err = emulator.Probabilities(ctx, req, 1e-9)
	case usesMPS(*device) || *backendCfg != "":
		task := engine.Task{Sequence: string(seq), Variables: req.Variables, Runs: *runs, Seed: *seed,
			DeviceType: *device, Configuration: req.Configuration, BackendConfiguration: *backendCfg}
		logStats := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
		out, err = localEngine(logStats).Run(ctx, task, nil)
	default:
		out, err = emulator.Run(ctx, req, nil)
	}
	if err != nil {
		var ie *emulator.InputError
		if errors.As(err, &ie) {
			fmt.Fprintf(stderr, "emulate: invalid input: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "emulate: %v\n", err)
		}
		return 1
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "emulate: %v\n", err)
		return 1
	}
	return 0
}
