/*
 * tail: follows the logs of Docker containers with log-capturer and prints
 * each record as a JSON line.
 *
 *   tail [--max-records N] [--exit-after-ms MS] [--stats] [CONFIG_JSON]
 *
 * It stops cleanly on SIGINT or SIGTERM, after N records, or after MS
 * milliseconds. --stats prints the capture's statistics (JSON) to stderr at
 * the end. Exit status: 0 when stopped as asked, 1 on a library error
 * (its message on stderr), 2 on a usage error.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread and taken by a
 * watcher thread with sigwait(), which calls capture_stop(): no code runs
 * in a signal handler, and the stop wakes the main thread's blocked
 * capture_poll at once (capture_stop is thread-safe).
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_capturer.h"

/* The longest single wait in capture_poll when no deadline is nearer. */
#define POLL_WAIT_MS 60000u
#define BATCH_RECORDS 4096u

struct options {
    uint64_t max_records;   /* 0: no limit */
    uint64_t exit_after_ms; /* 0: no limit */
    bool stats;
    const char *config;
};

struct watcher {
    capture_handle *capture;
    sigset_t signals;
    atomic_bool finished; /* set by main before it wakes the watcher to end it */
};

static void usage(FILE *out)
{
    fputs("usage: tail [--max-records N] [--exit-after-ms MS] [--stats] [CONFIG_JSON]\n"
          "Prints the records of the containers log-capturer follows as JSON lines.\n",
          out);
}

static bool parse_count(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (text == NULL || *text < '0' || *text > '9')
        return false;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = value;
    return true;
}

/* Returns 0 on success, 2 on a usage error; -1 for --help. */
static int parse_options(int argc, char **argv, struct options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->config = "{}";
    bool have_config = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return -1;
        if (strcmp(arg, "--stats") == 0) {
            opt->stats = true;
        } else if (strcmp(arg, "--max-records") == 0 || strcmp(arg, "--exit-after-ms") == 0) {
            uint64_t *target = arg[2] == 'm' ? &opt->max_records : &opt->exit_after_ms;
            if (i + 1 >= argc || !parse_count(argv[i + 1], target)) {
                fprintf(stderr, "tail: %s needs a whole number\n", arg);
                return 2;
            }
            i++;
        } else if (arg[0] == '-' && arg[1] == '-') {
            fprintf(stderr, "tail: unknown option %s\n", arg);
            return 2;
        } else if (!have_config) {
            opt->config = arg;
            have_config = true;
        } else {
            fputs("tail: only one CONFIG_JSON\n", stderr);
            return 2;
        }
    }
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when there is none. */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* Writes bytes as a JSON string: escapes quotes, backslashes and control
 * characters; a byte that is not part of valid UTF-8 becomes U+FFFD. */
static void put_json_string(FILE *out, const unsigned char *s, size_t len)
{
    putc('"', out);
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence(s + i, len - i);
            if (n == 0) {
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(s + i, 1, n, out);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (c < 0x20 || c == 0x7F)
                fprintf(out, "\\u%04x", c);
            else
                putc(c, out);
        }
        i++;
    }
    putc('"', out);
}

static void put_json_text(FILE *out, const char *s)
{
    put_json_string(out, (const unsigned char *)s, strlen(s));
}

static const char *stream_name(uint32_t stream)
{
    switch (stream) {
    case CAPTURE_STREAM_STDOUT: return "stdout";
    case CAPTURE_STREAM_STDERR: return "stderr";
    case CAPTURE_STREAM_CONSOLE: return "console";
    default: return "unknown";
    }
}

/* Docker's timestamp as RFC 3339 with nanoseconds, in UTC. */
static void put_time(FILE *out, int64_t ts_ns)
{
    int64_t secs = ts_ns / 1000000000;
    int64_t nanos = ts_ns % 1000000000;
    if (nanos < 0) {
        nanos += 1000000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    char date[32] = "?";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(out, "\"%s.%09" PRId64 "Z\"", date, nanos);
}

static void put_record(FILE *out, const capture_record *r)
{
    fputs("{\"time\":", out);
    put_time(out, r->timestamp_ns);
    fprintf(out, ",\"timestamp_ns\":%" PRId64 ",\"container_id\":", r->timestamp_ns);
    put_json_text(out, r->container_id);
    fputs(",\"container_name\":", out);
    put_json_text(out, r->container_name);
    fputs(",\"container_image\":", out);
    put_json_text(out, r->container_image);
    fprintf(out, ",\"stream\":\"%s\",\"message\":", stream_name(r->stream));
    put_json_string(out, r->message, r->message_len);
    fprintf(out, ",\"partial\":%s,\"truncated\":%s}\n",
            (r->flags & CAPTURE_FLAG_PARTIAL) ? "true" : "false",
            (r->flags & CAPTURE_FLAG_TRUNCATED) ? "true" : "false");
}

static void print_error(const char *what, capture_handle *capture, capture_result result)
{
    char message[1024] = "";
    capture_last_error(capture, message, sizeof message);
    fprintf(stderr, "tail: %s: %s: %s\n", what, capture_result_message((int32_t)result), message);
}

/* The watcher thread: takes SIGINT/SIGTERM and stops the capture. */
static void *watch_signals(void *arg)
{
    struct watcher *w = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&w->signals, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            if (atomic_load(&w->finished))
                return NULL;
            continue; /* not ours: main has not finished */
        }
        capture_result result = capture_stop(w->capture);
        if (result != CAPTURE_OK)
            print_error("capture_stop", w->capture, result);
        return NULL;
    }
}

/* Prints records until the limits, a signal or an error. Returns the exit
 * status. */
static int follow(capture_handle *capture, const struct options *opt)
{
    uint64_t printed = 0;
    uint64_t deadline = opt->exit_after_ms ? now_ms() + opt->exit_after_ms : 0;
    for (;;) {
        if (opt->max_records && printed >= opt->max_records)
            return 0;
        uint32_t wait_ms = POLL_WAIT_MS;
        if (deadline) {
            uint64_t now = now_ms();
            if (now >= deadline)
                return 0;
            if (deadline - now < wait_ms)
                wait_ms = (uint32_t)(deadline - now);
        }
        size_t want = BATCH_RECORDS;
        if (opt->max_records && opt->max_records - printed < want)
            want = (size_t)(opt->max_records - printed);

        capture_batch *batch = NULL;
        capture_result result = capture_poll(capture, want, wait_ms, &batch);
        if (result == CAPTURE_ERR_STOPPED)
            return 0; /* a signal stopped the capture */
        if (result != CAPTURE_OK) {
            print_error("capture_poll", capture, result);
            return 1;
        }
        for (size_t i = 0; i < batch->len; i++)
            put_record(stdout, &batch->records[i]);
        printed += batch->len;
        capture_batch_free(batch);
        if (fflush(stdout) != 0) {
            perror("tail: stdout");
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    int status = parse_options(argc, argv, &opt);
    if (status != 0) {
        usage(status < 0 ? stdout : stderr);
        return status < 0 ? 0 : status;
    }

    /* Block the signals before any thread starts (the library's included),
     * so only the watcher takes them. */
    struct watcher w = { .capture = NULL };
    atomic_init(&w.finished, false);
    sigemptyset(&w.signals);
    sigaddset(&w.signals, SIGINT);
    sigaddset(&w.signals, SIGTERM);
    sigaddset(&w.signals, SIGUSR1);
    if (pthread_sigmask(SIG_BLOCK, &w.signals, NULL) != 0) {
        fputs("tail: cannot block signals\n", stderr);
        return 1;
    }

    capture_result result = capture_start(opt.config, &w.capture);
    if (result != CAPTURE_OK) {
        print_error("capture_start", NULL, result);
        return 1;
    }

    pthread_t watcher;
    if (pthread_create(&watcher, NULL, watch_signals, &w) != 0) {
        fputs("tail: cannot start the signal thread\n", stderr);
        capture_free(w.capture);
        return 1;
    }

    status = follow(w.capture, &opt);

    /* End the watcher (if no signal did) before the handle goes away. */
    atomic_store(&w.finished, true);
    pthread_kill(watcher, SIGUSR1);
    pthread_join(watcher, NULL);

    if (opt.stats) {
        char *json = NULL;
        result = capture_stats(w.capture, &json);
        if (result == CAPTURE_OK)
            fprintf(stderr, "%s\n", json);
        else
            print_error("capture_stats", w.capture, result);
        capture_string_free(json);
    }
    result = capture_stop(w.capture);
    if (result != CAPTURE_OK) {
        print_error("capture_stop", w.capture, result);
        status = 1;
    }
    capture_free(w.capture);
    return status;
}
