/* mig_sem: a counting semaphore (QEMU's QemuSemaphore), for pause-before-switchover.
 *
 * GLib has none; a mutex, a condition and a count make one.  A leaf of the engine: it
 * knows nothing else of it. */
#ifndef MIG_SEM_H
#define MIG_SEM_H

#include <glib.h>
#include <stdbool.h>

typedef struct {
    GMutex lock;
    GCond cond;
    int count;
} MigSem;

/* Count 0.  mig_sem_clear frees the primitives (no waiter may remain). */
void mig_sem_init(MigSem *s);
void mig_sem_clear(MigSem *s);
/* Adds one post and wakes one waiter. */
void mig_sem_post(MigSem *s);
/* Blocks until a post is pending, then takes it. */
void mig_sem_wait(MigSem *s);
/* Takes a post if one is pending; never blocks. */
bool mig_sem_trywait(MigSem *s);

#endif
