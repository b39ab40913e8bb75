/* qmp_lineedit: a small single-line terminal editor with history, for `migbench qmp`.
 *
 * A built-in editor rather than readline/libedit keeps migbench free of those
 * dependencies, and a push interface (feed it the bytes read from the terminal) lets the
 * shell poll the terminal and the QMP socket together, printing events above the prompt
 * while the user types (qmp_lineedit_hide / _show).
 *
 * Keys: printable text (UTF-8), Enter, Backspace, Delete, Left/Right, Home/End, Up/Down
 * (history), Ctrl-A/E/B/F/P/N/D/H/K/U/W/L, Alt-B/F (word moves), Tab (completion through a
 * callback), Ctrl-C (abandon the line), Ctrl-D on an empty line (end of input).  Long lines
 * scroll horizontally.  The editor writes to out_fd only; it does not own either fd. */
#ifndef QMP_LINEEDIT_H
#define QMP_LINEEDIT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct QmpLineEdit QmpLineEdit;

typedef enum {
    QMP_LE_MORE,      /* all input used, the line is not finished */
    QMP_LE_LINE,      /* *line holds a finished line (g_free) */
    QMP_LE_EOF,       /* Ctrl-D on an empty line */
    QMP_LE_INTERRUPT, /* Ctrl-C: the line was abandoned */
} QmpLeResult;

/* Returns the completions (g_free'd strings) of `word`, the text before the cursor. */
typedef GPtrArray *(*QmpLeCompleteFn)(const char *word, void *opaque);

/* `in_fd` is only used for raw mode; `out_fd` receives prompt and echo. */
QmpLineEdit *qmp_lineedit_new(int in_fd, int out_fd);
/* Frees the editor; leaves raw mode if it is on. */
void qmp_lineedit_free(QmpLineEdit *le);

/* Puts the terminal into (or out of) raw mode: no echo, no line buffering, no signals, but
 * output post-processing kept so "\n" still moves to column 0. */
bool qmp_lineedit_set_raw(QmpLineEdit *le, bool raw, GError **err);

/* Starts a new line: shows `prompt` (copied) and an empty buffer. */
void qmp_lineedit_start(QmpLineEdit *le, const char *prompt);

/* Processes up to n input bytes; *consumed tells how many were used (input after a
 * finished line stays for the next line).  Escape sequences may be split across calls. */
QmpLeResult qmp_lineedit_feed(QmpLineEdit *le, const char *bytes, size_t n, size_t *consumed,
                              char **line);

/* Erases the prompt line so other output can be printed, and draws it again. */
void qmp_lineedit_hide(QmpLineEdit *le);
void qmp_lineedit_show(QmpLineEdit *le);

void qmp_lineedit_set_completion(QmpLineEdit *le, QmpLeCompleteFn fn, void *opaque);

/* History: entries are added by the caller (empty lines and repeats are skipped); at most
 * QMP_LE_HISTORY_MAX are kept.  The file holds one entry per line. */
#define QMP_LE_HISTORY_MAX 1000
void qmp_lineedit_history_add(QmpLineEdit *le, const char *line);
/* A missing file is not an error. */
bool qmp_lineedit_history_load(QmpLineEdit *le, const char *path, GError **err);
bool qmp_lineedit_history_save(QmpLineEdit *le, const char *path, GError **err);
unsigned qmp_lineedit_history_len(QmpLineEdit *le);

#endif
