/* fuzz_colo: arbitrary bytes as what a COLO secondary reads after the migration: the
 * COLOMessage exchange and the checkpoints (RAM sections, device-state buffers).  The
 * secondary must end COLO with an error on anything malformed, never crash, read out of
 * bounds, leak, or apply half a checkpoint.  Each input gets a fresh engine and guest (a
 * secondary takes over at the end, after which its guest is no longer incoming); the
 * bytes reach it through a socket pair, whose other end also takes the secondary's
 * return-path messages. */
#include "guest.h"
#include "mig.h"
#include "mig_colo_secondary.h"
#include "mig_internal.h"
#include "qmp.h"
#include "schema.h"
#include "sim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* The same guest as the seeds were recorded with (no prefault thread to outlive it). */
#define GUEST "uniform,size=256K,rate=4M,seed=1,prefault=off"

static Schema *schema(void)
{
    static Schema *s;
    if (s)
        return s;
    s = schema_new(NULL);
    if (!schema_load_builtin(s, "core.json", NULL) ||
        !schema_load_builtin(s, "migration-5.0.json", NULL) || !schema_finish(s, NULL))
        abort();
    return s;
}

typedef struct {
    int fd;
    const uint8_t *data;
    size_t size;
} Feed;

static gpointer feed(gpointer opaque)
{
    Feed *fd = opaque;
    size_t off = 0;
    while (off < fd->size) {
        ssize_t n = write(fd->fd, fd->data + off, fd->size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(fd->fd, SHUT_WR);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    /* Either side may write to a peer that gave up, as `migbench vm` ignores SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    json_object *v = json_object_new_object();
    QmpServer *q = qmp_server_new(schema(), NULL, v, true);
    MbGuest *g = sim_guest_new(GUEST, true, NULL);
    MigConfig cfg = { .start_paused = true };
    MigEngine *e = mig_engine_new(q, schema(), g, &cfg, NULL);
    if (!g || !e)
        abort();
    /* Where the incoming thread stands after a good load of a COLO migration. */
    atomic_store(&e->in.state, MIG_ACTIVE);
    Feed fd = { sv[1], data, size };
    GThread *t = g_thread_new("fuzz-feed", feed, &fd);
    MigFile *f = mig_file_new(chan_new_fd(sv[0], "fuzz"), false);
    Chan *rp = NULL;
    GError *err = NULL;
    bool ok = mig_colo_secondary_run(e, f, &rp, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "%s\n", ok ? "took over, verified" : err->message);
    g_clear_error(&err);
    /* Unblocks a feeder still writing into a secondary that gave up. */
    mig_file_shutdown(f);
    g_thread_join(t);
    chan_close(rp);
    mig_file_close(f);
    close(sv[1]);
    mig_engine_free(e);
    mb_guest_free(g);
    qmp_server_free(q);
    return 0;
}
