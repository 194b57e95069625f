/* Unit tests for build/dockerfile and build/expand: the Dockerfile front
 * end.  Expected results follow docker's buildkit front end (its parser,
 * instruction parsing and shell-word lexer); each case is its own test. */
#include "unit.h"

#include "build/dockerfile.h"
#include "build/expand.h"
#include "util/xalloc.h"

/* Parse text that must be accepted. */
static pier_dockerfile *
parse_ok (const char *text)
{
  pier_dockerfile *df = NULL;
  pier_error *err = NULL;
  if (pier_dockerfile_parse (text, strlen (text), "Dockerfile", &df, &err) < 0)
    fail_msg ("refused: %s\n--- input ---\n%s", err->msg, text);
  assert_no_err (err);
  assert_non_null (df);
  return df;
}

/* Parse text that must be refused with a message holding want. */
static void
parse_bad (const char *text, const char *want)
{
  pier_dockerfile *df = NULL, *sentinel = (pier_dockerfile *) &df;
  pier_error *err = NULL;
  df = sentinel;
  if (pier_dockerfile_parse (text, strlen (text), "Dockerfile", &df, &err) == 0)
    fail_msg ("accepted, expected `%s`\n--- input ---\n%s", want, text);
  assert_ptr_equal (df, sentinel);
  assert_err_contains (err, want);
  assert_int_equal (err->code, EINVAL);
  pier_error_free (&err);
}

static const pier_df_instr *
instr (const pier_dockerfile *df, size_t stage, size_t i)
{
  assert_true (stage < df->n_stages);
  assert_true (i < df->stages[stage].n_instrs);
  return &df->stages[stage].instrs[i];
}

static void
assert_args (const pier_df_instr *in, const char *const *want)
{
  size_t n = 0;
  while (want[n])
    n++;
  if (in->n_args != n)
    fail_msg ("%s: %zu arguments, expected %zu", in->original, in->n_args, n);
  for (size_t k = 0; k < n; k++)
    assert_string_equal (in->args[k], want[k]);
  assert_null (in->args[n]);
}
#define ARGS(in, ...) assert_args (in, (const char *const[]){ __VA_ARGS__, NULL })

/* ---------------------------------------------------------------------- */

static void
test_minimal (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM busybox\n");
  assert_int_equal (df->n_stages, 1);
  assert_int_equal (df->n_global_args, 0);
  assert_int_equal (df->escape, '\\');
  assert_null (df->syntax);
  assert_null (df->stages[0].name);
  assert_string_equal (df->stages[0].base, "busybox");
  assert_null (df->stages[0].platform);
  assert_int_equal (df->stages[0].n_instrs, 1);
  const pier_df_instr *in = instr (df, 0, 0);
  assert_int_equal (in->kind, PIER_DF_FROM);
  assert_int_equal (in->line, 1);
  assert_int_equal (in->column, 1);
  assert_string_equal (in->original, "FROM busybox");
  ARGS (in, "busybox");
  pier_dockerfile_free (df);
}

static void
test_no_trailing_newline (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nRUN true");
  ARGS (instr (df, 0, 1), "true");
  assert_int_equal (instr (df, 0, 1)->line, 2);
  pier_dockerfile_free (df);
}

static void
test_keywords_any_case (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("from alpine\nrUn echo hi\nWorkDir /app\n");
  assert_int_equal (instr (df, 0, 1)->kind, PIER_DF_RUN);
  assert_int_equal (instr (df, 0, 2)->kind, PIER_DF_WORKDIR);
  /* The original keeps the keyword as written. */
  assert_string_equal (instr (df, 0, 1)->original, "rUn echo hi");
  pier_dockerfile_free (df);
}

static void
test_from_as_stage_names (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM golang:1.22 AS Build\nRUN go build\n"
                                  "FROM build as test\n"
                                  "FROM scratch\nCOPY --from=build /out /\n");
  assert_int_equal (df->n_stages, 3);
  assert_string_equal (df->stages[0].name, "build");
  assert_string_equal (df->stages[0].base, "golang:1.22");
  assert_string_equal (df->stages[1].name, "test");
  assert_string_equal (df->stages[1].base, "build");
  assert_null (df->stages[2].name);
  assert_int_equal (df->stages[0].n_instrs, 2);
  assert_int_equal (pier_df_stage_find (df, "build"), 0);
  assert_int_equal (pier_df_stage_find (df, "BUILD"), 0);
  assert_int_equal (pier_df_stage_find (df, "test"), 1);
  assert_int_equal (pier_df_stage_find (df, "2"), 2);
  assert_int_equal (pier_df_stage_find (df, "3"), -1);
  assert_int_equal (pier_df_stage_find (df, "nope"), -1);
  assert_int_equal (pier_df_stage_find (df, ""), -1);
  pier_dockerfile_free (df);
}

static void
test_from_platform (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM --platform=$BUILDPLATFORM alpine AS base\n");
  assert_string_equal (df->stages[0].platform, "$BUILDPLATFORM");
  assert_string_equal (df->stages[0].base, "alpine");
  assert_string_equal (pier_df_flag_get (instr (df, 0, 0), "platform"), "$BUILDPLATFORM");
  pier_dockerfile_free (df);
}

static void
test_global_args (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("ARG VERSION=3.19\nARG REGISTRY\n"
                                  "FROM ${REGISTRY}alpine:$VERSION\nARG VERSION\nRUN echo $VERSION\n");
  assert_int_equal (df->n_global_args, 2);
  assert_string_equal (df->global_args[0].pairs[0].key, "VERSION");
  assert_string_equal (df->global_args[0].pairs[0].value, "3.19");
  assert_string_equal (df->global_args[1].pairs[0].key, "REGISTRY");
  assert_null (df->global_args[1].pairs[0].value);
  assert_string_equal (df->stages[0].base, "${REGISTRY}alpine:$VERSION");
  assert_int_equal (instr (df, 0, 1)->kind, PIER_DF_ARG);
  /* RUN is left unexpanded: the shell does it. */
  ARGS (instr (df, 0, 2), "echo $VERSION");
  pier_dockerfile_free (df);
}

static void
test_arg_forms (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nARG a=1 b c=\"x y\" d=\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->n_pairs, 4);
  assert_string_equal (in->pairs[0].key, "a");
  assert_string_equal (in->pairs[0].value, "1");
  assert_null (in->pairs[1].value);
  assert_string_equal (in->pairs[2].key, "c");
  assert_string_equal (in->pairs[2].value, "\"x y\""); /* raw: expansion unquotes */
  assert_string_equal (in->pairs[3].value, "");
  pier_dockerfile_free (df);
}

static void
test_run_shell_and_exec (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "RUN   apt-get update && apt-get install -y curl   \n"
                                  "RUN [\"/bin/sh\", \"-c\", \"echo \\\"hi\\\" \\u00e9\"]\n"
                                  "CMD [ \"nginx\" ,\"-g\", \"daemon off;\" ]\n"
                                  "ENTRYPOINT exec top -b\n"
                                  "CMD []\n");
  const pier_df_instr *r1 = instr (df, 0, 1), *r2 = instr (df, 0, 2);
  assert_false (r1->exec_form);
  ARGS (r1, "apt-get update && apt-get install -y curl");
  assert_string_equal (r1->original, "RUN   apt-get update && apt-get install -y curl");
  assert_true (r2->exec_form);
  ARGS (r2, "/bin/sh", "-c", "echo \"hi\" \xc3\xa9");
  assert_true (instr (df, 0, 3)->exec_form);
  ARGS (instr (df, 0, 3), "nginx", "-g", "daemon off;");
  assert_false (instr (df, 0, 4)->exec_form);
  ARGS (instr (df, 0, 4), "exec top -b");
  assert_true (instr (df, 0, 5)->exec_form);
  assert_int_equal (instr (df, 0, 5)->n_args, 0);
  pier_dockerfile_free (df);
}

/* Text that only looks like JSON is shell form, as in docker. */
static void
test_bad_json_is_shell_form (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nCMD [\"echo\", \"unclosed\"\nRUN [echo]\n"
                                  "ENTRYPOINT ['single', 'quotes']\n");
  assert_false (instr (df, 0, 1)->exec_form);
  ARGS (instr (df, 0, 1), "[\"echo\", \"unclosed\"");
  ARGS (instr (df, 0, 2), "[echo]");
  ARGS (instr (df, 0, 3), "['single', 'quotes']");
  pier_dockerfile_free (df);
}

static void
test_json_non_string_is_error (void **state)
{
  (void) state;
  parse_bad ("FROM a\nCMD [\"sleep\", 10]\n", "Dockerfile:2:5: CMD: a JSON array must hold only strings");
}

static void
test_shell_needs_json (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nSHELL [\"powershell\", \"-command\"]\n");
  ARGS (instr (df, 0, 1), "powershell", "-command");
  pier_dockerfile_free (df);
  parse_bad ("FROM a\nSHELL /bin/bash -c\n",
             "Dockerfile:2:7: SHELL requires the arguments to be in JSON form");
  parse_bad ("FROM a\nSHELL []\n", "SHELL requires at least one argument");
}

static void
test_continuation_lines (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "RUN apt-get update \\\n"
                                  "    && apt-get install -y \\\n"
                                  "       curl   \\  \n"
                                  "    && rm -rf /var/lib/apt\n"
                                  "USER app\n");
  const pier_df_instr *in = instr (df, 0, 1);
  ARGS (in, "apt-get update     && apt-get install -y        curl       && rm -rf /var/lib/apt");
  assert_string_equal (in->original,
                       "RUN apt-get update     && apt-get install -y        curl       && rm -rf "
                       "/var/lib/apt");
  assert_int_equal (in->line, 2);
  assert_int_equal (in->end_line, 5);
  assert_int_equal (instr (df, 0, 2)->line, 6);
  pier_dockerfile_free (df);
}

/* docker drops comment lines and blank lines inside a continuation. */
static void
test_comments_inside_continuation (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "# a comment\n"
                                  "   # an indented comment\n"
                                  "RUN echo one \\\n"
                                  "# dropped\n"
                                  "  # dropped too\n"
                                  "\n"
                                  "    two\n"
                                  "\n"
                                  "RUN echo # not a comment here\n");
  ARGS (instr (df, 0, 1), "echo one     two");
  assert_int_equal (instr (df, 0, 1)->end_line, 8);
  ARGS (instr (df, 0, 2), "echo # not a comment here");
  assert_int_equal (instr (df, 0, 2)->line, 10);
  pier_dockerfile_free (df);
}

static void
test_continuation_at_eof (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nRUN echo \\\n");
  ARGS (instr (df, 0, 1), "echo");
  pier_dockerfile_free (df);
}

static void
test_escape_directive_backtick (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("# escape=`\n"
                                  "\n"
                                  "FROM mcr.microsoft.com/windows/servercore\n"
                                  "COPY testfile.txt c:\\\n"
                                  "RUN dir c:\\ `\n"
                                  "    /b\n");
  assert_int_equal (df->escape, '`');
  ARGS (instr (df, 0, 1), "testfile.txt", "c:\\");
  ARGS (instr (df, 0, 2), "dir c:\\     /b");
  pier_dockerfile_free (df);
}

/* Without the directive, the same file joins "c:\" with the next line. */
static void
test_backslash_without_directive (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
  assert_int_equal (df->stages[0].n_instrs, 2);
  ARGS (instr (df, 0, 1), "testfile.txt", "c:RUN", "dir", "c:");
  pier_dockerfile_free (df);
}

/* Two escapes at the end: the line is not continued (buildkit's rule). */
static void
test_escaped_escape_ends_line (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nRUN dir c:\\\\\nUSER x\n\\\nUSER y\n");
  assert_int_equal (df->stages[0].n_instrs, 4);
  ARGS (instr (df, 0, 1), "dir c:\\\\");
  ARGS (instr (df, 0, 2), "x");
  /* A line holding only the escape continues into the next; line and
   * column are the keyword's. */
  ARGS (instr (df, 0, 3), "y");
  assert_int_equal (instr (df, 0, 3)->line, 5);
  pier_dockerfile_free (df);
}

static void
test_heredoc_keeps_line_endings (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\r\nCOPY <<-EOF /x\r\n\tone\r\n\t\ttwo\r\n\tEOF\r\nUSER u\r\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_string_equal (in->heredocs[0].content, "one\r\ntwo\r\n");
  assert_int_equal (in->end_line, 5);
  ARGS (instr (df, 0, 2), "u");
  pier_dockerfile_free (df);
}

static void
test_heredoc_onbuild (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nONBUILD RUN <<EOF\necho later\nEOF\nUSER u\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->n_heredocs, 0);
  assert_int_equal (in->trigger->n_heredocs, 1);
  assert_string_equal (in->trigger->heredocs[0].content, "echo later\n");
  assert_int_equal (in->end_line, 4);
  assert_int_equal (instr (df, 0, 2)->line, 5);
  pier_dockerfile_free (df);
}

static void
test_directives_stored (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("#syntax=docker/dockerfile:1.7\n"
                                  "#  CHECK = skip=all ; error=true  \n"
                                  "# Escape = \\\n"
                                  "FROM a\n");
  assert_string_equal (df->syntax, "docker/dockerfile:1.7");
  assert_string_equal (df->check, "skip=all ; error=true");
  assert_int_equal (df->escape, '\\');
  pier_dockerfile_free (df);
}

static void
test_directive_after_comment_is_comment (void **state)
{
  (void) state;
  /* A plain comment ends the directives, so does an unknown directive
   * (as in buildkit's DirectiveParser) and a blank line. */
  pier_dockerfile *df = parse_ok ("# syntax=a\n# just words\n# escape=`\nFROM a\n");
  assert_string_equal (df->syntax, "a");
  assert_int_equal (df->escape, '\\');
  pier_dockerfile_free (df);
  df = parse_ok ("# unknown=value\n# syntax=a\nFROM a\n");
  assert_null (df->syntax);
  pier_dockerfile_free (df);
  df = parse_ok ("\n# escape=`\nFROM a\nRUN a \\\n b\n");
  assert_int_equal (df->escape, '\\');
  ARGS (instr (df, 0, 1), "a  b");
  pier_dockerfile_free (df);
  df = parse_ok ("FROM a\n# escape=`\n");
  assert_int_equal (df->escape, '\\');
  pier_dockerfile_free (df);
}

static void
test_directive_twice (void **state)
{
  (void) state;
  parse_bad ("# escape=\\\n# escape=`\nFROM a\n",
             "Dockerfile:2:3: only one escape parser directive can be used");
  parse_bad ("# syntax=a\n#SYNTAX=b\nFROM a\n", "Dockerfile:2:2: only one syntax parser directive");
}

static void
test_directive_bad_escape (void **state)
{
  (void) state;
  parse_bad ("# escape=x\nFROM a\n", "Dockerfile:1:10: invalid escape token `x`");
}

static void
test_bom_and_crlf (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("\xef\xbb\xbf# syntax=x\r\nFROM a\r\nRUN echo a \\\r\n  b\r\nUSER me\r\n");
  assert_string_equal (df->syntax, "x");
  ARGS (instr (df, 0, 1), "echo a   b");
  ARGS (instr (df, 0, 2), "me");
  assert_int_equal (instr (df, 0, 2)->line, 5);
  pier_dockerfile_free (df);
}

static void
test_heredoc_run (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "RUN <<EOF\n"
                                  "apt-get update\n"
                                  "  echo $HOME\n"
                                  "EOF\n"
                                  "USER x\n");
  const pier_df_instr *in = instr (df, 0, 1);
  ARGS (in, "<<EOF");
  assert_int_equal (in->n_heredocs, 1);
  assert_string_equal (in->heredocs[0].name, "EOF");
  assert_string_equal (in->heredocs[0].content, "apt-get update\n  echo $HOME\n");
  assert_true (in->heredocs[0].expand);
  assert_false (in->heredocs[0].chomp);
  assert_int_equal (in->heredocs[0].fd, -1);
  assert_int_equal (in->line, 2);
  assert_int_equal (in->end_line, 5);
  assert_string_equal (in->original, "RUN <<EOF");
  assert_int_equal (instr (df, 0, 2)->line, 6);
  pier_dockerfile_free (df);
}

static void
test_heredoc_chomp_tabs (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "RUN <<-END python3\n"
                                  "\t\tprint('a')\n"
                                  "\t  print('b')\n"
                                  "    spaces stay\n"
                                  "\tEND\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_true (in->heredocs[0].chomp);
  assert_string_equal (in->heredocs[0].name, "END");
  assert_string_equal (in->heredocs[0].content, "print('a')\n  print('b')\n    spaces stay\n");
  ARGS (in, "<<-END python3");
  pier_dockerfile_free (df);
}

/* Without '-', a tab-indented terminator does not end the heredoc. */
static void
test_heredoc_tab_terminator_needs_chomp (void **state)
{
  (void) state;
  parse_bad ("FROM a\nRUN <<EOF\necho\n\tEOF\n", "Dockerfile:2:5: unterminated heredoc");
}

static void
test_heredoc_quoted_no_expand (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "RUN <<\"EOF\" bash\necho $X\nEOF\n"
                                  "RUN <<'EOF'\necho $X\nEOF\n"
                                  "RUN <<E\"O\"F\nx\nEOF\n");
  for (size_t k = 1; k <= 3; k++)
    {
      const pier_df_instr *in = instr (df, 0, k);
      assert_int_equal (in->n_heredocs, 1);
      assert_string_equal (in->heredocs[0].name, "EOF");
      assert_false (in->heredocs[0].expand);
    }
  assert_string_equal (instr (df, 0, 1)->heredocs[0].content, "echo $X\n");
  pier_dockerfile_free (df);
}

static void
test_heredoc_several (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "RUN <<FILE1 cat > file1 && 3<<-FILE2 cat > file2\n"
                                  "I am\nfirst\n"
                                  "FILE1\n"
                                  "\tI am\n\tsecond\n"
                                  "\tFILE2\n"
                                  "CMD x\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->n_heredocs, 2);
  assert_string_equal (in->heredocs[0].name, "FILE1");
  assert_string_equal (in->heredocs[0].content, "I am\nfirst\n");
  assert_string_equal (in->heredocs[1].name, "FILE2");
  assert_string_equal (in->heredocs[1].content, "I am\nsecond\n");
  assert_int_equal (in->heredocs[1].fd, 3);
  assert_true (in->heredocs[1].chomp);
  assert_int_equal (in->end_line, 8);
  assert_int_equal (instr (df, 0, 2)->line, 9);
  pier_dockerfile_free (df);
}

static void
test_heredoc_copy (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "COPY --chmod=0755 <<EOF /usr/local/bin/hello\n"
                                  "#!/bin/sh\n"
                                  "echo hello\n"
                                  "\n"
                                  "EOF\n");
  const pier_df_instr *in = instr (df, 0, 1);
  ARGS (in, "<<EOF", "/usr/local/bin/hello");
  assert_string_equal (in->heredocs[0].content, "#!/bin/sh\necho hello\n\n");
  assert_string_equal (pier_df_flag_get (in, "chmod"), "0755");
  pier_dockerfile_free (df);
}

static void
test_heredoc_empty_body (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nCOPY <<EOF /empty\nEOF\n");
  assert_string_equal (instr (df, 0, 1)->heredocs[0].content, "");
  pier_dockerfile_free (df);
}

static void
test_heredoc_not_in_exec_form_or_other (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nRUN [\"cat\", \"<<EOF\"]\nCMD cat <<EOF\nENV A=<<EOF\n");
  assert_int_equal (instr (df, 0, 1)->n_heredocs, 0);
  assert_int_equal (instr (df, 0, 2)->n_heredocs, 0);
  assert_int_equal (df->stages[0].n_instrs, 4);
  pier_dockerfile_free (df);
}

static void
test_heredoc_unterminated (void **state)
{
  (void) state;
  parse_bad ("FROM a\n\nRUN   cat <<EOF\nline\n", "Dockerfile:3:11: unterminated heredoc");
}

static void
test_heredoc_as_destination (void **state)
{
  (void) state;
  parse_bad ("FROM a\nCOPY a <<EOF\nx\nEOF\n",
             "Dockerfile:2:1: COPY cannot accept a heredoc as a destination");
}

static void
test_copy_flags (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "COPY --from=build --chown=app:app --chmod=644 --link --parents=false "
                                  "--exclude=*.md --exclude=*.txt src/ dst/ /app/\n"
                                  "ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.tar /y\n");
  const pier_df_instr *in = instr (df, 0, 1);
  ARGS (in, "src/", "dst/", "/app/");
  assert_int_equal (in->n_flags, 7);
  assert_string_equal (pier_df_flag_get (in, "from"), "build");
  assert_string_equal (pier_df_flag_get (in, "chown"), "app:app");
  assert_string_equal (pier_df_flag_get (in, "chmod"), "644");
  assert_string_equal (pier_df_flag_get (in, "link"), "");
  assert_true (pier_df_flag_bool (in, "link"));
  assert_false (pier_df_flag_bool (in, "parents"));
  assert_null (pier_df_flag_get (in, "nope"));
  assert_string_equal (in->flags[5].name, "exclude");
  assert_string_equal (in->flags[5].value, "*.md");
  assert_string_equal (in->flags[6].value, "*.txt");
  assert_int_equal (in->flags[0].line, 2);
  assert_int_equal (in->flags[0].column, 6);
  const pier_df_instr *add = instr (df, 0, 2);
  assert_true (pier_df_flag_bool (add, "keep-git-dir"));
  assert_string_equal (pier_df_flag_get (add, "checksum"), "sha256:abc");
  pier_dockerfile_free (df);
}

static void
test_copy_json_form (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nCOPY [\"my file\", \"other\", \"/dst dir/\"]\nVOLUME /a /b\n"
                                  "VOLUME [\"/data\"]\n");
  assert_true (instr (df, 0, 1)->exec_form);
  ARGS (instr (df, 0, 1), "my file", "other", "/dst dir/");
  ARGS (instr (df, 0, 2), "/a", "/b");
  ARGS (instr (df, 0, 3), "/data");
  pier_dockerfile_free (df);
}

static void
test_run_mounts (void **state)
{
  (void) state;
  pier_dockerfile *df
      = parse_ok ("FROM a\n"
                  "RUN --mount=type=cache,target=/root/.cache \\\n"
                  "    --mount=\"type=secret,id=tok en\" --network=none --security=insecure \\\n"
                  "    pip install -r requirements.txt\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->n_flags, 4);
  assert_string_equal (in->flags[0].value, "type=cache,target=/root/.cache");
  assert_string_equal (in->flags[1].value, "type=secret,id=tok en");
  assert_int_equal (in->flags[1].line, 3);
  assert_int_equal (in->flags[1].column, 5);
  assert_string_equal (pier_df_flag_get (in, "network"), "none");
  ARGS (in, "pip install -r requirements.txt");
  pier_dockerfile_free (df);
}

static void
test_unknown_flag (void **state)
{
  (void) state;
  parse_bad ("FROM a\nCOPY --frm=x a b\n", "Dockerfile:2:6: unknown flag for COPY: --frm");
  parse_bad ("FROM a\nRUN --from=x ls\n", "unknown flag for RUN: --from");
  parse_bad ("FROM a\nENV --x=1 A=b\n", "Dockerfile:2:5: unknown flag for ENV: --x");
  /* Flag positions are exact through a continuation line. */
  parse_bad ("FROM a\nRUN --network=host \\\n   --moun=type=cache ls\n",
             "Dockerfile:3:4: unknown flag for RUN: --moun");
}

static void
test_flag_errors (void **state)
{
  (void) state;
  parse_bad ("FROM a\nCOPY --from=a --from=b x y\n", "Dockerfile:2:15: duplicate flag specified: --from");
  parse_bad ("FROM a\nCOPY --link=maybe x y\n", "expecting a boolean value for flag --link, not `maybe`");
  parse_bad ("FROM a\nCOPY --chown x y\n", "Dockerfile:2:6: missing a value on flag --chown");
}

static void
test_env_forms (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\n"
                                  "ENV A=1 B=\"two words\" C=three\\ words D='$x' E=\n"
                                  "ENV LEGACY value with   spaces\n"
                                  "ENV  PATH=/x:$PATH\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->n_pairs, 5);
  assert_string_equal (in->pairs[0].key, "A");
  assert_string_equal (in->pairs[0].value, "1");
  assert_string_equal (in->pairs[1].value, "\"two words\"");
  assert_string_equal (in->pairs[2].value, "three\\ words");
  assert_string_equal (in->pairs[3].value, "'$x'");
  assert_string_equal (in->pairs[4].value, "");
  const pier_df_instr *legacy = instr (df, 0, 2);
  assert_int_equal (legacy->n_pairs, 1);
  assert_string_equal (legacy->pairs[0].key, "LEGACY");
  assert_string_equal (legacy->pairs[0].value, "value with   spaces");
  assert_string_equal (instr (df, 0, 3)->pairs[0].value, "/x:$PATH");
  pier_dockerfile_free (df);
}

static void
test_env_errors (void **state)
{
  (void) state;
  parse_bad ("FROM a\nENV A=1 B\n", "Dockerfile:2:9: syntax error: no `=` in `B`");
  parse_bad ("FROM a\nENV ONLYKEY\n", "Dockerfile:2:5: ENV must have two arguments");
  parse_bad ("FROM a\nENV =x\n", "ENV names can not be blank");
  parse_bad ("FROM a\nLABEL\n", "Dockerfile:2:1: LABEL requires at least one argument");
  parse_bad ("FROM a\nARG =x\n", "Dockerfile:2:5: ARG names can not be blank");
}

static void
test_label (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nLABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0 \\\n"
                                  "      description=\"multi \\\n line\"\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->n_pairs, 3);
  assert_string_equal (in->pairs[0].key, "\"com.example.vendor\"");
  assert_string_equal (in->pairs[0].value, "\"ACME Inc\"");
  assert_string_equal (in->pairs[1].value, "1.0");
  assert_string_equal (in->pairs[2].value, "\"multi  line\"");
  pier_dockerfile_free (df);
}

static void
test_simple_instructions (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nEXPOSE 80/tcp  443 $PORT\nUSER app:staff\nWORKDIR /my app\n"
                                  "STOPSIGNAL SIGKILL\nMAINTAINER Jane Doe <jane@example.com>\n");
  ARGS (instr (df, 0, 1), "80/tcp", "443", "$PORT");
  ARGS (instr (df, 0, 2), "app:staff");
  ARGS (instr (df, 0, 3), "/my app");
  ARGS (instr (df, 0, 4), "SIGKILL");
  assert_int_equal (instr (df, 0, 5)->kind, PIER_DF_MAINTAINER);
  ARGS (instr (df, 0, 5), "Jane Doe <jane@example.com>");
  pier_dockerfile_free (df);
}

static void
test_healthcheck_cmd (void **state)
{
  (void) state;
  pier_dockerfile *df
      = parse_ok ("FROM a\n"
                  "HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=250ms \\\n"
                  "  --start-interval=2s --retries=3 CMD curl -f http://localhost/ || exit 1\n"
                  "HEALTHCHECK cmd [\"/bin/check\"]\n"
                  "HEALTHCHECK NONE\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_false (in->health.none);
  assert_true (in->health.interval == 90LL * 1000000000);
  assert_true (in->health.timeout == 1500LL * 1000000);
  assert_true (in->health.start_period == 250LL * 1000000);
  assert_true (in->health.start_interval == 2LL * 1000000000);
  assert_int_equal (in->health.retries, 3);
  ARGS (in, "curl -f http://localhost/ || exit 1");
  assert_true (instr (df, 0, 2)->exec_form);
  ARGS (instr (df, 0, 2), "/bin/check");
  assert_true (instr (df, 0, 2)->health.interval == 0);
  assert_true (instr (df, 0, 3)->health.none);
  assert_int_equal (instr (df, 0, 3)->n_args, 0);
  pier_dockerfile_free (df);
}

static void
test_healthcheck_errors (void **state)
{
  (void) state;
  parse_bad ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2:18: HEALTHCHECK NONE takes no arguments");
  parse_bad ("FROM a\nHEALTHCHECK CURL x\n", "Dockerfile:2:13: unknown type `CURL` in HEALTHCHECK");
  parse_bad ("FROM a\nHEALTHCHECK CMD\n", "missing command after HEALTHCHECK CMD");
  parse_bad ("FROM a\nHEALTHCHECK --interval=5 CMD x\n",
             "Dockerfile:2:13: invalid duration `5` for --interval");
  parse_bad ("FROM a\nHEALTHCHECK --timeout=10us CMD x\n", "--timeout cannot be less than 1ms");
  parse_bad ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative");
  parse_bad ("FROM a\nHEALTHCHECK --retries=x CMD x\n", "invalid value for --retries: `x`");
}

static void
test_onbuild (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nONBUILD copy --chown=1 . /app/src\nONBUILD RUN [\"make\"]\n");
  const pier_df_instr *in = instr (df, 0, 1);
  assert_int_equal (in->kind, PIER_DF_ONBUILD);
  ARGS (in, "copy --chown=1 . /app/src");
  assert_non_null (in->trigger);
  assert_int_equal (in->trigger->kind, PIER_DF_COPY);
  assert_string_equal (in->trigger->original, "copy --chown=1 . /app/src");
  assert_string_equal (pier_df_flag_get (in->trigger, "chown"), "1");
  assert_int_equal (in->trigger->column, 9);
  ARGS (in->trigger, ".", "/app/src");
  assert_true (instr (df, 0, 2)->trigger->exec_form);
  pier_dockerfile_free (df);
}

static void
test_onbuild_errors (void **state)
{
  (void) state;
  parse_bad ("FROM a\nONBUILD ONBUILD RUN x\n",
             "Dockerfile:2:9: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  parse_bad ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger");
  parse_bad ("FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger");
  parse_bad ("FROM a\nONBUILD BOGUS x\n", "Dockerfile:2:9: unknown instruction: BOGUS");
  parse_bad ("FROM a\nONBUILD\n", "Dockerfile:2:1: ONBUILD requires at least one argument");
}

static void
test_unknown_instruction (void **state)
{
  (void) state;
  parse_bad ("FROM a\nRUN x\nFORM b\n", "Dockerfile:3:1: unknown instruction: FORM");
  parse_bad ("FROM a\n   Copyy a b\n", "Dockerfile:2:4: unknown instruction: Copyy");
}

static void
test_file_name_in_messages (void **state)
{
  (void) state;
  pier_dockerfile *df = NULL;
  pier_error *err = NULL;
  const char *text = "FROM a\nNOPE\n";
  assert_int_equal (pier_dockerfile_parse (text, strlen (text), "app/Containerfile", &df, &err), -1);
  assert_string_equal (err->msg, "app/Containerfile:2:1: unknown instruction: NOPE");
  pier_error_free (&err);
  /* A NULL err is allowed. */
  assert_int_equal (pier_dockerfile_parse (text, strlen (text), NULL, &df, NULL), -1);
  assert_null (df);
}

static void
test_missing_arguments (void **state)
{
  (void) state;
  parse_bad ("FROM a\nRUN\n", "Dockerfile:2:1: RUN requires at least one argument");
  parse_bad ("FROM a\nRUN   \n", "Dockerfile:2:1: RUN requires at least one argument");
  parse_bad ("FROM a\nRUN []\n", "RUN requires at least one argument");
  parse_bad ("FROM a\n  WORKDIR\n", "Dockerfile:2:3: WORKDIR requires at least one argument");
  parse_bad ("FROM a\nRUN --network=none\n", "RUN requires at least one argument");
  parse_bad ("FROM\n", "Dockerfile:1:1: FROM requires at least one argument");
  parse_bad ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument");
  parse_bad ("FROM a\nVOLUME []\n", "VOLUME requires at least one argument");
}

static void
test_copy_needs_two (void **state)
{
  (void) state;
  parse_bad ("FROM a\nCOPY onlyone\n", "Dockerfile:2:6: COPY requires at least two arguments");
  parse_bad ("FROM a\nADD [\"x\"]\n", "ADD requires at least two arguments");
}

static void
test_from_errors (void **state)
{
  (void) state;
  parse_bad ("FROM a b\n", "Dockerfile:1:6: FROM requires either one argument, or three");
  parse_bad ("FROM a AT b\n", "Dockerfile:1:8: FROM: expected AS <name>, found `AT`");
  parse_bad ("FROM a AS 1st\n", "Dockerfile:1:11: invalid name for build stage: `1st`");
  parse_bad ("FROM a AS x/y\n", "invalid name for build stage");
  parse_bad ("FROM a AS x\nFROM b AS X\n", "Dockerfile:2:1: duplicate stage name `x` (first used on line 1)");
}

static void
test_no_from (void **state)
{
  (void) state;
  parse_bad ("", "Dockerfile:1:1: file with no instructions");
  parse_bad ("# just a comment\n\n", "file with no instructions");
  parse_bad ("ARG A=1\nARG B\n", "Dockerfile:1:1: no FROM instruction");
  parse_bad ("ARG A\n  RUN echo\nFROM a\n", "Dockerfile:2:3: RUN before the first FROM");
}

static void
test_nul_byte (void **state)
{
  (void) state;
  pier_dockerfile *df = NULL;
  pier_error *err = NULL;
  static const char text[] = "FROM a\nRUN a\0b\n";
  assert_int_equal (pier_dockerfile_parse (text, sizeof text - 1, "Dockerfile", &df, &err), -1);
  assert_err_contains (err, "Dockerfile:2:6:", "NUL byte");
  pier_error_free (&err);
}

static void
test_instructions_keep_order (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a AS one\nENV A=1\nRUN x\nFROM b\nARG Z\nCMD y\n");
  assert_int_equal (df->stages[0].n_instrs, 3);
  assert_int_equal (df->stages[1].n_instrs, 3);
  assert_int_equal (instr (df, 1, 1)->kind, PIER_DF_ARG);
  assert_int_equal (instr (df, 1, 2)->line, 6);
  pier_dockerfile_free (df);
}

static void
test_kind_names (void **state)
{
  (void) state;
  assert_string_equal (pier_df_kind_name (PIER_DF_ADD), "ADD");
  assert_string_equal (pier_df_kind_name (PIER_DF_HEALTHCHECK), "HEALTHCHECK");
  assert_string_equal (pier_df_kind_name (PIER_DF_WORKDIR), "WORKDIR");
  assert_string_equal (pier_df_kind_name ((pier_df_kind) 99), "?");
  /* Every kind parses back from its own name. */
  for (int k = PIER_DF_ADD; k <= PIER_DF_WORKDIR; k++)
    {
      if (k == PIER_DF_FROM)
        continue;
      char *text = xasprintf ("FROM a\n%s %s\n", pier_df_kind_name ((pier_df_kind) k),
                              k == PIER_DF_SHELL                       ? "[\"sh\"]"
                              : k == PIER_DF_ADD || k == PIER_DF_COPY  ? "a b"
                              : k == PIER_DF_ENV || k == PIER_DF_LABEL ? "a=b"
                              : k == PIER_DF_HEALTHCHECK               ? "NONE"
                              : k == PIER_DF_ONBUILD                   ? "RUN x"
                                                                       : "x");
      pier_dockerfile *df = parse_ok (text);
      assert_int_equal (instr (df, 0, 1)->kind, k);
      pier_dockerfile_free (df);
      free (text);
    }
}

static void
test_flags_end_at_double_dash (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nRUN --network=none -- --not-a-flag\n");
  ARGS (instr (df, 0, 1), "--not-a-flag");
  assert_int_equal (instr (df, 0, 1)->n_flags, 1);
  pier_dockerfile_free (df);
}

/* ---------------------------------------------------------------------- */
/* Expansion. */

static char *const test_env[] = {
  "A=a", "EMPTY=", "SP=x  y", "P=/usr/local/bin", "DUP=first", "DUP=second", NULL,
};

typedef struct expand_case
{
  const char *name;
  const char *word;
  char escape;
  const char *want; /* NULL: an error mentioning frag */
  const char *frag;
} expand_case;

static const expand_case expand_cases[] = {
  { "expand_plain", "$A", 0, "a", NULL },
  { "expand_braces", "${A}b", 0, "ab", NULL },
  { "expand_adjacent", "a${A}b$A-$A.", 0, "aaba-a.", NULL },
  { "expand_unset_is_empty", "x$NOPE${NOPE}y", 0, "xy", NULL },
  { "expand_lone_dollar", "a$ $/ $", 0, "a$ $/ $", NULL },
  { "expand_digit_name", "$1x", 0, "x", NULL },
  { "expand_last_env_wins", "$DUP", 0, "second", NULL },
  { "expand_default_unset", "${NOPE:-d e}", 0, "d e", NULL },
  { "expand_default_empty", "${EMPTY:-d}", 0, "d", NULL },
  { "expand_default_set", "${A:-d}", 0, "a", NULL },
  { "expand_dash_no_colon_empty", "${EMPTY-d}", 0, "", NULL },
  { "expand_dash_no_colon_unset", "${NOPE-d}", 0, "d", NULL },
  { "expand_plus_set", "${A:+yes}", 0, "yes", NULL },
  { "expand_plus_empty", "${EMPTY:+yes}", 0, "", NULL },
  { "expand_plus_no_colon_empty", "${EMPTY+yes}", 0, "yes", NULL },
  { "expand_plus_no_colon_unset", "${NOPE+yes}", 0, "", NULL },
  { "expand_nested_word", "${NOPE:-${A}x$A}", 0, "axa", NULL },
  { "expand_quoted_word", "${NOPE:-\"}\"}", 0, "}", NULL },
  { "expand_question_set", "${A:?unused}", 0, "a", NULL },
  { "expand_question_empty_no_colon", "${EMPTY?}", 0, "", NULL },
  { "expand_error_message", "${NOPE:?must be set}", 0, NULL, "NOPE: must be set" },
  { "expand_error_empty", "${EMPTY:?}", 0, NULL, "EMPTY: is not allowed to be empty" },
  { "expand_error_unset", "${NOPE?}", 0, NULL, "NOPE: is not allowed to be unset" },
  { "expand_single_quotes", "'$A \"x\"'", 0, "$A \"x\"", NULL },
  { "expand_double_quotes", "\"$A 'b'\"", 0, "a 'b'", NULL },
  { "expand_escape_dollar", "\\$A", 0, "$A", NULL },
  { "expand_escape_any", "\\a\\ \\\\", 0, "a \\", NULL },
  { "expand_escape_in_double_quotes", "\"\\$A \\\" \\\\ \\n\"", 0, "$A \" \\ \\n", NULL },
  { "expand_escape_in_single_quotes", "'\\$A'", 0, "\\$A", NULL },
  { "expand_trailing_escape", "ab\\", 0, "ab", NULL },
  { "expand_backtick_escape", "`$A C:\\dir\\", '`', "$A C:\\dir\\", NULL },
  { "expand_backtick_in_quotes", "\"`\"`$A\"", '`', "\"$A", NULL },
  { "expand_prefix_short", "${P#*/}", 0, "usr/local/bin", NULL },
  { "expand_prefix_long", "${P##*/}", 0, "bin", NULL },
  { "expand_suffix_short", "${P%/*}", 0, "/usr/local", NULL },
  { "expand_suffix_long", "${P%%/l*}", 0, "/usr", NULL },
  { "expand_replace_first", "${P/l*l/L}", 0, "/usr/L/bin", NULL },
  { "expand_replace_all", "${P//\\//:}", 0, ":usr:local:bin", NULL },
  { "expand_replace_glob_q", "${P//?s/X}", 0, "/Xr/local/bin", NULL },
  { "expand_replace_no_word", "${P/\\/usr}", 0, "/local/bin", NULL },
  { "expand_replace_class_fixed", "${P//[lb]?/_}", 0, "/usr/_ca__n", NULL },
  { "expand_replace_escaped_fixed", "${P/\\/l/+}", 0, "/usr+ocal/bin", NULL },
  /* Nested replacements grow exponentially: refused past 1 MiB. */
  { "expand_too_long", "${P//?/${P//?/${P//?/${P//?/${P//?/${P//?/xxxxxxxxxx}}}}}}", 0, NULL,
    "longer than 1048576 bytes" },
  { "expand_replace_var_word", "${P/local/$A}", 0, "/usr/a/bin", NULL },
  { "expand_replace_unset", "${NOPE/x/y}", 0, "", NULL },
  { "expand_missing_brace", "${A", 0, NULL, "missing '}'" },
  { "expand_missing_brace_word", "${A:-x", 0, NULL, "missing '}'" },
  { "expand_bad_substitution", "${}", 0, NULL, "bad substitution" },
  { "expand_bad_substitution_colon", "${:-x}", 0, NULL, "bad substitution" },
  { "expand_unsupported_modifier", "${A:=x}", 0, NULL, "unsupported modifier (=)" },
  { "expand_unterminated_single", "'abc", 0, NULL, "matching single-quote" },
  { "expand_unterminated_double", "\"abc\\\"", 0, NULL, "matching double-quote" },
};

static void
test_expand_case (void **state)
{
  const expand_case *c = *state;
  pier_build_vars vars = { .env = test_env, .escape = c->escape };
  pier_error *err = NULL;
  char *out = (char *) "untouched";
  int r = pier_build_expand (c->word, &vars, &out, &err);
  if (c->want)
    {
      if (r < 0)
        fail_msg ("%s: `%s` refused: %s", c->name, c->word, err->msg);
      assert_string_equal (out, c->want);
      free (out);
      return;
    }
  if (r == 0)
    fail_msg ("%s: `%s` gave `%s`, expected an error", c->name, c->word, out);
  assert_string_equal (out, "untouched");
  assert_err_contains (err, c->frag, c->word);
  pier_error_free (&err);
}

typedef struct words_case
{
  const char *name;
  const char *word;
  const char *want[6];
} words_case;

static const words_case words_cases[] = {
  { "words_blanks", "  a b\t c  ", { "a", "b", "c" } },
  { "words_quoted_blank", "\"a b\" 'c  d'e", { "a b", "c  de" } },
  { "words_variable_splits", "$SP z", { "x", "y", "z" } },
  { "words_quoted_variable_does_not", "\"$SP\"z", { "x  yz" } },
  { "words_escaped_blank", "a\\ b c", { "a b", "c" } },
  { "words_empty_dropped", "'' \"\" a", { "a" } },
  { "words_none", "   ", { NULL } },
  { "words_unset", "$NOPE", { NULL } },
};

static void
test_words_case (void **state)
{
  const words_case *c = *state;
  pier_build_vars vars = { .env = test_env };
  pier_error *err = NULL;
  char **out = NULL;
  if (pier_build_expand_words (c->word, &vars, &out, &err) < 0)
    fail_msg ("%s: refused: %s", c->name, err->msg);
  size_t n = 0;
  while (c->want[n])
    n++;
  if (strv_len (out) != n)
    fail_msg ("%s: %zu words, expected %zu", c->name, strv_len (out), n);
  for (size_t k = 0; k < n; k++)
    assert_string_equal (out[k], c->want[k]);
  strv_free (out);
}

static const char *
lookup_upper (const char *name, void *data)
{
  (void) data;
  if (strcmp (name, "A") == 0)
    return "FROM-LOOKUP";
  if (strcmp (name, "ONLY") == 0)
    return "only";
  return NULL;
}

static void
test_expand_lookup_first (void **state)
{
  (void) state;
  pier_build_vars vars = { .lookup = lookup_upper, .env = test_env };
  char *out = NULL;
  assert_int_equal (pier_build_expand ("$A/$ONLY/$P", &vars, &out, NULL), 0);
  assert_string_equal (out, "FROM-LOOKUP/only//usr/local/bin");
  free (out);
  /* No variables at all. */
  assert_int_equal (pier_build_expand ("[$A]", NULL, &out, NULL), 0);
  assert_string_equal (out, "[]");
  free (out);
  assert_int_equal (pier_build_expand ("${A", NULL, &out, NULL), -1);
}

static void
test_expand_words_error (void **state)
{
  (void) state;
  pier_error *err = NULL;
  char **out = NULL;
  assert_int_equal (pier_build_expand_words ("a \"b", NULL, &out, &err), -1);
  assert_null (out);
  assert_err_contains (err, "cannot expand `a \"b`", "double-quote");
  pier_error_free (&err);
}

static void
test_instr_expands (void **state)
{
  (void) state;
  const pier_df_kind yes[]
      = { PIER_DF_ADD,   PIER_DF_ARG,        PIER_DF_COPY, PIER_DF_ENV,    PIER_DF_EXPOSE, PIER_DF_FROM,
          PIER_DF_LABEL, PIER_DF_STOPSIGNAL, PIER_DF_USER, PIER_DF_VOLUME, PIER_DF_WORKDIR };
  const pier_df_kind no[] = { PIER_DF_RUN,     PIER_DF_CMD,         PIER_DF_ENTRYPOINT, PIER_DF_SHELL,
                              PIER_DF_ONBUILD, PIER_DF_HEALTHCHECK, PIER_DF_MAINTAINER };
  for (size_t k = 0; k < sizeof yes / sizeof yes[0]; k++)
    if (!pier_build_instr_expands (yes[k]))
      fail_msg ("%s should be expanded", pier_df_kind_name (yes[k]));
  for (size_t k = 0; k < sizeof no / sizeof no[0]; k++)
    if (pier_build_instr_expands (no[k]))
      fail_msg ("%s should not be expanded", pier_df_kind_name (no[k]));
}

/* The parser's raw ENV values give docker's values once expanded. */
static void
test_env_values_after_expansion (void **state)
{
  (void) state;
  pier_dockerfile *df = parse_ok ("FROM a\nENV A=\"two words\" B=three\\ words C='$A' D=\"$A\"x\n");
  const pier_df_instr *in = instr (df, 0, 1);
  static const char *const want[] = { "two words", "three words", "$A", "ax" };
  pier_build_vars vars = { .env = test_env, .escape = df->escape };
  for (size_t k = 0; k < 4; k++)
    {
      char *v = NULL;
      assert_int_equal (pier_build_expand (in->pairs[k].value, &vars, &v, NULL), 0);
      assert_string_equal (v, want[k]);
      free (v);
    }
  pier_dockerfile_free (df);
}

int
main (int argc, char **argv)
{
  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test (test_minimal),
    cmocka_unit_test (test_no_trailing_newline),
    cmocka_unit_test (test_keywords_any_case),
    cmocka_unit_test (test_from_as_stage_names),
    cmocka_unit_test (test_from_platform),
    cmocka_unit_test (test_global_args),
    cmocka_unit_test (test_arg_forms),
    cmocka_unit_test (test_run_shell_and_exec),
    cmocka_unit_test (test_bad_json_is_shell_form),
    cmocka_unit_test (test_json_non_string_is_error),
    cmocka_unit_test (test_shell_needs_json),
    cmocka_unit_test (test_continuation_lines),
    cmocka_unit_test (test_comments_inside_continuation),
    cmocka_unit_test (test_continuation_at_eof),
    cmocka_unit_test (test_escape_directive_backtick),
    cmocka_unit_test (test_backslash_without_directive),
    cmocka_unit_test (test_escaped_escape_ends_line),
    cmocka_unit_test (test_heredoc_keeps_line_endings),
    cmocka_unit_test (test_heredoc_onbuild),
    cmocka_unit_test (test_directives_stored),
    cmocka_unit_test (test_directive_after_comment_is_comment),
    cmocka_unit_test (test_directive_twice),
    cmocka_unit_test (test_directive_bad_escape),
    cmocka_unit_test (test_bom_and_crlf),
    cmocka_unit_test (test_heredoc_run),
    cmocka_unit_test (test_heredoc_chomp_tabs),
    cmocka_unit_test (test_heredoc_tab_terminator_needs_chomp),
    cmocka_unit_test (test_heredoc_quoted_no_expand),
    cmocka_unit_test (test_heredoc_several),
    cmocka_unit_test (test_heredoc_copy),
    cmocka_unit_test (test_heredoc_empty_body),
    cmocka_unit_test (test_heredoc_not_in_exec_form_or_other),
    cmocka_unit_test (test_heredoc_unterminated),
    cmocka_unit_test (test_heredoc_as_destination),
    cmocka_unit_test (test_copy_flags),
    cmocka_unit_test (test_copy_json_form),
    cmocka_unit_test (test_run_mounts),
    cmocka_unit_test (test_unknown_flag),
    cmocka_unit_test (test_flag_errors),
    cmocka_unit_test (test_env_forms),
    cmocka_unit_test (test_env_errors),
    cmocka_unit_test (test_label),
    cmocka_unit_test (test_simple_instructions),
    cmocka_unit_test (test_healthcheck_cmd),
    cmocka_unit_test (test_healthcheck_errors),
    cmocka_unit_test (test_onbuild),
    cmocka_unit_test (test_onbuild_errors),
    cmocka_unit_test (test_unknown_instruction),
    cmocka_unit_test (test_file_name_in_messages),
    cmocka_unit_test (test_missing_arguments),
    cmocka_unit_test (test_copy_needs_two),
    cmocka_unit_test (test_from_errors),
    cmocka_unit_test (test_no_from),
    cmocka_unit_test (test_nul_byte),
    cmocka_unit_test (test_instructions_keep_order),
    cmocka_unit_test (test_kind_names),
    cmocka_unit_test (test_flags_end_at_double_dash),
    cmocka_unit_test (test_expand_lookup_first),
    cmocka_unit_test (test_expand_words_error),
    cmocka_unit_test (test_instr_expands),
    cmocka_unit_test (test_env_values_after_expansion),
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0];
  size_t ne = sizeof expand_cases / sizeof expand_cases[0], nw = sizeof words_cases / sizeof words_cases[0];
  struct CMUnitTest *tests = xcalloc (nfixed + ne + nw, sizeof *tests);
  size_t n = 0;
  memcpy (tests, fixed, sizeof fixed);
  n += nfixed;
  for (size_t i = 0; i < ne; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_expand_case, (void *) &expand_cases[i]);
      t.name = expand_cases[i].name;
      tests[n++] = t;
    }
  for (size_t i = 0; i < nw; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_words_case, (void *) &words_cases[i]);
      t.name = words_cases[i].name;
      tests[n++] = t;
    }
  int rc = unit_run ("test_dockerfile", tests, n, NULL, 0, argc, argv);
  free (tests);
  return rc;
}
