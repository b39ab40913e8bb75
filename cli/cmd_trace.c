/* cmd_trace: `migbench trace gen|record|info|stats|cat|convert`, everything about dirty-page
 * traces from the command line.
 *
 * Thin on purpose: parsing and printing here, the work in traces/ (trace.h).  The interface
 * is stable for scripts: subcommands, options and exit codes (0 ok, 1 failure, 2 usage) are
 * documented in docs/trace-format.md; `stats --json` and `info --json` are for programs. */
#include "cli.h"
#include "cli_options.h"
#include "kvm.h"
#include "trace.h"

#include "mb_error.h"
#include "mb_progress.h"
#include "mb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: migbench trace COMMAND [ARGS...]\n\n"
            "commands:\n"
            "  gen WORKLOAD [--seed N] [options] -o FILE   write a synthetic trace\n"
            "  record [--interval 50ms] -o FILE (--pid N | -- COMMAND ARGS...)\n"
            "                                   record a real program's writes\n"
            "  info FILE [--json]               the header and totals\n"
            "  stats FILE [--window DUR] [--json]\n"
            "                                   dirty rate over time, working set, hot pages\n"
            "  cat FILE [--limit N]             the text form, one write per line\n"
            "  convert IN -o OUT                text/CSV to binary (or binary to .txt/.csv)\n\n"
            "`migbench trace COMMAND --help` describes each; docs/trace-format.md the format.\n");
}

/* What the trace commands return after answering --help: non-zero so that they stop like
 * after any other early exit, turned into exit status 0 by cmd_trace_main. */
#define HELP_SHOWN 1000

/* Parses options with GOption (cli_options: -h/--help, usage errors exit 2); `name` is the
 * trace command's.  Returns 0 to continue, else HELP_SHOWN or the exit code. */
static int parse(GOptionContext *ctx, const char *name, int *argc, char ***argv)
{
    gchar *cmd = g_strdup_printf("trace %s", name);
    int rc = cli_options_parse(ctx, cmd, argc, argv);

    g_free(cmd);
    if (rc == CLI_OPTIONS_CONTINUE)
        return 0;
    return rc == 0 ? HELP_SHOWN : rc;
}

static int fail(GError *err)
{
    fprintf(stderr, "migbench trace: %s\n", err ? err->message : "failed");
    g_clear_error(&err);
    return 1;
}

static void print_json(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- gen ---- */

static gboolean gen_option(const gchar *name, const gchar *value, gpointer data, GError **error)
{
    while (*name == '-')
        name++;
    return trace_gen_params_set(data, name, value, error);
}

static int cmd_gen(int argc, char **argv)
{
    TraceGenParams p;
    char *out = NULL;
    int level = 0;
    GOptionEntry main_entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "trace file to write", "FILE" },
        { "level", 0, 0, G_OPTION_ARG_INT, &level, "zstd level (default 3)", "N" },
        { NULL }
    };
#define GEN_OPT(n, d, a) { n, 0, 0, G_OPTION_ARG_CALLBACK, (void *)gen_option, d, a }
    GOptionEntry gen_entries[] = {
        GEN_OPT("seed", "generator and content seed [1]", "N"),
        GEN_OPT("size", "guest RAM [1G]", "SIZE"),
        GEN_OPT("rate", "page writes x 4 KiB per second [8M]", "BYTES/S"),
        GEN_OPT("vcpus", "vCPUs [2]", "N"),
        GEN_OPT("duration", "trace length [10s]", "DUR"),
        GEN_OPT("epoch", "time between epochs [1ms]", "DUR"),
        GEN_OPT("mix", "classes of written pages", "MIX"),
        GEN_OPT("init", "classes of pages before their first write", "MIX"),
        GEN_OPT("hot", "hotspot: hot set [10%]", "SIZE|PCT"),
        GEN_OPT("share", "hotspot: % of writes to the hot set [90]", "PCT"),
        GEN_OPT("skew", "zipf: exponent [0.99]", "S"),
        GEN_OPT("from", "seq: first byte swept [1M]", "SIZE"),
        GEN_OPT("to", "seq: end of the sweep [100M]", "SIZE"),
        GEN_OPT("phases", "phases: number of phases [4]", "N"),
        GEN_OPT("ws", "uniform, phases: working set", "SIZE|PCT"),
        GEN_OPT("disk", "a disk drive0 besides the RAM [none]", "SIZE"),
        GEN_OPT("disk-rate", "disk writes x 4 KiB per second [1M]", "BYTES/S"),
        GEN_OPT("disk-used", "% of disk chunks with data in the base image [50]", "PCT"),
        GEN_OPT("disk-ws", "working set of the disk writes [10%]", "SIZE|PCT"),
        { NULL }
    };
#undef GEN_OPT
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("usage: migbench trace gen WORKLOAD [--seed N] [options] -o FILE\n\n%s\n"
                   "Options may also be given as KEY=VALUE (size=1G).  Example:\n"
                   "  migbench trace gen hotspot --size 4G --rate 200M --seed 7 -o h.trace\n",
                   trace_gen_help());
            return 0;
        }
        fprintf(stderr, "usage: migbench trace gen WORKLOAD [--seed N] [options] -o FILE\n"
                        "workloads: idle uniform hotspot zipf seq phases (--help for more)\n");
        return 2;
    }
    TraceGenKind kind;
    if (!trace_gen_kind_from_name(argv[1], &kind)) {
        fprintf(stderr,
                "migbench trace gen: unknown workload '%s' (idle, uniform, hotspot, "
                "zipf, seq, phases)\n",
                argv[1]);
        return 2;
    }
    trace_gen_params_init(&p, kind);
    GOptionContext *ctx = g_option_context_new("- write a synthetic dirty-page trace");
    GOptionGroup *grp = g_option_group_new("gen", "workload options", "workload options", &p, NULL);
    g_option_group_add_entries(grp, gen_entries);
    g_option_context_set_main_group(ctx, grp);
    g_option_context_add_main_entries(ctx, main_entries, NULL);
    argc--;
    argv++;
    int rc = parse(ctx, "gen", &argc, &argv);
    g_option_context_free(ctx);
    GError *err = NULL;
    for (int i = 1; !rc && i < argc; i++) { /* KEY=VALUE forms */
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "migbench trace gen: unexpected argument '%s'\n", argv[i]);
            rc = 2;
            break;
        }
        *eq = 0;
        if (!trace_gen_params_set(&p, argv[i], eq + 1, &err)) {
            fprintf(stderr, "migbench trace gen: %s\n", err->message);
            g_clear_error(&err);
            rc = 2;
        }
        *eq = '=';
    }
    if (!rc && !out) {
        fprintf(stderr, "migbench trace gen: -o FILE is required\n");
        rc = 2;
    }
    if (rc) {
        g_free(out);
        return rc;
    }

    TraceSource *s = trace_gen_new(&p, &err);
    TraceWriter *w = s ? trace_writer_new(out, trace_source_header(s), level, &err) : NULL;
    MbProgress prog;
    TraceEpoch ep;
    int got = 0;
    uint64_t n = 0;
    mb_progress_init(&prog);
    bool ok = w != NULL;
    while (ok && (got = trace_source_next(s, &ep, &err)) > 0) {
        ok = trace_writer_add(w, ep.t_ns, ep.ev, ep.n, &err);
        if ((++n & 255) == 0)
            mb_progress_update(&prog, "generating %s: %.1f%%", out,
                               100.0 * (double)ep.t_ns / (double)p.duration_ns);
    }
    mb_progress_done(&prog);
    uint64_t events = w ? trace_writer_events(w) : 0;
    if (w)
        ok = ok && got == 0 ? trace_writer_finish(w, &err) : (trace_writer_abort(w), false);
    if (ok) {
        struct stat st;
        char b1[32], b2[32], b3[32];
        stat(out, &st);
        printf("%s: %s, %s RAM, %" G_GUINT64_FORMAT " writes in %s, file %s\n", out,
               trace_gen_kind_name(kind), mb_fmt_bytes(b1, sizeof(b1), (double)p.size), events,
               mb_fmt_duration(b2, sizeof(b2), p.duration_ns),
               mb_fmt_bytes(b3, sizeof(b3), (double)st.st_size));
    }
    trace_source_free(s);
    g_free(out);
    return ok ? 0 : fail(err);
}

/* ---- record ---- */

/* The place where `trace record --kvm` goes: recording a KVM guest's dirty log belongs to
 * kvm/ (its memory slots and dirty ring).  When kvm/ provides its recorder, dispatch here. */
/* `trace record --kvm ...`: a KVM guest's dirty log sampled at an interval (kvm/). */
static int record_kvm(int argc, char **argv)
{
    return kvm_trace_record_main(argc, argv);
}

static int record_check(void)
{
    const TraceMethod m[] = { TRACE_METHOD_UFFD_WP, TRACE_METHOD_SOFT_DIRTY,
                              TRACE_METHOD_MEM_HASH };
    int works = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(m); i++) {
        GError *err = NULL;
        bool ok = trace_record_selftest(m[i], &err);
        printf("%-11s %s\n", trace_method_name(m[i]), ok ? "works" : err->message);
        works += ok;
        g_clear_error(&err);
    }
    return works ? 0 : 1;
}

static int cmd_record(int argc, char **argv)
{
    char *out = NULL, *interval = NULL, *duration = NULL, *method = NULL, *preload = NULL;
    gint pid = 0;
    gboolean check = FALSE, kvm = FALSE;
    GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "trace file to write", "FILE" },
        { "pid", 'p', 0, G_OPTION_ARG_INT, &pid, "record a running process", "N" },
        { "interval", 'i', 0, G_OPTION_ARG_STRING, &interval, "sampling interval [50ms]", "DUR" },
        { "duration", 'd', 0, G_OPTION_ARG_STRING, &duration,
          "stop after this long (default: when the process exits, or Ctrl-C)", "DUR" },
        { "method", 'm', 0, G_OPTION_ARG_STRING, &method,
          "uffd-wp, soft-dirty, mem-hash [the best that works]", "METHOD" },
        { "check", 0, 0, G_OPTION_ARG_NONE, &check, "self-test each method and exit", NULL },
        { "preload", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &preload, "", "SO" },
        { "kvm", 0, 0, G_OPTION_ARG_NONE, &kvm, "record a KVM guest (provided by kvm/)", NULL },
        { NULL }
    };
    /* Everything after "--" is the command, untouched by option parsing. */
    int cmd_at = argc;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            cmd_at = i;
            break;
        }
    for (int i = 1; i < cmd_at; i++)
        if (!strcmp(argv[i], "--kvm"))
            return record_kvm(argc, argv);
    int oargc = cmd_at;
    char **oargv = g_new0(char *, cmd_at + 1);
    memcpy(oargv, argv, sizeof(char *) * (size_t)cmd_at);
    char **oargv_orig = oargv;
    GOptionContext *ctx =
        g_option_context_new("-o FILE (--pid N | -- COMMAND ARGS...) - record a program's writes");
    g_option_context_set_description(
        ctx, "Methods are tried in order uffd-wp (userfaultfd async write-protect and "
             "PAGEMAP_SCAN,\nLinux 6.7+, exact), soft-dirty (where the kernel has it), mem-hash "
             "(page hashing of\n/proc/PID/mem, always works, misses same-value rewrites).  "
             "uffd-wp needs the recorder\nto start the command.  The process is followed "
             "across exec, not into its children.\nExample:\n"
             "  migbench trace record -o py.trace -- python3 -c 'x = list(range(10**7))'\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    int rc = parse(ctx, "record", &oargc, &oargv);
    g_option_context_free(ctx);
    GError *err = NULL;
    TraceRecordOptions o = { .pid = pid,
                             .output = out,
                             .method = -1,
                             .preload_path = preload,
                             .handle_signals = true,
                             .progress = true };
    char **cmd = cmd_at < argc ? argv + cmd_at + 1 : NULL;
    if (!rc && oargc > 1) {
        fprintf(stderr,
                "migbench trace record: unexpected argument '%s' (put the command after "
                "--)\n",
                oargv[1]);
        rc = 2;
    }
    if (!rc && check) {
        rc = record_check();
        goto out;
    }
    if (!rc && (!out || (pid > 0) == (cmd && *cmd))) {
        fprintf(stderr, "usage: migbench trace record [--interval 50ms] -o FILE "
                        "(--pid N | -- COMMAND ARGS...)\n");
        rc = 2;
    }
    if (!rc && interval && !mb_parse_duration(interval, &o.interval_ns, &err))
        rc = 2;
    if (!rc && duration && !mb_parse_duration(duration, &o.duration_ns, &err))
        rc = 2;
    if (!rc && method &&
        ((o.method = trace_method_from_name(method)) < 1 || o.method > TRACE_METHOD_MEM_HASH)) {
        mb_error_set(&err, "unknown method '%s' (uffd-wp, soft-dirty, mem-hash)", method);
        rc = 2;
    }
    if (rc == 2 && err) {
        fprintf(stderr, "migbench trace record: %s\n", err->message);
        g_clear_error(&err);
    }
    if (!rc) {
        o.argv = cmd && *cmd ? cmd : NULL;
        TraceRecordResult res;
        if (!trace_record(&o, &res, &err)) {
            rc = fail(err);
        } else {
            char b1[32];
            printf("%s: %s, %" G_GUINT64_FORMAT " samples over %s, %" G_GUINT64_FORMAT
                   " writes to %" G_GUINT64_FORMAT " distinct pages\n",
                   out, trace_method_name(res.method), res.samples,
                   mb_fmt_duration(b1, sizeof(b1), res.duration_ns), res.events, res.pages);
            if (res.exit_status != -1 && WIFEXITED(res.exit_status) && WEXITSTATUS(res.exit_status))
                printf("note: the command exited with status %d\n", WEXITSTATUS(res.exit_status));
        }
    }
out:
    g_free(oargv_orig);
    g_free(out);
    g_free(interval);
    g_free(duration);
    g_free(method);
    g_free(preload);
    return rc;
}

/* ---- info, stats, cat, convert ---- */

/* Parses `NAME FILE [opts]` with the given entries; returns the file or NULL (rc set). */
static char *one_file(int *argc, char ***argv, const char *summary, GOptionEntry *entries, int *rc)
{
    GOptionContext *ctx = g_option_context_new(summary);
    g_option_context_add_main_entries(ctx, entries, NULL);
    *rc = parse(ctx, (*argv)[0], argc, argv);
    g_option_context_free(ctx);
    if (*rc)
        return NULL;
    if (*argc != 2) {
        fprintf(stderr, "migbench trace %s: expected one trace file (--help for usage)\n",
                (*argv)[0]);
        *rc = 2;
        return NULL;
    }
    return (*argv)[1];
}

static int cmd_info(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry e[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL },
                         { NULL } };
    int rc;
    const char *path = one_file(&argc, &argv, "FILE - the header and totals of a trace", e, &rc);
    if (!path)
        return rc;
    GError *err = NULL;
    uint64_t events, epochs;
    TraceSource *s = trace_open_file(path, &err);
    if (!s || !trace_source_check(s, &events, &epochs, &err)) {
        trace_source_free(s);
        return fail(err);
    }
    const TraceHeader *h = trace_source_header(s);
    struct stat st;
    stat(path, &st);
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "file", json_object_new_string(path));
        json_object_object_add(o, "file-size", json_object_new_int64(st.st_size));
        json_object_object_add(o, "header", trace_header_json(h));
        json_object_object_add(o, "events", json_object_new_uint64(events));
        json_object_object_add(o, "epochs", json_object_new_uint64(epochs));
        json_object_object_add(o, "digest", json_object_new_uint64(trace_header_digest(h)));
        print_json(o);
        json_object_put(o);
    } else {
        char b[32];
        printf("file:            %s (%s, %.2f bytes per write)\n", path,
               mb_fmt_bytes(b, sizeof(b), (double)st.st_size),
               events ? (double)st.st_size / (double)events : 0.0);
        trace_header_print(h, stdout);
        printf("writes:          %" G_GUINT64_FORMAT " in %" G_GUINT64_FORMAT " epochs\n", events,
               epochs);
    }
    trace_source_free(s);
    return 0;
}

static int cmd_stats(int argc, char **argv)
{
    gboolean json = FALSE;
    char *window = NULL;
    GOptionEntry e[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL },
                         { "window", 'w', 0, G_OPTION_ARG_STRING, &window,
                           "rate window [duration/20]", "DUR" },
                         { NULL } };
    int rc;
    const char *path = one_file(
        &argc, &argv, "FILE - dirty rate over time, working set, hot-page histogram", e, &rc);
    GError *err = NULL;
    int64_t win = 0;
    if (path && window && !mb_parse_duration(window, &win, &err)) {
        fprintf(stderr, "migbench trace stats: %s\n", err->message);
        g_clear_error(&err);
        path = NULL;
        rc = 2;
    }
    g_free(window);
    if (!path)
        return rc;
    TraceSource *s = trace_open_file(path, &err);
    TraceStats *st = s ? trace_stats_compute(s, win, &err) : NULL;
    if (st && json) {
        json_object *o = trace_stats_json(st);
        print_json(o);
        json_object_put(o);
    } else if (st) {
        trace_stats_print(st, stdout);
    }
    trace_stats_free(st);
    trace_source_free(s);
    return st ? 0 : fail(err);
}

static int cmd_cat(int argc, char **argv)
{
    gint64 limit = 0;
    GOptionEntry e[] = {
        { "limit", 'n', 0, G_OPTION_ARG_INT64, &limit, "print at most N writes", "N" }, { NULL }
    };
    int rc;
    const char *path = one_file(&argc, &argv, "FILE - the text form of a trace", e, &rc);
    if (!path)
        return rc;
    GError *err = NULL;
    TraceSource *s = trace_open_file(path, &err);
    bool ok = s && trace_text_dump(s, stdout, limit > 0 ? (uint64_t)limit : 0, &err);
    trace_source_free(s);
    return ok ? 0 : fail(err);
}

static int cmd_convert(int argc, char **argv)
{
    char *out = NULL, *mix = NULL;
    GOptionEntry e[] = { { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "file to write", "OUT" },
                         { "mix", 0, 0, G_OPTION_ARG_STRING, &mix,
                           "class of written pages for rows without a class column "
                           "[" TRACE_CONVERT_DEFAULT_MIX "]",
                           "MIX" },
                         { NULL } };
    int rc;
    const char *in = one_file(
        &argc, &argv, "IN -o OUT - text/CSV to a binary trace, or binary to .txt/.csv", e, &rc);
    if (in && !out) {
        fprintf(stderr, "migbench trace convert: -o OUT is required\n");
        in = NULL;
        rc = 2;
    }
    GError *err = NULL;
    TraceMix m;
    TraceConvertOptions co = { .mix = mix ? &m : NULL };
    if (in && mix && !trace_mix_parse(mix, &m, &err)) {
        fprintf(stderr, "migbench trace convert: --mix: %s\n", err->message);
        g_clear_error(&err);
        in = NULL;
        rc = 2;
    }
    bool ok = in && trace_convert_opts(in, out, &co, &err);
    if (ok)
        printf("%s: written\n", out);
    if (ok && co.all_zero)
        fprintf(stderr,
                "migbench trace convert: warning: every page of %s is zero (initial content "
                "and every write): a migration of it moves no page data; give rows a class "
                "column or --mix\n",
                out);
    g_free(out);
    g_free(mix);
    if (!in)
        return rc;
    return ok ? 0 : fail(err);
}

int cmd_trace_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = { { "gen", cmd_gen },     { "record", cmd_record }, { "info", cmd_info },
                 { "stats", cmd_stats }, { "cat", cmd_cat },       { "convert", cmd_convert } };

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cmds); i++) {
        if (!strcmp(argv[1], cmds[i].name)) {
            int rc = cmds[i].fn(argc - 1, argv + 1);
            return rc == HELP_SHOWN ? 0 : rc;
        }
    }
    if (argv[1][0] == '-')
        return cli_options_usage_error("trace", "unknown option %s", argv[1]);
    fprintf(stderr, "migbench trace: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
