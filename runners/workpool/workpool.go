// Package workpool runs the independent pieces of one job (an emulator's
// trajectory groups) on a few goroutines, and stops at the first failure.
package workpool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Run calls f(ctx, i) for every i in [0, n) on at most workers goroutines,
// which take the next i as they free up. After the first f that fails (or
// once ctx ends) no further i is started and the ctx given to the running
// ones is canceled. It returns the error of the lowest i that failed other
// than by that cancellation, else ctx's error, else nil.
func Run(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if errs[i] = f(ctx, i); errs[i] != nil {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}
