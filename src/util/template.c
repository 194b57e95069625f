/* template.c - Go's text/template over jansson values (see template.h).
 *
 * Parsing builds a tree in an arena owned by the template; a parse error
 * unwinds with longjmp (everything allocated lives in the arena).
 * Execution holds json_t references and returns errors normally. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/template.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Deeper nesting is refused, so that neither the parser nor the executor
 * can run out of stack. */
#define MAX_DEPTH 200

/* ------------------------------------------------------------ buffers */

typedef struct buf
{
  char *s;
  size_t len, cap;
} buf;

static void
buf_add (buf *b, const char *p, size_t n)
{
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 64;
      while (cap < b->len + n + 1)
        cap *= 2;
      b->s = xrealloc (b->s, cap);
      b->cap = cap;
    }
  if (n)
    memcpy (b->s + b->len, p, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void
buf_adds (buf *b, const char *s)
{
  buf_add (b, s, strlen (s));
}

static void
buf_addc (buf *b, char c)
{
  buf_add (b, &c, 1);
}

static void __attribute__ ((format (printf, 2, 3))) buf_printf (buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = NULL;
  int n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  buf_add (b, s, (size_t) n);
  free (s);
}

static char *
buf_steal (buf *b)
{
  char *s = b->s ? b->s : xstrdup ("");
  b->s = NULL;
  b->len = b->cap = 0;
  return s;
}

/* ------------------------------------------------------------ the tree */

enum arg_kind
{
  A_DOT,   /* . */
  A_FIELD, /* .A.B on dot */
  A_VAR,   /* $x.A.B */
  A_FUNC,  /* an identifier */
  A_LIT,   /* string, number, bool */
  A_NIL,
  A_PIPE, /* (pipeline).A.B */
};

struct pipe;

struct arg
{
  enum arg_kind kind;
  const char *name; /* A_VAR: "$x"; A_FUNC: the function */
  const char **fields;
  size_t nfields;
  json_t *lit;
  struct pipe *pipe;
  size_t pos, end; /* source span, for error messages */
  size_t epos;     /* where Go places a field chain: its second link */
};

struct cmd
{
  struct arg **args;
  size_t n;
  size_t pos, end;
};

struct pipe
{
  const char *decl[2];
  int ndecl;
  bool assign; /* = rather than := */
  struct cmd **cmds;
  size_t n;
  size_t pos;
};

enum node_kind
{
  N_TEXT,
  N_ACTION,
  N_IF,
  N_RANGE,
  N_WITH,
  N_BREAK,
  N_CONTINUE,
};

struct list;

struct node
{
  enum node_kind kind;
  const char *text; /* N_TEXT */
  size_t len;
  struct pipe *pipe;
  struct list *body, *orelse;
  size_t pos;
};

struct list
{
  struct node **nodes;
  size_t n;
};

struct chunk
{
  struct chunk *next;
  max_align_t data[];
};

struct pier_template
{
  char *src;
  size_t srclen;
  struct chunk *arena;
  json_t *lits; /* owns every literal */
  struct list *root;
};

static void *
ar_alloc (pier_template *t, size_t n)
{
  struct chunk *c = xzalloc (sizeof *c + n);
  c->next = t->arena;
  t->arena = c;
  return c->data;
}

/* Room for element n of an array of n elements: the capacity is the
 * power of two at or above n, so growing by one at a time copies O(n)
 * in all (the old block stays in the arena). */
static void *
ar_grow (pier_template *t, void *old, size_t n, size_t size)
{
  if (n & (n - 1))
    return old;
  void *p = ar_alloc (t, (n ? 2 * n : 1) * size);
  if (n)
    memcpy (p, old, n * size);
  return p;
}

static const char *
ar_strndup (pier_template *t, const char *s, size_t n)
{
  char *p = ar_alloc (t, n + 1);
  memcpy (p, s, n);
  p[n] = '\0';
  return p;
}

void
pier_template_free (pier_template *t)
{
  if (t == NULL)
    return;
  for (struct chunk *c = t->arena, *next; c; c = next)
    {
      next = c->next;
      free (c);
    }
  json_decref (t->lits);
  free (t->src);
  free (t);
}

/* ------------------------------------------------------------ lexer */

enum tok_kind
{
  T_EOF,    /* end of input inside an action */
  T_RDELIM, /* }} (trim: -}}) */
  T_DOT,
  T_FIELD, /* .A.B: text is the whole chain */
  T_VAR,   /* $x */
  T_IDENT,
  T_STRING, /* value decoded */
  T_NUMBER,
  T_CHAR,
  T_LPAREN,
  T_RPAREN,
  T_PIPE,
  T_DECLARE, /* := */
  T_ASSIGN,  /* = */
  T_COMMA,
  T_SPACE,
};

struct tok
{
  enum tok_kind kind;
  size_t pos, len; /* in the source */
  bool trim;       /* T_RDELIM: -}} */
  json_t *val;     /* T_STRING, T_NUMBER, T_CHAR */
};

struct parser
{
  pier_template *t;
  const char *s;
  size_t len, pos;
  struct tok peek[4];
  int npeek;
  const char **vars;
  size_t nvars;
  int range_depth;
  int depth;
  char *msg; /* the error */
  size_t err_pos;
  jmp_buf jb;
};

static int
line_of (const char *s, size_t pos)
{
  int line = 1;
  for (size_t i = 0; i < pos; i++)
    line += s[i] == '\n';
  return line;
}

static void __attribute__ ((noreturn, format (printf, 3, 4)))
perr (struct parser *p, size_t pos, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&p->msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  p->err_pos = pos;
  longjmp (p->jb, 1);
}

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_ident (char c)
{
  return isalnum ((unsigned char) c) || c == '_' || ((unsigned char) c & 0x80);
}

static json_t *
keep (struct parser *p, json_t *v)
{
  json_array_append_new (p->t->lits, v);
  return v;
}

/* A right delimiter at pos: "}}" or " -}}" (whitespace then -}}). */
static size_t
rdelim_at (struct parser *p, size_t pos, bool *trim)
{
  if (pos + 1 < p->len && p->s[pos] == '}' && p->s[pos + 1] == '}')
    {
      *trim = false;
      return 2;
    }
  if (is_space (p->s[pos]))
    {
      size_t q = pos;
      while (q < p->len && is_space (p->s[q]))
        q++;
      if (q + 2 < p->len && p->s[q] == '-' && p->s[q + 1] == '}' && p->s[q + 2] == '}')
        {
          *trim = true;
          return q + 3 - pos;
        }
    }
  return 0;
}

static void
lex_string (struct parser *p, struct tok *t)
{
  size_t start = p->pos;
  char q = p->s[p->pos++];
  buf b = { 0 };
  while (1)
    {
      if (p->pos >= p->len || (q != '`' && p->s[p->pos] == '\n'))
        {
          free (b.s);
          perr (p, start, q == '\'' ? "unterminated character constant" : "unterminated quoted string");
        }
      char c = p->s[p->pos++];
      if (c == q)
        break;
      if (c != '\\' || q == '`')
        {
          buf_addc (&b, c);
          continue;
        }
      if (p->pos >= p->len)
        continue;
      c = p->s[p->pos++];
      unsigned long code = 0;
      int hex = 0;
      switch (c)
        {
        case 'n': buf_addc (&b, '\n'); break;
        case 't': buf_addc (&b, '\t'); break;
        case 'r': buf_addc (&b, '\r'); break;
        case 'a': buf_addc (&b, '\a'); break;
        case 'b': buf_addc (&b, '\b'); break;
        case 'f': buf_addc (&b, '\f'); break;
        case 'v': buf_addc (&b, '\v'); break;
        case '\\': buf_addc (&b, '\\'); break;
        case '"': buf_addc (&b, '"'); break;
        case '\'': buf_addc (&b, '\''); break;
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        default:
          if (c >= '0' && c <= '7' && p->pos + 1 < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '7'
              && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '7')
            {
              code = (unsigned long) (c - '0');
              for (int k = 0; k < 2; k++)
                code = code * 8 + (unsigned long) (p->s[p->pos++] - '0');
              buf_addc (&b, (char) (code & 0xff));
              break;
            }
          free (b.s);
          perr (p, start, "invalid syntax");
        }
      if (hex)
        {
          for (int k = 0; k < hex; k++)
            {
              if (p->pos >= p->len || !isxdigit ((unsigned char) p->s[p->pos]))
                {
                  free (b.s);
                  perr (p, start, "invalid syntax");
                }
              char h = p->s[p->pos++];
              code = code * 16
                     + (unsigned long) (isdigit ((unsigned char) h) ? h - '0' : (tolower (h) - 'a' + 10));
            }
          if (c == 'x')
            buf_addc (&b, (char) code);
          else
            {
              char u[4];
              size_t n;
              if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
                code = 0xFFFD;
              if (code < 0x80)
                u[0] = (char) code, n = 1;
              else if (code < 0x800)
                u[0] = (char) (0xC0 | (code >> 6)), u[1] = (char) (0x80 | (code & 0x3F)), n = 2;
              else if (code < 0x10000)
                u[0] = (char) (0xE0 | (code >> 12)), u[1] = (char) (0x80 | ((code >> 6) & 0x3F)),
                u[2] = (char) (0x80 | (code & 0x3F)), n = 3;
              else
                u[0] = (char) (0xF0 | (code >> 18)), u[1] = (char) (0x80 | ((code >> 12) & 0x3F)),
                u[2] = (char) (0x80 | ((code >> 6) & 0x3F)), u[3] = (char) (0x80 | (code & 0x3F)), n = 4;
              buf_add (&b, u, n);
            }
        }
    }
  t->len = p->pos - start;
  if (q == '\'')
    {
      /* A character constant is its code point (the first UTF-8 rune). */
      const unsigned char *u = (const unsigned char *) (b.s ? b.s : "");
      long cp = u[0];
      if (u[0] >= 0xC0 && b.len >= 2)
        {
          int n = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : 2;
          cp = u[0] & (0x3F >> (n - 1));
          for (int k = 1; k < n && (size_t) k < b.len; k++)
            cp = (cp << 6) | (u[k] & 0x3F);
        }
      free (b.s);
      t->kind = T_CHAR;
      t->val = keep (p, json_integer (cp));
      return;
    }
  t->kind = T_STRING;
  t->val = keep (p, json_stringn_nocheck (b.s ? b.s : "", b.len));
  free (b.s);
}

static void
lex_number (struct parser *p, struct tok *t)
{
  size_t start = p->pos;
  size_t q = p->pos;
  if (p->s[q] == '+' || p->s[q] == '-')
    q++;
  while (q < p->len
         && (isalnum ((unsigned char) p->s[q]) || p->s[q] == '.' || p->s[q] == '_'
             || ((p->s[q] == '+' || p->s[q] == '-') && (p->s[q - 1] == 'e' || p->s[q - 1] == 'E'))))
    q++;
  char *text = xstrndup (p->s + start, q - start);
  /* Go allows _ between digits. */
  char *w = text;
  for (char *r = text; *r; r++)
    if (*r != '_')
      *w++ = *r;
  *w = '\0';
  p->pos = q;
  t->kind = T_NUMBER;
  t->len = q - start;
  char *end = NULL;
  errno = 0;
  bool neg = text[0] == '-';
  const char *digits = text + (text[0] == '-' || text[0] == '+');
  if (digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B' || digits[1] == 'o' || digits[1] == 'O'))
    {
      unsigned long long v = strtoull (digits + 2, &end, digits[1] == 'b' || digits[1] == 'B' ? 2 : 8);
      if (*end == '\0' && end != digits + 2 && errno == 0 && v <= (unsigned long long) INT64_MAX)
        {
          t->val = keep (p, json_integer (neg ? -(json_int_t) v : (json_int_t) v));
          free (text);
          return;
        }
    }
  else
    {
      long long v = strtoll (text, &end, strchr (text, 'x') || strchr (text, 'X') ? 16 : 10);
      if (*end == '\0' && end != text && errno == 0
          && !(digits[0] == '0' && digits[1] && isdigit (digits[1])))
        {
          t->val = keep (p, json_integer (v));
          free (text);
          return;
        }
      errno = 0;
      double d = strtod (text, &end);
      if (*end == '\0' && end != text && isfinite (d) && strchr (text, 'x') == NULL
          && strchr (text, 'X') == NULL)
        {
          t->val = keep (p, json_real (d));
          free (text);
          return;
        }
    }
  free (text);
  perr (p, start, "bad number syntax: \"%.*s\"", (int) (q - start), p->s + start);
}

/* The next token inside an action; spaces are tokens (they separate
 * arguments and end field chains). */
static void
lex (struct parser *p, struct tok *t)
{
  memset (t, 0, sizeof *t);
  t->pos = p->pos;
  if (p->pos >= p->len)
    {
      t->kind = T_EOF;
      return;
    }
  bool trim = false;
  size_t n = rdelim_at (p, p->pos, &trim);
  if (n)
    {
      t->kind = T_RDELIM;
      t->trim = trim;
      t->len = n;
      p->pos += n;
      return;
    }
  char c = p->s[p->pos];
  if (is_space (c))
    {
      while (p->pos < p->len && is_space (p->s[p->pos]) && !rdelim_at (p, p->pos, &trim))
        p->pos++;
      t->kind = T_SPACE;
      t->len = p->pos - t->pos;
      if (t->len == 0)
        {
          /* A space that starts " -}}". */
          lex (p, t);
        }
      return;
    }
  if (c == '"' || c == '`' || c == '\'')
    {
      lex_string (p, t);
      return;
    }
  if (c == '.' && p->pos + 1 < p->len && is_ident (p->s[p->pos + 1])
      && !isdigit ((unsigned char) p->s[p->pos + 1]))
    {
      while (p->pos < p->len && p->s[p->pos] == '.' && p->pos + 1 < p->len && is_ident (p->s[p->pos + 1]))
        {
          p->pos++;
          while (p->pos < p->len && is_ident (p->s[p->pos]))
            p->pos++;
        }
      t->kind = T_FIELD;
      t->len = p->pos - t->pos;
      return;
    }
  if (isdigit ((unsigned char) c)
      || ((c == '-' || c == '+' || c == '.') && p->pos + 1 < p->len
          && isdigit ((unsigned char) p->s[p->pos + 1])))
    {
      lex_number (p, t);
      return;
    }
  if (c == '.')
    {
      p->pos++;
      t->kind = T_DOT;
      t->len = 1;
      return;
    }
  if (c == '$')
    {
      p->pos++;
      while (p->pos < p->len && is_ident (p->s[p->pos]))
        p->pos++;
      t->kind = T_VAR;
      t->len = p->pos - t->pos;
      return;
    }
  if (is_ident (c))
    {
      while (p->pos < p->len && is_ident (p->s[p->pos]))
        p->pos++;
      t->kind = T_IDENT;
      t->len = p->pos - t->pos;
      return;
    }
  p->pos++;
  t->len = 1;
  switch (c)
    {
    case '(': t->kind = T_LPAREN; return;
    case ')': t->kind = T_RPAREN; return;
    case '|': t->kind = T_PIPE; return;
    case ',': t->kind = T_COMMA; return;
    case '=': t->kind = T_ASSIGN; return;
    case ':':
      if (p->pos < p->len && p->s[p->pos] == '=')
        {
          p->pos++;
          t->len = 2;
          t->kind = T_DECLARE;
          return;
        }
      perr (p, t->pos, "expected :=");
    default:
      if (c == '}')
        perr (p, t->pos, "unexpected \"}\" in operand");
      perr (p, t->pos, "unrecognized character in action: U+%04X", (unsigned char) c);
    }
}

/* Tokens with lookahead; peek_tok(p, k) is the k-th next token. */
static struct tok *
peek_tok (struct parser *p, int k)
{
  while (p->npeek <= k)
    lex (p, &p->peek[p->npeek++]);
  return &p->peek[k];
}

static struct tok
next_tok (struct parser *p)
{
  struct tok t = *peek_tok (p, 0);
  memmove (&p->peek[0], &p->peek[1], (size_t) (p->npeek - 1) * sizeof p->peek[0]);
  p->npeek--;
  return t;
}

/* Next token that is not a space. */
static struct tok
next_nonspace (struct parser *p)
{
  struct tok t;
  do
    t = next_tok (p);
  while (t.kind == T_SPACE);
  return t;
}

static struct tok *
peek_nonspace (struct parser *p)
{
  while (peek_tok (p, 0)->kind == T_SPACE)
    next_tok (p);
  return peek_tok (p, 0);
}

static bool
tok_is (struct parser *p, const struct tok *t, const char *word)
{
  return t->kind == T_IDENT && t->len == strlen (word) && memcmp (p->s + t->pos, word, t->len) == 0;
}

static const char *
tok_desc (struct parser *p, const struct tok *t)
{
  switch (t->kind)
    {
    case T_EOF: return "EOF";
    case T_RDELIM: return "}}";
    case T_SPACE: return "space";
    default: break;
    }
  return ar_strndup (p->t, p->s + t->pos, t->len > 40 ? 40 : t->len);
}

/* ------------------------------------------------------------ parser */

static bool builtin_exists (const char *name);

static void
push_var (struct parser *p, const char *name)
{
  p->vars = ar_grow (p->t, p->vars, p->nvars, sizeof *p->vars);
  p->vars[p->nvars++] = name;
}

static void
check_var (struct parser *p, const struct tok *t)
{
  for (size_t i = p->nvars; i-- > 0;)
    if (strlen (p->vars[i]) == t->len && memcmp (p->vars[i], p->s + t->pos, t->len) == 0)
      return;
  perr (p, t->pos, "undefined variable \"%.*s\"", (int) t->len, p->s + t->pos);
}

static struct pipe *parse_pipe (struct parser *p, const char *context, bool in_paren);

/* Split ".A.B" into fields. */
static void
add_fields (struct parser *p, struct arg *a, const char *s, size_t len)
{
  size_t i = 0;
  while (i < len && s[i] == '.')
    {
      size_t start = ++i;
      while (i < len && s[i] != '.')
        i++;
      a->fields = ar_grow (p->t, a->fields, a->nfields, sizeof *a->fields);
      a->fields[a->nfields++] = ar_strndup (p->t, s + start, i - start);
    }
}

/* A field chain right after a term: (x).A, $x.A. */
static void
chain_fields (struct parser *p, struct arg *a)
{
  struct tok *t = peek_tok (p, 0);
  if (t->kind == T_FIELD)
    {
      struct tok f = next_tok (p);
      add_fields (p, a, p->s + f.pos, f.len);
      a->end = f.pos + f.len;
      a->epos = f.pos;
    }
  else if (t->kind == T_DOT && a->kind == A_PIPE)
    perr (p, t->pos, "unexpected . after term \"%s\"", tok_desc (p, t));
}

/* One operand, or NULL at the end of the command. */
static struct arg *
parse_operand (struct parser *p, const char *context)
{
  struct tok *pk = peek_tok (p, 0);
  switch (pk->kind)
    {
    case T_RDELIM:
    case T_RPAREN:
    case T_PIPE:
    case T_EOF: return NULL;
    default: break;
    }
  struct tok t = next_tok (p);
  struct arg *a = ar_alloc (p->t, sizeof *a);
  a->pos = a->epos = t.pos;
  a->end = t.pos + t.len;
  switch (t.kind)
    {
    case T_DOT: a->kind = A_DOT; break;
    case T_FIELD:
      a->kind = A_FIELD;
      add_fields (p, a, p->s + t.pos, t.len);
      if (a->nfields > 1)
        a->epos = t.pos + 1 + strlen (a->fields[0]);
      break;
    case T_VAR:
      check_var (p, &t);
      a->kind = A_VAR;
      a->name = ar_strndup (p->t, p->s + t.pos, t.len);
      chain_fields (p, a);
      break;
    case T_STRING:
    case T_NUMBER:
    case T_CHAR:
      a->kind = A_LIT;
      a->lit = t.val;
      break;
    case T_LPAREN:
      if (++p->depth > MAX_DEPTH)
        perr (p, t.pos, "max nesting depth exceeded");
      a->kind = A_PIPE;
      a->pipe = parse_pipe (p, "parenthesized pipeline", true);
      p->depth--;
      a->end = p->pos;
      chain_fields (p, a);
      break;
    case T_IDENT:
      {
        const char *name = ar_strndup (p->t, p->s + t.pos, t.len);
        if (strcmp (name, "true") == 0 || strcmp (name, "false") == 0)
          {
            a->kind = A_LIT;
            a->lit = keep (p, json_boolean (name[0] == 't'));
          }
        else if (strcmp (name, "nil") == 0)
          a->kind = A_NIL;
        else if (builtin_exists (name))
          {
            a->kind = A_FUNC;
            a->name = name;
          }
        else
          perr (p, t.pos, "function \"%s\" not defined", name);
        break;
      }
    default: perr (p, t.pos, "unexpected \"%s\" in %s", tok_desc (p, &t), context);
    }
  return a;
}

static struct cmd *
parse_cmd (struct parser *p, const char *context)
{
  struct cmd *c = ar_alloc (p->t, sizeof *c);
  peek_nonspace (p);
  c->pos = peek_tok (p, 0)->pos;
  while (1)
    {
      peek_nonspace (p);
      struct arg *a = parse_operand (p, "operand");
      if (a == NULL)
        break;
      c->args = ar_grow (p->t, c->args, c->n, sizeof *c->args);
      c->args[c->n++] = a;
      c->end = a->end;
      struct tok *t = peek_tok (p, 0);
      if (t->kind != T_SPACE && t->kind != T_RDELIM && t->kind != T_RPAREN && t->kind != T_PIPE
          && t->kind != T_EOF)
        perr (p, t->pos, "unexpected \"%s\" in operand", tok_desc (p, t));
    }
  if (c->n == 0)
    {
      struct tok *t = peek_tok (p, 0);
      if (t->kind == T_EOF)
        perr (p, t->pos, "unclosed action");
      perr (p, t->pos, "missing value for %s", context);
    }
  return c;
}

static struct pipe *
parse_pipe (struct parser *p, const char *context, bool in_paren)
{
  struct pipe *pp = ar_alloc (p->t, sizeof *pp);
  struct tok *t = peek_nonspace (p);
  pp->pos = t->pos;
  /* Declarations: $x :=, $x =, $k, $v := */
  if (t->kind == T_VAR)
    {
      int k = 1;
      if (peek_tok (p, k)->kind == T_SPACE)
        k++;
      enum tok_kind after = peek_tok (p, k)->kind;
      if (after == T_DECLARE || after == T_ASSIGN || (after == T_COMMA && strcmp (context, "range") == 0))
        {
          struct tok v = next_tok (p);
          const char *name = ar_strndup (p->t, p->s + v.pos, v.len);
          struct tok op = next_nonspace (p);
          pp->decl[pp->ndecl++] = name;
          if (op.kind == T_COMMA)
            {
              struct tok v2 = next_nonspace (p);
              if (v2.kind != T_VAR)
                perr (p, v2.pos, "range can only initialize variables");
              pp->decl[pp->ndecl++] = ar_strndup (p->t, p->s + v2.pos, v2.len);
              op = next_nonspace (p);
              if (op.kind != T_DECLARE && op.kind != T_ASSIGN)
                perr (p, op.pos, "expected := or = in range");
            }
          pp->assign = op.kind == T_ASSIGN;
          for (int i = 0; i < pp->ndecl; i++)
            {
              if (pp->assign)
                {
                  struct tok vt = { .pos = v.pos, .len = strlen (pp->decl[i]) };
                  bool found = false;
                  for (size_t j = 0; j < p->nvars; j++)
                    found |= strcmp (p->vars[j], pp->decl[i]) == 0;
                  if (!found)
                    perr (p, vt.pos, "undefined variable \"%s\"", pp->decl[i]);
                }
              else
                push_var (p, pp->decl[i]);
            }
        }
    }
  while (1)
    {
      struct cmd *c = parse_cmd (p, context);
      pp->cmds = ar_grow (p->t, pp->cmds, pp->n, sizeof *pp->cmds);
      pp->cmds[pp->n++] = c;
      struct tok e = next_nonspace (p);
      if (e.kind == T_PIPE)
        continue;
      if (in_paren && e.kind == T_RPAREN)
        break;
      if (!in_paren && e.kind == T_RDELIM)
        {
          if (e.trim)
            while (p->pos < p->len && is_space (p->s[p->pos]))
              p->pos++;
          break;
        }
      if (e.kind == T_EOF)
        perr (p, e.pos, "unclosed action");
      perr (p, e.pos, "unexpected \"%s\" in %s", tok_desc (p, &e),
            in_paren ? "parenthesized pipeline" : context);
    }
  /* Go refuses a literal or a field with arguments in a later stage only
   * at run time; a non-function after | is refused here, as Go does. */
  for (size_t i = 1; i < pp->n; i++)
    if (pp->cmds[i]->args[0]->kind == A_LIT || pp->cmds[i]->args[0]->kind == A_NIL)
      perr (p, pp->cmds[i]->pos, "non executable command in pipeline stage %zu", i + 1);
  return pp;
}

/* The end of an action with no more words: "}}" or "-}}". */
static void
expect_rdelim (struct parser *p, const char *context)
{
  struct tok t = next_nonspace (p);
  if (t.kind == T_EOF)
    perr (p, t.pos, "unclosed action");
  if (t.kind != T_RDELIM)
    perr (p, t.pos, "unexpected \"%s\" in %s", tok_desc (p, &t), context);
  if (t.trim)
    while (p->pos < p->len && is_space (p->s[p->pos]))
      p->pos++;
}

enum stop
{
  STOP_EOF,
  STOP_END,
  STOP_ELSE,
};

static struct list *parse_list (struct parser *p, enum stop *why, size_t *stop_pos);

static struct node *
new_node (struct parser *p, enum node_kind k, size_t pos)
{
  struct node *n = ar_alloc (p->t, sizeof *n);
  n->kind = k;
  n->pos = pos;
  return n;
}

/* if/range/with: pipeline, body, optional else; the caller has read the
 * keyword.  An "else if"/"else with" chain ends at the one {{end}}. */
static struct node *
parse_control (struct parser *p, enum node_kind k, size_t pos)
{
  static const char *const names[] = { [N_IF] = "if", [N_RANGE] = "range", [N_WITH] = "with" };
  if (++p->depth > MAX_DEPTH)
    perr (p, pos, "max nesting depth exceeded");
  size_t nvars = p->nvars;
  struct node *n = new_node (p, k, pos);
  n->pipe = parse_pipe (p, names[k], false);
  if (k == N_RANGE)
    p->range_depth++;
  enum stop why;
  size_t spos;
  n->body = parse_list (p, &why, &spos);
  if (k == N_RANGE)
    p->range_depth--;
  if (why == STOP_EOF)
    perr (p, p->len, "unexpected EOF");
  if (why == STOP_ELSE)
    {
      struct tok *t = peek_nonspace (p);
      if ((k == N_IF && tok_is (p, t, "if")) || (k == N_WITH && tok_is (p, t, "with")))
        {
          struct tok kw = next_tok (p);
          struct node *inner = parse_control (p, k, kw.pos);
          n->orelse = ar_alloc (p->t, sizeof *n->orelse);
          n->orelse->nodes = ar_alloc (p->t, sizeof (struct node *));
          n->orelse->nodes[0] = inner;
          n->orelse->n = 1;
          p->nvars = nvars;
          p->depth--;
          return n;
        }
      expect_rdelim (p, "else");
      n->orelse = parse_list (p, &why, &spos);
      if (why == STOP_EOF)
        perr (p, p->len, "unexpected EOF");
      if (why == STOP_ELSE)
        perr (p, spos, "expected end; found {{else}}");
    }
  p->nvars = nvars;
  p->depth--;
  return n;
}

/* Items up to {{end}}, {{else}} (whose keyword has been read, the rest of
 * the action not) or the end of the text. */
static struct list *
parse_list (struct parser *p, enum stop *why, size_t *stop_pos)
{
  struct list *l = ar_alloc (p->t, sizeof *l);
  while (1)
    {
      if (p->pos >= p->len)
        {
          *why = STOP_EOF;
          return l;
        }
      const char *open = memmem (p->s + p->pos, p->len - p->pos, "{{", 2);
      size_t text_end = open ? (size_t) (open - p->s) : p->len;
      size_t after = text_end + 2;
      bool ltrim = open && after + 1 < p->len && p->s[after] == '-' && is_space (p->s[after + 1]);
      size_t tlen = text_end - p->pos;
      if (ltrim)
        while (tlen && is_space (p->s[p->pos + tlen - 1]))
          tlen--;
      if (tlen)
        {
          struct node *n = new_node (p, N_TEXT, p->pos);
          n->text = p->s + p->pos;
          n->len = tlen;
          l->nodes = ar_grow (p->t, l->nodes, l->n, sizeof *l->nodes);
          l->nodes[l->n++] = n;
        }
      if (open == NULL)
        {
          p->pos = p->len;
          *why = STOP_EOF;
          return l;
        }
      p->pos = after + (ltrim ? 2 : 0);
      p->npeek = 0;
      /* A comment: {{/-* ... *-/}} (drawn without the dashes), trim markers allowed. */
      if (p->pos + 1 < p->len && p->s[p->pos] == '/' && p->s[p->pos + 1] == '*')
        {
          const char *close = memmem (p->s + p->pos + 2, p->len - p->pos - 2, "*/", 2);
          if (close == NULL)
            perr (p, p->pos, "unclosed comment");
          p->pos = (size_t) (close - p->s) + 2;
          bool trim = false;
          size_t n = rdelim_at (p, p->pos, &trim);
          if (n == 0)
            perr (p, p->pos, "comment ends before closing delimiter");
          p->pos += n;
          if (trim)
            while (p->pos < p->len && is_space (p->s[p->pos]))
              p->pos++;
          continue;
        }
      struct tok *t = peek_nonspace (p);
      size_t apos = t->pos;
      struct node *n = NULL;
      if (t->kind == T_IDENT)
        {
          if (tok_is (p, t, "end") || tok_is (p, t, "else"))
            {
              bool end = tok_is (p, t, "end");
              next_tok (p);
              *stop_pos = apos;
              if (end)
                expect_rdelim (p, "end");
              *why = end ? STOP_END : STOP_ELSE;
              if (p->depth == 0)
                perr (p, apos, "unexpected {{%s}}", end ? "end" : "else");
              return l;
            }
          if (tok_is (p, t, "if") || tok_is (p, t, "range") || tok_is (p, t, "with"))
            {
              enum node_kind k = tok_is (p, t, "if") ? N_IF : tok_is (p, t, "range") ? N_RANGE : N_WITH;
              next_tok (p);
              n = parse_control (p, k, apos);
            }
          else if (tok_is (p, t, "break") || tok_is (p, t, "continue"))
            {
              bool brk = tok_is (p, t, "break");
              next_tok (p);
              if (p->range_depth == 0)
                perr (p, apos, "{{%s}} outside {{range}}", brk ? "break" : "continue");
              expect_rdelim (p, brk ? "{{break}}" : "{{continue}}");
              n = new_node (p, brk ? N_BREAK : N_CONTINUE, apos);
            }
          else if (tok_is (p, t, "define") || tok_is (p, t, "template") || tok_is (p, t, "block"))
            perr (p, apos, "{{%s}} is not supported in --format", tok_desc (p, t));
        }
      if (n == NULL)
        {
          n = new_node (p, N_ACTION, apos);
          n->pipe = parse_pipe (p, "command", false);
        }
      l->nodes = ar_grow (p->t, l->nodes, l->n, sizeof *l->nodes);
      l->nodes[l->n++] = n;
    }
}

int
pier_template_parse (const char *text, pier_template **out, pier_error **err)
{
  pier_template *t = xzalloc (sizeof *t);
  t->srclen = strlen (text);
  t->src = xstrdup (text);
  t->lits = json_array ();
  struct parser *p = xzalloc (sizeof *p);
  p->t = t;
  p->s = t->src;
  p->len = t->srclen;
  push_var (p, "$");
  if (setjmp (p->jb))
    {
      pier_error_makex (err, EINVAL, "template: :%d: %s", line_of (p->s, p->err_pos), p->msg);
      free (p->msg);
      free (p);
      pier_template_free (t);
      return -1;
    }
  enum stop why;
  size_t spos = 0;
  t->root = parse_list (p, &why, &spos);
  free (p);
  *out = t;
  return 0;
}

/* ------------------------------------------------------------ values */

static const char *
type_name (const json_t *v)
{
  if (v == NULL)
    return "<nil>";
  switch (json_typeof (v))
    {
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "int";
    case JSON_REAL: return "float64";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_ARRAY: return "[]interface {}";
    case JSON_OBJECT: return "map[string]interface {}";
    default: return "interface {}";
    }
}

/* Go's %v of a float64: the shortest digits that read back the same, in
 * %e form when the exponent is < -4 or >= 6 (strconv's 'g' with the
 * shortest precision): 1e+06, 123456, 0.0001, 1e-05. */
static void
print_float (buf *b, double d)
{
  if (isnan (d))
    {
      buf_adds (b, "NaN");
      return;
    }
  if (isinf (d))
    {
      buf_adds (b, d > 0 ? "+Inf" : "-Inf");
      return;
    }
  char e[64];
  int prec = 1;
  for (; prec <= 17; prec++)
    {
      snprintf (e, sizeof e, "%.*e", prec - 1, d);
      if (strtod (e, NULL) == d)
        break;
    }
  const char *x = strchr (e, 'e');
  int exp = x ? atoi (x + 1) : 0;
  if (exp < -4 || exp >= 6)
    {
      buf_adds (b, e);
      return;
    }
  char f[400];
  int decimals = prec - 1 - exp;
  snprintf (f, sizeof f, "%.*f", decimals > 0 ? decimals : 0, d);
  buf_adds (b, f);
}

static int
cmp_keys (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* An object's keys, sorted as Go sorts map keys; free the array only. */
static const char **
sorted_keys (json_t *o, size_t *n)
{
  *n = json_object_size (o);
  const char **keys = xcalloc (*n + 1, sizeof *keys);
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v) keys[i++] = k;
  qsort (keys, *n, sizeof *keys, cmp_keys);
  return keys;
}

/* fmt's %v. */
static void
print_value (buf *b, json_t *v)
{
  if (v == NULL)
    {
      buf_adds (b, "<no value>");
      return;
    }
  switch (json_typeof (v))
    {
    case JSON_STRING: buf_add (b, json_string_value (v), json_string_length (v)); break;
    case JSON_INTEGER: buf_printf (b, "%lld", (long long) json_integer_value (v)); break;
    case JSON_REAL: print_float (b, json_real_value (v)); break;
    case JSON_TRUE: buf_adds (b, "true"); break;
    case JSON_FALSE: buf_adds (b, "false"); break;
    case JSON_NULL: buf_adds (b, "<nil>"); break;
    case JSON_ARRAY:
      {
        buf_addc (b, '[');
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e)
        {
          if (i)
            buf_addc (b, ' ');
          print_value (b, e);
        }
        buf_addc (b, ']');
        break;
      }
    case JSON_OBJECT:
      {
        size_t n;
        const char **keys = sorted_keys (v, &n);
        buf_adds (b, "map[");
        for (size_t i = 0; i < n; i++)
          {
            if (i)
              buf_addc (b, ' ');
            buf_adds (b, keys[i]);
            buf_addc (b, ':');
            print_value (b, json_object_get (v, keys[i]));
          }
        buf_addc (b, ']');
        free (keys);
        break;
      }
    }
}

/* Go's truth: false, 0, nil, empty string/array/map are false. */
static bool
truth (json_t *v)
{
  if (v == NULL)
    return false;
  switch (json_typeof (v))
    {
    case JSON_STRING: return json_string_length (v) > 0;
    case JSON_INTEGER: return json_integer_value (v) != 0;
    case JSON_REAL: return json_real_value (v) != 0;
    case JSON_TRUE: return true;
    case JSON_FALSE: return false;
    case JSON_NULL: return false;
    case JSON_ARRAY: return json_array_size (v) > 0;
    case JSON_OBJECT: return json_object_size (v) > 0;
    }
  return false;
}

/* ------------------------------------------------------------ functions */

struct exec;

/* A function gets its arguments (references it may not keep; a missing
 * value is a JSON null, as Go passes a nil interface) and sets *out (a
 * new reference), or returns -1 with *msg. */
typedef int (*func_fn) (struct exec *x, json_t **args, size_t n, json_t **out, char **msg);

static int __attribute__ ((format (printf, 2, 3))) fail (char **msg, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return -1;
}

static int
want_string (json_t *v, char **msg)
{
  if (json_is_string (v))
    return 0;
  return fail (msg, "wrong type for value; expected string; got %s", type_name (json_is_null (v) ? NULL : v));
}

static int
want_int (json_t *v, long long *out, char **msg)
{
  if (json_is_integer (v))
    {
      *out = json_integer_value (v);
      return 0;
    }
  return fail (msg, "wrong type for value; expected int; got %s", type_name (json_is_null (v) ? NULL : v));
}

static int
f_not (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n, (void) msg;
  *out = json_boolean (!truth (a[0]));
  return 0;
}

static int
f_len (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  json_t *v = a[0];
  size_t len;
  if (json_is_string (v))
    len = json_string_length (v);
  else if (json_is_array (v))
    len = json_array_size (v);
  else if (json_is_object (v))
    len = json_object_size (v);
  else if (json_is_null (v))
    return fail (msg, "len of nil pointer");
  else
    return fail (msg, "len of type %s", type_name (v));
  *out = json_integer ((json_int_t) len);
  return 0;
}

/* A missing key of a map of strings indexes to "" (map[string]string's
 * zero value, as docker's Labels); of other maps to nil. */
static json_t *
zero_of_map (json_t *o)
{
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v) if (!json_is_string (v)) return json_null ();
  return json_string ("");
}

static int
f_index (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x;
  json_t *cur = json_incref (a[0]);
  for (size_t i = 1; i < n; i++)
    {
      json_t *next = NULL;
      if (json_is_array (cur) || json_is_string (cur))
        {
          if (!json_is_integer (a[i]))
            {
              json_decref (cur);
              return fail (msg, "cannot index slice/array with type %s", type_name (a[i]));
            }
          long long k = json_integer_value (a[i]);
          size_t len = json_is_array (cur) ? json_array_size (cur) : json_string_length (cur);
          if (k < 0 || (unsigned long long) k >= len)
            {
              json_decref (cur);
              return fail (msg, "index out of range: %lld", k);
            }
          next = json_is_array (cur) ? json_incref (json_array_get (cur, (size_t) k))
                                     : json_integer ((unsigned char) json_string_value (cur)[k]);
        }
      else if (json_is_object (cur))
        {
          if (!json_is_string (a[i]))
            {
              json_decref (cur);
              return fail (msg, "value has type %s; should be string", type_name (a[i]));
            }
          next = json_object_get (cur, json_string_value (a[i]));
          next = next ? json_incref (next) : zero_of_map (cur);
        }
      else
        {
          bool nil = json_is_null (cur);
          json_decref (cur);
          if (nil)
            return fail (msg, "index of untyped nil");
          return fail (msg, "can't index item of type %s", type_name (cur));
        }
      json_decref (cur);
      cur = next;
    }
  *out = cur;
  return 0;
}

static int
f_slice (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x;
  json_t *v = a[0];
  if (!json_is_string (v) && !json_is_array (v))
    return fail (msg, "can't slice item of type %s", type_name (json_is_null (v) ? NULL : v));
  if (n > 4 || (n == 4 && json_is_string (v)))
    return fail (msg, "too many slice indexes: %zu", n - 1);
  size_t len = json_is_string (v) ? json_string_length (v) : json_array_size (v);
  long long idx[3] = { 0, (long long) len, (long long) len };
  for (size_t i = 1; i < n; i++)
    {
      if (want_int (a[i], &idx[i - 1], msg) < 0)
        return -1;
      if (idx[i - 1] < 0 || (unsigned long long) idx[i - 1] > len)
        return fail (msg, "index out of range: %lld", idx[i - 1]);
    }
  if (n < 3)
    idx[1] = (long long) len;
  if (idx[0] > idx[1])
    return fail (msg, "invalid slice index: %lld > %lld", idx[0], idx[1]);
  if (n == 4 && idx[1] > idx[2])
    return fail (msg, "invalid slice index: %lld > %lld", idx[1], idx[2]);
  if (json_is_string (v))
    *out = json_stringn_nocheck (json_string_value (v) + idx[0], (size_t) (idx[1] - idx[0]));
  else
    {
      *out = json_array ();
      for (long long i = idx[0]; i < idx[1]; i++)
        json_array_append (*out, json_array_get (v, (size_t) i));
    }
  return 0;
}

enum kind
{
  K_BAD,
  K_BOOL,
  K_INT,
  K_FLOAT,
  K_STRING,
};

static enum kind
basic_kind (json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_TRUE:
    case JSON_FALSE: return K_BOOL;
    case JSON_INTEGER: return K_INT;
    case JSON_REAL: return K_FLOAT;
    case JSON_STRING: return K_STRING;
    default: return K_BAD;
    }
}

static double
num (json_t *v)
{
  return json_is_integer (v) ? (double) json_integer_value (v) : json_real_value (v);
}

/* Go's eq for two values: -1 error, 0 or 1.  JSON does not keep Go's int
 * and float apart, so numbers of either kind compare by value. */
static int
eq2 (json_t *a, json_t *b, char **msg)
{
  if (json_is_array (a) || json_is_object (a) || json_is_array (b) || json_is_object (b))
    return fail (msg, "invalid type for comparison");
  if (json_is_null (a) || json_is_null (b))
    return json_is_null (a) && json_is_null (b);
  enum kind ka = basic_kind (a), kb = basic_kind (b);
  bool numa = ka == K_INT || ka == K_FLOAT, numb = kb == K_INT || kb == K_FLOAT;
  if (numa && numb)
    return ka == K_INT && kb == K_INT ? json_integer_value (a) == json_integer_value (b) : num (a) == num (b);
  if (ka != kb)
    return fail (msg, "incompatible types for comparison");
  if (ka == K_BOOL)
    return json_is_true (a) == json_is_true (b);
  return json_string_length (a) == json_string_length (b)
         && memcmp (json_string_value (a), json_string_value (b), json_string_length (a)) == 0;
}

static int
f_eq (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x;
  if (n < 2)
    return fail (msg, "missing argument for comparison");
  for (size_t i = 1; i < n; i++)
    {
      int r = eq2 (a[0], a[i], msg);
      if (r < 0)
        return -1;
      if (r)
        {
          *out = json_true ();
          return 0;
        }
    }
  *out = json_false ();
  return 0;
}

static int
f_ne (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  int r = eq2 (a[0], a[1], msg);
  if (r < 0)
    return -1;
  *out = json_boolean (!r);
  return 0;
}

/* Go's lt: -1 error, else a < b. */
static int
lt2 (json_t *a, json_t *b, char **msg)
{
  enum kind ka = basic_kind (a), kb = basic_kind (b);
  if (ka == K_BAD || kb == K_BAD || ka == K_BOOL || kb == K_BOOL)
    return fail (msg, "invalid type for comparison");
  bool numa = ka == K_INT || ka == K_FLOAT, numb = kb == K_INT || kb == K_FLOAT;
  if (numa && numb)
    return ka == K_INT && kb == K_INT ? json_integer_value (a) < json_integer_value (b) : num (a) < num (b);
  if (ka != kb)
    return fail (msg, "incompatible types for comparison");
  return strcmp (json_string_value (a), json_string_value (b)) < 0;
}

static int
f_lt (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  int r = lt2 (a[0], a[1], msg);
  if (r < 0)
    return -1;
  *out = json_boolean (r);
  return 0;
}

static int
f_le (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  int r = lt2 (a[0], a[1], msg);
  if (r < 0)
    return -1;
  if (!r)
    {
      r = eq2 (a[0], a[1], msg);
      if (r < 0)
        return -1;
    }
  *out = json_boolean (r);
  return 0;
}

static int
f_gt (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  json_t *le = NULL;
  if (f_le (x, a, n, &le, msg) < 0)
    return -1;
  *out = json_boolean (!json_is_true (le));
  json_decref (le);
  return 0;
}

static int
f_ge (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  int r = lt2 (a[0], a[1], msg);
  if (r < 0)
    return -1;
  *out = json_boolean (!r);
  return 0;
}

/* fmt.Sprint: a space between operands when neither is a string. */
static int
f_print (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  buf b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i && !json_is_string (a[i]) && !json_is_string (a[i - 1]))
        buf_addc (&b, ' ');
      print_value (&b, a[i]);
    }
  char *s = buf_steal (&b);
  *out = json_string_nocheck (s);
  free (s);
  return 0;
}

static int
f_println (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  buf b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i)
        buf_addc (&b, ' ');
      print_value (&b, a[i]);
    }
  buf_addc (&b, '\n');
  char *s = buf_steal (&b);
  *out = json_string_nocheck (s);
  free (s);
  return 0;
}

static size_t
rune_count (const char *s, size_t n)
{
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    w += ((unsigned char) s[i] & 0xC0) != 0x80;
  return w;
}

/* s padded to width runes (spaces, or zeros before the digits). */
static void
pad_to (buf *b, const char *s, size_t n, long width, bool left, bool zero)
{
  size_t w = rune_count (s, n);
  size_t padn = width > 0 && (size_t) width > w ? (size_t) width - w : 0;
  if (!left)
    for (size_t i = 0; i < padn; i++)
      buf_addc (b, zero ? '0' : ' ');
  buf_add (b, s, n);
  if (left)
    for (size_t i = 0; i < padn; i++)
      buf_addc (b, ' ');
}

/* strconv.Quote. */
static void
go_quote (buf *b, const char *s, size_t n)
{
  buf_addc (b, '"');
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      switch (c)
        {
        case '"': buf_adds (b, "\\\""); break;
        case '\\': buf_adds (b, "\\\\"); break;
        case '\n': buf_adds (b, "\\n"); break;
        case '\t': buf_adds (b, "\\t"); break;
        case '\r': buf_adds (b, "\\r"); break;
        case '\a': buf_adds (b, "\\a"); break;
        case '\b': buf_adds (b, "\\b"); break;
        case '\f': buf_adds (b, "\\f"); break;
        case '\v': buf_adds (b, "\\v"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            buf_printf (b, "\\x%02x", c);
          else
            buf_addc (b, (char) c);
        }
    }
  buf_addc (b, '"');
}

/* An integer as Go's fmt writes it: sign and magnitude (also in hex and
 * octal), precision as a minimum of digits, '#' prefixes, width padded
 * with spaces, or zeros after the sign when '0' is given without '-' or
 * a precision. */
static void
fmt_int (buf *b, long long v, char verb, bool plus, bool space, bool sharp, bool left, bool zero, long width,
         long prec)
{
  unsigned long long mag = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
  char digits[80];
  const char *cfmt = verb == 'x' ? "%llx" : verb == 'X' ? "%llX" : verb == 'o' ? "%llo" : "%llu";
  snprintf (digits, sizeof digits, cfmt, mag);
  buf head = { 0 };
  if (v < 0)
    buf_addc (&head, '-');
  else if (plus)
    buf_addc (&head, '+');
  else if (space)
    buf_addc (&head, ' ');
  if (sharp && (verb == 'x' || verb == 'X'))
    buf_adds (&head, verb == 'x' ? "0x" : "0X");
  else if (sharp && verb == 'o' && digits[0] != '0')
    buf_addc (&head, '0');
  size_t nd = strlen (digits);
  size_t zeros = prec > 0 && (size_t) prec > nd ? (size_t) prec - nd : 0;
  if (prec == 0 && v == 0)
    nd = 0; /* Go: %.0d of 0 is empty */
  size_t total = head.len + zeros + nd;
  size_t padn = width > 0 && (size_t) width > total ? (size_t) width - total : 0;
  bool zero_pad = zero && !left && prec < 0;
  if (!left && !zero_pad)
    for (size_t i = 0; i < padn; i++)
      buf_addc (b, ' ');
  buf_add (b, head.s ? head.s : "", head.len);
  if (zero_pad)
    zeros += padn;
  for (size_t i = 0; i < zeros; i++)
    buf_addc (b, '0');
  buf_add (b, digits, nd);
  if (left)
    for (size_t i = 0; i < padn; i++)
      buf_addc (b, ' ');
  free (head.s);
}

static void
bad_verb (buf *b, char verb, json_t *v)
{
  if (json_is_null (v))
    {
      buf_printf (b, "%%!%c(<nil>)", verb);
      return;
    }
  buf_printf (b, "%%!%c(%s=", verb, type_name (v));
  print_value (b, v);
  buf_addc (b, ')');
}

/* fmt.Sprintf for the verbs --format needs: %v %s %q %d %x %X %o %c %t
 * %f %F %e %E %g %G %%, with flags, width and precision. */
static int
f_printf (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x;
  if (want_string (a[0], msg) < 0)
    return -1;
  const char *f = json_string_value (a[0]);
  size_t flen = json_string_length (a[0]);
  buf b = { 0 };
  size_t argi = 1;
  for (size_t i = 0; i < flen; i++)
    {
      if (f[i] != '%')
        {
          buf_addc (&b, f[i]);
          continue;
        }
      i++;
      char flags[8] = "";
      size_t nf = 0;
      bool left = false, zero = false, plus = false, sharp = false, space = false;
      while (i < flen && strchr ("-+# 0", f[i]) && f[i])
        {
          left |= f[i] == '-';
          zero |= f[i] == '0';
          plus |= f[i] == '+';
          sharp |= f[i] == '#';
          space |= f[i] == ' ';
          if (nf < sizeof flags - 1 && !strchr (flags, f[i]))
            flags[nf++] = f[i], flags[nf] = '\0';
          i++;
        }
      long width = -1, prec = -1;
      bool bad_width = false, bad_prec = false;
      if (i < flen && f[i] == '*')
        {
          i++;
          if (argi < n && json_is_integer (a[argi]))
            width = (long) json_integer_value (a[argi]);
          else
            bad_width = true;
          argi++;
          if (width < 0 && !bad_width)
            {
              left = true;
              width = -width;
            }
        }
      else
        for (; i < flen && isdigit ((unsigned char) f[i]); i++)
          width = (width < 0 ? 0 : width) * 10 + (f[i] - '0'), bad_width |= width > 1000000;
      if (i < flen && f[i] == '.')
        {
          i++;
          prec = 0;
          if (i < flen && f[i] == '*')
            {
              i++;
              if (argi < n && json_is_integer (a[argi]) && json_integer_value (a[argi]) >= 0)
                prec = (long) json_integer_value (a[argi]);
              else
                bad_prec = true;
              argi++;
            }
          else
            for (; i < flen && isdigit ((unsigned char) f[i]); i++)
              prec = prec * 10 + (f[i] - '0'), bad_prec |= prec > 1000000;
        }
      if (bad_width || width > 1000000)
        {
          buf_adds (&b, "%!(BADWIDTH)");
          width = -1;
        }
      if (bad_prec || prec > 1000000)
        {
          buf_adds (&b, "%!(BADPREC)");
          prec = -1;
        }
      if (i >= flen)
        {
          buf_adds (&b, "%!(NOVERB)");
          break;
        }
      char verb = f[i];
      if (verb == '%')
        {
          buf_addc (&b, '%');
          continue;
        }
      if (argi >= n)
        {
          buf_printf (&b, "%%!%c(MISSING)", verb);
          continue;
        }
      json_t *v = a[argi++];
      buf cell = { 0 };
      bool numeric = false;
      char cfmt[32];
      switch (verb)
        {
        case 'v':
        case 's':
          if (verb == 's' && !json_is_string (v) && !json_is_array (v) && !json_is_object (v))
            {
              bad_verb (&cell, verb, v);
              break;
            }
          if (verb == 'v' && (json_is_integer (v) || json_is_real (v)))
            {
              if (json_is_integer (v))
                {
                  fmt_int (&cell, json_integer_value (v), 'd', plus, space, false, left, zero, width, -1);
                  numeric = true;
                }
              else
                print_float (&cell, json_real_value (v));
              break;
            }
          print_value (&cell, v);
          if (prec >= 0 && json_is_string (v))
            {
              size_t k = 0, r = 0;
              while (k < cell.len && (long) r < prec)
                {
                  k++;
                  while (k < cell.len && ((unsigned char) cell.s[k] & 0xC0) == 0x80)
                    k++;
                  r++;
                }
              cell.len = k;
              cell.s[k] = '\0';
            }
          break;
        case 'q':
          if (json_is_string (v))
            go_quote (&cell, json_string_value (v), json_string_length (v));
          else if (json_is_integer (v))
            {
              char ch = (char) json_integer_value (v);
              buf_addc (&cell, '\'');
              buf_add (&cell, &ch, 1);
              buf_addc (&cell, '\'');
            }
          else
            bad_verb (&cell, verb, v);
          break;
        case 't':
          if (json_is_boolean (v))
            buf_adds (&cell, json_is_true (v) ? "true" : "false");
          else
            bad_verb (&cell, verb, v);
          break;
        case 'd':
        case 'o':
        case 'x':
        case 'X':
        case 'c':
          if (json_is_integer (v))
            {
              if (verb == 'c')
                {
                  char ch = (char) json_integer_value (v);
                  buf_add (&cell, &ch, 1);
                  break;
                }
              fmt_int (&cell, json_integer_value (v), verb, plus, space, sharp, left, zero, width, prec);
              numeric = true;
            }
          else if (json_is_string (v) && (verb == 'x' || verb == 'X'))
            {
              for (size_t k = 0; k < json_string_length (v); k++)
                buf_printf (&cell, verb == 'x' ? "%02x" : "%02X", (unsigned char) json_string_value (v)[k]);
            }
          else
            bad_verb (&cell, verb, v);
          break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
          if (json_is_real (v))
            {
              if ((verb == 'g' || verb == 'G') && prec < 0)
                {
                  buf tmp = { 0 };
                  print_float (&tmp, json_real_value (v));
                  if (plus && json_real_value (v) >= 0)
                    buf_addc (&cell, '+');
                  buf_add (&cell, tmp.s, tmp.len);
                  free (tmp.s);
                  break;
                }
              snprintf (cfmt, sizeof cfmt, "%%%s*.*%c", flags, verb);
              buf_printf (&cell, cfmt, (int) (width < 0 ? 0 : width), (int) (prec < 0 ? 6 : prec),
                          json_real_value (v));
              numeric = true;
            }
          else
            bad_verb (&cell, verb, v);
          break;
        default: bad_verb (&cell, verb, v); break;
        }
      (void) sharp, (void) space;
      if (numeric)
        buf_add (&b, cell.s, cell.len);
      else
        pad_to (&b, cell.s ? cell.s : "", cell.len, width, left, false);
      free (cell.s);
    }
  if (argi < n)
    {
      buf_adds (&b, "%!(EXTRA ");
      for (size_t i = argi; i < n; i++)
        {
          if (i > argi)
            buf_adds (&b, ", ");
          if (json_is_null (a[i]))
            buf_adds (&b, "<nil>");
          else
            {
              buf_printf (&b, "%s=", type_name (a[i]));
              print_value (&b, a[i]);
            }
        }
      buf_addc (&b, ')');
    }
  *out = json_stringn_nocheck (b.s ? b.s : "", b.len);
  free (b.s);
  return 0;
}

static int
f_html (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  buf in = { 0 }, b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i && !json_is_string (a[i]) && !json_is_string (a[i - 1]))
        buf_addc (&in, ' ');
      print_value (&in, a[i]);
    }
  for (size_t i = 0; i < in.len; i++)
    switch (in.s[i])
      {
      case '<': buf_adds (&b, "&lt;"); break;
      case '>': buf_adds (&b, "&gt;"); break;
      case '&': buf_adds (&b, "&amp;"); break;
      case '\'': buf_adds (&b, "&#39;"); break;
      case '"': buf_adds (&b, "&#34;"); break;
      case '\0': buf_adds (&b, "\xef\xbf\xbd"); break;
      default: buf_addc (&b, in.s[i]);
      }
  free (in.s);
  char *s = buf_steal (&b);
  *out = json_string_nocheck (s);
  free (s);
  return 0;
}

static int
f_urlquery (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  buf in = { 0 }, b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i && !json_is_string (a[i]) && !json_is_string (a[i - 1]))
        buf_addc (&in, ' ');
      print_value (&in, a[i]);
    }
  for (size_t i = 0; i < in.len; i++)
    {
      unsigned char c = (unsigned char) in.s[i];
      if (isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~')
        buf_addc (&b, (char) c);
      else if (c == ' ')
        buf_addc (&b, '+');
      else
        buf_printf (&b, "%%%02X", c);
    }
  free (in.s);
  char *s = buf_steal (&b);
  *out = json_string_nocheck (s);
  free (s);
  return 0;
}

/* docker's json: encoding/json without HTML escaping. */
static int
f_json (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n, (void) msg;
  char *s = json_dumps (a[0], JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (17));
  *out = json_string_nocheck (s ? s : "null");
  free (s);
  return 0;
}

static int
f_split (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  if (want_string (a[0], msg) < 0 || want_string (a[1], msg) < 0)
    return -1;
  const char *s = json_string_value (a[0]), *sep = json_string_value (a[1]);
  size_t slen = json_string_length (a[0]), seplen = json_string_length (a[1]);
  *out = json_array ();
  if (seplen == 0)
    {
      /* Split into UTF-8 runes. */
      for (size_t i = 0; i < slen;)
        {
          size_t k = i + 1;
          while (k < slen && ((unsigned char) s[k] & 0xC0) == 0x80)
            k++;
          json_array_append_new (*out, json_stringn_nocheck (s + i, k - i));
          i = k;
        }
      return 0;
    }
  size_t start = 0;
  for (size_t i = 0; i + seplen <= slen;)
    if (memcmp (s + i, sep, seplen) == 0)
      {
        json_array_append_new (*out, json_stringn_nocheck (s + start, i - start));
        i += seplen;
        start = i;
      }
    else
      i++;
  json_array_append_new (*out, json_stringn_nocheck (s + start, slen - start));
  return 0;
}

static int
f_join (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  if (!json_is_array (a[0]))
    return fail (msg, "wrong type for value; expected []string; got %s",
                 type_name (json_is_null (a[0]) ? NULL : a[0]));
  if (want_string (a[1], msg) < 0)
    return -1;
  buf b = { 0 };
  size_t i;
  json_t *e;
  json_array_foreach (a[0], i, e)
  {
    if (i)
      buf_add (&b, json_string_value (a[1]), json_string_length (a[1]));
    print_value (&b, e);
  }
  *out = json_stringn_nocheck (b.s ? b.s : "", b.len);
  free (b.s);
  return 0;
}

static int
f_case (json_t **a, json_t **out, char **msg, int how)
{
  if (want_string (a[0], msg) < 0)
    return -1;
  size_t len = json_string_length (a[0]);
  char *s = xstrndup (json_string_value (a[0]), len);
  bool sep = true;
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if (how == 0)
        s[i] = (char) tolower (c);
      else if (how == 1)
        s[i] = (char) toupper (c);
      else
        {
          /* strings.Title: a letter after a separator goes upper case. */
          if (sep && c < 0x80)
            s[i] = (char) toupper (c);
          sep = c < 0x80 && !isalnum (c) && c != '_';
        }
    }
  *out = json_stringn_nocheck (s, len);
  free (s);
  return 0;
}

static int
f_lower (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return f_case (a, out, msg, 0);
}

static int
f_upper (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return f_case (a, out, msg, 1);
}

static int
f_title (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return f_case (a, out, msg, 2);
}

/* docker's pad: prefix and suffix spaces, none around an empty string. */
static int
f_pad (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  long long l, r;
  if (want_string (a[0], msg) < 0 || want_int (a[1], &l, msg) < 0 || want_int (a[2], &r, msg) < 0)
    return -1;
  if (l < 0 || r < 0)
    return fail (msg, "negative Repeat count");
  if (l > 1000000 || r > 1000000)
    return fail (msg, "pad length too large");
  if (json_string_length (a[0]) == 0)
    {
      *out = json_string ("");
      return 0;
    }
  buf b = { 0 };
  for (long long i = 0; i < l; i++)
    buf_addc (&b, ' ');
  buf_add (&b, json_string_value (a[0]), json_string_length (a[0]));
  for (long long i = 0; i < r; i++)
    buf_addc (&b, ' ');
  *out = json_stringn_nocheck (b.s, b.len);
  free (b.s);
  return 0;
}

/* docker's truncate: the first n bytes. */
static int
f_truncate (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  long long len;
  if (want_string (a[0], msg) < 0 || want_int (a[1], &len, msg) < 0)
    return -1;
  size_t have = json_string_length (a[0]);
  if (len < 0 && (size_t) 0 < have)
    return fail (msg, "slice bounds out of range [:%lld]", len);
  if ((size_t) len >= have || len < 0)
    *out = json_incref (a[0]);
  else
    *out = json_stringn_nocheck (json_string_value (a[0]), (size_t) len);
  return 0;
}

struct func
{
  const char *name;
  func_fn fn;
  int min, max; /* max -1: variadic */
  bool header;  /* a docker function: gives its first argument in header mode */
};

/* and/or are evaluated lazily by the executor (fn NULL). */
static const struct func funcs[] = {
  { "and", NULL, 1, -1, false },
  { "or", NULL, 1, -1, false },
  { "not", f_not, 1, 1, false },
  { "len", f_len, 1, 1, false },
  { "index", f_index, 1, -1, false },
  { "slice", f_slice, 1, -1, false },
  { "eq", f_eq, 1, -1, false },
  { "ne", f_ne, 2, 2, false },
  { "lt", f_lt, 2, 2, false },
  { "le", f_le, 2, 2, false },
  { "gt", f_gt, 2, 2, false },
  { "ge", f_ge, 2, 2, false },
  { "print", f_print, 0, -1, false },
  { "printf", f_printf, 1, -1, false },
  { "println", f_println, 0, -1, false },
  { "html", f_html, 0, -1, false },
  { "urlquery", f_urlquery, 0, -1, false },
  { "json", f_json, 1, 1, true },
  { "split", f_split, 2, 2, true },
  { "join", f_join, 2, 2, true },
  { "title", f_title, 1, 1, true },
  { "lower", f_lower, 1, 1, true },
  { "upper", f_upper, 1, 1, true },
  { "pad", f_pad, 3, 3, true },
  { "truncate", f_truncate, 2, 2, true },
};

static const struct func *
find_func (const char *name)
{
  for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++)
    if (strcmp (funcs[i].name, name) == 0)
      return &funcs[i];
  return NULL;
}

static bool
builtin_exists (const char *name)
{
  return find_func (name) != NULL;
}

/* ------------------------------------------------------------ executor */

struct var
{
  const char *name;
  json_t *val;
};

struct exec
{
  const pier_template *t;
  unsigned flags;
  struct var *vars;
  size_t nvars, cap;
  buf out;
  char *msg; /* the error, with its context */
  int depth;
};

enum
{
  EX_OK = 0,
  EX_ERR = -1,
  EX_BREAK = 1,
  EX_CONTINUE = 2,
};

static int
xerr_v (struct exec *x, size_t pos, size_t end, size_t epos, const char *fmt, va_list ap)
{
  if (x->msg)
    return EX_ERR;
  char *m = NULL;
  if (vasprintf (&m, fmt, ap) < 0)
    abort ();
  const char *s = x->t->src;
  size_t nl = epos;
  while (nl > 0 && s[nl - 1] != '\n')
    nl--;
  size_t col = epos - nl;
  if (end > pos && end - pos > 200)
    end = pos + 200;
  if (asprintf (&x->msg, "template: :%d:%zu: executing \"\" at <%.*s>: %s", line_of (s, epos), col,
                (int) (end > pos ? end - pos : 0), s + pos, m)
      < 0)
    abort ();
  free (m);
  return EX_ERR;
}

static int __attribute__ ((format (printf, 4, 5)))
xerr (struct exec *x, size_t pos, size_t end, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int r = xerr_v (x, pos, end, pos, fmt, ap);
  va_end (ap);
  return r;
}

/* An error of a field chain, placed where Go places it. */
static int __attribute__ ((format (printf, 3, 4)))
xerr_field (struct exec *x, const struct arg *a, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int r = xerr_v (x, a->pos, a->end, a->epos, fmt, ap);
  va_end (ap);
  return r;
}

static void
var_push (struct exec *x, const char *name, json_t *v)
{
  if (x->nvars == x->cap)
    {
      x->cap = x->cap ? x->cap * 2 : 8;
      x->vars = xrealloc (x->vars, x->cap * sizeof *x->vars);
    }
  x->vars[x->nvars++] = (struct var){ name, v };
}

static void
var_pop_to (struct exec *x, size_t mark)
{
  while (x->nvars > mark)
    json_decref (x->vars[--x->nvars].val);
}

static struct var *
var_find (struct exec *x, const char *name)
{
  for (size_t i = x->nvars; i-- > 0;)
    if (strcmp (x->vars[i].name, name) == 0)
      return &x->vars[i];
  return NULL;
}

/* Follow fields from v (consumed); *out a new reference or NULL. */
static int
eval_fields (struct exec *x, const struct arg *a, json_t *v, json_t **out)
{
  for (size_t i = 0; i < a->nfields; i++)
    {
      if (v == NULL)
        continue; /* a missing value has no fields: still missing */
      if (json_is_object (v))
        {
          json_t *next = json_object_get (v, a->fields[i]);
          json_incref (next);
          json_decref (v);
          v = next;
          continue;
        }
      int r;
      if (json_is_null (v))
        r = xerr_field (x, a, "nil pointer evaluating interface {}.%s", a->fields[i]);
      else
        r = xerr_field (x, a, "can't evaluate field %s in type %s", a->fields[i], type_name (v));
      json_decref (v);
      return r;
    }
  *out = v;
  return 0;
}

static int eval_pipe (struct exec *x, const struct pipe *p, json_t *dot, json_t **out);
static int eval_arg (struct exec *x, const struct arg *a, json_t *dot, json_t **out);
static int eval_cmd (struct exec *x, const struct cmd *c, json_t *dot, bool has_final, json_t *final,
                     json_t **out);

static int
eval_arg (struct exec *x, const struct arg *a, json_t *dot, json_t **out)
{
  *out = NULL;
  switch (a->kind)
    {
    case A_DOT: *out = json_incref (dot); return 0;
    case A_FIELD: return eval_fields (x, a, json_incref (dot), out);
    case A_VAR:
      {
        struct var *v = var_find (x, a->name);
        if (v == NULL)
          return xerr (x, a->pos, a->end, "undefined variable: %s", a->name);
        return eval_fields (x, a, json_incref (v->val), out);
      }
    case A_LIT: *out = json_incref (a->lit); return 0;
    case A_NIL: *out = json_null (); return 0;
    case A_PIPE:
      {
        json_t *v = NULL;
        if (eval_pipe (x, a->pipe, dot, &v) < 0)
          return -1;
        return eval_fields (x, a, v, out);
      }
    case A_FUNC:
      {
        /* A function as an argument is called without arguments. */
        struct cmd c = { .args = (struct arg **) &a, .n = 1, .pos = a->pos, .end = a->end };
        return eval_cmd (x, &c, dot, false, NULL, out);
      }
    }
  return -1;
}

/* docker's list contexts (containers, networks, volumes) have a method
 * Label NAME giving one label's value, "" when unset: {{.Label "k"}} on
 * an object with Labels (a map, or docker's "k=v,k2=v2" text) and no
 * Label key of its own.  0 and *out when it applies, 1 when it does not,
 * -1 on error. */
static int
label_method (struct exec *x, const struct cmd *c, json_t *dot, bool has_final, json_t *final, json_t **out)
{
  const struct arg *first = c->args[0];
  struct arg recv = *first;
  recv.nfields--;
  json_t *obj = NULL;
  if (eval_arg (x, &recv, dot, &obj) < 0)
    return -1;
  json_t *labels = json_object_get (obj, "Labels");
  if (!json_is_object (obj) || json_object_get (obj, "Label") || labels == NULL)
    {
      json_decref (obj);
      return 1;
    }
  json_t *name = NULL;
  if (has_final)
    name = json_incref (final);
  else if (eval_arg (x, c->args[1], dot, &name) < 0)
    {
      json_decref (obj);
      return -1;
    }
  if (!json_is_string (name))
    {
      json_decref (obj);
      json_decref (name);
      return xerr (x, c->pos, c->end, "wrong type for value; expected string; got %s",
                   type_name (json_is_null (name) ? NULL : name));
    }
  const char *k = json_string_value (name);
  *out = NULL;
  if (json_is_object (labels))
    {
      json_t *v = json_object_get (labels, k);
      *out = json_is_string (v) ? json_incref (v) : NULL;
    }
  else if (json_is_string (labels))
    {
      size_t kl = strlen (k);
      for (const char *p = json_string_value (labels); *p && *out == NULL;)
        {
          size_t n = strcspn (p, ",");
          if (n > kl && strncmp (p, k, kl) == 0 && p[kl] == '=')
            *out = json_stringn_nocheck (p + kl + 1, n - kl - 1);
          p += n + (p[n] == ',');
        }
    }
  if (*out == NULL)
    *out = json_string ("");
  json_decref (obj);
  json_decref (name);
  return 0;
}

static int
eval_cmd (struct exec *x, const struct cmd *c, json_t *dot, bool has_final, json_t *final, json_t **out)
{
  const struct arg *first = c->args[0];
  *out = NULL;
  if (first->kind != A_FUNC)
    {
      if ((first->kind == A_FIELD || first->kind == A_VAR) && first->nfields
          && strcmp (first->fields[first->nfields - 1], "Label") == 0 && c->n + has_final == 2)
        {
          int r = label_method (x, c, dot, has_final, final, out);
          if (r <= 0)
            return r;
        }
      if (c->n > 1 || has_final)
        {
          if (first->kind == A_FIELD || (first->kind == A_VAR && first->nfields))
            return xerr (x, first->pos, first->end, "%s is not a method but has arguments",
                         first->fields[first->nfields - 1]);
          return xerr (x, c->pos, c->end, "can't give argument to non-function %.*s",
                       (int) (first->end - first->pos), x->t->src + first->pos);
        }
      if (first->kind == A_NIL)
        return xerr (x, c->pos, c->end, "nil is not a command");
      return eval_arg (x, first, dot, out);
    }
  const struct func *f = find_func (first->name);
  size_t nargs = c->n - 1 + (has_final ? 1 : 0);
  if (nargs < (size_t) f->min || (f->max >= 0 && nargs > (size_t) f->max))
    {
      if (f->max == f->min)
        return xerr (x, c->pos, c->end, "wrong number of args for %s: want %d got %zu", f->name, f->min,
                     nargs);
      return xerr (x, c->pos, c->end, "wrong number of args for %s: want at least %d got %zu", f->name,
                   f->min, nargs);
    }
  if (f->fn == NULL)
    {
      /* and/or: stop at the first false/true argument. */
      bool is_and = strcmp (f->name, "and") == 0;
      json_t *v = NULL;
      for (size_t i = 0; i < nargs; i++)
        {
          json_decref (v);
          v = NULL;
          if (i + 1 < c->n)
            {
              if (eval_arg (x, c->args[i + 1], dot, &v) < 0)
                return -1;
            }
          else
            v = json_incref (final);
          if (v == NULL)
            v = json_null ();
          if (truth (v) != is_and)
            break;
        }
      *out = v;
      return 0;
    }
  json_t **args = xcalloc (nargs + 1, sizeof *args);
  int rc = 0;
  for (size_t i = 0; i + 1 < c->n; i++)
    {
      if (eval_arg (x, c->args[i + 1], dot, &args[i]) < 0)
        {
          rc = -1;
          goto out;
        }
      if (args[i] == NULL)
        args[i] = json_null ();
    }
  if (has_final)
    args[nargs - 1] = final ? json_incref (final) : json_null ();
  if ((x->flags & PIER_TEMPLATE_HEADER) && f->header)
    {
      *out = json_incref (args[0]);
      goto out;
    }
  char *msg = NULL;
  if (f->fn (x, args, nargs, out, &msg) < 0)
    {
      rc = xerr (x, c->pos, c->end, "error calling %s: %s", f->name, msg);
      free (msg);
    }
out:
  for (size_t i = 0; i < nargs; i++)
    json_decref (args[i]);
  free (args);
  return rc;
}

static int
eval_pipe (struct exec *x, const struct pipe *p, json_t *dot, json_t **out)
{
  if (++x->depth > MAX_DEPTH)
    {
      x->depth--;
      return xerr (x, p->pos, p->pos, "max nesting depth exceeded");
    }
  json_t *v = NULL;
  for (size_t i = 0; i < p->n; i++)
    {
      json_t *next = NULL;
      int r = eval_cmd (x, p->cmds[i], dot, i > 0, v, &next);
      json_decref (v);
      v = next;
      if (r < 0)
        {
          x->depth--;
          return -1;
        }
    }
  x->depth--;
  for (int i = 0; i < p->ndecl; i++)
    {
      if (p->assign)
        {
          struct var *var = var_find (x, p->decl[i]);
          if (var == NULL)
            {
              json_decref (v);
              return xerr (x, p->pos, p->pos, "undefined variable: %s", p->decl[i]);
            }
          json_decref (var->val);
          var->val = json_incref (v);
        }
      else
        var_push (x, p->decl[i], json_incref (v));
    }
  *out = v;
  return 0;
}

static int exec_list (struct exec *x, const struct list *l, json_t *dot);

static int
exec_range (struct exec *x, const struct node *n, json_t *dot)
{
  size_t mark = x->nvars;
  /* The range's own variables are set per element, not to the pipe. */
  struct pipe p = *n->pipe;
  p.ndecl = 0;
  json_t *v = NULL;
  if (eval_pipe (x, &p, dot, &v) < 0)
    return -1;
  size_t count = 0;
  const char **keys = NULL;
  if (json_is_array (v))
    count = json_array_size (v);
  else if (json_is_object (v))
    keys = sorted_keys (v, &count);
  else if (json_is_integer (v))
    count = json_integer_value (v) > 0 ? (size_t) json_integer_value (v) : 0;
  else if (v != NULL && !json_is_null (v))
    {
      int r = xerr (x, n->pipe->pos, n->pipe->pos, "range can't iterate over %s", type_name (v));
      json_decref (v);
      return r;
    }
  int rc = EX_OK;
  if (n->pipe->ndecl == 2 && json_is_integer (v))
    {
      json_decref (v);
      return xerr (x, n->pipe->pos, n->pipe->pos, "can't use %lld to iterate over more than one variable",
                   (long long) count);
    }
  for (size_t i = 0; i < count; i++)
    {
      json_t *key, *elem;
      if (keys)
        {
          key = json_string (keys[i]);
          elem = json_incref (json_object_get (v, keys[i]));
        }
      else if (json_is_array (v))
        {
          key = json_integer ((json_int_t) i);
          elem = json_incref (json_array_get (v, i));
        }
      else
        {
          key = json_integer ((json_int_t) i);
          elem = json_integer ((json_int_t) i);
        }
      size_t inner = x->nvars;
      if (n->pipe->ndecl == 1)
        {
          if (n->pipe->assign)
            {
              struct var *var = var_find (x, n->pipe->decl[0]);
              json_decref (var->val);
              var->val = json_incref (elem);
            }
          else
            var_push (x, n->pipe->decl[0], json_incref (elem));
        }
      else if (n->pipe->ndecl == 2)
        {
          if (n->pipe->assign)
            {
              struct var *k = var_find (x, n->pipe->decl[0]), *e = var_find (x, n->pipe->decl[1]);
              json_decref (k->val);
              k->val = json_incref (key);
              json_decref (e->val);
              e->val = json_incref (elem);
            }
          else
            {
              var_push (x, n->pipe->decl[0], json_incref (key));
              var_push (x, n->pipe->decl[1], json_incref (elem));
            }
        }
      rc = exec_list (x, n->body, elem);
      var_pop_to (x, inner);
      json_decref (key);
      json_decref (elem);
      if (rc == EX_BREAK)
        {
          rc = EX_OK;
          break;
        }
      if (rc == EX_CONTINUE)
        rc = EX_OK;
      if (rc < 0)
        break;
    }
  if (count == 0 && n->orelse)
    rc = exec_list (x, n->orelse, dot);
  free (keys);
  json_decref (v);
  var_pop_to (x, mark);
  return rc;
}

static int
exec_node (struct exec *x, const struct node *n, json_t *dot)
{
  switch (n->kind)
    {
    case N_TEXT: buf_add (&x->out, n->text, n->len); return EX_OK;
    case N_BREAK: return EX_BREAK;
    case N_CONTINUE: return EX_CONTINUE;
    case N_ACTION:
      {
        json_t *v = NULL;
        if (eval_pipe (x, n->pipe, dot, &v) < 0)
          return EX_ERR;
        if (n->pipe->ndecl == 0)
          print_value (&x->out, v);
        json_decref (v);
        return EX_OK;
      }
    case N_IF:
    case N_WITH:
      {
        size_t mark = x->nvars;
        json_t *v = NULL;
        if (eval_pipe (x, n->pipe, dot, &v) < 0)
          return EX_ERR;
        int rc = EX_OK;
        if (truth (v))
          rc = exec_list (x, n->body, n->kind == N_WITH ? v : dot);
        else if (n->orelse)
          rc = exec_list (x, n->orelse, dot);
        json_decref (v);
        var_pop_to (x, mark);
        return rc;
      }
    case N_RANGE: return exec_range (x, n, dot);
    }
  return EX_ERR;
}

static int
exec_list (struct exec *x, const struct list *l, json_t *dot)
{
  if (++x->depth > MAX_DEPTH)
    {
      x->depth--;
      return xerr (x, l->n ? l->nodes[0]->pos : 0, 0, "max nesting depth exceeded");
    }
  size_t mark = x->nvars;
  int rc = EX_OK;
  for (size_t i = 0; i < l->n && rc == EX_OK; i++)
    rc = exec_node (x, l->nodes[i], dot);
  /* Variables declared in a block end with it; at the top they live on. */
  if (x->depth > 1)
    var_pop_to (x, mark);
  x->depth--;
  return rc;
}

int
pier_template_execute (const pier_template *t, json_t *dot, unsigned flags, char **out, pier_error **err)
{
  struct exec x = { .t = t, .flags = flags };
  var_push (&x, "$", json_incref (dot));
  int rc = exec_list (&x, t->root, dot);
  var_pop_to (&x, 0);
  free (x.vars);
  /* docker ignores a header's errors and prints what was made. */
  if (rc < 0 && !(flags & PIER_TEMPLATE_HEADER))
    {
      free (x.out.s);
      pier_error_makex (err, EINVAL, "%s", x.msg ? x.msg : "template: execution failed");
      free (x.msg);
      return -1;
    }
  free (x.msg);
  *out = buf_steal (&x.out);
  return 0;
}

int
pier_template_render (const char *text, json_t *dot, char **out, pier_error **err)
{
  pier_template *t = NULL;
  if (pier_template_parse (text, &t, err) < 0)
    return -1;
  int rc = pier_template_execute (t, dot, 0, out, err);
  pier_template_free (t);
  return rc;
}
