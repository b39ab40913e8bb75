/* qmp_stream: the lexer and message framing of QEMU's JSON dialect (see qmp_stream.h).
 *
 * The lexer is a byte-at-a-time state machine whose transitions reproduce QEMU 5.0's
 * json-lexer.c table: a token ends either on a byte that belongs to it (a quote, a
 * structural character) or on the first byte that does not (numbers and keywords: that
 * byte is then looked at again from the start state).  Bad bytes become a "stray" error
 * and put the lexer into recovery, which skips to a structural or control character.
 *
 * All text of the message being collected lives in one buffer: the completed tokens, then
 * the token being lexed.  Tokens are (type, offset, length) triples, 12 bytes each, so the
 * worst case per stream is about 2 x max_token_size + 12 x max_token_count bytes. */
#include "qmp_stream.h"

#include "mb_error.h"

#include <string.h>

enum {
    L_START,
    L_DQ,
    L_DQ_ESC,
    L_SQ,
    L_SQ_ESC,
    L_ZERO,
    L_SIGN,
    L_DIGITS,
    L_MANT,
    L_MANT_DIGITS,
    L_EXP_E,
    L_EXP_SIGN,
    L_EXP_DIGITS,
    L_KEYWORD,
    L_RECOVERY,
};

typedef enum {
    T_STAY,    /* byte joins the token; go to state `arg` */
    T_EMIT,    /* byte ends the token (token type `arg`) */
    T_EMIT_LA, /* token (type `arg`) ended before this byte; look at it again */
    T_ERROR,   /* byte is not acceptable: stray error, then recovery */
    T_SKIP,    /* whitespace between tokens */
    T_RESTART, /* recovery found a resynchronisation point; look at the byte again */
} TransKind;

typedef struct {
    TransKind kind;
    int arg;
} Trans;

struct QmpStream {
    QmpStreamLimits lim;
    QmpStreamEmit emit;
    void *opaque;
    int state;
    GString *text;    /* completed tokens' text, then the current token */
    size_t cur_start; /* where the current token starts in text */
    QmpToken *toks;
    size_t ntok, cap;
    size_t token_size; /* total length of the completed tokens */
    long brace, bracket;
    bool stop;
};

static Trans tr(TransKind k, int arg)
{
    return (Trans){ k, arg };
}

static bool is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static Trans next(int state, unsigned c)
{
    switch (state) {
    case L_START:
        switch (c) {
        case '"': return tr(T_STAY, L_DQ);
        case '\'': return tr(T_STAY, L_SQ);
        case '0': return tr(T_STAY, L_ZERO);
        case '-': return tr(T_STAY, L_SIGN);
        case '{': return tr(T_EMIT, QMP_TOK_LCURLY);
        case '}': return tr(T_EMIT, QMP_TOK_RCURLY);
        case '[': return tr(T_EMIT, QMP_TOK_LSQUARE);
        case ']': return tr(T_EMIT, QMP_TOK_RSQUARE);
        case ',': return tr(T_EMIT, QMP_TOK_COMMA);
        case ':': return tr(T_EMIT, QMP_TOK_COLON);
        case ' ':
        case '\t':
        case '\r':
        case '\n': return tr(T_SKIP, 0);
        }
        if (c >= '1' && c <= '9')
            return tr(T_STAY, L_DIGITS);
        if (c >= 'a' && c <= 'z')
            return tr(T_STAY, L_KEYWORD);
        return tr(T_ERROR, 0);
    case L_DQ:
    case L_SQ:
        if (c < 0x20 || c > 0xFD)
            return tr(T_ERROR, 0);
        if (c == '\\')
            return tr(T_STAY, state == L_DQ ? L_DQ_ESC : L_SQ_ESC);
        if (c == (state == L_DQ ? '"' : '\''))
            return tr(T_EMIT, QMP_TOK_STRING);
        return tr(T_STAY, state);
    case L_DQ_ESC:
    case L_SQ_ESC:
        /* Any printable byte is accepted here; the parser rejects bad escapes. */
        if (c < 0x20 || c > 0xFD)
            return tr(T_ERROR, 0);
        return tr(T_STAY, state == L_DQ_ESC ? L_DQ : L_SQ);
    case L_ZERO:
        if (is_digit(c))
            return tr(T_ERROR, 0);
        if (c == '.')
            return tr(T_STAY, L_MANT);
        return tr(T_EMIT_LA, QMP_TOK_INTEGER);
    case L_SIGN:
        if (c == '0')
            return tr(T_STAY, L_ZERO);
        if (c >= '1' && c <= '9')
            return tr(T_STAY, L_DIGITS);
        return tr(T_ERROR, 0);
    case L_DIGITS:
        if (is_digit(c))
            return tr(T_STAY, L_DIGITS);
        if (c == 'e' || c == 'E')
            return tr(T_STAY, L_EXP_E);
        if (c == '.')
            return tr(T_STAY, L_MANT);
        return tr(T_EMIT_LA, QMP_TOK_INTEGER);
    case L_MANT: return is_digit(c) ? tr(T_STAY, L_MANT_DIGITS) : tr(T_ERROR, 0);
    case L_MANT_DIGITS:
        if (is_digit(c))
            return tr(T_STAY, L_MANT_DIGITS);
        if (c == 'e' || c == 'E')
            return tr(T_STAY, L_EXP_E);
        return tr(T_EMIT_LA, QMP_TOK_FLOAT);
    case L_EXP_E:
        if (c == '+' || c == '-')
            return tr(T_STAY, L_EXP_SIGN);
        return is_digit(c) ? tr(T_STAY, L_EXP_DIGITS) : tr(T_ERROR, 0);
    case L_EXP_SIGN: return is_digit(c) ? tr(T_STAY, L_EXP_DIGITS) : tr(T_ERROR, 0);
    case L_EXP_DIGITS: return is_digit(c) ? tr(T_STAY, L_EXP_DIGITS) : tr(T_EMIT_LA, QMP_TOK_FLOAT);
    case L_KEYWORD:
        return (c >= 'a' && c <= 'z') ? tr(T_STAY, L_KEYWORD) : tr(T_EMIT_LA, QMP_TOK_KEYWORD);
    case L_RECOVERY:
        /* Structural characters, control characters other than tab and the impossible
         * UTF-8 bytes are where a new message can start. */
        if ((c < 0x20 && c != '\t') || c >= 0xFE || strchr("[]{}:,", (int)c))
            return tr(T_RESTART, 0);
        return tr(T_STAY, L_RECOVERY);
    }
    g_assert_not_reached();
}

void qmp_stream_default_limits(QmpStreamLimits *l)
{
    l->max_token_size = QMP_STREAM_MAX_TOKEN_SIZE;
    l->max_token_count = QMP_STREAM_MAX_TOKEN_COUNT;
    l->max_nesting = QMP_STREAM_MAX_NESTING;
}

QmpStream *qmp_stream_new(const QmpStreamLimits *limits, QmpStreamEmit emit, void *opaque)
{
    QmpStream *s = g_new0(QmpStream, 1);

    if (limits)
        s->lim = *limits;
    else
        qmp_stream_default_limits(&s->lim);
    /* Offsets are 32-bit and the buffer holds up to twice the limit. */
    g_assert(s->lim.max_token_size > 0 && s->lim.max_token_size <= ((size_t)1 << 30));
    g_assert(s->lim.max_token_count > 0 && s->lim.max_nesting > 0);
    s->emit = emit;
    s->opaque = opaque;
    s->state = L_START;
    s->text = g_string_sized_new(256);
    return s;
}

void qmp_stream_free(QmpStream *s)
{
    if (!s)
        return;
    g_string_free(s->text, TRUE);
    g_free(s->toks);
    g_free(s);
}

void qmp_stream_stop(QmpStream *s)
{
    s->stop = true;
}

size_t qmp_stream_buffered(const QmpStream *s)
{
    return s->text->allocated_len + s->cap * sizeof(QmpToken);
}

/* Forgets the message being collected (QEMU resets its streamer after every emission),
 * and gives back memory a big message used. */
static void reset_message(QmpStream *s)
{
    s->brace = s->bracket = 0;
    s->ntok = 0;
    s->token_size = 0;
    s->cur_start = 0;
    g_string_truncate(s->text, 0);
    if (s->text->allocated_len > 65536) {
        g_string_free(s->text, TRUE);
        s->text = g_string_sized_new(256);
    }
    if (s->cap > 4096) {
        g_free(s->toks);
        s->toks = NULL;
        s->cap = 0;
    }
}

static void emit_error(QmpStream *s, GError *err)
{
    reset_message(s);
    s->emit(s->opaque, NULL, err);
}

static void emit_parse(QmpStream *s)
{
    json_object *v = NULL;
    GError *err = NULL;

    qmp_json_parse_tokens(s->text->str, s->toks, s->ntok, &v, &err);
    reset_message(s);
    s->emit(s->opaque, v, err);
}

static GError *limit_error(const char *what)
{
    return g_error_new(MB_ERROR, MB_ERR_GENERIC, "JSON %s limit exceeded", what);
}

/* A token is complete: the text from cur_start to the end of the buffer. */
static void process_token(QmpStream *s, int type)
{
    size_t len = s->text->len - s->cur_start;

    switch (type) {
    case QMP_TOK_LCURLY: s->brace++; break;
    case QMP_TOK_RCURLY: s->brace--; break;
    case QMP_TOK_LSQUARE: s->bracket++; break;
    case QMP_TOK_RSQUARE: s->bracket--; break;
    default: break;
    }
    if (s->token_size + len + 1 > s->lim.max_token_size) {
        emit_error(s, limit_error("token size"));
        return;
    }
    if (s->ntok + 1 > s->lim.max_token_count) {
        emit_error(s, limit_error("token count"));
        return;
    }
    if (s->brace + s->bracket > (long)s->lim.max_nesting) {
        emit_error(s, limit_error("nesting depth"));
        return;
    }
    if (s->ntok == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->toks = g_renew(QmpToken, s->toks, s->cap);
    }
    s->toks[s->ntok++] =
        (QmpToken){ .type = (uint32_t)type, .len = (uint32_t)len, .off = (uint32_t)s->cur_start };
    s->token_size += len;
    s->cur_start = s->text->len;

    /* Keep collecting while a container is open and nothing closed too much. */
    if ((s->brace > 0 || s->bracket > 0) && s->brace >= 0 && s->bracket >= 0)
        return;
    emit_parse(s);
}

static void stray(QmpStream *s)
{
    const char *tok = s->text->str + s->cur_start;
    size_t len = s->text->len - s->cur_start;

    /* QEMU prints the token with %s, so an embedded NUL ends it. */
    len = strnlen(tok, len);
    emit_error(
        s, g_error_new(MB_ERROR, MB_ERR_GENERIC, "JSON parse error, stray '%.*s'", (int)len, tok));
}

static void drop_token(QmpStream *s)
{
    g_string_truncate(s->text, s->cur_start);
}

static void feed_char(QmpStream *s, unsigned char ch, bool flush)
{
    bool consumed = false;

    while (flush ? s->state != L_START : !consumed) {
        Trans t = next(s->state, ch);
        bool takes = t.kind == T_STAY || t.kind == T_EMIT || t.kind == T_ERROR || t.kind == T_SKIP;

        consumed = takes && !flush;
        if (consumed)
            g_string_append_c(s->text, (char)ch);
        switch (t.kind) {
        case T_STAY:
            if (t.arg == L_RECOVERY)
                drop_token(s);
            s->state = t.arg;
            break;
        case T_EMIT:
        case T_EMIT_LA:
            process_token(s, t.arg);
            drop_token(s); /* no-op unless the message was just emitted or dropped */
            s->state = L_START;
            break;
        case T_ERROR:
            stray(s);
            s->state = L_RECOVERY;
            break;
        case T_SKIP:
        case T_RESTART:
            drop_token(s);
            s->state = L_START;
            break;
        }
    }

    /* A single token may not grow without bound either. */
    if (s->text->len - s->cur_start > s->lim.max_token_size) {
        emit_error(s, limit_error("token size"));
        s->state = L_START;
    }
}

size_t qmp_stream_feed(QmpStream *s, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        feed_char(s, (unsigned char)buf[i], false);
        if (s->stop) {
            s->stop = false;
            return i + 1;
        }
    }
    return len;
}

void qmp_stream_flush(QmpStream *s)
{
    feed_char(s, 0, true);
    g_assert(s->state == L_START);
    if (s->ntok)
        emit_parse(s);
    else
        reset_message(s);
    s->stop = false;
}

/* ---- one complete value (QEMU's qobject_from_json) ---- */

typedef struct {
    bool have;
    json_object *result;
    GError *err;
} OneValue;

static void collect_one(void *opaque, json_object *v, GError *err)
{
    OneValue *o = opaque;

    if (o->have) {
        json_object_put(o->result);
        o->result = NULL;
        o->have = false;
        g_set_error(&o->err, MB_ERROR, MB_ERR_GENERIC, "Expecting at most one JSON value");
    }
    if (o->err) {
        json_object_put(v);
        if (err)
            g_error_free(err);
        return;
    }
    if (err) {
        o->err = err;
        return;
    }
    o->have = true;
    o->result = v;
}

bool qmp_json_parse(const char *text, size_t len, json_object **out, GError **err)
{
    OneValue o = { 0 };
    QmpStream *s = qmp_stream_new(NULL, collect_one, &o);

    qmp_stream_feed(s, text, len);
    qmp_stream_flush(s);
    qmp_stream_free(s);
    *out = NULL;
    if (!o.have && !o.err)
        g_set_error(&o.err, MB_ERROR, MB_ERR_GENERIC, "Expecting a JSON value");
    if (o.err) {
        g_propagate_error(err, o.err);
        return false;
    }
    *out = o.result;
    return true;
}
