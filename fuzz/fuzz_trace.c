/* fuzz_trace: arbitrary bytes as a trace file.  Opens them with the memory reader and
 * iterates every epoch (twice, across a rewind); any input must end in a clean error or a
 * clean end, never a crash, a hang or a leak.  Also feeds the bytes to the text converter,
 * which parses user-supplied CSV. */
#include "trace.h"

#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static void read_all(TraceSource *s)
{
    TraceEpoch ep;
    GError *err = NULL;
    uint64_t sum = 0;
    int rc;
    while ((rc = trace_source_next(s, &ep, &err)) > 0)
        for (size_t i = 0; i < ep.n; i++)
            sum += ep.ev[i].page + ep.ev[i].cls;
    g_clear_error(&err);
    (void)sum;
}

static void convert_text(const uint8_t *data, size_t size)
{
    char in[] = "/tmp/fuzz_trace_in_XXXXXX";
    int fd = g_mkstemp(in);
    if (fd < 0)
        return;
    if (write(fd, data, size) == (ssize_t)size) {
        char *out = g_strdup_printf("%s.trace", in);
        GError *err = NULL;
        TraceConvertOptions co = { 0 };
        if (trace_convert_opts(in, out, &co, &err))
            g_remove(out);
        g_clear_error(&err);
        g_free(out);
    }
    close(fd);
    g_remove(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    TraceSource *s = trace_open_memory(data, size, "fuzz", &err);
    if (s) {
        read_all(s);
        if (trace_source_rewind(s, NULL))
            read_all(s);
        trace_source_free(s);
    }
    g_clear_error(&err);
    if (size < 4096)
        convert_text(data, size);
    return 0;
}
