/* mb_tsan: ThreadSanitizer annotations for hand-offs TSan cannot see by itself.
 *
 * Debian's GLib is not built with -fsanitize=thread, so the synchronisation inside it is
 * invisible to TSan.  GMutex and GCond are taught to TSan once, for every caller, by the
 * link-time wrappers of mb_tsan_glib.c (TSan builds only).  What remains are hand-offs
 * through GLib's own queues (GThreadPool, GAsyncQueue), whose locking happens inside GLib:
 * the producer calls mb_tsan_release(item) just before handing `item` over and the consumer
 * mb_tsan_acquire(item) first thing on receiving it, which tells TSan that everything the
 * producer did before the hand-off happens before everything the consumer does after.
 *
 * In builds without TSan both are no-ops that cost nothing. */
#ifndef MB_TSAN_H
#define MB_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define MB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MB_TSAN 1
#endif
#endif

#ifdef MB_TSAN
#include <sanitizer/tsan_interface.h>
/* Everything this thread did so far happens before a later mb_tsan_acquire(addr). */
#define mb_tsan_release(addr) __tsan_release((void *)(addr))
/* What any thread did before its mb_tsan_release(addr) happens before what follows. */
#define mb_tsan_acquire(addr) __tsan_acquire((void *)(addr))
#else
#define mb_tsan_release(addr) ((void)(addr))
#define mb_tsan_acquire(addr) ((void)(addr))
#endif

#endif
