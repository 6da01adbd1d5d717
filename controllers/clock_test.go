package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// heldLease is a Lease held by generation gen of batch, renewed at renewed.
func heldLease(batch client.ObjectKey, gen int, renewed time.Time, seconds int32) *coordinationv1.Lease {
	t := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(holderID(batch.Namespace, batch.Name, gen)),
		LeaseDurationSeconds: ptr.To(seconds),
		AcquireTime:          &t, RenewTime: &t,
		LeaseTransitions: ptr.To(int32(gen)),
	}}
}

func TestRunnerFateEndsWhenTheLeaseIsNotRenewedInTime(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	batch := client.ObjectKey{Namespace: "ns", Name: "b"}
	lease := heldLease(batch, 3, t0, 15)

	clk.SetTime(t0.Add(15 * time.Second)) // the last instant the renewal covers
	if st, why := runnerFate(false, "", lease, 3, clk.Now()); st != runnerAlive || why != "" {
		t.Fatalf("at expiry: state %v (%q), want alive", st, why)
	}
	clk.SetTime(t0.Add(15*time.Second + time.Nanosecond))
	st, why := runnerFate(false, "", lease, 3, clk.Now())
	if st != runnerEnded || !strings.Contains(why, "runner 3 stopped renewing") || !strings.Contains(why, "2026-12-01T12:00:00Z") {
		t.Fatalf("after expiry: state %v (%q), want ended naming runner 3 and its last renewal", st, why)
	}

	// The runner renews: alive again at the same instant.
	renewed := metav1.NewMicroTime(clk.Now().Add(-time.Second))
	lease.Spec.RenewTime = &renewed
	if st, _ := runnerFate(false, "", lease, 3, clk.Now()); st != runnerAlive {
		t.Fatalf("renewed a second ago: state %v, want alive", st)
	}
	// The executor's word wins over a fresh lease.
	if st, why := runnerFate(true, "pod failed", lease, 3, clk.Now()); st != runnerEnded || why != "pod failed" {
		t.Fatalf("executor says ended: state %v (%q), want ended with its reason", st, why)
	}
	// A lease never renewed is expired, and the message does not crash on it.
	lease.Spec.RenewTime = nil
	if st, why := runnerFate(false, "", lease, 3, clk.Now()); st != runnerEnded || !strings.Contains(why, "never") {
		t.Fatalf("no renewal: state %v (%q), want ended, last renewal never", st, why)
	}
}

func TestTakeoverFencesTheOldGeneration(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	batch := client.ObjectKey{Namespace: "ns", Name: "b"}
	observed := heldLease(batch, 2, t0, 15)

	clk.Step(20 * time.Second) // runner 2 is dead; the manager takes over
	if st, _ := runnerFate(false, "", observed, 2, clk.Now()); st != runnerEnded {
		t.Fatalf("runner 2 should be ended after 20s without renewal, is %v", st)
	}
	lease := observed.DeepCopy()
	gen, err := takeover(lease, observed, batch, 10*time.Second, clk.Now())
	if err != nil || gen != 3 {
		t.Fatalf("takeover = %d, %v; want generation 3", gen, err)
	}
	if got := leaseHolder(lease); got != holderID("ns", "b", 3) {
		t.Fatalf("holder %q, want generation 3", got)
	}
	if !lease.Spec.RenewTime.Time.Equal(clk.Now()) || !lease.Spec.AcquireTime.Time.Equal(clk.Now()) {
		t.Fatalf("acquire/renew %v/%v, want the clock's %v", lease.Spec.AcquireTime, lease.Spec.RenewTime, clk.Now())
	}
	if *lease.Spec.LeaseDurationSeconds != 10 || *lease.Spec.LeaseTransitions != 3 {
		t.Fatalf("duration %d transitions %d, want 10 and 3", *lease.Spec.LeaseDurationSeconds, *lease.Spec.LeaseTransitions)
	}
	// The fence: runner 2 comes back and reads a holder that is not itself.
	owner, g, ok := parseHolder(leaseHolder(lease))
	if !ok || owner != batch || g == 2 {
		t.Fatalf("holder parses as %v gen %d (%v); runner 2 must see a successor", owner, g, ok)
	}
	// The new generation is alive until its own lease runs out.
	clk.Step(10 * time.Second)
	if st, _ := runnerFate(false, "", lease, 3, clk.Now()); st != runnerAlive {
		t.Fatalf("runner 3 at its expiry instant: %v, want alive", st)
	}
	clk.Step(time.Millisecond)
	if st, _ := runnerFate(false, "", lease, 3, clk.Now()); st != runnerEnded {
		t.Fatalf("runner 3 past its expiry: %v, want ended", st)
	}
}

func TestTakeoverRefusesALeaseThatMovedSinceObserved(t *testing.T) {
	batch := client.ObjectKey{Namespace: "ns", Name: "b"}
	observed := heldLease(batch, 2, t0, 15)
	current := heldLease(batch, 3, t0.Add(time.Second), 15) // another reconciliation took it
	before := current.DeepCopy()
	if _, err := takeover(current, observed, batch, 15*time.Second, t0.Add(30*time.Second)); !errors.Is(err, errLeaseMoved) {
		t.Fatalf("takeover of a moved lease: err %v, want errLeaseMoved", err)
	}
	if leaseHolder(current) != leaseHolder(before) || *current.Spec.LeaseTransitions != 3 || !current.Spec.RenewTime.Equal(before.Spec.RenewTime) {
		t.Fatalf("a refused takeover changed the lease: %+v", current.Spec)
	}

	// Nothing observed: a new lease starts at generation 1.
	fresh := &coordinationv1.Lease{}
	if gen, err := takeover(fresh, nil, batch, 15*time.Second, t0); err != nil || gen != 1 || leaseHolder(fresh) != holderID("ns", "b", 1) {
		t.Fatalf("first takeover = %d, %v, holder %q; want generation 1", gen, err, leaseHolder(fresh))
	}
}

func TestQPUFreeWaitsForTheHoldersLeaseToRunOut(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	other := client.ObjectKey{Namespace: "ns", Name: "other"}
	me := client.ObjectKey{Namespace: "ns", Name: "me"}
	lease := heldLease(other, 1, t0, 10)

	clk.Step(4 * time.Second)
	free, left := qpuFree(lease, me, clk.Now())
	if free || left != 6*time.Second+100*time.Millisecond {
		t.Fatalf("held 4s into 10s: free %v, retry in %v; want busy, retry in 6.1s", free, left)
	}
	clk.Step(6 * time.Second)
	if free, _ := qpuFree(lease, me, clk.Now()); free {
		t.Fatal("free at the holder's expiry instant; want busy")
	}
	clk.Step(time.Millisecond)
	if free, left := qpuFree(lease, me, clk.Now()); !free || left != 0 {
		t.Fatalf("past expiry: free %v retry %v; want free", free, left)
	}

	// Our own hold is ours at any time; a released one is anyone's.
	mine := heldLease(me, 4, clk.Now(), 10)
	if free, _ := qpuFree(mine, me, clk.Now()); !free {
		t.Fatal("our own unexpired lease should be free for us")
	}
	released := heldLease(other, 1, clk.Now(), 10)
	released.Spec.HolderIdentity = ptr.To("")
	if free, _ := qpuFree(released, me, clk.Now()); !free {
		t.Fatal("a released lease should be free")
	}
	// A holder that is not a batch runner keeps the QPU until it expires.
	foreign := heldLease(other, 1, clk.Now(), 10)
	foreign.Spec.HolderIdentity = ptr.To("someone-else")
	if free, _ := qpuFree(foreign, me, clk.Now()); free {
		t.Fatal("an unexpired foreign holder should keep the QPU")
	}
}

func device(name string, emulator bool, concurrency int32, avail quantumv1alpha1.DeviceAvailability) quantumv1alpha1.Device {
	d := quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: name}}
	d.Spec.IsEmulator, d.Spec.Concurrency, d.Spec.Availability = emulator, concurrency, avail
	return d
}

func TestTurnFollowsQueueOrderAndCreationTime(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	item := func(name string, qp quantumv1alpha1.QueuePriority) scheduler.Item {
		clk.Step(time.Second) // each batch is created a second after the last
		return scheduler.Item{Key: "ns/" + name, QueuePriority: qp, Created: clk.Now()}
	}
	older := item("older", quantumv1alpha1.QueuePriorityMedium)
	newer := item("newer", quantumv1alpha1.QueuePriorityMedium)
	urgent := item("urgent", quantumv1alpha1.QueuePriorityHigh)
	items := []scheduler.Item{newer, older, urgent}
	qpu := []quantumv1alpha1.Device{device("fresnel", false, 0, quantumv1alpha1.DeviceUp)}
	slots := slotsOf(qpu, nil)

	dev, before, after := turn(client.ObjectKey{Namespace: "ns", Name: "urgent"}, qpu, queueSnapshot{items: items, slots: slots})
	if dev == nil || dev.Name != "fresnel" || len(before) != 0 || len(after) != 0 {
		t.Fatalf("HIGH batch: device %v, before %v, after %v; want it on fresnel alone", dev, before, after)
	}
	dev, before, _ = turn(client.ObjectKey{Namespace: "ns", Name: "older"}, qpu, queueSnapshot{items: items, slots: slots})
	if dev != nil || len(before) != 1 || before[0] != "ns/urgent" {
		t.Fatalf("MEDIUM batch behind HIGH: device %v, before %v; want it waiting, ns/urgent woken", dev, before)
	}
	// With urgent done, the older MEDIUM batch goes before the newer one.
	rest := []scheduler.Item{newer, older}
	busy := slotsOf(qpu, map[string]int{"fresnel": 0})
	if dev, _, _ := turn(client.ObjectKey{Namespace: "ns", Name: "newer"}, qpu, queueSnapshot{items: rest, slots: busy}); dev != nil {
		t.Fatalf("newer batch overtook the older one onto %s", dev.Name)
	}
	if dev, _, _ := turn(client.ObjectKey{Namespace: "ns", Name: "older"}, qpu, queueSnapshot{items: rest, slots: busy}); dev == nil {
		t.Fatal("older batch should start")
	}
	// The QPU runs one batch: with it busy, nobody starts.
	if dev, before, after := turn(client.ObjectKey{Namespace: "ns", Name: "older"}, qpu, queueSnapshot{items: rest, slots: slotsOf(qpu, map[string]int{"fresnel": 1})}); dev != nil || before != nil || after != nil {
		t.Fatalf("busy QPU: device %v, before %v, after %v; want nothing", dev, before, after)
	}
}

func TestTurnFillsAnEmulatorUpToItsConcurrency(t *testing.T) {
	emu := []quantumv1alpha1.Device{device("emu", true, 2, quantumv1alpha1.DeviceUp)}
	var items []scheduler.Item
	for i, n := range []string{"a", "b", "c"} {
		items = append(items, scheduler.Item{Key: "ns/" + n, Created: t0.Add(time.Duration(i) * time.Second)})
	}
	dev, before, after := turn(client.ObjectKey{Namespace: "ns", Name: "a"}, emu, queueSnapshot{items: items, slots: slotsOf(emu, nil)})
	if dev == nil || dev.Name != "emu" || len(before) != 0 || len(after) != 1 || after[0] != "ns/b" {
		t.Fatalf("a: device %v, before %v, after %v; want a on emu and b woken", dev, before, after)
	}
	if dev, before, _ := turn(client.ObjectKey{Namespace: "ns", Name: "c"}, emu, queueSnapshot{items: items, slots: slotsOf(emu, nil)}); dev != nil || len(before) != 2 {
		t.Fatalf("c beyond concurrency 2: device %v, before %v; want waiting behind a and b", dev, before)
	}
	if dev, _, _ := turn(client.ObjectKey{Namespace: "ns", Name: "c"}, emu, queueSnapshot{items: items[2:], slots: slotsOf(emu, map[string]int{"emu": 1})}); dev == nil {
		t.Fatal("c should start in the room one finished batch leaves")
	}
}

func TestTurnStartsNothingOnADownDevice(t *testing.T) {
	down := []quantumv1alpha1.Device{device("fresnel", false, 0, quantumv1alpha1.DeviceDown)}
	items := []scheduler.Item{{Key: "ns/a", Created: t0}}
	if dev, before, after := turn(client.ObjectKey{Namespace: "ns", Name: "a"}, down, queueSnapshot{items: items, slots: slotsOf(down, nil)}); dev != nil || before != nil || after != nil {
		t.Fatalf("DOWN device: device %v, before %v, after %v; want nothing", dev, before, after)
	}
	if why := scheduler.Why(down); why != scheduler.WaitingDeviceDown {
		t.Fatalf("waiting reason %q, want %q", why, scheduler.WaitingDeviceDown)
	}
	// An UP device beside it takes the batch.
	both := append(down, device("fresnel-2", false, 0, quantumv1alpha1.DeviceUp))
	if dev, _, _ := turn(client.ObjectKey{Namespace: "ns", Name: "a"}, both, queueSnapshot{items: items, slots: slotsOf(both, nil)}); dev == nil || dev.Name != "fresnel-2" {
		t.Fatalf("with an UP device: %v, want fresnel-2", dev)
	}
}
