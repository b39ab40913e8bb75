/* sweep_plot: gnuplot as a subprocess, SVG back (see sweep_plot.h). */
#include "sweep_plot.h"

#include "mb_error.h"

#include <gio/gio.h>
#include <string.h>

#define GNUPLOT_TIMEOUT_MS 60000

gchar *sweep_plot_program(void)
{
    const char *env = g_getenv("MIGBENCH_GNUPLOT");

    if (env && *env)
        return g_find_program_in_path(env);
    return g_find_program_in_path("gnuplot");
}

void sweep_plot_quote(GString *s, const char *text)
{
    g_string_append_c(s, '"');
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\')
            g_string_append_c(s, '\\');
        /* enhanced text: ^ _ @ & { } are markup; a backslash-escaped one is literal */
        if (strchr("^_@&{}", *c))
            g_string_append(s, "\\\\");
        if (*c == '\n')
            g_string_append(s, "\\n");
        else
            g_string_append_c(s, *c);
    }
    g_string_append_c(s, '"');
}

typedef struct {
    gboolean done, timed_out;
    GBytes *out, *err;
    GError *error;
    GCancellable *cancel;
} Comm;

static void comm_done(GObject *obj, GAsyncResult *res, gpointer data)
{
    Comm *c = data;

    g_subprocess_communicate_finish(G_SUBPROCESS(obj), res, &c->out, &c->err, &c->error);
    c->done = TRUE;
}

static gboolean comm_timeout(gpointer data)
{
    Comm *c = data;

    c->timed_out = TRUE;
    g_cancellable_cancel(c->cancel);
    return G_SOURCE_REMOVE;
}

gchar *sweep_plot_svg(const char *gnuplot, const char *commands, int width, int height,
                      GError **err)
{
    const gchar *argv[] = { gnuplot, NULL };
    GSubprocess *proc;
    gchar *script, *svg = NULL;
    Comm c = { 0 };

    /* A private context: the caller may be anywhere, and nothing else must run here. */
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    proc = g_subprocess_newv(argv,
                             G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                 G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             err);
    if (!proc)
        goto out;
    script = g_strdup_printf("set terminal svg size %d,%d dynamic enhanced "
                             "font 'DejaVu Sans,11' background rgb 'white'\n"
                             "set encoding utf8\n%s\n",
                             width, height, commands);
    GBytes *in = g_bytes_new_take(script, strlen(script));
    c.cancel = g_cancellable_new();
    GSource *t = g_timeout_source_new(GNUPLOT_TIMEOUT_MS);
    g_source_set_callback(t, comm_timeout, &c, NULL);
    g_source_attach(t, ctx);
    g_subprocess_communicate_async(proc, in, c.cancel, comm_done, &c);
    while (!c.done)
        g_main_context_iteration(ctx, TRUE);
    g_source_destroy(t);
    g_source_unref(t);
    g_bytes_unref(in);
    if (c.timed_out || c.error) {
        g_subprocess_force_exit(proc);
        g_subprocess_wait(proc, NULL, NULL);
        mb_error_set(err, "gnuplot: %s", c.timed_out ? "no answer within 60 s" : c.error->message);
        goto out;
    }
    g_subprocess_wait(proc, NULL, NULL);
    gsize olen = 0, elen = 0;
    const char *o = c.out ? g_bytes_get_data(c.out, &olen) : NULL;
    const char *e = c.err ? g_bytes_get_data(c.err, &elen) : NULL;
    gchar *out_text = g_strndup(o ? o : "", olen), *err_text = g_strndup(e ? e : "", elen);
    const char *start = strstr(out_text, "<svg");
    const char *end = g_strrstr(out_text, "</svg>");
    /* gnuplot reports a script error on stderr and may still exit 0: any "line N:" there
     * is a failure, so a broken plot is never embedded silently. */
    if (!g_subprocess_get_successful(proc) || !start || !end || strstr(err_text, "line ")) {
        mb_error_set(err, "gnuplot failed: %s", *err_text ? g_strstrip(err_text) : "no SVG");
    } else {
        svg = g_strndup(start, (gsize)(end - start) + strlen("</svg>"));
    }
    g_free(out_text);
    g_free(err_text);
out:
    if (c.out)
        g_bytes_unref(c.out);
    if (c.err)
        g_bytes_unref(c.err);
    g_clear_error(&c.error);
    g_clear_object(&c.cancel);
    g_clear_object(&proc);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    return svg;
}
