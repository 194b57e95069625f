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
#include "util/template_int.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Deeper nesting is refused, so that neither the parser nor the executor
 * can run out of stack. */
#define MAX_DEPTH 200

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
  sbuf b = { 0 };
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
          sbuf_addc (&b, c);
          continue;
        }
      if (p->pos >= p->len)
        continue;
      c = p->s[p->pos++];
      unsigned long code = 0;
      int hex = 0;
      switch (c)
        {
        case 'n': sbuf_addc (&b, '\n'); break;
        case 't': sbuf_addc (&b, '\t'); break;
        case 'r': sbuf_addc (&b, '\r'); break;
        case 'a': sbuf_addc (&b, '\a'); break;
        case 'b': sbuf_addc (&b, '\b'); break;
        case 'f': sbuf_addc (&b, '\f'); break;
        case 'v': sbuf_addc (&b, '\v'); break;
        case '\\': sbuf_addc (&b, '\\'); break;
        case '"': sbuf_addc (&b, '"'); break;
        case '\'': sbuf_addc (&b, '\''); break;
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
              sbuf_addc (&b, (char) (code & 0xff));
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
            sbuf_addc (&b, (char) code);
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
              sbuf_add (&b, u, n);
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
        else if (tpl_builtin_exists (name))
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
  sbuf out;
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
        r = xerr_field (x, a, "can't evaluate field %s in type %s", a->fields[i], tpl_type_name (v));
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
      /* A static string: it outlives name. */
      const char *type = tpl_type_name (json_is_null (name) ? NULL : name);
      json_decref (obj);
      json_decref (name);
      return xerr (x, c->pos, c->end, "wrong type for value; expected string; got %s", type);
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
  const struct func *f = tpl_find_func (first->name);
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
          if (tpl_truth (v) != is_and)
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
    keys = tpl_sorted_keys (v, &count);
  else if (json_is_integer (v))
    count = json_integer_value (v) > 0 ? (size_t) json_integer_value (v) : 0;
  else if (v != NULL && !json_is_null (v))
    {
      int r = xerr (x, n->pipe->pos, n->pipe->pos, "range can't iterate over %s", tpl_type_name (v));
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
  /* A variable the parser saw may still be missing here: declared in a
   * parenthesized pipeline that and/or did not evaluate. */
  for (int d = 0; n->pipe->assign && d < n->pipe->ndecl; d++)
    if (var_find (x, n->pipe->decl[d]) == NULL)
      {
        free (keys);
        json_decref (v);
        return xerr (x, n->pipe->pos, n->pipe->pos, "undefined variable: %s", n->pipe->decl[d]);
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
    case N_TEXT: sbuf_add (&x->out, n->text, n->len); return EX_OK;
    case N_BREAK: return EX_BREAK;
    case N_CONTINUE: return EX_CONTINUE;
    case N_ACTION:
      {
        json_t *v = NULL;
        if (eval_pipe (x, n->pipe, dot, &v) < 0)
          return EX_ERR;
        if (n->pipe->ndecl == 0)
          tpl_print_value (&x->out, v);
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
        if (tpl_truth (v))
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
  *out = sbuf_steal (&x.out);
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
