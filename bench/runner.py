#!/usr/bin/python3
"""Runs the benchmark scenarios of bench/run and writes bench/RESULTS.md.

Called by bench/run after it has installed the packages and built the
client; see bench/README.md.  Every server under test listens on
127.0.0.1 only, is started here with its own configuration in a temporary
directory and stopped by its PID; every load is bounded in connections and
time.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WSBENCH = os.path.join(BENCH, 'wsbench')
ECHO_EPOLL = os.path.join(BENCH, 'echo-epoll')
APP_EPOLL = os.path.join(BENCH, 'app-epoll')
NGINX = os.environ.get('NGINX', '/usr/sbin/nginx')
MODULE = os.environ.get('WS_MODULE', os.path.join(ROOT, 'build', 'ngx_ws_module.so'))
MODDIR = '/usr/lib/nginx/modules'
REDIS_SERVER = os.environ.get('REDIS_SERVER', '/usr/bin/redis-server')
REDIS_CLI = os.environ.get('REDIS_CLI', '/usr/bin/redis-cli')
RESULTS_DIR = os.path.join(BENCH, 'results')
RESULTS_MD = os.path.join(BENCH, 'RESULTS.md')
ANALYSIS_MD = os.path.join(BENCH, 'analysis.md')

# the sizes of the runs; bench/run --quick halves the durations
ECHO_DURATION = 2.0
ECHO_WARMUP = 0.5
CONNS_HOLD = 1.0

# conns-100k: connections, workers and client processes, how long they are
# held (minutes; --hold-minutes, 1 with --quick), then the reload phase:
# its subscribers' publish rate and time, and when the SIGHUP comes
C100K_CONNS = 100000
C100K_WORKERS = 6
C100K_PROCS = 6
C100K_HOLD_MIN = 10.0
C100K_RELOAD_RATE = 2
C100K_RELOAD_DURATION = 90.0
C100K_RELOAD_AT = 8.0
FANOUT_DURATION = 2.0

# reload-10k: subscribers, publish rate and time, the SIGHUPs, and the cases
# (ws_drain_window, the clients' reconnect jitter in seconds)
RELOAD_SUBS = 10000
RELOAD_RATE = 10
RELOAD_DURATION = 16.0
RELOAD_AT = (3.0, 10.0)
RELOAD_CASES = (('2s', 1.0), ('0', 1.0), ('0', 0.0))

OURS = 'ws_module'

# an echo run during which the rest of the machine used more than this
# (cores) is made again, at most twice; the least disturbed one is kept
OTHER_CPU_MAX = 0.3


def log(msg):
    sys.stderr.write('[bench] %s\n' % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# ports, source addresses, /proc

# BENCH_PORTS=A-B: the servers' ports from that range (a machine shared
# with other test runs that have ranges of their own)
PORTS = tuple(int(p) for p in
              os.environ.get('BENCH_PORTS', '20000-32000').split('-', 1))


def free_port():
    for _ in range(200):
        port = random.randint(PORTS[0], PORTS[-1])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError('no free port')


_src_counter = [0]


def source_addrs(n):
    """Fresh 127.10.x.y client addresses for every client run, so that no
    run meets the TIME_WAIT sockets of an earlier one."""
    out = []
    for _ in range(n):
        k = _src_counter[0]
        _src_counter[0] += 1
        out.append('127.10.%d.%d' % (k // 250, k % 250 + 1))
    return out


def children_of(pid):
    kids = []
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(')') + 2:].split()
        if int(rest[1]) == pid:
            kids.append(int(stat.split('/')[2]))
    return sorted(kids)


def mem_of(pid):
    """VmRSS, RssAnon, RssShmem and Pss in KiB."""
    m = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('VmRSS', 'RssAnon', 'RssFile', 'RssShmem'):
                m[k] = int(v.split()[0])
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    m['Pss'] = int(line.split()[1])
    except OSError:
        m['Pss'] = 0
    return m


def mem_sum(pids):
    tot = {}
    for p in pids:
        for k, v in mem_of(p).items():
            tot[k] = tot.get(k, 0) + v
    return tot


def machine_busy():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / float(os.sysconf('SC_CLK_TCK'))


_quiet_waited = [0.0]


def wait_quiet(limit=15.0, threshold=0.3):
    """The machine is shared: before a measurement, wait (a bounded time)
    until other processes use less than `threshold` cores.  What they used
    during the measurement is recorded anyway (other_cpu)."""
    t0 = time.time()
    while True:
        b0 = machine_busy()
        time.sleep(0.5)
        busy = (machine_busy() - b0) / 0.5
        if busy < threshold or time.time() - t0 > limit:
            break
    waited = time.time() - t0 - 0.5
    if waited > 0.1:
        _quiet_waited[0] += waited
        log('waited %.1f s for other processes to calm down (%.2f cores busy)'
            % (waited, busy))


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(('127.0.0.1', port))
            return True
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    return False


# ---------------------------------------------------------------------------
# the servers under test

NGINX_CONF = """\
{load_modules}
worker_processes {workers};
worker_rlimit_nofile 20000;
{main_extra}error_log {dir}/error.log warn;
pid {dir}/nginx.pid;

events {{
    worker_connections 20000;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{http_extra}
    server {{
        listen 127.0.0.1:{port} backlog=4096{reuseport};
{locations}
    }}
}}
"""


_running = []


def stop_all(signum=None, frame=None):
    for s in list(_running):
        s.stop()
    if signum is not None:
        log('stopped by signal %d' % signum)
        sys.exit(1)


class Server(object):
    """One server under test: started, measured, stopped by PID."""

    key = None
    title = None
    kinds = ()          # 'echo', 'conns', 'fanout'

    def __init__(self, workers, pin, tmp):
        self.workers = workers
        self.pin = pin
        self.dir = tempfile.mkdtemp(prefix=self.key + '-', dir=tmp)
        self.port = free_port()
        self.procs = []
        self.commands = []
        self.configs = {}
        _running.append(self)

    def prefix(self):
        return ['taskset', '-c', '0'] if self.pin else []

    def spawn(self, argv, env=None, stdout=None):
        argv = self.prefix() + argv
        self.commands.append(' '.join(shlex.quote(a) for a in argv))
        p = subprocess.Popen(argv, env=env, stdout=stdout or subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, 'stderr.log'), 'ab'))
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if self in _running:
            _running.remove(self)

    def url(self, what):
        return 'ws://127.0.0.1:%d/%s' % (self.port, what)


class NginxServer(Server):
    modules = ()
    main_extra = ''
    http_extra = ''
    locations = ''

    def conf(self):
        loads = ''.join('load_module %s;\n' % m for m in self.modules)
        return NGINX_CONF.format(
            load_modules=loads, main_extra=self.main_extra,
            workers=self.workers, dir=self.dir,
            port=self.port, reuseport=' reuseport' if self.workers > 1 else '',
            http_extra=self.http_extra.format(dir=self.dir, bench=BENCH,
                                              port=self.port),
            locations=self.locations.format(dir=self.dir, bench=BENCH,
                                            port=self.port,
                                            backend=getattr(self, 'backend', 0)))

    def start(self):
        path = os.path.join(self.dir, 'nginx.conf')
        with open(path, 'w') as f:
            f.write(self.conf())
        self.configs['nginx.conf'] = self.conf()
        self.master = self.spawn([NGINX, '-p', self.dir + '/', '-e',
                                  self.dir + '/error.log', '-c', path,
                                  '-g', 'daemon off;'])
        end = time.time() + 10
        while time.time() < end:
            if self.master.poll() is not None:
                raise RuntimeError('%s: nginx exited: %s' % (
                    self.key, self.errors()))
            if len(children_of(self.master.pid)) >= self.workers \
                    and wait_port(self.port, 0.2):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError('%s: nginx did not start' % self.key)

    def pids(self):
        return children_of(self.master.pid)

    def errors(self):
        try:
            with open(os.path.join(self.dir, 'error.log')) as f:
                lines = [l.strip() for l in f
                         if re.search(r'\[(error|crit|alert|emerg)\]', l)]
            return lines[-3:]
        except OSError:
            return []


class WsModule(NginxServer):
    key = OURS
    title = 'ngx_ws_module (ws_echo)'
    kinds = ('echo', 'conns')
    modules = (MODULE,)
    locations = """\
        location /echo {{
            websocket;
            ws_echo on;
        }}"""


class WsModuleChannels(NginxServer):
    """Fan-out through the module's channels (ws_zone, ws_subscribe,
    ws_publisher), when the build has them."""
    key = OURS
    title = 'ngx_ws_module (channels)'
    kinds = ('fanout',)
    modules = (MODULE,)
    http_extra = """\
    ws_zone bench 64m;
    keepalive_requests 1000000;
"""
    locations = """\
        location ~ ^/sub/(\\w+)$ {{
            websocket;
            ws_subscribe bench $1;
        }}
        location = /pub {{
            ws_publisher bench;
        }}"""

    def pub_url(self, chan):
        return 'http://127.0.0.1:%d/pub?channel=%s' % (self.port, chan)

    def sub_url(self, chan):
        return 'ws://127.0.0.1:%d/sub/%s' % (self.port, chan)

    @classmethod
    def supported(cls, tmp):
        """nginx -t accepts the channel directives"""
        s = cls(1, False, tmp)
        path = os.path.join(s.dir, 'nginx.conf')
        with open(path, 'w') as f:
            f.write(s.conf())
        p = subprocess.run([NGINX, '-t', '-p', s.dir + '/', '-e', s.dir + '/error.log',
                            '-c', path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return p.returncode == 0


class WsModuleSse(WsModuleChannels):
    """The same channels, EventSource subscribers (ws_sse)."""
    title = 'ngx_ws_module (ws_sse)'
    locations = """\
        location ~ ^/sse/(\\w+)$ {{
            ws_sse;
            ws_subscribe bench $1;
        }}
        location = /pub {{
            ws_publisher bench;
        }}"""

    def sub_url(self, chan):
        return 'http://127.0.0.1:%d/sse/%s' % (self.port, chan)


class WsModuleReload(NginxServer):
    """Channels with the envelope and a drain window, 2 workers, reloaded
    during the run (reload-10k)."""
    key = OURS
    title = 'ngx_ws_module (channels, reloaded)'
    kinds = ('reload',)
    modules = (MODULE,)
    main_extra = 'worker_shutdown_timeout 60s;\n'
    http_extra = """\
    ws_zone bench 64m history=4096;
    keepalive_requests 1000000;
"""
    locations = """\
        location ~ ^/sub/(\\w+)$ {{{{
            websocket;
            ws_subscribe bench $1;
            ws_envelope on;
            ws_drain_window {window};
        }}}}
        location = /pub {{{{
            ws_publisher bench;
        }}}}
        location = /ws-status {{{{
            ws_status;
            allow 127.0.0.1;
            deny all;
        }}}}"""

    def __init__(self, window, tmp):
        self.locations = self.locations.format(window=window)
        NginxServer.__init__(self, 2, False, tmp)

    def pub_url(self, chan):
        return 'http://127.0.0.1:%d/pub?channel=%s' % (self.port, chan)


class WsModule100k(NginxServer):
    """conns-100k: 6 workers of 20,000 descriptors each, heartbeats
    (ws_ping_interval), idle echo connections and channel subscribers with
    the envelope, reloaded with ws_shutdown_delay."""
    key = OURS
    title = 'ngx_ws_module (100,000 connections, 6 workers)'
    kinds = ('conns100k',)
    modules = (MODULE,)
    main_extra = 'worker_shutdown_timeout 60s;\n'
    http_extra = """\
    ws_zone bench 64m history=4096;
    ws_ping_interval 20s;
    ws_shutdown_delay 2s;
    keepalive_requests 1000000;
"""
    locations = """\
        location /echo {{
            websocket;
            ws_echo on;
        }}
        location ~ ^/sub/(\\w+)$ {{
            websocket;
            ws_subscribe bench $1;
            ws_envelope on;
        }}
        location = /pub {{
            ws_publisher bench;
        }}
        location = /ws-status {{
            ws_status;
            allow 127.0.0.1;
            deny all;
        }}"""

    def __init__(self, tmp):
        NginxServer.__init__(self, C100K_WORKERS, False, tmp)

    def pub_url(self, chan):
        return 'http://127.0.0.1:%d/pub?channel=%s' % (self.port, chan)


class StatusSampler(threading.Thread):
    """Samples ws_status's total connections_total every 100 ms: the
    server's side of the accept rate."""

    def __init__(self, port):
        threading.Thread.__init__(self, daemon=True)
        self.url = 'http://127.0.0.1:%d/ws-status' % port
        self.samples = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            t = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as f:
                    total = json.load(f)['total']
                self.samples.append((time.time(), total['connections_total'],
                                     total['connections']))
            except (OSError, ValueError, KeyError):
                pass
            self.done.wait(max(0.0, 0.1 - (time.time() - t)))

    def peak_100ms(self):
        """the most connections upgraded in 100 ms, from two samples
        0.08 s or more apart"""
        best = 0.0
        s = self.samples
        for a, b in zip(s, s[1:]):
            dt = b[0] - a[0]
            if dt >= 0.08:
                best = max(best, (b[1] - a[1]) * 0.1 / dt)
        return best


class LuaResty(NginxServer):
    key = 'lua-resty'
    title = 'lua-resty-websocket (Debian nginx + lua)'
    kinds = ('echo', 'conns')
    modules = (MODDIR + '/ndk_http_module.so', MODDIR + '/ngx_http_lua_module.so')
    http_extra = """\
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
    lua_socket_log_errors off;
"""
    locations = """\
        location /echo {{
            content_by_lua_file {bench}/servers/lua-echo.lua;
        }}"""


class NodeProxy(NginxServer):
    key = 'node-ws'
    title = 'nginx proxy_pass -> Node ws'
    kinds = ('echo',)
    locations = """\
        location /echo {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}"""

    def start(self):
        self.backend = free_port()
        env = dict(os.environ, NODE_PATH='/usr/share/nodejs')
        self.node = self.spawn(['node', os.path.join(BENCH, 'servers', 'ws-echo.js'),
                                str(self.backend)], env=env)
        if not wait_port(self.backend, 10):
            raise RuntimeError('node ws server did not start')
        NginxServer.start(self)

    def pids(self):
        return NginxServer.pids(self) + [self.node.pid]


class Nchan(NginxServer):
    key = 'nchan'
    title = 'nchan (websocket subscribers)'
    kinds = ('conns', 'fanout')
    modules = (MODDIR + '/ngx_nchan_module.so',)
    # nginx closes a keep-alive connection after 1,000 requests by default:
    # the publisher sends more than that on one connection
    http_extra = """\
    keepalive_requests 1000000;
"""
    locations = """\
        location /echo {{
            nchan_subscriber websocket;
            nchan_channel_id idle;
        }}
        location ~ ^/sub/(\\w+)$ {{
            nchan_subscriber websocket;
            nchan_channel_id $1;
        }}
        location ~ ^/pub/(\\w+)$ {{
            nchan_publisher http;
            nchan_channel_id $1;
        }}"""

    def pub_url(self, chan):
        return 'http://127.0.0.1:%d/pub/%s' % (self.port, chan)

    def sub_url(self, chan):
        return 'ws://127.0.0.1:%d/sub/%s' % (self.port, chan)


class NchanSse(Nchan):
    title = 'nchan (eventsource subscribers)'
    kinds = ('fanout',)
    locations = """\
        location ~ ^/sse/(\\w+)$ {{
            nchan_subscriber eventsource;
            nchan_channel_id $1;
        }}
        location ~ ^/pub/(\\w+)$ {{
            nchan_publisher http;
            nchan_channel_id $1;
        }}"""

    def sub_url(self, chan):
        return 'http://127.0.0.1:%d/sse/%s' % (self.port, chan)


class RedisServer(Server):
    """Debian's redis-server for redis-fanout, on a free port, without
    persistence; stopped by its PID like the servers."""
    key = 'redis'
    title = 'redis-server'

    def __init__(self, pin, tmp):
        Server.__init__(self, 1, pin, tmp)

    def start(self):
        self.proc = self.spawn([REDIS_SERVER, '--port', str(self.port),
                                '--bind', '127.0.0.1', '--save', '',
                                '--appendonly', 'no', '--dir', self.dir,
                                '--logfile', os.path.join(self.dir, 'redis.log'),
                                '--daemonize', 'no', '--maxclients', '1000'])
        if not wait_port(self.port, 10):
            raise RuntimeError('redis-server did not start')

    def pids(self):
        return [self.proc.pid]

    def info(self):
        """INFO as a dict (numbers as floats)"""
        p = subprocess.run([REDIS_CLI, '-p', str(self.port), 'INFO', 'all'],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=10)
        out = {}
        for line in p.stdout.decode('utf-8', 'replace').splitlines():
            k, sep, v = line.strip().partition(':')
            if sep and not k.startswith('#'):
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
        return out

    def errors(self):
        return []


def tcp_conns_to(pids, port):
    """how many established TCP connections these processes hold to
    127.0.0.1:port (from /proc/net/tcp and the processes' descriptors)"""
    inodes = set()
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            v = line.split()
            if v[3] == '01' and int(v[2].split(':')[1], 16) == port:
                inodes.add(v[9])
    n = 0
    for pid in pids:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if link.startswith('socket:[') and link[8:-1] in inodes:
                n += 1
    return n


class WsModuleRedis(WsModuleChannels):
    """redis-fanout: the fan-out configuration with the zone on Redis"""
    title = 'ngx_ws_module (channels, ws_zone redis=)'

    def __init__(self, workers, pin, tmp, redis_port=6379):
        self.http_extra = WsModuleChannels.http_extra.replace(
            'ws_zone bench 64m;',
            'ws_zone bench 64m redis=127.0.0.1:%d;' % redis_port)
        WsModuleChannels.__init__(self, workers, pin, tmp)


class NchanRedis(Nchan):
    """redis-fanout: nchan with its Redis backend"""
    title = 'nchan (websocket subscribers, nchan_use_redis)'
    kinds = ('fanout',)

    def __init__(self, workers, pin, tmp, redis_port=6379):
        self.http_extra = Nchan.http_extra + (
            '    nchan_redis_url "redis://127.0.0.1:%d";\n'
            '    nchan_use_redis on;\n' % redis_port)
        Nchan.__init__(self, workers, pin, tmp)


class EpollC(Server):
    key = 'epoll-c'
    title = 'bench/echo-epoll.c (minimal C epoll echo)'
    kinds = ('echo', 'conns')

    def start(self):
        self.proc = self.spawn([ECHO_EPOLL, '-w', str(self.workers), str(self.port)])
        if not wait_port(self.port, 10):
            raise RuntimeError('echo-epoll did not start')
        if self.workers > 1:
            end = time.time() + 5
            while len(children_of(self.proc.pid)) < self.workers and time.time() < end:
                time.sleep(0.05)

    def pids(self):
        return children_of(self.proc.pid) if self.workers > 1 else [self.proc.pid]

    def errors(self):
        return []


class EpollCFanout(EpollC):
    """The fan-out limit: echo-epoll's /sub/NAME subscribers and POST
    /pub/NAME, one write() per subscriber and nothing else."""
    title = 'bench/echo-epoll.c (minimal C fan-out, the limit)'
    kinds = ('fanout',)

    def pub_url(self, chan):
        return 'http://127.0.0.1:%d/pub/%s' % (self.port, chan)

    def sub_url(self, chan):
        return 'ws://127.0.0.1:%d/sub/%s' % (self.port, chan)


class AppEcho(object):
    """The Node HTTP app of the app scenario (bench/servers/app-echo.js),
    started by the server that uses it, in its CPU set."""

    def start_app(self):
        self.backend = free_port()
        self.app = self.spawn(['node', os.path.join(BENCH, 'servers', 'app-echo.js'),
                               str(self.backend)])
        if not wait_port(self.backend, 10):
            raise RuntimeError('app-echo.js did not start')


class WsModuleApp(AppEcho, NginxServer):
    """ws_pass in the websocket-events format, to the Node HTTP app through
    an upstream with keepalive."""
    key = OURS
    title = 'ngx_ws_module ws_pass (websocket-events) -> Node HTTP app'
    kinds = ('app',)
    modules = (MODULE,)
    pass_format = 'websocket-events'
    locations = """\
        location /echo {{
            websocket;
            ws_pass /app;
            ws_pass_format %s;
        }}
        location = /app {{
            internal;
            proxy_pass http://app/events;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}"""

    def start(self):
        self.start_app()
        self.locations = WsModuleApp.locations % self.pass_format
        self.http_extra = ('    upstream app {{\n'
                           '        server 127.0.0.1:%d;\n'
                           '        keepalive 128;\n'
                           '    }}\n'
                           '    keepalive_requests 1000000;\n' % self.backend)
        NginxServer.start(self)

    def pids(self):
        return NginxServer.pids(self) + [self.app.pid]


class WsModuleAppHeaders(WsModuleApp):
    """The same with the headers format: one request per message."""
    key = OURS + '-headers'
    title = 'ngx_ws_module ws_pass (headers) -> Node HTTP app'
    pass_format = 'headers'


class EpollCApp(AppEcho, Server):
    """The application path's limit: bench/app-epoll.c, a WebSocket to
    websocket-events bridge that does nothing but its system calls, to the
    same Node HTTP app."""
    key = 'app-epoll'
    title = 'bench/app-epoll.c (minimal C bridge, the limit) -> Node HTTP app'
    kinds = ('app',)

    def start(self):
        self.start_app()
        self.proc = self.spawn([APP_EPOLL, str(self.port), str(self.backend)])
        if not wait_port(self.port, 10):
            raise RuntimeError('app-epoll did not start')

    def pids(self):
        return [self.proc.pid, self.app.pid]

    def errors(self):
        return []


class PushpinApp(AppEcho, Server):
    """Debian's pushpin in its WebSocket-over-HTTP mode (route option
    over_http) to the same Node HTTP app; its own configuration, run and
    log directories in the temporary directory, its internal ports moved
    by port_offset, and its own zurl."""
    key = 'pushpin'
    title = 'Pushpin (WebSocket-over-HTTP) -> Node HTTP app'
    kinds = ('app',)

    def start(self):
        self.start_app()
        conf = os.path.join(self.dir, 'pushpin.conf')
        routes = os.path.join(self.dir, 'routes')
        for d in ('run', 'log'):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        with open(routes, 'w') as f:
            f.write('* 127.0.0.1:%d,over_http\n' % self.backend)
        with open('/etc/pushpin/pushpin.conf') as f:
            text = f.read()
        offset = random.randrange(20000, 30000, 10)
        subs = (('rundir', os.path.join(self.dir, 'run')),
                ('logdir', os.path.join(self.dir, 'log')),
                ('port_offset', str(offset)),
                ('ipc_prefix', 'bench%d-' % self.port),
                ('routesfile', routes),
                ('services', 'condure,zurl,pushpin-proxy,pushpin-handler'),
                ('updates_check', 'off'))
        for k, v in subs:
            text = re.sub(r'(?m)^%s=.*$' % k, '%s=%s' % (k, v), text)
        text = text.replace('{libdir}', '/usr/lib/pushpin')
        # the proxy reaches the app through this run's zurl
        text = text.replace('[proxy]\n', '[proxy]\n'
                            'zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in\n'
                            'zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream\n'
                            'zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out\n', 1)
        with open(conf, 'w') as f:
            f.write(text)
        self.configs['pushpin.conf'] = text
        self.proc = self.spawn(['pushpin', '--config', conf,
                                '--port', '127.0.0.1:%d' % self.port])
        if not wait_port(self.port, 20):
            raise RuntimeError('pushpin did not start')
        time.sleep(1.0)         # its proxy and handler connect after condure

    def pids(self):
        return [self.proc.pid] + children_of(self.proc.pid) + [self.app.pid]

    def errors(self):
        return []


class NodeProxyApp(NodeProxy):
    """nginx proxy_pass -> a Node ws app that echoes (the WebSocket
    connection held by the app itself), the servers pinned alike."""
    kinds = ('app',)


SERVERS = {c.key: c for c in (WsModule, LuaResty, NodeProxy, Nchan, EpollC)}
APP_SERVERS = [OURS, OURS + '-headers', 'pushpin', 'node-ws', 'app-epoll']
APP_CLASSES = {OURS: WsModuleApp, OURS + '-headers': WsModuleAppHeaders,
               'pushpin': PushpinApp, 'node-ws': NodeProxyApp,
               'app-epoll': EpollCApp}
# messages in flight per connection, at 100 connections, 64 B
APP_DEPTHS = (1, 4)
TITLES_FANOUT = {OURS: WsModuleChannels.title, 'nchan': Nchan.title,
                 'epoll-c': EpollCFanout.title}
TITLES_SSE = {OURS: WsModuleSse.title, 'nchan': NchanSse.title}
ECHO_SERVERS = [OURS, 'lua-resty', 'node-ws', 'epoll-c']
CONNS_SERVERS = [OURS, 'nchan', 'lua-resty', 'epoll-c']
FANOUT_CLASSES = [WsModuleChannels, Nchan, EpollCFanout]
SSE_CLASSES = [WsModuleSse, NchanSse]
REDIS_CLASSES = [WsModuleRedis, NchanRedis]
TITLES_REDIS = {OURS: WsModuleRedis.title, 'nchan': NchanRedis.title}
# (subscribers, msg/s): the latency at light loads (1,000 x 20, 10,000 x 2:
# one fan-out at a time), then below and at the saturation of one worker;
# 1,000 x 5,000 offers 5 M deliveries/s, more than any server here
# delivers, so that its figure is the server's and not the offered rate
FANOUT_CASES = ((1000, 20), (10000, 2), (1000, 100), (1000, 1000),
                (1000, 5000), (10000, 100), (10000, 1000))
SSE_CASES = ((1000, 100), (1000, 1000), (10000, 10), (10000, 100))
REDIS_CASES = ((1000, 100), (1000, 1000), (10000, 100), (10000, 1000))
# a fan-out case publishes at least this many messages, however short the
# duration: 10 s at 2 msg/s, so that its p99 is not that of a few messages
FANOUT_MIN_MESSAGES = 20
# redis-fanout: the wait between the subscribers' 101 and the first publish
# (a server subscribes in Redis after it answered the handshake), and how
# long subscribers listen on after the deadline to tell late from lost
REDIS_SETTLE = 1.0
REDIS_LATE_GRACE = 5.0

BASE = 'ws_module-base'


def use_base(path):
    """--base: another build of the module instead of the peers, run in
    the same runs as WS_MODULE (an A/B comparison)"""

    class WsModuleBase(WsModule):
        key = BASE
        title = 'ngx_ws_module base build (ws_echo)'
        modules = (path,)

    class WsModuleChannelsBase(WsModuleChannels):
        key = BASE
        title = 'ngx_ws_module base build (channels)'
        modules = (path,)

    class WsModuleSseBase(WsModuleSse):
        key = BASE
        title = 'ngx_ws_module base build (ws_sse)'
        modules = (path,)

    class WsModuleRedisBase(WsModuleRedis):
        key = BASE
        title = 'ngx_ws_module base build (channels, ws_zone redis=)'
        modules = (path,)

    class WsModuleAppBase(WsModuleApp):
        key = BASE
        title = ('ngx_ws_module base build ws_pass (websocket-events) '
                 '-> Node HTTP app')
        modules = (path,)

    SERVERS[BASE] = WsModuleBase
    APP_CLASSES[BASE] = WsModuleAppBase
    APP_SERVERS[:] = [OURS, BASE]
    TITLES_REDIS[BASE] = WsModuleRedisBase.title
    REDIS_CLASSES[:] = [WsModuleRedis, WsModuleRedisBase]
    TITLES_FANOUT[BASE] = WsModuleChannelsBase.title
    TITLES_SSE[BASE] = WsModuleSseBase.title
    ECHO_SERVERS[:] = [OURS, BASE]
    CONNS_SERVERS[:] = [OURS, BASE]
    FANOUT_CLASSES[:] = [WsModuleChannels, WsModuleChannelsBase]
    SSE_CLASSES[:] = [WsModuleSse, WsModuleSseBase]


# ---------------------------------------------------------------------------
# running the client

def run_wsbench(argv, pin, timeout):
    argv = (['taskset', '-c', '1'] if pin else []) + [WSBENCH] + argv
    cmd = ' '.join(shlex.quote(a) for a in argv)
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out = p.stdout.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b'').decode('utf-8', 'replace') + '\n(timed out)'
    res = None
    for line in out.splitlines():
        if line.startswith('result '):
            res = dict(kv.split('=', 1) for kv in line.split()[1:])
            for k, v in list(res.items()):
                try:
                    res[k] = float(v)
                except ValueError:
                    pass
    first_error = re.search(r'^first error: (.*)$', out, re.M)
    if res is None:
        res = {'errors': 1.0}
    res['first_error'] = first_error.group(1) if first_error else ''
    return cmd, res, out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------------------
# scenarios

def echo_scenario(name, size, runs, tmp, durations, conns_list=(100, 1000),
                  depth=1):
    """For 1 and 2 workers: every server is started, then the runs interleave
    servers and cases so that drift hits them alike.  depth: messages in
    flight per connection (echo-pipe: 16)."""
    dur, warm = durations
    cases = []
    commands = {}
    configs = {}
    for workers in (1, 2):
        pin = workers == 1
        servers = []
        for key in ECHO_SERVERS:
            s = SERVERS[key](workers, pin, tmp)
            try:
                s.start()
                servers.append(s)
            except Exception as e:  # a peer that cannot start is reported
                log('%s: %s' % (key, e))
                s.stop()
                for conns in conns_list:
                    cases.append({'workers': workers, 'conns': conns, 'size': size,
                                  'server': key, 'runs': [],
                                  'failed': str(e)})
        results = {}
        for r in range(runs):
            for conns in conns_list:
                for s in servers:
                    pids = s.pids()
                    argv = ['echo', '-c', str(conns), '-s', str(size),
                            '-d', str(depth),
                            '-t', str(dur), '-w', str(warm),
                            '--src', source_addrs(1)[0],
                            '--server-pids', ','.join(map(str, pids)),
                            s.url('echo')]
                    best = None
                    for attempt in range(3):
                        wait_quiet()
                        cmd, res, out = run_wsbench(argv, pin, dur + warm + 60)
                        if best is None or res.get('other_cpu', 0) < best[1].get('other_cpu', 0):
                            best = (cmd, res, out)
                        if res.get('other_cpu', 0) <= OTHER_CPU_MAX:
                            break
                        log('%s w%d c%d %s: other processes used %.2f cores: '
                            'once more' % (name, workers, conns, s.key,
                                           res.get('other_cpu', 0)))
                    cmd, res, out = best
                    log('%s w%d c%d %s run %d: %.0f msg/s p99 %.0f us, '
                        'server %.2f cores, errors %d %s' % (
                            name, workers, conns, s.key, r + 1,
                            res.get('msg_s', 0), res.get('p99_us', 0),
                            res.get('server_cpu', 0), res.get('errors', 0),
                            res.get('first_error', '')))
                    results.setdefault((conns, s.key), []).append(res)
                    if r == 0:
                        cmds = commands.setdefault(s.key, {'server': [],
                                                           'client': []})
                        if conns == conns_list[0]:
                            cmds['client'].append('# %d worker(s)' % workers)
                            cmds['client'].extend(s.commands)
                        cmds['client'].append(cmd)
        for s in servers:
            errs = s.errors()
            s.stop()
            if workers == 1:
                configs.update({s.key: s.configs.get('nginx.conf', '')})
            for conns in conns_list:
                cases.append({'workers': workers, 'conns': conns, 'size': size,
                              'server': s.key,
                              'runs': results.get((conns, s.key), []),
                              'server_errors': errs})
    return {'kind': 'echo', 'size': size, 'depth': depth,
            'conns_list': list(conns_list),
            'cases': cases, 'commands': commands,
            'configs': configs, 'durations': {'duration': dur, 'warmup': warm}}


OPEN_CONNS = 100
OPEN_SIZE = 32
OPEN_SHARES = (0.1, 0.5, 0.9)
OPEN_DRAIN = 2.0


def echo_open_calibrate(servers, pin, dur, warm, quiet):
    """closed-loop msg/s of every server, in this run: the offered rates
    are shares of the slowest one's"""
    rates = {}
    for s in servers:
        wait_quiet(quiet)
        cmd, res, out = run_wsbench(
            ['echo', '-c', str(OPEN_CONNS), '-s', str(OPEN_SIZE),
             '-t', str(dur), '-w', str(warm), '--src', source_addrs(1)[0],
             s.url('echo')], pin, dur + warm + 60)
        if res.get('errors', 1) == 0 and res.get('msg_s'):
            rates[s.key] = res['msg_s']
        log('echo-open closed loop %s: %.0f msg/s, errors %d %s' % (
            s.key, res.get('msg_s', 0), res.get('errors', 0),
            res.get('first_error', '')))
    return rates


def echo_open_scenario(name, runs, tmp, durations, fixed_rates=None,
                       quick=False):
    """Open loop: every echo server, 1 worker pinned to CPU 0 and the
    client to CPU 1, offered the same rates (shares of the slowest
    server's closed-loop msg/s measured first in this run, or
    --open-rates), the runs interleaved; latency from each message's due
    send time, so a server that falls behind shows it in its tail."""
    dur, warm = durations
    quiet = 1.0 if quick else 15.0
    servers, failed, cases = [], {}, []
    commands, configs, results = {}, {}, {}
    load0 = loadavg()
    for key in ECHO_SERVERS:
        s = SERVERS[key](1, True, tmp)
        try:
            s.start()
            servers.append(s)
        except Exception as e:  # a peer that cannot start is reported
            log('%s: %s' % (key, e))
            s.stop()
            failed[key] = str(e)
    closed, rates, shares = {}, [], []
    try:
        if fixed_rates:
            rates = sorted(fixed_rates)
        else:
            closed = echo_open_calibrate(servers, True, dur, warm, quiet)
            if closed:
                slowest = min(closed.values())
                rates = [max(1, int(round(slowest * f, -1)))
                         for f in OPEN_SHARES]
                shares = list(OPEN_SHARES)
        for r in range(runs):
            for rate in rates:
                for s in servers:
                    argv = ['echo', '--open-rate', str(rate),
                            '-c', str(OPEN_CONNS), '-s', str(OPEN_SIZE),
                            '-t', str(dur), '-w', str(warm),
                            '--drain', str(OPEN_DRAIN),
                            '--src', source_addrs(1)[0],
                            '--server-pids', ','.join(map(str, s.pids())),
                            s.url('echo')]
                    wait_quiet(quiet)
                    cmd, res, out = run_wsbench(argv, True,
                                                dur + warm + OPEN_DRAIN + 60)
                    log('%s %d msg/s %s run %d: sent %.0f/s, p99 %.0f us, '
                        'max %.0f us, late %d, lost %d, errors %d %s' % (
                            name, rate, s.key, r + 1, res.get('sent_s', 0),
                            res.get('p99_us', 0), res.get('max_us', 0),
                            res.get('late', 0), res.get('lost', 0),
                            res.get('errors', 0), res.get('first_error', '')))
                    results.setdefault((rate, s.key), []).append(res)
                    if r == 0:
                        cmds = commands.setdefault(
                            s.key, {'server': s.commands[:], 'client': []})
                        cmds['client'].append(cmd)
    finally:
        for s in servers:
            configs[s.key] = s.configs.get('nginx.conf', '')
            s.stop()
    for rate in rates:
        for key in ECHO_SERVERS:
            case = {'rate': rate, 'server': key,
                    'runs': results.get((rate, key), [])}
            if key in failed:
                case['failed'] = failed[key]
            cases.append(case)
    return {'kind': 'echo-open', 'cases': cases, 'commands': commands,
            'configs': configs, 'rates': rates, 'shares': shares,
            'closed_loop': closed, 'conns': OPEN_CONNS, 'size': OPEN_SIZE,
            'drain': OPEN_DRAIN, 'fixed_rates': bool(fixed_rates),
            'loadavg': [load0, loadavg()],
            'durations': {'duration': dur, 'warmup': warm}}


def app_scenario(name, runs, tmp, durations):
    """The application path: 100 connections x 1 and x 4 messages in
    flight, 64 B, through each server to the same Node app (the Node ws app
    for proxy_pass); every server process and the app pinned to CPU 0, the
    client to CPU 1.  Servers are started one at a time (pushpin and the
    others would share the core)."""
    dur, warm = durations
    cases = []
    commands = {}
    configs = {}
    results = {}
    for key in APP_SERVERS:
        s = APP_CLASSES[key](1, True, tmp)
        try:
            s.start()
        except Exception as e:
            log('%s: %s' % (key, e))
            s.stop()
            for depth in APP_DEPTHS:
                cases.append({'depth': depth, 'server': key, 'runs': [],
                              'failed': str(e)})
            continue
        pids = s.pids()
        for r in range(runs):
            for depth in APP_DEPTHS:
                argv = ['echo', '-c', '100', '-s', '64', '-d', str(depth),
                        '-t', str(dur), '-w', str(warm),
                        '--src', source_addrs(1)[0],
                        '--server-pids', ','.join(map(str, pids)),
                        s.url('echo')]
                wait_quiet()
                cmd, res, out = run_wsbench(argv, True, dur + warm + 60)
                log('%s %s d%d run %d: %.0f msg/s p99 %.0f us, server %.2f '
                    'cores, other %.2f, errors %d %s' % (
                        name, key, depth, r + 1, res.get('msg_s', 0),
                        res.get('p99_us', 0), res.get('server_cpu', 0),
                        res.get('other_cpu', 0), res.get('errors', 0),
                        res.get('first_error', '')))
                results.setdefault((depth, key), []).append(res)
                if r == 0:
                    cmds = commands.setdefault(key, {'server': list(s.commands),
                                                     'client': []})
                    cmds['client'].append(cmd)
        errs = s.errors()
        s.stop()
        configs.update({key: s.configs.get('nginx.conf',
                                           s.configs.get('pushpin.conf', ''))})
        for depth in APP_DEPTHS:
            cases.append({'depth': depth, 'server': key,
                          'runs': results.get((depth, key), []),
                          'server_errors': errs})
    return {'kind': 'app', 'cases': cases, 'commands': commands,
            'configs': configs, 'durations': {'duration': dur, 'warmup': warm}}


def conns_scenario(name, conns, workers, runs, tmp, hold):
    """A fresh server per run: open conns idle connections, hold them,
    read the workers' memory while held, close."""
    pin = workers == 1
    cases = []
    commands = {}
    configs = {}
    for key in CONNS_SERVERS:
        case = {'workers': workers, 'conns': conns, 'server': key, 'runs': []}
        for r in range(runs):
            s = SERVERS[key](workers, pin, tmp)
            try:
                s.start()
            except Exception as e:
                log('%s: %s' % (key, e))
                s.stop()
                case['failed'] = str(e)
                break
            try:
                pids = s.pids()
                # warm the workers up (first allocations, code pages)
                run_wsbench(['conns', '-c', '200', '--hold', '0',
                             '--src', source_addrs(1)[0], s.url('echo')], pin, 60)
                time.sleep(0.2)
                before = mem_sum(pids)
                procs = (conns + 17999) // 18000
                sample = os.path.join(s.dir, 'held.json')
                hook = '%s %s sample %s %s' % (
                    shlex.quote(sys.executable), shlex.quote(os.path.abspath(__file__)),
                    shlex.quote(sample), ','.join(map(str, pids)))
                argv = ['conns', '-c', str(conns), '-p', str(procs),
                        '--src', ','.join(source_addrs(max(procs, (conns + 3999) // 4000))),
                        '--hold', str(hold), '--timeout', '10',
                        '--on-hold', hook, s.url('echo')]
                wait_quiet()
                cmd, res, out = run_wsbench(argv, pin, 300)
                try:
                    with open(sample) as f:
                        held = json.load(f)
                except (OSError, ValueError):
                    held = None
                if held and res.get('established'):
                    n = res['established']
                    for k in ('VmRSS', 'RssAnon', 'RssShmem', 'Pss'):
                        res['%s_per_conn' % k] = (held.get(k, 0) - before.get(k, 0)) * 1024.0 / n
                    res['workers_rss_kib_before'] = before.get('VmRSS', 0)
                    res['workers_rss_kib_held'] = held.get('VmRSS', 0)
                log('%s %s run %d: %d of %d up in %.2fs (%.0f/s), %.0f B RSS/conn, '
                    'errors %d %s' % (
                        name, key, r + 1, res.get('established', 0), conns,
                        res.get('connect_s', 0), res.get('connect_rate', 0),
                        res.get('VmRSS_per_conn', 0), res.get('errors', 0),
                        res.get('first_error', '')))
                case['runs'].append(res)
                if r == 0:
                    commands[key] = {'server': s.commands[:], 'client': [cmd]}
                    configs[key] = s.configs.get('nginx.conf', '')
                case['server_errors'] = s.errors()
            finally:
                s.stop()
        cases.append(case)
    return {'kind': 'conns', 'conns': conns, 'workers': workers, 'cases': cases,
            'commands': commands, 'configs': configs, 'hold': hold}


def conns100k_scenario(name, runs, tmp, hold):
    """ngx_ws_module alone, a fresh nginx per run: C100K_CONNS idle
    connections held `hold` seconds with heartbeats on (worker RSS while
    held, closes the clients did not ask for); then as many channel
    subscribers and a reload (SIGHUP) with ws_shutdown_delay: every
    subscriber must come back (reconnects, the peak accept rate)."""
    case = {'server': OURS, 'conns': C100K_CONNS, 'workers': C100K_WORKERS,
            'procs': C100K_PROCS, 'hold': hold, 'runs': []}
    commands = {}
    configs = {}
    for r in range(runs):
        s = WsModule100k(tmp)
        try:
            s.start()
        except Exception as e:
            log('%s: %s' % (name, e))
            s.stop()
            case['failed'] = str(e)
            break
        try:
            res = {}
            pids = s.pids()
            run_wsbench(['conns', '-c', '200', '--hold', '0',
                         '--src', source_addrs(1)[0], s.url('echo')], False, 60)
            time.sleep(0.2)
            before = mem_sum(pids)
            sample = os.path.join(s.dir, 'held.json')
            hook = '%s %s sample %s %s' % (
                shlex.quote(sys.executable), shlex.quote(os.path.abspath(__file__)),
                shlex.quote(sample), ','.join(map(str, pids)))
            argv = ['conns', '-c', str(C100K_CONNS), '-p', str(C100K_PROCS),
                    '--src', ','.join(source_addrs(C100K_PROCS * 2)),
                    '--hold', '%g' % hold, '--timeout', '20',
                    '--on-hold', hook, s.url('echo')]
            wait_quiet(limit=5)
            load0 = loadavg()
            cmd1, held_res, out = run_wsbench(argv, False, hold + 900)
            try:
                with open(sample) as f:
                    held = json.load(f)
            except (OSError, ValueError):
                held = None
            n = held_res.get('established', 0)
            res['established'] = n
            res['connect_s'] = held_res.get('connect_s', 0)
            res['connect_rate'] = held_res.get('connect_rate', 0)
            res['connect_errors'] = held_res.get('errors', 0)
            res['first_error'] = held_res.get('first_error', '')
            # closed by the server while held: none is expected
            res['unexpected_closes'] = held_res.get('server_closed', 0)
            res['pings_answered'] = held_res.get('pings_answered', 0)
            res['loadavg'] = load0
            if held and n:
                res['workers_rss_kib_before'] = before.get('VmRSS', 0)
                res['workers_rss_kib_held'] = held.get('VmRSS', 0)
                for k in ('VmRSS', 'RssAnon', 'Pss'):
                    res['%s_per_conn' % k] = (held.get(k, 0) - before.get(k, 0)) * 1024.0 / n
            log('%s run %d: %d of %d up in %.1fs (%.0f/s), workers %s KiB held, '
                '%.0f B RSS/conn, %d closed by the server while held, %d pings '
                'answered, errors %d %s' % (
                    name, r + 1, n, C100K_CONNS, res['connect_s'],
                    res['connect_rate'], fmt(res.get('workers_rss_kib_held', 0)),
                    res.get('VmRSS_per_conn', 0), res['unexpected_closes'],
                    res['pings_answered'], res['connect_errors'],
                    res['first_error']))

            # the reload: as many subscribers, one SIGHUP, every one back
            chan = 'c100k%d' % r
            argv = ['reload', '-c', str(C100K_CONNS), '-p', str(C100K_PROCS),
                    '--src', ','.join(source_addrs(C100K_PROCS * 4)),
                    '--pub-rate', str(C100K_RELOAD_RATE),
                    '-t', '%g' % C100K_RELOAD_DURATION, '--timeout', '30',
                    '--jitter', '1', '--reload-at', '%g' % C100K_RELOAD_AT,
                    '--reload-pid', str(s.master.pid),
                    '--pub', s.pub_url(chan),
                    'ws://127.0.0.1:%d/sub/%s' % (s.port, chan)]
            sampler = StatusSampler(s.port)
            sampler.start()
            cmd2, rel, out = run_wsbench(argv, False, C100K_RELOAD_DURATION + 600)
            sampler.done.set()
            sampler.join()
            res['reload_established'] = rel.get('subscribers', 0)
            for k in ('reconnects', 'reconnect_fail', 'restarts', 'lost',
                      'duplicates', 'peak_accept_100ms', 'errors'):
                res['reload_%s' % k] = rel.get(k, 0)
            res['reload_first_error'] = rel.get('first_error', '')
            res['reload_server_peak_accept_100ms'] = round(sampler.peak_100ms(), 1)
            res['server_errors'] = s.errors()
            log('%s run %d reload: %d subscribers, %d reconnects (%d failed and '
                'retried), restarts %d, lost %d, duplicates %d, peak accepts '
                '%d/100 ms (server %.0f), errors %d %s' % (
                    name, r + 1, res['reload_established'],
                    res['reload_reconnects'], res['reload_reconnect_fail'],
                    res['reload_restarts'], res['reload_lost'],
                    res['reload_duplicates'], res['reload_peak_accept_100ms'],
                    res['reload_server_peak_accept_100ms'],
                    res['reload_errors'], res['reload_first_error']))
            case['runs'].append(res)
            if r == 0:
                commands[OURS] = {'server': s.commands[:], 'client': [cmd1, cmd2]}
                configs[OURS] = s.configs.get('nginx.conf', '')
        finally:
            s.stop()
    return {'kind': 'conns100k', 'cases': [case], 'commands': commands,
            'configs': configs, 'hold': hold}


def fanout_scenario(name, runs, tmp, duration, sse=False):
    """nchan, and ngx_ws_module when its build has channels; 1 worker each,
    the runs interleaved.  sse: EventSource subscribers (wsbench sse)
    instead of WebSocket ones, the same publisher."""
    classes = SSE_CLASSES if sse else FANOUT_CLASSES
    fcases = SSE_CASES if sse else FANOUT_CASES
    cases = []
    commands = {}
    configs = {}
    servers = []
    ok = {cls: not hasattr(cls, 'supported') or cls.supported(tmp)
          for cls in classes}
    for cls in [c for c in classes if ok[c]]:
        s = cls(1, True, tmp)
        try:
            s.start()
            servers.append(s)
        except Exception as e:
            log('%s: %s' % (cls.key, e))
            s.stop()
    results = {}
    k = 0
    try:
        for r in range(runs):
            for subs, rate in fcases:
                for s in servers:
                    k += 1
                    chan = 'bench%d' % k
                    secs = max(duration, FANOUT_MIN_MESSAGES / rate)
                    argv = ['sse' if sse else 'fanout',
                            '-c', str(subs), '-s', '64',
                            '--pub-rate', str(rate), '-t', '%g' % secs,
                            '--timeout', '5', '--late-grace', '5',
                            '--src', ','.join(source_addrs(2)),
                            '--server-pids', ','.join(map(str, s.pids())),
                            '--pub', s.pub_url(chan), s.sub_url(chan)]
                    best = None
                    for attempt in range(2):
                        wait_quiet()
                        cmd, res, out = run_wsbench(argv, True, secs + 120)
                        if best is None or res.get('other_cpu', 0) < best[1].get('other_cpu', 0):
                            best = (cmd, res, out)
                        if res.get('other_cpu', 0) <= OTHER_CPU_MAX:
                            break
                        log('%s %s %d subs %d msg/s: other processes used '
                            '%.2f cores: once more' % (name, s.key, subs, rate,
                                                      res.get('other_cpu', 0)))
                        k += 1
                        chan = 'bench%d' % k
                        argv[-2] = s.pub_url(chan)
                        argv[-1] = s.sub_url(chan)
                    cmd, res, out = best
                    log('%s %s %d subs %d msg/s run %d: %.0f deliveries/s, '
                        'p99 %.0f us, losses %d, errors %d %s' % (
                            name, s.key, subs, rate, r + 1,
                            res.get('deliveries_s', 0), res.get('p99_us', 0),
                            res.get('losses', 0), res.get('errors', 0),
                            res.get('first_error', '')))
                    results.setdefault((subs, rate, s.key), []).append(res)
                    if r == 0:
                        commands.setdefault(s.key, {'server': s.commands[:],
                                                    'client': []})
                        commands[s.key]['client'].append(cmd)
    finally:
        for s in servers:
            configs[s.key] = s.configs.get('nginx.conf', '')
            s.stop()
    for subs, rate in fcases:
        for cls in classes:
            case = {'subscribers': subs, 'rate': rate, 'server': cls.key,
                    'runs': results.get((subs, rate, cls.key), [])}
            if not ok[cls]:
                case['failed'] = 'n/a (%s not implemented)' % (
                    'ws_sse' if sse else 'channels')
            elif cls.key not in [x.key for x in servers]:
                case['failed'] = 'did not start'
            cases.append(case)
    return {'kind': 'fanout', 'cases': cases, 'commands': commands,
            'configs': configs, 'duration': duration, 'sse': sse,
            'titles': dict((cls.key, cls.title) for cls in classes)}


def wait_redis_ready(server, timeout=15.0):
    """until the instance publishes through Redis: a POST to a channel of
    its own answered other than 503 (both servers answer 503 while their
    Redis connection is not up)"""
    end = time.time() + timeout
    url = server.pub_url('ready%d' % server.port)
    while time.time() < end:
        try:
            req = urllib.request.Request(url, data=b'ready', method='POST')
            with urllib.request.urlopen(req, timeout=2):
                return True
        except urllib.error.HTTPError as e:
            if e.code != 503:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def redis_fanout_scenario(name, runs, tmp, duration, subs_only=None):
    """Cross-instance fan-out: one redis-server, and for each server kind
    two nginx instances on it (1 worker each): A gets the HTTP publishes,
    B holds the subscribers.  Servers and Redis pinned to CPU 0, the
    client to CPU 1, as in fanout; the runs interleaved."""
    fcases = [c for c in REDIS_CASES if not subs_only or c[0] in subs_only]
    cases = []
    commands = {}
    configs = {}
    pairs = []
    redis = RedisServer(True, tmp)
    try:
        redis.start()
    except Exception as e:
        log('%s: %s' % (name, e))
        redis.stop()
        return {'kind': 'redis-fanout', 'failed': 'redis-server: %s' % e,
                'cases': [], 'commands': {}, 'configs': {}}
    ok = {cls: not hasattr(cls, 'supported') or cls.supported(tmp)
          for cls in REDIS_CLASSES}
    for cls in [c for c in REDIS_CLASSES if ok[c]]:
        a = cls(1, True, tmp, redis.port)
        b = cls(1, True, tmp, redis.port)
        try:
            a.start()
            b.start()
            for s in (a, b):
                if not wait_redis_ready(s):
                    raise RuntimeError('%s: not connected to Redis after '
                                       '15 s: %s' % (cls.key, s.errors()))
            pairs.append((a, b))
        except Exception as e:
            log('%s: %s' % (cls.key, e))
            a.stop()
            b.stop()
    results = {}
    k = 0
    try:
        for r in range(runs):
            for subs, rate in fcases:
                for a, b in pairs:
                    best = None
                    for attempt in range(2):
                        k += 1
                        chan = 'rbench%d' % k
                        procs = (subs + 17999) // 18000
                        argv = ['fanout', '-c', str(subs), '-p', str(procs),
                                '-s', '64', '--pub-rate', str(rate),
                                '-t', str(duration), '--timeout', '5',
                                '--late-grace', str(REDIS_LATE_GRACE),
                                '--settle', str(REDIS_SETTLE),
                                '--src', ','.join(source_addrs(
                                    max(2, (subs + 3999) // 4000))),
                                '--server-pids', ','.join(map(str, b.pids())),
                                '--cpu-pids', 'pub=' + ','.join(
                                    map(str, a.pids())),
                                '--cpu-pids', 'redis=%d' % redis.proc.pid,
                                '--pub', a.pub_url(chan), b.sub_url(chan)]
                        wait_quiet()
                        i0 = redis.info()
                        t0 = time.time()
                        cmd, res, out = run_wsbench(argv, True, duration + 120)
                        i1 = redis.info()
                        res['redis_cmds'] = (i1.get('total_commands_processed', 0)
                                             - i0.get('total_commands_processed', 0))
                        res['redis_cmds_per_msg'] = (res['redis_cmds']
                                                     / res['published']
                                                     if res.get('published') else None)
                        res['redis_wall_s'] = round(time.time() - t0, 2)
                        res['redis_clients'] = i1.get('connected_clients', 0) - 1
                        res['redis_conns_pub'] = tcp_conns_to(
                            [a.master.pid] + a.pids(), redis.port)
                        res['redis_conns_sub'] = tcp_conns_to(
                            [b.master.pid] + b.pids(), redis.port)
                        res['redis_used_memory'] = i1.get('used_memory', 0)
                        res['pub_s'] = (res.get('published', 0) / duration)
                        if best is None or res.get('other_cpu', 0) < best[1].get('other_cpu', 0):
                            best = (cmd, res, out)
                        if res.get('other_cpu', 0) <= OTHER_CPU_MAX:
                            break
                        log('%s %s %d subs %d msg/s: other processes used '
                            '%.2f cores: once more' % (name, a.key, subs, rate,
                                                      res.get('other_cpu', 0)))
                    cmd, res, out = best
                    log('%s %s %d subs %d msg/s run %d: %.0f deliveries/s, '
                        'p99 %.0f us, lost %d, late %d, duplicates %d, '
                        'redis %.2f cores %.1f cmds/msg, errors %d %s' % (
                            name, a.key, subs, rate, r + 1,
                            res.get('deliveries_s', 0), res.get('p99_us', 0),
                            res.get('lost', -1), res.get('late', 0),
                            res.get('duplicates', 0), res.get('redis_cpu', 0),
                            res.get('redis_cmds_per_msg') or 0,
                            res.get('errors', 0), res.get('first_error', '')))
                    results.setdefault((subs, rate, a.key), []).append(res)
                    if r == 0:
                        commands.setdefault(a.key, {
                            'server': ['# redis-server'] + redis.commands[:]
                            + ['# instance A (publishes)'] + a.commands[:]
                            + ['# instance B (subscribers)'] + b.commands[:],
                            'client': []})
                        commands[a.key]['client'].append(cmd)
    finally:
        for a, b in pairs:
            configs[a.key] = a.configs.get('nginx.conf', '')
            a.stop()
            b.stop()
        redis.stop()
    for subs, rate in fcases:
        for cls in REDIS_CLASSES:
            case = {'subscribers': subs, 'rate': rate, 'server': cls.key,
                    'runs': results.get((subs, rate, cls.key), [])}
            if not ok[cls]:
                case['failed'] = 'n/a (ws_zone redis= not accepted by this build)'
            elif cls.key not in [x[0].key for x in pairs]:
                case['failed'] = 'did not start'
            cases.append(case)
    return {'kind': 'redis-fanout', 'cases': cases, 'commands': commands,
            'configs': configs, 'duration': duration,
            'settle': REDIS_SETTLE, 'late_grace': REDIS_LATE_GRACE,
            'redis': ' '.join(subprocess.run(
                [REDIS_SERVER, '--version'],
                stdout=subprocess.PIPE).stdout.decode().split()[:3]),
            'titles': dict((cls.key, cls.title) for cls in REDIS_CLASSES)}


def loadavg():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


def reload_scenario(name, runs, tmp):
    """ngx_ws_module alone, 2 workers, a fresh nginx per run: RELOAD_SUBS
    subscribers with the envelope, a steady HTTP publish, SIGHUPs to the
    master while it runs; per case of ws_drain_window and reconnect
    jitter."""
    cases = []
    commands = {}
    configs = {}
    k = 0
    procs = 2
    for r in range(runs):
        for window, jitter in RELOAD_CASES:
            k += 1
            chan = 'reload%d' % k
            s = WsModuleReload(window, tmp)
            case = next((c for c in cases if c['window'] == window
                         and c['jitter'] == jitter), None)
            if case is None:
                case = {'window': window, 'jitter': jitter, 'server': OURS,
                        'subscribers': RELOAD_SUBS, 'rate': RELOAD_RATE,
                        'runs': []}
                cases.append(case)
            try:
                s.start()
            except Exception as e:
                log('%s: %s' % (name, e))
                s.stop()
                case['failed'] = str(e)
                continue
            try:
                argv = ['reload', '-c', str(RELOAD_SUBS), '-p', str(procs),
                        '--src', ','.join(source_addrs(8)),
                        '--pub-rate', str(RELOAD_RATE),
                        '-t', str(RELOAD_DURATION), '--timeout', '15',
                        '--jitter', str(jitter),
                        '--reload-at', ','.join('%g' % a for a in RELOAD_AT),
                        '--reload-pid', str(s.master.pid),
                        '--pub', s.pub_url(chan),
                        'ws://127.0.0.1:%d/sub/%s' % (s.port, chan)]
                wait_quiet(limit=5)
                load0 = loadavg()
                sampler = StatusSampler(s.port)
                sampler.start()
                cmd, res, out = run_wsbench(argv, False, RELOAD_DURATION + 90)
                sampler.done.set()
                sampler.join()
                res['server_peak_accept_100ms'] = round(sampler.peak_100ms(), 1)
                res['server_connections_total'] = (sampler.samples[-1][1]
                                                   if sampler.samples else 0)
                res['loadavg'] = load0
                res['server_errors'] = s.errors()
                log('%s window %s jitter %g run %d: lost %d, duplicates %d, '
                    'peak accept %d/100 ms (server %.0f), gap p99 %.0f ms max '
                    '%.0f ms, load %.1f, errors %d %s' % (
                        name, window, jitter, r + 1, res.get('lost', -1),
                        res.get('duplicates', -1),
                        res.get('peak_accept_100ms', 0),
                        res['server_peak_accept_100ms'],
                        res.get('gap_p99_ms', 0), res.get('gap_max_ms', 0),
                        load0, res.get('errors', 0), res.get('first_error', '')))
                case['runs'].append(res)
                if r == 0:
                    commands['%s window %s jitter %g' % (OURS, window, jitter)] = {
                        'server': s.commands[:], 'client': [cmd]}
                    configs[OURS] = s.configs.get('nginx.conf', '')
            finally:
                s.stop()
    return {'kind': 'reload', 'cases': cases, 'commands': commands,
            'configs': configs, 'duration': RELOAD_DURATION,
            'reload_at': list(RELOAD_AT), 'procs': procs}


# ---------------------------------------------------------------------------
# RESULTS.md

def versions():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT).stdout.decode().strip()
        except OSError:
            return '?'

    def deb(p):
        return sh("dpkg-query -W -f='${Version}' %s 2>/dev/null" % p) or 'not installed'

    model = ''
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo') as f:
        mem = int(f.readline().split()[1]) // 1024
    commit = sh('git -C %s rev-parse --short HEAD' % shlex.quote(ROOT))
    dirty = sh('git -C %s status --porcelain -- ngx_ws_module config' % shlex.quote(ROOT))
    mtime = ''
    if os.path.exists(MODULE):
        mtime = datetime.datetime.fromtimestamp(os.path.getmtime(MODULE)).strftime('%Y-%m-%d %H:%M')
    return {
        'cpu': '%d x %s' % (os.cpu_count(), model),
        'memory': '%d MiB' % mem,
        'kernel': platform.release(),
        'os': 'Debian ' + sh('cat /etc/debian_version'),
        'nofile': sh('ulimit -Hn'),
        'nginx': sh('%s -v 2>&1' % NGINX).replace('nginx version: ', ''),
        'ngx_ws_module': '%s%s (build/ngx_ws_module.so of %s)' % (
            commit, ' + uncommitted changes' if dirty else '', mtime),
        'libnginx-mod-http-lua': deb('libnginx-mod-http-lua'),
        'lua-nginx-websocket': deb('lua-nginx-websocket'),
        'libnginx-mod-nchan': deb('libnginx-mod-nchan'),
        'nodejs': sh('node --version'),
        'node-ws': deb('node-ws'),
        'gcc': sh('gcc --version | head -1'),
    }


def fmt(v, digits=0):
    if v is None:
        return 'n/a'
    if digits == 0:
        return '{:,.0f}'.format(v)
    return '{:,.{d}f}'.format(v, d=digits)


def ratio(v, ref):
    if v is None or not ref:
        return 'n/a'
    return '%.2f' % (v / ref)


def med(case, key):
    return median([r.get(key) for r in case.get('runs', [])])


def errors_of(case):
    if case.get('failed'):
        return 'did not start'
    runs = case.get('runs', [])
    if not runs:
        return 'no run'
    n = sum(int(r.get('errors', 0)) for r in runs)
    msg = next((r['first_error'] for r in runs if r.get('first_error')), '')
    return str(n) + (' (%s)' % msg[:80] if n and msg else '')


def echo_md(name, sc):
    out = []
    d = sc['durations']
    depth = sc.get('depth', 1)
    out.append('Closed loop, %s per connection, binary %d B '
               'messages; %g s measured after %g s of warm-up; median of %d runs. '
               '"x ours" divides by ngx_ws_module\'s figure: above 1 is better '
               'for the peer on msg/s, worse on latency and CPU.\n' % (
                   'one message in flight' if depth == 1 else
                   '%d messages in flight (a new one for each echo)' % depth,
                   sc['size'], d['duration'], d['warmup'],
                   max([len(c['runs']) for c in sc['cases']] or [0])))
    out.append('| workers | conns | server | msg/s | x ours | MB/s | p50 us | p90 us '
               '| p99 us | x ours | p99.9 us | max us | server CPU (cores) '
               '| server CPU us/msg | x ours | client CPU | other CPU | errors |')
    out.append('|' + '---|' * 18)
    for workers in (1, 2):
        for conns in sc.get('conns_list', (100, 1000)):
            rows = [c for c in sc['cases'] if c['workers'] == workers and c['conns'] == conns]
            ours = next((c for c in rows if c['server'] == OURS), None)
            ref_m = med(ours, 'msg_s') if ours else None
            ref_p = med(ours, 'p99_us') if ours else None
            ref_c = med(ours, 'server_us_per_msg') if ours else None
            for c in sorted(rows, key=lambda c: ECHO_SERVERS.index(c['server'])):
                out.append('| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                    workers, fmt(conns), SERVERS[c['server']].title,
                    fmt(med(c, 'msg_s')), ratio(med(c, 'msg_s'), ref_m),
                    fmt(med(c, 'mb_s'), 1), fmt(med(c, 'p50_us')), fmt(med(c, 'p90_us')),
                    fmt(med(c, 'p99_us')), ratio(med(c, 'p99_us'), ref_p),
                    fmt(med(c, 'p999_us')), fmt(med(c, 'max_us')),
                    fmt(med(c, 'server_cpu'), 2), fmt(med(c, 'server_us_per_msg'), 2),
                    ratio(med(c, 'server_us_per_msg'), ref_c),
                    fmt(med(c, 'client_cpu'), 2), fmt(med(c, 'other_cpu'), 2),
                    errors_of(c)))
    return out


def echo_open_md(name, sc):
    out = []
    d = sc['durations']
    if not sc.get('rates'):
        return ['did not run: no closed-loop rate to start from']
    if sc.get('fixed_rates'):
        how = 'rates given with `--open-rates`'
    else:
        slowest = min(sc['closed_loop'].values())
        how = ('%s of the slowest server\'s closed-loop rate measured first '
               'in the same run (%s msg/s; closed loop: %s)' % (
                   ', '.join('%d %%' % round(f * 100) for f in sc['shares']),
                   fmt(slowest), ', '.join(
                       '%s %s' % (k, fmt(v))
                       for k, v in sorted(sc['closed_loop'].items()))))
    out.append('Open loop: %d connections, binary %d B messages, one worker '
               'pinned to CPU 0, the client to CPU 1; every server offered the '
               'same rates (%s). Each send has a time fixed in advance (round '
               'robin over the connections, whatever came back) and its '
               'round trip is counted from that time, so a server (or a '
               'client) that falls behind shows it in the tail instead of '
               'lowering its own load. %g s measured after %g s; after the '
               'last send a %g s drain: an echo that comes in it is **late** '
               '(delivered), one that never comes is **lost**. Median of %d '
               'runs. Load average (1 min) at the start and end: %.2f, %.2f.\n'
               % (sc['conns'], sc['size'], how, d['duration'], d['warmup'],
                  sc.get('drain', 0),
                  max([len(c['runs']) for c in sc['cases']] or [0]),
                  sc['loadavg'][0], sc['loadavg'][1]))
    out.append('| offered msg/s | server | sent msg/s | answered msg/s | p50 us '
               '| p90 us | p99 us | x ours | p99.9 us | max us | late | lost '
               '| client send lag p99 us | server CPU us/msg | other CPU '
               '| errors |')
    out.append('|' + '---|' * 16)
    for rate in sc['rates']:
        rows = [c for c in sc['cases'] if c['rate'] == rate]
        ours = next((c for c in rows if c['server'] == OURS), None)
        ref_p = med(ours, 'p99_us') if ours else None
        for c in rows:
            out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s '
                       '| %s | %s | %s | %s | %s | %s |' % (
                           fmt(rate), SERVERS[c['server']].title,
                           fmt(med(c, 'sent_s')), fmt(med(c, 'msg_s')),
                           fmt(med(c, 'p50_us')), fmt(med(c, 'p90_us')),
                           fmt(med(c, 'p99_us')),
                           ratio(med(c, 'p99_us'), ref_p),
                           fmt(med(c, 'p999_us')), fmt(med(c, 'max_us')),
                           fmt(med(c, 'late')), fmt(med(c, 'lost')),
                           fmt(med(c, 'lag_p99_us')),
                           fmt(med(c, 'server_us_per_msg'), 2),
                           fmt(med(c, 'other_cpu'), 2), errors_of(c)))
    return out


def app_md(name, sc):
    out = []
    d = sc['durations']
    out.append('100 connections, closed loop with 1 or 4 binary 64 B messages '
               'in flight per connection, each echoed by the application; %g s '
               'measured after %g s of warm-up; median of %d runs. The server '
               'processes and the Node app all on CPU 0, the client on CPU 1. '
               '"x proxy_pass" divides by nginx proxy_pass -> Node ws; '
               'bench/app-epoll.c is the limit of the design: a C bridge that '
               'does nothing but its system calls, one request at a time per '
               'connection with the messages that waited, to the same app.\n' % (
                   d['duration'], d['warmup'],
                   max([len(c['runs']) for c in sc['cases']] or [0])))
    out.append('| in flight | server | msg/s | x proxy_pass | x Pushpin '
               '| p50 us | p99 us | server+app CPU (cores) | other CPU | errors |')
    out.append('|' + '---|' * 10)
    for depth in APP_DEPTHS:
        rows = [c for c in sc['cases'] if c['depth'] == depth]
        by = {c['server']: c for c in rows}
        ref = med(by['node-ws'], 'msg_s') if 'node-ws' in by else None
        pp = med(by['pushpin'], 'msg_s') if 'pushpin' in by else None
        for c in sorted(rows, key=lambda c: APP_SERVERS.index(c['server'])):
            out.append('| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                depth, APP_CLASSES[c['server']].title,
                fmt(med(c, 'msg_s')), ratio(med(c, 'msg_s'), ref),
                ratio(med(c, 'msg_s'), pp),
                fmt(med(c, 'p50_us')), fmt(med(c, 'p99_us')),
                fmt(med(c, 'server_cpu'), 2), fmt(med(c, 'other_cpu'), 2),
                errors_of(c)))
    return out


def conns_md(name, sc):
    out = []
    out.append('%s idle connections to the echo location (nchan: websocket '
               'subscribers of one channel), %d nginx worker(s)%s, held %g s; a '
               'fresh server per run, warmed up with 200 connections; median of '
               '%d runs. Memory is the sum over the server\'s worker processes of '
               'the growth from before the connections to while they are held, '
               'divided by the connections: VmRSS (what the issue asks), its '
               'anonymous and shared-memory parts, and PSS (shared pages split '
               'between the processes that map them). Kernel socket buffers are '
               'not in any of them. Connect rate: connections with a completed '
               'handshake per second, client unthrottled with at most 1,000 '
               'handshakes in progress per client process.\n' % (
                   fmt(sc['conns']), sc['workers'],
                   ' (SO_REUSEPORT listeners)' if sc['workers'] > 1 else '', sc['hold'],
                   max([len(c['runs']) for c in sc['cases']] or [0])))
    out.append('| server | established | connect/s | x ours | RSS B/conn | x ours '
               '| anon B/conn | shm B/conn | PSS B/conn | workers RSS held (MiB) '
               '| errors |')
    out.append('|' + '---|' * 11)
    ours = next((c for c in sc['cases'] if c['server'] == OURS), None)
    ref_r = med(ours, 'connect_rate') if ours else None
    ref_m = med(ours, 'VmRSS_per_conn') if ours else None
    for c in sc['cases']:
        held = med(c, 'workers_rss_kib_held')
        out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            SERVERS[c['server']].title, fmt(med(c, 'established')),
            fmt(med(c, 'connect_rate')), ratio(med(c, 'connect_rate'), ref_r),
            fmt(med(c, 'VmRSS_per_conn')), ratio(med(c, 'VmRSS_per_conn'), ref_m),
            fmt(med(c, 'RssAnon_per_conn')), fmt(med(c, 'RssShmem_per_conn')),
            fmt(med(c, 'Pss_per_conn')),
            fmt(held / 1024.0, 1) if held else 'n/a', errors_of(c)))
    return out


def conns100k_md(name, sc):
    c = sc['cases'][0]
    out = []
    out.append('%s idle connections to the echo location, %d nginx workers '
               '(SO_REUSEPORT listeners, 20,000 descriptors each), %d client '
               'processes on distinct 127.10.x.y source addresses, Pings every '
               '20 s (`ws_ping_interval`), held %g s; then as many subscribers '
               'of one channel (`ws_envelope on`, 2 msg/s published) and a '
               'reload (SIGHUP) with `ws_shutdown_delay 2s`; a fresh server per '
               'run; median of %d runs. Memory: the growth of the workers\' '
               'VmRSS, summed, divided by the connections. Unexpected closes: '
               'connections the server closed while they were held.\n' % (
                   fmt(c['conns']), c['workers'], c['procs'], sc['hold'],
                   len(c['runs'])))
    if c.get('failed'):
        out.append('Failed: %s' % c['failed'])
        return out
    out.append('| established | connect/s | workers RSS held (MiB) | RSS B/conn '
               '| PSS B/conn | unexpected closes | Pings answered | reload: '
               'subscribers | reconnects | failed reconnects (retried) | lost '
               '| peak accepts /100 ms (client, server) | errors |')
    out.append('|' + '---|' * 13)
    held = med(c, 'workers_rss_kib_held')
    out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s, %s '
               '| %s |' % (
                   fmt(med(c, 'established')), fmt(med(c, 'connect_rate')),
                   fmt(held / 1024.0, 1) if held else 'n/a',
                   fmt(med(c, 'VmRSS_per_conn')), fmt(med(c, 'Pss_per_conn')),
                   fmt(runs_max(c, 'unexpected_closes')),
                   fmt(med(c, 'pings_answered')),
                   fmt(med(c, 'reload_established')),
                   fmt(med(c, 'reload_reconnects')),
                   fmt(med(c, 'reload_reconnect_fail')),
                   fmt(runs_max(c, 'reload_lost')),
                   fmt(med(c, 'reload_peak_accept_100ms')),
                   fmt(med(c, 'reload_server_peak_accept_100ms')),
                   fmt(runs_sum(c, 'connect_errors') or 0)))
    return out


def runs_max(case, key):
    xs = [r.get(key) for r in case.get('runs', []) if r.get(key) is not None]
    return max(xs) if xs else None


def runs_sum(case, key):
    xs = [r.get(key) for r in case.get('runs', []) if r.get(key) is not None]
    return sum(xs) if xs else None


def reload_md(name, sc):
    out = []
    out.append('%s subscribers of one channel (`ws_envelope on`, so that each '
               'message carries its id) on ngx_ws_module with 2 workers, '
               'a publisher POSTing %s msg/s for %g s, and SIGHUP to the '
               'master (`nginx -s reload`) at %s s. A subscriber that gets '
               'Close 1012 answers it and reconnects after a random 0 to '
               '"jitter" s (the JavaScript client\'s `restartJitter` is 1 s) '
               'with the reason\'s resume point as `last_id`. Per run: lost = '
               'ids from the first to the last published that a subscriber never got '
               '(by 15 s after publishing ended), duplicates = ids a '
               'subscriber got twice (both summed over the subscribers); '
               'longest gap = per subscriber, the longest time between two '
               'consecutive messages, then its median, p99 and max over the '
               'subscribers; peak accepts = the most reconnects completed '
               '(`101` read by the client) in any 100 ms, and on the server '
               'side the growth of `connections_total` in ws_status, sampled '
               'every 100 ms; reconnect = `connect()` to `101`. A fresh nginx '
               'per run, %d client processes. Medians of %d runs; lost and '
               'duplicates are the sum over the runs. "load" is the 1-minute '
               'load average before the run and "rest CPU" what the machine '
               'used besides the client during the run, nginx included (2 '
               'cores); "client stall" is the longest time a client process '
               'spent between two `epoll_wait` calls: when it is seconds '
               'while the client used little CPU, the client was starved '
               'and the gaps, accept rates and reconnect times are the '
               'machine\'s rather than the server\'s.\n' % (
                   fmt(RELOAD_SUBS), fmt(RELOAD_RATE), sc.get('duration', 0),
                   ' and '.join('%g' % a for a in sc.get('reload_at', [])),
                   sc.get('procs', 2),
                   max([len(c['runs']) for c in sc['cases']] or [0])))
    out.append('| ws_drain_window | jitter | lost | duplicates | history_lost '
               '| reconnects | peak accepts /100 ms | server peak /100 ms '
               '| peak Closes /100 ms | longest gap p50 ms | p99 ms | max ms '
               '| reconnect p50 ms | p99 ms | delivery p99 ms | client CPU '
               '| client stall ms | rest CPU | load | errors |')
    out.append('|' + '---|' * 20)
    for c in sc['cases']:
        if c.get('failed'):
            out.append('| %s | %g | %s |%s' % (c['window'], c['jitter'],
                                               c['failed'], ' |' * 17))
            continue
        out.append('| %s | %g s | %s | %s | %s | %s | %s | %s | %s | %s | %s '
                   '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                       c['window'], c['jitter'], fmt(runs_sum(c, 'lost')),
                       fmt(runs_sum(c, 'duplicates')),
                       fmt(runs_sum(c, 'history_lost')),
                       fmt(med(c, 'reconnects')),
                       fmt(med(c, 'peak_accept_100ms')),
                       fmt(med(c, 'server_peak_accept_100ms')),
                       fmt(med(c, 'peak_close_100ms')),
                       fmt(med(c, 'gap_p50_ms')), fmt(med(c, 'gap_p99_ms')),
                       fmt(med(c, 'gap_max_ms')),
                       fmt(med(c, 'reconnect_p50_ms')),
                       fmt(med(c, 'reconnect_p99_ms')),
                       fmt((med(c, 'p99_us') or 0) / 1000.0),
                       fmt(med(c, 'client_cpu'), 2),
                       fmt(med(c, 'client_stall_ms')),
                       fmt(med(c, 'rest_cpu'), 2),
                       fmt(med(c, 'loadavg'), 1), errors_of(c)))
    return out


def fanout_md(name, sc):
    out = []
    if sc.get('failed'):
        return ['did not run: %s' % sc['failed']]
    titles = sc.get('titles', TITLES_FANOUT)
    out.append(('EventSource subscribers (`wsbench sse`: a GET, the chunked '
                '`text/event-stream` parsed into events; an event whose id is '
                'not above the one before is an error). '
                if sc.get('sse') else '') +
               'C subscribers on one channel, a publisher POSTing 64 B messages '
               'over one keep-alive HTTP connection at R msg/s for %g s '
               '(at least %d messages: longer at the lowest rates); '
               'delivery latency is from the publisher\'s send time (in the '
               'message: the time the publish was due, the publisher being '
               'timer-driven whatever the answers, an open loop) to the '
               'subscriber\'s read; "last" is, per message, the latency to '
               'the last subscriber that got it (messages that reached every '
               'subscriber); deliveries that had not happened 5 s after '
               'publishing ended (the same deadline for every server) but '
               'came in the next 5 s are **late**, those that never came '
               '**lost** (older runs: "losses", both); '
               'median of %d runs; 1 worker, pinned to CPU 0, client on CPU 1. '
               'CPU is measured while publishing.\n' % (
                   sc.get('duration', 0), FANOUT_MIN_MESSAGES,
                   max([len(c['runs']) for c in sc['cases']] or [0])))
    out.append('| subscribers | msg/s | server | published | deliveries/s | x ours '
               '| p50 us | p90 us | p99 us | x ours | p99.9 us | max us '
               '| last p50 us | last p99 us | last max us | lost | late '
               '| duplicates | reordered | server CPU | client CPU | other CPU | errors |')
    out.append('|' + '---|' * 23)
    for c in sc['cases']:
        title = titles.get(c['server'], c['server'])
        if c.get('failed'):
            out.append('| %s | %s | %s | %s |%s' % (
                fmt(c['subscribers']), fmt(c['rate']), title, c['failed'],
                ' |' * 19))
            continue
        ours = next((x for x in sc['cases'] if x['server'] == OURS
                     and x['subscribers'] == c['subscribers']
                     and x['rate'] == c['rate'] and x.get('runs')), None)
        lost = med(c, 'lost')
        out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            fmt(c['subscribers']), fmt(c['rate']), title, fmt(med(c, 'published')),
            fmt(med(c, 'deliveries_s')),
            ratio(med(c, 'deliveries_s'), med(ours, 'deliveries_s') if ours else None),
            fmt(med(c, 'p50_us')), fmt(med(c, 'p90_us')),
            fmt(med(c, 'p99_us')),
            ratio(med(c, 'p99_us'), med(ours, 'p99_us') if ours else None),
            fmt(med(c, 'p999_us')), fmt(med(c, 'max_us')),
            fmt(med(c, 'last_p50_us')), fmt(med(c, 'last_p99_us')),
            fmt(med(c, 'last_max_us')),
            fmt(lost if lost is not None else med(c, 'losses')),
            fmt(med(c, 'late')),
            fmt(med(c, 'duplicates')), fmt(med(c, 'reordered')),
            fmt(med(c, 'server_cpu'), 2), fmt(med(c, 'client_cpu'), 2),
            fmt(med(c, 'other_cpu'), 2), errors_of(c)))
    return out


def redis_fanout_md(name, sc):
    out = []
    if sc.get('failed'):
        return ['did not run: %s' % sc['failed']]
    titles = sc.get('titles', TITLES_REDIS)
    out.append('Two nginx instances per server kind on one %s (Debian\'s, '
               'no persistence), 1 worker each: instance A gets the publishes '
               '(64 B messages POSTed over one keep-alive HTTP connection at '
               'R msg/s for %g s), instance B holds the C WebSocket '
               'subscribers of the channel, so that every message goes '
               'A -> Redis -> B. Publishing starts %g s after the last '
               'subscriber\'s `101` (both servers subscribe in Redis after '
               'the handshake). Latency: from the publisher\'s send time to '
               'the subscriber\'s read. **lost**: never received (a '
               'subscriber listens until 5 s after publishing ended, then '
               '%g s more, and stops earlier once publishing ended and '
               'nothing came for 1 s); **late**: received, but more than 5 s '
               'after publishing ended (not counted in lost, nor in the '
               'deliveries and latency); duplicates: a message received twice '
               'by a subscriber; notices: messages from the server that '
               'are not the publisher\'s (ngx_ws_module\'s `history_lost` '
               'to a subscriber that fell behind what the stream keeps). '
               'CPU while publishing, in cores: B (the '
               'subscribers\' instance), A (the publishing one), Redis. '
               'Redis cmds/msg: commands Redis processed during the client '
               'run (connects and idle polls included) divided by the '
               'messages published. Redis conns: the TCP connections to '
               'Redis held by A and by B (master and worker). Servers and '
               'Redis pinned to CPU 0, client to CPU 1; median of %d runs, '
               'except lost, late, duplicates and notices: their sum over '
               'the runs.'
               % (sc.get('redis', 'redis-server'), sc.get('duration', 0),
                  sc.get('settle', 0), sc.get('late_grace', 0),
                  max([len(c['runs']) for c in sc['cases']] or [0])))
    out.append('')
    out.append('| subscribers | msg/s | server | published | deliveries/s '
               '| x ours | p50 us | p99 us | x ours | max us | lost | late '
               '| duplicates | reordered | notices | B CPU | A CPU | Redis CPU '
               '| Redis cmds/msg | Redis conns A+B | other CPU | errors |')
    out.append('|' + '---|' * 22)
    for c in sc['cases']:
        title = titles.get(c['server'], c['server'])
        if c.get('failed') or not c.get('runs'):
            out.append('| %s | %s | %s | %s |%s' % (
                fmt(c['subscribers']), fmt(c['rate']), title,
                c.get('failed') or 'no run', ' |' * 18))
            continue
        ours = next((x for x in sc['cases'] if x['server'] == OURS
                     and x['subscribers'] == c['subscribers']
                     and x['rate'] == c['rate'] and x.get('runs')), None)
        out.append('| %s |' % ' | '.join((
            fmt(c['subscribers']), fmt(c['rate']), title,
            fmt(med(c, 'published')), fmt(med(c, 'deliveries_s')),
            ratio(med(c, 'deliveries_s'),
                  med(ours, 'deliveries_s') if ours else None),
            fmt(med(c, 'p50_us')), fmt(med(c, 'p99_us')),
            ratio(med(c, 'p99_us'), med(ours, 'p99_us') if ours else None),
            fmt(med(c, 'max_us')), fmt(runs_sum(c, 'lost')),
            fmt(runs_sum(c, 'late')), fmt(runs_sum(c, 'duplicates')),
            fmt(med(c, 'reordered')), fmt(runs_sum(c, 'notices')),
            fmt(med(c, 'server_cpu'), 2), fmt(med(c, 'pub_cpu'), 2),
            fmt(med(c, 'redis_cpu'), 2), fmt(med(c, 'redis_cmds_per_msg'), 1),
            '%s+%s' % (fmt(med(c, 'redis_conns_pub')),
                       fmt(med(c, 'redis_conns_sub'))),
            fmt(med(c, 'other_cpu'), 2), errors_of(c))))
    return out


def headline(all_sc):
    out = []
    for name in ('echo-1', 'echo-32', 'echo-4k', 'echo-pipe'):
        sc = all_sc.get(name)
        if not sc:
            continue
        for workers in (1, 2):
            for conns in sc.get('conns_list', (100, 1000)):
                rows = {c['server']: c for c in sc['cases']
                        if c['workers'] == workers and c['conns'] == conns}
                ours = rows.get(OURS)
                if not ours or not ours.get('runs'):
                    continue
                m = med(ours, 'msg_s')
                p = med(ours, 'p99_us')
                cpu = med(ours, 'server_us_per_msg')
                parts = []
                ep = rows.get('epoll-c')
                if ep and ep.get('runs'):
                    parts.append('%.0f%% of the epoll limit (CPU/msg %.2fx, p99 '
                                 '%.2fx)' % (
                        100.0 * m / med(ep, 'msg_s'), cpu / med(ep, 'server_us_per_msg'),
                        p / med(ep, 'p99_us')))
                for k in ('lua-resty', 'node-ws'):
                    c = rows.get(k)
                    if c and c.get('runs'):
                        parts.append('%.2fx %s msg/s, p99 %.2fx, CPU/msg %.2fx' % (
                            m / med(c, 'msg_s'), k, p / med(c, 'p99_us'),
                            cpu / med(c, 'server_us_per_msg')))
                out.append('- %s, %d worker(s), %s conns: %s msg/s, p99 %s us; %s' % (
                    name, workers, fmt(conns), fmt(m), fmt(p), '; '.join(parts)))
    for name in ('conns-10k', 'conns-50k'):
        sc = all_sc.get(name)
        if not sc:
            continue
        rows = {c['server']: c for c in sc['cases']}
        ours = rows.get(OURS)
        if not ours or not ours.get('runs'):
            continue
        parts = []
        for k in ('nchan', 'lua-resty', 'epoll-c'):
            c = rows.get(k)
            if c and c.get('runs'):
                parts.append('%s %s B (%.2fx ours)' % (
                    k, fmt(med(c, 'VmRSS_per_conn')),
                    med(c, 'VmRSS_per_conn') / med(ours, 'VmRSS_per_conn')))
        out.append('- %s: ngx_ws_module %s B of worker RSS per idle connection; %s' % (
            name, fmt(med(ours, 'VmRSS_per_conn')), ', '.join(parts)))
    sc = all_sc.get('conns-100k')
    if sc and sc['cases'][0].get('runs'):
        c = sc['cases'][0]
        out.append('- conns-100k: %s connections held %g s by %d workers: %s B '
                   'of worker RSS per connection, %s closed unexpectedly; after '
                   'a reload %s reconnects, peak %s accepts per 100 ms' % (
                       fmt(med(c, 'established')), sc['hold'], c['workers'],
                       fmt(med(c, 'VmRSS_per_conn')),
                       fmt(runs_max(c, 'unexpected_closes')),
                       fmt(med(c, 'reload_reconnects')),
                       fmt(med(c, 'reload_server_peak_accept_100ms'))))
    sc = all_sc.get('reload-10k')
    if sc:
        by = {(c['window'], c['jitter']): c for c in sc['cases']
              if c.get('runs')}
        w, n = by.get(('2s', 1.0)), by.get(('0', 1.0))
        if w:
            out.append('- reload-10k: %s subscribers through %d reloads per '
                       'run: lost %s, duplicates %s (%d runs); longest gap p99 '
                       '%s ms, max %s ms; peak accepts per 100 ms %s with '
                       'ws_drain_window 2s%s' % (
                           fmt(RELOAD_SUBS), len(sc.get('reload_at', [])),
                           fmt(runs_sum(w, 'lost')),
                           fmt(runs_sum(w, 'duplicates')), len(w['runs']),
                           fmt(med(w, 'gap_p99_ms')), fmt(med(w, 'gap_max_ms')),
                           fmt(med(w, 'peak_accept_100ms')),
                           ', %s without (lost %s, duplicates %s, gap p99 %s ms)'
                           % (fmt(med(n, 'peak_accept_100ms')),
                              fmt(runs_sum(n, 'lost')),
                              fmt(runs_sum(n, 'duplicates')),
                              fmt(med(n, 'gap_p99_ms'))) if n else ''))
    sc = all_sc.get('fanout')
    if sc:
        # the latency goal's cases: the p99s beside the limit's
        for subs, rate in ((1000, 20), (10000, 2)):
            rows = {c['server']: c for c in sc['cases']
                    if c['subscribers'] == subs and c['rate'] == rate
                    and c.get('runs')}
            if OURS in rows and 'nchan' in rows and 'epoll-c' in rows:
                out.append('- fanout %s subscribers at %s msg/s, p99: '
                           'ngx_ws_module %s us, nchan %s us, the C limit '
                           '(bench/echo-epoll.c) %s us (%.2fx nchan\'s)' % (
                               fmt(subs), fmt(rate),
                               fmt(med(rows[OURS], 'p99_us')),
                               fmt(med(rows['nchan'], 'p99_us')),
                               fmt(med(rows['epoll-c'], 'p99_us')),
                               med(rows['epoll-c'], 'p99_us')
                               / med(rows['nchan'], 'p99_us')))
        for subs in (1000, 10000):
            for rate in (100, 1000, 5000):
                rows = {c['server']: c for c in sc['cases']
                        if c['subscribers'] == subs and c['rate'] == rate}
                ours, nc = rows.get(OURS), rows.get('nchan')
                if ours and ours.get('failed'):
                    out.append('- fanout %s subscribers at %s msg/s: ngx_ws_module %s' % (
                        fmt(subs), fmt(rate), ours['failed']))
                    break
                if ours and ours.get('runs') and nc and nc.get('runs'):
                    out.append('- fanout %s subscribers at %s msg/s: ngx_ws_module %s '
                               'deliveries/s, p99 %s us, losses %s; nchan %s deliveries/s '
                               '(%.2fx ours), p99 %s us (%.2fx ours), losses %s' % (
                                   fmt(subs), fmt(rate), fmt(med(ours, 'deliveries_s')),
                                   fmt(med(ours, 'p99_us')), fmt(med(ours, 'losses')),
                                   fmt(med(nc, 'deliveries_s')),
                                   med(nc, 'deliveries_s') / med(ours, 'deliveries_s'),
                                   fmt(med(nc, 'p99_us')),
                                   med(nc, 'p99_us') / med(ours, 'p99_us'),
                                   fmt(med(nc, 'losses'))))
    sc = all_sc.get('redis-fanout')
    for c in (sc or {}).get('cases', []):
        if c['server'] != OURS:
            continue
        nc = next((x for x in sc['cases'] if x['server'] == 'nchan'
                   and x['subscribers'] == c['subscribers']
                   and x['rate'] == c['rate']), None)
        if c.get('failed') or not c.get('runs'):
            out.append('- redis-fanout %s subscribers at %s msg/s: '
                       'ngx_ws_module %s' % (
                           fmt(c['subscribers']), fmt(c['rate']),
                           c.get('failed') or 'no run'))
            continue
        line = ('- redis-fanout %s subscribers at %s msg/s (publish on A, '
                'subscribers on B, one Redis%s; lost, late, duplicates: sum '
                'of %d runs): ngx_ws_module %s '
                'deliveries/s, p99 %s us, lost %s, late %s, duplicates %s' % (
                    fmt(c['subscribers']), fmt(c['rate']),
                    ', --quick' if sc.get('quick') else '', len(c['runs']),
                    fmt(med(c, 'deliveries_s')), fmt(med(c, 'p99_us')),
                    fmt(runs_sum(c, 'lost')), fmt(runs_sum(c, 'late')),
                    fmt(runs_sum(c, 'duplicates'))))
        if nc and nc.get('runs'):
            d, nd = med(c, 'deliveries_s'), med(nc, 'deliveries_s')
            p, np_ = med(c, 'p99_us'), med(nc, 'p99_us')
            line += ('; nchan (Redis) %s deliveries/s, p99 %s us, lost %s, '
                     'late %s, duplicates %s; ours/nchan: deliveries %s, '
                     'p99 %s (goal: deliveries >= 1, p99 <= 0.5: %s)' % (
                         fmt(nd), fmt(np_), fmt(runs_sum(nc, 'lost')),
                         fmt(runs_sum(nc, 'late')),
                         fmt(runs_sum(nc, 'duplicates')),
                         ratio(d, nd), ratio(p, np_),
                         'met' if d and nd and p and np_ and d >= nd * 0.99
                         and p <= 0.5 * np_ else 'not met'))
        out.append(line)
    sc = all_sc.get('sse-fanout')
    for c in (sc or {}).get('cases', []):
        if c['server'] != OURS:
            continue
        nc = next((x for x in sc['cases'] if x['server'] == 'nchan'
                   and x['subscribers'] == c['subscribers']
                   and x['rate'] == c['rate']), None)
        if c.get('failed') or not c.get('runs'):
            out.append('- sse-fanout %s subscribers at %s msg/s: ngx_ws_module %s' % (
                fmt(c['subscribers']), fmt(c['rate']),
                c.get('failed') or 'no run'))
            continue
        if nc and nc.get('runs'):
            out.append('- sse-fanout %s subscribers at %s msg/s: ngx_ws_module %s '
                       'deliveries/s, p99 %s us, losses %s; nchan (eventsource) %s '
                       'deliveries/s (ours %sx), p99 %s us (ours %sx), losses %s' % (
                           fmt(c['subscribers']), fmt(c['rate']),
                           fmt(med(c, 'deliveries_s')), fmt(med(c, 'p99_us')),
                           fmt(med(c, 'losses')), fmt(med(nc, 'deliveries_s')),
                           ratio(med(c, 'deliveries_s'), med(nc, 'deliveries_s')),
                           fmt(med(nc, 'p99_us')),
                           ratio(med(c, 'p99_us'), med(nc, 'p99_us')),
                           fmt(med(nc, 'losses'))))
    sc = all_sc.get('app')
    for depth in APP_DEPTHS if sc else ():
        by = {c['server']: c for c in sc['cases'] if c['depth'] == depth}
        ours = by.get(OURS)
        if not ours or not ours.get('runs'):
            continue
        m = med(ours, 'msg_s')
        parts = []
        for k, label in ((OURS + '-headers', 'the headers format'),
                         ('node-ws', 'proxy_pass -> Node ws'),
                         ('pushpin', 'Pushpin'),
                         ('app-epoll', 'the C bridge (the limit)')):
            c = by.get(k)
            if c and c.get('runs'):
                parts.append('%sx %s' % (ratio(m, med(c, 'msg_s')), label))
        out.append('- app, 100 conns x %d in flight: ngx_ws_module (websocket-events) '
                   '%s msg/s, p99 %s us; %s' % (depth, fmt(m), fmt(med(ours, 'p99_us')),
                                                '; '.join(parts)))
        lim, ref = by.get('app-epoll'), by.get('node-ws')
        if lim and lim.get('runs') and ref and ref.get('runs'):
            out.append('- app, 100 conns x %d in flight: the C bridge (the '
                       'limit of an HTTP request per event with this app) %s '
                       'msg/s, %sx proxy_pass -> Node ws' % (
                           depth, fmt(med(lim, 'msg_s')),
                           ratio(med(lim, 'msg_s'), med(ref, 'msg_s'))))
    return out


SCENARIO_ORDER = ['echo-1', 'echo-32', 'echo-4k', 'echo-pipe', 'echo-open',
                  'conns-10k', 'conns-50k',
                  'fanout', 'sse-fanout', 'redis-fanout', 'reload-10k', 'app',
                  'conns-100k']
# not in `all`: a run holds its connections for --hold-minutes
NOT_IN_ALL = ('conns-100k',)
TITLES = {
    'echo-1': 'Echo, one connection, one 32 B message in flight',
    'echo-32': 'Echo, 32 B messages',
    'echo-4k': 'Echo, 4 KiB messages',
    'echo-pipe': 'Pipelined echo, 64 B messages, 100 connections x 16 in '
                 'flight',
    'echo-open': 'Open-loop echo: every server at the same offered rates, '
                 '32 B, 100 connections',
    'conns-10k': 'Idle connections: 10,000, 1 worker',
    'conns-50k': 'Idle connections: 50,000, 4 workers',
    'fanout': 'Fan-out: 64 B messages to 1,000 and 10,000 subscribers',
    'sse-fanout': 'EventSource fan-out: 64 B messages to 1,000 and 10,000 '
                  'subscribers',
    'redis-fanout': 'Fan-out across two instances through Redis: 1,000 '
                    'and 10,000 subscribers',
    'reload-10k': 'Reloads under a steady publish: 10,000 subscribers',
    'app': 'The application path: 100 connections to an HTTP app, 64 B',
    'conns-100k': '100,000 connections held, then a reload: 6 workers',
}


def title_of(scenario, key):
    if scenario == 'fanout':
        return TITLES_FANOUT.get(key, key)
    if scenario == 'sse-fanout':
        return TITLES_SSE.get(key, key)
    if scenario == 'redis-fanout':
        return TITLES_REDIS.get(key, key)
    if scenario == 'reload-10k':
        return key if key not in SERVERS else WsModuleReload.title
    if scenario == 'app':
        return APP_CLASSES[key].title if key in APP_CLASSES else key
    if scenario == 'conns-100k':
        return WsModule100k.title
    return SERVERS[key].title


def old_results():
    """The sections of RESULTS.md as it is (## and ### headings to their
    lines), so that a scenario whose results/NAME.json is not here (the
    directory is not in git) keeps what its last run wrote."""
    secs = {}
    cur = None
    try:
        with open(RESULTS_MD) as f:
            lines = f.read().split('\n')
    except OSError:
        return secs
    for line in lines:
        if line.startswith('## ') or line.startswith('### '):
            cur = line
            secs[cur] = []
        elif cur is not None:
            secs[cur].append(line)
    for k in secs:
        while secs[k] and not secs[k][-1].strip():
            secs[k].pop()
    return secs


def headline_scenario(line):
    """the scenario a headline line is about: '- echo-32, ...' is echo-32"""
    m = re.match(r'- ([a-z0-9-]+)', line)
    return m.group(1) if m else None


def write_results():
    all_sc = {}
    for name in SCENARIO_ORDER:
        path = os.path.join(RESULTS_DIR, name + '.json')
        if os.path.exists(path):
            with open(path) as f:
                all_sc[name] = json.load(f)
    old = old_results()

    md = ['# ngx_ws_module benchmark results', '',
          'Generated by `bench/run` (see [README.md](README.md) for what each '
          'scenario measures and how). Every section below carries the date it '
          'was run; a section is rewritten each time its scenario runs. '
          'All servers and the client ran on this one machine over loopback; '
          'the client is `bench/wsbench`, the same for every server.', '']

    md.append('## Headline')
    md.append('')
    new = headline(all_sc)
    lines = []
    for name in SCENARIO_ORDER:
        src = new if name in all_sc else old.get('## Headline', [])
        lines.extend(l for l in src if headline_scenario(l) == name)
    md.extend(lines or ['(no scenario run yet)'])
    md.append('')

    if os.path.exists(ANALYSIS_MD):
        with open(ANALYSIS_MD) as f:
            md.append(f.read().rstrip())
            md.append('')

    md.append('## Setup')
    md.append('')
    md.append('- 1 worker: the servers (all their processes) are pinned to CPU 0 '
              'and the client to CPU 1 with `taskset`. 2 or 4 workers: nothing '
              'is pinned; servers and client share both cores. nginx-based '
              'servers with several workers, and echo-epoll, use SO_REUSEPORT '
              'listeners so that connections spread evenly.')
    md.append('- The Node peer is one Node process behind nginx (`proxy_pass` '
              'with the Upgrade headers); its CPU figures add the nginx workers '
              'and the Node process.')
    md.append('- Every nginx runs with `access_log off`, `error_log ... warn`, '
              '`worker_connections 20000`, `listen ... backlog=4096`.')
    md.append('- The machine is shared with other work (other sessions\' test '
              'suites may run): before each measurement the script waits (at '
              'most 15 s) until other processes use less than 0.3 cores, and '
              '"other CPU" is what the rest of the machine used during the '
              'measurement (from /proc/stat, minus the server and the client; '
              'it includes some of the kernel\'s own network work, ~0.1 on a '
              'quiet machine). An echo run during which it exceeded %.1f is '
              'made again, at most twice (a fan-out run once), keeping the '
              'least disturbed. A '
              'figure with a high "other CPU" was disturbed all the same.'
              % OTHER_CPU_MAX)
    md.append('- "server CPU" is user+system time of the server processes over '
              'the measured seconds (from /proc/PID/stat), in cores; per message '
              'it includes the kernel\'s TCP work for that process. The client '
              'needs about as much CPU per message as a server, so at one '
              'client process the fastest servers are client-bound and their '
              'msg/s converge: CPU per message then tells them apart.')
    md.append('')
    for name in SCENARIO_ORDER:
        sc = all_sc.get(name)
        if not sc:
            kept = old.get('## %s' % TITLES[name])
            if kept:
                md.append('## %s' % TITLES[name])
                md.extend(kept)
                md.append('')
            continue
        md.append('## %s' % TITLES[name])
        md.append('')
        md.append('Run %s, `bench/run %s`%s, ngx_ws_module %s.' % (
            sc.get('date', '?'), name,
            ' (--quick)' if sc.get('quick') else '',
            sc.get('versions', {}).get('ngx_ws_module', '?')))
        if sc.get('module_changed'):
            md.append('')
            md.append('**The module was rebuilt during this run** (at its end: %s): '
                      'servers started after the rebuild loaded the new build.'
                      % sc['module_changed'])
        md.append('')
        if sc['kind'] == 'echo':
            md.extend(echo_md(name, sc))
        elif sc['kind'] == 'conns':
            md.extend(conns_md(name, sc))
        elif sc['kind'] == 'reload':
            md.extend(reload_md(name, sc))
        elif sc['kind'] == 'app':
            md.extend(app_md(name, sc))
        elif sc['kind'] == 'redis-fanout':
            md.extend(redis_fanout_md(name, sc))
        elif sc['kind'] == 'conns100k':
            md.extend(conns100k_md(name, sc))
        elif sc['kind'] == 'echo-open':
            md.extend(echo_open_md(name, sc))
        else:
            md.extend(fanout_md(name, sc))
        md.append('')

    md.append('## Machine and versions')
    md.append('')
    v = None
    for name in SCENARIO_ORDER:
        if name in all_sc and all_sc[name].get('versions'):
            v = all_sc[name]['versions']
    if v is None and old.get('## Machine and versions'):
        md.extend(old['## Machine and versions'][1:])
    else:
        for k, val in (v or versions()).items():
            md.append('- %s: %s' % (k, val))
    md.append('')

    md.append('## Commands')
    md.append('')
    md.append('The exact commands of the first run of each scenario (ports, '
              'temporary directories and source addresses change from run to '
              'run). Server configurations follow.')
    md.append('')
    for name in SCENARIO_ORDER:
        sc = all_sc.get(name)
        if not sc and old.get('### %s' % name):
            md.append('### %s' % name)
            md.extend(old['### %s' % name])
            md.append('')
            continue
        if not sc or not sc.get('commands'):
            continue
        md.append('### %s' % name)
        md.append('')
        md.append('```sh')
        for key, c in sc['commands'].items():
            md.append('# %s' % title_of(name, key))
            for line in c['server']:
                md.append(line)
            for line in c['client']:
                md.append(line)
        md.append('```')
        md.append('')
    confs = {}
    for name in SCENARIO_ORDER:
        sc = all_sc.get(name)
        if sc:
            for key, conf in sc.get('configs', {}).items():
                if conf and title_of(name, key) not in confs:
                    confs[title_of(name, key)] = (name, conf)
    for title, (name, conf) in confs.items():
        md.append('### nginx.conf of %s (as in %s)' % (title, name))
        md.append('')
        md.append('```nginx')
        md.append(conf.rstrip())
        md.append('```')
        md.append('')
    for head, body in old.items():
        m = re.match(r'### nginx\.conf of (.*) \(as in ([a-z0-9-]+)\)$', head)
        if m and m.group(1) not in confs and m.group(2) not in all_sc:
            md.append(head)
            md.extend(body)
            md.append('')

    with open(RESULTS_MD, 'w') as f:
        f.write('\n'.join(md) + '\n')
    log('wrote %s' % RESULTS_MD)


# ---------------------------------------------------------------------------

def ab_report(name, sc):
    """--base: WS_MODULE against the base build, case by case (ratios
    ours / base: above 1 is more for ours)"""
    figures = {'echo': ('msg_s', 'p99_us', 'server_us_per_msg'),
               'conns': ('connect_rate', 'VmRSS_per_conn'),
               'echo-open': ('sent_s', 'p99_us', 'max_us', 'lost', 'late'),
               'fanout': ('deliveries_s', 'p99_us', 'last_p99_us',
                          'server_cpu', 'lost', 'late'),
               'redis-fanout': ('deliveries_s', 'p99_us', 'server_cpu',
                                'redis_cpu', 'lost', 'late'),
               'app': ('msg_s', 'p99_us', 'server_us_per_msg')}
    what = ('workers', 'conns', 'size', 'subscribers', 'rate', 'depth')
    if sc['kind'] not in figures:
        return                          # reload-10k: ngx_ws_module alone
    for c in sc['cases']:
        if c['server'] != OURS:
            continue
        base = next((b for b in sc['cases'] if b['server'] == BASE
                     and all(b.get(k) == c.get(k) for k in what)), {})
        parts = []
        for k in figures[sc['kind']]:
            v, ref = med(c, k), med(base, k) if base else None
            parts.append('%s %s / %s = %s' % (k, fmt(v, 2), fmt(ref, 2),
                                              ratio(v, ref)))
        case = ' '.join('%s=%s' % (k, c[k]) for k in what if k in c)
        log('%s %s: %s; errors %s / %s' % (name, case, '; '.join(parts),
                                           errors_of(c), errors_of(base)))


def cmd_sample(args):
    """--on-hold hook: the memory of the given processes, as JSON."""
    pids = [int(p) for p in args.pids.split(',') if p]
    with open(args.out, 'w') as f:
        json.dump(mem_sum(pids), f)


def main():
    ap = argparse.ArgumentParser(prog='bench/run')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--quick', action='store_true',
                    help='half the durations (a first look, not for RESULTS.md)')
    ap.add_argument('--subscribers', metavar='N,N',
                    type=lambda v: [int(x) for x in v.split(',')],
                    help='redis-fanout: only the cases with these '
                         'subscriber counts (1000, 10000)')
    ap.add_argument('--base', metavar='SO',
                    help='A/B: this build of the module against WS_MODULE, '
                         'no peers; results/ab-SCENARIO.json, not RESULTS.md')
    ap.add_argument('--hold-minutes', type=float, default=None,
                    help='conns-100k: how long the connections are held '
                         '(default %g, 1 with --quick)' % C100K_HOLD_MIN)
    ap.add_argument('--open-rates', metavar='R,R',
                    type=lambda v: [int(x) for x in v.split(',')],
                    help='echo-open: offer these msg/s instead of 10/50/90 %% '
                         'of the slowest server\'s closed-loop rate')
    ap.add_argument('scenario', nargs='+',
                    help='echo-1 echo-32 echo-4k echo-pipe echo-open conns-10k conns-50k fanout '
                         'sse-fanout redis-fanout reload-10k app conns-100k all '
                         'report')
    args, rest = ap.parse_known_args()

    if args.scenario and args.scenario[0] == 'sample':
        sp = argparse.ArgumentParser()
        sp.add_argument('out')
        sp.add_argument('pids')
        cmd_sample(sp.parse_args(args.scenario[1:] + rest))
        return 0

    names = []
    for s in args.scenario:
        if s == 'all':
            names.extend(n for n in SCENARIO_ORDER if n not in NOT_IN_ALL)
        elif s in SCENARIO_ORDER or s == 'report':
            names.append(s)
        else:
            ap.error('unknown scenario %s' % s)

    if args.runs < 1:
        ap.error('--runs must be at least 1')

    if args.base:
        if not os.path.isfile(args.base):
            ap.error('--base %s: no such file' % args.base)
        use_base(os.path.abspath(args.base))

    k = 0.5 if args.quick else 1.0
    os.makedirs(RESULTS_DIR, exist_ok=True)
    t0 = time.time()
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGHUP, stop_all)

    with tempfile.TemporaryDirectory(prefix='wsbench-') as tmp:
        for name in names:
            if name == 'report':
                continue
            log('scenario %s' % name)
            ts = time.time()
            date0 = datetime.datetime.now().strftime('%Y-%m-%d %H:%M %Z').strip()
            versions0 = versions()
            if name == 'echo-1':
                # the latency of a lone client: p99 against echo-epoll's
                sc = echo_scenario(name, 32, args.runs, tmp,
                                   (ECHO_DURATION * k, ECHO_WARMUP), (1,))
            elif name == 'echo-32':
                sc = echo_scenario(name, 32, args.runs, tmp, (ECHO_DURATION * k, ECHO_WARMUP))
            elif name == 'echo-4k':
                sc = echo_scenario(name, 4096, args.runs, tmp, (ECHO_DURATION * k, ECHO_WARMUP))
            elif name == 'echo-pipe':
                sc = echo_scenario(name, 64, args.runs, tmp,
                                   (ECHO_DURATION * k, ECHO_WARMUP), (100,), 16)
            elif name == 'echo-open':
                # --quick: 1 s runs after 0.3 s, at most 1 s waits for quiet
                sc = echo_open_scenario(
                    name, args.runs, tmp,
                    (ECHO_DURATION * k, 0.3 if args.quick else ECHO_WARMUP),
                    args.open_rates, args.quick)
            elif name == 'conns-10k':
                sc = conns_scenario(name, 10000, 1, args.runs, tmp, CONNS_HOLD)
            elif name == 'conns-50k':
                sc = conns_scenario(name, 50000, 4, args.runs, tmp, CONNS_HOLD)
            elif name == 'reload-10k':
                sc = reload_scenario(name, args.runs, tmp)
            elif name == 'app':
                sc = app_scenario(name, args.runs, tmp, (ECHO_DURATION * k, ECHO_WARMUP))
            elif name == 'redis-fanout':
                sc = redis_fanout_scenario(name, args.runs, tmp,
                                           FANOUT_DURATION * k,
                                           args.subscribers)
            elif name == 'conns-100k':
                minutes = args.hold_minutes
                if minutes is None:
                    minutes = 1.0 if args.quick else C100K_HOLD_MIN
                if not 0 < minutes <= 10:
                    ap.error('--hold-minutes: more than 0, at most 10')
                sc = conns100k_scenario(name, args.runs, tmp, minutes * 60)
            elif name == 'sse-fanout':
                sc = fanout_scenario(name, args.runs, tmp, FANOUT_DURATION * k,
                                     sse=True)
            else:
                sc = fanout_scenario(name, args.runs, tmp, FANOUT_DURATION * k)
            sc['date'] = date0
            sc['versions'] = versions0
            if versions()['ngx_ws_module'] != versions0['ngx_ws_module']:
                sc['module_changed'] = versions()['ngx_ws_module']
            sc['quick'] = args.quick
            sc['runs'] = args.runs
            sc['seconds'] = round(time.time() - ts, 1)
            sc['waited_for_quiet'] = round(_quiet_waited[0], 1)
            _quiet_waited[0] = 0.0
            if args.base:
                sc['base'] = os.path.abspath(args.base)
                ab_report(name, sc)
            with open(os.path.join(RESULTS_DIR, ('ab-' if args.base else '')
                                   + name + '.json'), 'w') as f:
                json.dump(sc, f, indent=1, sort_keys=True)
            log('scenario %s took %.0f s' % (name, time.time() - ts))
        stop_all()

    if not args.base:
        write_results()
    log('total %.0f s' % (time.time() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
