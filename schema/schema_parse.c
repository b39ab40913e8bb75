/* schema_parse: the QAPI schema language's lexer and expression parser.
 *
 * Behaves like QEMU 5.0's scripts/qapi/parser.py, token for token, so that the same input
 * fails at the same place with the same words: single-quoted strings of printable ASCII
 * whose only escape is a backslash pair, true/false, lists, dicts without duplicate keys,
 * '#' comments, and '##' documentation blocks handed to the loader line by line.  Error
 * columns count characters (not bytes), as QEMU's do, with tab stops every eight columns.
 *
 * Unlike QEMU (whose Python recursion simply overflows) nesting is capped, so hostile
 * input cannot exhaust the stack; and input ending inside a list or dict is an ordinary
 * "expected ..." error where QEMU's parser raises a TypeError. */
#include "schema_int.h"

#include <string.h>

#define MAX_NESTING 64

struct SchParser {
    Schema *s;
    const char *file;
    char *src; /* NUL-free view not required; always ends with '\n' */
    size_t len;
    size_t cursor;
    size_t pos;      /* start of the current token */
    size_t line_pos; /* start of the current line */
    int line;
    char tok; /* 0 at end of input */
    const char *val_str;
    size_t val_len; /* doc lines */
    int depth;
    size_t col_at; /* column cache: offset and column reached */
    int col;
};

SchParser *sch_parser_new(Schema *s, const char *file, const char *text, size_t len)
{
    SchParser *p = g_new0(SchParser, 1);
    bool nl = len > 0 && text[len - 1] == '\n';

    p->s = s;
    p->file = file;
    p->len = len + (nl ? 0 : 1);
    p->src = g_malloc(p->len + 1);
    memcpy(p->src, text, len);
    p->src[p->len - 1] = '\n';
    p->src[p->len] = '\0';
    p->line = 1;
    p->col = 1;
    return p;
}

void sch_parser_free(SchParser *p)
{
    if (p) {
        g_free(p->src);
        g_free(p);
    }
}

char sch_parser_tok(const SchParser *p)
{
    return p->tok;
}

/* Column of byte offset `at` on the current line, counted in characters.  Positions are
 * asked for in increasing order, so the count resumes where the last one stopped: a
 * schema on one long line stays linear. */
static int column_of(SchParser *p, size_t at)
{
    if (p->col_at < p->line_pos || p->col_at > at) {
        p->col_at = p->line_pos;
        p->col = 1;
    }
    for (; p->col_at < at; p->col_at++) {
        unsigned char ch = (unsigned char)p->src[p->col_at];
        if (ch == '\t') /* next tab stop (QEMU's own formula wraps: (col + 7) % 8 + 1) */
            p->col = ((p->col - 1) / 8 + 1) * 8 + 1;
        else if ((ch & 0xc0) != 0x80) /* UTF-8 continuation bytes are not characters */
            p->col++;
    }
    return p->col;
}

SchemaPos sch_parser_pos(SchParser *p)
{
    SchemaPos pos = { p->file, p->line, column_of(p, p->pos) };
    return pos;
}

static bool parse_error(SchParser *p, GError **err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static bool parse_error(SchParser *p, GError **err, const char *fmt, ...)
{
    SchemaPos pos = sch_parser_pos(p);
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    sch_error(err, &pos, "%s", msg);
    g_free(msg);
    return false;
}

/* Python's str.isspace() for the ASCII range. */
static bool is_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

static bool stray(SchParser *p, GError **err)
{
    GString *word = g_string_new(NULL);

    for (size_t i = p->pos; i < p->len; i++) {
        unsigned char ch = (unsigned char)p->src[i];
        if ((ch && strchr("[]{}:,'\"", ch)) || is_space(ch))
            break;
        if (ch < 0x20 || ch == 0x7f) /* keep messages printable */
            g_string_append_printf(word, "\\x%02x", ch);
        else
            g_string_append_c(word, (char)ch);
    }
    parse_error(p, err, "stray '%s'", word->str);
    g_string_free(word, TRUE);
    return false;
}

static bool lex_string(SchParser *p, GError **err)
{
    GString *str = g_string_new(NULL);
    bool esc = false;

    for (;;) {
        unsigned char ch = (unsigned char)p->src[p->cursor++];
        if (ch == '\n') {
            g_string_free(str, TRUE);
            return parse_error(p, err, "missing terminating \"'\"");
        }
        if (esc) {
            /* QEMU knows only "\\": the schema has no use for other escapes */
            if (ch != '\\') {
                g_string_free(str, TRUE);
                if (ch < 0x20 || ch >= 0x7f)
                    return parse_error(p, err, "unknown escape \\x%02x", ch);
                return parse_error(p, err, "unknown escape \\%c", ch);
            }
            esc = false;
        } else if (ch == '\\') {
            esc = true;
            continue;
        } else if (ch == '\'') {
            p->val_str = sch_strndup(p->s, str->str, str->len);
            g_string_free(str, TRUE);
            return true;
        }
        if (ch < 32 || ch >= 127) {
            g_string_free(str, TRUE);
            return parse_error(p, err, "funny character in string");
        }
        g_string_append_c(str, (char)ch);
    }
}

static bool starts_with(const SchParser *p, const char *word)
{
    size_t n = strlen(word);
    return p->pos + n <= p->len && memcmp(p->src + p->pos, word, n) == 0;
}

/* Moves to the next token (QEMU's accept()).  With skip_comment, '#' comments vanish
 * unless they start a doc block ('##'); without it every comment line is a token. */
static bool accept(SchParser *p, bool skip_comment, GError **err)
{
    for (;;) {
        char ch = p->src[p->cursor];
        p->tok = ch;
        p->pos = p->cursor++;
        p->val_str = NULL;
        if (ch == '#') {
            if (p->src[p->cursor] == '#')
                skip_comment = false;
            p->cursor =
                (size_t)((char *)memchr(p->src + p->cursor, '\n', p->len - p->cursor) - p->src);
            if (!skip_comment) {
                p->val_str = p->src + p->pos;
                p->val_len = p->cursor - p->pos;
                return true;
            }
        } else if (ch != '\0' && strchr("{}:,[]", ch)) {
            return true;
        } else if (ch == '\'') {
            return lex_string(p, err);
        } else if (starts_with(p, "true")) {
            p->tok = 't';
            p->cursor += 3;
            return true;
        } else if (starts_with(p, "false")) {
            p->tok = 'f';
            p->cursor += 4;
            return true;
        } else if (ch == '\n') {
            if (p->cursor == p->len) {
                p->tok = 0;
                return true;
            }
            p->line++;
            p->line_pos = p->cursor;
        } else if (!is_space((unsigned char)ch)) {
            return stray(p, err);
        }
    }
}

bool sch_parser_start(SchParser *p, GError **err)
{
    return accept(p, true, err);
}

static QVal *new_val(SchParser *p, QValKind kind)
{
    QVal *v = sch_alloc(p->s, sizeof(*v));
    v->kind = kind;
    v->pos = sch_parser_pos(p);
    return v;
}

static QVal *get_expr(SchParser *p, bool nested, GError **err);

static bool get_members(SchParser *p, QVal *d, GError **err)
{
    GPtrArray *keys = g_ptr_array_new(), *vals = g_ptr_array_new();
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    bool ok = false;

    if (p->tok == '}') {
        ok = accept(p, true, err);
        goto out;
    }
    if (p->tok != '\'') {
        parse_error(p, err, "expected string or '}'");
        goto out;
    }
    for (;;) {
        const char *key = p->val_str;
        QVal *v;
        if (!accept(p, true, err))
            goto out;
        if (p->tok != ':') {
            parse_error(p, err, "expected ':'");
            goto out;
        }
        if (!accept(p, true, err))
            goto out;
        if (!g_hash_table_add(seen, (gpointer)key)) {
            parse_error(p, err, "duplicate key '%s'", key);
            goto out;
        }
        if (!(v = get_expr(p, true, err)))
            goto out;
        g_ptr_array_add(keys, (gpointer)key);
        g_ptr_array_add(vals, v);
        if (p->tok == '}') {
            ok = accept(p, true, err);
            goto out;
        }
        if (p->tok != ',') {
            parse_error(p, err, "expected ',' or '}'");
            goto out;
        }
        if (!accept(p, true, err))
            goto out;
        if (p->tok != '\'') {
            parse_error(p, err, "expected string");
            goto out;
        }
    }
out:
    d->keys = (const char **)sch_ptrs(p->s, keys, &d->n);
    d->items = (QVal **)sch_ptrs(p->s, vals, &d->n);
    g_ptr_array_free(keys, TRUE);
    g_ptr_array_free(vals, TRUE);
    g_hash_table_destroy(seen);
    return ok;
}

static bool get_values(SchParser *p, QVal *l, GError **err)
{
    GPtrArray *vals = g_ptr_array_new();
    bool ok = false;

    if (p->tok == ']') {
        ok = accept(p, true, err);
        goto out;
    }
    if (!p->tok || !strchr("{['tf", p->tok)) {
        parse_error(p, err, "expected '{', '[', ']', string, boolean or 'null'");
        goto out;
    }
    for (;;) {
        QVal *v = get_expr(p, true, err);
        if (!v)
            goto out;
        g_ptr_array_add(vals, v);
        if (p->tok == ']') {
            ok = accept(p, true, err);
            goto out;
        }
        if (p->tok != ',') {
            parse_error(p, err, "expected ',' or ']'");
            goto out;
        }
        if (!accept(p, true, err))
            goto out;
    }
out:
    l->items = (QVal **)sch_ptrs(p->s, vals, &l->n);
    g_ptr_array_free(vals, TRUE);
    return ok;
}

static QVal *get_container(SchParser *p, GError **err)
{
    QVal *v = new_val(p, p->tok == '{' ? QV_DICT : QV_LIST);
    bool ok;

    if (++p->depth > MAX_NESTING) {
        parse_error(p, err, "nesting too deep");
        return NULL;
    }
    if (!accept(p, true, err))
        return NULL;
    ok = v->kind == QV_DICT ? get_members(p, v, err) : get_values(p, v, err);
    p->depth--;
    return ok ? v : NULL;
}

static QVal *get_expr(SchParser *p, bool nested, GError **err)
{
    QVal *v;

    if (p->tok != '{' && !nested) {
        parse_error(p, err, "expected '{'");
        return NULL;
    }
    if (p->tok == '{' || p->tok == '[')
        return get_container(p, err);
    if (p->tok && strchr("'tf", p->tok)) {
        v = new_val(p, p->tok == '\'' ? QV_STR : QV_BOOL);
        v->str = p->val_str;
        v->b = p->tok == 't';
        return accept(p, true, err) ? v : NULL;
    }
    parse_error(p, err, "expected '{', '[', string, boolean or 'null'");
    return NULL;
}

QVal *sch_parser_expr(SchParser *p, GError **err)
{
    return get_expr(p, false, err);
}

/* One comment line of a definition's doc block; QEMU's QAPIDoc.append(), reduced to what
 * decides the block's symbol and the line-format errors. */
static bool doc_line(SchParser *p, const char *line, size_t n, bool first, const char **symbol,
                     GError **err)
{
    line++, n--; /* the '#' */
    if (n == 0)
        return true;
    if (line[0] != ' ')
        return parse_error(p, err, "missing space after #");
    line++, n--;
    if (!first || n == 0 || line[0] != '@')
        return true;
    if (line[n - 1] != ':')
        return parse_error(p, err, "line should end with ':'");
    if (n == 2)
        return parse_error(p, err, "invalid name");
    *symbol = sch_strndup(p->s, line + 1, n - 2);
    return true;
}

bool sch_parser_doc(SchParser *p, const char **symbol, GError **err)
{
    bool first = true;

    *symbol = NULL;
    if (p->val_len != 2 || memcmp(p->val_str, "##", 2) != 0)
        return parse_error(p, err, "junk after '##' at start of documentation comment");
    if (!accept(p, false, err))
        return false;
    while (p->tok == '#') {
        if (p->val_len >= 2 && memcmp(p->val_str, "##", 2) == 0) {
            if (p->val_len != 2)
                return parse_error(p, err, "junk after '##' at end of documentation comment");
            return accept(p, true, err);
        }
        if (!doc_line(p, p->val_str, p->val_len, first, symbol, err))
            return false;
        first = false;
        if (!accept(p, false, err))
            return false;
    }
    return parse_error(p, err, "documentation comment must end with '##'");
}
