/* schema — a JSON Schema validator for exactly the keywords the section
 * schema uses (docs/sections.md 3), on jansson.
 *
 * Why not a library: Debian bookworm has no C JSON-Schema library
 * (`apt-cache search json schema` lists only Go, Perl, JavaScript and
 * Python ones), and the schema needs few keywords. So this file
 * implements these, with draft 2020-12 semantics:
 *
 *   type (null, boolean, object, array, number, string, integer),
 *   required, properties, items (one schema), minItems, minLength (in
 *   code points), minimum, pattern, enum, const, anyOf, boolean schemas,
 *   $defs (a subschema is picked by name: #/$defs/KIND; there is no $ref),
 *   and the annotations title, description, $comment, plus $schema and
 *   $id at the top.
 *
 * Every other keyword makes compiling fail, so that the validator can
 * never silently skip a rule of the schema: the schema may gain a keyword
 * only together with its implementation here. additionalProperties is not
 * used (docs/sections.md 1.4: readers ignore unknown fields).
 *
 * pattern is an ECMA-262 regular expression; a subset is translated to a
 * POSIX ERE for regcomp(): literal ASCII characters, character classes of
 * ASCII characters and ranges (no negation), \d and \w (in and out of
 * classes), escaped punctuation, groups ( ) without (?, alternation |,
 * anchors ^ $, and the greedy quantifiers * + ? {n} {n,} {n,m}. Anything
 * else ('.', \s, \b, back references, lookaround, lazy quantifiers,
 * non-ASCII) is refused when the schema is compiled. Classes are written
 * out as lists of characters, so the locale's collation never matters;
 * since every atom matches one ASCII byte and UTF-8 never uses ASCII
 * bytes inside a multi-byte character, matching bytes is the same as
 * matching code points, and regexec() searches (unanchored) as ECMA
 * does. */
#include "schema.h"

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "keten.h"

enum {
  T_NULL = 1 << 0,
  T_BOOLEAN = 1 << 1,
  T_OBJECT = 1 << 2,
  T_ARRAY = 1 << 3,
  T_NUMBER = 1 << 4,
  T_STRING = 1 << 5,
  T_INTEGER = 1 << 6
};

static const struct {
  const char *name;
  unsigned bit;
} s_types[] = {{"null", T_NULL},     {"boolean", T_BOOLEAN},
               {"object", T_OBJECT}, {"array", T_ARRAY},
               {"number", T_NUMBER}, {"string", T_STRING},
               {"integer", T_INTEGER}};

typedef struct {
  char *name;
  schema_t *schema;
} s_named_t;

struct schema {
  int boolean;                   /* -1: an object schema; 0 false; 1 true */
  unsigned types;                /* 0: no type keyword */
  char **required;
  size_t n_required;
  s_named_t *props;
  size_t n_props;
  schema_t *items;
  int has_min_items, has_min_length;
  json_int_t min_items, min_length;
  json_t *minimum;               /* a number, or NULL */
  int has_pattern;
  regex_t re;
  char *pattern;                 /* the ECMA source, for messages */
  json_t *enumv;                 /* an array, or NULL */
  json_t *constv;                /* with has_const */
  int has_const;
  schema_t **any_of;
  size_t n_any_of;
  s_named_t *defs;
  size_t n_defs;
};

/* ---- JSON pointers ------------------------------------------------------- */

typedef struct {
  char buf[512];
  size_t len;
  int truncated;
} s_ptr_t;

/* Appends "/" and token (escaped: ~ as ~0, / as ~1; bytes that are not
 * printable ASCII as '?', the pointer reaches terminals). Returns the
 * length to restore with s_ptr_pop. */
static size_t s_ptr_push(s_ptr_t *p, const char *token) {
  size_t old = p->len;
  char tmp[sizeof p->buf];
  size_t n = 0;
  tmp[n++] = '/';
  for (const unsigned char *t = (const unsigned char *)token; *t; t++) {
    if (n + 3 >= sizeof tmp)
      break;
    if (*t == '~') {
      tmp[n++] = '~';
      tmp[n++] = '0';
    } else if (*t == '/') {
      tmp[n++] = '~';
      tmp[n++] = '1';
    } else {
      tmp[n++] = (*t >= 0x20 && *t < 0x7f) ? (char)*t : '?';
    }
  }
  if (p->len + n + 1 > sizeof p->buf) {
    p->truncated = 1;
    return old;
  }
  memcpy(p->buf + p->len, tmp, n);
  p->len += n;
  p->buf[p->len] = '\0';
  return old;
}

static size_t s_ptr_index(s_ptr_t *p, size_t i) {
  char t[24];
  snprintf(t, sizeof t, "%zu", i);
  return s_ptr_push(p, t);
}

static void s_ptr_pop(s_ptr_t *p, size_t old) {
  p->len = old;
  p->buf[old] = '\0';
}

static void s_fail(const s_ptr_t *p, char *why, size_t whylen, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static void s_fail(const s_ptr_t *p, char *why, size_t whylen, const char *fmt,
                   ...) {
  if (!why || whylen == 0)
    return;
  char rule[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rule, sizeof rule, fmt, ap);
  va_end(ap);
  snprintf(why, whylen, "%s%s: %s", p->len ? p->buf : "(root)",
           p->truncated ? "..." : "", rule);
}

/* ---- values ---------------------------------------------------------------- */

static int s_is_integer(const json_t *v) {
  if (json_is_integer(v))
    return 1;
  if (!json_is_real(v))
    return 0;
  double d = json_real_value(v);
  return isfinite(d) && d == trunc(d);
}

static long double s_number(const json_t *v) {
  return json_is_integer(v) ? (long double)json_integer_value(v)
                            : (long double)json_real_value(v);
}

/* JSON Schema equality: numbers by value (1 equals 1.0), strings by
 * bytes, arrays element by element, objects key by key. */
static int s_equal(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b)) {
    if (json_is_integer(a) && json_is_integer(b))
      return json_integer_value(a) == json_integer_value(b);
    return s_number(a) == s_number(b);
  }
  if (json_typeof(a) != json_typeof(b))
    return 0;
  switch (json_typeof(a)) {
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b),
                  json_string_length(a)) == 0;
  case JSON_ARRAY: {
    if (json_array_size(a) != json_array_size(b))
      return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!s_equal(json_array_get(a, i), json_array_get(b, i)))
        return 0;
    return 1;
  }
  case JSON_OBJECT: {
    if (json_object_size(a) != json_object_size(b))
      return 0;
    const char *k;
    json_t *va;
    json_object_foreach((json_t *)a, k, va) {
      json_t *vb = json_object_get(b, k);
      if (!vb || !s_equal(va, vb))
        return 0;
    }
    return 1;
  }
  default:
    return 1; /* true, false, null: the same type is the same value */
  }
}

/* Code points of a jansson string (always valid UTF-8). */
static size_t s_code_points(const json_t *v) {
  const unsigned char *s = (const unsigned char *)json_string_value(v);
  size_t n = 0, len = json_string_length(v);
  for (size_t i = 0; i < len; i++)
    n += (s[i] & 0xc0) != 0x80;
  return n;
}

static const char *s_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return s_is_integer(v) ? "integer" : "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

static int s_type_ok(unsigned types, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return !!(types & T_OBJECT);
  case JSON_ARRAY: return !!(types & T_ARRAY);
  case JSON_STRING: return !!(types & T_STRING);
  case JSON_INTEGER: return !!(types & (T_INTEGER | T_NUMBER));
  case JSON_REAL:
    return (types & T_NUMBER) || ((types & T_INTEGER) && s_is_integer(v));
  case JSON_TRUE:
  case JSON_FALSE: return !!(types & T_BOOLEAN);
  default: return !!(types & T_NULL);
  }
}

/* A short rendering of a schema value for a message. */
static void s_render(const json_t *v, char *out, size_t n) {
  char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
  if (!t) {
    snprintf(out, n, "?");
    return;
  }
  if (strlen(t) > 80)
    snprintf(out, n, "%.77s...", t);
  else
    snprintf(out, n, "%s", t);
  free(t);
}

/* ---- patterns ---------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
} s_buf_t;

static int s_put(s_buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *g = realloc(b->s, cap);
    if (!g)
      return -1;
    b->s = g;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
  return 0;
}

static void s_set_range(unsigned char set[128], int from, int to) {
  for (int c = from; c <= to; c++)
    set[c] = 1;
}

/* Emits set as a POSIX bracket expression listing each character:
 * ']' first, '^' not first, '-' last; no ranges, so no collation. */
static int s_put_set(s_buf_t *b, const unsigned char set[128]) {
  char t[136];
  size_t n = 0;
  t[n++] = '[';
  if (set[']'])
    t[n++] = ']';
  for (int c = 0x20; c < 0x7f; c++)
    if (set[c] && c != ']' && c != '-' && c != '^')
      t[n++] = (char)c;
  if (set['^'])
    t[n++] = '^';
  if (set['-'])
    t[n++] = '-';
  if (n == 2 && t[1] == '^') /* "[^]" would be a negation */
    return s_put(b, "\\^", 2);
  t[n++] = ']';
  return s_put(b, t, n);
}

/* Translates the ECMA pattern src into a POSIX ERE in *out (malloc'd).
 * 0, or -1 with the reason in err. */
static int s_translate(const char *src, size_t srclen, char **out, char *err,
                       size_t errlen) {
  s_buf_t b = {0};
  int depth = 0;
  /* whether a quantifier may follow: after an atom or a group, not at the
   * start, after '(', '|', '^', '$' or another quantifier */
  int can_quantify = 0;
  const char *bad = NULL;
  for (size_t i = 0; i < srclen && !bad; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c >= 0x80 || c < 0x20 || c == 0x7f) {
      bad = "a character that is not printable ASCII";
      break;
    }
    switch (c) {
    case '^':
    case '$':
      if (s_put(&b, (const char *)&src[i], 1) != 0)
        goto nomem;
      can_quantify = 0;
      break;
    case '(':
      if (i + 1 < srclen && src[i + 1] == '?') {
        bad = "a group with '(?' (lookaround, non-capturing or named)";
        break;
      }
      depth++;
      if (s_put(&b, "(", 1) != 0)
        goto nomem;
      can_quantify = 0;
      break;
    case ')':
      if (depth == 0) {
        bad = "an unbalanced ')'";
        break;
      }
      depth--;
      if (s_put(&b, ")", 1) != 0)
        goto nomem;
      can_quantify = 1;
      break;
    case '|':
      if (s_put(&b, "|", 1) != 0)
        goto nomem;
      can_quantify = 0;
      break;
    case '*':
    case '+':
    case '?':
    case '{': {
      if (!can_quantify) {
        bad = "a quantifier with nothing to repeat";
        break;
      }
      size_t start = i;
      if (c == '{') {
        unsigned long lo = 0, hi = 0;
        int has_hi = 0, comma = 0;
        size_t j = i + 1, digits = 0;
        for (; j < srclen && src[j] >= '0' && src[j] <= '9'; j++, digits++)
          lo = lo * 10 + (unsigned long)(src[j] - '0');
        if (digits == 0 || digits > 4) {
          bad = "a '{' that is not a quantifier {n}, {n,} or {n,m} (n < 10000)";
          break;
        }
        if (j < srclen && src[j] == ',') {
          comma = 1;
          size_t d2 = 0;
          for (j++; j < srclen && src[j] >= '0' && src[j] <= '9'; j++, d2++)
            hi = hi * 10 + (unsigned long)(src[j] - '0');
          has_hi = d2 > 0;
          if (d2 > 4) {
            bad = "a quantifier bound of more than 4 digits";
            break;
          }
        }
        if (j >= srclen || src[j] != '}') {
          bad = "a '{' that is not a quantifier {n}, {n,} or {n,m}";
          break;
        }
        if (has_hi && hi < lo) {
          bad = "a quantifier {n,m} with m < n";
          break;
        }
        if (lo > 255 || hi > 255) {
          bad = "a quantifier bound above 255";
          break;
        }
        (void)comma;
        i = j;
      }
      if (i + 1 < srclen && (src[i + 1] == '?' || src[i + 1] == '*' ||
                             src[i + 1] == '+' || src[i + 1] == '{')) {
        bad = "a lazy or repeated quantifier";
        break;
      }
      if (s_put(&b, src + start, i - start + 1) != 0)
        goto nomem;
      can_quantify = 0;
      break;
    }
    case '}':
    case ']':
      bad = "an unescaped '}' or ']'";
      break;
    case '.':
      bad = "'.' (it would match bytes, not characters, and ECMA excludes "
            "line terminators)";
      break;
    case '\\': {
      if (i + 1 >= srclen) {
        bad = "a trailing '\\'";
        break;
      }
      char e = src[++i];
      unsigned char set[128] = {0};
      if (e == 'd') {
        s_set_range(set, '0', '9');
        if (s_put_set(&b, set) != 0)
          goto nomem;
      } else if (e == 'w') {
        s_set_range(set, '0', '9');
        s_set_range(set, 'A', 'Z');
        s_set_range(set, 'a', 'z');
        set['_'] = 1;
        if (s_put_set(&b, set) != 0)
          goto nomem;
      } else if (strchr("^.[$()|*+?{\\", e)) {
        char t[2] = {'\\', e};
        if (s_put(&b, t, 2) != 0)
          goto nomem;
      } else if (strchr("]}/-", e)) {
        if (s_put(&b, &e, 1) != 0)
          goto nomem;
      } else {
        bad = "an escape other than \\d, \\w or escaped punctuation";
        break;
      }
      can_quantify = 1;
      break;
    }
    case '[': {
      unsigned char set[128] = {0};
      size_t j = i + 1;
      if (j < srclen && src[j] == '^') {
        bad = "a negated class [^...] (it would match bytes, not characters)";
        break;
      }
      int any = 0, prev = -1; /* prev: the last single character, for a range */
      for (; j < srclen && src[j] != ']' && !bad; j++) {
        unsigned char d = (unsigned char)src[j];
        if (d >= 0x80 || d < 0x20 || d == 0x7f) {
          bad = "a character that is not printable ASCII";
          break;
        }
        if (d == '[') {
          bad = "a '[' inside a class";
          break;
        }
        int ch = -1;
        if (d == '\\') {
          if (j + 1 >= srclen) {
            bad = "a trailing '\\'";
            break;
          }
          char e = src[++j];
          if (e == 'd') {
            s_set_range(set, '0', '9');
          } else if (e == 'w') {
            s_set_range(set, '0', '9');
            s_set_range(set, 'A', 'Z');
            s_set_range(set, 'a', 'z');
            set['_'] = 1;
          } else if (strchr("\\]-^[.$()|*+?{}/", e)) {
            ch = (unsigned char)e;
          } else {
            bad = "an escape in a class other than \\d, \\w or punctuation";
            break;
          }
        } else if (d == '-' && prev >= 0 && j + 1 < srclen && src[j + 1] != ']') {
          unsigned char hi = (unsigned char)src[j + 1];
          if (hi == '\\' || hi == '[' || hi >= 0x80 || hi < 0x20) {
            bad = "a range whose end is not a plain ASCII character";
            break;
          }
          if (hi < prev) {
            bad = "a range out of order";
            break;
          }
          s_set_range(set, prev, hi);
          j++;
          prev = -1;
          any = 1;
          continue;
        } else {
          ch = d;
        }
        if (ch >= 0)
          set[ch] = 1;
        prev = ch;
        any = 1;
      }
      if (bad)
        break;
      if (j >= srclen) {
        bad = "an unterminated class";
        break;
      }
      if (!any) {
        bad = "an empty class []";
        break;
      }
      if (s_put_set(&b, set) != 0)
        goto nomem;
      i = j;
      can_quantify = 1;
      break;
    }
    default:
      if (s_put(&b, (const char *)&src[i], 1) != 0)
        goto nomem;
      can_quantify = 1;
      break;
    }
  }
  if (!bad && depth != 0)
    bad = "an unbalanced '('";
  if (bad) {
    snprintf(err, errlen, "%s", bad);
    free(b.s);
    return -1;
  }
  if (!b.s && s_put(&b, "", 0) != 0)
    goto nomem;
  *out = b.s;
  return 0;
nomem:
  snprintf(err, errlen, "out of memory");
  free(b.s);
  return -1;
}

/* ---- compiling ------------------------------------------------------------------ */

void schema_free(schema_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n_required; i++)
    free(s->required[i]);
  free(s->required);
  for (size_t i = 0; i < s->n_props; i++) {
    free(s->props[i].name);
    schema_free(s->props[i].schema);
  }
  free(s->props);
  schema_free(s->items);
  json_decref(s->minimum);
  if (s->has_pattern)
    regfree(&s->re);
  free(s->pattern);
  json_decref(s->enumv);
  json_decref(s->constv);
  for (size_t i = 0; i < s->n_any_of; i++)
    schema_free(s->any_of[i]);
  free(s->any_of);
  for (size_t i = 0; i < s->n_defs; i++) {
    free(s->defs[i].name);
    schema_free(s->defs[i].schema);
  }
  free(s->defs);
  free(s);
}

typedef struct {
  char *err;
  size_t errlen;
  s_ptr_t ptr;
} s_ctx_t;

static void s_cfail(s_ctx_t *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_cfail(s_ctx_t *x, const char *fmt, ...) {
  if (!x->err || x->errlen == 0 || x->err[0])
    return; /* the first reason counts */
  char rule[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rule, sizeof rule, fmt, ap);
  va_end(ap);
  snprintf(x->err, x->errlen, "schema %s: %s", x->ptr.len ? x->ptr.buf : "(root)",
           rule);
}

/* A non-negative integer keyword value (2 and 2.0 alike). */
static int s_count(const json_t *v, json_int_t *out) {
  if (!s_is_integer(v) || s_number(v) < 0 || s_number(v) > 1e15)
    return -1;
  *out = (json_int_t)s_number(v);
  return 0;
}

static schema_t *s_compile(s_ctx_t *x, const json_t *doc, int root);

/* Compiles every member of obj (an object of schemas) into *out. */
static int s_compile_named(s_ctx_t *x, const json_t *obj, s_named_t **out,
                           size_t *n) {
  size_t cnt = json_object_size(obj);
  *out = calloc(cnt ? cnt : 1, sizeof **out);
  if (!*out) {
    s_cfail(x, "out of memory");
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    size_t old = s_ptr_push(&x->ptr, k);
    s_named_t *e = &(*out)[*n];
    e->name = strdup(k);
    e->schema = e->name ? s_compile(x, v, 0) : NULL;
    s_ptr_pop(&x->ptr, old);
    if (!e->name || !e->schema) {
      free(e->name);
      s_cfail(x, "out of memory");
      return -1;
    }
    (*n)++;
  }
  return 0;
}

static int s_keyword(s_ctx_t *x, schema_t *s, const char *k, const json_t *v,
                     int root) {
  if (!strcmp(k, "title") || !strcmp(k, "description") ||
      !strcmp(k, "$comment")) {
    if (!json_is_string(v)) {
      s_cfail(x, "is not a string");
      return -1;
    }
    return 0;
  }
  if (!strcmp(k, "$schema")) {
    if (!root || !json_is_string(v) ||
        strcmp(json_string_value(v),
               "https://json-schema.org/draft/2020-12/schema") != 0) {
      s_cfail(x, "only https://json-schema.org/draft/2020-12/schema, at the "
                 "top, is implemented");
      return -1;
    }
    return 0;
  }
  if (!strcmp(k, "$id")) {
    /* Without $ref a base URI changes nothing; inside, it would start
     * a resource that a $ref could name: not implemented. */
    if (!root || !json_is_string(v)) {
      s_cfail(x, "$id is implemented only as a string at the top");
      return -1;
    }
    return 0;
  }
  if (!strcmp(k, "$defs")) {
    if (!json_is_object(v)) {
      s_cfail(x, "is not an object");
      return -1;
    }
    return s_compile_named(x, v, &s->defs, &s->n_defs);
  }
  if (!strcmp(k, "type")) {
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && (!json_is_array(v) || n == 0)) {
      s_cfail(x, "is not a type name or a non-empty array of them");
      return -1;
    }
    for (size_t i = 0; i < n; i++) {
      const json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
      unsigned bit = 0;
      for (size_t j = 0; json_is_string(t) && j < sizeof s_types / sizeof *s_types;
           j++)
        if (!strcmp(json_string_value(t), s_types[j].name))
          bit = s_types[j].bit;
      if (!bit || (s->types & bit)) {
        s_cfail(x, "names an unknown or repeated type");
        return -1;
      }
      s->types |= bit;
    }
    return 0;
  }
  if (!strcmp(k, "required")) {
    if (!json_is_array(v)) {
      s_cfail(x, "is not an array");
      return -1;
    }
    size_t n = json_array_size(v);
    s->required = calloc(n ? n : 1, sizeof *s->required);
    if (!s->required) {
      s_cfail(x, "out of memory");
      return -1;
    }
    for (size_t i = 0; i < n; i++) {
      const json_t *e = json_array_get(v, i);
      if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
        s_cfail(x, "holds something other than a property name");
        return -1;
      }
      for (size_t j = 0; j < i; j++)
        if (s_equal(e, json_array_get(v, j))) {
          s_cfail(x, "names a property twice");
          return -1;
        }
      if (!(s->required[s->n_required] = strdup(json_string_value(e)))) {
        s_cfail(x, "out of memory");
        return -1;
      }
      s->n_required++;
    }
    return 0;
  }
  if (!strcmp(k, "properties")) {
    if (!json_is_object(v)) {
      s_cfail(x, "is not an object");
      return -1;
    }
    return s_compile_named(x, v, &s->props, &s->n_props);
  }
  if (!strcmp(k, "items")) {
    if (!json_is_object(v) && !json_is_boolean(v)) {
      s_cfail(x, "is not a schema (an array of schemas is prefixItems in "
                 "draft 2020-12, not implemented)");
      return -1;
    }
    s->items = s_compile(x, v, 0);
    return s->items ? 0 : -1;
  }
  if (!strcmp(k, "minItems") || !strcmp(k, "minLength")) {
    int items = k[3] == 'I';
    if (s_count(v, items ? &s->min_items : &s->min_length) != 0) {
      s_cfail(x, "is not a non-negative integer");
      return -1;
    }
    *(items ? &s->has_min_items : &s->has_min_length) = 1;
    return 0;
  }
  if (!strcmp(k, "minimum")) {
    if (!json_is_number(v)) {
      s_cfail(x, "is not a number");
      return -1;
    }
    s->minimum = json_incref((json_t *)v);
    return 0;
  }
  if (!strcmp(k, "pattern")) {
    if (!json_is_string(v)) {
      s_cfail(x, "is not a string");
      return -1;
    }
    char why[160], *ere = NULL;
    if (s_translate(json_string_value(v), json_string_length(v), &ere, why,
                    sizeof why) != 0) {
      s_cfail(x, "is not in the implemented ECMA-262 subset: %s", why);
      return -1;
    }
    int rc = regcomp(&s->re, ere, REG_EXTENDED | REG_NOSUB);
    free(ere);
    if (rc != 0) {
      char msg[128];
      regerror(rc, &s->re, msg, sizeof msg);
      s_cfail(x, "does not compile: %s", msg);
      return -1;
    }
    s->has_pattern = 1;
    if (!(s->pattern = strdup(json_string_value(v)))) {
      s_cfail(x, "out of memory");
      return -1;
    }
    return 0;
  }
  if (!strcmp(k, "enum")) {
    if (!json_is_array(v)) {
      s_cfail(x, "is not an array");
      return -1;
    }
    s->enumv = json_incref((json_t *)v);
    return 0;
  }
  if (!strcmp(k, "const")) {
    s->constv = json_incref((json_t *)v);
    s->has_const = 1;
    return 0;
  }
  if (!strcmp(k, "anyOf")) {
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0) {
      s_cfail(x, "is not a non-empty array of schemas");
      return -1;
    }
    if (!(s->any_of = calloc(n, sizeof *s->any_of))) {
      s_cfail(x, "out of memory");
      return -1;
    }
    for (size_t i = 0; i < n; i++) {
      size_t old = s_ptr_index(&x->ptr, i);
      s->any_of[i] = s_compile(x, json_array_get(v, i), 0);
      s_ptr_pop(&x->ptr, old);
      if (!s->any_of[i])
        return -1;
      s->n_any_of++;
    }
    return 0;
  }
  s_cfail(x, "keyword not implemented by libketen's validator (schema.c)");
  return -1;
}

static schema_t *s_compile(s_ctx_t *x, const json_t *doc, int root) {
  schema_t *s = calloc(1, sizeof *s);
  if (!s) {
    s_cfail(x, "out of memory");
    return NULL;
  }
  s->boolean = -1;
  if (json_is_boolean(doc)) {
    s->boolean = json_is_true(doc);
    return s;
  }
  if (!json_is_object(doc)) {
    s_cfail(x, "is not a schema (an object or a boolean)");
    free(s);
    return NULL;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)doc, k, v) {
    size_t old = s_ptr_push(&x->ptr, k);
    int rc = s_keyword(x, s, k, v, root);
    s_ptr_pop(&x->ptr, old);
    if (rc != 0) {
      schema_free(s);
      return NULL;
    }
  }
  return s;
}

schema_t *schema_compile(const json_t *doc, char *err, size_t errlen) {
  s_ctx_t x = {.err = err, .errlen = errlen};
  if (err && errlen)
    err[0] = '\0';
  if (!doc) {
    s_cfail(&x, "no document");
    return NULL;
  }
  return s_compile(&x, doc, 1);
}

const schema_t *schema_def(const schema_t *s, const char *name) {
  for (size_t i = 0; s && name && i < s->n_defs; i++)
    if (!strcmp(s->defs[i].name, name))
      return s->defs[i].schema;
  return NULL;
}

/* ---- validating ------------------------------------------------------------------- */

static int s_check(const schema_t *s, const json_t *v, s_ptr_t *p, char *why,
                   size_t whylen) {
  if (s->boolean == 0) {
    s_fail(p, why, whylen, "is not allowed here (the schema is false)");
    return 0;
  }
  if (s->boolean == 1)
    return 1;
  if (s->types && !s_type_ok(s->types, v)) {
    char want[96] = "";
    size_t n = 0;
    for (size_t j = 0; j < sizeof s_types / sizeof *s_types; j++)
      if (s->types & s_types[j].bit)
        n += (size_t)snprintf(want + n, sizeof want - n, "%s%s", n ? " or " : "",
                              s_types[j].name);
    s_fail(p, why, whylen, "is of type %s, not %s", s_type_name(v), want);
    return 0;
  }
  char shown[96];
  if (s->has_const && !s_equal(s->constv, v)) {
    s_render(s->constv, shown, sizeof shown);
    s_fail(p, why, whylen, "is not the constant %s (const)", shown);
    return 0;
  }
  if (s->enumv) {
    int found = 0;
    for (size_t i = 0; !found && i < json_array_size(s->enumv); i++)
      found = s_equal(json_array_get(s->enumv, i), v);
    if (!found) {
      s_render(s->enumv, shown, sizeof shown);
      s_fail(p, why, whylen, "is not one of %s (enum)", shown);
      return 0;
    }
  }
  if (json_is_string(v)) {
    if (s->has_min_length && (json_int_t)s_code_points(v) < s->min_length) {
      s_fail(p, why, whylen, "is %zu characters long, shorter than minLength %lld",
             s_code_points(v), (long long)s->min_length);
      return 0;
    }
    /* jansson refuses U+0000 in strings (no JSON_ALLOW_NUL), so the C
     * string is the whole string. */
    if (s->has_pattern && (strlen(json_string_value(v)) != json_string_length(v) ||
                           regexec(&s->re, json_string_value(v), 0, NULL, 0) != 0)) {
      s_fail(p, why, whylen, "does not match pattern %s", s->pattern);
      return 0;
    }
  }
  if (json_is_number(v) && s->minimum) {
    int below = json_is_integer(v) && json_is_integer(s->minimum)
                    ? json_integer_value(v) < json_integer_value(s->minimum)
                    : s_number(v) < s_number(s->minimum);
    if (below) {
      char val[48];
      s_render(v, val, sizeof val);
      s_render(s->minimum, shown, sizeof shown);
      s_fail(p, why, whylen, "is %s, less than minimum %s", val, shown);
      return 0;
    }
  }
  if (json_is_array(v)) {
    if (s->has_min_items && (json_int_t)json_array_size(v) < s->min_items) {
      s_fail(p, why, whylen, "has %zu items, fewer than minItems %lld",
             json_array_size(v), (long long)s->min_items);
      return 0;
    }
    for (size_t i = 0; s->items && i < json_array_size(v); i++) {
      size_t old = s_ptr_index(p, i);
      int ok = s_check(s->items, json_array_get(v, i), p, why, whylen);
      s_ptr_pop(p, old);
      if (!ok)
        return 0;
    }
  }
  if (json_is_object(v)) {
    for (size_t i = 0; i < s->n_required; i++) {
      if (!json_object_get(v, s->required[i])) {
        size_t old = s_ptr_push(p, s->required[i]);
        s_fail(p, why, whylen, "is required but missing (required)");
        s_ptr_pop(p, old);
        return 0;
      }
    }
    for (size_t i = 0; i < s->n_props; i++) {
      const json_t *m = json_object_get(v, s->props[i].name);
      if (!m)
        continue;
      size_t old = s_ptr_push(p, s->props[i].name);
      int ok = s_check(s->props[i].schema, m, p, why, whylen);
      s_ptr_pop(p, old);
      if (!ok)
        return 0;
    }
  }
  if (s->n_any_of) {
    char first[256] = "";
    for (size_t i = 0; i < s->n_any_of; i++) {
      if (s_check(s->any_of[i], v, p, i == 0 ? first : NULL,
                  i == 0 ? sizeof first : 0))
        return 1;
    }
    s_fail(p, why, whylen, "matches none of the %zu schemas of anyOf (the "
                           "first says: %s)", s->n_any_of, first);
    return 0;
  }
  return 1;
}

int schema_check(const schema_t *s, const json_t *instance, char *why,
                 size_t whylen) {
  if (why && whylen)
    why[0] = '\0';
  s_ptr_t p = {.len = 0};
  p.buf[0] = '\0';
  if (!s || !instance) {
    s_fail(&p, why, whylen, "nothing to check");
    return 0;
  }
  return s_check(s, instance, &p, why, whylen);
}

/* ---- the built-in schema -------------------------------------------------------- */

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static schema_t *s_sections;
static char s_sections_err[256];

static void s_load_sections(void) {
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)schema_sections_v1_json,
                           schema_sections_v1_json_len, JSON_REJECT_DUPLICATES,
                           &jerr);
  if (!doc) {
    snprintf(s_sections_err, sizeof s_sections_err,
             "the built-in schema is not JSON: line %d: %s", jerr.line,
             jerr.text);
    return;
  }
  s_sections = schema_compile(doc, s_sections_err, sizeof s_sections_err);
  json_decref(doc);
}

const schema_t *schema_sections(const char **err) {
  pthread_once(&s_once, s_load_sections);
  if (!s_sections && err)
    *err = s_sections_err;
  return s_sections;
}

keten_err_t keten_section_validate(int kind, const void *plaintext, size_t len,
                                   char *why, size_t whylen) {
  if (why && whylen)
    why[0] = '\0';
  const char *name = canon_kind_name(kind);
  if (!name || (!plaintext && len)) {
    if (why && whylen)
      snprintf(why, whylen, name ? "no plaintext" : "unknown section kind %d",
               kind);
    return KETEN_ERR_INVALID;
  }
  if (len > SCHEMA_MAX_PLAINTEXT) {
    if (why && whylen)
      snprintf(why, whylen, "(root): the section is %zu bytes, more than %u "
                            "(docs/sections.md 1.1)", len,
               (unsigned)SCHEMA_MAX_PLAINTEXT);
    return KETEN_ERR_SCHEMA;
  }
  const char *err = "";
  const schema_t *def = schema_def(schema_sections(&err), name);
  if (!def) {
    if (why && whylen)
      snprintf(why, whylen, "no schema for kind %s: %s", name,
               err[0] ? err : "not in $defs");
    return KETEN_ERR_SCHEMA;
  }
  json_error_t jerr;
  json_t *doc = json_loadb(plaintext ? plaintext : "", len,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!doc) {
    /* jansson's text can quote the plaintext: only the position and
     * the kind of fault go into the reason. */
    const char *what = "not a JSON text (RFC 8259)";
    switch (json_error_code(&jerr)) {
    case json_error_invalid_utf8: what = "not UTF-8"; break;
    case json_error_duplicate_key: what = "a key repeated within an object"; break;
    case json_error_null_character:
    case json_error_null_byte_in_key: what = "a U+0000 character"; break;
    case json_error_numeric_overflow: what = "a number out of range"; break;
    case json_error_premature_end_of_input: what = "not a complete JSON text"; break;
    default: break;
    }
    if (why && whylen)
      snprintf(why, whylen, "(root): %s (line %d, column %d; docs/sections.md "
                            "1.1)", what, jerr.line, jerr.column);
    return KETEN_ERR_SCHEMA;
  }
  int ok = 1;
  if (!json_is_object(doc)) {
    if (why && whylen)
      snprintf(why, whylen, "(root): the top level is a JSON %s, not an object "
                            "(docs/sections.md 1.1)", s_type_name(doc));
    ok = 0;
  } else {
    ok = schema_check(def, doc, why, whylen);
  }
  json_decref(doc);
  return ok ? KETEN_OK : KETEN_ERR_SCHEMA;
}
