package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunRecoversAPanic(t *testing.T) {
	panicking := Func(func(context.Context, Task, func(int)) (*Result, error) { panic("register of 0 atoms") })
	res, err := Run(context.Background(), panicking, Task{}, func(int) {})
	var pe *PanicError
	if res != nil || !errors.As(err, &pe) || err.Error() != "the engine panicked: register of 0 atoms" {
		t.Fatalf("got %v, %v", res, err)
	}
	if !strings.Contains(string(pe.Stack), "engine_test.go") {
		t.Errorf("the stack does not show the panic's origin:\n%s", pe.Stack)
	}
	want := &Result{Counter: map[string]int64{"0": 1}}
	fine := Func(func(context.Context, Task, func(int)) (*Result, error) { return want, errors.New("as returned") })
	if res, err := Run(context.Background(), fine, Task{}, func(int) {}); res != want || err == nil || err.Error() != "as returned" {
		t.Fatalf("a plain engine's answer changed: %v, %v", res, err)
	}
}
