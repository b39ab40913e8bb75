/* mig_sem: a counting semaphore (see mig_sem.h). */
#include "mig_sem.h"

void mig_sem_init(MigSem *s)
{
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->count = 0;
}

void mig_sem_clear(MigSem *s)
{
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
}

void mig_sem_post(MigSem *s)
{
    g_mutex_lock(&s->lock);
    s->count++;
    g_cond_signal(&s->cond);
    g_mutex_unlock(&s->lock);
}

void mig_sem_wait(MigSem *s)
{
    g_mutex_lock(&s->lock);
    while (s->count == 0)
        g_cond_wait(&s->cond, &s->lock);
    s->count--;
    g_mutex_unlock(&s->lock);
}

bool mig_sem_trywait(MigSem *s)
{
    g_mutex_lock(&s->lock);
    bool got = s->count > 0;
    if (got)
        s->count--;
    g_mutex_unlock(&s->lock);
    return got;
}
