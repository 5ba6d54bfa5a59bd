/*
 * A test host that drives liblog_capturer.so exactly as Fluent Bit's Go
 * proxy does (src/flb_plugin_proxy.c and src/proxy/go/go.c of
 * fluent/fluent-bit), against real containers:
 *
 *   dlopen -> FLBPluginRegister(def) on the main thread
 *   a thread per instance: FLBPluginInit(plugin) -> FLBPluginInputCallback
 *   every tick (Fluent Bit: 1 s; here faster) -> copy the buffer ->
 *   FLBPluginInputCleanupCallback(buf) -> ... -> FLBPluginExit()
 *   hot reload: dlopen + Register again, Exit of the old instance, dlclose,
 *   Init of the new one on a new thread.
 *
 * Every buffer is decoded with msgpack-c, and the records are checked
 * against `seq`-numbered container output: each line exactly once, in
 * order, with Docker's fluentd-driver keys and Docker's own timestamps
 * (`docker logs --timestamps`). With `multiline.parser`, a recorded Go panic
 * (tests/fixtures/multiline, mounted read-only) is one record. Bad
 * properties must fail Init with a log line naming them.
 *
 * Usage: host PATH/TO/liblog_capturer.so IMAGE
 * Containers: --network none, --label log-capturer-test=1, named
 * lct-<pid>-fb-*, removed at exit.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- Fluent Bit's structs (include/fluent-bit/flb_plugin_proxy.h,
 * include/fluent-bit/flb_api.h and src/proxy/go/go.h, v5.1). */

struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    /* Since 4.2.3; the plugin must leave them alone. */
    int event_type;
    void *config_map;
};

struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};

struct flbgo_input_plugin {
    char *name;
    struct flb_api *api;
    void *i_ins;
    void *context;
    int (*cb_init)(struct flbgo_input_plugin *);
    int (*cb_collect)(void **, size_t *);
    int (*cb_cleanup)(void *);
    int (*cb_exit)(void);
};

typedef int (*register_fn)(struct flb_plugin_proxy_def *);
typedef int (*init_fn)(struct flbgo_input_plugin *);
typedef int (*collect_fn)(void **, size_t *);
typedef int (*cleanup_fn)(void *);
typedef int (*exit_fn)(void);

struct plugin_symbols {
    void *dso;
    register_fn reg;
    init_fn init;
    collect_fn collect;
    cleanup_fn cleanup;
    exit_fn exit;
};

/* ---- Small helpers. */

static int checks, failures;
static char image[256];
static char prefix[64];

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Runs a shell command; returns its first output line (trimmed), or "". */
static void run(const char *cmd, char *out, size_t out_len)
{
    FILE *p = popen(cmd, "r");
    if (out_len > 0) {
        out[0] = '\0';
    }
    if (!p) {
        return;
    }
    if (out_len > 0 && fgets(out, (int) out_len, p)) {
        out[strcspn(out, "\r\n")] = '\0';
    }
    char sink[256];
    while (fgets(sink, sizeof(sink), p)) {
    }
    pclose(p);
}

static void remove_containers(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "docker ps -aq --filter name=^%s | xargs -r docker rm -f >/dev/null 2>&1", prefix);
    run(cmd, NULL, 0);
}

/* docker run -d of the test image running `script`; returns 0 on success. */
static int start_container(const char *name, const char *extra, const char *script)
{
    char cmd[2048], id[128];
    snprintf(cmd, sizeof(cmd),
             "docker run -d --network none --label log-capturer-test=1 --label team=blue "
             "--name %s%s %s %s sh -c '%s' 2>&1",
             prefix, name, extra, image, script);
    run(cmd, id, sizeof(id));
    if (strlen(id) != 64) {
        fprintf(stderr, "docker run %s failed: %s\n", name, id);
        return -1;
    }
    return 0;
}

/* ---- The fake Fluent Bit instance: properties and log capture. */

struct property {
    const char *key;
    const char *value;
};

struct instance {
    const struct property *properties;
    int log_level; /* FLB_LOG_*: error 1 .. debug 4 */
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_lines[64 * 1024];
static size_t log_used;

/* flb_kv_get_key_value: exact key, case-insensitive; NULL when unset. */
static const char *input_get_property(const char *key, void *ins)
{
    const struct instance *i = ins;
    size_t len = strlen(key);
    if (len == 0) {
        return NULL;
    }
    for (const struct property *p = i->properties; p->key; p++) {
        if (strlen(p->key) == len && strncasecmp(p->key, key, len) == 0) {
            return p->value;
        }
    }
    return NULL;
}

/* flb_log_print: may be called from any thread. */
static void log_print(int level, const char *file, int line, const char *fmt, ...)
{
    char text[4096];
    va_list args;
    (void) file;
    (void) line;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    fprintf(stderr, "  [fluent-bit log %d] %s\n", level, text);
    pthread_mutex_lock(&log_lock);
    int n = snprintf(log_lines + log_used, sizeof(log_lines) - log_used, "%d %s\n", level, text);
    if (n > 0 && (size_t) n < sizeof(log_lines) - log_used) {
        log_used += (size_t) n;
    }
    pthread_mutex_unlock(&log_lock);
}

static int input_log_check(void *ins, int level)
{
    return level <= ((struct instance *) ins)->log_level;
}

static int log_contains(const char *needle)
{
    pthread_mutex_lock(&log_lock);
    int found = strstr(log_lines, needle) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

static void log_clear(void)
{
    pthread_mutex_lock(&log_lock);
    log_used = 0;
    log_lines[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

static struct flb_api api = {
    .input_get_property = input_get_property,
    .log_print = log_print,
    .input_log_check = input_log_check,
};

/* ---- Loading. */

static int load(const char *path, struct plugin_symbols *s)
{
    s->dso = dlopen(path, RTLD_LAZY);
    if (!s->dso) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    /* The POSIX idiom for storing dlsym's result in a function pointer. */
    *(void **) &s->reg = dlsym(s->dso, "FLBPluginRegister");
    *(void **) &s->init = dlsym(s->dso, "FLBPluginInit");
    *(void **) &s->collect = dlsym(s->dso, "FLBPluginInputCallback");
    *(void **) &s->cleanup = dlsym(s->dso, "FLBPluginInputCleanupCallback");
    *(void **) &s->exit = dlsym(s->dso, "FLBPluginExit");
    if (!s->reg || !s->init || !s->collect || !s->cleanup || !s->exit) {
        fprintf(stderr, "a FLBPlugin* symbol is missing\n");
        return -1;
    }
    return 0;
}

/* flb_plugin_proxy_create + flb_plugin_proxy_register. */
static void check_register(struct plugin_symbols *s)
{
    struct flb_plugin_proxy_def *def = calloc(1, sizeof(*def));
    def->event_type = 0x5a5a5a5a;
    def->config_map = (void *) def;
    int ret = s->reg(def);
    CHECK(ret == 0, "FLBPluginRegister returned %d", ret);
    CHECK(def->type == 1, "type %d", def->type);
    CHECK(def->proxy == 11, "proxy %d", def->proxy);
    CHECK(def->flags == 0, "flags %d", def->flags);
    CHECK(def->name && strcmp(def->name, "log_capturer") == 0, "name %s", def->name ? def->name : "(null)");
    CHECK(def->description && strlen(def->description) > 0, "no description");
    CHECK(def->event_type == 0x5a5a5a5a && def->config_map == (void *) def,
          "Register wrote past the five fields of every version");
    free(def);
}

/* ---- Records. */

#define MAX_RECORDS 100000

struct record {
    uint64_t ts_ns;
    char source[16];
    char container_id[80];
    char container_name[128];
    char image_name[128];
    char log[64];
    size_t log_len; /* the whole message's length (`log` keeps its start) */
    int has_labels;
    int label_ok;
    int nkeys;
    int flag_keys;
};

static struct record records[MAX_RECORDS];
static int nrecords;
static int malformed;

static int str_eq(msgpack_object o, const char *s)
{
    return o.type == MSGPACK_OBJECT_STR && o.via.str.size == strlen(s) && memcmp(o.via.str.ptr, s, o.via.str.size) == 0;
}

static void str_copy(msgpack_object o, char *out, size_t len)
{
    if (o.type != MSGPACK_OBJECT_STR) {
        snprintf(out, len, "<type %d>", (int) o.type);
        return;
    }
    size_t n = o.via.str.size < len - 1 ? o.via.str.size : len - 1;
    memcpy(out, o.via.str.ptr, n);
    out[n] = '\0';
}

/* One record: [[EventTime, {}], {body}]. */
static void decode_record(msgpack_object o)
{
    if (o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 2) {
        malformed++;
        return;
    }
    msgpack_object header = o.via.array.ptr[0], body = o.via.array.ptr[1];
    if (header.type != MSGPACK_OBJECT_ARRAY || header.via.array.size != 2) {
        malformed++;
        return;
    }
    msgpack_object t = header.via.array.ptr[0], meta = header.via.array.ptr[1];
    if (t.type != MSGPACK_OBJECT_EXT || t.via.ext.type != 0 || t.via.ext.size != 8 ||
        meta.type != MSGPACK_OBJECT_MAP || meta.via.map.size != 0 || body.type != MSGPACK_OBJECT_MAP) {
        malformed++;
        return;
    }
    if (nrecords == MAX_RECORDS) {
        malformed++;
        return;
    }
    struct record *r = &records[nrecords++];
    memset(r, 0, sizeof(*r));
    const unsigned char *p = (const unsigned char *) t.via.ext.ptr;
    uint32_t sec = ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
    uint32_t nsec = ((uint32_t) p[4] << 24) | ((uint32_t) p[5] << 16) | ((uint32_t) p[6] << 8) | p[7];
    r->ts_ns = (uint64_t) sec * 1000000000ull + nsec;
    r->nkeys = (int) body.via.map.size;
    for (uint32_t i = 0; i < body.via.map.size; i++) {
        msgpack_object k = body.via.map.ptr[i].key, v = body.via.map.ptr[i].val;
        if (str_eq(k, "log")) {
            str_copy(v, r->log, sizeof(r->log));
            r->log_len = v.type == MSGPACK_OBJECT_STR ? v.via.str.size : 0;
        } else if (str_eq(k, "source")) {
            str_copy(v, r->source, sizeof(r->source));
        } else if (str_eq(k, "container_id")) {
            str_copy(v, r->container_id, sizeof(r->container_id));
        } else if (str_eq(k, "container_name")) {
            str_copy(v, r->container_name, sizeof(r->container_name));
        } else if (str_eq(k, "image_name")) {
            str_copy(v, r->image_name, sizeof(r->image_name));
        } else if (str_eq(k, "labels")) {
            r->has_labels = 1;
            if (v.type == MSGPACK_OBJECT_MAP) {
                for (uint32_t j = 0; j < v.via.map.size; j++) {
                    if (str_eq(v.via.map.ptr[j].key, "team") && str_eq(v.via.map.ptr[j].val, "blue")) {
                        r->label_ok = 1;
                    }
                }
            }
        } else if (str_eq(k, "partial_message") || str_eq(k, "truncated_message")) {
            r->flag_keys++;
        }
    }
}

/* Decodes a whole buffer: concatenated records, nothing left over. */
static void decode_buffer(const char *buf, size_t len)
{
    msgpack_unpacked result;
    size_t off = 0;
    msgpack_unpacked_init(&result);
    while (off < len) {
        msgpack_unpack_return ret = msgpack_unpack_next(&result, buf, len, &off);
        if (ret != MSGPACK_UNPACK_SUCCESS) {
            malformed++;
            break;
        }
        decode_record(result.data);
    }
    msgpack_unpacked_destroy(&result);
}

/* ---- One instance on its own thread, as Fluent Bit's threaded input. */

struct run {
    struct plugin_symbols *s;
    const struct property *properties;
    /* Containers to start once Init returned: name, extra options, script. */
    const char *(*containers)[3];
    int ncontainers;
    /* Stop calling back once this many records arrived, plus a grace. */
    int expect;
    double deadline_s;
    int init_ret;
    double max_callback_ms;
    double exit_s;
    int callbacks;
    long tick_ms; /* between callbacks: Fluent Bit's is 1000 */
    size_t max_len;
    pthread_t thread;
};

static void *instance_thread(void *arg)
{
    struct run *r = arg;
    struct instance ins = { r->properties, 3 };
    struct flbgo_input_plugin plugin = { "log_capturer", &api, &ins, NULL, NULL, NULL, NULL, NULL };

    r->init_ret = r->s->init(&plugin);
    if (r->init_ret <= 0) {
        return NULL;
    }
    for (int i = 0; i < r->ncontainers; i++) {
        if (start_container(r->containers[i][0], r->containers[i][1], r->containers[i][2]) != 0) {
            failures++;
        }
    }
    double start = now_s(), reached = 0;
    for (;;) {
        void *buf = NULL;
        size_t len = 0;
        double t0 = now_s();
        int ret = r->s->collect(&buf, &len);
        double ms = (now_s() - t0) * 1000;
        r->callbacks++;
        if (ms > r->max_callback_ms) {
            r->max_callback_ms = ms;
        }
        CHECK(ret != -1, "callback returned -1");
        if (len > r->max_len) {
            r->max_len = len;
        }
        if (len > 0) {
            /* flb_input_log_append copies the buffer; then cleanup. */
            char *copy = malloc(len);
            memcpy(copy, buf, len);
            CHECK(r->s->cleanup(buf) != -1, "cleanup returned -1");
            decode_buffer(copy, len);
            free(copy);
        } else {
            CHECK(buf == NULL, "empty callback handed a buffer");
        }
        if (!reached && nrecords >= r->expect) {
            reached = now_s();
        }
        /* After the last expected record, 2 s more: anything else is a repeat. */
        if (reached && now_s() - reached > 2.0) {
            break;
        }
        if (now_s() - start > r->deadline_s) {
            fprintf(stderr, "deadline: %d of %d records\n", nrecords, r->expect);
            break;
        }
        sleep_ms(r->tick_ms ? r->tick_ms : 100);
    }
    double t0 = now_s();
    r->s->exit();
    r->exit_s = now_s() - t0;
    return NULL;
}

/* ---- Checks against Docker's own view. */

/* RFC 3339 with up to 9 fraction digits (Docker trims trailing zeros). */
static int parse_rfc3339(const char *s, uint64_t *ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        return -1;
    }
    uint64_t frac = 0;
    int digits = 0;
    if (*rest == '.') {
        rest++;
        while (isdigit((unsigned char) *rest)) {
            if (digits < 9) {
                frac = frac * 10 + (uint64_t) (*rest - '0');
                digits++;
            }
            rest++;
        }
    }
    while (digits++ < 9) {
        frac *= 10;
    }
    if (*rest != 'Z') {
        return -1;
    }
    *ns = (uint64_t) timegm(&tm) * 1000000000ull + frac;
    return 0;
}

/* Checks that `name` delivered "1".."n" exactly once, in order, from
 * `source`, with the id, image, labels and Docker's timestamps. */
static void check_container(const char *name, const char *source, int n)
{
    char full[128], cmd[512], id[128];
    snprintf(full, sizeof(full), "/%s%s", prefix, name);
    snprintf(cmd, sizeof(cmd), "docker inspect -f '{{.Id}}' %s%s", prefix, name);
    run(cmd, id, sizeof(id));

    /* Docker's timestamps, line by line. */
    uint64_t *docker_ts = calloc((size_t) n + 1, sizeof(uint64_t));
    snprintf(cmd, sizeof(cmd), "docker logs --timestamps %s%s 2>&1", prefix, name);
    FILE *p = popen(cmd, "r");
    char line[256];
    int lines = 0;
    while (p && fgets(line, sizeof(line), p)) {
        char *space = strchr(line, ' ');
        if (!space) {
            continue;
        }
        *space = '\0';
        int value = atoi(space + 1);
        uint64_t ns;
        if (value >= 1 && value <= n && parse_rfc3339(line, &ns) == 0) {
            docker_ts[value] = ns;
            lines++;
        }
    }
    if (p) {
        pclose(p);
    }
    CHECK(lines == n, "%s: docker logs shows %d of %d lines", name, lines, n);

    int seen = 0, next = 1, ts_mismatch = 0, bad_meta = 0;
    for (int i = 0; i < nrecords; i++) {
        struct record *r = &records[i];
        if (strcmp(r->container_name, full) != 0) {
            continue;
        }
        seen++;
        int value = atoi(r->log);
        CHECK(value == next, "%s: record %d is %s, expected %d", name, seen, r->log, next);
        next = value + 1;
        if (value >= 1 && value <= n && docker_ts[value] != r->ts_ns) {
            if (ts_mismatch++ < 3) {
                fprintf(stderr, "%s line %d: EventTime %" PRIu64 " != Docker's %" PRIu64 "\n", name, value,
                        r->ts_ns, docker_ts[value]);
            }
        }
        if (strcmp(r->source, source) != 0 || strcmp(r->container_id, id) != 0 ||
            strcmp(r->image_name, image) != 0 || !r->has_labels || !r->label_ok || r->nkeys != 6 ||
            r->flag_keys != 0) {
            if (bad_meta++ < 3) {
                fprintf(stderr, "%s: bad record: source=%s id=%s image=%s labels=%d/%d keys=%d flags=%d\n", name,
                        r->source, r->container_id, r->image_name, r->has_labels, r->label_ok, r->nkeys,
                        r->flag_keys);
            }
        }
    }
    CHECK(seen == n, "%s: %d records, expected exactly %d", name, seen, n);
    CHECK(ts_mismatch == 0, "%s: %d timestamps differ from Docker's", name, ts_mismatch);
    CHECK(bad_meta == 0, "%s: %d records with wrong keys or values", name, bad_meta);
    printf("  %s: %d records, in order, exactly once, timestamps equal to Docker's\n", name, seen);
    free(docker_ts);
}

/* Init must fail, and a log line must name `needle`. */
static void check_refused(struct plugin_symbols *s, const struct property *props, const char *needle)
{
    struct run r = { .s = s, .properties = props };
    log_clear();
    pthread_create(&r.thread, NULL, instance_thread, &r);
    pthread_join(r.thread, NULL);
    CHECK(r.init_ret <= 0, "Init accepted a bad property (%s): %d", needle, r.init_ret);
    CHECK(log_contains(needle), "no log line names %s", needle);
    printf("  refused: %s\n", needle);
}

/* Runs one instance on its own thread until its records came (or its
 * deadline), then Exit; checks that Init worked and every buffer decoded. */
static void run_instance(struct run *r, const char *what)
{
    malformed = 0;
    nrecords = 0;
    pthread_create(&r->thread, NULL, instance_thread, r);
    pthread_join(r->thread, NULL);
    CHECK(r->init_ret == 1, "%s: Init returned %d", what, r->init_ret);
    CHECK(malformed == 0, "%s: %d malformed records or buffers", what, malformed);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s liblog_capturer.so IMAGE\n", argv[0]);
        return 2;
    }
    snprintf(image, sizeof(image), "%s", argv[2]);
    snprintf(prefix, sizeof(prefix), "lct-%d-fb-", (int) getpid());
    atexit(remove_containers);

    struct plugin_symbols first, second;
    if (load(argv[1], &first) != 0) {
        return 1;
    }

    printf("register\n");
    check_register(&first);

    printf("bad properties\n");
    {
        const struct property typo[] = { { "include_containers", prefix }, { "rotation_intreval", "5m" }, { NULL, NULL } };
        const struct property value[] = { { "rotation_interval", "soon" }, { NULL, NULL } };
        const struct property plugin_value[] = { { "record_labels", "perhaps" }, { NULL, NULL } };
        const struct property list[] = { { "streams", "stdout,stdin" }, { NULL, NULL } };
        check_refused(&first, typo, "rotation_intreval");
        check_refused(&first, value, "rotation_interval");
        check_refused(&first, plugin_value, "record_labels");
        check_refused(&first, list, "streams");
    }

    const int n = 2000, burst = 100000;
    const char *paced_out = "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo $i; "
                            "[ $((i % 200)) -eq 0 ] && sleep 0.2; done; true";
    const char *paced_err = "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo $i >&2; "
                            "[ $((i % 200)) -eq 0 ] && sleep 0.2; done; true";

    printf("first instance: 2 containers x %d lines, rotation every 1 s\n", n);
    {
        const struct property props[] = {
            { "include_containers", prefix },
            { "Rotation_Interval", "1s" },
            { "rotation_jitter", "0.2" },
            { "record_image", "on" },
            { "record_labels", "true" },
            { "batch_max_bytes", "64KiB" },
            { "tag", "docker" },
            { NULL, NULL },
        };
        const char *containers[][3] = {
            { "out", "", paced_out },
            { "err", "", paced_err },
        };
        struct run r = { .s = &first, .properties = props, .containers = containers, .ncontainers = 2,
                         .expect = 2 * n, .deadline_s = 90 };
        log_clear();
        run_instance(&r, "first instance");
        CHECK(log_contains("[input:log_capturer] Started."), "no start line reached log_print");
        check_container("out", "stdout", n);
        check_container("err", "stderr", n);
        printf("  %d callbacks, slowest %.2f ms; Exit took %.2f s\n", r.callbacks, r.max_callback_ms, r.exit_s);
        CHECK(r.max_callback_ms < 50, "a callback took %.1f ms", r.max_callback_ms);
        CHECK(r.exit_s < 6, "Exit took %.1f s", r.exit_s);
    }

    printf("after Exit: the callback hands nothing\n");
    {
        void *buf = (void *) 1;
        size_t len = 7;
        first.collect(&buf, &len);
        CHECK(buf == NULL && len == 0, "callback without an instance: %p %zu", buf, len);
        CHECK(first.cleanup(NULL) != -1, "cleanup(NULL)");
        CHECK(first.exit() >= 0, "a second Exit");
    }

    printf("hot reload: dlopen + Register again, dlclose the first, Init on a new thread\n");
    {
        if (load(argv[1], &second) != 0) {
            return 1;
        }
        check_register(&second);
        dlclose(first.dso);
        const struct property props[] = {
            { "include_containers", prefix },
            { "record_image", "on" },
            { "record_labels", "on" },
            { NULL, NULL },
        };
        const char *containers[][3] = {
            { "reload", "", "seq 1 500" },
        };
        struct run r = { .s = &second, .properties = props, .containers = containers, .ncontainers = 1,
                         .expect = 500, .deadline_s = 60 };
        run_instance(&r, "after reload");
        check_container("reload", "stdout", 500);
        printf("  %d callbacks, slowest %.2f ms; Exit took %.2f s\n", r.callbacks, r.max_callback_ms, r.exit_s);
        CHECK(r.exit_s < 6, "Exit took %.1f s", r.exit_s);
    }

    printf("burst: %d lines at once, Fluent Bit's 1 s tick, the default batch_max_bytes\n", burst);
    {
        const struct property props[] = { { "include_containers", prefix }, { NULL, NULL } };
        char script[64];
        snprintf(script, sizeof(script), "seq 1 %d", burst);
        const char *containers[][3] = { { "burst", "", script } };
        struct run r = { .s = &second, .properties = props, .containers = containers, .ncontainers = 1,
                         .expect = burst, .deadline_s = 120, .tick_ms = 1000 };
        run_instance(&r, "burst");
        int next = 1, in_order = 1;
        for (int i = 0; i < nrecords; i++) {
            in_order &= atoi(records[i].log) == next++;
        }
        CHECK(nrecords == burst && in_order, "burst: %d records (in order: %d), expected %d", nrecords, in_order, burst);
        printf("  %d records in %d callbacks; largest buffer %zu bytes, slowest callback %.2f ms\n", nrecords,
               r.callbacks, r.max_len, r.max_callback_ms);
        CHECK(r.max_callback_ms < 50, "a callback took %.1f ms", r.max_callback_ms);
    }

    printf("multiline: a Go panic on stderr is one record (multiline.parser go)\n");
    {
        char *fixtures = realpath("tests/fixtures/multiline", NULL);
        CHECK(fixtures != NULL, "tests/fixtures/multiline not found (run from the checkout)");
        char mount[PATH_MAX + 32];
        snprintf(mount, sizeof(mount), "-v %s:/fixtures:ro", fixtures ? fixtures : "/nonexistent");
        free(fixtures);
        const struct property props[] = {
            { "include_containers", prefix },
            { "Multiline.Parser", "go" },
            { "multiline.timeout_ms", "500" },
            { NULL, NULL },
        };
        const char *containers[][3] = { { "panic", mount, "cat /fixtures/go_nil.txt >&2" } };
        struct run r = { .s = &second, .properties = props, .containers = containers, .ncontainers = 1,
                         .expect = 2, .deadline_s = 60 };
        run_instance(&r, "multiline");
        /* go_nil.txt: a log line, then a 10-line panic (357 bytes with its
         * 11 newlines; the record keeps the 9 inside the panic). */
        size_t first_line = strlen("2024/05/06 07:08:09 starting") + 1;
        CHECK(nrecords == 2, "multiline: %d records, expected 2", nrecords);
        if (nrecords == 2) {
            CHECK(strcmp(records[1].source, "stderr") == 0, "multiline: source %s", records[1].source);
            CHECK(strncmp(records[1].log, "panic: runtime error", 20) == 0, "multiline: %s", records[1].log);
            CHECK(records[1].log_len == 357 - first_line - 1, "multiline: the panic is %zu bytes, expected %zu",
                  records[1].log_len, 357 - first_line - 1);
        }
        printf("  %d records; the panic %zu bytes\n", nrecords, nrecords == 2 ? records[1].log_len : 0);
        const struct property bad_parser[] = { { "multiline.parser", "ruby" }, { NULL, NULL } };
        const struct property typo[] = { { "multiline.parsr", "go" }, { NULL, NULL } };
        check_refused(&second, bad_parser, "multiline.parser");
        check_refused(&second, typo, "multiline.parsr");
    }

    dlclose(second.dso);
    remove_containers();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
