package workpool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Every piece runs once, on no more goroutines than asked.
func TestRunsEveryPieceOnAtMostWorkers(t *testing.T) {
	var ran [50]atomic.Int32
	var running, most atomic.Int32
	err := Run(context.Background(), len(ran), 3, func(_ context.Context, i int) error {
		now := running.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		ran[i].Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ran {
		if ran[i].Load() != 1 {
			t.Errorf("piece %d ran %d times", i, ran[i].Load())
		}
	}
	if m := most.Load(); m < 1 || m > 3 {
		t.Errorf("%d pieces ran at once, want at most 3", m)
	}
}

// A failure stops the pool: the pieces running are canceled, no further
// one starts, and the failure is returned, not the cancellation it caused
// in a lower piece.
func TestTheFirstFailureStopsThePool(t *testing.T) {
	boom := errors.New("trajectory 1 diverged")
	var started atomic.Int32
	err := Run(context.Background(), 100, 2, func(ctx context.Context, i int) error {
		started.Add(1)
		switch i {
		case 0: // runs until piece 1's failure cancels it
			<-ctx.Done()
			return ctx.Err()
		case 1:
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want piece 1's failure", err)
	}
	if n := started.Load(); n != 2 {
		t.Errorf("%d pieces started, want 2 (none after the failure)", n)
	}
}

// A canceled job starts nothing more and reports the cancellation.
func TestACanceledJobStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	err := Run(ctx, 100, 1, func(context.Context, int) error {
		if started.Add(1) == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || started.Load() != 3 {
		t.Errorf("got %v after %d pieces, want context.Canceled after 3", err, started.Load())
	}
}
