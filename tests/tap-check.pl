#!/usr/bin/perl
# Parses a TAP file with Perl's TAP::Parser (what prove uses) and prints
# "tests=N passed=N failed=N skipped=N parse_errors=N version=V".
use strict;
use warnings;
use TAP::Parser;

my $p = TAP::Parser->new({ source => $ARGV[0] });
while (defined(my $r = $p->next)) { }
my @errors = $p->parse_errors;
print STDERR "parse error: $_\n" for @errors;
printf "tests=%d passed=%d failed=%d skipped=%d parse_errors=%d version=%d\n",
  scalar($p->tests_run), scalar($p->passed), scalar($p->failed),
  scalar($p->skipped), scalar(@errors), $p->version;
