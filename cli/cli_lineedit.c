/* cli_lineedit: the line editor of `migbench qmp` (see cli_lineedit.h).
 *
 * The buffer holds UTF-8 bytes; the cursor is a byte offset that always sits on a
 * character boundary, and display positions count characters (each one column wide,
 * which is right for the ASCII that QMP commands are made of).  Every change redraws the
 * whole line with a few ANSI sequences (carriage return, erase to end of line, cursor
 * forward), which every terminal emulator understands. */
#include "cli_lineedit.h"

#include "mb_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define KEY_CTRL(c) ((c)&0x1f)

struct CliLineEdit {
    int in_fd, out_fd;
    bool raw;
    struct termios saved;
    char *prompt;
    GString *buf;
    size_t pos;  /* cursor, byte offset into buf */
    bool hidden; /* prompt erased by cli_lineedit_hide */
    /* escape sequence being received */
    char esc[16];
    size_t esc_len;
    /* history */
    GPtrArray *hist;  /* char *, oldest first */
    guint hist_index; /* entry being shown; hist->len = the line being edited */
    char *hist_saved; /* the line being edited while browsing */
    /* completion */
    CliLeCompleteFn complete;
    void *complete_opaque;
    bool last_was_tab;
};

CliLineEdit *cli_lineedit_new(int in_fd, int out_fd)
{
    CliLineEdit *le = g_new0(CliLineEdit, 1);

    le->in_fd = in_fd;
    le->out_fd = out_fd;
    le->prompt = g_strdup("");
    le->buf = g_string_new(NULL);
    le->hist = g_ptr_array_new_with_free_func(g_free);
    return le;
}

void cli_lineedit_free(CliLineEdit *le)
{
    if (!le)
        return;
    if (le->raw)
        cli_lineedit_set_raw(le, false, NULL);
    g_free(le->prompt);
    g_string_free(le->buf, TRUE);
    g_ptr_array_free(le->hist, TRUE);
    g_free(le->hist_saved);
    g_free(le);
}

bool cli_lineedit_set_raw(CliLineEdit *le, bool raw, GError **err)
{
    struct termios t;

    if (raw == le->raw)
        return true;
    if (!raw) {
        tcsetattr(le->in_fd, TCSAFLUSH, &le->saved);
        le->raw = false;
        return true;
    }
    if (tcgetattr(le->in_fd, &le->saved) < 0) {
        mb_error_set(err, "Cannot read terminal settings: %s", g_strerror(errno));
        return false;
    }
    t = le->saved;
    t.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    t.c_cflag |= CS8;
    t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(le->in_fd, TCSAFLUSH, &t) < 0) {
        mb_error_set(err, "Cannot set terminal to raw mode: %s", g_strerror(errno));
        return false;
    }
    le->raw = true;
    return true;
}

static void out(CliLineEdit *le, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(le->out_fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void outs(CliLineEdit *le, const char *s)
{
    out(le, s, strlen(s));
}

static size_t columns(CliLineEdit *le)
{
    struct winsize ws;

    if (ioctl(le->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Characters in buf[from, to). */
static size_t chars(const char *s, size_t from, size_t to)
{
    size_t n = 0;

    for (size_t i = from; i < to; i++)
        n += !is_cont((unsigned char)s[i]);
    return n;
}

/* Byte offset after skipping `n` characters from `from`. */
static size_t skip_chars(const char *s, size_t len, size_t from, size_t n)
{
    size_t i = from;

    while (i < len && n) {
        i++;
        while (i < len && is_cont((unsigned char)s[i]))
            i++;
        n--;
    }
    return i;
}

static void refresh(CliLineEdit *le)
{
    size_t cols = columns(le), plen = chars(le->prompt, 0, strlen(le->prompt));
    size_t avail = cols > plen + 1 ? cols - plen - 1 : 1;
    size_t cur = chars(le->buf->str, 0, le->pos), total = chars(le->buf->str, 0, le->buf->len);
    size_t first = cur >= avail ? cur - avail + 1 : 0; /* scroll to keep the cursor visible */
    size_t start = skip_chars(le->buf->str, le->buf->len, 0, first);
    size_t end = skip_chars(le->buf->str, le->buf->len, start, MIN(avail, total - first));
    GString *s = g_string_new("\r");

    g_string_append(s, le->prompt);
    g_string_append_len(s, le->buf->str + start, (gssize)(end - start));
    g_string_append(s, "\x1b[0K\r");
    if (plen + cur - first)
        g_string_append_printf(s, "\x1b[%zuC", plen + cur - first);
    out(le, s->str, s->len);
    g_string_free(s, TRUE);
    le->hidden = false;
}

void cli_lineedit_start(CliLineEdit *le, const char *prompt)
{
    g_free(le->prompt);
    le->prompt = g_strdup(prompt);
    g_string_truncate(le->buf, 0);
    le->pos = 0;
    le->esc_len = 0;
    le->hist_index = le->hist->len;
    g_clear_pointer(&le->hist_saved, g_free);
    le->last_was_tab = false;
    refresh(le);
}

void cli_lineedit_hide(CliLineEdit *le)
{
    if (!le->hidden)
        outs(le, "\r\x1b[0K");
    le->hidden = true;
}

void cli_lineedit_show(CliLineEdit *le)
{
    refresh(le);
}

void cli_lineedit_set_completion(CliLineEdit *le, CliLeCompleteFn fn, void *opaque)
{
    le->complete = fn;
    le->complete_opaque = opaque;
}

/* ---- editing ---- */

static void move_left(CliLineEdit *le)
{
    while (le->pos > 0 && is_cont((unsigned char)le->buf->str[--le->pos]))
        ;
}

static void move_right(CliLineEdit *le)
{
    le->pos = skip_chars(le->buf->str, le->buf->len, le->pos, 1);
}

static void delete_range(CliLineEdit *le, size_t from, size_t to)
{
    g_string_erase(le->buf, (gssize)from, (gssize)(to - from));
    le->pos = from;
}

static size_t word_start(CliLineEdit *le)
{
    size_t i = le->pos;

    while (i > 0 && le->buf->str[i - 1] == ' ')
        i--;
    while (i > 0 && le->buf->str[i - 1] != ' ')
        i--;
    return i;
}

static size_t word_end(CliLineEdit *le)
{
    size_t i = le->pos;

    while (i < le->buf->len && le->buf->str[i] == ' ')
        i++;
    while (i < le->buf->len && le->buf->str[i] != ' ')
        i++;
    return i;
}

static void history_show(CliLineEdit *le, int dir)
{
    if (le->hist->len == 0)
        return;
    if (dir < 0 && le->hist_index == 0)
        return;
    if (dir > 0 && le->hist_index >= le->hist->len)
        return;
    if (le->hist_index == le->hist->len) {
        g_free(le->hist_saved);
        le->hist_saved = g_strdup(le->buf->str);
    }
    le->hist_index = (guint)((int)le->hist_index + dir);
    g_string_assign(le->buf, le->hist_index == le->hist->len
                                 ? le->hist_saved
                                 : g_ptr_array_index(le->hist, le->hist_index));
    le->pos = le->buf->len;
}

static void complete(CliLineEdit *le)
{
    size_t ws = word_start(le);
    char *word;
    GPtrArray *cands;

    if (!le->complete)
        return;
    word = g_strndup(le->buf->str + ws, le->pos - ws);
    cands = le->complete(word, le->complete_opaque);
    if (cands && cands->len == 1) {
        const char *c = g_ptr_array_index(cands, 0);
        g_string_insert(le->buf, (gssize)le->pos, c + strlen(word));
        le->pos += strlen(c) - strlen(word);
        g_string_insert_c(le->buf, (gssize)le->pos, ' ');
        le->pos++;
    } else if (cands && cands->len > 1) {
        /* Extend to the longest common prefix; list the candidates on a second Tab. */
        const char *c0 = g_ptr_array_index(cands, 0);
        size_t common = strlen(c0);
        for (guint i = 1; i < cands->len; i++) {
            const char *c = g_ptr_array_index(cands, i);
            size_t k = 0;
            while (k < common && c[k] == c0[k])
                k++;
            common = k;
        }
        if (common > strlen(word)) {
            g_string_insert_len(le->buf, (gssize)le->pos, c0 + strlen(word),
                                (gssize)(common - strlen(word)));
            le->pos += common - strlen(word);
        } else if (le->last_was_tab) {
            outs(le, "\r\n");
            for (guint i = 0; i < cands->len; i++) {
                outs(le, g_ptr_array_index(cands, i));
                outs(le, i + 1 < cands->len ? "  " : "\r\n");
            }
        }
    }
    if (cands)
        g_ptr_array_free(cands, TRUE);
    g_free(word);
}

/* Handles a complete escape sequence. */
static void escape(CliLineEdit *le)
{
    const char *e = le->esc;
    size_t n = le->esc_len;
    char last = e[n - 1];

    if (n == 2 && (e[1] == 'b' || e[1] == 'B')) {
        le->pos = word_start(le);
        return;
    }
    if (n == 2 && (e[1] == 'f' || e[1] == 'F')) {
        le->pos = word_end(le);
        return;
    }
    if (n < 3)
        return;
    if (last == '~') {
        int code = atoi(e + 2);
        if (code == 1 || code == 7)
            le->pos = 0;
        else if (code == 4 || code == 8)
            le->pos = le->buf->len;
        else if (code == 3 && le->pos < le->buf->len)
            delete_range(le, le->pos, skip_chars(le->buf->str, le->buf->len, le->pos, 1));
        return;
    }
    switch (last) {
    case 'A': history_show(le, -1); break;
    case 'B': history_show(le, +1); break;
    case 'C': move_right(le); break;
    case 'D': move_left(le); break;
    case 'H': le->pos = 0; break;
    case 'F': le->pos = le->buf->len; break;
    default: break;
    }
}

/* Collects escape sequence bytes; true once the sequence is complete. */
static bool escape_byte(CliLineEdit *le, unsigned char c)
{
    le->esc[le->esc_len++] = (char)c;
    if (le->esc_len == 2)
        return c != '[' && c != 'O'; /* ESC x: Alt-x, complete */
    if (le->esc_len >= 3 && (c >= 0x40 && c <= 0x7E))
        return true; /* CSI / SS3 final byte */
    if (le->esc_len == sizeof(le->esc) - 1) {
        le->esc_len = 0; /* unknown and too long: drop it */
        return false;
    }
    return false;
}

CliLeResult cli_lineedit_feed(CliLineEdit *le, const char *bytes, size_t n, size_t *consumed,
                              char **line)
{
    *line = NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)bytes[i];
        bool tab = false;

        *consumed = i + 1;
        if (le->esc_len) {
            if (escape_byte(le, c)) {
                escape(le);
                le->esc_len = 0;
                refresh(le);
            }
            continue;
        }
        switch (c) {
        case '\r':
        case '\n':
            le->pos = le->buf->len;
            refresh(le);
            outs(le, "\r\n");
            *line = g_strdup(le->buf->str);
            return CLI_LE_LINE;
        case 0x1b:
            le->esc[0] = 0x1b;
            le->esc_len = 1;
            continue;
        case KEY_CTRL('C'):
            outs(le, "^C\r\n");
            g_string_truncate(le->buf, 0);
            le->pos = 0;
            return CLI_LE_INTERRUPT;
        case KEY_CTRL('D'):
            if (le->buf->len == 0) {
                outs(le, "\r\n");
                return CLI_LE_EOF;
            }
            if (le->pos < le->buf->len)
                delete_range(le, le->pos, skip_chars(le->buf->str, le->buf->len, le->pos, 1));
            break;
        case 0x7f:
        case KEY_CTRL('H'):
            if (le->pos > 0) {
                size_t end = le->pos;
                move_left(le);
                delete_range(le, le->pos, end);
            }
            break;
        case KEY_CTRL('A'): le->pos = 0; break;
        case KEY_CTRL('E'): le->pos = le->buf->len; break;
        case KEY_CTRL('B'): move_left(le); break;
        case KEY_CTRL('F'): move_right(le); break;
        case KEY_CTRL('P'): history_show(le, -1); break;
        case KEY_CTRL('N'): history_show(le, +1); break;
        case KEY_CTRL('K'): g_string_truncate(le->buf, le->pos); break;
        case KEY_CTRL('U'): delete_range(le, 0, le->pos); break;
        case KEY_CTRL('W'): delete_range(le, word_start(le), le->pos); break;
        case KEY_CTRL('L'): outs(le, "\x1b[H\x1b[2J"); break;
        case '\t':
            complete(le);
            tab = true;
            break;
        default:
            if (c < 0x20)
                break; /* other control characters are ignored */
            g_string_insert_c(le->buf, (gssize)le->pos, (char)c);
            le->pos++;
            /* Only redraw once a multi-byte character is complete. */
            if (i + 1 < n && is_cont((unsigned char)bytes[i + 1]))
                continue;
        }
        le->last_was_tab = tab;
        refresh(le);
    }
    *consumed = n;
    return CLI_LE_MORE;
}

/* ---- history ---- */

void cli_lineedit_history_add(CliLineEdit *le, const char *line)
{
    if (!*line || strchr(line, '\n'))
        return;
    if (le->hist->len && !strcmp(g_ptr_array_index(le->hist, le->hist->len - 1), line))
        return;
    g_ptr_array_add(le->hist, g_strdup(line));
    if (le->hist->len > CLI_LE_HISTORY_MAX)
        g_ptr_array_remove_index(le->hist, 0);
    le->hist_index = le->hist->len;
}

unsigned cli_lineedit_history_len(CliLineEdit *le)
{
    return le->hist->len;
}

bool cli_lineedit_history_load(CliLineEdit *le, const char *path, GError **err)
{
    gchar *text;
    gchar **lines;
    GError *local = NULL;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_error_free(local);
            return true;
        }
        mb_error_set(err, "Cannot read history %s: %s", path, local->message);
        g_error_free(local);
        return false;
    }
    lines = g_strsplit(text, "\n", -1);
    for (gchar **l = lines; *l; l++)
        cli_lineedit_history_add(le, *l);
    g_strfreev(lines);
    g_free(text);
    return true;
}

bool cli_lineedit_history_save(CliLineEdit *le, const char *path, GError **err)
{
    GString *s = g_string_new(NULL);
    GError *local = NULL;
    bool ok;

    for (guint i = 0; i < le->hist->len; i++) {
        g_string_append(s, g_ptr_array_index(le->hist, i));
        g_string_append_c(s, '\n');
    }
    ok = g_file_set_contents(path, s->str, (gssize)s->len, &local);
    if (!ok) {
        mb_error_set(err, "Cannot save history %s: %s", path, local->message);
        g_error_free(local);
    }
    g_string_free(s, TRUE);
    return ok;
}
