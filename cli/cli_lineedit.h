/* cli_lineedit: a small single-line terminal editor with history, for `migbench qmp`.
 *
 * A built-in editor rather than readline/libedit keeps migbench free of those
 * dependencies, and a push interface (feed it the bytes read from the terminal) lets the
 * shell poll the terminal and the QMP socket together, printing events above the prompt
 * while the user types (cli_lineedit_hide / _show).
 *
 * Keys: printable text (UTF-8), Enter, Backspace, Delete, Left/Right, Home/End, Up/Down
 * (history), Ctrl-A/E/B/F/P/N/D/H/K/U/W/L, Alt-B/F (word moves), Tab (completion through a
 * callback), Ctrl-C (abandon the line), Ctrl-D on an empty line (end of input).  Long lines
 * scroll horizontally.  The editor writes to out_fd only; it does not own either fd.
 *
 * It lives in cli/ with the cli_ prefix: it is a terminal helper of the command line, not
 * part of the QMP protocol (it knows nothing of QMP), and cli_ marks cli/'s shared helpers
 * apart from cmd_, which names one subcommand per file. */
#ifndef CLI_LINEEDIT_H
#define CLI_LINEEDIT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct CliLineEdit CliLineEdit;

typedef enum {
    CLI_LE_MORE,      /* all input used, the line is not finished */
    CLI_LE_LINE,      /* *line holds a finished line (g_free) */
    CLI_LE_EOF,       /* Ctrl-D on an empty line */
    CLI_LE_INTERRUPT, /* Ctrl-C: the line was abandoned */
} CliLeResult;

/* Returns the completions (g_free'd strings) of `word`, the text before the cursor. */
typedef GPtrArray *(*CliLeCompleteFn)(const char *word, void *opaque);

/* `in_fd` is only used for raw mode; `out_fd` receives prompt and echo. */
CliLineEdit *cli_lineedit_new(int in_fd, int out_fd);
/* Frees the editor; leaves raw mode if it is on. */
void cli_lineedit_free(CliLineEdit *le);

/* Puts the terminal into (or out of) raw mode: no echo, no line buffering, no signals, but
 * output post-processing kept so "\n" still moves to column 0. */
bool cli_lineedit_set_raw(CliLineEdit *le, bool raw, GError **err);

/* Starts a new line: shows `prompt` (copied) and an empty buffer. */
void cli_lineedit_start(CliLineEdit *le, const char *prompt);

/* Processes up to n input bytes; *consumed tells how many were used (input after a
 * finished line stays for the next line).  Escape sequences may be split across calls. */
CliLeResult cli_lineedit_feed(CliLineEdit *le, const char *bytes, size_t n, size_t *consumed,
                              char **line);

/* Erases the prompt line so other output can be printed, and draws it again. */
void cli_lineedit_hide(CliLineEdit *le);
void cli_lineedit_show(CliLineEdit *le);

void cli_lineedit_set_completion(CliLineEdit *le, CliLeCompleteFn fn, void *opaque);

/* History: entries are added by the caller (empty lines and repeats are skipped); at most
 * CLI_LE_HISTORY_MAX are kept.  The file holds one entry per line. */
#define CLI_LE_HISTORY_MAX 1000
void cli_lineedit_history_add(CliLineEdit *le, const char *line);
/* A missing file is not an error. */
bool cli_lineedit_history_load(CliLineEdit *le, const char *path, GError **err);
bool cli_lineedit_history_save(CliLineEdit *le, const char *path, GError **err);
unsigned cli_lineedit_history_len(CliLineEdit *le);

#endif
