/* fuzz_stream: arbitrary bytes as an incoming migration stream.  The destination must
 * reject anything malformed with an error, never crash, read out of bounds or leak.
 * The first input byte picks destination capabilities (compress, x-ignore-shared) so the
 * compressed and block-list paths are reached too, and (bit 2) a guest with a 1 MiB disk
 * for the block-migration and dirty-bitmap sections; the rest is the stream.  The guest and
 * the engine are built once, like a long-lived destination process. */
#include "guest.h"
#include "mig.h"
#include "mig_internal.h"
#include "mig_stream.h"
#include "qmp.h"
#include "schema.h"
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The harness's guest lives as long as the process and is never freed, so it must not
 * start the store=mem prefault thread: nothing would ever join it (ThreadSanitizer reports
 * a thread leak), and 256 KiB gain nothing from prefaulting. */
#define GUEST      "uniform,size=256K,rate=4M,seed=1,prefault=off"
#define GUEST_DISK GUEST ",disk=1M,disk-used=0%,disk-rate=0,disk-image=empty"

static MigEngine *engine(bool disk)
{
    static MigEngine *engines[2];
    MigEngine *e = engines[disk];
    if (e)
        return e;
    Schema *s = schema_new(NULL);
    if (!schema_load_builtin(s, "core.json", NULL) ||
        !schema_load_builtin(s, "migration-5.0.json", NULL) || !schema_finish(s, NULL))
        abort();
    json_object *v = json_object_new_object();
    QmpServer *q = qmp_server_new(s, NULL, v, true);
    MbGuest *g = sim_guest_new(disk ? GUEST_DISK : GUEST, true, NULL);
    MigConfig cfg = { .start_paused = true };
    e = mig_engine_new(q, s, g, &cfg, NULL);
    if (!e)
        abort();
    engines[disk] = e;
    return e;
}

static void set_cap(MigEngine *e, const char *name, bool on)
{
    json_object *list = json_object_new_array(), *c = json_object_new_object();
    json_object_object_add(c, "capability", json_object_new_string(name));
    json_object_object_add(c, "state", json_object_new_boolean(on));
    json_object_array_add(list, c);
    MigCapsCheckCtx ctx = { .v5 = true, .postcopy_host = MIG_POSTCOPY_BUILT };
    mig_caps_set(&e->caps, list, &ctx, NULL);
    json_object_put(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    MigEngine *e = engine(data[0] & 4);
    set_cap(e, "compress", data[0] & 1);
    set_cap(e, "x-ignore-shared", data[0] & 2);
    int fd = memfd_create("stream", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1) ||
        lseek(fd, 0, SEEK_SET) != 0)
        abort();
    MigFile *f = mig_file_new(chan_new_fd(fd, "fuzz"), false);
    Chan *rp = NULL;
    GError *err = NULL;
    bool ok = mig_loadvm(e, f, &rp, NULL, NULL, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "%s\n", ok ? "loaded" : err->message);
    g_clear_error(&err);
    chan_close(rp);
    mig_file_close(f);
    return 0;
}
