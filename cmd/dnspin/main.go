// Command dnspin is the dnspin resolver service and its command line
// (docs/architecture.md: the command table). This package only wires the other packages
// together: each command lives in its own file and is listed in commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dnspin/dnspin/installer"
)

// command is one verb of the command line.
type command struct {
	name    string
	args    string // usage after the name, e.g. "NAME [--type A|AAAA]"
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// commands is the command table; each entry is defined in its own file.
func commands() []command {
	return []command{
		cmdVersion,
		cmdRun,
		cmdQuery,
		cmdInstall,
		cmdUninstall,
		cmdActivate,
		cmdDeactivate,
		cmdCheck,
		cmdBundle,
		cmdStatus,
		cmdMode,
		cmdReport,
	}
}

// env is what every command gets: its streams and the command being run.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	cmd            command // the command being run, for its usage text
	// requireAdmin is installer.RequireAdmin unless a test replaces it
	// (nil: the real check).
	requireAdmin func(command string) error
}

// admin checks, before anything is changed, that this process has the
// rights command needs.
func (e *env) admin(command string) error {
	if e.requireAdmin != nil {
		return e.requireAdmin(command)
	}
	return installer.RequireAdmin(command)
}

// oneLine keeps a message on one line: errors from other programs (a
// service manager's output) may span several.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// usageError makes the process exit with code 2 (the documented exit codes: 0 success, 1 failure, 2 usage).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}, os.Args[1:])
	stop()
	os.Exit(code)
}

// dispatch runs the command named by args[0] and returns the exit code.
func dispatch(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		e.cmd = c
		err := c.run(ctx, e, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(e.stderr, "dnspin %s: %s\nusage: dnspin %s %s\n", c.name, oneLine(ue.msg), c.name, c.args)
			return 2
		default:
			fmt.Fprintf(e.stderr, "dnspin %s: %s\n", c.name, oneLine(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "dnspin: unknown command %q\n", args[0])
	printUsage(e.stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: dnspin COMMAND [--config FILE] [options]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (default: the installed config).")
	fmt.Fprintln(w, "Run `dnspin COMMAND --help` for a command's options.")
}

// flagSet returns a FlagSet for the running command that reports errors as
// usage errors and already has --config.
func flagSet(e *env) (*flag.FlagSet, *string) {
	c := e.cmd
	fs := flag.NewFlagSet("dnspin "+c.name, flag.ContinueOnError)
	// The flag package prints a parse error and the whole help itself;
	// dispatch prints the error once with a short usage line instead, so
	// the help goes out only when asked for (parseArgs calls Usage then).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: dnspin %s %s\n\n%s\n\noptions:\n", c.name, c.args, c.summary)
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	cfg := fs.String("config", "", "config file (default: the installed config, "+defaultConfigPath()+")")
	return fs, cfg
}

// parseArgs parses flags that may come before, between or after positional
// arguments ("query NAME --type AAAA") and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	help := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = help }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseNoArgs is parseArgs for commands that take options only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err == nil && len(pos) > 0 {
		err = usagef("unexpected argument %q", pos[0])
	}
	return err
}

// multiFlag is a repeatable string flag (--listen A --listen B).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
