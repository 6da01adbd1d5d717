package childproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogsExitAndStop(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "logs", "echo.log")
	p, err := Start("/bin/sh", log, nil, "-c", "echo hello; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if p.Err() == nil || !strings.Contains(p.Err().Error(), "exit status 3") {
		t.Errorf("Err = %v, want exit status 3", p.Err())
	}
	if b, _ := os.ReadFile(log); string(b) != "hello\n" {
		t.Errorf("log = %q", b)
	}

	// A process that ignores SIGTERM is killed after the grace period.
	stubborn, err := Start("/bin/sh", log, nil, "-c", "trap '' TERM; sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the shell set its trap
	stubborn.Stop(200 * time.Millisecond)
	select {
	case <-stubborn.Done():
	default:
		t.Fatal("Stop returned before the process ended")
	}
	var nilProc *Process
	nilProc.Stop(time.Second) // a process never started is left alone
}

func TestStartFailureNamesTheBinary(t *testing.T) {
	_, err := Start(filepath.Join(t.TempDir(), "no-such-binary"), filepath.Join(t.TempDir(), "x.log"), nil)
	if err == nil || !strings.Contains(err.Error(), "starting no-such-binary") {
		t.Fatalf("err = %v", err)
	}
}
