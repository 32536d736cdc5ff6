package Test::Nginx::Util;

# Fallback implementation of Test::Nginx::Util for ngx_ws_module's test suite.
#
# util/run-tests puts t/compat on @INC only when the CPAN module
# Test::Nginx::Socket is not installed, so the real module always wins.
# This file holds the server side of the runner: the file-level settings,
# the server root and nginx.conf, starting and stopping nginx, reading the
# logs, the mock TCP/UDP upstreams and the per-block driver (run_test).
# Test::Nginx::Socket (next to this file) holds the client side and the
# response checks.  The behaviour follows docs/testing.md and the format
# notes in shared/docs/test-nginx-format.md; the code is our own.

use strict;
use warnings;

our $VERSION = '0.33';

use base 'Exporter';

use File::Path qw(make_path remove_tree);
use File::Spec ();
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use List::Util qw(shuffle);
use POSIX qw(:sys_wait_h SIGQUIT SIGTERM SIGKILL);
use Scalar::Util qw(looks_like_number);
use Socket qw(SOCK_STREAM SOCK_DGRAM);
use Test::More ();
use Time::HiRes qw(sleep time);

my $HaveLongString = eval { require Test::LongString; 1 };

# ---------------------------------------------------------------------------
# Settings (file level).  All are package variables so a .t file may read
# or set them the way it would with the real module.

our $RepeatEach          = 1;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString;
our $Workers             = 1;
our $WorkerConnections   = 64;
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled       = 'on';
our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NoRootLocation      = 0;
our $TestNginxSleep      = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $CheckAccumErrLog    = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $LoadModules         = $ENV{TEST_NGINX_LOAD_MODULES};
our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Verbose             = $ENV{TEST_NGINX_VERBOSE};
our $EventType           = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput      = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $WorkerUser          = $ENV{TEST_NGINX_WORKER_USER};
our $ReusePort           = $ENV{TEST_NGINX_REUSE_PORT};
our $Randomize           = $ENV{TEST_NGINX_RANDOMIZE};
our $NoNginxManager      = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $ForceRestartOnTest  = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                           ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $ConfigPreamble      = '';
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @TestCleanupHandlers;

# TEST_NGINX_USE_VALGRIND: nginx runs in the foreground under valgrind
# (a number: memcheck with full leak checks; anything else: those valgrind
# options), its reports go to stderr; --- must_die blocks run without it.
our $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindExitOnFirstErr = $ENV{TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR};
$DaemonEnabled = 'off' if $UseValgrind;

# Modes of the real module that this runner does not implement.  They are
# refused loudly in run_tests() rather than silently ignored.
our $UseHup      = $ENV{TEST_NGINX_USE_HUP};
our $UseStap     = $ENV{TEST_NGINX_USE_STAP};
our $CheckLeak   = $ENV{TEST_NGINX_CHECK_LEAK} || 0;
our $Benchmark   = $ENV{TEST_NGINX_BENCHMARK} || 0;
our $BenchmarkWarmup = 0;
our $UseHttp2    = $ENV{TEST_NGINX_USE_HTTP2};
our $UseHttp3    = $ENV{TEST_NGINX_USE_HTTP3};

# Hooks filled in by Test::Nginx::Socket.
our ($RunTestHelper, $CheckErrorLog, $CheckShutdownErrorLog, $FilterHttpConfig);

# Run state.
our ($NginxVersion, $NginxRawVersion, $PcreVersion);
our $InSubprocess;
our $RandPorts = {};
our ($PrevConfig, $PrevBlock);
our $ErrLogFilePos = 0;
our ($TcpServerPid, $UdpServerPid, $ChildPid);
our $NginxPid;          # the nginx we started, also kept in logs/nginx.pid

if ($Randomize) {
    $ServerPort = gen_rand_port(1000)
        or die "Cannot find an available listening port number\n";
    $ServerPortForClient = $ServerPort;
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot'));
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $CacheDir   = "$ServRoot/cache";

our @EXPORT = qw(
    env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string $ServerAddr server_addr $ServerName
    server_name parse_time $UseStap verbose sleep_time stap_out_fh
    stap_out_fname bail_out add_cleanup_handler add_test_cleanup_handler
    access_log_data error_log_data setup_server_root run_customer_init_script
    write_config_file get_canon_version get_nginx_version trim show_all_chars
    parse_headers run_tests get_pid_from_pidfile $ServerPortForClient
    $ServerPort $NginxVersion $PcreVersion $PidFile $ServRoot $ConfFile
    $RunTestHelper $CheckErrorLog $CheckShutdownErrorLog $FilterHttpConfig
    $NoNginxManager $RepeatEach $CheckLeak $Benchmark $BenchmarkWarmup
    add_block_preprocessor timeout worker_connections workers master_on
    master_off config_preamble repeat_each master_process_enabled log_level
    no_shuffle no_root_location html_dir server_root server_port
    server_port_for_client no_nginx_manager use_hup expand_env_in_text
    is_tcp_port_used is_udp_port_used use_http2 use_http3
);

# ---------------------------------------------------------------------------
# File-level setters and getters

sub repeat_each {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub workers            { @_ ? ($Workers = shift) : $Workers }
sub worker_connections { @_ ? ($WorkerConnections = shift) : $WorkerConnections }
sub log_level          { @_ ? ($LogLevel = shift) : $LogLevel }
sub timeout            { @_ ? ($Timeout = shift) : $Timeout }
sub server_name        { @_ ? ($ServerName = shift) : $ServerName }
sub server_addr        { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_port        { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client { @_ ? ($ServerPortForClient = shift) : $ServerPortForClient }

sub no_shuffle            { $NoShuffle = 1 }
sub no_long_string        { $NoLongString = 1 }
sub no_root_location      { $NoRootLocation = 1 }
sub check_accum_error_log { $CheckAccumErrLog = 1 }
sub master_on             { $MasterProcessEnabled = 'on' }
sub master_off            { $MasterProcessEnabled = 'off' }
sub no_nginx_manager      { $NoNginxManager = 1 }
sub use_hup               { $UseHup = 1 }
sub config_preamble       { $ConfigPreamble = shift }
sub sleep_time            { $TestNginxSleep }
sub verbose               { $Verbose }
sub html_dir              { $HtmlDir }
sub server_root           { $ServRoot }
sub stap_out_fh           { undef }
sub stap_out_fname        { undef }
sub use_http2             { 0 }
sub use_http3             { 0 }

sub master_process_enabled {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = $_[0] ? 'on' : 'off';
}

sub env_to_nginx {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $name (@_) {
        Carp::croak("env_to_nginx: bad argument value: $name")
            if $name !~ /^[A-Za-z_]/ || $name =~ /\n/;
        push @EnvToNginx, $name;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler        { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler   { unshift @TestCleanupHandlers, shift }

# ---------------------------------------------------------------------------
# Small helpers

sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString || !$HaveLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

# "1.5", "1.5s", "500ms" -> seconds
sub parse_time {
    my $t = shift;
    return undef unless defined $t;
    if ($t =~ /^\s*([\d.]+)\s*ms\s*$/) {
        return $1 / 1000;
    }
    if ($t =~ /^\s*([\d.]+)\s*s?\s*$/) {
        return $1 + 0;
    }
    return $t;
}

sub trim {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

sub show_all_chars {
    my $s = shift;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    return $s;
}

# "Name: value" lines -> { name => value }; "!Name" -> { Name => undef }
sub parse_headers {
    my $text = shift;
    my %h;
    for my $line (split /\n/, $text) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $h{$k} = $v;
        }
    }
    return \%h;
}

sub is_running {
    my $pid = shift;
    return 0 unless $pid && kill 0, $pid;
    # a zombie still answers kill 0
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        return 0 if $stat =~ /^\d+ \(.*\) Z/;
    }
    return 1;
}

sub port_in_proc_table {
    my ($file, $port) = @_;
    open my $fh, '<', $file or return 0;
    while (<$fh>) {
        return 1 if /^\s*\d+: [0-9A-Fa-f]+:([0-9A-Fa-f]+) / && hex($1) == $port;
    }
    return 0;
}
sub is_tcp_port_used { port_in_proc_table('/proc/net/tcp', shift) }
sub is_udp_port_used { port_in_proc_table('/proc/net/udp', shift) }

sub gen_rand_port {
    my ($tries, $used) = @_;
    $tries ||= 1000;
    $used ||= {};
    for (1 .. $tries) {
        my $port = 1988 + int rand(65535 - 1988);
        next if $used->{$port};
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $port,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1);
        if ($s) {
            close $s;
            return $port;
        }
    }
    return undef;
}

# Replace $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO}; $TEST_NGINX_RAND_PORT_<n>
# by a free port chosen once per block.
sub expand_env_in_text {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    $rand_ports ||= $RandPorts;
    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            unless (defined $rand_ports->{$var}) {
                my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);
                my $port = gen_rand_port(1000, \%used);
                bail_out("$name - Cannot find an available listening port number for $var.\n")
                    unless defined $port;
                $rand_ports->{$var} = $port;
            }
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

sub get_canon_version { sprintf '%d.%03d%03d', @_[0 .. 2] }

my $NginxV;     # cached `nginx -V` output
sub nginx_V {
    return $NginxV if defined $NginxV;
    my $out = `$NginxBinary -V 2>&1`;
    if ($? != 0 || !defined $out) {
        bail_out("Failed to get the version of the Nginx in PATH: " . ($out // ''));
    }
    return $NginxV = $out;
}

sub get_nginx_version {
    my $out = nginx_V();
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub get_pcre_version {
    my $out = nginx_V();
    return 2 if $out =~ m{nginx version: \S+/1\.(\d+)} && $1 >= 25 && $out !~ /--without-pcre2/;
    return $out =~ /pcre/ ? 1 : 0;
}

sub can_run {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return -f $cmd && -x _ ? $cmd : undef;
    }
    for my $dir (split(/:/, $ENV{PATH} // ''), '.') {
        next if $dir eq '';
        return "$dir/$cmd" if -f "$dir/$cmd" && -x _;
    }
    return undef;
}

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Logs

sub error_log_data {
    # give nginx time to write log-phase messages after closing the connection
    sleep $TestNginxSleep * 3;
    open my $in, '<', $ErrLogFile or return undef;
    if (!$CheckAccumErrLog && $ErrLogFilePos > 0) {
        seek $in, $ErrLogFilePos, 0;
    }
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or do {
        die "open $AccLogFile failed: $!\n" if $AccLogFile ne 'off';
        return undef;
    };
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# ---------------------------------------------------------------------------
# Processes

sub get_pid_from_pidfile {
    my $name = shift // '';
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> } // '';
    close $in;
    $pid =~ s/\s+//g;
    return $pid;
}

sub read_pidfile_quietly {
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> } // '';
    close $in;
    return $pid =~ /^\s*(\d+)\s*$/ ? $1 : undef;
}

# Is $pid an nginx?  Guards against signalling an unrelated process that
# reused the pid of a stale pid file.
sub looks_like_nginx {
    my $pid = shift;
    return 0 unless is_running($pid);
    if (open my $fh, '<', "/proc/$pid/cmdline") {
        my $cmd = do { local $/; <$fh> } // '';
        return $cmd =~ /nginx|\Q$ServRoot\E/ ? 1 : 0;
    }
    return 1;    # no /proc: trust the pid file
}

sub wait_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (is_running($pid)) {
        waitpid($pid, WNOHANG);
        return 0 if time > $deadline;
        sleep 0.02;
    }
    return 1;
}

# Stop a process gracefully (QUIT for nginx, TERM for our helpers), then by
# force.  nginx daemonizes into its own process group, so the forced kill
# goes to the group and takes the workers along.
sub kill_process {
    my ($pid, $wait, $name, $sig) = @_;
    return unless $pid;
    $sig //= $ENV{TEST_NGINX_FAST_SHUTDOWN} ? SIGTERM : SIGQUIT;
    if ($wait && is_running($pid)) {
        kill $sig, $pid;
        # valgrind checks for leaks when nginx exits: give it time
        return if wait_gone($pid, $UseValgrind ? 60 : timeout());
        warn "$name - timeout when waiting for the process $pid to exit\n";
    }
    return unless is_running($pid);
    kill SIGTERM, $pid;
    return if wait_gone($pid, 1);
    warn "$name - WARNING: killing the child process $pid with force...\n";
    kill SIGKILL, -$pid if getpgrp($pid) == $pid;
    kill SIGKILL, $pid;
    wait_gone($pid, 2);
}

# Stop the nginx of this server root, if one runs.
sub stop_nginx {
    my $name = shift // '';
    my $pid = read_pidfile_quietly();
    $pid = $NginxPid if !defined $pid && defined $NginxPid && looks_like_nginx($NginxPid);
    if (defined $pid && looks_like_nginx($pid)) {
        kill_process($pid, 1, $name);
    }
    unlink $PidFile if -f $PidFile;
    undef $NginxPid;
}

sub stop_mock_servers {
    my $name = shift // 'cleanup';
    for my $ref (\$UdpServerPid, \$TcpServerPid, \$ChildPid) {
        next unless defined $$ref;
        kill_process($$ref, 1, $name, SIGTERM);
        waitpid($$ref, WNOHANG);
        undef $$ref;
    }
}

sub cleanup_test {
    my $block = shift;
    $_->($block) for @TestCleanupHandlers;
}

sub cleanup {
    return if $InSubprocess;
    $_->() for @CleanupHandlers;
    stop_mock_servers('cleanup');
}

# ctrl-c, kill and friends must not leave nginx behind.
my $signal_handlers_installed;
sub install_signal_handlers {
    return if $signal_handlers_installed++;
    for my $sig (qw(INT TERM HUP)) {
        # keep a handler the .t file installed itself
        next if defined $SIG{$sig} && $SIG{$sig} ne '' && $SIG{$sig} ne 'DEFAULT';
        $SIG{$sig} = sub {
            return if $InSubprocess;
            local $SIG{$sig} = 'IGNORE';
            warn "# caught SIG$sig, stopping nginx\n";
            cleanup();
            stop_nginx('signal') unless $ENV{TEST_NGINX_NO_CLEAN};
            Test::More->builder->no_ending(1);
            # die of the same signal, so that prove reports it
            $SIG{$sig} = 'DEFAULT';
            my $num = eval "POSIX::SIG$sig()";
            POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), POSIX::SigSet->new($num));
            kill $sig, $$;
            POSIX::_exit(128 + $num);
        };
    }
}

# ---------------------------------------------------------------------------
# Server root and nginx.conf

sub setup_server_root {
    if (-d $ServRoot) {
        # remove only what we create, so a misused TEST_NGINX_SERVROOT
        # cannot wipe unrelated data
        remove_tree($ConfDir, $CacheDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!\n");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

sub run_customer_init_script {
    my $block = shift;
    my $code = $block->post_setup_server_root;
    return unless $code;
    eval $code;
    bail_out($block->name . " - post_setup_server_root failed: $@") if $@;
}

# --- user_files: ">>> name [touch date]" chunks, or an eval'd array of
# [name, body, date] triples.  Relative names go under html/.
sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: " . ref($files)
                 . ", only scalar or ARRAY are accepted");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/}) {
            make_path($1) unless -d $1;
        }
        $body = expand_env_in_text($body // '', $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system("TZ=GMT touch -t '$date' '$path'") == 0
                or bail_out("$name - Failed to touch $path\n");
        }
    }
}

sub write_config_file {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text(scalar $block->http_config, $name, $rand_ports) // '';
    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;

    my $main_config = $block->main_config // '';
    if ($LoadModules) {
        my @mods = map { "load_module $_;" } grep { length } split /\s+/, $LoadModules;
        $main_config = join ' ', @mods, $main_config if @mods;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);
    my $post_main_config = expand_env_in_text(scalar $block->post_main_config, $name, $rand_ports) // '';

    my $err_log_file = expand_env_in_text(scalar $block->error_log_file || $ErrLogFile,
                                          $name, $rand_ports);
    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/\\/\\\\/g;
    $server_name =~ s/'/\\'/g;

    my $extra_http = '';
    if (defined $PostponeOutput && $http_config !~ /\bpostpone_output\b/) {
        bail_out("Bad TEST_NGINX_POSTPONE_OUTPUT value: $PostponeOutput\n")
            if $PostponeOutput !~ /^\d+$/;
        $extra_http = "    postpone_output $PostponeOutput;\n";
    }

    # temp paths inside the server root, for the modules nginx has
    my $V = nginx_V();
    my @temp;
    push @temp, "client_body_temp_path $ServRoot/client_body_temp;"
        unless $http_config =~ /\bclient_body_temp_path\b/;
    push @temp, "proxy_temp_path $ServRoot/proxy_temp;"
        unless $http_config =~ /\bproxy_temp_path\b/;
    for my $m (qw(fastcgi scgi uwsgi)) {
        push @temp, "${m}_temp_path $ServRoot/${m}_temp;"
            unless $V =~ /--without-http_${m}_module/;
    }

    my $listen = $ServerPort . ($ReusePort ? ' reuseport' : '');
    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
        qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
           LD_PRELOAD LD_LIBRARY_PATH DYLD_INSERT_LIBRARIES
           DYLD_FORCE_FLAT_NAMESPACE), @EnvToNginx;

    my $root_location = $NoRootLocation ? '' : <<"EOF";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
EOF

    my $use_event = $EventType ? "    use $EventType;\n" : '';
    my $user = defined $WorkerUser ? "user $WorkerUser;\n"
             : $> == 0            ? "user root;\n"
             : '';

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out <<"EOF";
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile; @temp

    default_type text/plain;
    keepalive_timeout  68000ms;
$extra_http
$http_config
    server {
        listen          $listen;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
$use_event}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
EOF
    close $out;
}

# ---------------------------------------------------------------------------
# Mock upstreams (--- tcp_listen / --- udp_listen)

sub fork_helper {
    my ($name, $code) = @_;
    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;
    return $pid if $pid;
    # child: never run the parent's END blocks or signal handlers
    $InSubprocess = 1;
    $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
    my $ok = eval { $code->(); 1 };
    warn "$name - mock server: $@" unless $ok;
    POSIX::_exit(0);
}

# write what the mock server received to a file the parent reads later
sub save_query {
    my ($file, $data) = @_;
    return unless $file;
    open my $out, '>', "$file.tmp" or die "cannot open $file.tmp: $!\n";
    binmode $out;
    print $out $data;
    close $out;
    rename "$file.tmp", $file or die "cannot rename $file.tmp: $!\n";
}

sub slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    binmode $in;
    local $/;
    my $d = <$in>;
    close $in;
    return $d // '';
}

sub start_tcp_server {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $target = expand_env_in_text(scalar $block->tcp_listen, $name, $rand_ports);
    my $reply = $block->tcp_reply;

    bail_out("$name - no --- tcp_reply specified but --- tcp_listen is specified")
        if !defined $reply && !defined $block->tcp_shutdown;

    my $want_len = $block->tcp_query_len;
    my $query_file;
    if (defined $block->tcp_query || defined $want_len) {
        $want_len = length(scalar $block->tcp_query) unless defined $want_len;
        $query_file = File::Temp::tmpnam();
    }

    my ($sock, $err);
    for my $try (1 .. 30) {
        if ($target =~ /^\d+$/) {
            $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $target,
                                          Proto => 'tcp', ReuseAddr => 1, Listen => 5);
        } elsif ($target =~ /\S+\.sock$/) {
            unlink $target if -e $target;
            $sock = IO::Socket::UNIX->new(Local => $target, Type => SOCK_STREAM, Listen => 5);
        } else {
            bail_out("$name - bad tcp_listen target: $target");
        }
        last if $sock;
        $err = $!;
        last unless $err =~ /in use/i;
        warn "WARNING: failed to create the tcp listening socket: $err\n";
        sleep 1;
    }
    bail_out("$name - failed to create the tcp listening socket: $err") unless $sock;

    my $pid = fork_helper($name, sub {
        my $client;
        until ($client = $sock->accept) {
            sleep $TestNginxSleep;
        }
        my ($no_read, $no_write);
        if (defined(my $how = $block->tcp_shutdown)) {
            sleep $block->tcp_shutdown_delay if $block->tcp_shutdown_delay;
            $how = 1 if $how eq '';
            $client->shutdown($how);
            if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
        }

        my $buf = '';
        unless ($no_read) {
            my $auto = $block->tcp_query_auto_timeout;
            my $idle = defined $auto && $auto ne '' ? $auto + 0 : 0.1;
            my $sel = IO::Select->new($client);
            while (1) {
                last if defined $auto && !$sel->can_read($idle);
                my $n = sysread($client, my $chunk, 4096);
                die "failed to receive: $!\n" unless defined $n;
                last if $n == 0;
                $buf .= $chunk;
                save_query($query_file, $buf);
                last if !defined $auto && (!$want_len || length($buf) >= $want_len);
            }
        }

        if (my $delay = parse_time($block->tcp_reply_delay)) {
            sleep $delay;
        }

        if (!$no_write && defined $reply) {
            $reply = $reply->($buf) if ref $reply eq 'CODE';
            for my $chunk (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
                defined syswrite($client, $chunk)
                    or warn "WARNING: tcp server failed to send reply: $!\n";
            }
        }

        if (defined $block->tcp_no_close) {
            sleep 1 while 1;
        }
        close $client;
        close $sock;
    });

    $TcpServerPid = $pid;
    return ($sock, $query_file);
}

sub run_tcp_server_tests {
    my ($block, $sock, $query_file) = @_;
    return unless defined $sock;
    my $name = $block->name;
    my $got = $query_file ? slurp($query_file) : '';
    if (defined $block->tcp_query) {
        is_str($got, scalar $block->tcp_query, "$name - tcp_query ok");
    }
    if (defined $block->tcp_query_len) {
        Test::More::is(length($got), scalar $block->tcp_query_len, "$name - TCP query length ok");
    }
}

sub stop_tcp_server {
    my ($sock, $query_file, $name) = @_;
    return unless defined $sock;
    if (defined $TcpServerPid) {
        kill_process($TcpServerPid, 1, $name, SIGTERM);
        waitpid($TcpServerPid, 0);
        undef $TcpServerPid;
    }
    close $sock;
    unlink $query_file, "$query_file.tmp" if $query_file;
}

sub start_udp_server {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $reply = $block->udp_reply;
    bail_out("$name - no --- udp_reply specified but --- udp_listen is specified")
        unless defined $reply;
    my $query_file = defined $block->udp_query ? File::Temp::tmpnam() : undef;
    my $target = expand_env_in_text(scalar $block->udp_listen, $name, $rand_ports);
    my ($sock, $uds);
    if ($target =~ /^\d+$/) {
        $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $target,
                                      Proto => 'udp', ReuseAddr => 1)
            or bail_out("$name - failed to create the udp listening socket: $!");
    } elsif ($target =~ /\S+\.sock$/) {
        unlink $target if -e $target;
        $sock = IO::Socket::UNIX->new(Local => $target, Type => SOCK_DGRAM)
            or bail_out("$name - failed to create the udp socket: $!");
        $uds = $target;
    } else {
        bail_out("$name - bad udp_listen target: $target");
    }

    $UdpServerPid = fork_helper($name, sub {
        my $buf = '';
        my $peer = $sock->recv($buf, 65536);
        save_query($query_file, $buf);
        if (my $delay = parse_time($block->udp_reply_delay)) {
            sleep $delay;
        }
        $reply = $reply->($buf) if ref $reply eq 'CODE';
        for my $d (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
            defined $sock->send($d, 0, $peer)
                or warn "$name - WARNING: udp server failed to send reply: $!\n";
        }
    });
    return ($sock, $query_file, $uds);
}

sub run_udp_server_tests {
    my ($block, $sock, $query_file) = @_;
    return unless defined $sock && defined $block->udp_query;
    my $got = $query_file ? slurp($query_file) : '';
    is_str($got, scalar $block->udp_query, $block->name . " - udp_query ok");
}

sub stop_udp_server {
    my ($sock, $query_file, $uds, $name) = @_;
    return unless defined $sock;
    if (defined $UdpServerPid) {
        kill_process($UdpServerPid, 1, $name, SIGTERM);
        waitpid($UdpServerPid, 0);
        undef $UdpServerPid;
    }
    close $sock;
    unlink $uds if defined $uds;
    unlink $query_file, "$query_file.tmp" if $query_file;
}

# ---------------------------------------------------------------------------
# The driver

sub run_tests {
    if ($UseHup || $UseStap || $CheckLeak || $Benchmark
        || $UseHttp2 || $UseHttp3 || $ENV{TEST_NGINX_USE_RR})
    {
        Test::More::BAIL_OUT("t/compat does not implement TEST_NGINX_USE_HUP, "
            . "_USE_STAP, _CHECK_LEAK, _BENCHMARK, _USE_HTTP2/3 or _USE_RR; "
            . "install the CPAN Test::Nginx for these modes");
    }
    install_signal_handlers();
    srand($$ ^ int(time * 1000));

    $NginxVersion = get_nginx_version();
    $PcreVersion  = get_pcre_version();
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        cleanup_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}

sub check_prev_block_shutdown_error_log {
    my $block = $PrevBlock or return;
    return unless defined $block->shutdown_error_log
               || defined $block->no_shutdown_error_log;
    $CheckShutdownErrorLog->($block, $ENV{TEST_NGINX_NO_CLEAN} ? 1 : 0);
}

# "N: < 1.21.0 [: reason]" etc.  Returns (count, reason, skip?) or ().
sub skip_spec {
    my ($block, $name) = @_;
    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $yes = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
            return ($n, 'skip_eval', $yes);
        }
    }
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $v) = ($1, $2, get_canon_version($3, $4, $5));
        my $reason = $6 || "nginx version $op $3.$4.$5";
        return ($n, $reason, eval "$NginxVersion $op $v");
    }
    return ();
}

sub run_test {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    my $rand_ports = {};
    $RandPorts = $rand_ports;

    my $config = expand_env_in_text(scalar $block->config, $name, $rand_ports);

    local $LogLevel = $block->log_level || $LogLevel;

    # A block without --- config keeps the nginx of the previous block
    # running, as the real runner does.
    my $should_restart = 0;
    my $dry_run = 0;
    if (!defined $config) {
        bail_out("$name - No '--- config' section specified and could not get previous one. "
                 . "Use TEST_NGINX_NO_NGINX_MANAGER ?")
            if !$NoNginxManager && !defined $PrevConfig;
    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
    } else {
        my $changed = !defined $PrevConfig || $config ne $PrevConfig;
        $should_restart = $changed || $ForceRestartOnTest;
    }

    my ($skip_n, $skip_reason, $should_skip) = skip_spec($block, $name);
    my ($todo_n, $todo_reason);
    if (defined(my $todo = $block->todo)) {
        $todo =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $todo");
        ($todo_n, $todo_reason) = ($1, $2);
    }

    if (!$NoNginxManager && !$should_skip && $should_restart) {
        $PrevConfig = $config;
        stop_nginx($name);
        check_prev_block_shutdown_error_log();

        setup_server_root();
        run_customer_init_script($block);
        write_user_files($block, $rand_ports);
        write_config_file($block, $config, $rand_ports);

        can_run($NginxBinary)
            or bail_out("$name - Cannot find the nginx executable in the PATH environment");

        my $done = start_nginx($block, $name, \$dry_run);
        return if $done;    # --- must_die blocks end here
    }

    if (my $init = $block->init) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        my ($tcp_sock, $tcp_file) = defined $block->tcp_listen
            ? start_tcp_server($block, $rand_ports) : ();
        my ($udp_sock, $udp_file, $uds) = defined $block->udp_listen
            ? start_udp_server($block, $rand_ports) : ();

        write_user_files($block, $rand_ports) if $i > 1;

        if ($should_skip && defined $skip_n) {
            SKIP: { Test::More::skip("$name - $skip_reason", $skip_n) }
        } elsif (defined $todo_n) {
            TODO: { Test::More::todo_skip("$name - $todo_reason", $todo_n) }
        } else {
            $RunTestHelper->($block, $dry_run, $i - 1);
            run_tcp_server_tests($block, $tcp_sock, $tcp_file);
            run_udp_server_tests($block, $udp_sock, $udp_file);
        }

        stop_udp_server($udp_sock, $udp_file, $uds, $name);
        stop_tcp_server($tcp_sock, $tcp_file, $name);
    }

    if (my $all = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile && open my $out, '>>', $all) {
            print $out "\n=== $0 $name\n", slurp($ErrLogFile);
            close $out;
        }
    }
}

# Start nginx for a block.  Returns true when the block is finished
# (--- must_die), false when requests should be sent.
sub start_nginx {
    my ($block, $name, $dry_run_ref) = @_;

    my $cmd = "$NginxBinary -e $ErrLogFile -p $ServRoot/ -c $ConfFile > /dev/null";
    if (defined(my $pre = $ENV{TEST_NGINX_LD_PRELOAD})) {
        $pre .= " $ENV{LD_PRELOAD}" if defined $ENV{LD_PRELOAD};
        $cmd = qq{LD_PRELOAD="$pre" $cmd};
    }
    $cmd .= ' 2> /dev/null' if defined $block->suppress_stderr;

    my $must_die = $block->must_die;
    $ErrLogFilePos = 0;
    my $waited = 0;
    my $try = 0;

    return start_nginx_valgrind($block, $name, $cmd)
        if $UseValgrind && !defined $must_die;

    while (1) {
        system($cmd);
        my $status = $?;
        my ($exec_failed, $core, $code) = ($status == -1, $status & 128, $status >> 8);

        if (defined $must_die) {
            if ($exec_failed) {
                Test::More::fail("$name - failed to execute the nginx command line");
            } elsif ($core) {
                Test::More::fail("$name - nginx core dumped");
            } elsif (looks_like_number($must_die)) {
                Test::More::is($must_die, $code, "$name - die with the expected exit code");
            } else {
                Test::More::isnt($status, 0, "$name - die as expected");
            }
            $CheckErrorLog->($block, undef, $$dry_run_ref, $try, 0);
            if ($status == 0) {
                warn "WARNING: $name - nginx must die but it does not; killing it (req $try)\n";
                wait_for_pidfile();
                stop_nginx($name);
            }
            return 1 if ++$try >= $RepeatEach;
            next;
        }

        last if $status == 0;

        if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}
            and my $directive = missing_directive())
        {
            $$dry_run_ref = "the lack of directive $directive";
            return 0;
        }
        $try++;
        my $delay = 0.1 * $try;
        $delay = 1 if $delay > 1;
        sleep $delay;
        $waited += $delay;
        next if $waited < 30;
        bail_out("$name - Cannot start nginx using command \"$cmd\" (status code $status).");
    }

    # With "daemon on" the command returns before the daemon has written
    # its pid file; remember the pid as soon as it is there so that nginx
    # can always be stopped.
    $NginxPid = wait_for_pidfile();
    sleep $TestNginxSleep;
    return 0;
}

sub wait_for_pidfile {
    for (1 .. 200) {
        my $pid = read_pidfile_quietly();
        return $pid if defined $pid;
        sleep 0.01;
    }
    return undef;
}

# As the real runner does: nginx ("daemon off") is exec'ed under valgrind
# in a child of its own process group.  The pid file (written once the
# listening sockets are open) tells when it is ready; valgrind takes
# seconds to start.
sub start_nginx_valgrind {
    my ($block, $name, $cmd) = @_;

    my $opts;
    if ($UseValgrind =~ /^\d+$/) {
        $opts = "--tool=memcheck --leak-check=full --keep-debuginfo=yes "
              . "--show-possibly-lost=no";
        if ($ValgrindExitOnFirstErr) {
            if (`valgrind --help` =~ /exit-on-first-error/) {
                $opts .= " --exit-on-first-error=yes --error-exitcode=1";
            } else {
                warn "WARNING: valgrind does not support "
                   . "--exit-on-first-error option\n";
            }
        }
        $opts .= " --suppressions=valgrind.suppress" if -f 'valgrind.suppress';
        $cmd = "valgrind --num-callers=100 -q $opts --gen-suppressions=all $cmd";
    } else {
        $cmd = "valgrind -q $UseValgrind $cmd";
    }

    warn "$name\n";

    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        setpgrp;
        $InSubprocess = 1;
        Test::More->builder->no_ending(1);
        exec "exec $cmd" or POSIX::_exit(127);
    }

    for (1 .. 6000) {
        my $p = read_pidfile_quietly();
        if (defined $p) {
            $NginxPid = $p;
            sleep $TestNginxSleep;
            return 0;
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            bail_out("$name - Cannot start nginx using command \"$cmd\" "
                     . "(status code $?).");
        }
        sleep 0.01;
    }

    kill SIGKILL, $pid;
    waitpid($pid, 0);
    bail_out("$name - nginx under valgrind did not start in 60 seconds");
}

sub missing_directive {
    open my $in, '<', $ErrLogFile or return 0;
    while (<$in>) {
        return $1 if /\[emerg\] \S+?: unknown directive "([^"]+)"/;
    }
    return 0;
}

END {
    return if $InSubprocess;
    cleanup();
    {
        local $?;
        stop_nginx('END') unless $ENV{TEST_NGINX_NO_CLEAN};
    }
    check_prev_block_shutdown_error_log() if $CheckShutdownErrorLog;
    if ($Randomize && -d $ServRoot && $ServRoot =~ m{/t/servroot_\d+$}) {
        remove_tree($ServRoot);
    }
}

1;
