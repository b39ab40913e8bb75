/* mb_tsan_glib: teaches ThreadSanitizer GLib's GMutex and GCond (TSan builds only).
 *
 * Debian's GLib is not instrumented, and on Linux its GMutex/GCond are futexes, not
 * pthread mutexes, so TSan's interceptors never see them: every field the project guards
 * with a GMutex would be reported as a race.  In a TSan build (meson -Db_sanitize=thread)
 * the project links with -Wl,--wrap=g_mutex_lock,... (see the top meson.build), so every
 * call the project makes lands here first; these wrappers tell TSan what the call does
 * with the __tsan_mutex_* interface (a real mutex model: happens-before from unlock to
 * lock, plus lock-order checking) and then call GLib's function (__real_*).
 *
 * GLib's calls to its own mutexes (inside GThreadPool, GAsyncQueue, GMainContext) bind
 * inside the library and are not wrapped; the few places where the project hands data
 * across those annotate the hand-off with mb_tsan.h. */
#include "mb_tsan.h"

#include <glib.h>

#ifndef MB_TSAN
#error "mb_tsan_glib.c is only built with -fsanitize=thread"
#endif

void __real_g_mutex_init(GMutex *m);
void __real_g_mutex_clear(GMutex *m);
void __real_g_mutex_lock(GMutex *m);
gboolean __real_g_mutex_trylock(GMutex *m);
void __real_g_mutex_unlock(GMutex *m);
void __real_g_cond_wait(GCond *c, GMutex *m);
gboolean __real_g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time);

void __wrap_g_mutex_init(GMutex *m);
void __wrap_g_mutex_clear(GMutex *m);
void __wrap_g_mutex_lock(GMutex *m);
gboolean __wrap_g_mutex_trylock(GMutex *m);
void __wrap_g_mutex_unlock(GMutex *m);
void __wrap_g_cond_wait(GCond *c, GMutex *m);
gboolean __wrap_g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time);

void __wrap_g_mutex_init(GMutex *m)
{
    __real_g_mutex_init(m);
    __tsan_mutex_create(m, 0);
}

void __wrap_g_mutex_clear(GMutex *m)
{
    __tsan_mutex_destroy(m, 0);
    __real_g_mutex_clear(m);
}

void __wrap_g_mutex_lock(GMutex *m)
{
    __tsan_mutex_pre_lock(m, 0);
    __real_g_mutex_lock(m);
    __tsan_mutex_post_lock(m, 0, 0);
}

gboolean __wrap_g_mutex_trylock(GMutex *m)
{
    __tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
    gboolean ok = __real_g_mutex_trylock(m);
    __tsan_mutex_post_lock(m, __tsan_mutex_try_lock | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
    return ok;
}

void __wrap_g_mutex_unlock(GMutex *m)
{
    __tsan_mutex_pre_unlock(m, 0);
    __real_g_mutex_unlock(m);
    __tsan_mutex_post_unlock(m, 0);
}

/* A condition wait releases the mutex and takes it again, as pthread_cond_wait's
 * interceptor tells TSan. */
void __wrap_g_cond_wait(GCond *c, GMutex *m)
{
    __tsan_mutex_pre_unlock(m, 0);
    __tsan_mutex_post_unlock(m, 0);
    __real_g_cond_wait(c, m);
    __tsan_mutex_pre_lock(m, 0);
    __tsan_mutex_post_lock(m, 0, 0);
}

gboolean __wrap_g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
    __tsan_mutex_pre_unlock(m, 0);
    __tsan_mutex_post_unlock(m, 0);
    gboolean ok = __real_g_cond_wait_until(c, m, end_time);
    __tsan_mutex_pre_lock(m, 0);
    __tsan_mutex_post_lock(m, 0, 0);
    return ok;
}
