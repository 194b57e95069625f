/* template_funcs.c - the values and functions of util/template: Go's fmt
 * printing of JSON values, Go's builtins and docker's template functions. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "util/template.h"
#include "util/template_int.h"
#include "util/banned.h"

/* ------------------------------------------------------------ values */

const char *
tpl_type_name (const json_t *v)
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
print_float (sbuf *b, double d)
{
  if (isnan (d))
    {
      sbuf_adds (b, "NaN");
      return;
    }
  if (isinf (d))
    {
      sbuf_adds (b, d > 0 ? "+Inf" : "-Inf");
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
      sbuf_adds (b, e);
      return;
    }
  char f[400];
  int decimals = prec - 1 - exp;
  snprintf (f, sizeof f, "%.*f", decimals > 0 ? decimals : 0, d);
  sbuf_adds (b, f);
}

static int
cmp_keys (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* An object's keys, sorted as Go sorts map keys; free the array only. */
const char **
tpl_sorted_keys (json_t *o, size_t *n)
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
void
tpl_print_value (sbuf *b, json_t *v)
{
  if (v == NULL)
    {
      sbuf_adds (b, "<no value>");
      return;
    }
  switch (json_typeof (v))
    {
    case JSON_STRING: sbuf_add (b, json_string_value (v), json_string_length (v)); break;
    case JSON_INTEGER: sbuf_printf (b, "%lld", (long long) json_integer_value (v)); break;
    case JSON_REAL: print_float (b, json_real_value (v)); break;
    case JSON_TRUE: sbuf_adds (b, "true"); break;
    case JSON_FALSE: sbuf_adds (b, "false"); break;
    case JSON_NULL: sbuf_adds (b, "<nil>"); break;
    case JSON_ARRAY:
      {
        sbuf_addc (b, '[');
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e)
        {
          if (i)
            sbuf_addc (b, ' ');
          tpl_print_value (b, e);
        }
        sbuf_addc (b, ']');
        break;
      }
    case JSON_OBJECT:
      {
        size_t n;
        const char **keys = tpl_sorted_keys (v, &n);
        sbuf_adds (b, "map[");
        for (size_t i = 0; i < n; i++)
          {
            if (i)
              sbuf_addc (b, ' ');
            sbuf_adds (b, keys[i]);
            sbuf_addc (b, ':');
            tpl_print_value (b, json_object_get (v, keys[i]));
          }
        sbuf_addc (b, ']');
        free (keys);
        break;
      }
    }
}

/* Go's tpl_truth: false, 0, nil, empty string/array/map are false. */
bool
tpl_truth (json_t *v)
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
  return fail (msg, "wrong type for value; expected string; got %s",
               tpl_type_name (json_is_null (v) ? NULL : v));
}

static int
want_int (json_t *v, long long *out, char **msg)
{
  if (json_is_integer (v))
    {
      *out = json_integer_value (v);
      return 0;
    }
  return fail (msg, "wrong type for value; expected int; got %s",
               tpl_type_name (json_is_null (v) ? NULL : v));
}

static int
f_not (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n, (void) msg;
  *out = json_boolean (!tpl_truth (a[0]));
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
    return fail (msg, "len of type %s", tpl_type_name (v));
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
              return fail (msg, "cannot index slice/array with type %s", tpl_type_name (a[i]));
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
              return fail (msg, "value has type %s; should be string", tpl_type_name (a[i]));
            }
          next = json_object_get (cur, json_string_value (a[i]));
          next = next ? json_incref (next) : zero_of_map (cur);
        }
      else
        {
          const char *type = json_is_null (cur) ? NULL : tpl_type_name (cur); /* a static string */
          json_decref (cur);
          if (type == NULL)
            return fail (msg, "index of untyped nil");
          return fail (msg, "can't index item of type %s", type);
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
    return fail (msg, "can't slice item of type %s", tpl_type_name (json_is_null (v) ? NULL : v));
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

enum cmp
{
  CMP_NE,
  CMP_LT,
  CMP_LE,
  CMP_GT,
  CMP_GE,
};

/* Go's ne, lt, le, gt and ge, from eq2 and lt2. */
static int
compare (json_t **a, enum cmp op, json_t **out, char **msg)
{
  int r = op == CMP_NE ? eq2 (a[0], a[1], msg) : lt2 (a[0], a[1], msg);
  if (r >= 0 && !r && (op == CMP_LE || op == CMP_GT))
    r = eq2 (a[0], a[1], msg); /* not less: equal? */
  if (r < 0)
    return -1;
  *out = json_boolean (op == CMP_LT || op == CMP_LE ? r : !r);
  return 0;
}

static int
f_ne (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return compare (a, CMP_NE, out, msg);
}

static int
f_lt (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return compare (a, CMP_LT, out, msg);
}

static int
f_le (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return compare (a, CMP_LE, out, msg);
}

static int
f_gt (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return compare (a, CMP_GT, out, msg);
}

static int
f_ge (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  return compare (a, CMP_GE, out, msg);
}

/* fmt.Sprint: a space between operands when neither is a string. */
static int
f_print (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  sbuf b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i && !json_is_string (a[i]) && !json_is_string (a[i - 1]))
        sbuf_addc (&b, ' ');
      tpl_print_value (&b, a[i]);
    }
  char *s = sbuf_steal (&b);
  *out = json_string_nocheck (s);
  free (s);
  return 0;
}

static int
f_println (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  sbuf b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i)
        sbuf_addc (&b, ' ');
      tpl_print_value (&b, a[i]);
    }
  sbuf_addc (&b, '\n');
  char *s = sbuf_steal (&b);
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
pad_to (sbuf *b, const char *s, size_t n, long width, bool left, bool zero)
{
  size_t w = rune_count (s, n);
  size_t padn = width > 0 && (size_t) width > w ? (size_t) width - w : 0;
  if (!left)
    for (size_t i = 0; i < padn; i++)
      sbuf_addc (b, zero ? '0' : ' ');
  sbuf_add (b, s, n);
  if (left)
    for (size_t i = 0; i < padn; i++)
      sbuf_addc (b, ' ');
}

/* strconv.Quote. */
static void
go_quote (sbuf *b, const char *s, size_t n)
{
  sbuf_addc (b, '"');
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      switch (c)
        {
        case '"': sbuf_adds (b, "\\\""); break;
        case '\\': sbuf_adds (b, "\\\\"); break;
        case '\n': sbuf_adds (b, "\\n"); break;
        case '\t': sbuf_adds (b, "\\t"); break;
        case '\r': sbuf_adds (b, "\\r"); break;
        case '\a': sbuf_adds (b, "\\a"); break;
        case '\b': sbuf_adds (b, "\\b"); break;
        case '\f': sbuf_adds (b, "\\f"); break;
        case '\v': sbuf_adds (b, "\\v"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            sbuf_printf (b, "\\x%02x", c);
          else
            sbuf_addc (b, (char) c);
        }
    }
  sbuf_addc (b, '"');
}

/* An integer as Go's fmt writes it: sign and magnitude (also in hex and
 * octal), precision as a minimum of digits, '#' prefixes, width padded
 * with spaces, or zeros after the sign when '0' is given without '-' or
 * a precision. */
static void
fmt_int (sbuf *b, long long v, char verb, bool plus, bool space, bool sharp, bool left, bool zero, long width,
         long prec)
{
  unsigned long long mag = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
  char digits[80];
  const char *cfmt = verb == 'x' ? "%llx" : verb == 'X' ? "%llX" : verb == 'o' ? "%llo" : "%llu";
  snprintf (digits, sizeof digits, cfmt, mag);
  sbuf head = { 0 };
  if (v < 0)
    sbuf_addc (&head, '-');
  else if (plus)
    sbuf_addc (&head, '+');
  else if (space)
    sbuf_addc (&head, ' ');
  if (sharp && (verb == 'x' || verb == 'X'))
    sbuf_adds (&head, verb == 'x' ? "0x" : "0X");
  else if (sharp && verb == 'o' && digits[0] != '0')
    sbuf_addc (&head, '0');
  size_t nd = strlen (digits);
  size_t zeros = prec > 0 && (size_t) prec > nd ? (size_t) prec - nd : 0;
  if (prec == 0 && v == 0)
    nd = 0; /* Go: %.0d of 0 is empty */
  size_t total = head.len + zeros + nd;
  size_t padn = width > 0 && (size_t) width > total ? (size_t) width - total : 0;
  bool zero_pad = zero && !left && prec < 0;
  if (!left && !zero_pad)
    for (size_t i = 0; i < padn; i++)
      sbuf_addc (b, ' ');
  sbuf_add (b, head.s ? head.s : "", head.len);
  if (zero_pad)
    zeros += padn;
  for (size_t i = 0; i < zeros; i++)
    sbuf_addc (b, '0');
  sbuf_add (b, digits, nd);
  if (left)
    for (size_t i = 0; i < padn; i++)
      sbuf_addc (b, ' ');
  free (head.s);
}

static void
bad_verb (sbuf *b, char verb, json_t *v)
{
  if (json_is_null (v))
    {
      sbuf_printf (b, "%%!%c(<nil>)", verb);
      return;
    }
  sbuf_printf (b, "%%!%c(%s=", verb, tpl_type_name (v));
  tpl_print_value (b, v);
  sbuf_addc (b, ')');
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
  sbuf b = { 0 };
  size_t argi = 1;
  for (size_t i = 0; i < flen; i++)
    {
      if (f[i] != '%')
        {
          sbuf_addc (&b, f[i]);
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
          sbuf_adds (&b, "%!(BADWIDTH)");
          width = -1;
        }
      if (bad_prec || prec > 1000000)
        {
          sbuf_adds (&b, "%!(BADPREC)");
          prec = -1;
        }
      if (i >= flen)
        {
          sbuf_adds (&b, "%!(NOVERB)");
          break;
        }
      char verb = f[i];
      if (verb == '%')
        {
          sbuf_addc (&b, '%');
          continue;
        }
      if (argi >= n)
        {
          sbuf_printf (&b, "%%!%c(MISSING)", verb);
          continue;
        }
      json_t *v = a[argi++];
      sbuf cell = { 0 };
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
          tpl_print_value (&cell, v);
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
              sbuf_addc (&cell, '\'');
              sbuf_add (&cell, &ch, 1);
              sbuf_addc (&cell, '\'');
            }
          else
            bad_verb (&cell, verb, v);
          break;
        case 't':
          if (json_is_boolean (v))
            sbuf_adds (&cell, json_is_true (v) ? "true" : "false");
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
                  sbuf_add (&cell, &ch, 1);
                  break;
                }
              fmt_int (&cell, json_integer_value (v), verb, plus, space, sharp, left, zero, width, prec);
              numeric = true;
            }
          else if (json_is_string (v) && (verb == 'x' || verb == 'X'))
            {
              for (size_t k = 0; k < json_string_length (v); k++)
                sbuf_printf (&cell, verb == 'x' ? "%02x" : "%02X", (unsigned char) json_string_value (v)[k]);
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
                  sbuf tmp = { 0 };
                  print_float (&tmp, json_real_value (v));
                  if (plus && json_real_value (v) >= 0)
                    sbuf_addc (&cell, '+');
                  sbuf_add (&cell, tmp.s, tmp.len);
                  free (tmp.s);
                  break;
                }
              snprintf (cfmt, sizeof cfmt, "%%%s*.*%c", flags, verb);
              sbuf_printf (&cell, cfmt, (int) (width < 0 ? 0 : width), (int) (prec < 0 ? 6 : prec),
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
        sbuf_add (&b, cell.s, cell.len);
      else
        pad_to (&b, cell.s ? cell.s : "", cell.len, width, left, false);
      free (cell.s);
    }
  if (argi < n)
    {
      sbuf_adds (&b, "%!(EXTRA ");
      for (size_t i = argi; i < n; i++)
        {
          if (i > argi)
            sbuf_adds (&b, ", ");
          if (json_is_null (a[i]))
            sbuf_adds (&b, "<nil>");
          else
            {
              sbuf_printf (&b, "%s=", tpl_type_name (a[i]));
              tpl_print_value (&b, a[i]);
            }
        }
      sbuf_addc (&b, ')');
    }
  *out = json_stringn_nocheck (b.s ? b.s : "", b.len);
  free (b.s);
  return 0;
}

static int
f_html (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  sbuf in = { 0 }, b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i && !json_is_string (a[i]) && !json_is_string (a[i - 1]))
        sbuf_addc (&in, ' ');
      tpl_print_value (&in, a[i]);
    }
  for (size_t i = 0; i < in.len; i++)
    switch (in.s[i])
      {
      case '<': sbuf_adds (&b, "&lt;"); break;
      case '>': sbuf_adds (&b, "&gt;"); break;
      case '&': sbuf_adds (&b, "&amp;"); break;
      case '\'': sbuf_adds (&b, "&#39;"); break;
      case '"': sbuf_adds (&b, "&#34;"); break;
      case '\0': sbuf_adds (&b, "\xef\xbf\xbd"); break;
      default: sbuf_addc (&b, in.s[i]);
      }
  free (in.s);
  char *s = sbuf_steal (&b);
  *out = json_string_nocheck (s);
  free (s);
  return 0;
}

static int
f_urlquery (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) msg;
  sbuf in = { 0 }, b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      if (i && !json_is_string (a[i]) && !json_is_string (a[i - 1]))
        sbuf_addc (&in, ' ');
      tpl_print_value (&in, a[i]);
    }
  for (size_t i = 0; i < in.len; i++)
    {
      unsigned char c = (unsigned char) in.s[i];
      if (isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~')
        sbuf_addc (&b, (char) c);
      else if (c == ' ')
        sbuf_addc (&b, '+');
      else
        sbuf_printf (&b, "%%%02X", c);
    }
  free (in.s);
  char *s = sbuf_steal (&b);
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
                 tpl_type_name (json_is_null (a[0]) ? NULL : a[0]));
  if (want_string (a[1], msg) < 0)
    return -1;
  sbuf b = { 0 };
  size_t i;
  json_t *e;
  json_array_foreach (a[0], i, e)
  {
    if (i)
      sbuf_add (&b, json_string_value (a[1]), json_string_length (a[1]));
    tpl_print_value (&b, e);
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
  long long l = 0, r = 0;
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
  sbuf b = { 0 };
  for (long long i = 0; i < l; i++)
    sbuf_addc (&b, ' ');
  sbuf_add (&b, json_string_value (a[0]), json_string_length (a[0]));
  for (long long i = 0; i < r; i++)
    sbuf_addc (&b, ' ');
  *out = json_stringn_nocheck (b.s, b.len);
  free (b.s);
  return 0;
}

/* docker's truncate: the first n bytes. */
static int
f_truncate (struct exec *x, json_t **a, size_t n, json_t **out, char **msg)
{
  (void) x, (void) n;
  long long len = 0;
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

const struct func *
tpl_find_func (const char *name)
{
  for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++)
    if (strcmp (funcs[i].name, name) == 0)
      return &funcs[i];
  return NULL;
}

bool
tpl_builtin_exists (const char *name)
{
  return tpl_find_func (name) != NULL;
}
