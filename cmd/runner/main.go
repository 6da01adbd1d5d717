// Command runner is what Tweezer's runner pods execute. Subcommands are
// registered by the files of this package (emulate.go, ...).
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// subcommand runs with the arguments after its name and returns the exit
// code.
type subcommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var subcommands = map[string]subcommand{}

func register(name string, c subcommand) { subcommands[name] = c }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: runner <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	c, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "runner: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}
