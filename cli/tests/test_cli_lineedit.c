/* Unit tests for the line editor of `migbench qmp`: editing keys, escape sequences split
 * across reads, UTF-8, history browsing and its file, completion.  The editor's screen
 * output goes to /dev/null; only the resulting lines are checked. */
#include "cli_lineedit.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    CliLineEdit *le;
    int null_fd;
} Ed;

static void ed_open(Ed *e)
{
    e->null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    g_assert_cmpint(e->null_fd, >=, 0);
    e->le = cli_lineedit_new(-1, e->null_fd);
    cli_lineedit_start(e->le, "(QEMU) ");
}

static void ed_close(Ed *e)
{
    cli_lineedit_free(e->le);
    close(e->null_fd);
}

/* Feeds `keys` (in pieces of `chunk` bytes) and returns the finished line, or NULL when
 * the keys did not finish one.  *rest_out gets the number of unused bytes. */
static char *type_keys(Ed *e, const char *keys, size_t chunk, CliLeResult *res)
{
    size_t len = strlen(keys), off = 0;

    *res = CLI_LE_MORE;
    while (off < len) {
        size_t n = MIN(chunk, len - off), used;
        char *line;
        *res = cli_lineedit_feed(e->le, keys + off, n, &used, &line);
        off += used;
        if (*res == CLI_LE_LINE) {
            g_assert_cmpuint(off, ==, len); /* tests end their keys with the Enter */
            cli_lineedit_start(e->le, "(QEMU) ");
            return line;
        }
        if (*res != CLI_LE_MORE) {
            cli_lineedit_start(e->le, "(QEMU) ");
            return NULL;
        }
    }
    return NULL;
}

static void check(Ed *e, const char *keys, const char *want)
{
    size_t chunks[] = { 1, 2, 3, 1000 };

    for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
        CliLeResult r;
        char *got = type_keys(e, keys, chunks[i], &r);
        g_assert_cmpint(r, ==, CLI_LE_LINE);
        g_assert_cmpstr(got, ==, want);
        g_free(got);
    }
}

static void test_editing(void)
{
    Ed e;
    CliLeResult r;

    ed_open(&e);
    check(&e, "query-status\r", "query-status");
    check(&e, "query-statsu\x7f\x7fus\n", "query-status");
    /* Arrow keys (CSI and SS3 forms), Home/End, Delete. */
    check(&e, "quer-status\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dy\r", "query-status");
    check(&e, "uery\x1b[Hq\x1b[F-status\r", "query-status");
    check(&e, "uery\x1bOHq\x1bOF!\r", "query!");
    check(&e, "xquery\x1b[H\x1b[3~\r", "query");
    check(&e, "xquery\x1b[1~\x04\r", "query"); /* Ctrl-D deletes under the cursor */
    /* Emacs keys: Ctrl-A/E/B/F, Ctrl-K, Ctrl-U, Ctrl-W, Alt-B/F. */
    check(&e,
          "bc\x01"
          "a\x05"
          "d\r",
          "abcd");
    check(&e,
          "ac\x02"
          "b\x06"
          "d\r",
          "abcd");
    check(&e, "keep cut this\x02\x02\x02\x02\x02\x02\x02\x02\x0b\r", "keep ");
    check(&e, "gone\x15kept\r", "kept");
    check(&e, "migrate uri=x\x17uri=y\r", "migrate uri=y");
    check(&e,
          "one two\x1b"
          "bX\x1b"
          "fY\r",
          "one XtwoY");
    /* UTF-8: one Backspace removes a whole character. */
    check(&e,
          "caf\xC3\xA9\x7f"
          "e\r",
          "cafe");
    check(&e, "\xC3\xA9t\xC3\xA9\x1b[D\x1b[D\x7f\r", "t\xC3\xA9");
    /* Ctrl-C abandons the line; Ctrl-D on an empty line is the end. */
    g_assert_null(type_keys(&e, "abc\x03", 1000, &r));
    g_assert_cmpint(r, ==, CLI_LE_INTERRUPT);
    g_assert_null(type_keys(&e, "\x04", 1000, &r));
    g_assert_cmpint(r, ==, CLI_LE_EOF);
    /* Unknown control characters and escape sequences are ignored. */
    check(&e, "a\x07\x1b[99zb\x1b[5~c\r", "abc");
    ed_close(&e);
}

static void test_two_lines_one_read(void)
{
    Ed e;
    size_t used;
    char *line;
    const char *keys = "first\rsecond\r";

    ed_open(&e);
    g_assert_cmpint(cli_lineedit_feed(e.le, keys, strlen(keys), &used, &line), ==, CLI_LE_LINE);
    g_assert_cmpstr(line, ==, "first");
    g_assert_cmpuint(used, ==, 6);
    g_free(line);
    cli_lineedit_start(e.le, "> ");
    g_assert_cmpint(cli_lineedit_feed(e.le, keys + used, strlen(keys) - used, &used, &line), ==,
                    CLI_LE_LINE);
    g_assert_cmpstr(line, ==, "second");
    g_free(line);
    ed_close(&e);
}

static void test_history(void)
{
    Ed e;
    GError *err = NULL;
    char *dir = g_dir_make_tmp("cli-le-XXXXXX", NULL);
    char *path = g_build_filename(dir, "history", NULL);

    ed_open(&e);
    cli_lineedit_history_add(e.le, "query-status");
    cli_lineedit_history_add(e.le, "query-status"); /* repeat: skipped */
    cli_lineedit_history_add(e.le, "");             /* empty: skipped */
    cli_lineedit_history_add(e.le, "query-migrate");
    g_assert_cmpuint(cli_lineedit_history_len(e.le), ==, 2);
    /* Up, Up: the older one; Down: the newer; Down again: the line being typed. */
    check(&e, "\x1b[A\r", "query-migrate");
    check(&e, "\x1b[A\x1b[A\r", "query-status");
    check(&e, "\x1b[A\x1b[A\x1b[A\x1b[B\r", "query-migrate");
    check(&e, "typing\x10\x0e\r", "typing");
    check(&e, "\x10-x\r", "query-migrate-x");

    g_assert_true(cli_lineedit_history_save(e.le, path, &err));
    g_assert_no_error(err);
    ed_close(&e);
    ed_open(&e);
    g_assert_true(cli_lineedit_history_load(e.le, path, &err));
    g_assert_cmpuint(cli_lineedit_history_len(e.le), ==, 2);
    check(&e, "\x1b[A\r", "query-migrate");
    /* A missing file is an empty history; the list is capped. */
    g_assert_true(cli_lineedit_history_load(e.le, "/nonexistent/history", &err));
    for (int i = 0; i < CLI_LE_HISTORY_MAX + 50; i++) {
        char *l = g_strdup_printf("cmd-%d", i);
        cli_lineedit_history_add(e.le, l);
        g_free(l);
    }
    g_assert_cmpuint(cli_lineedit_history_len(e.le), ==, CLI_LE_HISTORY_MAX);
    ed_close(&e);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

static GPtrArray *complete(const char *word, void *opaque)
{
    const char *const *names = opaque;
    GPtrArray *res = g_ptr_array_new_with_free_func(g_free);

    for (; *names; names++)
        if (g_str_has_prefix(*names, word))
            g_ptr_array_add(res, g_strdup(*names));
    return res;
}

static void test_completion(void)
{
    static const char *const names[] = { "query-status", "query-migrate",
                                         "query-migrate-parameters", "stop", NULL };
    Ed e;

    ed_open(&e);
    cli_lineedit_set_completion(e.le, complete, (void *)names);
    check(&e, "st\t\r", "stop ");
    check(&e, "query-s\t\r", "query-status ");
    /* Several candidates: the common prefix. */
    check(&e, "q\t\r", "query-");
    check(&e, "query-m\t\r", "query-migrate");
    check(&e, "nothing\t\r", "nothing");
    ed_close(&e);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/lineedit/editing", test_editing);
    g_test_add_func("/cli/lineedit/two-lines-one-read", test_two_lines_one_read);
    g_test_add_func("/cli/lineedit/history", test_history);
    g_test_add_func("/cli/lineedit/completion", test_completion);
    return g_test_run();
}
