/* Unit tests for util/template: Go's text/template over JSON, as docker's
 * --format runs it. */
#include "unit.h"

#include "util/template.h"
#include "util/xalloc.h"

static const char *data_text
    = "{\"ID\": \"abc123\", \"Name\": \"web\", \"Count\": 3, \"Zero\": 0, \"Ratio\": 1.5, \"Big\": 1000000.0,"
      " \"On\": true, \"Off\": false, \"Nil\": null, \"Empty\": \"\", \"List\": [\"a\", \"b\", \"c\"],"
      " \"None\": [], \"Nums\": [1, 2, 3], \"Labels\": {\"tier\": \"web\", \"app\": \"shop\"},"
      " \"NoLabels\": {}, \"State\": {\"Status\": \"running\", \"Pid\": 42, \"Health\": null},"
      " \"Mixed\": {\"b\": [1, {\"x\": 1}], \"a\": null}, \"Text\": \"hello world-wide web\","
      " \"Flat\": {\"Labels\": \"a=1,b=2,x\"}}";

static json_t *
data (void)
{
  json_error_t e;
  json_t *j = json_loads (data_text, 0, &e);
  if (j == NULL)
    fail_msg ("bad test data: %s", e.text);
  return j;
}

static void
check (const char *tmpl, const char *want)
{
  json_t *d = data ();
  char *out = NULL;
  pier_error *err = NULL;
  if (pier_template_render (tmpl, d, &out, &err) < 0)
    fail_msg ("`%s`: %s", tmpl, err->msg);
  if (strcmp (out, want) != 0)
    fail_msg ("`%s`: got `%s`, want `%s`", tmpl, out, want);
  free (out);
  json_decref (d);
}

static void
check_err (const char *tmpl, const char *want)
{
  json_t *d = data ();
  char *out = NULL;
  pier_error *err = NULL;
  if (pier_template_render (tmpl, d, &out, &err) == 0)
    fail_msg ("`%s`: no error, output `%s`", tmpl, out);
  assert_null (out);
  assert_int_equal (err->code, EINVAL);
  if (strstr (err->msg, want) == NULL)
    fail_msg ("`%s`: error `%s` lacks `%s`", tmpl, err->msg, want);
  pier_error_free (&err);
  json_decref (d);
}

static void
test_fields (void **state)
{
  (void) state;
  check ("plain text", "plain text");
  check ("", "");
  check ("{{.ID}}", "abc123");
  check ("{{.State.Status}}/{{.State.Pid}}", "running/42");
  check ("{{ .Name }}", "web");
  check ("{{.Missing}}", "<no value>");
  check ("{{.Missing.Deeper}}", "<no value>");
  check ("{{.Labels.tier}}", "web");
  check ("{{.Labels.nope}}", "<no value>");
  check ("{{$.Name}}", "web");
  check ("{{with .State}}{{$.Name}}:{{.Status}}{{end}}", "web:running");
  check ("{{(.State).Pid}}", "42");
}

static void
test_printing (void **state)
{
  (void) state;
  check ("{{.Count}} {{.Ratio}} {{.Big}} {{.On}} {{.Off}}", "3 1.5 1e+06 true false");
  check ("{{.Nil}}", "<nil>");
  check ("{{.List}}", "[a b c]");
  check ("{{.None}}", "[]");
  check ("{{.Labels}}", "map[app:shop tier:web]");
  check ("{{.NoLabels}}", "map[]");
  check ("{{.Mixed}}", "map[a:<nil> b:[1 map[x:1]]]");
  check ("{{.State.Health}}", "<nil>");
  check ("{{0.0001}} {{0.00001}} {{123456.0}} {{1234567.0}} {{-2.5}}",
         "0.0001 1e-05 123456 1.234567e+06 -2.5");
  check ("{{\"a\\tb\\n\"}}{{`raw\\n`}}{{'a'}}", "a\tb\nraw\\n97");
  check ("{{0x1F}} {{-7}} {{1_000}}", "31 -7 1000");
}

static void
test_json (void **state)
{
  (void) state;
  check ("{{json .Labels}}", "{\"tier\":\"web\",\"app\":\"shop\"}");
  check ("{{json .List}}", "[\"a\",\"b\",\"c\"]");
  check ("{{json .Name}}", "\"web\"");
  check ("{{json .Nil}}", "null");
  check ("{{json .Missing}}", "null");
  check ("{{.Labels | json}}", "{\"tier\":\"web\",\"app\":\"shop\"}");
  check ("{{json \"<a&b>\"}}", "\"<a&b>\"");
}

static void
test_conditionals (void **state)
{
  (void) state;
  check ("{{if .On}}yes{{end}}", "yes");
  check ("{{if .Off}}yes{{else}}no{{end}}", "no");
  check ("{{if .Zero}}a{{else if .Empty}}b{{else if .None}}c{{else if .NoLabels}}d{{else}}e{{end}}", "e");
  check ("{{if .Missing}}a{{else if .Nil}}b{{else if .Count}}c{{end}}", "c");
  check ("{{if .List}}L{{end}}{{if .Labels}}M{{end}}{{if .Ratio}}R{{end}}{{if .Text}}T{{end}}", "LMRT");
  check ("{{if not .On}}a{{else}}b{{end}}", "b");
  check ("{{if and .On .Count}}a{{end}}{{if or .Off .Zero}}b{{else}}c{{end}}", "ac");
  check ("{{and .On .Count}} {{or .Off .Name}} {{and .Zero .Missing}} {{or .Off .Zero}}", "3 web 0 0");
  /* and/or stop early: index past the end is not evaluated. */
  check ("{{if and .Off (index .List 9)}}a{{else}}b{{end}}", "b");
  check ("{{with .State}}{{.Pid}}{{end}}{{with .Empty}}x{{else}}empty{{end}}", "42empty");
  check ("{{with .Missing}}x{{else with .State}}{{.Status}}{{end}}", "running");
}

static void
test_range (void **state)
{
  (void) state;
  check ("{{range .List}}[{{.}}]{{end}}", "[a][b][c]");
  check ("{{range $i, $e := .List}}{{$i}}={{$e}} {{end}}", "0=a 1=b 2=c ");
  check ("{{range $k, $v := .Labels}}{{$k}}:{{$v}},{{end}}", "app:shop,tier:web,");
  check ("{{range $v := .Labels}}{{$v}} {{end}}", "shop web ");
  check ("{{range .None}}x{{else}}none{{end}}", "none");
  check ("{{range .Missing}}x{{else}}none{{end}}", "none");
  check ("{{range .List}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", "a");
  check ("{{range .List}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}", "ac");
  check ("{{range 3}}{{.}}{{end}}", "012");
  check ("{{range .Nums}}{{$.Name}}{{.}}{{end}}", "web1web2web3");
  check_err ("{{range .Name}}x{{end}}", "range can't iterate over string");
  check_err ("{{break}}", "{{break}} outside {{range}}");
}

static void
test_variables (void **state)
{
  (void) state;
  check ("{{$x := .Name}}{{$x}}", "web");
  check ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2");
  check ("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "21");
  check ("{{$}}",
         "map[Big:1e+06 Count:3 Empty: Flat:map[Labels:a=1,b=2,x] ID:abc123 Labels:map[app:shop tier:web] "
         "List:[a b c] Mixed:map[a:<nil> "
         "b:[1 map[x:1]]] Name:web Nil:<nil> NoLabels:map[] None:[] Nums:[1 2 3] Off:false On:true Ratio:1.5 "
         "State:map[Health:<nil> Pid:42 Status:running] Text:hello world-wide web Zero:0]");
  check ("{{with $s := .State}}{{$s.Status}}{{end}}", "running");
  check_err ("{{$y}}", "undefined variable \"$y\"");
  /* Declared where and/or never evaluated it: refused when used. */
  check_err ("{{and false ($x := 1)}}{{range $x = .List}}{{end}}", "undefined variable: $x");
  check_err ("{{and false ($x := 1)}}{{$x = 2}}", "undefined variable: $x");
  check_err ("{{and false ($x := 1)}}{{$x}}", "undefined variable: $x");
  check_err ("{{if true}}{{$z := 1}}{{end}}{{$z}}", "undefined variable \"$z\"");
}

static void
test_pipelines_and_trim (void **state)
{
  (void) state;
  check ("{{.Name | printf \"%s!\"}}", "web!");
  check ("{{.Name | upper | printf \"<%s>\"}}", "<WEB>");
  check ("{{printf \"%d-%s\" (len .List) (index .List 1)}}", "3-b");
  check ("a  {{- .Name -}}  b", "awebb");
  check ("a\n{{- /* a comment */ -}}\nb", "ab");
  check ("x{{/* comment */}}y", "xy");
  check ("{{- .Name}} \n", "web \n");
  check ("{{-3}}", "-3");
}

static void
test_builtins (void **state)
{
  (void) state;
  check ("{{len .List}} {{len .Labels}} {{len .Name}}", "3 2 3");
  check ("{{index .List 2}} {{index .Labels \"app\"}} {{index .Mixed \"b\" 1 \"x\"}}", "c shop 1");
  check ("[{{index .Labels \"nope\"}}]", "[]");
  check ("{{slice .Name 1}} {{slice .Name 1 2}} {{slice .List 1}}", "eb e [b c]");
  check ("{{eq .Name \"web\"}} {{eq .Count 1 2 3}} {{ne .Count 3}} {{eq .Nil nil}}", "true true false true");
  check ("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}} {{lt 1 1.5}}", "true true true false true");
  check ("{{gt 1 1}} {{le 2 1}} {{ne 1 1}} {{ge 2 2}} {{gt 2.5 2}}", "false false false true true");
  check ("{{print \"a\" 1 2 \"b\"}}|{{println 1 \"x\"}}", "a1 2b|1 x\n");
  check ("{{print .List .Missing}}", "[a b c] <nil>");
  check ("{{html \"<a href='x'>&</a>\"}} {{urlquery \"a b&c\"}}",
         "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt; a+b%26c");
  check_err ("{{index .List 5}}", "error calling index: index out of range: 5");
  /* The item's type is named after the last index made it (it was read
   * after its release). */
  check_err ("{{index \"k\" 0 0}}", "error calling index: can't index item of type int");
  check_err ("{{index .Count 1}}", "error calling index: can't index item of type int");
  check_err ("{{len .Count}}", "error calling len: len of type int");
  check_err ("{{lt .List 1}}", "invalid type for comparison");
  check_err ("{{eq .Name 1}}", "incompatible types for comparison");
  check_err ("{{not}}", "wrong number of args for not: want 1 got 0");
}

static void
test_printf (void **state)
{
  (void) state;
  check ("{{printf \"%s|%v|%d|%t|%q\" .Name .List .Count .On .Name}}", "web|[a b c]|3|true|\"web\"");
  check ("{{printf \"%5s|%-5s|%05d|%-4d|%x|%X|%.2f|%6.1f\" \"ab\" \"ab\" 42 7 255 255 3.14159 2.0}}",
         "   ab|ab   |00042|7   |ff|FF|3.14|   2.0");
  check ("{{printf \"%.2s|%x|%%|%v|%g\" \"héllo\" \"hi\" 1.5 0.1}}", "hé|6869|%|1.5|0.1");
  check ("{{printf \"%x|%#x|%+d|%05d|%8.3d|%-5d|%o|%X|% d\" -255 255 5 -42 7 3 8 -171 4}}",
         "-ff|0xff|+5|-0042|     007|3    |10|-AB| 4");
  check ("{{printf \"%6v|%-4v|%v\" 42 7 -1}}", "    42|7   |-1");
  check ("{{printf \"%d\" \"x\"}}", "%!d(string=x)");
  check ("{{printf \"%d %d\" 1}}", "1 %!d(MISSING)");
  check ("{{printf \"%d\" 1 2}}", "1%!(EXTRA int=2)");
  check ("{{printf \"%q\" \"a\\\"b\\n\"}}", "\"a\\\"b\\n\"");
}

static void
test_docker_functions (void **state)
{
  (void) state;
  check ("{{join .List \", \"}}", "a, b, c");
  check ("{{split \"a:b:c\" \":\"}}", "[a b c]");
  check ("{{index (split .Text \" \") 1}}", "world-wide");
  check ("{{title .Text}}", "Hello World-Wide Web");
  check ("{{lower \"MiXeD\"}}{{upper \"MiXeD\"}}", "mixedMIXED");
  check ("[{{pad .Name 2 1}}][{{pad .Empty 2 1}}]", "[  web ][]");
  check ("{{truncate .Text 5}}|{{truncate .Name 10}}", "hello|web");
  check_err ("{{upper .Count}}", "wrong type for value; expected string; got int");
  /* docker's Label method, over a Labels map or docker's k=v text. */
  check ("[{{.Label \"tier\"}}][{{.Label \"nope\"}}][{{\"app\" | .Label}}]", "[web][][shop]");
  check_err ("{{.Label (len .List)}}", "wrong type for value; expected string; got int");
  check ("{{with $s := .Flat}}{{$s.Label \"b\"}}|{{$s.Label \"a\"}}{{end}}", "2|1");
}

static void
test_parse_errors (void **state)
{
  (void) state;
  check_err ("{{.Name", "template: :1: unclosed action");
  check_err ("{{nosuch .Name}}", "template: :1: function \"nosuch\" not defined");
  check_err ("{{if .On}}x", "unexpected EOF");
  check_err ("{{end}}", "unexpected {{end}}");
  check_err ("{{else}}", "unexpected {{else}}");
  check_err ("{{}}", "missing value for command");
  check_err ("{{if}}{{end}}", "missing value for if");
  check_err ("{{range}}{{end}}", "missing value for range");
  check_err ("{{()}}", "missing value for parenthesized pipeline");
  check_err ("a\nb\n{{.X | }}", "template: :3:");
  check_err ("{{\"abc}}", "unterminated quoted string");
  check_err ("{{/* open", "unclosed comment");
  check_err ("{{.A | 3}}", "non executable command in pipeline stage 2");
  check_err ("{{range .List}}{{else}}{{else}}{{end}}", "expected end; found {{else}}");
  check_err ("{{define \"x\"}}{{end}}", "not supported");
}

static void
test_exec_errors (void **state)
{
  (void) state;
  check_err ("{{.State.Health.Test}}", "template: :1:8: executing \"\" at <.State.Health.Test>: nil pointer "
                                       "evaluating interface {}.Test");
  check_err ("{{.Name.First}}", "can't evaluate field First in type string");
  check_err ("x\n  {{index .List 7}}", "template: :2:4: executing \"\" at <index .List 7>");
  check_err ("{{.Name 1}}", "Name is not a method but has arguments");
  check_err ("{{\"x\" 1}}", "can't give argument to non-function");
}

static void
test_header_mode (void **state)
{
  (void) state;
  pier_template *t = NULL;
  pier_error *err = NULL;
  assert_int_equal (
      pier_template_parse ("{{.ID}}\t{{json .Labels}}\t{{upper .Name}}\t{{pad .Size 1 1}}", &t, &err), 0);
  json_t *h = json_pack ("{s:s, s:s, s:s, s:s}", "ID", "CONTAINER ID", "Labels", "LABELS", "Name", "name",
                         "Size", "SIZE");
  char *out = NULL;
  assert_int_equal (pier_template_execute (t, h, PIER_TEMPLATE_HEADER, &out, &err), 0);
  assert_string_equal (out, "CONTAINER ID\tLABELS\tname\tSIZE");
  free (out);
  json_decref (h);
  pier_template_free (t);
}

static void
test_deep_nesting_refused (void **state)
{
  (void) state;
  char *deep = xzalloc (4000);
  size_t n = 0;
  memcpy (deep, "{{", 2), n = 2;
  for (int i = 0; i < 500; i++)
    deep[n++] = '(';
  deep[n++] = '1';
  for (int i = 0; i < 500; i++)
    deep[n++] = ')';
  memcpy (deep + n, "}}", 2);
  check_err (deep, "max nesting depth exceeded");
  free (deep);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_fields),
    cmocka_unit_test (test_printing),
    cmocka_unit_test (test_json),
    cmocka_unit_test (test_conditionals),
    cmocka_unit_test (test_range),
    cmocka_unit_test (test_variables),
    cmocka_unit_test (test_pipelines_and_trim),
    cmocka_unit_test (test_builtins),
    cmocka_unit_test (test_printf),
    cmocka_unit_test (test_docker_functions),
    cmocka_unit_test (test_parse_errors),
    cmocka_unit_test (test_exec_errors),
    cmocka_unit_test (test_header_mode),
    cmocka_unit_test (test_deep_nesting_refused),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
