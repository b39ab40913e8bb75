/* kvm: a real KVM virtual machine as a migbench guest (engine/guest.h), plus trace
 * recording from it.
 *
 * The VM is driven through /dev/kvm directly (no QEMU): RAM in one or more memory slots
 * with dirty logging, one thread per vCPU, and a small bundled guest program
 * (kvm/guest/guest.S, assembled at build time) that dirties memory in a chosen pattern and
 * reports progress through an I/O port.  See docs/kvm.md for the spec options, the memory
 * layout, the dirty-tracking modes and the verification rules.
 *
 * Only x86-64 hosts are supported; elsewhere kvm_available() says so. */
#ifndef KVM_H
#define KVM_H

#include "guest.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* True when /dev/kvm can be opened read-write and offers what the guest needs.  Otherwise
 * false with the reason in *err ("/dev/kvm does not exist ...", "permission denied ...",
 * "KVM lacks ...").  Cheap: opens and closes /dev/kvm. */
bool kvm_available(GError **err);

/* Creates a KVM guest from `spec` (the text after "kvm:"; a leading "kvm:" is accepted),
 * e.g. "mem=1G,vcpus=2,workload=marker".  Options (docs/kvm.md):
 *   mem=SIZE (128M)  vcpus=N (1)  slots=N (1: RAM blocks "pc.ram", "pc.ram1", ...)
 *   workload=marker|random|hotspot|idle (marker)  hot=% (10)  hotw=% (90)  seed=N (1)
 *   report=N (random/hotspot: progress every 2^N writes, 12)
 *   dirty=auto|log|get|ring (auto)  ring=ENTRIES (65536)
 *   fault=ud|pf|mmio|shutdown|hlt|port|spin (test-only: workload=fault)
 * The guest is created paused; run() starts it.  An `incoming` guest gets no program:
 * it waits for RAM (page_host) and load_state() before it can run.
 * Returns NULL with a clear error (bad option, KVM unavailable, out of memory). */
MbGuest *kvm_guest_new(const char *spec, bool incoming, GError **err);

/* True if g was made by kvm_guest_new. */
bool kvm_guest_is_kvm(const MbGuest *g);

/* The fatal error that stopped the guest (a guest-program fault, an unexpected vCPU exit,
 * a failed KVM call), or NULL while none happened.  The string lives as long as g. */
const char *kvm_guest_error(MbGuest *g);

/* Waits until every vCPU has reported progress `more` more times, counted from this call
 * (one report per marker sweep, or per 2^report random writes).  Waiting for 2 guarantees
 * that each vCPU did a whole sweep / 2^report writes meanwhile.  False with an error on
 * timeout (`timeout_ns` from now) or when the guest stops with an error. */
bool kvm_guest_wait_progress(MbGuest *g, uint64_t more, int64_t timeout_ns, GError **err);

/* Sum over vCPUs of the guest's own progress counters (marker: sweeps; random/hotspot:
 * writes, in steps of 2^report).  The counters live in vCPU registers, so they continue
 * across a migration. */
uint64_t kvm_guest_progress(MbGuest *g);

/* The throttle percentage last set with set_throttle (0..99). */
int kvm_guest_throttle(MbGuest *g);

/* The dirty-tracking mode in use: "get", "get+clear" or "ring". */
const char *kvm_guest_dirty_mode(MbGuest *g);

/* `migbench trace record --kvm [--interval 50ms] [--duration 5s] -o FILE [kvm options]`:
 * runs a KVM guest, samples its dirty log every interval and writes a trace (traces/).
 * argv[0] is the subcommand name.  Returns the process exit status. */
int kvm_trace_record_main(int argc, char **argv);

#endif
