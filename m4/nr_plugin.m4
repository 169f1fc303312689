# NR_PLUGIN(NAME, DESCRIPTION, [PKG-CONFIG-MODULES])
# ----------------------------------------------------
# Adds --enable-NAME/--disable-NAME and the automake conditional
# BUILD_NAME (upper case, '-' as '_').  With no option a plugin is built
# when its modules are found and skipped otherwise; --enable-NAME makes a
# missing module a configure error.  Each call adds a line to
# nr_plugin_summary for the configure summary.  (After collectd's
# AC_PLUGIN.)
AC_DEFUN([NR_PLUGIN], [
m4_pushdef([NR_VAR], m4_translit([$1], [-a-z], [_A-Z]))dnl
AC_ARG_ENABLE([$1],
  [AS_HELP_STRING([--enable-$1], [$2 (default: when its libraries are found)])],
  [nr_want=$enableval], [nr_want=auto])
nr_ok=yes
nr_why=
AS_IF([test "x$nr_want" = xno], [nr_ok=no; nr_why="disabled with --disable-$1"])
m4_ifnblank([$3], [
AS_IF([test "x$nr_ok" = xyes], [
  PKG_CHECK_MODULES(NR_VAR, [$3], [], [nr_ok=no; nr_why="$3 not found"])
  AS_IF([test "x$nr_ok$nr_want" = xnoyes],
    [AC_MSG_ERROR([--enable-$1 was given, but $3 was not found: install its Debian -dev package, or drop --enable-$1])])
])])
AM_CONDITIONAL([BUILD_]NR_VAR, [test "x$nr_ok" = xyes])
nr_plugin_summary="$nr_plugin_summary
    m4_format([%-20s], [$1]) $nr_ok${nr_why:+ ($nr_why)}"
m4_popdef([NR_VAR])dnl
])
