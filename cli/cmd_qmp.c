/* cmd_qmp: `migbench qmp`, a QMP client for people and scripts.
 *
 *   migbench qmp ADDR COMMAND [ARGS...]   one command, reply printed, exit status from it
 *   migbench qmp ADDR --wait-event NAME   wait for an event
 *   migbench qmp ADDR                     a shell like QEMU's qmp-shell on a terminal, or
 *                                         one command per line from a pipe
 *
 * Commands are written the qmp-shell way, `query-status` or `migrate uri=tcp:host:4444`
 * (values are JSON when they parse as JSON, else strings; a.b=1 builds nested objects),
 * or as one JSON object.  The shell uses cli_lineedit for editing and history and prints
 * events as they arrive, above the prompt. */
#include "cli.h"
#include "cli_options.h"

#include "mb_error.h"
#include "mb_util.h"
#include "qmp_client.h"
#include "qmp_json.h"
#include "cli_lineedit.h"
#include "qmp_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_REPLY_ERROR 1
#define EXIT_USAGE       2
#define HISTORY_FILE     ".migbench_qmp_history"

typedef struct {
    const char *addr;
    const char *wait_event;
    int timeout_ms; /* -1: none */
    bool compact, oob;
    bool shell;     /* interactive: events are shown as they come */
    bool quit_done; /* `quit` succeeded: the server closing the connection is expected */
    QmpClient *client;
} QmpCli;

#define QMP_SUMMARY                                                                                \
    "Talks QMP to a running `migbench vm` (or any QEMU monitor).\n"                                \
    "\n"                                                                                           \
    "  ADDR     unix:PATH, tcp:HOST:PORT, tcp:[IPV6]:PORT, or a socket path\n"                     \
    "  COMMAND  a QMP command to run; without one, an interactive shell when stdin\n"              \
    "           is a terminal, else one command per line read from stdin\n"                        \
    "  ARGS     one JSON object, or KEY=VALUE pairs: VALUE is JSON when it parses\n"               \
    "           as JSON, else a string; a.b=1 makes nested objects"
#define QMP_DESCRIPTION                                                                            \
    "Shell lines are commands as above or raw JSON; Ctrl-D leaves.  History is kept\n"             \
    "in ~/" HISTORY_FILE ".\n"                                                                     \
    "\n"                                                                                           \
    "exit status: 0 success (a connection closed after `quit` included), 1 error reply\n"          \
    "(or --wait-event timed out), 2 usage or connection failure"

static void print_json(QmpCli *cli, json_object *v)
{
    char *s = qmp_json_to_string(v, cli->compact ? 0 : QMP_JSON_PRETTY);

    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    g_free(s);
}

/* Prints a reply without the id the client library put on the request. */
static void print_reply(QmpCli *cli, json_object *rsp)
{
    json_object *id;

    if (json_object_object_get_ex(rsp, "id", &id) && json_object_is_type(id, json_type_string) &&
        g_str_has_prefix(json_object_get_string(id), "migbench-"))
        json_object_object_del(rsp, "id");
    print_json(cli, rsp);
}

/* In the shell, events that came with a reply are shown before it.  Elsewhere they stay
 * queued: output stays parseable and --wait-event can still find them. */
static void show_events(QmpCli *cli)
{
    json_object *ev;

    while (cli->shell && (ev = qmp_client_next_event(cli->client))) {
        print_json(cli, ev);
        json_object_put(ev);
    }
}

/* ---- building a request from qmp-shell style words ---- */

/* Splits a line into words; quoted parts ('...' or "...", with backslash escapes) may
 * contain spaces and keep their quotes, as in qmp-shell. */
static GPtrArray *split_words(const char *line)
{
    GPtrArray *w = g_ptr_array_new_with_free_func(g_free);
    const char *p = line;

    while (*p) {
        GString *word;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        word = g_string_new(NULL);
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '"' || *p == '\'') {
                char q = *p;
                g_string_append_c(word, *p++);
                while (*p && *p != q) {
                    if (*p == '\\' && p[1])
                        g_string_append_c(word, *p++);
                    g_string_append_c(word, *p++);
                }
                if (*p)
                    g_string_append_c(word, *p++);
            } else {
                g_string_append_c(word, *p++);
            }
        }
        g_ptr_array_add(w, g_string_free(word, FALSE));
    }
    return w;
}

static json_object *parse_value(const char *text)
{
    json_object *v;

    if (qmp_json_parse(text, strlen(text), &v, NULL))
        return v;
    return json_object_new_string(text);
}

/* Adds KEY=VALUE to args; dotted keys make nested objects (qmp-shell's rules). */
static bool add_pair(json_object *args, const char *word, GError **err)
{
    const char *eq = strchr(word, '=');
    gchar **path;
    json_object *parent = args;
    bool ok = false;
    guint n;

    if (!eq) {
        mb_error_set(err, "Expected a key=value pair, got '%s'", word);
        return false;
    }
    char *key = g_strndup(word, (gsize)(eq - word));
    path = g_strsplit(key, ".", -1);
    n = g_strv_length(path);
    for (guint i = 0; i + 1 < n; i++) {
        json_object *child;
        if (!json_object_object_get_ex(parent, path[i], &child)) {
            child = json_object_new_object();
            json_object_object_add(parent, path[i], child);
        } else if (!json_object_is_type(child, json_type_object)) {
            char *saved = path[i + 1], *sub;
            path[i + 1] = NULL; /* the path so far, as qmp-shell reports it */
            sub = g_strjoinv(".", path);
            path[i + 1] = saved;
            mb_error_set(err, "Cannot use \"%s\" as both leaf and non-leaf key", sub);
            g_free(sub);
            goto out;
        }
        parent = child;
    }
    json_object *old;
    if (json_object_object_get_ex(parent, path[n - 1], &old)) {
        if (json_object_is_type(old, json_type_object))
            mb_error_set(err, "Cannot use \"%s\" as both leaf and non-leaf key", key);
        else
            mb_error_set(err, "Cannot set \"%s\" multiple times", key);
        goto out;
    }
    json_object_object_add(parent, path[n - 1], parse_value(eq + 1));
    ok = true;
out:
    g_strfreev(path);
    g_free(key);
    return ok;
}

/* ARGS as one JSON object, or as KEY=VALUE words.  NULL args when there are none. */
static bool build_args(char **words, int n, json_object **args, GError **err)
{
    *args = NULL;
    if (n == 0)
        return true;
    if (n == 1 && words[0][0] == '{') {
        if (!qmp_json_parse(words[0], strlen(words[0]), args, err))
            return false;
        if (!json_object_is_type(*args, json_type_object)) {
            json_object_put(*args);
            *args = NULL;
            mb_error_set(err, "ARGS must be a JSON object");
            return false;
        }
        return true;
    }
    *args = json_object_new_object();
    for (int i = 0; i < n; i++) {
        if (!add_pair(*args, words[i], err)) {
            json_object_put(*args);
            *args = NULL;
            return false;
        }
    }
    return true;
}

/* Runs one command and prints queued events, then the reply.  Returns the exit status
 * (0 return, 1 error reply, 2 I/O failure). */
static int run_command(QmpCli *cli, const char *cmd, json_object *args, bool oob)
{
    GError *err = NULL;
    json_object *rsp;

    rsp = oob ? qmp_client_execute_oob(cli->client, cmd, args, cli->timeout_ms, &err)
              : qmp_client_execute(cli->client, cmd, args, cli->timeout_ms, &err);
    show_events(cli);
    if (!rsp && !strcmp(cmd, "quit") && qmp_client_closed(cli->client)) {
        /* The server may close before its reply reaches us: after quit that is success. */
        g_error_free(err);
        cli->quit_done = true;
        return 0;
    }
    if (!rsp) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_error_free(err);
        return EXIT_USAGE;
    }
    print_reply(cli, rsp);
    bool is_err = json_object_object_get_ex(rsp, "error", NULL);
    json_object_put(rsp);
    cli->quit_done |= !is_err && !strcmp(cmd, "quit");
    return is_err ? EXIT_REPLY_ERROR : 0;
}

/* A raw JSON line: checked locally (so a typo cannot leave the server waiting for the
 * rest of a value), then sent as typed. */
static int run_raw(QmpCli *cli, const char *line)
{
    GError *err = NULL;
    json_object *v, *rsp;

    if (!qmp_json_parse(line, strlen(line), &v, &err)) {
        fprintf(stderr, "Error while parsing JSON: %s\n", err->message);
        g_error_free(err);
        return EXIT_REPLY_ERROR;
    }
    json_object_put(v);
    rsp = qmp_client_send_raw(cli->client, line, cli->timeout_ms, &err);
    show_events(cli);
    if (!rsp) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_error_free(err);
        return EXIT_USAGE;
    }
    print_json(cli, rsp);
    bool is_err = json_object_object_get_ex(rsp, "error", NULL);
    json_object_put(rsp);
    return is_err ? EXIT_REPLY_ERROR : 0;
}

/* One shell or script line.  Returns the exit status of what it did (0 for nothing). */
static int run_line(QmpCli *cli, const char *line)
{
    GPtrArray *words;
    json_object *args;
    GError *err = NULL;
    int rc;

    while (*line == ' ' || *line == '\t')
        line++;
    if (!*line || *line == '#')
        return 0;
    if (*line == '{')
        return run_raw(cli, line);
    words = split_words(line);
    if (!build_args((char **)words->pdata + 1, (int)words->len - 1, &args, &err)) {
        fprintf(stderr,
                "Error while parsing command line: %s\n"
                "command format: <command-name> [arg-name1=arg1] ... "
                "[arg-nameN=argN]\n",
                err->message);
        g_error_free(err);
        g_ptr_array_free(words, TRUE);
        return EXIT_REPLY_ERROR;
    }
    rc = run_command(cli, g_ptr_array_index(words, 0), args, false);
    g_ptr_array_free(words, TRUE);
    return rc;
}

/* ---- modes ---- */

static int script_mode(QmpCli *cli)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        int rc = run_line(cli, line);
        if (rc == EXIT_USAGE) {
            status = rc;
            break;
        }
        if (rc)
            status = rc;
    }
    free(line);
    return status;
}

static GPtrArray *complete_command(const char *word, void *opaque)
{
    GPtrArray *names = opaque, *res = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < names->len; i++)
        if (g_str_has_prefix(g_ptr_array_index(names, i), word))
            g_ptr_array_add(res, g_strdup(g_ptr_array_index(names, i)));
    return res;
}

static GPtrArray *command_names(QmpCli *cli)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    json_object *list = qmp_client_call(cli->client, "query-commands", NULL, cli->timeout_ms, NULL);

    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
        json_object *name;
        if (json_object_object_get_ex(json_object_array_get_idx(list, i), "name", &name))
            g_ptr_array_add(names, g_strdup(json_object_get_string(name)));
    }
    json_object_put(list);
    return names;
}

static void banner(QmpCli *cli)
{
    json_object *qemu = NULL, *g = qmp_client_greeting(cli->client), *qmp, *ver, *pkg = NULL;

    printf("Welcome to the migbench QMP shell!\n");
    if (json_object_object_get_ex(g, "QMP", &qmp) &&
        json_object_object_get_ex(qmp, "version", &ver) &&
        json_object_object_get_ex(ver, "qemu", &qemu)) {
        json_object_object_get_ex(ver, "package", &pkg);
        printf("Connected to QEMU %d.%d.%d (%s)\n",
               json_object_get_int(json_object_object_get(qemu, "major")),
               json_object_get_int(json_object_object_get(qemu, "minor")),
               json_object_get_int(json_object_object_get(qemu, "micro")),
               pkg ? json_object_get_string(pkg) : "");
    } else {
        printf("Connected\n");
    }
    printf("Type a command (query-status, migrate uri=tcp:HOST:PORT, ...) or JSON; "
           "Ctrl-D leaves.\n\n");
    fflush(stdout);
}

static int shell_mode(QmpCli *cli)
{
    CliLineEdit *le = cli_lineedit_new(STDIN_FILENO, STDOUT_FILENO);
    GPtrArray *names = command_names(cli);
    char *hist = g_build_filename(g_get_home_dir(), HISTORY_FILE, NULL);
    const char *prompt = "(QEMU) ";
    GError *err = NULL;
    int status = 0;
    bool done = false;

    cli_lineedit_history_load(le, hist, NULL);
    cli_lineedit_set_completion(le, complete_command, names);
    banner(cli);
    if (!cli_lineedit_set_raw(le, true, &err)) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_clear_error(&err);
    }
    cli_lineedit_start(le, prompt);
    while (!done) {
        struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
                                 { .fd = qmp_client_fd(cli->client), .events = POLLIN } };
        char buf[512];
        ssize_t n;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents) {
            bool alive = qmp_client_poll(cli->client, &err);
            cli_lineedit_hide(le);
            show_events(cli);
            if (!alive) {
                printf("Disconnected: %s\n", err->message);
                g_clear_error(&err);
                status = cli->quit_done ? 0 : EXIT_USAGE;
                break;
            }
            cli_lineedit_show(le);
        }
        if (!pfd[0].revents)
            continue;
        n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (size_t off = 0; off < (size_t)n && !done;) {
            size_t used;
            char *line;
            CliLeResult r = cli_lineedit_feed(le, buf + off, (size_t)n - off, &used, &line);
            off += used;
            if (r == CLI_LE_EOF) {
                done = true;
            } else if (r == CLI_LE_INTERRUPT) {
                cli_lineedit_start(le, prompt);
            } else if (r == CLI_LE_LINE) {
                cli_lineedit_history_add(le, line);
                if (run_line(cli, line) == EXIT_USAGE) {
                    status = EXIT_USAGE;
                    done = true;
                }
                g_free(line);
                if (!done)
                    cli_lineedit_start(le, prompt);
            }
        }
    }
    cli_lineedit_set_raw(le, false, NULL);
    if (!cli_lineedit_history_save(le, hist, &err)) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_error_free(err);
    }
    g_free(hist);
    cli_lineedit_free(le);
    g_ptr_array_free(names, TRUE);
    return status;
}

static int wait_event(QmpCli *cli)
{
    GError *err = NULL;
    json_object *ev = qmp_client_wait_event(cli->client, cli->wait_event, cli->timeout_ms, &err);

    if (!ev) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_error_free(err);
        return EXIT_REPLY_ERROR;
    }
    print_json(cli, ev);
    json_object_put(ev);
    return 0;
}

int cmd_qmp_main(int argc, char **argv)
{
    QmpCli cli = { .timeout_ms = 30000 };
    gchar **pos = NULL, *wait_name = NULL, *timeout = NULL;
    gboolean compact = FALSE, oob = FALSE;
    GOptionEntry entries[] = {
        { "compact", 0, 0, G_OPTION_ARG_NONE, &compact,
          "print JSON on one line instead of indented", NULL },
        { "oob", 0, 0, G_OPTION_ARG_NONE, &oob,
          "negotiate out-of-band execution, send COMMAND with exec-oob", NULL },
        { "wait-event", 0, 0, G_OPTION_ARG_STRING, &wait_name,
          "then wait for event NAME and print it", "NAME" },
        { "timeout", 0, 0, G_OPTION_ARG_STRING, &timeout,
          "limit for connecting, each reply and --wait-event (default 30s; 0 = no limit)", "DUR" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &pos, NULL, NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new("ADDR [COMMAND [ARGS...]]");
    GError *err = NULL;
    char *addr = NULL;
    json_object *args = NULL;
    guint npos;
    int status;

    g_option_context_set_summary(ctx, QMP_SUMMARY);
    g_option_context_set_description(ctx, QMP_DESCRIPTION);
    g_option_context_add_main_entries(ctx, entries, NULL);
    status = cli_options_parse(ctx, "qmp", &argc, &argv);
    g_option_context_free(ctx);
    if (status != CLI_OPTIONS_CONTINUE)
        goto out;
    status = EXIT_USAGE;
    cli.compact = compact;
    cli.oob = oob;
    cli.wait_event = wait_name;
    if (timeout) {
        int64_t ns;
        if (!mb_parse_duration(timeout, &ns, &err)) {
            cli_options_usage_error("qmp", "--timeout: %s", err->message);
            g_error_free(err);
            goto out;
        }
        cli.timeout_ms = ns > 0 ? (int)MIN(ns / 1000000, (int64_t)G_MAXINT) : -1;
    }
    npos = pos ? g_strv_length(pos) : 0;
    if (npos < 1) {
        cli_options_usage_error("qmp", "ADDR is missing");
        goto out;
    }
    cli.addr = pos[0];
    if (!g_str_has_prefix(cli.addr, "unix:") && !g_str_has_prefix(cli.addr, "tcp:"))
        addr = g_strdup_printf("unix:%s", cli.addr); /* a bare path */
    else
        addr = g_strdup(cli.addr);
    if (npos >= 2 && !build_args(pos + 2, (int)npos - 2, &args, &err)) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_error_free(err);
        goto out;
    }
    cli.client = qmp_client_connect(addr, cli.timeout_ms, cli.oob, &err);
    if (!cli.client) {
        fprintf(stderr, "migbench qmp: %s\n", err->message);
        g_error_free(err);
        json_object_put(args);
        goto out;
    }
    if (npos >= 2) {
        status = run_command(&cli, pos[1], args, cli.oob);
        if (status == 0 && cli.wait_event)
            status = wait_event(&cli);
    } else if (cli.wait_event) {
        status = wait_event(&cli);
    } else if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
        cli.shell = true;
        status = shell_mode(&cli);
    } else {
        status = script_mode(&cli);
    }
out:
    qmp_client_free(cli.client);
    g_free(addr);
    g_strfreev(pos);
    g_free(wait_name);
    g_free(timeout);
    return status;
}
