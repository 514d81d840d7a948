#!/usr/bin/env perl
# Perl's LWP (libwww-perl, LWP::UserAgent with credentials; LWP::Authen::Digest does the
# Digest computation) for suite/tests/interop.rs.
#
# usage: perl lwp.pl URL USER PASSWORD REALM [COUNT]
#
# Makes COUNT GETs with one user agent and prints one report per response as
# `name<TAB>value` lines, starting with `response<TAB>N`. A missing LWP is an error.
use strict;
use warnings;

BEGIN {
    eval { require LWP::UserAgent; 1 }
        or die "Perl LWP is not installed ($@); run tests/interop-setup.sh\n";
}
use URI;

my ($url, $user, $password, $realm, $count) = @ARGV;
die "usage: perl lwp.pl URL USER PASSWORD REALM [COUNT]\n" unless defined $realm;
$count //= 1;

sub escape {
    my ($value) = @_;
    $value //= '';
    $value =~ s/\\/\\\\/g;
    $value =~ s/\t/\\t/g;
    $value =~ s/\n/\\n/g;
    $value =~ s/\r/\\r/g;
    return $value;
}

my $ua = LWP::UserAgent->new(timeout => 10);
$ua->no_proxy();
$ua->env_proxy(0);
$ua->credentials(URI->new($url)->host_port, $realm, $user, $password);
for my $index (1 .. $count) {
    my $response = $ua->get($url);
    my @history;
    for (my $r = $response->previous; $r; $r = $r->previous) {
        unshift @history, $r->code;
    }
    print "response\t$index\n";
    print "status\t", $response->code, "\n";
    print "authorization\t", escape($response->request->header('Authorization')), "\n";
    print "authentication_info\t", escape(scalar $response->header('Authentication-Info')), "\n";
    print "history\t", join(',', @history), "\n";
    print "user_agent\t", escape($ua->agent), "\n";
    print "body\t", escape($response->decoded_content), "\n";
}
