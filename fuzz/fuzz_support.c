/* fuzz_support: linked into every harness (libFuzzer and replay builds).
 *
 * glib 2.74's GSlice gives each thread a magazine cache that lives as long as the thread;
 * glib's thread pools keep idle threads, so libFuzzer's per-input leak check (LSan) sees
 * those caches as leaks.  They are glib's, allocated under g_slice_free1: suppressing
 * exactly that frame keeps every leak of our own code reported.  glib has no frame
 * pointers, so allocation stacks are unwound the slow, exact way or the frame is unseen.
 *
 * The slow unwinder runs on every malloc and made a malloc-heavy harness (fuzz_qmp) spend
 * most of its time in _Unwind_Find_FDE.  A harness that starts no threads (so no glib
 * thread pool, no magazine cache outside the main thread's, which LSan sees through its
 * TLS) defines fuzz_single_threaded and gets the fast unwinder. */
#include <stddef.h>

const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

/* Defined (to anything) by harnesses that never start a thread. */
extern const int fuzz_single_threaded __attribute__((weak));

const char *__asan_default_options(void)
{
    return &fuzz_single_threaded != NULL ? "fast_unwind_on_malloc=1" : "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void)
{
    return "leak:g_slice_free1\n";
}
