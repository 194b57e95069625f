/* Unit tests for build/ignore: .dockerignore reading and matching.  The
 * expected results follow docker (moby/patternmatcher with
 * MatchesOrParentMatches, and its ignorefile reader); each case is its own
 * test, named after what it checks. */
#include "unit.h"

#include "build/ignore.h"
#include "util/xalloc.h"

static pier_ignore *
load (const char *text)
{
  pier_ignore *ig = NULL;
  pier_error *err = NULL;
  if (pier_ignore_parse (text, strlen (text), ".dockerignore", &ig, &err) < 0)
    fail_msg ("refused: %s\n--- input ---\n%s", err->msg, text);
  assert_no_err (err);
  return ig;
}

typedef struct match_case
{
  const char *name;
  const char *patterns;
  const char *path;
  bool excluded;
} match_case;

static const match_case match_cases[] = {
  { "star_matches_file", "*", "fileutils.go", true },
  /* Many stars that all fail: exponential by plain backtracking (this one
   * took minutes), bounded now. */
  { "many_stars_fail_fast", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
  { "many_stars_match", "*a*a*a*a*a*a*a*a*b", "xaxaxaxaxaxaxaxaxaxb", true },
  { "star_matches_dir_and_below", "*", "a/b/c", true },
  { "star_ext_at_root", "*.go", "main.go", true },
  { "star_ext_not_below_root", "*.go", "cmd/main.go", false },
  { "star_stays_in_component", "a*/b", "a/x/b", false },
  { "star_in_component", "a*/b", "abc/b", true },
  { "star_slash_star", "*/*.txt", "a/b.txt", true },
  { "star_slash_star_not_deeper", "*/*.txt", "a/b/c.txt", false },
  { "doublestar_any_depth", "**/*.go", "a/b/c/main.go", true },
  { "doublestar_zero_dirs", "**/*.go", "main.go", true },
  { "doublestar_middle_zero", "a/**/b", "a/b", true },
  { "doublestar_middle_many", "a/**/b", "a/x/y/b", true },
  { "doublestar_middle_below", "a/**/b", "a/x/b/c", true },
  { "doublestar_middle_other", "a/**/b", "a/x/c", false },
  { "doublestar_alone", "**", "anything/at/all", true },
  { "doublestar_suffix_dir", "**/node_modules", "web/app/node_modules/x/y.js", true },
  { "doublestar_suffix_root", "**/node_modules", "node_modules", true },
  { "doublestar_suffix_not_partial_name", "**/foo", "afoo", false },
  { "doublestar_plain_suffix", "**.go", "x/main.go", true },
  { "doublestar_trailing_prefix", "dir/**", "dir/x/y", true },
  { "doublestar_trailing_not_dir_itself", "dir/**", "dir", false },
  { "doublestar_trailing_no_slash", "foo**", "foobar/x", true },
  { "question_one_char", "file?.txt", "file1.txt", true },
  { "question_not_two", "file?.txt", "file10.txt", false },
  { "question_not_slash", "a?b", "a/b", false },
  { "question_utf8_char", "caf?", "caf\xc3\xa9", true },
  { "class_range", "[a-c].txt", "b.txt", true },
  { "class_range_miss", "[a-c].txt", "d.txt", false },
  { "class_negated", "[^a].txt", "b.txt", true },
  { "class_negated_miss", "[^a].txt", "a.txt", false },
  { "class_escaped_bracket", "x[\\]]", "x]", true },
  { "escaped_star_is_literal", "*\\*", "foo*", true },
  { "escaped_star_needs_star", "*\\*", "foo", false },
  { "dot_is_literal", "a.c", "abc", false },
  { "plain_dir_excludes_below", "docs", "docs/api/index.md", true },
  { "plain_name_not_prefix", "docs", "docsy", false },
  { "plain_not_deeper_name", "docs", "src/docs", false },
  { "trailing_slash_cleaned", "docs/", "docs/readme.md", true },
  { "leading_slash_stripped", "/docs", "docs", true },
  { "leading_dot_slash_stripped", "./docs", "docs/x", true },
  { "dotdot_cleaned", "a/../b", "b", true },
  { "blanks_trimmed", "   *.log   \n", "x.log", true },
  { "crlf_line_end", "*.log\r\nkeep\r\n", "keep", true },
  { "comment_line_skipped", "# *.go\n", "main.go", false },
  { "hash_after_blank_is_a_pattern", "  #x\n", "#x", true },
  { "exception_reincludes", "*.md\n!README.md", "README.md", false },
  { "exception_others_stay_out", "*.md\n!README.md", "CHANGES.md", true },
  { "last_match_wins", "!README.md\n*.md", "README.md", true },
  { "exception_inside_excluded_dir", "docs\n!docs/keep.md", "docs/keep.md", false },
  { "exception_inside_excluded_dir_other", "docs\n!docs/keep.md", "docs/other.md", true },
  { "exception_reincludes_dir_below", "*\n!keep", "keep/sub/file", false },
  { "exclusion_after_exception", "*\n!keep\nkeep/tmp", "keep/tmp/x", true },
  { "exception_with_doublestar", "**/*.log\n!important/**", "important/a.log", false },
  { "path_dot_slash", "docs", "./docs/x", true },
  { "path_leading_slash", "docs", "/docs/x", true },
  { "path_double_slash", "docs/a", "docs//a", true },
  { "bom_skipped", "\xef\xbb\xbf*.tmp", "x.tmp", true },
  { "no_patterns", "", "anything", false },
};

static void
test_match_case (void **state)
{
  const match_case *c = *state;
  pier_ignore *ig = load (c->patterns);
  if (pier_ignore_excluded (ig, c->path) != c->excluded)
    fail_msg ("%s: `%s` should %sbe excluded by:\n%s", c->name, c->path, c->excluded ? "" : "not ",
              c->patterns);
  pier_ignore_free (ig);
}

typedef struct bad_case
{
  const char *name;
  const char *patterns;
  const char *frag;
} bad_case;

static const bad_case bad_cases[] = {
  { "bad_lone_bang", "a\n!\n", ".dockerignore:2: illegal exclusion pattern" },
  { "bad_bang_blank", "!   \n", ".dockerignore:1: illegal exclusion pattern" },
  { "bad_unclosed_class", "ok\n\n[abc\n", ".dockerignore:3: syntax error in pattern `[abc`" },
  { "bad_trailing_backslash", "foo\\\n", "syntax error in pattern" },
  { "bad_empty_class", "[]a]\n", "syntax error in pattern `[]a]`" },
  { "bad_reversed_range", "[z-a]\n", "syntax error in pattern" },
  { "bad_open_range", "[a-]\n", "syntax error in pattern" },
  { "bad_dash_first", "x/[-a]\n", "syntax error in pattern `x/[-a]`" },
};

static void
test_bad_case (void **state)
{
  const bad_case *c = *state;
  pier_ignore *ig = NULL;
  pier_error *err = NULL;
  if (pier_ignore_parse (c->patterns, strlen (c->patterns), ".dockerignore", &ig, &err) == 0)
    fail_msg ("%s: accepted", c->name);
  assert_null (ig);
  assert_err_contains (err, c->frag);
  assert_int_equal (err->code, EINVAL);
  pier_error_free (&err);
}

typedef struct reinclude_case
{
  const char *name;
  const char *patterns;
  const char *dir;
  bool may;
} reinclude_case;

static const reinclude_case reinclude_cases[] = {
  { "reinclude_none_without_exceptions", "docs\n", "docs", false },
  { "reinclude_file_below", "docs\n!docs/keep.md\n", "docs", true },
  { "reinclude_deep_file", "build\n!build/out/keep\n", "build", true },
  { "reinclude_deep_file_subdir", "build\n!build/out/keep\n", "build/out", true },
  { "reinclude_other_subdir", "build\n!build/out/keep\n", "build/tmp", false },
  { "reinclude_glob_child", "*\n!src/*.go\n", "src", true },
  { "reinclude_glob_other_dir", "*\n!src/*.go\n", "lib", false },
  { "reinclude_root_glob_not_in_dir", "*\n!*.go\n", "pkg", false },
  { "reinclude_doublestar_anywhere", "*\n!**/keep\n", "a/b/c", true },
  { "reinclude_star_dir", "*\n!*/keep\n", "pkg", true },
  { "reinclude_star_dir_too_deep", "*\n!*/keep\n", "pkg/sub", false },
  { "reinclude_prefix", "*\n!vendor/github**\n", "vendor", true },
  { "reinclude_prefix_other", "*\n!vendor/github**\n", "node_modules", false },
  { "reinclude_dir_itself", "*\n!docs\n", "docs", true },
  { "reinclude_path_normalized", "docs\n!docs/keep.md\n", "./docs/", true },
};

static void
test_reinclude_case (void **state)
{
  const reinclude_case *c = *state;
  pier_ignore *ig = load (c->patterns);
  if (pier_ignore_may_reinclude (ig, c->dir) != c->may)
    fail_msg ("%s: may_reinclude (%s) should be %s for:\n%s", c->name, c->dir, c->may ? "true" : "false",
              c->patterns);
  pier_ignore_free (ig);
}

/* ---------------------------------------------------------------------- */

static void
test_patterns_listed_clean (void **state)
{
  (void) state;
  pier_ignore *ig = load ("# comment\n\n  /docs/  \n! ./a//b/../c\n**/*.tmp\n../out\n/\n");
  assert_int_equal (pier_ignore_count (ig), 5);
  assert_string_equal (pier_ignore_pattern (ig, 0), "docs");
  assert_string_equal (pier_ignore_pattern (ig, 1), "!a/c");
  assert_string_equal (pier_ignore_pattern (ig, 2), "**/*.tmp");
  assert_string_equal (pier_ignore_pattern (ig, 3), "../out");
  assert_string_equal (pier_ignore_pattern (ig, 4), "/");
  assert_null (pier_ignore_pattern (ig, 5));
  assert_true (pier_ignore_has_exceptions (ig));
  pier_ignore_free (ig);
}

static void
test_new_from_list (void **state)
{
  (void) state;
  const char *const pats[] = { "*.o", NULL, " ", "!keep.o" };
  pier_ignore *ig = NULL;
  pier_error *err = NULL;
  assert_int_equal (pier_ignore_new (pats, 4, &ig, &err), 0);
  assert_int_equal (pier_ignore_count (ig), 2);
  assert_true (pier_ignore_excluded (ig, "a.o"));
  assert_false (pier_ignore_excluded (ig, "keep.o"));
  pier_ignore_free (ig);

  const char *const bad[] = { "ok", "[" };
  ig = NULL;
  assert_int_equal (pier_ignore_new (bad, 2, &ig, &err), -1);
  assert_null (ig);
  assert_err_contains (err, "syntax error in pattern `[`");
  pier_error_free (&err);
}

static void
test_no_exceptions (void **state)
{
  (void) state;
  pier_ignore *ig = load ("a\nb\n");
  assert_false (pier_ignore_has_exceptions (ig));
  pier_ignore_free (ig);
  /* NULL is an empty list. */
  assert_false (pier_ignore_excluded (NULL, "a"));
  assert_false (pier_ignore_may_reinclude (NULL, "a"));
  assert_int_equal (pier_ignore_count (NULL), 0);
  pier_ignore_free (NULL);
}

static void
test_clean_path (void **state)
{
  (void) state;
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "", "." },
    { ".", "." },
    { "./", "." },
    { "a//b/./c/..", "a/b" },
    { "/../a", "/a" },
    { "../../x", "../../x" },
    { "a/b/../../..", ".." },
    { "/", "/" },
    { "//a//", "/a" },
    { "a/./", "a" },
    { "x/../../y", "../y" },
    { "abc/def", "abc/def" },
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    {
      char *c = pier_ignore_clean_path (cases[k].in);
      if (strcmp (c, cases[k].out) != 0)
        fail_msg ("clean (`%s`) gave `%s`, expected `%s`", cases[k].in, c, cases[k].out);
      free (c);
    }
}

/* What a context walker does: skip an excluded directory unless an
 * exception may take something beneath it back. */
static void
test_walk_decisions (void **state)
{
  (void) state;
  pier_ignore *ig = load ("node_modules\n.git\n*.log\n!node_modules/keep/**\n");
  assert_true (pier_ignore_excluded (ig, ".git"));
  assert_false (pier_ignore_may_reinclude (ig, ".git"));
  assert_true (pier_ignore_excluded (ig, "node_modules"));
  assert_true (pier_ignore_may_reinclude (ig, "node_modules"));
  assert_true (pier_ignore_excluded (ig, "node_modules/other/x.js"));
  assert_false (pier_ignore_excluded (ig, "node_modules/keep/x.js"));
  assert_true (pier_ignore_excluded (ig, "debug.log"));
  assert_false (pier_ignore_excluded (ig, "src/debug.log"));
  assert_false (pier_ignore_excluded (ig, "Dockerfile"));
  pier_ignore_free (ig);
}

int
main (int argc, char **argv)
{
  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test (test_patterns_listed_clean), cmocka_unit_test (test_new_from_list),
    cmocka_unit_test (test_no_exceptions),         cmocka_unit_test (test_clean_path),
    cmocka_unit_test (test_walk_decisions),
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0];
  size_t nm = sizeof match_cases / sizeof match_cases[0], nb = sizeof bad_cases / sizeof bad_cases[0];
  size_t nr = sizeof reinclude_cases / sizeof reinclude_cases[0];
  struct CMUnitTest *tests = xcalloc (nfixed + nm + nb + nr, sizeof *tests);
  size_t n = 0;
  memcpy (tests, fixed, sizeof fixed);
  n += nfixed;
  for (size_t i = 0; i < nm; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_match_case, (void *) &match_cases[i]);
      t.name = match_cases[i].name;
      tests[n++] = t;
    }
  for (size_t i = 0; i < nb; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_bad_case, (void *) &bad_cases[i]);
      t.name = bad_cases[i].name;
      tests[n++] = t;
    }
  for (size_t i = 0; i < nr; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_reinclude_case, (void *) &reinclude_cases[i]);
      t.name = reinclude_cases[i].name;
      tests[n++] = t;
    }
  int rc = unit_run ("test_dockerignore", tests, n, NULL, 0, argc, argv);
  free (tests);
  return rc;
}
