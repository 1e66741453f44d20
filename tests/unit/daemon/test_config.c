/* The daemon's configuration: defaults, file < command line precedence,
 * list replacement, the seed-001 aliases, errors with FILE:LINE and the
 * right exit class, cross-option checks, key file checks, the reload
 * helpers, and that every option of the table can be set both ways.
 * config.c is included so its option table and parsers are reachable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/acl.c"
#include "daemon/config.c"

/* ---- helpers ---------------------------------------------------------- */

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
    snprintf(t->path, sizeof(t->path), "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

static void tmpdir_remove(struct tmpdir *t)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path);
    assert_int_equal(system(cmd), 0);
}

/* Writes text to DIR/name and returns the path in out. */
static const char *write_file(const struct tmpdir *t, const char *name, const char *text, char *out,
                              size_t cap)
{
    snprintf(out, cap, "%s/%s", t->path, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return out;
}

/* config_load over a NULL-terminated argument list (argv[0] added). */
static enum config_result load(struct daemon_config *c, char *err, size_t errlen, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;

    argv[argc++] = (char *)"rendezvousd";
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    enum config_result rc = config_load(c, argc, argv, devnull, err, errlen);
    fclose(devnull);
    return rc;
}

#define LOAD(c, err, ...) load(c, err, sizeof(err), __VA_ARGS__, (char *)NULL)

/* ---- tests ---------------------------------------------------------------- */

static void defaults(void **state)
{
    struct daemon_config c;
    struct host_limits hl;
    struct rdv_config rc;
    char err[512];
    (void)state;

    assert_int_equal(load(&c, err, sizeof(err), (char *)NULL), CONFIG_OK);
    host_limits_default(&hl);
    rdv_config_default(&rc);
    assert_int_equal(c.listen.n, 2);
    assert_string_equal(c.listen.item[0], CONFIG_DEFAULT_LISTEN_WS);
    assert_string_equal(c.listen.item[1], CONFIG_DEFAULT_LISTEN_TCP);
    assert_null(c.tls_cert);
    assert_int_equal(c.ws_origins.n, 0);
    assert_int_equal(c.announce.n, 0);
    assert_null(c.key_file);
    assert_null(c.file);
    assert_false(c.check);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.log_format, LOG_TEXT);
    assert_true(c.metrics_on);
    assert_string_equal(c.metrics_addr, "127.0.0.1:8003");
    assert_int_equal(c.metrics_sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&c.metrics_sa)->sin_port), 8003);
    assert_memory_equal(&c.host, &hl, sizeof(hl));
    assert_int_equal(c.rdv.ttl_max, rc.ttl_max);
    assert_int_equal(c.rdv.limits.max_regs_per_peer, rc.limits.max_regs_per_peer);
    assert_string_equal(c.rdv.push_protocol_id, PUSH_PROTOCOL_ID);
    config_free(&c);
}

static void file_then_flags(void **state)
{
    struct tmpdir t;
    struct daemon_config c;
    char err[512], path[128];
    (void)state;

    tmpdir_make(&t);
    write_file(&t, "a.conf",
               "# rendezvousd.conf\n"
               "; both comment styles\n"
               "\n"
               "listen = /ip4/127.0.0.1/tcp/1 /ip4/127.0.0.1/tcp/2\n"
               "listen = /ip6/::1/tcp/3\n"
               "  max-connections-per-ip = 7   ; indented, inline comment\n"
               "max_streams = 9\n"
               "log-level = debug\n"
               "metrics = [::1]:9100\n"
               "push-output-limit = 16M\n"
               "push-output-soft-limit = 64KiB\n"
               "handshake-timeout = 2.5\n"
               "push-protocol = /my/push/1\n"
               "ws-allow-origin = https://a.example, https://b.example\n",
               path, sizeof(path));

    /* The file alone. */
    assert_int_equal(LOAD(&c, err, "--config", path), CONFIG_OK);
    assert_string_equal(c.file, path);
    assert_int_equal(c.listen.n, 3);
    assert_string_equal(c.listen.item[2], "/ip6/::1/tcp/3");
    assert_int_equal(c.host.max_conns_per_ip, 7);
    assert_int_equal(c.host.max_streams, 9);
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_string_equal(c.metrics_addr, "[::1]:9100");
    assert_int_equal(c.metrics_sa.ss_family, AF_INET6);
    assert_int_equal(c.rdv.out_hard_limit, 16u << 20);
    assert_int_equal(c.rdv.out_soft_limit, 64u << 10);
    assert_true(c.host.handshake_timeout == 2.5);
    assert_string_equal(c.rdv.push_protocol_id, "/my/push/1");
    assert_int_equal(c.ws_origins.n, 2);
    assert_string_equal(c.ws_origins.item[1], "https://b.example");
    assert_int_equal(c.source[config__find("max-streams")], CONFIG_FILE);
    assert_int_equal(c.line[config__find("max-streams")], 7);
    config_free(&c);

    /* Flags win, whether given before or after --config; a list on the
     * command line replaces the file's list. */
    assert_int_equal(LOAD(&c, err, "--max-connections-per-ip", "3", "-c", path, "-l",
                          "/ip4/0.0.0.0/tcp/5", "--log-level=warn", "--metrics", "off"),
                     CONFIG_OK);
    assert_int_equal(c.host.max_conns_per_ip, 3);
    assert_int_equal(c.host.max_streams, 9);          /* from the file */
    assert_int_equal(c.listen.n, 1);
    assert_string_equal(c.listen.item[0], "/ip4/0.0.0.0/tcp/5");
    assert_int_equal(c.log_level, LOG_WARN);
    assert_false(c.metrics_on);
    assert_int_equal(c.source[config__find("max-connections-per-ip")], CONFIG_CLI);
    config_free(&c);

    /* Repeated flags: the last scalar wins, lists accumulate. */
    assert_int_equal(LOAD(&c, err, "--max-streams", "4", "--max-streams", "5", "-l",
                          "/ip4/127.0.0.1/tcp/0", "--listen", "/ip6/::1/tcp/0", "-a",
                          "/dns4/example.com/tcp/443/wss"),
                     CONFIG_OK);
    assert_int_equal(c.host.max_streams, 5);
    assert_int_equal(c.listen.n, 2);
    assert_int_equal(c.announce.n, 1);
    config_free(&c);
    tmpdir_remove(&t);
}

static void seed_001_aliases(void **state)
{
    struct tmpdir t;
    struct daemon_config c;
    char err[512], path[128];
    (void)state;

    /* The JS server took several addresses after one flag. */
    assert_int_equal(LOAD(&c, err, "--enableMemoryDatabase", "--listenMultiaddrs",
                          "/ip4/127.0.0.1/tcp/15003/ws", "/ip4/127.0.0.1/tcp/8000",
                          "--announceMultiaddrs", "/dns4/rdv.example/tcp/443/wss",
                          "/ip4/1.2.3.4/tcp/8000", "--peerId", "/var/lib/rdv/key", "--metricsPort",
                          "9003", "--maxPeerRegistrations", "12"),
                     CONFIG_OK);
    assert_true(c.memory_db);
    assert_int_equal(c.listen.n, 2);
    assert_string_equal(c.listen.item[0], "/ip4/127.0.0.1/tcp/15003/ws");
    assert_string_equal(c.listen.item[1], "/ip4/127.0.0.1/tcp/8000");
    assert_int_equal(c.announce.n, 2);
    assert_string_equal(c.announce.item[1], "/ip4/1.2.3.4/tcp/8000");
    assert_string_equal(c.key_file, "/var/lib/rdv/key");
    assert_true(c.metrics_on);
    assert_string_equal(c.metrics_addr, "0.0.0.0:9003");
    assert_int_equal(c.rdv.limits.max_regs_per_peer, 12);
    config_free(&c);

    /* minimist short forms and --disableMetrics. */
    assert_int_equal(LOAD(&c, err, "--emd", "--lm", "/ip4/127.0.0.1/tcp/1", "--mp", "1234"),
                     CONFIG_OK);
    assert_string_equal(c.listen.item[0], "/ip4/127.0.0.1/tcp/1");
    assert_string_equal(c.metrics_addr, "0.0.0.0:1234");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--disableMetrics"), CONFIG_OK);
    assert_false(c.metrics_on);
    config_free(&c);

    /* An address that cannot be used is exit 1 even on the command line,
     * like a listener that cannot bind. */
    assert_int_equal(LOAD(&c, err, "--listen", "/ip4/127.0.0.1/udp/1"), CONFIG_INVALID);
    assert_string_equal(err, "--listen: unsupported transport: /udp");
    config_free(&c);
    /* An operand after an ordinary option is still an error. */
    assert_int_equal(LOAD(&c, err, "--max-streams", "3", "/ip4/127.0.0.1/tcp/1"), CONFIG_USAGE);
    assert_non_null(strstr(err, "unexpected argument '/ip4/127.0.0.1/tcp/1'"));
    config_free(&c);

    /* Aliases share their option's slot: in the file, setting both is a
     * duplicate; on the command line, the alias overrides the file. */
    tmpdir_make(&t);
    write_file(&t, "dup.conf", "max-registrations-per-peer = 5\nmaxPeerRegistrations = 6\n", path,
               sizeof(path));
    assert_int_equal(LOAD(&c, err, "-c", path), CONFIG_INVALID);
    assert_non_null(strstr(err, "dup.conf:2: maxPeerRegistrations: already set on line 1"));
    config_free(&c);
    write_file(&t, "one.conf", "max-registrations-per-peer = 5\ndisableMetrics = true\n", path,
               sizeof(path));
    assert_int_equal(LOAD(&c, err, "-c", path, "--maxPeerRegistrations", "8", "--metricsPort", "1"),
                     CONFIG_OK);
    assert_int_equal(c.rdv.limits.max_regs_per_peer, 8);
    assert_true(c.metrics_on);
    config_free(&c);
    write_file(&t, "false.conf", "disableMetrics = false\nenableMemoryDatabase = yes\n", path,
               sizeof(path));
    assert_int_equal(LOAD(&c, err, "-c", path), CONFIG_OK);
    assert_true(c.metrics_on);
    assert_true(c.memory_db);
    config_free(&c);
    tmpdir_remove(&t);
}

struct file_error {
    const char *text;
    const char *expect;   /* substring of the error, after "FILE" */
};

static void file_errors(void **state)
{
    static const struct file_error cases[] = {
        {"max-streams = 3\nbogus = 1\n", ":2: unknown option 'bogus'"},
        {"\n\nmax-streams = 0\n", ":3: max-streams: '0' is not a count from 1 to 100000000"},
        {"max-streams = 3\nthis line is junk\nmax-streams = x\n", ":2: expected NAME = VALUE"},
        {"max-streams = 3\nmax-streams = 4\n", ":2: max-streams: already set on line 1"},
        {"[server]\nmax-streams = 3\n", ":2: [server]: rendezvousd.conf has no sections"},
        {"config = other.conf\n", ":1: 'config' can only be given on the command line"},
        {"check-config = true\n", ":1: 'check-config' can only be given on the command line"},
        {"listen = /ip4/127.0.0.1/udp/1\n", ":1: listen: unsupported transport: /udp"},
        {"listen = /dns4/example.com/tcp/1\n", ":1: listen: /dns4/example.com/tcp/1: listen on an IP"},
        {"listen = /ip4/1.2.3.4/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq\n",
         ":1: listen: /ip4/1.2.3.4/tcp/1/p2p/"},
        {"announce = not-a-multiaddr\n", ":1: announce:"},
        {"log-level = loud\n", ":1: log-level: unknown log level 'loud'"},
        {"log-format = xml\n", ":1: log-format: unknown log format 'xml'"},
        {"metrics = localhost:8003\n", ":1: metrics: 'localhost' is not an IPv4 address"},
        {"metrics = 127.0.0.1:65536\n", ":1: metrics: '65536' is not a port number"},
        {"metrics = [::1:80\n", ":1: metrics: '[::1:80' is not [IPv6]:PORT"},
        {"idle-timeout = -1\n", ":1: idle-timeout: '-1' is not a number of seconds"},
        {"idle-timeout = nan\n", ":1: idle-timeout: 'nan' is not a number of seconds"},
        {"push-output-limit = 1T\n", ":1: push-output-limit: '1T' is not a size"},
        {"max-namespace-length = 256\n", ":1: max-namespace-length: '256' is not a count from 1 to 255"},
        {"push-protocol = no-slash\n", ":1: push-protocol: 'no-slash' is not a protocol id"},
        {"tls-cert = /a.pem\n", ":1: tls-cert: tls-cert must be given with tls-key"},
        {"ws-allow-origin =\n", ":1: ws-allow-origin: needs an origin"},
        {"discover-default = 50\ndiscover-max = 10\n", ":2: discover-max: discover-default must be at most discover-max"},
        {"push-output-soft-limit = 9M\n", ":1: push-output-soft-limit: push-output-soft-limit must be at most push-output-limit"},
        {"key =\n", ":1: key: needs a value"},
        {"enableMemoryDatabase = maybe\n", ":1: enableMemoryDatabase: 'maybe' is not true or false"},
        {"ttl-min = 500\nttl-max = 100\n", ":2: ttl-max: ttl-min must be at most ttl-max"},
        {"ttl-default = 10\n", ":1: ttl-default: ttl-default must be at least ttl-min"},
    };
    struct tmpdir t;
    char path[128], err[512], want[512], line[400];
    (void)state;

    tmpdir_make(&t);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct daemon_config c;
        write_file(&t, "bad.conf", cases[i].text, path, sizeof(path));
        enum config_result rc = LOAD(&c, err, "--config", path);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].expect);
        if (rc != CONFIG_INVALID || strstr(err, want) != err)
            fail_msg("case %zu: rc %d, got \"%s\", want \"%s...\"", i, rc, err, want);
        config_free(&c);
    }

    /* A line longer than inih's buffer is refused, not split in two. */
    memset(line, 0, sizeof(line));
    snprintf(line, sizeof(line), "max-streams = 3\nannounce = /dns4/");
    memset(line + strlen(line), 'a', 250);
    strcat(line, ".example/tcp/1\n");
    struct daemon_config c;
    write_file(&t, "long.conf", line, path, sizeof(path));
    assert_int_equal(LOAD(&c, err, "--config", path), CONFIG_INVALID);
    snprintf(want, sizeof(want), "%s:2: line longer than", path);
    assert_non_null(strstr(err, want));
    config_free(&c);

    /* A file that cannot be read. */
    snprintf(path, sizeof(path), "%s/missing.conf", t.path);
    assert_int_equal(LOAD(&c, err, "--config", path), CONFIG_INVALID);
    assert_non_null(strstr(err, "cannot read"));
    assert_non_null(strstr(err, "No such file"));
    config_free(&c);
    tmpdir_remove(&t);
}

static void command_line_errors(void **state)
{
    struct daemon_config c;
    char err[512];
    (void)state;

    assert_int_equal(LOAD(&c, err, "--no-such-flag"), CONFIG_USAGE);
    assert_string_equal(err, "unknown option '--no-such-flag' (see --help)");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--listen"), CONFIG_USAGE);
    assert_string_equal(err, "option '--listen' needs a value");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--max-streams", "0"), CONFIG_USAGE);
    assert_string_equal(err, "--max-streams: '0' is not a count from 1 to 100000000");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "extra"), CONFIG_USAGE);
    assert_string_equal(err, "unexpected argument 'extra'");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--", "extra"), CONFIG_USAGE);
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--ttl-default", "10"), CONFIG_USAGE);
    assert_string_equal(err, "--ttl-default: ttl-default must be at least ttl-min");
    config_free(&c);
    /* Help and version end the run successfully. */
    assert_int_equal(LOAD(&c, err, "--help"), CONFIG_EXIT);
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "-V"), CONFIG_EXIT);
    config_free(&c);
    /* --check-config is only recorded here; main acts on it. */
    assert_int_equal(LOAD(&c, err, "--check-config"), CONFIG_OK);
    assert_true(c.check);
    config_free(&c);
}

static void ranges_and_older_flags(void **state)
{
    struct daemon_config c;
    char err[512];
    (void)state;

    /* An unset default follows a narrower range instead of failing. */
    assert_int_equal(LOAD(&c, err, "--ttl-max", "3600", "--discover-max", "10", "--push-discover-max",
                          "5", "--waku-ttl-max", "7", "--push-output-limit", "1000"),
                     CONFIG_OK);
    assert_int_equal(c.rdv.ttl_default, 3600);
    assert_int_equal(c.rdv.discover_default, 10);
    assert_int_equal(c.rdv.push_discover_default, 5);
    assert_int_equal(c.rdv.waku_ttl_default, 7);
    assert_int_equal(c.rdv.out_soft_limit, 1000);
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--ttl-min", "9000"), CONFIG_OK);
    assert_int_equal(c.rdv.ttl_default, 9000);
    config_free(&c);
    /* Set explicitly, it must fit. */
    assert_int_equal(LOAD(&c, err, "--ttl-default", "100", "--ttl-max", "50"), CONFIG_USAGE);
    config_free(&c);
    /* --waku-ttl sets both; the older aliases of main.c still work. */
    assert_int_equal(LOAD(&c, err, "--waku-ttl", "30", "--discover-limit", "7",
                          "--max-discover-limit", "8", "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
                          "--ws-allow-origin", "https://x.example"),
                     CONFIG_OK);
    assert_int_equal(c.rdv.waku_ttl_default, 30);
    assert_int_equal(c.rdv.waku_ttl_max, 30);
    assert_int_equal(c.rdv.discover_default, 7);
    assert_int_equal(c.rdv.discover_max, 8);
    assert_string_equal(c.tls_cert, "/c.pem");
    assert_string_equal(c.ws_origins.item[0], "https://x.example");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--waku-ttl", "30", "--waku-ttl-default", "40"), CONFIG_USAGE);
    assert_string_equal(err, "--waku-ttl-default: waku-ttl-default must be at most waku-ttl-max");
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--tls-key", "/k.pem"), CONFIG_USAGE);
    config_free(&c);
}

static void value_forms(void **state)
{
    unsigned long long v;
    bool b;
    struct sockaddr_storage ss;
    socklen_t len;
    char msg[128];
    (void)state;

    assert_int_equal(config__parse_bytes("65536", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(config__parse_bytes("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(config__parse_bytes("8MiB", &v), 0);
    assert_int_equal(v, 8u << 20);
    assert_int_equal(config__parse_bytes("2gb", &v), 0);
    assert_int_equal(v, 2ULL << 30);
    assert_int_equal(config__parse_bytes("100B", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(config__parse_bytes("-1", &v), -1);
    assert_int_equal(config__parse_bytes(" 1", &v), -1);
    assert_int_equal(config__parse_bytes("1kx", &v), -1);
    assert_int_equal(config__parse_bytes("100iB", &v), -1);
    assert_int_equal(config__parse_bytes("99999999999999999999", &v), -1);
    assert_int_equal(config__parse_bytes("18014398509481984k", &v), -1); /* 2^54 KiB overflows */
    assert_int_equal(config__parse_uint("+1", &v), -1);
    assert_int_equal(config__parse_uint("", &v), -1);
    assert_int_equal(config__parse_bool("Yes", &b), 0);
    assert_true(b);
    assert_int_equal(config__parse_bool("off", &b), 0);
    assert_false(b);
    assert_int_equal(config__parse_bool("2", &b), -1);
    assert_int_equal(config__parse_hostport("[::1]:0", &ss, &len, msg, sizeof(msg)), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(config__parse_hostport("0.0.0.0:65535", &ss, &len, msg, sizeof(msg)), 0);
    assert_int_equal(config__parse_hostport(":8003", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(config__parse_hostport("::1:8003", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(config__parse_hostport("1.2.3.4", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(config__parse_hostport("1.2.3.4:", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(config__parse_hostport("[::1]8003", &ss, &len, msg, sizeof(msg)), -1);
}

/* A valid value for each type, to prove that every option of the table can
 * be set both in the file and on the command line. */
static const char *sample_value(const struct config__opt *o)
{
    enum config__type type = o->type;
    if (type == T_ALIAS)
        type = config__opts[config__slot((int)(o - config__opts))].type;
    switch (type) {
    case T_LIST: return "/ip4/127.0.0.1/tcp/4001";
    case T_STR:
        if (strcmp(o->name, "cluster") == 0)
            return "redis://127.0.0.1:6379/1";
        return (o->flags & O_PROTOCOL) ? "/x/1.0.0" : "/tmp/some.key";
    case T_SIZE:
    case T_U64:
    case T_BYTES:
    case T_SECONDS: return NULL; /* the option's own minimum, see below */
    case T_LEVEL: return "trace";
    case T_FORMAT: return "json";
    case T_BOOL:
    case T_NO_METRICS: return "true";
    case T_METRICS: return "127.0.0.1:9";
    case T_METRICS_PORT: return "9";
    case T_WAKU_TTL: return NULL;
    default: return "";
    }
}

static void every_option_both_ways(void **state)
{
    struct tmpdir t;
    char path[128], text[256], err[512], num[64], flag[96];
    (void)state;

    tmpdir_make(&t);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct config__opt *o = &config__opts[i];
        const struct config__opt *target = &config__opts[config__slot((int)i)];
        struct daemon_config from_file, from_cli;
        if (o->flags & O_CLI_ONLY)
            continue;
        const char *v = sample_value(o);
        if (v == NULL) {
            /* The minimum is valid alone (cross checks aside). */
            snprintf(num, sizeof(num), "%.15g", target->min);
            v = num;
        }
        snprintf(text, sizeof(text), "%s = %s\n", o->name, v);
        write_file(&t, "one.conf", text, path, sizeof(path));
        enum config_result rf = LOAD(&from_file, err, "-c", path);
        if (rf != CONFIG_OK && rf != CONFIG_INVALID)
            fail_msg("%s in the file: %d %s", o->name, rf, err);
        snprintf(flag, sizeof(flag), "--%s", o->name);
        enum config_result rcl = config__has_arg(o) ? LOAD(&from_cli, err, flag, v)
                                                    : LOAD(&from_cli, err, flag);
        if (rf == CONFIG_OK && rcl == CONFIG_OK) {
            int slot = config__slot((int)i);
            assert_int_equal(from_file.source[slot], CONFIG_FILE);
            assert_int_equal(from_cli.source[slot], CONFIG_CLI);
            /* Same value either way. */
            char a[1024], b[1024];
            config__format(&from_file, (size_t)slot, a, sizeof(a));
            config__format(&from_cli, (size_t)slot, b, sizeof(b));
            if (strcmp(a, b) != 0)
                fail_msg("%s: file gives '%s', command line '%s'", o->name, a, b);
        } else if (!(rf == CONFIG_INVALID && rcl == CONFIG_USAGE)) {
            /* Only cross checks may refuse the minimum, and then both ways. */
            fail_msg("%s: file %d, command line %d (%s)", o->name, rf, rcl, err);
        }
        config_free(&from_file);
        config_free(&from_cli);
    }
    tmpdir_remove(&t);
}

static void help_lists_every_option(void **state)
{
    char *text = NULL;
    size_t len = 0;
    char want[96];
    (void)state;

    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_usage(f);
    fclose(f);
    for (size_t i = 0; i < NOPTS; i++) {
        if (config__opts[i].flags & O_HIDDEN)
            continue;
        snprintf(want, sizeof(want), "--%s", config__opts[i].name);
        if (strstr(text, want) == NULL)
            fail_msg("--help does not list %s", want);
    }
    assert_non_null(strstr(text, "-l, --listen MULTIADDR"));
    assert_non_null(strstr(text, "127.0.0.1:8003)"));
    free(text);
}

static void check_key_file(void **state)
{
    struct tmpdir t;
    struct daemon_config c;
    struct privkey k;
    struct buf b = BUF_INIT;
    char path[128], conf[128], err[512];
    (void)state;

    tmpdir_make(&t);
    /* No key: nothing to check. A missing key in an existing folder is
     * fine (created at start); in a missing folder it is not. */
    assert_int_equal(LOAD(&c, err, "--check-config"), CONFIG_OK);
    assert_int_equal(config_check(&c, err, sizeof(err)), CONFIG_OK);
    config_free(&c);
    snprintf(path, sizeof(path), "%s/new.key", t.path);
    assert_int_equal(LOAD(&c, err, "-k", path), CONFIG_OK);
    assert_int_equal(config_check(&c, err, sizeof(err)), CONFIG_OK);
    config_free(&c);
    snprintf(path, sizeof(path), "%s/nodir/new.key", t.path);
    assert_int_equal(LOAD(&c, err, "-k", path), CONFIG_OK);
    assert_int_equal(config_check(&c, err, sizeof(err)), CONFIG_INVALID);
    assert_non_null(strstr(err, "does not exist"));
    config_free(&c);

    /* A good key. */
    privkey_generate(&k);
    privkey_to_proto(&k, &b);
    privkey_wipe(&k);
    snprintf(path, sizeof(path), "%s/good.key", t.path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(buf_head(&b), 1, buf_size(&b), f);
    fclose(f);
    buf_free(&b);
    assert_int_equal(LOAD(&c, err, "--peerId", path), CONFIG_OK);
    assert_int_equal(config_check(&c, err, sizeof(err)), CONFIG_OK);
    config_free(&c);

    /* A js PeerId JSON file, named in the config file: FILE:LINE. */
    write_file(&t, "peer.json", "{\"id\":\"Qm\",\"privKey\":\"CAAS\"}", path, sizeof(path));
    char text[256];
    snprintf(text, sizeof(text), "# identity\nkey = %s\n", path);
    write_file(&t, "k.conf", text, conf, sizeof(conf));
    assert_int_equal(LOAD(&c, err, "-c", conf), CONFIG_OK);
    assert_int_equal(config_check(&c, err, sizeof(err)), CONFIG_INVALID);
    char want[300];
    snprintf(want, sizeof(want), "%s:2: key: %s is a PeerId JSON file whose privKey", conf, path);
    assert_non_null(strstr(err, want));
    config_free(&c);

    write_file(&t, "junk.key", "junk", path, sizeof(path));
    assert_int_equal(LOAD(&c, err, "-k", path), CONFIG_OK);
    assert_int_equal(config_check(&c, err, sizeof(err)), CONFIG_INVALID);
    assert_non_null(strstr(err, "junk.key is not a libp2p PrivateKey protobuf"));
    config_free(&c);
    tmpdir_remove(&t);
}

static void protocol_ids(void **state)
{
    struct daemon_config c;
    char err[512];
    (void)state;

    assert_int_equal(LOAD(&c, err, "--metrics", "off"), CONFIG_OK);
    assert_int_equal(c.rdv.rdv1_ids.n, 1);
    assert_string_equal(c.rdv.rdv1_ids.id[0], RDV1_PROTOCOL_ID);
    assert_string_equal(c.rdv.waku_ids.id[0], WAKU_PROTOCOL_ID);
    config_free(&c);

    assert_int_equal(LOAD(&c, err, "--rendezvous-protocol", "/rendezvous/1.0.0",
                          "--rendezvous-protocol", "/canvas/rendezvous/1.0.0",
                          "--waku-protocol", "/w/1"), CONFIG_OK);
    assert_int_equal(c.rdv.rdv1_ids.n, 2);
    assert_string_equal(c.rdv.rdv1_ids.id[1], "/canvas/rendezvous/1.0.0");
    assert_int_equal(c.rdv.waku_ids.n, 1);
    assert_string_equal(c.rdv.waku_ids.id[0], "/w/1");
    config_free(&c);

    /* One id, one dialect; a bounded number of them; well-formed ids. */
    assert_int_equal(LOAD(&c, err, "--waku-protocol", "/rendezvous/1.0.0"), CONFIG_USAGE);
    assert_non_null(strstr(err, "named twice"));
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--rendezvous-protocol", PUSH_PROTOCOL_ID), CONFIG_USAGE);
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--rendezvous-protocol", "/a", "--rendezvous-protocol", "/b",
                          "--rendezvous-protocol", "/c", "--rendezvous-protocol", "/d",
                          "--rendezvous-protocol", "/e"), CONFIG_USAGE);
    assert_non_null(strstr(err, "at most"));
    config_free(&c);
    assert_int_equal(LOAD(&c, err, "--rendezvous-protocol", "canvas"), CONFIG_USAGE);
    config_free(&c);
}

static void reload_helpers(void **state)
{
    struct daemon_config live, next;
    char err[512], names[256];
    (void)state;

    assert_int_equal(LOAD(&live, err, "--max-connections-per-ip", "5", "--log-level", "info"),
                     CONFIG_OK);
    assert_int_equal(LOAD(&next, err, "--max-connections-per-ip", "1", "--log-level", "debug",
                          "--ttl-max", "10000", "--max-subscriptions", "7", "-l",
                          "/ip4/127.0.0.1/tcp/9", "--metrics", "off", "--push-protocol", "/p/2"),
                     CONFIG_OK);
    assert_int_equal(config_restart_needed(&live, &next, names, sizeof(names)), 3);
    assert_string_equal(names, "listen metrics push-protocol");
    config_apply_reloadable(&live, &next);
    assert_int_equal(live.host.max_conns_per_ip, 1);
    assert_int_equal(live.log_level, LOG_DEBUG);
    assert_int_equal(live.rdv.ttl_max, 10000);
    assert_int_equal(live.rdv.limits.max_subs_per_session, 7);
    /* Not reloadable: unchanged, and strings stay owned by their config. */
    assert_string_equal(live.listen.item[0], CONFIG_DEFAULT_LISTEN_WS);
    assert_true(live.metrics_on);
    assert_string_equal(live.rdv.push_protocol_id, PUSH_PROTOCOL_ID);
    assert_int_equal(config_restart_needed(&live, &live, names, sizeof(names)), 0);
    assert_string_equal(names, "");
    config_free(&next);
    config_free(&live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(file_then_flags),
        cmocka_unit_test(seed_001_aliases),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(command_line_errors),
        cmocka_unit_test(ranges_and_older_flags),
        cmocka_unit_test(value_forms),
        cmocka_unit_test(every_option_both_ways),
        cmocka_unit_test(help_lists_every_option),
        cmocka_unit_test(check_key_file),
        cmocka_unit_test(reload_helpers),
        cmocka_unit_test(protocol_ids),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
